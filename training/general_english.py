"""Score the sentiment runs and both peers on everyday English that is not tweets (training.data.general_english:
Amazon and movie review sentences and New York Times editorial sentences, rated by people), a stand-in for what
users bring beside leave-one-domain-out. Nothing is trained on them.

    python -m training.general_english                        # every shipped run and both peers: a Markdown table
    python -m training.general_english --run-name gru         # log general_* metrics on a tracked run (or peer run)

The runs read in float32 (their logged metrics' precision); the peers use the thresholds they choose on the tweet
corpus's validation split, as their logged runs do.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np
import torch
from mlflow.exceptions import MlflowException

from models import store
from models.checkpoint import load_checkpoint
from models.many_to_one import TweetClassifier
from training import tracking
from training.data.general_english import MIN_RATING, general_english_sets
from training.data.tweets import load_tweet_splits
from training.metrics import classification_scores
from training.peers import SENTIMENT_PEERS, fit_sentiment_peer
from training.tasks.many_to_one import Config

Verdicts = Callable[[list[str]], np.ndarray]  # texts -> label ids (1 positive, 0 negative)


def model_verdicts(folder) -> Verdicts:
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(folder), bfloat16=False)
    return lambda texts: classifier.label_ids(classifier.probabilities(texts))


def peer_verdicts(peer: str) -> Verdicts:
    """A sentiment peer (a key of training.peers.SENTIMENT_PEERS) at the threshold it chooses on validation."""
    config = Config()
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    score, threshold = fit_sentiment_peer(SENTIMENT_PEERS[peer][1], splits)
    return lambda texts: (score(texts) >= threshold).astype(np.int64)


def systems() -> dict[str, Verdicts]:
    """Every shipped sentiment run with weights, then VADER and TF-IDF, named as their logged runs are."""
    runs = sorted(store.shipped_bundles("many_to_one"), key=lambda run: run.run_name)
    named = {run.run_name: model_verdicts(run.bundle_dir) for run in runs if run.has_checkpoint}
    return named | {peer: peer_verdicts(peer) for peer in SENTIMENT_PEERS}


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


def tracked_run(run: str) -> store.RunSummary:
    """The finished many_to_one run with this id (in any of the topology's experiments, a dry run's too), or the
    newest finished one of that name."""
    matching = [r for r in store.list_runs("many_to_one") if r.status == "FINISHED" and r.run_name == run]
    try:
        by_id = store.summarise(store.client().get_run(run))
        if by_id.status == "FINISHED" and by_id.tags.get("rnnlab.topology") == "many_to_one":
            matching.append(by_id)
    except MlflowException:  # not a run id
        pass
    if not matching:
        raise SystemExit(f"no finished many_to_one run named or with id {run!r}")
    return max(matching, key=lambda r: r.start_time or 0)


def log_general_english(run: str) -> dict[str, float]:
    """Score a tracked many_to_one run (a trained one from its checkpoint, or a peer's evaluation run) and log
    ``general_<set>_<metric>`` and ``general_mean_<metric>`` on it. ``run`` is a run id or the name of the newest
    finished run of that name."""
    tracking.set_tracking()
    chosen = tracked_run(run)
    if chosen.has_checkpoint:
        verdicts = model_verdicts(store.download_checkpoint(chosen.run_id))
    else:
        peers = [
            key for key, (peer_class, _) in SENTIMENT_PEERS.items() if peer_class.NAME == chosen.params.get("peer")
        ]
        if not peers:
            raise SystemExit(f"run {chosen.run_name!r} has no checkpoint and is no sentiment peer")
        verdicts = peer_verdicts(peers[0])
    metrics = {f"general_{key}": value for key, value in scores(verdicts, general_english_sets()).items()}
    client = store.client()
    for key, value in metrics.items():
        client.log_metric(chosen.run_id, key, value, step=0)
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
    print(f"sentences rated at least {MIN_RATING} from neutral: {sizes}\n")
    print(f"| system | {' | '.join(sets)} | mean |")
    print(f"|---|{'---|' * (len(sets) + 1)}")
    for name, verdicts in systems().items():
        got = scores(verdicts, sets)
        cells = [f"{got[f'{s}_accuracy']:.3f} / {got[f'{s}_macro_f1']:.3f}" for s in [*sets, "mean"]]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
