"""Translation speed, side by side in one process: the new-sentences test set (the newest Tatoeba sentences, every
length) through Apertium (one process, one pipe) and through the champion (greedy in batches, then beam 5) with its
float32 weights and with the int8 weights the page decodes with, plus single-sentence greedy latency on 20-word
sentences.

    python -m bench.many_to_many                      # the shipped champion, 2 threads
    python -m bench.many_to_many --run models/checkpoints/many_to_many/gru_attention --threads 1

The machine may be shared: the load average is printed with the results, because it moves every number here.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import torch

from models import store
from models.checkpoint import load_checkpoint
from models.many_to_many import Translator
from models.peers import ApertiumPeer
from training.data.tatoeba_spa import load_splits
from training.metrics import translation_scores
from training.tasks.many_to_many import Config


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time of this process and of the child processes it has waited for (Apertium's pipeline)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_with_cpu(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds)."""
    cpu_before = cpu_seconds()
    result, seconds = timed(function, *args, **kwargs)
    return result, seconds, cpu_seconds() - cpu_before


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.many_to_many", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, help="a checkpoint or bundle folder (default: the shipped champion)")
    parser.add_argument("--sentences", type=int, default=0, help="the first N new sentences (default: all)")
    parser.add_argument("--latency-words", type=int, default=20, help="the length of the latency sentences")
    # Two intra-op threads by default, because Apertium's pipeline is about eight processes that run side by side:
    # it keeps both cores busy (measured: 1.2 CPU-seconds in 0.64 s of wall time for these sentences). The CPU
    # columns compare the work done; on a busy machine pass --threads 1 (two threads then fight over a loaded core).
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    folder = args.run
    if folder is None:
        shipped = store.shipped_bundles("many_to_many")
        if not shipped:
            raise SystemExit("no shipped many_to_many bundle; pass --run FOLDER")
        folder = shipped[0].bundle_dir
    checkpoint = load_checkpoint(folder)
    translators = {
        "float32": Translator.from_checkpoint(checkpoint, int8=False),
        "int8": Translator.from_checkpoint(checkpoint),
    }
    defaults = Config()
    splits = load_splits(
        defaults.model.trained_source_words,
        defaults.val_sentences,
        defaults.test_sentences,
        defaults.new_test_fraction,
        defaults.seed,
    )
    new_test = splits.new_test[: args.sentences or None]
    sources, references = [e.en for e in new_test], [e.references for e in new_test]
    print(
        f"{len(sources)} new-sentences test sentences (1–{max(len(s.split()) for s in sources)} words) · model "
        f"{folder.name} · torch threads {args.threads} · load average {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cores"
    )

    rows = []
    if ApertiumPeer.available():
        outputs, seconds, cpu = timed_with_cpu(ApertiumPeer.translate, sources)
        rows.append(("apertium (one pipe)", seconds, cpu, outputs))
    else:
        print("apertium-eng-spa is not installed: only the model is timed")
    for weights, translator in translators.items():
        translator.translate(sources[: args.batch_size])  # warm-up: first calls allocate
        for decoding, beam_width in (("greedy", 1), ("beam 5", 5)):
            translations, seconds, cpu = timed_with_cpu(
                translator.translate, sources, beam_width=beam_width, batch_size=args.batch_size
            )
            rows.append((f"{decoding}, {weights}", seconds, cpu, [t.text for t in translations]))

    apertium = rows[0] if rows[0][0].startswith("apertium") else None
    print(
        f"{'system':24} {'sentences/s':>12} {'× apertium':>11} {'per CPU-s':>10} {'× apertium':>11} "
        f"{'BLEU':>6} {'chrF':>6}"
    )
    for label, seconds, cpu, outputs in rows:
        rate, cpu_rate = len(sources) / seconds, len(sources) / cpu
        scores = translation_scores(outputs, references)
        ratio = f"{apertium[1] / seconds:.2f}" if apertium else "—"
        cpu_ratio = f"{apertium[2] / cpu:.2f}" if apertium else "—"
        print(
            f"{label:24} {rate:12.0f} {ratio:>11} {cpu_rate:10.0f} {cpu_ratio:>11} "
            f"{scores['bleu']:6.1f} {scores['chrf']:6.1f}"
        )

    # Every held-out sentence of exactly that length (both test sets and validation), cycled to the sample count.
    long_sentences = [
        e.en
        for split in ("new_test", "test", "val")
        for e in splits.examples_in(split)
        if len(e.en.split()) == args.latency_words
    ]
    for weights, translator in translators.items():
        latencies = []
        for index in range(args.latency_samples):
            _, seconds = timed(translator.translate, [long_sentences[index % len(long_sentences)]])
            latencies.append(seconds * 1000)
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            f"single-sentence greedy latency ({weights}), {args.latency_words}-word sentences "
            f"({len(long_sentences)} distinct, {len(latencies)} calls): p50 {quantiles[49]:.1f} ms, "
            f"p90 {quantiles[89]:.1f} ms, max {max(latencies):.1f} ms"
        )


if __name__ == "__main__":
    main()
