"""General-language sentiment that is here offline, inside the installed vaderSentiment package.

``vader_lexicon.txt``: about 7,500 English words, emoticons and slang, each rated from -4 to +4 by ten people
(Hutto & Gilbert 2014, MIT). ``emoji_utf8_lexicon.txt``: each emoji with its name in words, which VADER scores.
Both are read from the package (no network). Two ways to bring them to a tweet classifier live here: the lexicon
as one-word training examples labelled by the sign of their rating, and everyday English sentences (Tatoeba)
that VADER is confident about, as weak labels.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

PACKAGE = "vaderSentiment"
LEXICON_FILE = "vader_lexicon.txt"
EMOJI_FILE = "emoji_utf8_lexicon.txt"


def package_text(name: str) -> str:
    """A data file of the installed vaderSentiment package."""
    return resources.files(PACKAGE).joinpath(name).read_text(encoding="utf-8")


def word_valences() -> dict[str, float]:
    """Lexicon entry -> mean rating (-4 … +4); lines are ``token<TAB>mean<TAB>sd<TAB>[ten ratings]``."""
    valences = {}
    for line in package_text(LEXICON_FILE).splitlines():
        token, mean, *_ = line.split("\t")
        valences[token] = float(mean)
    return valences


def emoji_names() -> dict[str, str]:
    """Emoji -> its name in words (``😍`` -> ``smiling face with heart-eyes``)."""
    return dict(line.split("\t", 1) for line in package_text(EMOJI_FILE).splitlines() if "\t" in line)


def lexicon_examples(min_valence: float = 1.0, min_emoji_compound: float = 0.3) -> tuple[list[str], np.ndarray]:
    """Every lexicon word rated at least ``min_valence`` away from neutral, and every emoji whose name VADER
    scores at least ``min_emoji_compound`` away, as a one-word text labelled 1 (positive) or 0 (negative)."""
    from models.peers import VaderPeer

    words = {word: valence for word, valence in word_valences().items() if abs(valence) >= min_valence}
    names = emoji_names()
    compounds = VaderPeer().scores(list(names.values()))
    emoji = {symbol: float(c) for symbol, c in zip(names, compounds) if abs(c) >= min_emoji_compound}
    texts = list(words) + list(emoji)
    labels = np.array([v > 0 for v in [*words.values(), *emoji.values()]], dtype=np.int64)
    return texts, labels


def weak_labelled_sentences(limit: int, min_compound: float = 0.5, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Up to ``limit`` distinct English sentences of Tatoeba whose VADER compound score is at least
    ``min_compound`` away from neutral, labelled by its sign, half positive and half negative where there are
    enough of each (a seeded draw)."""
    from models.peers import VaderPeer
    from training.data.tatoeba_spa import load_pairs

    sentences = sorted({pair.en for pair in load_pairs()})
    compound = VaderPeer().scores(sentences)
    rng = np.random.default_rng(seed)
    chosen = []
    for side in (compound <= -min_compound, compound >= min_compound):
        rows = np.flatnonzero(side)
        chosen.append(rng.permutation(rows)[: limit // 2])
    rows = np.concatenate(chosen)
    return [sentences[i] for i in rows], (compound[rows] > 0).astype(np.int64)
