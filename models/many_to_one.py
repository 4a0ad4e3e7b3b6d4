"""Many to one: a recurrent encoder reads a tweet token by token and one label comes out (sentiment).

Embedding → recurrent encoder (vanilla RNN, GRU or LSTM; uni- or bidirectional) → pooling (the last state, or
attention that gives every token a weight) → classifier. Batches are right-padded with a mask and never packed:
the backward direction reads each tweet reversed within its own length, so padding never changes a prediction.

The tweet normalisation (with the topic masking) and the subword tokenizer live here too, because training and
prediction must apply exactly the same ones.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import ftfy
import ftfy.fixes
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.bulk import collector_paused

SENTIMENT_LABELS = ("negative", "positive")
# The seed's eight example tweets about everyday things, with their labels: the page's examples, and a check
# every logged run reports (seed_tweets_correct), because none of them is about the corpus's topics.
SEED_TWEETS = (
    ("Loves the German bakeries in Sydney. Together with my imported honey it feels like home", "positive"),
    ("@VivaLaLauren Mine is broken too! I miss my sidekick", "negative"),
    ("Finished fixing my twitterI had to unfollow and follow everyone again", "negative"),
    ("@DinahLady I too, liked the movie! I want to buy the DVD when it comes out", "positive"),
    ("@frugaldougal So sad to hear about @OscarTheCat", "negative"),
    ("@Mofette briliant! May the fourth be with you #starwarsday #starwars", "positive"),
    ("Good morning thespians a bright and sunny day in UK, Spring at last", "positive"),
    ("@DowneyisDOWNEY Me neither! My laptop's new, has dvd burning/ripping software but I just can't copy the files "
     "somehow!", "negative"),
)
TOKENIZER_FILE = "tokenizer.json"
# {"positive_threshold": t}: the cut on P(positive) a run chose on validation; without the file it is 0.5 (argmax)
CALIBRATION_FILE = "calibration.json"
PAD, UNK, URL_TOKEN, MENTION_TOKEN, TOPIC_TOKEN = "<pad>", "<unk>", "<url>", "@user", "<topic>"
PAD_ID = 0  # the first special token; the model masks it out

URL = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
MENTION = re.compile(r"@\w+")
# The names the training tweets were collected around (airlines, Apple, the NFL's DeflateGate, Coachella, allergy
# medicine, self-driving cars), as words or hashtags. Airline tweets are mostly complaints and Coachella tweets
# mostly cheers, so a model that reads these names learns the topic instead of the sentiment; masked, every
# topic looks alike. Words that also carry sentiment ("deflated") are left alone.
TOPIC_NAMES = re.compile(
    r"(?<![\w@])#?(?:united|usairways|us ?airways|americanair|american ?airlines?|southwest ?air|southwest|jetblue|"
    r"virgin ?america|delta|apple|aapl|iphone\w*|ipad\w*|ipod|ios\d*|itunes|icloud|macbook\w*|deflategate|"
    r"deflatriots|patriots|pats|brady|tombrady|belichi\w*|goodell|seahawks|nfl|superbowl\w*|sb49|"
    r"coachella\w*|claritin\w*|zyrtec|allegra|google|tesla)(?!\w)", re.IGNORECASE)
# Zero-width space, word joiner and byte-order mark carry nothing; the zero-width (non-)joiners stay, because
# emoji sequences and Persian spelling need them.
INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fix_text(text: str) -> str:
    """ftfy.fix_text, with a shortcut for ASCII text: there ftfy only decodes HTML entities (unless the text has
    tags; again until none is left, as in ``&amp;amp;``) and drops control characters, and calling those two
    steps directly is many times faster; anything that decodes to non-ASCII gets the full treatment."""
    if text.isascii():
        while "&" in text and "<" not in text:
            unescaped = ftfy.fixes.unescape_html(text)
            if unescaped == text:
                break
            text = unescaped
        if text.isascii():
            return ftfy.fixes.remove_control_chars(text) if ASCII_CONTROL.search(text) else text
    return INVISIBLE.sub("", ftfy.fix_text(text))


def normalize_tweet(text: str, mask_topics: bool = False) -> str:
    """The text the tokenizer sees, at training and at prediction time: mojibake and HTML entities repaired,
    every URL one placeholder and every @mention another (the user names would only teach the model who tweeted),
    with ``mask_topics`` the corpus's topic names a third, whitespace collapsed."""
    text = fix_text(text)
    if "://" in text or "www." in text.lower():  # the substring tests skip the slower regex for most tweets
        text = URL.sub(f" {URL_TOKEN} ", text)
    if "@" in text:
        text = MENTION.sub(MENTION_TOKEN, text)
    if mask_topics:
        text = TOPIC_NAMES.sub(TOPIC_TOKEN, text)
    return " ".join(text.split())


WORDS = re.compile(r"\S+")


class TweetTokenizer:
    """BPE over lower-cased NFKC text, split at spaces the SentencePiece way (a word keeps its leading ``▁``), so
    the pieces of a tweet put back together give the tweet again; the placeholders for URLs and mentions are
    single tokens, and a character never seen in training is ``<unk>``.

    A tweet is encoded word by word through a cache of each word's tokens: the same ids as the tokenizer gives
    each word, at several times its speed, because building one Encoding object per tweet costs more than
    classifying it (training encodes the same way, so the ids always agree). A new ASCII word skips even the one
    Encoding: lower-casing is the whole normalisation there, so its ids come straight from the BPE model, about
    15 times faster; other words, and any that holds a placeholder, go through the full pipeline."""

    SPECIAL_TOKENS = (PAD, UNK, URL_TOKEN, MENTION_TOKEN, TOPIC_TOKEN)
    CACHE_WORDS = 200_000  # a page that runs for days must not grow without bound

    def __init__(self, tokenizer, max_tokens: int):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.unk_id = tokenizer.token_to_id(UNK)
        if tokenizer.token_to_id(PAD) != PAD_ID:
            raise ValueError(f"the tokenizer's {PAD} must have id {PAD_ID}")
        self.word_ids: dict[str, tuple[int, ...]] = {}  # the cache: a word's token ids
        self.word_spans: dict[str, tuple[tuple[int, int], ...]] = {}  # and their character spans in the word
        spec = json.loads(tokenizer.to_str())
        self.direct_bpe = (spec["normalizer"] == {"type": "Sequence", "normalizers": [{"type": "NFKC"},
                                                                                       {"type": "Lowercase"}]}
                           and (spec["pre_tokenizer"] or {}).get("type") == "Metaspace"
                           and spec["pre_tokenizer"].get("replacement") == "\u2581"
                           and spec["pre_tokenizer"].get("prepend_scheme") == "always")

    @classmethod
    def train(cls, texts: list[str], vocab_size: int, max_tokens: int) -> "TweetTokenizer":
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                      special_tokens=list(cls.SPECIAL_TOKENS))
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer, max_tokens)

    @classmethod
    def from_file(cls, path: Path, max_tokens: int) -> "TweetTokenizer":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)), max_tokens)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def _through_bpe_model(self, word: str) -> bool:
        """Whether the BPE model alone gives this word's ids: the pipeline train() builds (NFKC, lower-case, a
        leading ``▁``) reduces to ``str.lower`` on ASCII, and placeholders are matched before the model runs."""
        return word.isascii() and not any(token in word for token in self.SPECIAL_TOKENS)

    def learn_words(self, texts_words: list[list[str]], with_spans: bool = False) -> None:
        """Put the words the cache lacks into it (with their character spans too when ``with_spans``); the words
        the full pipeline must see are encoded in one batch (one call per word costs several times more)."""
        cache = self.word_spans if with_spans else self.word_ids
        missing = list({word for words in texts_words for word in words if word not in cache})
        if len(cache) + len(missing) > self.CACHE_WORDS:
            self.word_ids.clear()
            self.word_spans.clear()
            missing = list({word for words in texts_words for word in words})
        if not with_spans and self.direct_bpe:
            tokenize = self.tokenizer.model.tokenize
            for word in missing:
                if self._through_bpe_model(word):
                    self.word_ids[word] = tuple(token.id for token in tokenize("\u2581" + word.lower()))
            missing = [word for word in missing if word not in self.word_ids]
        for word, encoding in zip(missing, self.tokenizer.encode_batch(missing, add_special_tokens=False)):
            self.word_ids[word] = tuple(encoding.ids)
            if with_spans:
                self.word_spans[word] = tuple(encoding.offsets)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of already normalised texts, at most max_tokens each and never empty (an empty text is one
        unknown token, so every tweet has a state to classify)."""
        with collector_paused():
            texts_words = [text.split() for text in texts]
            ids_of = self.word_ids.__getitem__
            try:
                return [list(chain.from_iterable(map(ids_of, words)))[:self.max_tokens] or [self.unk_id]
                        for words in texts_words]
            except KeyError:  # a word not seen before: learn every new one at once, then encode again
                self.learn_words(texts_words)
                return [list(chain.from_iterable(map(ids_of, words)))[:self.max_tokens] or [self.unk_id]
                        for words in texts_words]

    def encode_spans(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]], bool]]:
        """Per normalised text: its token ids, the character span of each, and whether it was cut at
        max_tokens."""
        self.learn_words([text.split() for text in texts], with_spans=True)
        result = []
        for text in texts:
            ids: list[int] = []
            spans: list[tuple[int, int]] = []
            for match in WORDS.finditer(text):
                ids += self.word_ids[match.group()]
                spans += [(match.start() + a, match.start() + b) for a, b in self.word_spans[match.group()]]
            truncated = len(ids) > self.max_tokens
            if not ids:
                ids, spans = [self.unk_id], [(0, len(text))]
            result.append((ids[:self.max_tokens], spans[:self.max_tokens], truncated))
        return result

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def known_word_share(self, text: str) -> float:
        """The share of a normalised text's words (those with a letter, placeholders aside) that the tokenizer
        holds whole or in two pieces, none unknown: words frequent in training. A word cut into many pieces, or
        one with a character never seen, is one the model learnt little about. 0 when no word has a letter
        (emoji only, digits)."""
        words = [word for word in text.split() if any(c.isalpha() for c in word)
                 and not any(token in word for token in self.SPECIAL_TOKENS)]
        if not words:
            return 0.0
        self.learn_words([words])
        known = [len(ids) <= 2 and self.unk_id not in ids for ids in map(self.word_ids.__getitem__, words)]
        return sum(known) / len(known)


def weighted_pieces(text: str, spans: list[tuple[int, int]], weights: list[float]) -> list[tuple[str, float]]:
    """The text cut at its tokens' ends, each piece with its token's weight; tokens whose spans overlap (a lone
    ``▁`` and the word after it) are one piece with their weights summed, and text the model never read (after
    truncation) is a last piece of weight 0. The pieces joined are the text."""
    pieces: list[tuple[str, float]] = []
    cursor = 0
    for (start, end), weight in zip(spans, weights):
        if pieces and start < cursor:
            merged_text, merged_weight = pieces[-1]
            pieces[-1] = (merged_text + text[cursor:max(end, cursor)], merged_weight + weight)
        else:
            pieces.append((text[cursor:end], weight))
        cursor = max(cursor, end)
    if cursor < len(text):
        pieces.append((text[cursor:], 0.0))
    return pieces


def pad_batch(sequences: list[list[int]]) -> torch.Tensor:
    """Right-pad non-empty id lists with PAD_ID to the longest: (B, T) int64."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    ids = np.full((len(sequences), int(lengths.max())), PAD_ID, dtype=np.int64)
    real = np.arange(ids.shape[1])[None, :] < lengths[:, None]  # (B, T)
    ids[real] = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(ids)


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
    labels: tuple[str, ...] = SENTIMENT_LABELS

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def reverse_within_length(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Row index (B*T,) into a (B*T, …) view that reverses each row's first ``length`` steps and leaves its padding
    in place; applying it twice gives the identity. A flat index_select is several times faster than gather."""
    steps = torch.arange(width, device=lengths.device)[None, :]  # (1, T)
    flipped = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
    row_starts = torch.arange(len(lengths), device=lengths.device)[:, None] * width  # (B, 1)
    return (flipped + row_starts).reshape(-1)  # (B, T) -> (B*T,)


def reorder_steps(sequence: torch.Tensor, flat_index: torch.Tensor) -> torch.Tensor:
    """(B, T, F) with its steps permuted within each row by a reverse_within_length index."""
    batch, width, features = sequence.shape
    return sequence.reshape(batch * width, features).index_select(0, flat_index).reshape(batch, width, features)


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
            self.layers.append(nn.ModuleList(cell(width, config.hidden, batch_first=True)
                                             for _ in range(config.directions)))
        self.dropout = nn.Dropout(config.dropout)

    def _run(self, rnn: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        weight = rnn.weight_ih_l0
        initial = weight.new_zeros(1, inputs.size(0), self.config.hidden)  # (layers=1, B, H)
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
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T, 1) -> (B, T)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, T), zero on padding
        pooled = torch.einsum("bt,bth->bh", weights, states)  # (B, D*H)
        return pooled, weights


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

    def forward(self, token_ids: torch.Tensor, labels: torch.Tensor | None = None):
        summary, _ = self.encode(token_ids)
        logits = self.head(summary)  # (B, C)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss

    @torch.no_grad()
    def predict(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class probabilities (B, C) and attention weights (B, T) (None for last-state pooling)."""
        summary, weights = self.encode(token_ids)
        return self.head(summary).softmax(dim=-1), weights


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


class TweetClassifier:
    """A trained model with its tokenizer: raw tweets in, labels out, in length-sorted batches."""

    def __init__(self, model: SentimentClassifier, tokenizer: TweetTokenizer, positive_threshold: float = 0.5):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.labels = model.config.labels
        self.positive_threshold = positive_threshold

    @classmethod
    def from_checkpoint(cls, checkpoint) -> "TweetClassifier":
        """From a models.checkpoint.Checkpoint whose folder holds tokenizer.json (and calibration.json when the run
        chose its threshold on validation)."""
        tokenizer = TweetTokenizer.from_file(checkpoint.file(TOKENIZER_FILE), checkpoint.config.max_tokens)
        calibration = checkpoint.directory / CALIBRATION_FILE
        threshold = json.loads(calibration.read_text())["positive_threshold"] if calibration.is_file() else 0.5
        return cls(checkpoint.model, tokenizer, threshold)

    def label_ids(self, probabilities: np.ndarray) -> np.ndarray:
        """(N,) label indices of (N, C) probabilities: positive at or above the threshold for two labels, the most
        probable label otherwise."""
        if len(self.labels) == 2:
            return (probabilities[:, 1] >= self.positive_threshold).astype(np.int64)
        return probabilities.argmax(1)

    def _batches(self, token_lists: list[list[int]], batch_size: int):
        """(positions, padded ids) for batches of similar length, so little work goes to padding."""
        order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
        for start in range(0, len(order), batch_size):
            positions = order[start:start + batch_size]
            yield positions, pad_batch([token_lists[i] for i in positions])

    def probabilities(self, texts: list[str], batch_size: int = 512) -> np.ndarray:
        """(N, C) class probabilities of raw tweets."""
        token_lists = self.tokenizer.encode(model_texts(texts, self.model.config))
        result = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for positions, ids in self._batches(token_lists, batch_size):
            probabilities, _ = self.model.predict(ids)
            result[positions] = probabilities.numpy()
        return result

    def explain(self, texts: list[str], batch_size: int = 256, progress=None) -> list[Explanation]:
        """Verdicts with per-token weights; ``progress(done, total)`` is called after each batch."""
        normalised = model_texts(texts, self.model.config)
        encoded = self.tokenizer.encode_spans(normalised)
        token_lists = [ids for ids, _, _ in encoded]
        explanations: list[Explanation | None] = [None] * len(texts)
        done = 0
        for positions, ids in self._batches(token_lists, batch_size):
            probabilities, weights = self.model.predict(ids)
            label_ids = self.label_ids(probabilities.numpy())
            for row, index in enumerate(positions):
                token_ids, spans, truncated = encoded[index]
                best = int(label_ids[row])
                pieces = None
                if weights is not None:
                    pieces = weighted_pieces(normalised[index], spans, weights[row, :len(token_ids)].tolist())
                explanations[index] = Explanation(
                    text=normalised[index], label=self.labels[best], probability=float(probabilities[row, best]),
                    probabilities={label: float(p) for label, p in zip(self.labels, probabilities[row])},
                    pieces=pieces, truncated=truncated,
                    known_share=self.tokenizer.known_word_share(normalised[index]))
            done += len(positions)
            if progress:
                progress(done, len(texts))
        return explanations


VADER_DEFAULT_THRESHOLD = 0.05  # the authors' suggested cut: compound ≥ 0.05 is positive


class VaderPeer:
    """VADER (Hutto & Gilbert 2014, MIT), the lexicon-and-rules peer: a compound score in [-1, 1] per tweet, and a
    two-way verdict at a threshold (chosen on validation by the evaluation run). Reads the tweet as written: its
    rules use capitals, punctuation and emoji that the RNN's normalisation would erase."""

    NAME = "vaderSentiment"  # the ``peer`` param of its logged run

    def __init__(self, threshold: float = VADER_DEFAULT_THRESHOLD):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.threshold = threshold

    def compound(self, texts: list[str]) -> np.ndarray:
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float32)

    def verdicts(self, texts: list[str], labels: tuple[str, ...] = SENTIMENT_LABELS) -> list[str]:
        """labels[1] (positive) at or above the threshold, labels[0] below."""
        return [labels[int(score >= self.threshold)] for score in self.compound(texts)]


class TfidfPeer:
    """The strongest classical peer: TF-IDF of word 1–2-grams and of character 2–5-grams within words, fed to a
    linear SVM (scikit-learn), trained on the same tweets as the RNNs and reading them normalised the same way
    (placeholders for URLs and @mentions), so that a comparison is about the model. Its decision value is a
    signed distance from the separating plane; the verdict is positive at or above the threshold."""

    NAME = "TF-IDF + linear SVM (scikit-learn)"  # the ``peer`` param of its logged run

    def __init__(self, regularisation: float = 0.3, threshold: float = 0.0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"\S+"),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True))
        self.pipeline = make_pipeline(features, LinearSVC(C=regularisation))
        self.threshold = threshold

    def fit(self, texts: list[str], targets: np.ndarray) -> "TfidfPeer":
        self.pipeline.fit([normalize_tweet(text) for text in texts], targets)
        return self

    def decision(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.decision_function([normalize_tweet(text) for text in texts]).astype(np.float32)

    def verdicts(self, texts: list[str], labels: tuple[str, ...] = SENTIMENT_LABELS) -> list[str]:
        return [labels[int(score >= self.threshold)] for score in self.decision(texts)]
