"""Everyday English opinions that are not tweets: the sentence sets VADER's authors had rated by people (Hutto &
Gilbert 2014; training.data.sources.VADER_SNIPPETS), the sentiment page's stand-in for what users bring beside
leave-one-domain-out. Each line is ``id<TAB>mean rating<TAB>sentence``, the mean of 20 people's ratings from -4 to
+4. A sentence rated within MIN_RATING of neutral is left out, because a binary verdict cannot be right or wrong
about it; the rest are positive above 0 and negative below. Scored, never trained on.
"""

from __future__ import annotations

import numpy as np

from training.data.sources import VADER_SNIPPETS

SETS = {  # short name -> file
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
MIN_RATING = 0.5


def parse_ratings(text: str) -> list[tuple[float, str]]:
    """(mean rating, sentence) per line of a ground-truth file; blank lines are skipped, a malformed one is an
    error naming its line."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        try:
            rows.append((float(fields[1]), fields[2].strip()))
        except (IndexError, ValueError):
            raise ValueError(f"line {number} is not id<TAB>mean rating<TAB>sentence: {line[:80]!r}") from None
    return rows


def labelled(rows: list[tuple[float, str]], min_rating: float = MIN_RATING) -> tuple[list[str], np.ndarray]:
    """Sentences rated at least ``min_rating`` away from neutral, and their labels (1 positive, 0 negative)."""
    kept = [(rating, sentence) for rating, sentence in rows if abs(rating) >= min_rating]
    return [sentence for _, sentence in kept], np.array([rating > 0 for rating, _ in kept], dtype=np.int64)


def general_english_sets() -> dict[str, tuple[list[str], np.ndarray]]:
    """Each set's sentences and labels, read from the verified cache (fetched on first use)."""
    return {
        name: labelled(parse_ratings(VADER_SNIPPETS.path(file).read_text(encoding="utf-8")))
        for name, file in SETS.items()
    }
