"""Tatoeba English–Spanish pairs (``spa.tsv``: en, es, attribution), and a split by English sentence.

One English sentence often has several Spanish translations. Splitting by English sentence keeps every
translation of a sentence in the same split, so validation and test sentences are never seen in training, and the
validation and test examples carry all their translations as references for BLEU.

Two test sets come out of the split. ``test`` is a random draw of English sentences, like validation. ``new_test``
is the newest English sentences by Tatoeba id: the closest thing here to what a user types, because they were
written after everything the model trains on, about other things.
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
_SENTENCE_ID = re.compile(r"#(\d+)")


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

    @property
    def english_id(self) -> int:
        """The English sentence's Tatoeba id (the first id of an attribution); its oldest, if it has several."""
        return min(english_id(a) for a in self.attributions)


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


def english_id(attribution: str) -> int:
    """The Tatoeba id of a pair's English sentence: the first ``#id`` of its attribution line; -1 when absent."""
    match = _SENTENCE_ID.search(attribution)
    return int(match.group(1)) if match else -1


@dataclass(frozen=True)
class TranslationSplits:
    train: list[Pair]  # every translation is a training pair
    val: list[Example]
    test: list[Example]  # a random draw of English sentences, like validation
    new_test: list[Example]  # the newest English sentences by Tatoeba id

    def examples_in(self, split: str) -> list[Example]:
        return getattr(self, split)


def group_by_english(pairs: list[Pair]) -> list[Example]:
    """Examples in first-seen order of their English sentence."""
    grouped: dict[str, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.en, []).append(pair)
    return [
        Example(en, tuple(p.es for p in group), tuple(p.attribution for p in group)) for en, group in grouped.items()
    ]


def split_by_english(
    pairs: list[Pair],
    val_sentences: int,
    test_sentences: int,
    seed: int,
    new_fraction: float = 0.0,
    max_train_words: int | None = None,
) -> TranslationSplits:
    """Hold out the newest ``new_fraction`` of the distinct English sentences (by Tatoeba id) as ``new_test``;
    a seeded shuffle of the rest gives test, then validation, then training. Only training is cut to
    ``max_train_words`` English words: the test sets keep every length, as users type them."""
    examples = group_by_english(pairs)
    newest_first = sorted(range(len(examples)), key=lambda i: -examples[i].english_id)
    n_new = int(round(len(examples) * new_fraction))
    new_test = sorted((examples[i] for i in newest_first[:n_new]), key=lambda e: e.english_id)
    rest = [examples[i] for i in sorted(newest_first[n_new:])]
    if val_sentences + test_sentences >= len(rest):
        raise ValueError(
            f"{len(rest)} English sentences cannot give {test_sentences} test and "
            f"{val_sentences} validation sentences and leave some for training"
        )
    order = np.random.default_rng(seed).permutation(len(rest))
    test = [rest[i] for i in order[:test_sentences]]
    val = [rest[i] for i in order[test_sentences : test_sentences + val_sentences]]
    train = [
        Pair(rest[i].en, es, attribution)
        for i in order[test_sentences + val_sentences :]
        for es, attribution in zip(rest[i].references, rest[i].attributions)
        if max_train_words is None or word_count(rest[i].en) <= max_train_words
    ]
    return TranslationSplits(train=train, val=val, test=test, new_test=new_test)


def load_splits(
    max_train_words: int, val_sentences: int, test_sentences: int, new_fraction: float, seed: int
) -> TranslationSplits:
    """Every pair, split by English sentence; training keeps the pairs of at most ``max_train_words`` words."""
    return split_by_english(load_pairs(), val_sentences, test_sentences, seed, new_fraction, max_train_words)


def contributors(attributions) -> Counter:
    """Tatoeba user names credited in attribution lines, with how many sentences each wrote or translated."""
    return Counter(name for line in attributions for name in _CONTRIBUTOR.findall(line))


def attribution_record(splits: TranslationSplits) -> dict:
    """What CC-BY asks of us for the pairs a run used: the licence, the source and every contributor credited."""
    lines = [p.attribution for p in splits.train]
    lines += [
        a for split in (splits.val, splits.test, splits.new_test) for example in split for a in example.attributions
    ]
    credited = contributors(lines)
    return {
        "licence": TATOEBA_SPA.licence,
        "source": TATOEBA_SPA.homepage,
        "pairs": len(lines),
        "contributors": dict(credited.most_common()),
    }
