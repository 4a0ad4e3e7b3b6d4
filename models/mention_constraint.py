"""Consistent mentions for scene captions: while a captioner decodes, which words would make its caption describe
no possible scene (a garment introduced twice, "the" garment never named). The captioner asks before each word
when its config has ``consistent_mentions``; the rules come from the scene grammar
(models.generators.fashion_scenes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.generators.fashion_scenes import COLOURS, GARMENT_WORDS, SIZES


class MentionWords:
    """The words mentions are made of, as ids of one vocabulary and lookups from id to garment or colour: built
    once per model, shared by every caption's MentionConstraint."""

    def __init__(self, index: dict[str, int], vocabulary_size: int):
        missing = [w for w in ("a", "one", "the", *SIZES, *COLOURS, *GARMENT_WORDS) if w.split()[0] not in index]
        if missing:
            raise ValueError(f"consistent_mentions needs the scene vocabulary; missing {missing}")
        self.vocabulary_size = vocabulary_size
        self.garment_ids = torch.tensor([index[g.split()[0]] for g in GARMENT_WORDS])  # a garment's first word
        self.colour_ids = torch.tensor([index[c] for c in COLOURS])
        self.size_ids = torch.tensor([index[size] for size in SIZES])
        self.openers = torch.tensor([index["a"], index["one"]])
        self.the = index["the"]
        self.garment_of = self._lookup(self.garment_ids)  # word id -> garment index, -1 for other words
        self.colour_of = self._lookup(self.colour_ids)  # word id -> colour index, -1 for other words

    def _lookup(self, word_ids: torch.Tensor) -> torch.Tensor:
        table = torch.full((self.vocabulary_size,), -1)
        table[word_ids] = torch.arange(len(word_ids))
        return table


class MentionConstraint:
    """What a scene caption may say next, given what it has said: a new mention ("a" / "one" …) names a garment
    not named before, since a scene holds distinct garments; a definite one ("the" …) refers to a garment already
    named, by the colour it was named with if it gives one, and without a size (the grammar's references have none).
    A caption that breaks a rule describes no possible scene: the parser reads it as holding one garment twice, or
    refuses it. Decoding asks ``forbidden()`` before each word, ``advance`` after it, and ``select`` when beam
    search reorders its rows. Unconstrained, the decoder often named a garment twice when it hesitated between two
    (docs/one_to_many.md); constrained, it takes its next-best garment there."""

    OUTSIDE, NEW, DEFINITE = 0, 1, 2  # where the caption is: outside a mention, in a new one, in a definite one

    def __init__(self, lexicon: MentionWords, rows: int):
        self.lexicon = lexicon
        self.named = torch.zeros(rows, len(GARMENT_WORDS), dtype=torch.bool)  # garments the caption introduced
        self.named_colour = torch.full((rows, len(GARMENT_WORDS)), -1)  # … the colour each was named with, or -1
        self.place = torch.full((rows,), self.OUTSIDE)
        self.colour = torch.full((rows,), -1)  # the open mention's colour, -1 before it has one

    def forbidden(self) -> torch.Tensor:
        """(rows, V) True where the next word would break a rule."""
        new, definite = self.place == self.NEW, self.place == self.DEFINITE  # (rows,)
        referable = self.named & ((self.colour[:, None] < 0) | (self.named_colour == self.colour[:, None]))
        garments = (new[:, None] & self.named) | (definite[:, None] & ~referable)  # (rows, garments)
        coloured = self.named_colour >= 0  # (rows, garments): named, and with a colour
        named_colours = (F.one_hot(self.named_colour.clamp(min=0), len(COLOURS)).bool() & coloured[..., None]).any(
            1
        )  # (rows, garments, colours) -> (rows, colours)
        colours = (definite & (self.colour < 0))[:, None] & ~named_colours  # (rows, colours)
        forbidden = torch.zeros(len(self.place), self.lexicon.vocabulary_size, dtype=torch.bool)
        forbidden[:, self.lexicon.garment_ids] = garments
        forbidden[:, self.lexicon.colour_ids] = colours
        forbidden[:, self.lexicon.size_ids] = definite[:, None]
        return forbidden

    def advance(self, words: torch.Tensor) -> None:
        """Take in the word (rows,) each caption just said."""
        garment, colour = self.lexicon.garment_of[words], self.lexicon.colour_of[words]
        introduced = (garment >= 0) & (self.place == self.NEW)
        rows = introduced.nonzero().flatten()
        self.named[rows, garment[rows]] = True
        self.named_colour[rows, garment[rows]] = self.colour[rows]
        # A size or colour keeps the mention open; its garment (or any other word) closes it.
        still_open = (colour >= 0) | torch.isin(words, self.lexicon.size_ids)
        self.colour = torch.where(colour >= 0, colour, self.colour)
        self.place = torch.where(still_open, self.place, self.OUTSIDE)
        new, definite = torch.isin(words, self.lexicon.openers), words == self.lexicon.the
        self.place = torch.where(new, self.NEW, torch.where(definite, self.DEFINITE, self.place))
        self.colour = self.colour.masked_fill(new | definite, -1)

    def select(self, rows: torch.Tensor) -> None:
        """Keep the captions at these row indices (rows',), in this order: beam search repeats and reorders them."""
        self.named, self.named_colour = self.named[rows], self.named_colour[rows]
        self.place, self.colour = self.place[rows], self.colour[rows]
