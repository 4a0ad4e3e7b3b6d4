"""Tatoeba English–Spanish pairs (``spa.tsv``: en, es, attribution), and a split by English sentence.

One English sentence often has several Spanish translations. Splitting by English sentence keeps every
translation of a sentence in the same split, so validation and test sentences are never seen in training, and the
validation and test examples carry all their translations as references for BLEU.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from training.data.sources import TATOEBA_SPA

_SPACES = re.compile(r"\s+")
_CONTRIBUTOR = re.compile(r"#\d+ \(([^)]+)\)")


def normalise(text: str) -> str:
    """NFC (so "é" is one code point whatever the input used), single spaces; case and punctuation are kept."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


@dataclass(frozen=True)
class Pair:
    en: str
    es: str
    attribution: str  # "CC-BY 2.0 (France) Attribution: tatoeba.org #id (user) & #id (user)"


@dataclass(frozen=True)
class Example:
    """One English sentence with every Spanish translation the data set gives for it."""

    en: str
    references: tuple[str, ...]
    attributions: tuple[str, ...]


def parse_pairs(text: str) -> list[Pair]:
    """Parse spa.tsv: one pair per line, three tab-separated columns, no header."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 3:
            raise ValueError(f"spa.tsv line {number}: expected 3 tab-separated columns, found {len(columns)}")
        en, es, attribution = (normalise(column) for column in columns)
        if en and es:
            pairs.append(Pair(en, es, attribution))
    return pairs


def load_pairs() -> list[Pair]:
    return parse_pairs(TATOEBA_SPA.path("spa.tsv").read_text(encoding="utf-8"))


def word_count(sentence: str) -> int:
    return len(sentence.split())


@dataclass(frozen=True)
class TranslationSplits:
    train: list[Pair]  # every translation is a training pair
    val: list[Example]
    test: list[Example]

    def examples_in(self, split: str) -> list[Example]:
        return getattr(self, split)


def group_by_english(pairs: list[Pair]) -> list[Example]:
    """Examples in first-seen order of their English sentence."""
    grouped: dict[str, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.en, []).append(pair)
    return [Example(en, tuple(p.es for p in group), tuple(p.attribution for p in group))
            for en, group in grouped.items()]


def split_by_english(pairs: list[Pair], val_sentences: int, test_sentences: int, seed: int) -> TranslationSplits:
    """A seeded shuffle of the distinct English sentences: the first ones are test, the next validation."""
    examples = group_by_english(pairs)
    if val_sentences + test_sentences >= len(examples):
        raise ValueError(f"{len(examples)} English sentences cannot give {test_sentences} test and "
                         f"{val_sentences} validation sentences and leave some for training")
    order = np.random.default_rng(seed).permutation(len(examples))
    test = [examples[i] for i in order[:test_sentences]]
    val = [examples[i] for i in order[test_sentences:test_sentences + val_sentences]]
    train = [Pair(examples[i].en, es, attribution) for i in order[test_sentences + val_sentences:]
             for es, attribution in zip(examples[i].references, examples[i].attributions)]
    return TranslationSplits(train=train, val=val, test=test)


def load_splits(max_source_words: int, val_sentences: int, test_sentences: int, seed: int) -> TranslationSplits:
    """Pairs whose English side has at most ``max_source_words`` words, split by English sentence."""
    pairs = [p for p in load_pairs() if word_count(p.en) <= max_source_words]
    return split_by_english(pairs, val_sentences, test_sentences, seed)


def contributors(attributions) -> Counter:
    """Tatoeba user names credited in attribution lines, with how many sentences each wrote or translated."""
    return Counter(name for line in attributions for name in _CONTRIBUTOR.findall(line))


def attribution_record(splits: TranslationSplits) -> dict:
    """What CC-BY asks of us for the pairs a run used: the licence, the source and every contributor credited."""
    lines = [p.attribution for p in splits.train]
    lines += [a for split in (splits.val, splits.test) for example in split for a in example.attributions]
    credited = contributors(lines)
    return {"licence": TATOEBA_SPA.licence, "source": TATOEBA_SPA.homepage, "pairs": len(lines),
            "contributors": dict(credited.most_common())}
