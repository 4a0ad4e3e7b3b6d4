"""Score the sentiment runs and both peers on everyday English that is not tweets (training.data.general_english:
Amazon and movie review sentences and New York Times editorial sentences, rated by people), a stand-in for what
users bring beside leave-one-domain-out. Nothing is trained on them.

    python -m training.general_english                        # every shipped run and both peers: a Markdown table
    python -m training.general_english --run-name gru         # log general_* metrics on a tracked run (or peer run)

The runs read in float32 (their logged metrics' precision); a peer is fitted on the splits its run logged and cut
at the threshold that run chose on the tweet corpus's validation split.
"""

from __future__ import annotations

import argparse
import functools
from typing import Callable

import numpy as np
import torch

from models import store
from models.checkpoint import load_checkpoint
from models.many_to_one import TweetClassifier
from training import tracking
from training.config import override
from training.data.general_english import MIN_RATING, general_english_sets
from training.data.tweets import load_tweet_splits
from training.metrics import classification_scores, per_set_and_mean
from training.peers import SENTIMENT_PEERS
from training.tasks.many_to_one import Config

Verdicts = Callable[[list[str]], np.ndarray]  # texts -> 1 (positive) or 0 (negative) each
SPLIT_SETTINGS = ("seed", "val_fraction", "test_fraction")  # what a peer's run logs of the splits it was fitted on


def model_verdicts(folder) -> Verdicts:
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(folder), bfloat16=False)
    if "positive" not in classifier.labels:
        raise SystemExit(f"the run's labels {classifier.labels} have no 'positive' to score")
    is_positive = np.array([label == "positive" for label in classifier.labels])
    return lambda texts: is_positive[classifier.label_ids(classifier.probabilities(texts))].astype(np.int64)


def peer_scorer(run: store.RunSummary):
    """The scorer maker (training.peers.SENTIMENT_PEERS) of the sentiment peer whose run this is; None for any
    other run."""
    return next(
        (make for peer_class, make in SENTIMENT_PEERS.values() if peer_class.NAME == run.params.get("peer")), None
    )


# Both peers' runs name the same splits: the corpus is parsed once for them.
tweet_splits = functools.lru_cache(maxsize=2)(load_tweet_splits)


def peer_verdicts(run: store.RunSummary) -> Verdicts:
    """A sentiment peer's logged run: the peer fitted on that run's splits, cut at the threshold the run chose."""
    make_scorer = peer_scorer(run)
    config = override(Config(), {key: run.params[key] for key in SPLIT_SETTINGS if key in run.params})
    splits = tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    score, threshold = make_scorer(splits), float(run.params["threshold"])
    return lambda texts: (score(texts) >= threshold).astype(np.int64)


def shipped_systems() -> dict[str, Verdicts]:
    """Every shipped sentiment run, the trained ones first: from their weights, the peers as their runs logged."""
    runs = sorted(store.shipped_bundles("many_to_one"), key=lambda run: (run.evaluation_only, run.run_name))
    return {run.run_name: model_verdicts(run.bundle_dir) if run.has_checkpoint else peer_verdicts(run) for run in runs}


def scores(verdicts: Verdicts, sets: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, float]:
    """``<set>_accuracy`` and ``<set>_macro_f1`` per set, and ``mean_accuracy`` / ``mean_macro_f1`` (each set
    counts once, whatever its size): what a run trained since logs by itself (training.tasks.many_to_one)."""
    return per_set_and_mean(
        {name: classification_scores(targets, verdicts(texts), 2) for name, (texts, targets) in sets.items()}
    )


def log_general_english(run: str) -> dict[str, float]:
    """Score a tracked many_to_one run (a trained one from its checkpoint, or a sentiment peer's run) and log
    ``general_<set>_<metric>`` and ``general_mean_<metric>`` on it, for the peers and the runs trained before every
    run logged them by itself. ``run``: as models.store.finished_run takes it."""
    tracking.set_tracking()
    chosen = store.finished_run("many_to_one", run)
    if chosen.has_checkpoint:
        verdicts = model_verdicts(store.download_checkpoint(chosen.run_id))
    elif peer_scorer(chosen) is not None:
        verdicts = peer_verdicts(chosen)
    else:
        raise SystemExit(f"run {chosen.run_name!r} has no checkpoint and is no sentiment peer")
    metrics = {f"general_{key}": value for key, value in scores(verdicts, general_english_sets()).items()}
    client = store.client()
    # At the step of the run's test scores, where a run trained since logged its own general_* scores: MLflow
    # shows the value of the highest step, so these, logged later, are the ones shown.
    step = max((metric.step for metric in client.get_metric_history(chosen.run_id, "test_accuracy")), default=0)
    for key, value in metrics.items():
        client.log_metric(chosen.run_id, key, value, step=step)
    print({"run_id": chosen.run_id, "run_name": chosen.run_name, **{k: round(v, 4) for k, v in metrics.items()}})
    return metrics


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.general_english",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-name", help="log the scores on this tracked run (name or id) instead of printing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run_name:
        log_general_english(args.run_name)
        return
    sets = general_english_sets()
    sizes = ", ".join(
        f"{name} {len(texts):,} ({targets.mean():.0%} positive)" for name, (texts, targets) in sets.items()
    )
    print(f"sentences rated at least {MIN_RATING} from neutral: {sizes}; each cell accuracy / macro-F1\n")
    print(f"| system | {' | '.join(sets)} | mean |")
    print(f"|---|{'---|' * (len(sets) + 1)}")
    for name, verdicts in shipped_systems().items():
        got = scores(verdicts, sets)
        cells = [f"{got[f'{s}_accuracy']:.3f} / {got[f'{s}_macro_f1']:.3f}" for s in [*sets, "mean"]]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
