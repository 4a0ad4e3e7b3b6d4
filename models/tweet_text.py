"""Tweet text as the sentiment models read it: the repair and normalisation of a raw tweet (placeholders for URLs,
@mentions and, optionally, the corpus's topic names) and the subword tokenizer, in one place because training and
prediction must apply exactly the same ones. Also the seed's example tweets, which the page shows and every run is
scored on.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from itertools import chain, repeat
from pathlib import Path

import ftfy
import ftfy.fixes
import numpy as np

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
    (
        "@DowneyisDOWNEY Me neither! My laptop's new, has dvd burning/ripping software but I just can't copy the files "
        "somehow!",
        "negative",
    ),
)
TOKENIZER_FILE = "tokenizer.json"
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
    r"coachella\w*|claritin\w*|zyrtec|allegra|google|tesla)(?!\w)",
    re.IGNORECASE,
)
# Zero-width space, word joiner and byte-order mark carry nothing; the zero-width (non-)joiners stay, because
# emoji sequences and Persian spelling need them.
INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Text of these characters alone is what ftfy leaves as it is but for curly quotes, which it makes straight: ASCII,
# the quotes, emoji, dingbats and the emoji variation selector. Mojibake is UTF-8 read in a one-byte encoding, a
# lead byte and its continuation bytes; of these characters only the quotes exist in such an encoding, and there
# they are continuation bytes (the Windows code pages) or lead bytes (Mac Roman), never both, so no text of them
# is mojibake. No other fixer (C1 controls, ligatures, character width, line breaks, surrogates, NFC) touches them.
QUOTES_AND_EMOJI = re.compile("[\x00-\x7f\u02bc\u2018-\u201f\u2600-\u27bf\ufe0f\U0001f000-\U0001faff]*")
STRAIGHT_QUOTES = str.maketrans(
    {0x02BC: "'"} | dict.fromkeys(range(0x2018, 0x201C), "'") | dict.fromkeys(range(0x201C, 0x2020), '"')
)  # ftfy's uncurl_quotes


def fix_text(text: str) -> str:
    """ftfy.fix_text (line breaks aside, which normalize_tweet collapses anyway), with a shortcut for the text of
    nearly every tweet: ASCII, curly quotes and emoji (tested against ftfy)."""
    if text.isascii() or QUOTES_AND_EMOJI.fullmatch(text):
        fixed = _fixed_directly(text)
        if fixed is not None:
            return fixed
    return INVISIBLE.sub("", ftfy.fix_text(text))


def _fixed_directly(text: str) -> str | None:
    """What ftfy makes of text of ASCII, curly quotes and emoji, doing its only two steps there directly (many times
    faster): HTML entities decoded, quotes straightened. None where ftfy must run after all: several lines and a
    "<", a control character, or a character outside those once decoded."""
    # ftfy decodes HTML entities only in a line without a "<" (one with tags is taken for HTML), and then again
    # until none is left, as in "&amp;amp;", even if a "<" comes out. It works a line at a time.
    fixed = text
    if "<" not in text:
        while "&" in fixed:
            unescaped = ftfy.fixes.unescape_html(fixed)
            if unescaped == fixed:
                break
            fixed = unescaped
    elif "\n" in text:
        return None
    # isprintable() is false for any control character, and a C loop: the regex runs only where one may be.
    if not fixed.isprintable() and ASCII_CONTROL.search(fixed):
        return None
    if fixed.isascii():
        return fixed
    return fixed.translate(STRAIGHT_QUOTES) if QUOTES_AND_EMOJI.fullmatch(fixed) else None


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


def bounded_slices(texts_words: list[list[str]], max_words: int):
    """(start, end) of consecutive slices of the texts with at most ``max_words`` words in all (a longer text on its
    own), so that whatever is pasted, one slice's new words fit a cache bounded to that many and it stays bounded."""
    start = count = 0
    for end, words in enumerate(texts_words):
        if count + len(words) > max_words and end > start:
            yield start, end
            start, count = end, 0
        count += len(words)
    yield start, len(texts_words)


class TweetTokenizer:
    """BPE over lower-cased NFKC text, split at spaces the SentencePiece way (a word keeps its leading ``▁``), so
    the pieces of a tweet put back together give the tweet again; the placeholders for URLs and mentions are
    single tokens, and a character never seen in training is ``<unk>``.

    A tweet is encoded word by word through a cache of each word's tokens: the same ids as the tokenizer gives
    each word, at several times its speed, because building one Encoding object per tweet costs more than
    classifying it (training encodes the same way, so the ids always agree). A new ASCII word skips even the one
    Encoding: lower-casing is the whole normalisation there, so its ids come straight from the BPE model, about
    15 times faster; other words, and any that holds a placeholder, go through the full pipeline. (A classifier
    keeps its words' ids in a table of its own, models.many_to_one.WordTable, and asks ids_of_words for new
    ones.)"""

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
        # One tokenizer serves every page session: learning a call's words and reading them back are one step, so
        # that another call's start-again of the bounded cache never falls between them.
        self.lock = threading.Lock()
        spec = json.loads(tokenizer.to_str())
        self.direct_bpe = (
            spec["normalizer"] == {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
            and (spec["pre_tokenizer"] or {}).get("type") == "Metaspace"
            and spec["pre_tokenizer"].get("replacement") == "\u2581"
            and spec["pre_tokenizer"].get("prepend_scheme") == "always"
        )

    @classmethod
    def train(cls, texts: list[str], vocab_size: int, max_tokens: int) -> "TweetTokenizer":
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        # The characters come first and are never cut to vocab_size, so text of many scripts and emoji could make
        # more tokens than the model has embeddings: the rarest characters are left to UNK instead. Which of
        # equally rare ones go is up to the trainer's hash order, so it can change between processes; the cap
        # binds only on tiny vocabularies (the shipped tokenizers' 282 characters are far under their 4,000).
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            show_progress=False,
            special_tokens=list(cls.SPECIAL_TOKENS),
            limit_alphabet=vocab_size - len(cls.SPECIAL_TOKENS),
        )
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
        leading ``▁``) reduces to ``str.lower`` on ASCII, and placeholders are matched before the model runs. Every
        placeholder holds a "<" or an "@"; a word with one of those goes the full way (the same ids, slower),
        because testing each placeholder costs ten times as much per word."""
        return word.isascii() and "<" not in word and "@" not in word

    def ids_of_words(self, words: list[str]) -> dict[str, tuple[int, ...]]:
        """Each of these distinct words' token ids, worked out afresh (the cache is neither read nor filled): the BPE
        model's short way where it gives the pipeline's ids, the full pipeline in one batch for the rest (one call
        per word costs several times more)."""
        ids: dict[str, tuple[int, ...]] = {}
        if self.direct_bpe:
            tokenize = self.tokenizer.model.tokenize
            for word in words:
                if self._through_bpe_model(word):
                    ids[word] = tuple(token.id for token in tokenize("\u2581" + word.lower()))
        rest = [word for word in words if word not in ids]
        for word, encoding in zip(rest, self.tokenizer.encode_batch(rest, add_special_tokens=False)):
            ids[word] = tuple(encoding.ids)
        return ids

    def learn_words(self, texts_words: list[list[str]], with_spans: bool = False) -> None:
        """Put the words the cache lacks into it (with their character spans too when ``with_spans``)."""
        cache = self.word_spans if with_spans else self.word_ids
        words = set(chain.from_iterable(texts_words))
        missing = list(words.difference(cache))
        if len(self.word_ids) + len(missing) > self.CACHE_WORDS:  # word_ids holds every word word_spans does
            self.word_ids.clear()
            self.word_spans.clear()
            missing = list(words)
        if not with_spans:
            self.word_ids.update(self.ids_of_words(missing))
            return
        for word, encoding in zip(missing, self.tokenizer.encode_batch(missing, add_special_tokens=False)):
            self.word_ids[word] = tuple(encoding.ids)
            self.word_spans[word] = tuple(encoding.offsets)

    def _cached_ids(self, texts_words: list[list[str]]) -> list[list[int]]:
        """Each text's ids from the cache (KeyError for a word it lacks), cut at max_tokens, never empty."""
        ids_of = self.word_ids.__getitem__
        return [
            list(chain.from_iterable(map(ids_of, words)))[: self.max_tokens] or [self.unk_id] for words in texts_words
        ]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of already normalised texts, at most max_tokens each and never empty (an empty text is one
        unknown token, so every tweet has a state to classify)."""
        with collector_paused():
            texts_words = [text.split() for text in texts]
            try:
                with self.lock:
                    return self._cached_ids(texts_words)
            except KeyError:  # words not seen before: learn each slice's new words at once, then encode it
                result = []
                for start, end in bounded_slices(texts_words, self.CACHE_WORDS):
                    with self.lock:  # a slice at a time, so one large call does not hold up every other
                        self.learn_words(texts_words[start:end])
                        result += self._cached_ids(texts_words[start:end])
                return result

    def encode_spans(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]], bool]]:
        """Per normalised text: its token ids, the character span of each, and whether it was cut at
        max_tokens."""
        texts_words = [text.split() for text in texts]
        result = []
        for start, end in bounded_slices(texts_words, self.CACHE_WORDS):
            with self.lock:  # a slice at a time, as in encode
                self.learn_words(texts_words[start:end], with_spans=True)
                result += [self._ids_and_spans(text) for text in texts[start:end]]
        return result

    def _ids_and_spans(self, text: str) -> tuple[list[int], list[tuple[int, int]], bool]:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for match in WORDS.finditer(text):
            ids += self.word_ids[match.group()]
            spans += [(match.start() + a, match.start() + b) for a, b in self.word_spans[match.group()]]
        truncated = len(ids) > self.max_tokens
        if not ids:
            ids, spans = [self.unk_id], [(0, len(text))]
        return ids[: self.max_tokens], spans[: self.max_tokens], truncated

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def known_word_share(self, text: str) -> float:
        """The share of a normalised text's words (those with a letter, placeholders aside) that the tokenizer
        holds whole or in two pieces, none unknown: words frequent in training. A word cut into many pieces, or
        one with a character never seen, is one the model learnt little about. 0 when no word has a letter
        (emoji only, digits)."""
        words = [
            word
            for word in text.split()
            if any(c.isalpha() for c in word) and not any(token in word for token in self.SPECIAL_TOKENS)
        ]
        if not words:
            return 0.0
        with self.lock:
            self.learn_words([words])
            known = [len(ids) <= 2 and self.unk_id not in ids for ids in map(self.word_ids.__getitem__, words)]
        return sum(known) / len(known)


# A character n-gram is hashed as "c" + the gram, a word as "w" + the word: CRC-32 goes on from the prefix's value.
_CHAR_PREFIX, _WORD_PREFIX = zlib.crc32(b"c"), zlib.crc32(b"w")


def _crc32_table() -> np.ndarray:
    """zlib's CRC-32 table (the reflected polynomial 0xEDB88320): entry i is the register after byte i."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC32_TABLE = _crc32_table()


class NgramHasher:
    """The features the TF-IDF peer reads, for a model's linear n-gram path: a normalised tweet's lower-cased words
    and word pairs, and the character 2- to 5-grams within each word padded with a space on both sides (the
    peer's ``char_wb``), each hashed to a bucket in [1, buckets); 0 is padding. CRC-32, because Python's own
    string hash changes from process to process; a word pair's bucket is mixed from its two words' buckets.

    A word's ids are cached as one array, so a batch costs a dictionary lookup per word and array arithmetic for
    the rest. Prediction goes faster still (models.many_to_one.WordTable), summing each word's weights once."""

    CHAR_SIZES = range(2, 6)
    # A tweet of 280 characters has about 1,200. Longer input is cut so hostile text costs no more: the word ids
    # are kept first and the word pairs are what goes (the bag has no order to keep a beginning of).
    MAX_NGRAMS = 2048
    CACHE_WORDS = TweetTokenizer.CACHE_WORDS
    PAIR_MIX = 1_000_003  # a prime, so that the pair (a, b) and the pair (b, a) mostly land in different buckets

    def __init__(self, buckets: int):
        if buckets < 2:
            raise ValueError(f"an n-gram hash needs at least 2 buckets (0 is padding), not {buckets}")
        self.buckets = buckets
        self.word_ngrams: dict[str, np.ndarray] = {}  # a word's ids: [the word's own, its character n-grams'...]
        self.lock = threading.Lock()  # the cache is shared by every page session's calls (TweetTokenizer.lock)

    def bucket(self, ngram: str) -> int:
        return zlib.crc32(ngram.encode("utf-8", "surrogatepass")) % (self.buckets - 1) + 1

    def word_ids(self, word: str) -> np.ndarray:
        """A lower-cased word's ids: ``bucket("w" + word)``, then ``bucket("c" + gram)`` for each character
        n-gram, shortest grams first, each size from the start of the word. CRC-32 goes on from a prefix's value
        (``crc32(gram, crc32(b"c"))`` is ``crc32(b"c" + gram)``)."""
        modulus, padded = self.buckets - 1, f" {word} "
        grams = (
            padded[start : start + size].encode("utf-8", "surrogatepass")
            for size in self.CHAR_SIZES
            for start in range(len(padded) - size + 1)
        )
        return np.array(
            [self.bucket(f"w{word}")] + [zlib.crc32(gram, _CHAR_PREFIX) % modulus + 1 for gram in grams],
            dtype=np.int64,
        )

    def many_word_ids(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``word_ids`` of each word, concatenated (n,), and each word's count of ids (W,). ASCII words, nearly all
        of them, are hashed together with array arithmetic: every start of a gram in every word runs zlib's
        table-driven CRC-32 one byte at a time, and the register after 2, 3, 4 and 5 bytes is the hash of that
        start's gram of that size; the same ids as ``word_ids`` (tested), many times faster than a gram at a
        time. Other words take ``word_ids``, since a character there may be several bytes."""
        if not words:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        modulus, sizes = self.buckets - 1, self.CHAR_SIZES
        is_ascii = np.fromiter(map(str.isascii, words), dtype=bool, count=len(words))
        ascii_words = [word for word, plain in zip(words, is_ascii) if plain]
        # The padded words share their spaces: " a b " holds " a " and " b ". Every byte of a padded word but its
        # last starts a gram, so the gram starts of all words are just the buffer's first bytes, in order.
        raw = np.frombuffer(f" {' '.join(ascii_words)} ".encode() + b" " * sizes[-1], np.uint8)
        lengths = np.fromiter(map(len, ascii_words), dtype=np.int64, count=len(ascii_words)) + 2  # of " word "
        owner = np.repeat(np.arange(len(ascii_words)), lengths - 1)  # (G,) the word of each gram start
        room = np.cumsum(lengths - 1)[owner] + 1 - np.arange(len(owner))  # (G,) bytes left in its padded word
        register = np.full(len(owner), _CHAR_PREFIX ^ 0xFFFFFFFF, dtype=np.uint32)
        by_size = {}
        for size in range(1, sizes[-1] + 1):
            register = _CRC32_TABLE[(register ^ raw[size - 1 : size - 1 + len(owner)]) & 0xFF] ^ (register >> 8)
            if size in sizes:
                fits = room >= size
                by_size[size] = (owner[fits], (register[fits] ^ 0xFFFFFFFF).astype(np.int64) % modulus + 1)
        own_crc = map(zlib.crc32, map(str.encode, ascii_words), repeat(_WORD_PREFIX, len(ascii_words)))
        own = np.fromiter(own_crc, dtype=np.int64, count=len(ascii_words)) % modulus + 1  # bucket("w" + word)
        # Each word's ids in word_ids' order: a stable sort by word keeps own, then size 2, 3, 4, 5, each by start.
        owners = np.concatenate([np.arange(len(ascii_words))] + [by_size[size][0] for size in sizes])
        order = np.argsort(owners, kind="stable")
        ascii_ids = np.concatenate([own] + [by_size[size][1] for size in sizes])[order]
        ascii_counts = np.bincount(owners, minlength=len(ascii_words))
        if is_ascii.all():
            return ascii_ids, ascii_counts
        others = {index: self.word_ids(words[index]) for index in np.flatnonzero(~is_ascii).tolist()}
        counts = np.zeros(len(words), dtype=np.int64)
        counts[is_ascii] = ascii_counts
        counts[list(others)] = [len(ids) for ids in others.values()]
        offsets = np.cumsum(counts) - counts  # (W,) where each word's ids begin
        ids = np.empty(int(counts.sum()), dtype=np.int64)
        ascii_offsets = np.cumsum(ascii_counts) - ascii_counts  # where each ASCII word's ids begin in ascii_ids
        ids[np.repeat(offsets[is_ascii] - ascii_offsets, ascii_counts) + np.arange(len(ascii_ids))] = ascii_ids
        for index, word_ids in others.items():
            ids[offsets[index] : offsets[index] + len(word_ids)] = word_ids
        return ids, counts

    @staticmethod
    def words(texts: list[str]) -> tuple[list[str], np.ndarray]:
        """The lower-cased words of normalised texts in one list, and the text of each word (W,)."""
        words_of = [text.lower().split() for text in texts]
        word_text = np.repeat(np.arange(len(texts)), [len(words) for words in words_of])
        return list(chain.from_iterable(words_of)), word_text

    def pairs(self, own: np.ndarray, word_text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The buckets of the word pairs within each text (P,) and the text of each pair (P,), from every word's own
        bucket (W,) (the first of its ``word_ids``) and its text (W,)."""
        within = word_text[:-1] == word_text[1:]  # (W - 1,) neighbours in one text make a pair
        return ((own[:-1] * self.PAIR_MIX + own[1:]) % (self.buckets - 1) + 1)[within], word_text[:-1][within]

    def padded(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Bucket ids of already normalised texts as one (N, longest) int64 array, right-padded with PAD_ID (at
        least one column), and each text's count (N,), at most MAX_NGRAMS. A row holds the text's words' ids, word
        by word, then its word pairs'. Built for a whole batch at once: a loop over tweets in Python would cost
        more than the model."""
        words, word_text = self.words(texts)
        with self.lock:
            cached = self.word_ngrams.get
            per_word = [cached(word) for word in words]
            if any(ids is None for ids in per_word):  # each new word once, however often the batch repeats it
                new = {word for word, ids in zip(words, per_word) if ids is None}
                if len(self.word_ngrams) + len(new) > self.CACHE_WORDS:  # bounded: start again with these words
                    self.word_ngrams.clear()
                    new = set(words)
                new = list(new)
                ids, counts = self.many_word_ids(new)
                self.word_ngrams.update(zip(new, np.split(ids, np.cumsum(counts)[:-1])))
                per_word = [cached(word) for word in words]
        n_texts = len(texts)
        sizes = np.fromiter(map(len, per_word), dtype=np.int64, count=len(per_word))  # (W,)
        word_ids = np.concatenate(per_word) if per_word else np.zeros(0, dtype=np.int64)
        own = word_ids[np.cumsum(sizes) - sizes]  # (W,) each word's own bucket, the first of its ids
        pairs, pair_text = self.pairs(own, word_text)
        # Each id's column: after the ids of its text before it (word ids first, then pairs).
        id_text = np.repeat(word_text, sizes)
        word_counts = np.bincount(id_text, minlength=n_texts)
        pair_counts = np.bincount(pair_text, minlength=n_texts)
        word_columns = np.arange(len(word_ids)) - (np.cumsum(word_counts) - word_counts)[id_text]
        pair_columns = (
            word_counts[pair_text] + np.arange(len(pairs)) - (np.cumsum(pair_counts) - pair_counts)[pair_text]
        )
        counts = np.minimum(word_counts + pair_counts, self.MAX_NGRAMS)
        ids = np.full((n_texts, max(int(counts.max(initial=0)), 1)), PAD_ID, dtype=np.int64)
        for values, rows, columns in ((word_ids, id_text, word_columns), (pairs, pair_text, pair_columns)):
            kept = columns < self.MAX_NGRAMS
            ids[rows[kept], columns[kept]] = values[kept]
        return ids, counts

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Per normalised text, its bucket ids (``padded``'s row without the padding; padding alone when empty).
        Padded a chunk at a time and copied out, so a training split never holds a (texts × longest) array."""
        chunk = 512
        result = []
        for start in range(0, len(texts), chunk):
            ids, counts = self.padded(texts[start : start + chunk])
            result += [row[: max(count, 1)].copy() for row, count in zip(ids, counts)]
        return result


def weighted_pieces(text: str, spans: list[tuple[int, int]], weights: list[float]) -> list[tuple[str, float]]:
    """The text cut at its tokens' ends, each piece with its token's weight; tokens whose spans overlap (a lone
    ``▁`` and the word after it) are one piece with their weights summed, and text the model never read (after
    truncation) is a last piece of weight 0. The pieces joined are the text."""
    pieces: list[tuple[str, float]] = []
    cursor = 0
    for (start, end), weight in zip(spans, weights):
        if pieces and start < cursor:
            merged_text, merged_weight = pieces[-1]
            pieces[-1] = (merged_text + text[cursor : max(end, cursor)], merged_weight + weight)
        else:
            pieces.append((text[cursor:end], weight))
        cursor = max(cursor, end)
    if cursor < len(text):
        pieces.append((text[cursor:], 0.0))
    return pieces
