"""Score the shipped sentiment runs and both peers on everyday English that is not tweets (training.data
.general_english: Amazon and movie review sentences and New York Times editorial sentences, rated by people), a
stand-in for what users bring beside leave-one-domain-out. Prints a Markdown table; nothing is trained or logged.

    python -m training.general_english

The runs read in float32 (their logged metrics' precision); the peers use the thresholds they choose on the tweet
corpus's validation split, as their logged runs do.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np
import torch

from models import store
from models.checkpoint import load_checkpoint
from models.many_to_one import TweetClassifier
from training.data.general_english import MIN_RATING, general_english_sets
from training.data.tweets import load_tweet_splits
from training.metrics import classification_scores
from training.peers import SENTIMENT_PEERS, fit_sentiment_peer
from training.tasks.many_to_one import Config

Verdicts = Callable[[list[str]], np.ndarray]  # texts -> label ids (1 positive, 0 negative)


def systems() -> dict[str, Verdicts]:
    """Every shipped sentiment run with weights, then VADER and TF-IDF."""
    named: dict[str, Verdicts] = {}
    for run in sorted(store.shipped_bundles("many_to_one"), key=lambda run: run.run_name):
        if run.has_checkpoint:
            classifier = TweetClassifier.from_checkpoint(load_checkpoint(run.bundle_dir), bfloat16=False)
            named[run.run_name] = lambda texts, c=classifier: c.label_ids(c.probabilities(texts))
    config = Config()
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    for peer, (_, make_scorer) in SENTIMENT_PEERS.items():  # named as their logged runs are
        score, threshold = fit_sentiment_peer(make_scorer, splits)
        named[peer] = lambda texts, s=score, t=threshold: (s(texts) >= t).astype(np.int64)
    return named


def scores(verdicts: Verdicts, sets: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, float]:
    """``<set>_accuracy`` and ``<set>_macro_f1`` per set, and ``mean_accuracy`` / ``mean_macro_f1`` (each set
    counts once, whatever its size)."""
    result = {}
    for name, (texts, targets) in sets.items():
        for metric, value in classification_scores(targets, verdicts(texts), 2).items():
            result[f"{name}_{metric}"] = value
    for metric in ("accuracy", "macro_f1"):
        result[f"mean_{metric}"] = float(np.mean([result[f"{name}_{metric}"] for name in sets]))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.general_english", description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = general_english_sets()
    sizes = ", ".join(
        f"{name} {len(texts):,} ({targets.mean():.0%} positive)" for name, (texts, targets) in sets.items()
    )
    print(f"sentences rated at least {MIN_RATING} from neutral: {sizes}\n")
    print(f"| system | {' | '.join(sets)} | mean |")
    print(f"|---|{'---|' * (len(sets) + 1)}")
    for name, verdicts in systems().items():
        got = scores(verdicts, sets)
        cells = [f"{got[f'{s}_accuracy']:.3f} / {got[f'{s}_macro_f1']:.3f}" for s in [*sets, "mean"]]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
