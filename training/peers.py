"""Score the non-neural peers (models.peers) on the same test sets as the trained runs, and log each as an
evaluation run of its topology: it sits beside the networks in every comparison and never becomes champion.

    python -m training.peers many_to_one              # VADER and TF-IDF: test split, leave-one-domain-out, seed tweets
    python -m training.peers many_to_one vader        # one of them
    python -m training.peers many_to_many             # Apertium, on both test sets
    python -m training.peers many_to_many_synced      # the global-motion detector, on the test clips

A peer run uses its topology's default data settings (and seed), which are the shipped runs'; ``--set`` overrides
them like training.train's.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

from models.peers import ApertiumPeer, ApertiumUnavailable, GlobalMotionPeer, TfidfPeer, VaderPeer
from training import held_out_domains, tracking
from training.config import load_config
from training.data.camera_motion import clip_set, generator_card
from training.data.tweets import TweetSplits, dataset_card, load_tweet_splits
from training.metrics import classification_scores, segmentation_scores, translation_scores_by_length
from training.tasks import many_to_many, many_to_many_synced, many_to_one

# ---- many to one: a peer is a function from the splits to a scorer -------------------------------------------------
# texts -> a score per text, positive at or above a threshold that the peer's run chooses on validation.
Scorer = Callable[[list[str]], np.ndarray]
SENTIMENT_PEERS: dict[str, tuple[type, Callable[[TweetSplits], Scorer]]] = {
    "vader": (VaderPeer, lambda splits: VaderPeer().scores),  # needs no training
    "tfidf": (TfidfPeer, lambda splits: TfidfPeer().fit(splits.texts["train"], splits.targets["train"]).scores),
}


def fit_sentiment_peer(make_scorer: Callable[[TweetSplits], Scorer], splits: TweetSplits) -> tuple[Scorer, float]:
    score = make_scorer(splits)
    threshold, _ = many_to_one.best_threshold(score(splits.texts["val"]), splits.targets["val"])
    return score, threshold


def sentiment_peer_on_fold(make_scorer: Callable[[TweetSplits], Scorer]) -> Callable[[TweetSplits], dict[str, float]]:
    def score_held_out(fold: TweetSplits) -> dict[str, float]:
        score, threshold = fit_sentiment_peer(make_scorer, fold)
        predicted = (score(fold.texts["test"]) >= threshold).astype(np.int64)
        return many_to_one.sentiment_scores(fold.targets["test"], predicted, fold.agreed("test"), len(fold.labels))

    return score_held_out


def log_sentiment_peer(peer: str, config: many_to_one.Config, run_name: str | None = None) -> str:
    """Score a sentiment peer on the task's validation and test splits, leave-one-domain-out and the seed's
    tweets."""
    peer_class, make_scorer = SENTIMENT_PEERS[peer]
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    score, threshold = fit_sentiment_peer(make_scorer, splits)
    scores = {}
    for split in ("val", "test"):
        started = time.perf_counter()
        values = score(splits.texts[split])
        seconds = time.perf_counter() - started
        scores[split] = many_to_one.sentiment_scores(
            splits.targets[split], (values >= threshold).astype(np.int64), splits.agreed(split), 2
        )
    labels = splits.labels
    params = {
        "peer": peer_class.NAME,
        "peer.package": peer_class.PACKAGE,
        "kind": peer_class.KIND,
        "input": peer_class.INPUT,
        "peer.version": importlib.metadata.version(peer_class.PACKAGE),
        "threshold": threshold,
        "threshold.chosen_on": "validation macro_f1 (grid -1..1 step 0.01)",
        "seed": config.seed,
        "val_fraction": config.val_fraction,
        "test_fraction": config.test_fraction,
    }
    metrics = {
        **{f"{split}_{k}": v for split, values in scores.items() for k, v in values.items()},
        "best_val_macro_f1": scores["val"]["macro_f1"],
        "scoring_tweets_per_sec": len(values) / seconds,
        **held_out_domains.leave_one_domain_out(splits, sentiment_peer_on_fold(make_scorer)),
        "seed_tweets_correct": held_out_domains.seed_tweets_correct(
            lambda texts: [labels[int(v >= threshold)] for v in score(texts)]
        ),
    }
    run_id = tracking.log_evaluation_run(
        "many_to_one",
        run_name or peer,
        params,
        metrics,
        tags={"data.val_size": str(len(splits.targets["val"])), "data.test_size": str(len(splits.targets["test"]))},
        texts={"dataset_card.md": dataset_card(splits)},
    )
    print({"run_id": run_id, "threshold": threshold, **{k: round(v, 4) for k, v in metrics.items()}})
    return run_id


# ---- many to many: Apertium ----------------------------------------------------------------------------------------
def log_apertium(config: many_to_many.Config, run_name: str | None = None) -> str:
    """Score Apertium on the same two test sets as the trained runs."""
    splits = many_to_many.task_splits(config)
    metrics, samples = {}, {}
    for split in ("test", "new_test"):
        items = splits.examples_in(split)
        sources, references = [e.en for e in items], [e.references for e in items]
        started = time.perf_counter()
        translations = ApertiumPeer.translate(sources)
        metrics[f"{split}_seconds"] = time.perf_counter() - started
        metrics.update(
            {
                f"{split}_{name}": value
                for name, value in translation_scores_by_length(sources, translations, references).items()
            }
        )
        samples[split] = [
            {"en": e.en, "references": list(e.references), "apertium": t} for e, t in zip(items[:50], translations)
        ]
    params = {
        "peer": ApertiumPeer.NAME,
        "apertium.pair": ApertiumPeer.PAIR,
        "apertium.version": ApertiumPeer.version(),
        "val_sentences": config.val_sentences,
        "test_sentences": config.test_sentences,
        "new_test_fraction": config.new_test_fraction,
        "seed": config.seed,
    }
    sizes = {
        "train": len(splits.train),
        "val": len(splits.val),
        "test": len(splits.test),
        "new_test": len(splits.new_test),
    }
    run_id = tracking.log_evaluation_run(
        "many_to_many",
        run_name or "apertium",
        params,
        metrics,
        tags={f"data.{split}_size": str(size) for split, size in sizes.items() if split != "train"},
        texts={
            "dataset_card.md": many_to_many.dataset_card(config, sizes),
            **{
                f"report/{split}_samples.json": json.dumps({"samples": samples[split]}, ensure_ascii=False, indent=1)
                for split in ("test", "new_test")
            },
        },
    )
    print(run_id)
    return run_id


# ---- many to many, synced: the global-motion detector ---------------------------------------------------------------
def log_global_motion(config: many_to_many_synced.Config, run_name: str | None = None) -> str:
    """Score the global-motion detector (phase correlation and thresholds, no training) on the task's validation
    and test clips."""
    import cv2

    peer = GlobalMotionPeer()
    n_labels = len(peer.labels)
    scores = {}
    for split, n_clips in (("val", config.val_clips), ("test", config.test_clips)):
        clips = clip_set(split, n_clips, config.eval_clip_frames, config.generator)
        started = time.perf_counter()
        predicted = np.stack([peer.label_video(frames).argmax(1) for frames in clips.frames])
        # The speed logged is the last split's, test's.
        seconds, frames_seen = time.perf_counter() - started, clips.frames.shape[0] * clips.frames.shape[1]
        scores[split] = {
            **classification_scores(clips.labels.ravel(), predicted.ravel(), n_labels),
            **segmentation_scores(list(clips.labels), list(predicted)),
        }
    params = {
        "peer": GlobalMotionPeer.NAME,
        "peer.opencv": cv2.__version__,
        "kind": GlobalMotionPeer.KIND,
        **{f"peer.{k}": v for k, v in asdict(peer).items() if k != "labels"},
        "eval_clip_frames": config.eval_clip_frames,
    }
    metrics = {
        **{f"{split}_{k}": v for split, values in scores.items() for k, v in values.items()},
        "best_val_macro_f1": scores["val"]["macro_f1"],
        "labelling_frames_per_sec": frames_seen / seconds,
    }
    run_id = tracking.log_evaluation_run(
        "many_to_many_synced",
        run_name or "global_motion",
        params,
        metrics,
        tags={"data.val_clips": str(config.val_clips), "data.test_clips": str(config.test_clips)},
        texts={
            "dataset_card.md": generator_card(
                config.generator,
                {
                    split: f"{n} clips × {config.eval_clip_frames} frames"
                    for split, n in (("val", config.val_clips), ("test", config.test_clips))
                },
            )
        },
    )
    print({"run_id": run_id, **{k: round(v, 4) for k, v in metrics.items()}})
    return run_id


# Per topology: its task's config (the data settings) and each peer's runner (config, run name) -> run id.
PEERS = {
    "many_to_one": (
        many_to_one.Config,
        {
            name: (lambda config, run_name, name=name: log_sentiment_peer(name, config, run_name))
            for name in SENTIMENT_PEERS
        },
    ),
    "many_to_many": (many_to_many.Config, {"apertium": log_apertium}),
    "many_to_many_synced": (many_to_many_synced.Config, {"global_motion": log_global_motion}),
}


def log_peers(
    topology: str, peer: str | None = None, overrides: list[str] = (), run_name: str | None = None
) -> list[str]:
    """Log the topology's peers (or the one named); the tracking store is checked before minutes of scoring, so a
    store that cannot take the run stops it at once."""
    config_class, runners = PEERS[topology]
    config = load_config(config_class, None, list(overrides))
    tracking.set_tracking()
    try:
        return [runners[name](config, run_name) for name in ([peer] if peer else runners)]
    except ApertiumUnavailable as error:
        raise SystemExit(str(error)) from error


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(
        prog="python -m training.peers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("topology", choices=list(PEERS))
    parser.add_argument(
        "peer",
        nargs="?",
        help="one peer of the topology (default: all of them): "
        + "; ".join(f"{topology}: {', '.join(runners)}" for topology, (_, runners) in PEERS.items()),
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a data setting of the topology's task config (e.g. seed=0)",
    )
    parser.add_argument("--run-name", help="the logged run's name (default: the peer's)")
    args = parser.parse_args(argv)
    runners = PEERS[args.topology][1]
    if args.peer and args.peer not in runners:
        parser.error(f"{args.topology} has the peers {', '.join(runners)}, not {args.peer!r}")
    if args.run_name and not args.peer and len(runners) > 1:
        parser.error("--run-name names one run: name the peer too")
    return log_peers(args.topology, args.peer, args.set, args.run_name)


if __name__ == "__main__":
    main()
