"""Leave one domain out (LODO): for each topic of the tweet corpus (training.data.tweet_domains), a model trained
without any tweet of that topic is scored on all of its tweets, a stand-in for tweets about anything else. The
trained runs and the peers (training.peers) are scored the same way.

    python -m training.held_out_domains --run-name lstm   # retrain a logged run's config per held-out domain
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Callable

import numpy as np
import torch

from models import many_to_one
from models.tweet_text import SEED_TWEETS
from training.data.tweet_domains import DOMAINS, OTHER, tweet_domains
from training.data.tweets import TweetSplits, load_tweet_splits
from training.metrics import per_set_and_mean
from training.tasks.many_to_one import Config, trained_unlogged

LODO_MIN_TWEETS = 100  # a domain with fewer tweets ("other") is too small to score alone and is never held out


def lodo_domains(splits: TweetSplits) -> list[str]:
    """The domains held out in turn: every tagged one with at least LODO_MIN_TWEETS tweets."""
    counts = {domain: 0 for domain in DOMAINS}
    for split in splits.texts:
        for domain in tweet_domains(splits.texts[split]):
            counts[domain] += 1
    return [d for d in DOMAINS if d != OTHER and counts[d] >= LODO_MIN_TWEETS]


def held_out_fold(splits: TweetSplits, domain: str) -> TweetSplits:
    """Train and validation without a single tweet of ``domain``; its tweets from every split are the test."""

    def part(split: str, keep) -> tuple[list[str], np.ndarray, np.ndarray]:
        rows = [i for i, d in enumerate(tweet_domains(splits.texts[split])) if keep(d)]
        return ([splits.texts[split][i] for i in rows], splits.targets[split][rows], splits.agreement[split][rows])

    outside = {split: part(split, lambda d: d != domain) for split in ("train", "val")}
    inside = [part(split, lambda d: d == domain) for split in ("train", "val", "test")]
    test = (
        [t for texts, _, _ in inside for t in texts],
        np.concatenate([targets for _, targets, _ in inside]),
        np.concatenate([agreement for _, _, agreement in inside]),
    )
    parts = {**outside, "test": test}
    return dataclasses.replace(
        splits,
        texts={s: p[0] for s, p in parts.items()},
        targets={s: p[1] for s, p in parts.items()},
        agreement={s: p[2] for s, p in parts.items()},
    )


def leave_one_domain_out(
    splits: TweetSplits, score_held_out: Callable[[TweetSplits], dict[str, float]], domains: list[str] | None = None
) -> dict[str, float]:
    """``lodo_<domain>_accuracy`` and ``…_macro_f1`` per held-out domain, and their means (each domain counts
    once, whatever its size). ``score_held_out(fold)`` fits on the fold's train and validation splits and returns
    the scores (sentiment_scores) of its test split."""
    per_domain = {}
    for domain in domains or lodo_domains(splits):
        fold_scores = score_held_out(held_out_fold(splits, domain))
        per_domain[domain] = {metric: fold_scores[metric] for metric in ("accuracy", "macro_f1")}
        print(
            f"lodo {domain}: accuracy {fold_scores['accuracy']:.4f}, macro-F1 {fold_scores['macro_f1']:.4f}", flush=True
        )
    return {f"lodo_{key}": value for key, value in per_set_and_mean(per_domain).items()}


def rnn_on_fold(config: Config) -> Callable[[TweetSplits], dict[str, float]]:
    """Train ``config`` on a fold as training.train would (same seed, epochs and early stop on validation), then
    score the held-out domain."""

    def score_held_out(fold: TweetSplits) -> dict[str, float]:
        task, _, _ = trained_unlogged(config, fold)
        return task.evaluate(task.model, "test")

    return score_held_out


def seed_tweets_correct(verdicts: Callable[[list[str]], list[str]]) -> int:
    """How many of the seed's eight example tweets (the page's examples) get their label."""
    return sum(verdict == label for verdict, (_, label) in zip(verdicts([t for t, _ in SEED_TWEETS]), SEED_TWEETS))


def log_lodo(run: str, threads: int = 1) -> dict[str, float]:
    """Retrain a logged run's config once per held-out domain and log ``lodo_*`` and ``seed_tweets_correct`` on
    that run. ``run`` is a run id or the name of the newest finished trained run of that name."""
    from models import store
    from models.checkpoint import load_checkpoint
    from training import tracking
    from training.config import override

    tracking.set_tracking()
    chosen = store.finished_run("many_to_one", run, kinds=("trained",))
    config = override(Config(), {k: v for k, v in chosen.params.items() if k != "model.parameters"})
    config = dataclasses.replace(config, threads=threads)
    torch.set_num_threads(threads)
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    metrics = leave_one_domain_out(splits, rnn_on_fold(config))
    classifier = many_to_one.TweetClassifier.from_checkpoint(
        load_checkpoint(store.download_checkpoint(chosen.run_id)), bfloat16=False
    )
    labels = classifier.labels
    metrics["seed_tweets_correct"] = seed_tweets_correct(
        lambda texts: [labels[i] for i in classifier.label_ids(classifier.probabilities(texts))]
    )
    client = store.client()
    for key, value in metrics.items():
        client.log_metric(chosen.run_id, key, float(value), step=0)
    print({"run_id": chosen.run_id, "run_name": chosen.run_name, **{k: round(v, 4) for k, v in metrics.items()}})
    return metrics


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        prog="python -m training.held_out_domains",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-name", required=True, help="the trained run's name or id")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the retraining")
    arguments = parser.parse_args(argv)
    return log_lodo(arguments.run_name, arguments.threads)


if __name__ == "__main__":
    main()
