"""Captioning speed, side by side in one process: the same test scenes through every shipped captioner (Show and
Tell, Show, Attend and Tell), greedy in batches and beam 5 in batches, then single-image greedy latency.

    python -m bench.one_to_many                       # the shipped bundles, 2,000 test scenes, 1 torch thread
    python -m bench.one_to_many --run models/checkpoints/one_to_many/show-attend-tell --threads 2
    python -m bench.one_to_many --float32             # as on a CPU without native bfloat16
    python -m bench.one_to_many --free-mentions       # decoding without the mention constraint

There is no non-neural captioning peer here; the first row (Show and Tell, greedy) is the reference the ratios
are taken against. The machine may be shared: the load average is printed with the results, because it moves
every number here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

import torch

from models import one_to_many, store
from models.bulk import native_bfloat16
from models.checkpoint import load_checkpoint
from models.generators import fashion_scenes as world
from training.data.scene_captions import load_fashion_scenes
from training.tasks.one_to_many import Config


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def caption_all(model: one_to_many.Captioner, images: torch.Tensor, beam_width: int, batch_size: int) -> list[str]:
    captions = []
    for start in range(0, len(images), batch_size):
        batch = one_to_many.to_tensor(images[start : start + batch_size])
        captions += [" ".join(h[0].words) for h in model.caption(batch, beam_width)]
    return captions


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.one_to_many", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, action="append", help="checkpoint or bundle folder (default: shipped)")
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--float32", action="store_true", help="run every encoder in float32, as on a CPU without native bfloat16"
    )
    parser.add_argument(
        "--free-mentions",
        action="store_true",
        help="decode without the mention constraint (model.consistent_mentions off)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    folders = args.run or sorted(
        (r.bundle_dir for r in store.shipped_bundles("one_to_many")), key=lambda folder: "attend" in folder.name
    )
    if not folders:
        raise SystemExit("no shipped one_to_many bundle; pass --run FOLDER")
    defaults = Config()
    sizes = {
        "train": defaults.train_scenes,
        "val": defaults.val_scenes,
        "test": defaults.test_scenes,
        "holdout": defaults.holdout_scenes,
    }
    test = load_fashion_scenes(sizes, defaults.seed, defaults.holdout_pairs, defaults.references)["test"]
    images, scenes = torch.from_numpy(test.images[: args.scenes]), test.scenes[: args.scenes]
    print(
        f"{len(images)} test scenes ({world.SCENE_SIZE}×{world.SCENE_SIZE}) · torch threads {args.threads} · "
        f"batch {args.batch_size} · load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores · "
        f"native bfloat16 {'yes' if native_bfloat16() else 'no (bfloat16 encoders run in float32)'}"
        f"{' · --float32: every encoder in float32' if args.float32 else ''}"
    )

    rows, latencies = [], {}
    for folder in folders:
        model = load_checkpoint(folder).model
        if args.float32:
            model.encoder.autocast_bfloat16 = False
        if args.free_mentions:
            model.config = dataclasses.replace(model.config, consistent_mentions=False)
        print(
            f"{folder.name}: encoder_precision {model.config.encoder_precision}, running in "
            f"{'bfloat16' if model.encoder.autocast_bfloat16 else 'float32'}; consistent mentions "
            f"{'on' if model.config.consistent_mentions else 'off'}"
        )
        caption_all(model, images[: args.batch_size], 1, args.batch_size)  # warm-up: first calls allocate
        for label, beam in (("greedy", 1), ("beam 5", 5)):
            captions, seconds = timed(caption_all, model, images, beam, args.batch_size)
            meaning = world.scene_scores([world.compare_scene(c, s) for c, s in zip(captions, scenes)])
            rows.append((f"{folder.name}, {label}", len(images) / seconds, meaning))
        single = []
        for index in range(min(args.latency_samples, len(images))):
            _, seconds = timed(caption_all, model, images[index : index + 1], 1, 1)
            single.append(seconds * 1000)
        latencies[folder.name] = single

    reference = rows[0][1]
    print(
        f"{'captioner, decoding':40} {'images/s':>9} {'× first':>8} {'scene match':>12} {'object F1':>10} "
        f"{'relations':>10}"
    )
    for label, rate, meaning in rows:
        print(
            f"{label:40} {rate:9.0f} {rate / reference:8.2f} {meaning['scene_match']:12.1%} "
            f"{meaning['object_f1']:10.3f} {meaning['relation_accuracy']:10.3f}"
        )
    print(f"\nsingle image, greedy (to tensor, encode, decode, words), {args.latency_samples} images:")
    for name, single in latencies.items():
        cuts = statistics.quantiles(single, n=20)
        print(f"  {name:36} p50 {statistics.median(single):6.1f} ms   p95 {cuts[18]:6.1f} ms")


if __name__ == "__main__":
    main()
