"""Many to one: tweet sentiment (negative / positive) with a recurrent encoder over subword tokens."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models import many_to_one
from models.many_to_one import PAD_ID, TOKENIZER_FILE, TweetTokenizer, normalize_tweet
from training.batching import PaddedFieldBatches
from training.data.tweets import dataset_card, load_tweet_splits
from training.evaluation import predict_labels
from training.metrics import classification_scores, confusion_report
from training.tasks import Task
from training.trainer import TrainConfig


@dataclass(frozen=True)
class Config(TrainConfig):
    model: many_to_one.Config = field(default_factory=many_to_one.Config)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    patience: int = 3
    val_fraction: float = 0.1
    test_fraction: float = 0.1


def sentiment_scores(targets: np.ndarray, predicted: np.ndarray, agreed: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 on all tweets, and accuracy on those every annotator agreed on (the labels with no
    noise), the same for the RNNs and VADER."""
    scores = classification_scores(targets, predicted, n_classes)
    scores["accuracy_agreed"] = float((targets[agreed] == predicted[agreed]).mean()) if agreed.any() else 0.0
    return scores


def prepare(config: Config, dry_run: bool = False) -> Task:
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    limit = 4 * config.batch_size if dry_run else None
    texts = {split: [normalize_tweet(t) for t in splits.texts[split][:limit]] for split in splits.texts}
    targets = {split: torch.from_numpy(splits.targets[split][:limit]) for split in splits.targets}
    agreed = {split: splits.agreed[split][:limit] for split in splits.agreed}
    # The tokenizer learns its merges from the training split only, so validation and test stay unseen. Its
    # vocabulary may come out smaller than asked on little data; the embedding keeps the configured size.
    tokenizer = TweetTokenizer.train(texts["train"], config.model.vocab_size, config.model.max_tokens)
    model_config = config.model
    model = many_to_one.build_model(model_config)
    tokens = {split: tokenizer.encode(split_texts) for split, split_texts in texts.items()}

    def batches(split: str, batch_size: int, shuffle: bool = False) -> PaddedFieldBatches:
        return PaddedFieldBatches({"token_ids": tokens[split]}, batch_size, shuffle=shuffle, pad_id=PAD_ID,
                                  aligned={"labels": targets[split]})

    def predictions(model: torch.nn.Module, split: str) -> tuple[np.ndarray, float]:
        return predict_labels(model, batches(split, 512))

    def evaluate(model: torch.nn.Module, split: str) -> dict[str, float]:
        predicted, loss = predictions(model, split)
        return {"loss": loss, **sentiment_scores(targets[split].numpy(), predicted, agreed[split],
                                                 model_config.n_classes)}

    def report(model: torch.nn.Module) -> dict[str, object]:
        predicted, _ = predictions(model, "test")
        return confusion_report(targets["test"].numpy(), predicted, model_config.labels)

    def save_tokenizer(folder: Path) -> None:
        tokenizer.save(folder / TOKENIZER_FILE)

    return Task(
        model=model,
        train_batches=batches("train", config.batch_size, shuffle=True),
        evaluate=evaluate,
        selection_metric="macro_f1",
        dataset_card=dataset_card(splits),
        report=report,
        extra_files=save_tokenizer,
        info={"data.train_size": str(len(targets["train"])), "data.val_size": str(len(targets["val"])),
              "data.test_size": str(len(targets["test"])), "tokenizer.vocab_size": str(tokenizer.vocab_size)},
    )


def best_threshold(scores: np.ndarray, targets: np.ndarray) -> tuple[float, dict[str, float]]:
    """The cut on VADER's compound score with the best validation macro-F1 (ties: the lowest cut)."""
    best = (-1.0, -1.0, {})
    for threshold in np.round(np.arange(-1.0, 1.0001, 0.01), 2):
        scores_at = classification_scores(targets, (scores >= threshold).astype(np.int64), 2)
        if scores_at["macro_f1"] > best[1]:
            best = (float(threshold), scores_at["macro_f1"], scores_at)
    return best[0], best[2]


def log_vader_run(seed: int = 0, run_name: str = "vader") -> str:
    """Score VADER on this task's validation and test splits and log it beside the RNNs (no training)."""
    import importlib.metadata
    import time

    from training import tracking

    config = Config(seed=seed)
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    peer = many_to_one.VaderPeer()
    threshold, _ = best_threshold(peer.compound(splits.texts["val"]), splits.targets["val"])
    scores = {}
    for split in ("val", "test"):
        started = time.perf_counter()
        compound = peer.compound(splits.texts[split])
        seconds = time.perf_counter() - started
        scores[split] = sentiment_scores(splits.targets[split], (compound >= threshold).astype(np.int64),
                                         splits.agreed[split], 2)
    params = {"peer": "vaderSentiment", "peer.version": importlib.metadata.version("vaderSentiment"),
              "kind": "lexicon baseline (rules and a sentiment lexicon; no training)",
              "threshold": threshold, "threshold.chosen_on": "validation macro_f1 (grid -1..1 step 0.01)",
              "input": "the tweet as written (mojibake repaired), without the RNN's normalisation",
              "seed": seed, "val_fraction": config.val_fraction, "test_fraction": config.test_fraction}
    metrics = {**{f"{split}_{k}": v for split, values in scores.items() for k, v in values.items()},
               "best_val_macro_f1": scores["val"]["macro_f1"], "scoring_tweets_per_sec": len(compound) / seconds}
    tracking.set_tracking()
    run_id = tracking.log_evaluation_run(
        "many_to_one", run_name, params, metrics,
        tags={"data.val_size": str(len(splits.targets["val"])), "data.test_size": str(len(splits.targets["test"]))},
        texts={"dataset_card.md": dataset_card(splits)})
    print({"run_id": run_id, "threshold": threshold, **{k: round(v, 4) for k, v in metrics.items()}})
    return run_id


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training.tasks.many_to_one",
                                     description="Log the VADER peer run on the many-to-one test split.")
    parser.add_argument("command", choices=["vader"])
    parser.add_argument("--seed", type=int, default=0, help="the split seed; must match the RNN runs'")
    parser.add_argument("--run-name", default="vader")
    arguments = parser.parse_args()
    log_vader_run(arguments.seed, arguments.run_name)
