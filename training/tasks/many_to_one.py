"""Many to one: tweet sentiment (negative / positive) with a recurrent encoder over subword tokens. How a run is
scored on the corpus's topics it never saw (leave one domain out) is in training.held_out_domains."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from models import many_to_one
from models.many_to_one import CALIBRATION_FILE, model_texts
from models.tweet_text import PAD_ID, TOKENIZER_FILE, NgramHasher, TweetTokenizer
from training.batching import PaddedFieldBatches
from training.data.general_english import general_english_sets
from training.data.sentiment_lexicon import lexicon_examples, weak_labelled_sentences
from training.data.sources import DataUnavailable
from training.data.tweet_domains import tweet_domains
from training.data.tweets import TweetSplits, dataset_card, load_tweet_splits
from training.evaluation import predict_labels
from training.metrics import classification_scores, confusion_report, per_set_and_mean
from training.tasks import Task
from training.trainer import TrainConfig, Trainer, Unlogged


@dataclass(frozen=True)
class Config(TrainConfig):
    model: many_to_one.Config = field(default_factory=many_to_one.Config)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    patience: int = 3
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    # General-language sentiment beside the gold tweets, training split only (training.data.sentiment_lexicon):
    lexicon_words: bool = False  # VADER's rated words and emoji as one-word examples
    weak_sentences: int = 0  # up to this many Tatoeba English sentences VADER is confident about, as weak labels
    # Repeat the rarer label's training tweets within each topic until both labels weigh the same there: then the
    # topic of a tweet (airline complaints, Coachella cheers) says nothing about its label.
    balance_labels: bool = False
    # The same over the whole training split, topics aside: a user's tweets do not come with the corpus's 3 to 1
    # of complaints, so the model should not bring that prior to them.
    balance_classes: bool = False
    # Train towards how sure the annotators were instead of the bare label (the label's target is 1/2 + a/2 for
    # the share a of annotators who gave it): only 54 % of the tweets' labels had every annotator behind them, and
    # a tweet a third of them read otherwise should not pull the model as hard as one all of them agreed on.
    soft_labels: bool = False
    # Two labels only: positive when P(positive) reaches the cut with the best validation macro-F1 (saved with the
    # checkpoint, used at test time and by the page), instead of 0.5. Validation itself is scored at 0.5.
    calibrate_threshold: bool = False
    # Distillation (Hinton et al. 2015): > 0 first trains a wider copy of this recipe, teacher_hidden units per
    # direction over teacher_embed_dim-wide embeddings, then trains this model towards its verdicts. On the
    # corpus's own topics the wide model scores what the TF-IDF peer does, which the shipped size cannot reach on
    # the labels alone, and it is three times slower; its verdicts pass most of that on at the small size's speed
    # (docs/many_to_one.md, round seven). The teacher is part of the data recipe: trained on the same training
    # split (so a leave-one-domain-out fold's teacher never sees the held-out topic), on the CPU, before the run
    # starts (so a resumed run trains the same teacher again), never shipped; its validation score and training
    # time are logged as the run's teacher.* tags.
    teacher_hidden: int = 0
    teacher_embed_dim: int = 128
    teacher_weight: float = 0.5  # a training example's target: this share the teacher's verdict, the rest its label
    # The teacher also labels copies of the (balanced) gold training tweets with words left out: inputs it never
    # trained on, where its verdicts say more than the labels do (on the training tweets themselves it gives
    # the annotators' label 99 % of the time).
    transfer_copies: int = 1
    transfer_word_drop: float = 0.25


def sentiment_scores(targets: np.ndarray, predicted: np.ndarray, agreed: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 on all tweets, and accuracy on those every annotator agreed on (the labels with no
    noise), the same for the RNNs and the peers."""
    scores = classification_scores(targets, predicted, n_classes)
    scores["accuracy_agreed"] = float((targets[agreed] == predicted[agreed]).mean()) if agreed.any() else 0.0
    return scores


def blanks_filled(agreement: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The agreement with each blank (NaN) replaced by the mean agreement of the tweets with the same label that
    have one (1 where none has). The blanks are not spread over the corpus: they are the Coachella and allergy
    jobs, nearly all of their tweets, so counting them as full agreement would train two topics harder than the
    rest, a signal tied to the topic that class balancing and leave-one-domain-out are there to remove."""
    filled = agreement.astype(np.float64)  # a copy
    for label in np.unique(labels):
        of_label = labels == label
        known = of_label & ~np.isnan(agreement)
        filled[of_label & np.isnan(agreement)] = agreement[known].mean() if known.any() else 1.0
    return filled


def agreement_targets(labels: np.ndarray, agreement: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, C) training targets from each tweet's label and its annotators' agreement a (0 to 1, no blanks:
    blanks_filled): the label gets 1/2 + a/2, the other labels share the rest. Half the disagreement, not all of
    it, because an annotator who did not give the label may have said neutral rather than the other one
    (measured: the target a itself did worse on validation and on held-out topics, docs/many_to_one.md). Soft
    labels from annotators' disagreement: Peterson et al. 2019, Uma et al. 2021."""
    kept = 0.5 + 0.5 * agreement  # (N,)
    targets = np.tile(((1 - kept) / (n_classes - 1))[:, None], (1, n_classes))  # (N, C)
    targets[np.arange(len(labels)), labels] = kept
    return targets


def word_dropped(texts: list[str], drop: float, rng: np.random.Generator) -> list[str]:
    """Each text with each of its words left out with probability ``drop``, one word kept at least (an empty
    text stays empty)."""
    dropped = []
    for text in texts:
        words = text.split()
        kept = [word for word in words if rng.random() >= drop]
        if words and not kept:
            kept = [words[rng.integers(len(words))]]
        dropped.append(" ".join(kept))
    return dropped


def trained_unlogged(config: Config, splits: TweetSplits, dry_run: bool = False) -> tuple[Task, TweetTokenizer, float]:
    """The config trained on the splits as training.train trains a run (same seed, epochs and early stop on
    validation) with nothing logged, its tokenizer and its best validation score: a leave-one-domain-out fold, or
    a teacher."""
    torch.manual_seed(config.seed)
    task, tokenizer = task_and_tokenizer(config, splits, dry_run)

    def on_validation(model: torch.nn.Module) -> dict[str, float]:
        return task.evaluate(model, "val")

    score = Trainer(config, task.model, task.train_batches, on_validation, task.selection_metric, Unlogged()).fit()
    return task, tokenizer, score


def trained_teacher(
    config: Config, splits: TweetSplits, dry_run: bool = False
) -> tuple[many_to_one.TweetClassifier, float]:
    """The config's recipe at the teacher's width, trained on the CPU (the same teacher wherever the run trains or
    resumes), with its verdicts in float32; and its best validation score."""
    teacher_model = replace(config.model, hidden=config.teacher_hidden, embed_dim=config.teacher_embed_dim)
    teacher_config = replace(config, model=teacher_model, teacher_hidden=0, device="cpu")
    task, tokenizer, score = trained_unlogged(teacher_config, splits, dry_run)
    return many_to_one.TweetClassifier(task.model, tokenizer, bfloat16=False), score


def general_sentiment_examples(config: Config) -> tuple[list[str], np.ndarray]:
    """The extra training texts and labels the config asks for (none by default)."""
    texts, labels = [], [np.zeros(0, dtype=np.int64)]
    if config.lexicon_words:
        words, word_labels = lexicon_examples()
        texts += words
        labels.append(word_labels)
    if config.weak_sentences:
        sentences, sentence_labels = weak_labelled_sentences(config.weak_sentences, seed=config.seed)
        texts += sentences
        labels.append(sentence_labels)
    return texts, np.concatenate(labels)


# The held-out split that resembles what users bring: VADER's authors' rated sentences of everyday English
# (training.data.general_english), scored once training ends and logged as general_<set>_<metric> and
# general_mean_<metric>, the names `python -m training.general_english --run-name` gives runs trained before.
GENERAL_ENGLISH = "general"


def general_english_splits() -> dict[str, tuple[list[str], np.ndarray]]:
    """``general_<set>`` -> (sentences, labels); none, with a note, where the sets cannot be had (offline before
    they were ever fetched): a run trains all the same."""
    try:
        sets = general_english_sets()
    except DataUnavailable as error:
        print(f"note: everyday English is not scored: {error}", file=sys.stderr)
        return {}
    return {f"{GENERAL_ENGLISH}_{name}": texts_and_labels for name, texts_and_labels in sets.items()}


def balanced_rows(targets: np.ndarray, groups: list[str], seed: int) -> np.ndarray:
    """Row indices in which, within each group, every label present comes as often as the group's commonest:
    each rarer label's rows repeated whole, then a seeded draw of them for the remainder."""
    rng = np.random.default_rng(seed)
    groups = np.array(groups)
    rows = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        counts = np.bincount(targets[members])
        for label in np.flatnonzero(counts):
            own = members[targets[members] == label]
            repeats, remainder = divmod(counts.max(), counts[label])
            rows += [np.tile(own, repeats), rng.permutation(own)[:remainder]]
    return np.sort(np.concatenate(rows))


def prepare(config: Config, dry_run: bool = False) -> Task:
    splits = load_tweet_splits(config.model.labels, config.val_fraction, config.test_fraction, config.seed)
    general = general_english_splits() if {"negative", "positive"} <= set(config.model.labels) else {}
    return prepare_splits(config, splits, dry_run, general)


def prepare_splits(
    config: Config,
    splits: TweetSplits,
    dry_run: bool = False,
    general: dict[str, tuple[list[str], np.ndarray]] | None = None,
) -> Task:
    """The task on given splits: the shipped ones, or a leave-one-domain-out fold; ``general``
    (general_english_splits) are scored after training as the split GENERAL_ENGLISH (a fold has none)."""
    return task_and_tokenizer(config, splits, dry_run, general)[0]


# Settings only a run with a teacher reads; without one they are not logged, so runs differ only where it matters.
TEACHER_SETTINGS = frozenset({"teacher_embed_dim", "teacher_weight", "transfer_copies", "transfer_word_drop"})


def task_and_tokenizer(
    config: Config,
    splits: TweetSplits,
    dry_run: bool = False,
    general: dict[str, tuple[list[str], np.ndarray]] | None = None,
) -> tuple[Task, TweetTokenizer]:
    """prepare_splits' task and the tokenizer it trained (a teacher's verdicts need both)."""
    limit = 4 * config.batch_size if dry_run else None
    model_config = config.model
    if config.balance_labels and config.balance_classes:
        raise ValueError("balance_labels already balances the labels overall; set one of it and balance_classes")
    if config.calibrate_threshold and model_config.n_classes != 2:
        raise ValueError("calibrate_threshold needs two labels (a cut on P(positive))")
    if config.teacher_hidden and not (
        0 <= config.teacher_weight <= 1 and 0 <= config.transfer_word_drop < 1 and config.transfer_copies >= 0
    ):
        raise ValueError("teacher_weight must be in [0, 1], transfer_word_drop in [0, 1), transfer_copies ≥ 0")
    extra_texts, extra_targets = general_sentiment_examples(config)
    raw = {split: splits.texts[split][:limit] for split in splits.texts}
    targets = {split: torch.from_numpy(splits.targets[split][:limit]) for split in splits.targets}
    train_labels = splits.targets["train"][:limit]
    agreement = blanks_filled(splits.agreement["train"][:limit], train_labels)
    if config.balance_labels or config.balance_classes:
        groups = tweet_domains(raw["train"]) if config.balance_labels else ["all"] * len(raw["train"])
        rows = balanced_rows(train_labels, groups, config.seed)
        raw["train"], train_labels, agreement = [raw["train"][i] for i in rows], train_labels[rows], agreement[rows]
    gold_texts = raw["train"]
    raw["train"] = gold_texts + extra_texts[:limit]
    train_labels = np.concatenate([train_labels, extra_targets[:limit]])
    train_targets = train_labels
    if config.soft_labels:  # the extra examples have no annotators: their labels count in full
        agreement = np.concatenate([agreement, np.ones(len(extra_texts[:limit]))])
        train_targets = agreement_targets(train_labels, agreement, model_config.n_classes)
    info = {}
    if config.teacher_hidden:
        started = time.perf_counter()
        teacher, teacher_score = trained_teacher(config, splits, dry_run)
        info["teacher.seconds"] = f"{time.perf_counter() - started:.1f}"
        torch.manual_seed(config.seed)  # the model below starts from the weights it would have without a teacher
        if train_targets.ndim == 1:
            train_targets = np.eye(model_config.n_classes)[train_targets]  # (N, C)
        transfer = word_dropped(
            gold_texts * config.transfer_copies, config.transfer_word_drop, np.random.default_rng(config.seed)
        )
        weight = config.teacher_weight
        taught = weight * teacher.probabilities(raw["train"]) + (1 - weight) * train_targets  # (N, C)
        train_targets = np.concatenate([taught, teacher.probabilities(transfer)])  # (N + transfer, C)
        raw["train"] = raw["train"] + transfer
        info["data.transfer_examples"] = str(len(transfer))
        info["teacher.val_macro_f1"] = f"{teacher_score:.4f}"
    targets["train"] = torch.from_numpy(train_targets)
    if targets["train"].is_floating_point():
        targets["train"] = targets["train"].float()
    general = general or {}
    labels = model_config.labels
    for split, (split_texts, positive) in general.items():
        label_ids = np.where(positive[:limit] == 1, labels.index("positive"), labels.index("negative"))
        raw[split], targets[split] = split_texts[:limit], torch.from_numpy(label_ids)
    texts = {split: model_texts(split_texts, model_config) for split, split_texts in raw.items()}
    agreed = {split: splits.agreed(split)[:limit] for split in splits.agreement}
    # The tokenizer learns its merges from the training split only, so validation and test stay unseen. Its
    # vocabulary may come out smaller than asked on little data; the embedding keeps the configured size.
    tokenizer = TweetTokenizer.train(texts["train"], model_config.vocab_size, model_config.max_tokens)
    model = many_to_one.build_model(model_config)
    fields = {split: {"token_ids": tokenizer.encode(split_texts)} for split, split_texts in texts.items()}
    if model_config.ngram_buckets:
        hasher = NgramHasher(model_config.ngram_buckets)
        for split, split_texts in texts.items():
            fields[split]["ngram_ids"] = hasher.encode(split_texts)

    def batches(split: str, batch_size: int, shuffle: bool = False) -> PaddedFieldBatches:
        return PaddedFieldBatches(
            fields[split], batch_size, shuffle=shuffle, pad_id=PAD_ID, aligned={"labels": targets[split]}
        )

    def positive_probability(model: torch.nn.Module, split: str) -> np.ndarray:
        model.eval()
        return torch.cat(
            [model.predict(batch["token_ids"], batch.get("ngram_ids"))[0][:, 1] for batch in batches(split, 512)]
        ).numpy()

    def positive_threshold(model: torch.nn.Module) -> float:
        cut, _ = best_threshold(positive_probability(model, "val"), targets["val"].numpy(), PROBABILITY_CUTS)
        return cut

    def predictions(model: torch.nn.Module, split: str) -> tuple[np.ndarray, float]:
        predicted, loss = predict_labels(model, batches(split, 512))
        if config.calibrate_threshold and split != "val":
            predicted = (positive_probability(model, split) >= positive_threshold(model)).astype(np.int64)
        return predicted, loss

    def evaluate(model: torch.nn.Module, split: str) -> dict[str, float]:
        if split == GENERAL_ENGLISH:  # each set positive or not, as the tweets are cut, then their mean
            positive = model_config.labels.index("positive")
            return per_set_and_mean(
                {
                    name.removeprefix(f"{GENERAL_ENGLISH}_"): classification_scores(
                        (targets[name].numpy() == positive).astype(np.int64),
                        (predictions(model, name)[0] == positive).astype(np.int64),
                        2,
                    )
                    for name in general
                }
            )
        predicted, loss = predictions(model, split)
        return {
            "loss": loss,
            **sentiment_scores(targets[split].numpy(), predicted, agreed[split], model_config.n_classes),
        }

    def report(model: torch.nn.Module) -> dict[str, object]:
        predicted, _ = predictions(model, "test")
        return confusion_report(targets["test"].numpy(), predicted, model_config.labels)

    def save_extra_files(folder: Path) -> None:
        """The tokenizer, and the threshold of the weights being saved (the model holds them at save time)."""
        tokenizer.save(folder / TOKENIZER_FILE)
        if config.calibrate_threshold:
            (folder / CALIBRATION_FILE).write_text(json.dumps({"positive_threshold": positive_threshold(model)}))

    return Task(
        model=model,
        train_batches=batches("train", config.batch_size, shuffle=True),
        evaluate=evaluate,
        selection_metric="macro_f1",
        dataset_card=dataset_card(splits),
        report=report,
        extra_files=save_extra_files,
        test_splits=("test", GENERAL_ENGLISH) if general else ("test",),
        info={
            "data.train_size": str(len(targets["train"])),
            "data.val_size": str(len(targets["val"])),
            "data.test_size": str(len(targets["test"])),
            "data.general_examples": str(len(extra_texts)),
            "tokenizer.vocab_size": str(tokenizer.vocab_size),
            **info,
        },
        unused_settings=frozenset() if config.teacher_hidden else TEACHER_SETTINGS,
    ), tokenizer


SCORE_CUTS = np.round(np.arange(-1.0, 1.0001, 0.01), 2)  # for a peer's score (VADER's compound is in [-1, 1])
PROBABILITY_CUTS = np.round(np.arange(0.05, 0.9501, 0.01), 2)  # for P(positive)


def best_threshold(scores: np.ndarray, targets: np.ndarray, cuts: np.ndarray = SCORE_CUTS) -> tuple[float, dict]:
    """The cut on a score with the best validation macro-F1 (ties: the lowest cut)."""
    best = (-1.0, -1.0, {})
    for threshold in cuts:
        scores_at = classification_scores(targets, (scores >= threshold).astype(np.int64), 2)
        if scores_at["macro_f1"] > best[1]:
            best = (float(threshold), scores_at["macro_f1"], scores_at)
    return best[0], best[2]
