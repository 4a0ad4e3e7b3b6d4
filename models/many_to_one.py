"""Many to one: a recurrent encoder reads a tweet token by token and one label comes out (sentiment).

Embedding → recurrent encoder (vanilla RNN, GRU or LSTM; uni- or bidirectional) → pooling (the last state, or
attention that gives every token a weight) → classifier. Batches are right-padded with a mask and never packed:
the backward direction reads each tweet reversed within its own length, so padding never changes a prediction.

The tweet normalisation and the subword tokenizer the model reads through are in models.tweet_text; the peers it
is compared with (VADER, TF-IDF) in models.peers.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.bulk import collector_paused, native_bfloat16
from models.sequences import gather_slices, pad_slices, reorder_steps, reverse_within_length
from models.tweet_text import (
    PAD_ID,
    SENTIMENT_LABELS,
    TOKENIZER_FILE,
    NgramHasher,
    TweetTokenizer,
    bounded_slices,
    normalize_tweet,
    weighted_pieces,
)

# {"positive_threshold": t}: the cut on P(positive) a run chose on validation; without the file it is 0.5 (argmax)
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Config:
    cell: str = "lstm"  # "rnn" | "gru" | "lstm"
    bidirectional: bool = False
    pooling: str = "attention"  # "attention": a learned weight per token | "last": the final state only
    attention_dim: int = 32
    vocab_size: int = 4000  # the tokenizer is trained to at most this many tokens
    # Small on purpose: the champion must classify faster than VADER on one CPU thread, tokenizer included.
    embed_dim: int = 48
    hidden: int = 64  # per direction
    layers: int = 1
    dropout: float = 0.3
    max_tokens: int = 64  # tweets are ≤ 280 characters; longer input is truncated
    mask_topics: bool = False  # the corpus's topic names become one placeholder (see TOPIC_NAMES)
    # > 0: beside the recurrence, a linear path over the TF-IDF peer's features (word 1-2-grams, character 2-5-
    # grams within words; tweet_text.NgramHasher) hashed into this many buckets: "wide and deep" (Cheng et al.
    # 2016). A bag of character n-grams catches spelling variants a 4,000-token vocabulary splits into pieces;
    # the recurrence adds what a bag cannot see: order, and how far a "not" reaches.
    ngram_buckets: int = 0
    ngram_dropout: float = 0.5  # each n-gram left out of a training example with this probability
    labels: tuple[str, ...] = SENTIMENT_LABELS

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def arch(self) -> str:
        """The architecture's short name, which training.train also names a run by unless told otherwise."""
        pooling = "_attention" if self.pooling == "attention" else ""
        return f"{'bi' if self.bidirectional else ''}{self.cell}{pooling}{'_ngrams' if self.ngram_buckets else ''}"


CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class MaskedRecurrentEncoder(nn.Module):
    """A stack of recurrent layers over right-padded batches. Forward outputs at real tokens never see the padding
    that follows them; the backward direction runs over each tweet reversed within its length, for the same
    guarantee without packed sequences (which are many times slower on a CPU)."""

    def __init__(self, config: Config):
        super().__init__()
        if config.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {config.cell!r}")
        self.config = config
        cell = CELLS[config.cell]
        self.layers = nn.ModuleList()
        for layer in range(config.layers):
            width = config.embed_dim if layer == 0 else config.hidden * config.directions
            self.layers.append(
                nn.ModuleList(cell(width, config.hidden, batch_first=True) for _ in range(config.directions))
            )
        self.dropout = nn.Dropout(config.dropout)

    def _run(self, rnn: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        initial = inputs.new_zeros(1, inputs.size(0), self.config.hidden)  # (layers=1, B, H)
        state = (initial, initial) if self.config.cell == "lstm" else initial
        outputs, _ = rnn(inputs, state)
        return outputs  # (B, T, H)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) and lengths (B,) -> states (B, T, D*H); states at padding positions are meaningless."""
        reverse = reverse_within_length(lengths, embedded.size(1)) if self.config.bidirectional else None
        states = embedded
        for index, directions in enumerate(self.layers):
            if index:
                states = self.dropout(states)
            outputs = [self._run(directions[0], states)]
            if reverse is not None:
                backwards_out = self._run(directions[1], reorder_steps(states, reverse))  # (B, T, H), reversed
                outputs.append(reorder_steps(backwards_out, reverse))  # back in time order
            states = torch.cat(outputs, dim=-1)  # (B, T, D*H)
        return states


class AttentionPooling(nn.Module):
    """Additive attention: a score per token, softmax over the real tokens, a weighted sum of their states. The
    scoring layer is narrower than the states because it runs on every token and would otherwise cost as much
    as the recurrence."""

    def __init__(self, width: int, attention_dim: int):
        super().__init__()
        self.project = nn.Linear(width, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # tanh(x) written as 2·sigmoid(2x) − 1: the same function (to float32 rounding), and torch's CPU sigmoid is
        # six times faster than its tanh (0.10 against 0.59 ms on a batch of 256 × 22 × 32), which made tanh a
        # fifteenth of the champion's model time. In bfloat16 this form errs a little more than tanh (mean 0.0015
        # against 0.0009): the champion's verdicts differ from float32 on 9 of 20,487 texts instead of 8.
        squashed = 2 * torch.sigmoid(2 * self.project(states)) - 1  # (B, T, A), in (-1, 1)
        scores = self.score(squashed).squeeze(-1)  # (B, T, 1) -> (B, T)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, T), zero on padding
        pooled = torch.einsum("bt,bth->bh", weights, states)  # (B, D*H)
        return pooled, weights


class NgramPath(nn.Module):
    """A linear classifier over a tweet's hashed n-grams: one weight per bucket and class, summed over the tweet's
    n-grams (a repeated one counts each time) and scaled by 1 / sqrt(their count), so a long tweet does not shout
    (as the TF-IDF peer's L2 normalisation does). Starts at zero: the model begins as its recurrence alone."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.weights = nn.Embedding(config.ngram_buckets, config.n_classes, padding_idx=PAD_ID)
        nn.init.zeros_(self.weights.weight)

    def forward(self, ngram_ids: torch.Tensor) -> torch.Tensor:
        """(B, N) bucket ids, right-padded with PAD_ID -> logits (B, C)."""
        present = (ngram_ids != PAD_ID).float()  # (B, N)
        scale = present.sum(dim=1, keepdim=True).clamp(min=1).rsqrt()  # (B, 1), from every n-gram of the tweet
        if self.training and self.config.ngram_dropout:
            # Inverted dropout: the kept n-grams weigh 1 / (1 - p), so the path's output has the same expected
            # size in training as at prediction, where every n-gram counts.
            kept = torch.rand_like(present) >= self.config.ngram_dropout
            present = present * kept / (1 - self.config.ngram_dropout)
        return torch.einsum("bn,bnc->bc", present, self.weights(ngram_ids)) * scale  # (B, N, C) summed -> (B, C)


class SentimentClassifier(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.pooling not in ("attention", "last"):
            raise ValueError(f"pooling must be 'attention' or 'last', not {config.pooling!r}")
        self.config = config
        width = config.hidden * config.directions
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.encoder = MaskedRecurrentEncoder(config)
        self.attention = AttentionPooling(width, config.attention_dim) if config.pooling == "attention" else None
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, config.n_classes))
        self.ngrams = NgramPath(config) if config.ngram_buckets else None

    def encode(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The tweet summary (B, D*H) and the attention weights (B, T), or None when pooling the last state.
        ``token_ids`` (B, T) is right-padded with PAD_ID; every row has at least one real token."""
        mask = token_ids != PAD_ID  # (B, T)
        lengths = mask.sum(dim=1)  # (B,)
        states = self.encoder(self.embedding_dropout(self.embedding(token_ids)), lengths)  # (B, T, D*H)
        if self.attention is not None:
            return self.attention(states, mask)
        hidden = self.config.hidden
        last = (lengths - 1)[:, None, None].expand(-1, 1, hidden)  # (B, 1, H): index of each row's last token
        forward_last = states[..., :hidden].gather(1, last).squeeze(1)  # (B, 1, H) -> (B, H)
        if not self.config.bidirectional:
            return forward_last, None
        backward_last = states[:, 0, hidden:]  # (B, H): the backward direction ends at the first token
        return torch.cat([forward_last, backward_last], dim=-1), None  # (B, 2H)

    def classify(
        self, summary: torch.Tensor, ngram_ids: torch.Tensor | None = None, ngram_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, C) from the tweet summary (B, D*H), plus, when the model has an n-gram path, the path's logits
        of ``ngram_ids`` (B, N), or ``ngram_logits`` (B, C) where the caller summed them already (WordTable)."""
        logits = self.head(summary)  # (B, C)
        if self.ngrams is None:
            return logits
        if ngram_logits is None:
            if ngram_ids is None:
                raise ValueError("this model has an n-gram path: pass the tweets' ngram_ids (tweet_text.NgramHasher)")
            ngram_logits = self.ngrams(ngram_ids)
        return logits + ngram_logits

    def forward(
        self, token_ids: torch.Tensor, ngram_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None
    ):
        summary, _ = self.encode(token_ids)
        logits = self.classify(summary, ngram_ids)  # (B, C)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss

    def bfloat16_copy(self) -> "SentimentClassifier":
        """A copy for ``predict(..., bfloat16=True)`` alone, with the embedding, the recurrence and the attention
        stored in bfloat16. Autocast computes them in bfloat16 either way, but casts their weights and every
        embedded batch on each call: stored so, the same numbers (tested), and the model's time on the bench's
        10,000 tweets an eighth lower. The classifier and the n-gram path stay in float32."""
        model = copy.deepcopy(self)
        for part in (model.embedding, model.encoder, model.attention):
            if part is not None:
                part.to(torch.bfloat16)
        return model

    @torch.no_grad()
    def predict(
        self,
        token_ids: torch.Tensor,
        ngram_ids: torch.Tensor | None = None,
        ngram_logits: torch.Tensor | None = None,
        bfloat16: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class probabilities (B, C) and attention weights (B, T) (None for last-state pooling), in float32. With
        ``bfloat16`` the recurrence and the attention run in bfloat16 (faster where the CPU has it natively), the
        classifier and its softmax still in float32."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            summary, weights = self.encode(token_ids)
        probabilities = self.classify(summary.float(), ngram_ids, ngram_logits).softmax(dim=-1)
        return probabilities, None if weights is None else weights.float()


def build_model(config: Config) -> SentimentClassifier:
    return SentimentClassifier(config)


def model_texts(texts: list[str], config: Config) -> list[str]:
    """What the tokenizer reads of raw tweets under a model's config: the one path for training and prediction."""
    return [normalize_tweet(text, config.mask_topics) for text in texts]


# Below this share of known words (TweetTokenizer.known_word_share) a verdict says more about the model than
# about the tweet: emoji only, another script, a language the tweets never used.
KNOWS_LITTLE_BELOW = 0.5


@dataclass
class Explanation:
    """One tweet's verdict, with the pieces of text the model read and the weight it gave each (None without
    attention)."""

    text: str  # the normalised text
    label: str
    probability: float  # of the predicted label
    probabilities: dict[str, float]
    pieces: list[tuple[str, float]] | None  # (piece of text, attention weight); None without attention
    truncated: bool  # the tokenizer cut it at max_tokens
    known_share: float  # of its words, those the model knows (TweetTokenizer.known_word_share)

    @property
    def knows_little(self) -> bool:
        return self.known_share < KNOWS_LITTLE_BELOW


@dataclass
class EncodedTexts:
    """What a classifier reads of normalised texts: every text's token ids one text after another (each cut at
    max_tokens, never empty), where each text's ids begin and how many they are, and the n-gram path's logits."""

    token_ids: np.ndarray  # (tokens,)
    starts: np.ndarray  # (N,)
    lengths: np.ndarray  # (N,)
    ngram_logits: torch.Tensor | None  # (N, C); None without an n-gram path


class WordTable:
    """Every word a classifier has read, a row each: its token ids (the tokenizer's) and, for a model with an n-gram
    path, what that path makes of it. The path is linear, so each word's weights (its own bucket's and its character
    n-grams') are summed once and kept with their count and the word's own bucket; a tweet's logits are then its
    words' sums and its word pairs' weights. A call costs one split and one dictionary lookup per word, and array
    arithmetic for the rest: the tokenizer's work and the path's in one pass over the words (10,000 new tweets in
    0.10 s, cached 0.05 s; a pass for each took 0.15–0.17 s and 0.10 s). The same ids as TweetTokenizer.encode and
    the same logits as NgramPath in eval mode, to float rounding (tested).

    A text whose n-grams pass MAX_NGRAMS goes through the path itself, where the cut applies. At most CACHE_WORDS
    rows: a call goes a slice of texts at a time so that each slice's words fit (a longer text alone), and the table
    starts again where they would not. Thread-safe, since one cached classifier serves every page session."""

    CACHE_WORDS = TweetTokenizer.CACHE_WORDS
    EXACT_ROWS = 256  # texts the path itself reads at once: a few MB of ids and weights, whatever the input
    # New words hashed at once: a slice's 200,000 new words in one go doubled a call's memory (about 270 MB of
    # n-gram arrays); a chunk of this many takes a few tens of MB, and a first pass of the bench's tweets is one.
    LEARN_CHUNK = 16_384

    def __init__(self, tokenizer: TweetTokenizer, path: NgramPath | None = None, hasher: NgramHasher | None = None):
        if (path is None) != (hasher is None):
            raise ValueError("an n-gram path and its hasher come together")
        self.tokenizer, self.path, self.hasher = tokenizer, path, hasher
        self.weights = None if path is None else path.weights.weight.detach().double().numpy()  # (buckets, C)
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.row_of: dict[str, int] = {}  # a word's row in the arrays below
        self.token_ids = np.zeros(1024, dtype=np.int64)  # every row's token ids, one row after another
        self.tokens_used = 0
        self.token_start = np.zeros(1024, dtype=np.int64)  # (rows,) where the row's token ids begin
        self.token_count = np.zeros(1024, dtype=np.int64)  # (rows,)
        n_classes = 0 if self.weights is None else self.weights.shape[1]
        self.own = np.zeros(1024, dtype=np.int64)  # (rows,) the word's own n-gram bucket
        self.ngram_count = np.zeros(1024)  # (rows,) how many n-gram ids the word has
        self.summed = np.zeros((1024, n_classes))  # (rows, C) the path's weights of those ids, summed

    @staticmethod
    def _room(array: np.ndarray, size: int) -> np.ndarray:
        """The array itself where it has ``size`` rows, else a copy at least twice as long, zero-filled."""
        if size <= len(array):
            return array
        grown = np.zeros((max(size, 2 * len(array)),) + array.shape[1:], dtype=array.dtype)
        grown[: len(array)] = array
        return grown

    def _rows(self, words: list[str]) -> np.ndarray:
        """(W,) each word's row, learning the words the table lacks, all at once; the caller holds the lock."""
        try:
            return np.fromiter(map(self.row_of.__getitem__, words), dtype=np.int64, count=len(words))
        except KeyError:
            distinct = set(words)
            new = distinct.difference(self.row_of)
            if len(self.row_of) + len(new) > self.CACHE_WORDS:  # past the bound: start again with these words
                self._reset()
                new = distinct
            self._learn(list(new))
            return np.fromiter(map(self.row_of.__getitem__, words), dtype=np.int64, count=len(words))

    def _learn(self, words: list[str]) -> None:
        """Rows for these distinct new words, in one pass of array arithmetic."""
        ids_of = self.tokenizer.ids_of_words(words)
        token_lists = [ids_of[word] for word in words]
        counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(words))
        first, total = len(self.row_of), int(counts.sum())
        rows = np.arange(first, first + len(words))
        for name in ("token_start", "token_count", "own", "ngram_count", "summed"):
            setattr(self, name, self._room(getattr(self, name), first + len(words)))
        self.token_ids = self._room(self.token_ids, self.tokens_used + total)
        self.token_start[rows] = self.tokens_used + np.cumsum(counts) - counts
        self.token_count[rows] = counts
        self.token_ids[self.tokens_used : self.tokens_used + total] = np.fromiter(
            chain.from_iterable(token_lists), dtype=np.int64, count=total
        )
        self.tokens_used += total
        if self.hasher is not None:
            for start in range(0, len(words), self.LEARN_CHUNK):
                self._learn_ngrams(words[start : start + self.LEARN_CHUNK], rows[start : start + self.LEARN_CHUNK])
        self.row_of.update(zip(words, rows.tolist()))

    def _learn_ngrams(self, words: list[str], rows: np.ndarray) -> None:
        """The n-gram path's part of these new words' rows: their features are those of the lower-cased word, as
        NgramHasher.words reads a text."""
        ids, sizes = self.hasher.many_word_ids([word.lower() for word in words])
        starts = np.cumsum(sizes) - sizes
        self.own[rows], self.ngram_count[rows] = ids[starts], sizes
        self.summed[rows] = np.add.reduceat(self.weights[ids], starts, axis=0)  # each word's weights, summed

    def encode(self, normalised: list[str]) -> EncodedTexts:
        """Token ids and n-gram logits of normalised texts, a slice of at most CACHE_WORDS words at a time."""
        with collector_paused():
            texts_words = [text.split() for text in normalised]
            parts = [
                self._encode_slice(normalised[start:end], texts_words[start:end])
                for start, end in bounded_slices(texts_words, self.CACHE_WORDS)
            ]
        if len(parts) == 1:
            return parts[0]
        sizes = [len(part.token_ids) for part in parts]
        return EncodedTexts(
            token_ids=np.concatenate([part.token_ids for part in parts]),
            starts=np.concatenate([part.starts + offset for part, offset in zip(parts, np.cumsum(sizes) - sizes)]),
            lengths=np.concatenate([part.lengths for part in parts]),
            ngram_logits=None if self.path is None else torch.cat([part.ngram_logits for part in parts]),
        )

    def _encode_slice(self, normalised: list[str], texts_words: list[list[str]]) -> EncodedTexts:
        """``encode`` of texts whose new words fit the table, given their words (``text.split()`` of each)."""
        n_texts = len(normalised)
        words = list(chain.from_iterable(texts_words))
        word_text = np.repeat(np.arange(n_texts), np.fromiter(map(len, texts_words), dtype=np.int64, count=n_texts))
        with self.lock:
            rows = self._rows(words)
            token_count = self.token_count[rows]  # (W,)
            token_ids = gather_slices(self.token_ids, self.token_start[rows], token_count)  # every word's, in order
            if self.path is not None:
                own, ngram_count, summed = self.own[rows], self.ngram_count[rows], self.summed[rows]  # (W,) (W,) (W, C)
        text_tokens = np.bincount(word_text, token_count, n_texts).astype(np.int64)  # (N,)
        starts = np.cumsum(text_tokens) - text_tokens
        lengths = np.minimum(text_tokens, self.tokenizer.max_tokens)
        empty = lengths == 0  # an empty text is one unknown token, so every tweet has a state to classify
        if empty.any():
            starts[empty], lengths[empty] = len(token_ids), 1
            token_ids = np.append(token_ids, self.tokenizer.unk_id)
        ngram_logits = None
        if self.path is not None:
            ngram_logits = self._ngram_logits(normalised, word_text, own, ngram_count, summed)
        return EncodedTexts(token_ids, starts, lengths, ngram_logits)

    def _ngram_logits(
        self,
        normalised: list[str],
        word_text: np.ndarray,
        own: np.ndarray,
        ngram_count: np.ndarray,
        summed: np.ndarray,
    ) -> torch.Tensor:
        """(N, C) float32 logits of the n-gram path, from each word's text (W,), own bucket (W,), n-gram count (W,)
        and summed weights (W, C)."""
        n_texts, n_classes = len(normalised), self.weights.shape[1]
        pairs, pair_text = self.hasher.pairs(own, word_text)
        totals = np.stack(
            [
                np.bincount(word_text, summed[:, c], n_texts) + np.bincount(pair_text, self.weights[pairs, c], n_texts)
                for c in range(n_classes)
            ],
            axis=1,
        )  # (N, C)
        counts = np.bincount(word_text, ngram_count, n_texts) + np.bincount(pair_text, minlength=n_texts)  # (N,)
        logits = torch.from_numpy(totals / np.sqrt(np.maximum(counts, 1))[:, None]).float()
        long = np.flatnonzero(counts > NgramHasher.MAX_NGRAMS)
        if len(long):
            logits[long] = self._exact([normalised[i] for i in long])
        return logits

    @torch.no_grad()
    def _exact(self, normalised: list[str]) -> torch.Tensor:
        """(B, C) logits of the path itself, EXACT_ROWS texts at a time."""
        return torch.cat(
            [
                self.path(torch.from_numpy(self.hasher.padded(normalised[start : start + self.EXACT_ROWS])[0]))
                for start in range(0, len(normalised), self.EXACT_ROWS)
            ]
        )


class TweetClassifier:
    """A trained model with its tokenizer (and n-gram hasher, when it has an n-gram path): raw tweets in, labels
    out, in length-sorted batches."""

    def __init__(
        self,
        model: SentimentClassifier,
        tokenizer: TweetTokenizer,
        positive_threshold: float = 0.5,
        bfloat16: bool = True,
    ):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.labels = model.config.labels
        self.positive_threshold = positive_threshold
        # The model runs in bfloat16 where the CPU computes it natively: the recurrence takes a third less time
        # there, and the verdicts on the 10,000 tweets of the bench are the same (probabilities within 0.004;
        # docs/many_to_one.md). Logged metrics and recorded outputs use float32 (bfloat16=False), the same on
        # every machine.
        self.bfloat16 = bfloat16 and native_bfloat16()
        if self.bfloat16:
            self.model = model.bfloat16_copy().eval()
        self.hasher = NgramHasher(model.config.ngram_buckets) if model.config.ngram_buckets else None
        self.word_table = WordTable(tokenizer, model.ngrams, self.hasher)

    @classmethod
    def from_checkpoint(cls, checkpoint, bfloat16: bool = True) -> "TweetClassifier":
        """From a models.checkpoint.Checkpoint whose folder holds tokenizer.json (and calibration.json when the run
        chose its threshold on validation)."""
        tokenizer = TweetTokenizer.from_file(checkpoint.file(TOKENIZER_FILE), checkpoint.config.max_tokens)
        calibration = checkpoint.directory / CALIBRATION_FILE
        threshold = json.loads(calibration.read_text())["positive_threshold"] if calibration.is_file() else 0.5
        return cls(checkpoint.model, tokenizer, threshold, bfloat16)

    def label_ids(self, probabilities: np.ndarray) -> np.ndarray:
        """(N,) label indices of (N, C) probabilities: positive at or above the threshold for two labels, the most
        probable label otherwise."""
        if len(self.labels) == 2:
            return (probabilities[:, 1] >= self.positive_threshold).astype(np.int64)
        return probabilities.argmax(1)

    def ngram_ids(self, normalised: list[str]) -> torch.Tensor | None:
        """(B, N) right-padded n-gram ids of normalised texts for the model's n-gram path; None without one."""
        return torch.from_numpy(self.hasher.padded(normalised)[0]) if self.hasher else None

    @staticmethod
    def _batches(encoded: EncodedTexts, batch_size: int):
        """(positions, padded token ids, the n-gram path's logits or None) for batches of similar length, so little
        work goes to padding."""
        order = np.argsort(encoded.lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            positions = order[start : start + batch_size]
            ids = pad_slices(encoded.token_ids, encoded.starts[positions], encoded.lengths[positions], PAD_ID)
            yield positions, ids, None if encoded.ngram_logits is None else encoded.ngram_logits[positions]

    def probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """(N, C) class probabilities of raw tweets."""
        # The collector waits for the whole call, not only its bulk steps: when it runs after them, inside the
        # call, it walks every tweet's word list still alive; once the call has returned, only what outlives it
        # (new words' rows).
        with collector_paused():
            encoded = self.word_table.encode(model_texts(texts, self.model.config))
            result = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
            for positions, ids, ngram_logits in self._batches(encoded, batch_size):
                probabilities, _ = self.model.predict(ids, ngram_logits=ngram_logits, bfloat16=self.bfloat16)
                result[positions] = probabilities.numpy()
        return result

    def explain(self, texts: list[str], batch_size: int = 256, progress=None) -> list[Explanation]:
        """Verdicts with per-token weights; ``progress(done, total)`` is called after each batch."""
        normalised = model_texts(texts, self.model.config)
        spans = self.tokenizer.encode_spans(normalised)  # the same ids as the table's, with their spans
        explanations: list[Explanation | None] = [None] * len(texts)
        done = 0
        for positions, ids, ngram_logits in self._batches(self.word_table.encode(normalised), batch_size):
            probabilities, weights = self.model.predict(ids, ngram_logits=ngram_logits, bfloat16=self.bfloat16)
            label_ids = self.label_ids(probabilities.numpy())
            for row, index in enumerate(positions.tolist()):
                token_ids, token_spans, truncated = spans[index]
                best = int(label_ids[row])
                pieces = None
                if weights is not None:
                    pieces = weighted_pieces(normalised[index], token_spans, weights[row, : len(token_ids)].tolist())
                explanations[index] = Explanation(
                    text=normalised[index],
                    label=self.labels[best],
                    probability=float(probabilities[row, best]),
                    probabilities={label: float(p) for label, p in zip(self.labels, probabilities[row])},
                    pieces=pieces,
                    truncated=truncated,
                    known_share=self.tokenizer.known_word_share(normalised[index]),
                )
            done += len(positions)
            if progress:
                progress(done, len(texts))
        return explanations
