"""Many to many: translate English to Spanish (Tatoeba pairs) with an encoder–decoder, scored with sacrebleu."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from models import many_to_many
from models.many_to_many import BOS, EOS, LENGTH_BUCKETS, SPECIAL_TOKENS, Translator
from training.batching import PaddedFieldBatches
from training.data.sources import TATOEBA_SPA
from training.data.tatoeba_spa import Example, attribution_record, load_splits, word_count
from training.metrics import translation_scores_by_length
from training.tasks import Task
from training.trainer import TrainConfig


@dataclass(frozen=True)
class Config(TrainConfig):
    model: many_to_many.Config = field(default_factory=many_to_many.Config)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    val_sentences: int = 1500
    test_sentences: int = 3000
    # The newest 3 % of English sentences by Tatoeba id, with every translation of each: 3,580 sentences.
    new_test_fraction: float = 0.03
    test_beam_width: int = 5  # the test split is also decoded with a beam this wide
    # Pairs whose English side has at least ``long_source_words`` words appear ``long_source_repeats`` times per
    # epoch: they are a tenth of the training pairs but what users type most often trips on.
    long_source_words: int = 11
    long_source_repeats: int = 1
    length_penalty: float = 1.0


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """Byte-pair subwords that keep case and punctuation; Metaspace marks word starts so decoding restores spaces."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[many_to_many.UNK]))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    )
    return tokenizer


def dataset_card(config: Config, sizes: dict[str, int]) -> str:
    return "\n".join(
        [
            TATOEBA_SPA.card(),
            "",
            "#### As used here",
            "- Unicode NFC, case and punctuation kept.",
            f"- Split by English sentence: the newest {config.new_test_fraction:.0%} of English sentences by "
            "Tatoeba id "
            f"are the new-sentences test set ({sizes['new_test']:,} sentences, never seen in training or validation); "
            f"a seeded shuffle of the rest (seed {config.seed}) gives {sizes['test']:,} test and {sizes['val']:,} "
            f"validation sentences, each scored against all of its Spanish translations, and {sizes['train']:,} "
            f"training pairs, those whose English side has at most {config.model.trained_source_words} words"
            + (
                f"; pairs of {config.long_source_words} or more English words appear {config.long_source_repeats} "
                "times per epoch."
                if config.long_source_repeats > 1
                else "."
            ),
            f"- Scores per English length bucket: {', '.join(LENGTH_BUCKETS)}; single-reference BLEU "
            "(`bleu_single`, first translation only) beside multi-reference BLEU.",
            f"- Subwords: byte-pair encoding trained on the training split only, one tokenizer per language "
            f"({config.model.source_vocab} English, {config.model.target_vocab} Spanish).",
            "- Attribution: every pair is CC-BY 2.0 (France), tatoeba.org; the contributors credited for the pairs "
            "this run used are listed in `report/attribution.json`.",
        ]
    )


def task_splits(config: Config):
    """The training, validation and both test sets a config's runs (and Apertium, on the same test sets) use."""
    return load_splits(
        config.model.trained_source_words,
        config.val_sentences,
        config.test_sentences,
        config.new_test_fraction,
        config.seed,
    )


def target_ids(translator: Translator, sentences: list[str]) -> list[list[int]]:
    """Spanish sentences as the decoder's teacher-forced input and target: [BOS] subwords [EOS]."""
    return [[BOS, *e.ids, EOS] for e in translator.target_tokenizer.encode_batch(sentences)]


class TranslationScoring:
    """How a run is scored on a split: teacher-forced loss (against each sentence's first translation), greedy BLEU
    and chrF overall and by English length, and on the test sets the same for beam search; and the samples and
    attribution its report ships."""

    def __init__(self, config: Config, examples: dict[str, list[Example]], translator: Translator, attribution):
        self.config, self.examples, self.attribution = config, examples, attribution
        self.tokenizers = (translator.source_tokenizer, translator.target_tokenizer)
        self.loss_batches = {
            split: PaddedFieldBatches(
                {
                    "source": translator.encode_sources([e.en for e in items]),
                    "target": target_ids(translator, [e.references[0] for e in items]),
                },
                500,
            )
            for split, items in examples.items()
        }

    def translator(self, model: torch.nn.Module) -> Translator:
        return Translator(model, *self.tokenizers)

    def teacher_forced_loss(self, model: torch.nn.Module, split: str) -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in self.loss_batches[split]:
                _, loss = model(**batch)
                total, count = total + loss.item() * len(batch["source"]), count + len(batch["source"])
        return total / max(count, 1)

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        model.eval()
        items = self.examples[split]
        sources, references = [e.en for e in items], [e.references for e in items]
        greedy = self.translator(model).translate(sources)
        metrics = {
            "loss": self.teacher_forced_loss(model, split),
            **translation_scores_by_length(sources, [t.text for t in greedy], references),
            "unfinished": sum(not t.finished for t in greedy) / len(greedy),
        }
        width = self.config.test_beam_width
        if split != "val" and width > 1:
            penalty = self.config.length_penalty
            beam = self.translator(model).translate(sources, beam_width=width, length_penalty=penalty)
            metrics.update(
                {
                    f"{name}_beam{width}": value
                    for name, value in translation_scores_by_length(sources, [t.text for t in beam], references).items()
                    if not name.endswith("_sentences")
                }
            )
        return metrics

    def report(self, model: torch.nn.Module) -> dict[str, object]:
        samples = {}
        for split in ("test", "new_test"):
            shown = self.examples[split][:50]
            translated = self.translator(model).translate([e.en for e in shown])
            samples[f"{split}_samples"] = {
                "samples": [
                    {"en": e.en, "references": list(e.references), "greedy": t.text} for e, t in zip(shown, translated)
                ]
            }
        return {"attribution": self.attribution, **samples}


def prepare(config: Config, dry_run: bool = False) -> Task:
    splits = task_splits(config)
    train_pairs = splits.train[: 4 * config.batch_size] if dry_run else splits.train
    epoch_pairs = [
        pair
        for pair in train_pairs
        for _ in range(config.long_source_repeats if word_count(pair.en) >= config.long_source_words else 1)
    ]
    examples: dict[str, list[Example]] = {
        split: splits.examples_in(split)[: 2 * config.batch_size] if dry_run else splits.examples_in(split)
        for split in ("val", "test", "new_test")
    }
    source_tokenizer = train_tokenizer([p.en for p in train_pairs], config.model.source_vocab)
    target_tokenizer = train_tokenizer([p.es for p in train_pairs], config.model.target_vocab)
    # On little data (a dry run) BPE stops short of the vocabulary asked for; the model gets the sizes it reached,
    # so it can never emit an id the tokenizer cannot decode.
    model_config = replace(
        config.model, source_vocab=source_tokenizer.get_vocab_size(), target_vocab=target_tokenizer.get_vocab_size()
    )
    model = many_to_many.build_model(model_config)
    translator = Translator(model, source_tokenizer, target_tokenizer)

    train_batches = PaddedFieldBatches(
        {
            "source": translator.encode_sources([p.en for p in epoch_pairs]),
            "target": target_ids(translator, [p.es for p in epoch_pairs]),
        },
        config.batch_size,
        shuffle=True,
        length_field="target",
    )
    scoring = TranslationScoring(config, examples, translator, attribution_record(splits))

    def extra_files(folder: Path) -> None:
        # Compact JSON: the indented form is 2.4 times larger, and bundles ship in git.
        source_tokenizer.save(str(folder / many_to_many.SOURCE_TOKENIZER_FILE), pretty=False)
        target_tokenizer.save(str(folder / many_to_many.TARGET_TOKENIZER_FILE), pretty=False)

    sizes = {"train": len(train_pairs), **{split: len(items) for split, items in examples.items()}}
    return Task(
        model=model,
        train_batches=train_batches,
        evaluate=scoring.evaluate,
        selection_metric="bleu",
        test_splits=("test", "new_test"),
        model_config=model_config,
        dataset_card=dataset_card(config, sizes),
        report=scoring.report,
        extra_files=extra_files,
        info={f"data.{split}_size": str(size) for split, size in sizes.items()},
    )
