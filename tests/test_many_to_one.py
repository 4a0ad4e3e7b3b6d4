"""Many to one: tweet parsing and repair, normalisation, tokenizer, the masked recurrent classifier, a dry-run
training, the VADER peer run, and a bundle that imports and predicts."""

import dataclasses
import json
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models import many_to_one, store
from models.checkpoint import load_checkpoint, save_checkpoint
from models.many_to_one import Config, TweetClassifier, WordTable, build_model
from models.peers import TfidfPeer, VaderPeer, logged_run
from models.tweet_text import (
    PAD_ID,
    SEED_TWEETS,
    TOKENIZER_FILE,
    NgramHasher,
    TweetTokenizer,
    fix_text,
    normalize_tweet,
    weighted_pieces,
)
from tests.conftest import logged_memory
from training import bundles, train
from training.data.tweets import parse_corpus, repair_mojibake, split_tweets

# Rows in the corpus's own layout and encoding (latin-1 bytes, CRLF line ends, \r inside a quoted field). The
# mojibake byte runs are copied from the real file: E4 F3 BB was a curly apostrophe, 5F F4 D6 89 the emoji 😂.
CORPUS_FIXTURE = (
    b"sentiment,confidence,text\r\n"
    b'negative,0.7547,"@united late again, 3 hours http://t.co/abc"\r\n'
    b"positive,1,I\xe4\xf3\xbbve never laughed so hard _\xf4\xd6\x89 #Coachella2015\r\n"
    b"positive,,caf\xe9 was lovely\r\n"
    b'neutral,0.6,"@AmericanAir what time\ris boarding?"\r\n'
    b'negative,0.5,"@delta late again, 3 hours https://t.co/xyz"\r\n'
    b"negative,0.6,@SouthwestAir ok &amp; fine\r\n"
    b"positive,0.4,@VirginAmerica ok &amp; fine\r\n"
    b"unsure,0.9,not a label we know\r\n"
)


def test_parser_reads_the_real_layout_and_repairs_mojibake():
    tweets = parse_corpus(CORPUS_FIXTURE)
    assert [t.sentiment for t in tweets] == [
        "negative",
        "positive",
        "positive",
        "neutral",
        "negative",
        "negative",
        "positive",
    ]
    assert tweets[1].text == "I\u2019ve never laughed so hard \U0001f602 #Coachella2015"
    assert tweets[2].text == "caf\u00e9 was lovely" and tweets[2].confidence is None  # genuine latin-1 stays
    assert tweets[3].text == "@AmericanAir what time\ris boarding?"
    assert tweets[0].confidence == pytest.approx(0.7547)


def test_parser_names_missing_columns():
    with pytest.raises(ValueError, match="sentiment"):
        parse_corpus(b"label,text\r\npositive,hi\r\n")


def test_repair_keeps_ascii_and_undoes_up_to_three_rounds():
    assert repair_mojibake("plain_ascii @hale_razor") == "plain_ascii @hale_razor"
    three_rounds = b"Should\x8a\x97\xc8ve taken".decode("latin-1")  # an airline tweet, one round deeper
    assert repair_mojibake(three_rounds) == "Should\u2019ve taken"
    assert repair_mojibake(b"lineup is here\xe4\xf3\x9d".decode("latin-1")) == "lineup is here\u201d"


def test_split_drops_duplicates_and_conflicts_and_is_seeded():
    tweets = parse_corpus(CORPUS_FIXTURE)
    splits = split_tweets(tweets, ("negative", "positive"), 0.25, 0.25, seed=3)
    every_text = [normalize_tweet(t) for split in splits.texts.values() for t in split]
    assert len(every_text) == len(set(every_text)) == 3  # two late-again copies become one; the ok/fine pair goes
    agreement = {t: a for split in splits.texts for t, a in zip(splits.texts[split], splits.agreement[split])}
    assert np.isnan(agreement["café was lovely"])  # blank in the corpus
    assert agreement["I’ve never laughed so hard 😂 #Coachella2015"] == 1.0
    assert sum(splits.agreed(split).sum() for split in splits.texts) == 1  # that tweet alone had everyone behind it
    assert splits.duplicates_dropped == 1 and splits.conflicting_dropped == 2
    again = split_tweets(tweets, ("negative", "positive"), 0.25, 0.25, seed=3)
    assert (again.labels, again.texts, again.rows_read) == (splits.labels, splits.texts, splits.rows_read)
    for split in splits.texts:
        assert (again.targets[split] == splits.targets[split]).all()
        np.testing.assert_array_equal(again.agreement[split], splits.agreement[split])  # NaN: blank, equal to NaN
    three_way = split_tweets(tweets, ("negative", "positive", "neutral"), 0.25, 0.25, seed=3)
    assert sum(len(t) for t in three_way.texts.values()) == 4


def test_normalisation_is_the_same_for_training_and_prediction():
    assert (
        normalize_tweet("RT @United:  thx &amp; see http://t.co/x1 \n www.foo.com") == "RT @user: thx & see <url> <url>"
    )
    assert normalize_tweet(" \u200b ") == ""
    # The shortcut for ASCII, curly quotes and emoji must agree with ftfy on what it skips.
    import ftfy

    for text in (
        "plain text!!",
        "tabs\tand   spaces",
        "x < y > z",
        "#hashtag @someone",
        "\u201cso good\u201d \u2019tis \u02bcok\u02bc 😍😍 ✨✌\ufe0f",
        "&#8220;quoted&#8221; &amp;amp; &hellip; 😍",  # entities that decode to quotes, and to other characters
        "&amp; on this line\n<b> on the next",  # ftfy decodes entities a line at a time
        "&lt;b&gt; &amp;amp; 😍",  # and goes on decoding once a "<" has come out
        "\u2700\u02bc&#10;&#38;&#128;&#233;",  # decoded, it leaves the shortcut: ftfy reads it as it came
        "\x1b[31mred\x1b[0m and a bell\x07",  # a terminal escape goes whole, not just its control character
        "ðŸ˜\u008d mojibake of 😍 and caf\u00c3\u00a9",
        "\ufb01ne \uff2c\uff2f\uff35\uff24 line\u2028break",
    ):
        assert fix_text(text).split() == ftfy.fix_text(text).split(), text  # the same, line breaks aside


@pytest.fixture(scope="module")
def tokenizer():
    texts = [
        normalize_tweet(t)
        for t in (
            "@united worst flight ever, never again",
            "love the crew, thank you!",
            "the German bakeries in Sydney are lovely http://x.co/1",
            "delayed again and again 😡",
            "so happy to fly with you 😍",
        )
    ] * 10
    return TweetTokenizer.train(texts, vocab_size=200, max_tokens=12)


def test_tokenizer_round_trip_and_save(tokenizer, tmp_path):
    text = normalize_tweet("Love the crew, thank you! 😍")
    ids = tokenizer.encode([text])[0]
    assert PAD_ID not in ids and tokenizer.decode(ids) == text.lower()
    tokenizer.save(tmp_path / TOKENIZER_FILE)
    again = TweetTokenizer.from_file(tmp_path / TOKENIZER_FILE, max_tokens=12)
    assert again.encode([text]) == tokenizer.encode([text])
    assert tokenizer.encode([""]) == [[tokenizer.unk_id]]  # nothing to read is still one step
    [(long_ids, _, truncated)] = tokenizer.encode_spans([" ".join(["again"] * 40)])
    assert len(long_ids) == 12 and truncated


TRICKY_WORDS = (
    "Hello",
    "WORST",
    "again!!",
    "@user:",
    ".@user",
    "@user)",
    "<url>",
    "<url>,",
    "<topic>!",
    "<3",
    "me@home",
    "don't",
    "#LoveIt",
    "123",
    "...",
    "ΟΔΟΣ",
    "Straße",
    "ﬁne",
    "İstanbul",
    "café",
    "😍",
    "مرحبا",
    "שלום",
    "a\u200db",
    "Ｆｕｌｌ",
)


def test_new_words_get_the_full_pipeline_s_ids_on_the_fast_path_and_off_it(tokenizer):
    assert tokenizer.direct_bpe  # the tokenizer train() builds takes the fast path for ASCII words
    # the fast path sends any word with a "<" or an "@" the full way, so every placeholder must hold one
    assert all("<" in token or "@" in token for token in TweetTokenizer.SPECIAL_TOKENS)
    fresh = TweetTokenizer(tokenizer.tokenizer, max_tokens=64)
    expected = [tokenizer.tokenizer.encode(word, add_special_tokens=False).ids for word in TRICKY_WORDS]
    assert fresh.encode(list(TRICKY_WORDS)) == expected
    spans_first = TweetTokenizer(tokenizer.tokenizer, max_tokens=64)
    assert [ids for ids, _, _ in spans_first.encode_spans(list(TRICKY_WORDS))] == expected
    assert spans_first.encode(list(TRICKY_WORDS)) == expected


def test_the_word_cache_gives_the_tokenizer_s_own_ids_and_stays_bounded(tokenizer, monkeypatch):
    texts = [normalize_tweet(t) for t in ("@united worst flight ever, never again!!", "so happy 😍 #love", "")]
    expected = [tokenizer.tokenizer.encode(t, add_special_tokens=False).ids or [tokenizer.unk_id] for t in texts]
    monkeypatch.setattr(tokenizer, "CACHE_WORDS", 4)
    assert tokenizer.encode(texts) == expected  # more new words than the cache holds: it is refilled
    # a call with more words than the bound goes a slice at a time (a longer text alone): the bound holds
    assert len(tokenizer.word_ids) <= 4
    assert tokenizer.encode(texts) == expected
    assert [ids for ids, _, _ in tokenizer.encode_spans(texts)] == expected
    assert len(tokenizer.word_ids) <= 4 and len(tokenizer.word_spans) <= 4
    many = [f"w{i} x{i}" for i in range(10)]  # twenty new words, two a text
    assert tokenizer.encode(many) == [tokenizer.tokenizer.encode(t, add_special_tokens=False).ids for t in many]
    assert len(tokenizer.word_ids) <= 4


def test_weighted_pieces_rebuild_the_text():
    text = "worst flight ever !!!"
    pieces = weighted_pieces(text, [(0, 5), (5, 12), (12, 17), (17, 18), (17, 21)], [0.1, 0.2, 0.3, 0.15, 0.25])
    assert "".join(p for p, _ in pieces) == text
    assert pieces[-1] == (" !!!", pytest.approx(0.4))  # the lone "▁" and "!!!" overlap: one piece
    assert weighted_pieces("abc def", [(0, 3)], [1.0]) == [("abc", 1.0), (" def", 0.0)]


CELL_VARIANTS = [
    ("rnn", False, "last"),
    ("gru", False, "last"),
    ("lstm", False, "attention"),
    ("lstm", True, "attention"),
    ("gru", True, "last"),
]


def tiny_config(cell: str, bidirectional: bool, pooling: str) -> Config:
    return Config(
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
        vocab_size=50,
        embed_dim=8,
        hidden=6,
        layers=2,
        dropout=0.0,
    )


@pytest.mark.parametrize("cell,bidirectional,pooling", CELL_VARIANTS)
def test_shapes_and_padding_never_changes_a_prediction(cell, bidirectional, pooling):
    torch.manual_seed(0)
    model = build_model(tiny_config(cell, bidirectional, pooling)).eval()
    short = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, PAD_ID, PAD_ID, PAD_ID], [9, 8, 7, 6, 5, 4]])
    logits, loss = model(padded, labels=torch.tensor([0, 1]))
    assert logits.shape == (2, 2) and loss.ndim == 0
    alone, weights_alone = model.predict(short)
    batched, weights = model.predict(padded)
    torch.testing.assert_close(batched[0], alone[0])
    if pooling == "attention":
        assert weights.shape == (2, 6) and torch.all(weights[0, 3:] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2))
        torch.testing.assert_close(weights[0, :3], weights_alone[0])
    else:
        assert weights is None


@pytest.mark.parametrize("ngram_buckets", [0, 97])
def test_the_model_is_deterministic_and_survives_save_and_load(tokenizer, tmp_path, ngram_buckets):
    config = Config(
        vocab_size=200, embed_dim=8, hidden=6, bidirectional=True, max_tokens=12, ngram_buckets=ngram_buckets
    )
    torch.manual_seed(1)
    first = build_model(config)
    torch.manual_seed(1)
    second = build_model(config)
    ids, ngrams = torch.tensor([[4, 9, 11, 3]]), (torch.tensor([[3, 50, 96]]) if ngram_buckets else None)
    torch.testing.assert_close(first.eval().predict(ids, ngrams)[0], second.eval().predict(ids, ngrams)[0])
    if ngram_buckets:
        with torch.no_grad():  # trained weights, not the silent start, must survive the round trip
            first.ngrams.weights.weight[1:].normal_()
    folder = save_checkpoint(tmp_path / "ckpt", "many_to_one", config, first)
    tokenizer.save(folder / TOKENIZER_FILE)
    loaded = load_checkpoint(folder)
    torch.testing.assert_close(loaded.model.predict(ids, ngrams)[0], first.predict(ids, ngrams)[0])
    classifier = TweetClassifier.from_checkpoint(loaded)
    texts = ["worst flight ever", "", "love the crew 😍 " * 20]
    probabilities = classifier.probabilities(texts)
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    explained = classifier.explain(texts, batch_size=2)
    np.testing.assert_allclose([e.probabilities["positive"] for e in explained], probabilities[:, 1], atol=1e-5)
    np.testing.assert_allclose(classifier.probabilities(texts, batch_size=1), probabilities, atol=1e-5)
    assert explained[2].truncated and not explained[0].truncated
    assert "".join(piece for piece, _ in explained[0].pieces) == "worst flight ever"


def test_bfloat16_runs_only_where_native_and_gives_the_float32_verdicts(monkeypatch):
    checkpoint = load_checkpoint(store.SHIPPED_DIR / "many_to_one" / "bilstm_attention_ngrams")
    monkeypatch.setattr(many_to_one, "native_bfloat16", lambda: False)
    assert not TweetClassifier.from_checkpoint(checkpoint).bfloat16  # emulated, it would be slower than float32
    monkeypatch.setattr(many_to_one, "native_bfloat16", lambda: True)
    fast = TweetClassifier.from_checkpoint(checkpoint)
    exact = TweetClassifier.from_checkpoint(checkpoint, bfloat16=False)
    texts = [text for text, _ in SEED_TWEETS] + ["the train was late again and nobody told us why", "what a lovely day"]
    fast_probabilities, exact_probabilities = fast.probabilities(texts), exact.probabilities(texts)
    probabilities, weights = fast.model.predict(
        torch.tensor([[5, 9, 11]]), ngram_logits=torch.zeros(1, 2), bfloat16=True
    )
    assert probabilities.dtype == weights.dtype == torch.float32  # whatever ran in bfloat16 inside
    # The copy stored in bfloat16 gives exactly what autocast gives the float32 model; the float32 one is untouched.
    ids, ngram_logits = torch.tensor([[5, 9, 11, 40], [7, 3, PAD_ID, PAD_ID]]), torch.randn(2, 2)
    stored = fast.model.predict(ids, ngram_logits=ngram_logits, bfloat16=True)
    cast = checkpoint.model.predict(ids, ngram_logits=ngram_logits, bfloat16=True)
    assert fast.model.encoder.layers[0][0].weight_hh_l0.dtype == torch.bfloat16
    assert checkpoint.model.encoder.layers[0][0].weight_hh_l0.dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(stored, cast))
    assert not np.array_equal(fast_probabilities, exact_probabilities)  # the bfloat16 path did run
    np.testing.assert_allclose(fast_probabilities, exact_probabilities, atol=0.01)
    assert (fast.label_ids(fast_probabilities) == exact.label_ids(exact_probabilities)).all()
    [fast_weights, exact_weights] = [[w for e in c.explain(texts[:1]) for _, w in e.pieces] for c in (fast, exact)]
    np.testing.assert_allclose(fast_weights, exact_weights, atol=0.01)


def test_the_ngram_hasher_reads_the_tfidf_peer_s_features_the_same_in_every_process():
    hasher = NgramHasher(1000)
    [ids] = hasher.encode(["Not bad"])
    # "not": the word and the character 2- to 5-grams of " not " (4 + 3 + 2 + 1); "bad" the same; one word pair
    assert len(ids) == 1 + 10 + 1 + 10 + 1 and ((1 <= ids) & (ids < 1000)).all()
    assert ids.tolist() == hasher.encode(["not   BAD"])[0].tolist()  # lower-cased, split at whitespace, as the peer
    assert sorted(hasher.encode(["bad not"])[0]) != sorted(ids)  # the word pair keeps the order
    assert ids[0] == hasher.bucket("wnot") == 1 + 0x20E8635E % 999  # CRC-32 of b"wnot": no per-process salt
    assert [row.tolist() for row in hasher.encode(["", "bad"])] == [[PAD_ID], hasher.encode(["bad"])[0].tolist()]
    assert len(hasher.encode(["x" * 10_000])[0]) == NgramHasher.MAX_NGRAMS


def test_words_hashed_together_get_the_ids_each_gets_alone():
    hasher = NgramHasher(1009)
    words = ["not", "a", "caf\u00e9", "😍😍", "bad", "\ud800x", "x" * 300, "o'clock", "a"]
    ids, counts = hasher.many_word_ids(words)
    alone = [hasher.word_ids(word) for word in words]
    assert counts.tolist() == [len(word_ids) for word_ids in alone]
    assert ids.tolist() == np.concatenate(alone).tolist()
    assert [len(part) for part in hasher.many_word_ids([])] == [0, 0]
    ascii_ids, _ = hasher.many_word_ids(["not", "bad"])
    assert ascii_ids.tolist() == np.concatenate(alone[:1] + alone[4:5]).tolist()


def test_a_batch_of_ngrams_is_each_text_s_own_ngrams_padded():
    hasher = NgramHasher(5000)
    texts = ["worst flight ever", "", "love it", "a " * 3000]
    padded, counts = hasher.padded(texts)
    alone = [hasher.padded([text])[0][0] for text in texts]
    assert counts.tolist() == [len(hasher.encode([text])[0]) if text else 0 for text in texts]
    assert padded.shape == (4, NgramHasher.MAX_NGRAMS) and (padded[1] == PAD_ID).all()
    for row, count, own in zip(padded, counts, alone):
        assert row[:count].tolist() == own[:count].tolist() and (row[count:] == PAD_ID).all()
    with pytest.raises(ValueError, match="buckets"):
        NgramHasher(1)


def test_the_ngram_path_starts_silent_ignores_padding_and_is_required_once_configured():
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_config("lstm", True, "attention"), ngram_buckets=97, ngram_dropout=0.5)
    model = build_model(config).eval()
    ids, ngrams = torch.tensor([[5, 6, 7]]), torch.tensor([[3, 40, 41, PAD_ID, PAD_ID]])
    plain = build_model(dataclasses.replace(config, ngram_buckets=0)).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("ngrams.")})
    torch.testing.assert_close(model.predict(ids, ngrams)[0], plain.predict(ids)[0])  # zero-initialised path
    with torch.no_grad():
        model.ngrams.weights.weight.normal_()
        model.ngrams.weights.weight[PAD_ID] = 0
    torch.testing.assert_close(model.predict(ids, ngrams)[0], model.predict(ids, ngrams[:, :3])[0])
    assert not torch.allclose(model.predict(ids, ngrams)[0], plain.predict(ids)[0])
    with pytest.raises(ValueError, match="ngram_ids"):
        model.predict(ids)
    logits, loss = model.train()(ids.repeat(4, 1), ngrams.repeat(4, 1), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert logits.shape == (4, 2) and model.ngrams.weights.weight.grad[PAD_ID].abs().sum() == 0


def test_the_word_table_gives_the_tokenizer_s_ids_and_the_ngram_path_s_logits(tokenizer, monkeypatch):
    torch.manual_seed(0)
    model = build_model(Config(vocab_size=200, embed_dim=8, hidden=6, max_tokens=12, ngram_buckets=997)).eval()
    with torch.no_grad():
        model.ngrams.weights.weight[1:].normal_()
    hasher = NgramHasher(997)
    table = WordTable(tokenizer, model.ngrams, hasher)
    texts = ["worst flight ever", "", "Café NAÏVE 😍😍 ΟΔΟΣ", "not bad not bad", "word " * 600, "Great crew @user"]
    texts += [" ".join(TRICKY_WORDS)]

    def assert_reads_as_tokenizer_and_path(texts: list[str]) -> None:
        encoded = table.encode(texts)
        ids = [encoded.token_ids[s : s + n].tolist() for s, n in zip(encoded.starts, encoded.lengths)]
        assert ids == tokenizer.encode(texts)  # cut at max_tokens; the empty text is one unknown token
        with torch.no_grad():
            exact = model.ngrams(torch.from_numpy(hasher.padded(texts)[0]))
        torch.testing.assert_close(encoded.ngram_logits, exact)  # the 600-word text (over MAX_NGRAMS) the exact way

    assert_reads_as_tokenizer_and_path(texts)
    held = len(table.row_of)
    assert_reads_as_tokenizer_and_path(texts[::-1])  # now every word comes from the table
    assert len(table.row_of) == held
    monkeypatch.setattr(WordTable, "LEARN_CHUNK", 7)  # new words' n-grams hashed seven at a time
    # Past the table's first 1,024 rows, over two calls: the rows it had must survive its growing.
    many = [f"w{i} x{i} worst flight" for i in range(600)]
    for part in (many[:300], many[300:] + texts):
        assert_reads_as_tokenizer_and_path(part)
    assert len(table.row_of) > 1024
    assert_reads_as_tokenizer_and_path(many + texts)
    monkeypatch.setattr(WordTable, "CACHE_WORDS", 5)  # fewer than the words the table holds now
    # A call goes a slice of at most five words at a time and the table starts again where they would not fit, so it
    # ends holding the last slice's words; a longer text goes alone, and the table holds its words until the next.
    # An empty text in a later slice points at that slice's own unknown token.
    for texts, held in ((["brand new words here", "", "great crew"], 2), (["a b c d e f g"], 7), (["brand new"], 2)):
        assert_reads_as_tokenizer_and_path(texts)
        assert len(table.row_of) == held
    plain = WordTable(tokenizer).encode(["worst flight ever", ""])
    assert plain.ngram_logits is None and plain.lengths.tolist() == [len(tokenizer.encode(["worst flight ever"])[0]), 1]
    with pytest.raises(ValueError, match="together"):
        WordTable(tokenizer, model.ngrams)


def test_a_classifier_serves_several_threads_at_once(tokenizer, monkeypatch):
    """One cached classifier serves every page session: its word table, the tokenizer's cache (explanations) and
    the hasher's (the memory view's n-gram ids) each start again while other threads read them."""
    torch.manual_seed(0)
    model = build_model(Config(vocab_size=200, embed_dim=8, hidden=6, max_tokens=12, ngram_buckets=997)).eval()
    with torch.no_grad():
        model.ngrams.weights.weight[1:].normal_()
    classifier = TweetClassifier(model, tokenizer, bfloat16=False)
    for cache in (WordTable, classifier.tokenizer, classifier.hasher):
        monkeypatch.setattr(cache, "CACHE_WORDS", 8)  # two texts a slice: every cache starts again all the time
    # Each reader its own words, so that each call finds the others' words in the caches and starts them again.
    texts = {reader: [f"r{reader}w{i} flight crew {i % 7}" for i in range(60)] for reader in range(4)}
    expected = {
        reader: (
            classifier.word_table.encode(texts[reader]),
            [(e.label, e.pieces) for e in classifier.explain(texts[reader])],
            classifier.ngram_ids(texts[reader]),
        )
        for reader in texts
    }
    failures = []

    def read(reader: int) -> None:
        table, explained, ngram_ids = expected[reader]
        try:
            for _ in range(5):
                encoded = classifier.word_table.encode(texts[reader])
                same_ids = np.array_equal(encoded.token_ids, table.token_ids)
                if not (same_ids and torch.equal(encoded.ngram_logits, table.ngram_logits)):
                    failures.append("word table")
                if [(e.label, e.pieces) for e in classifier.explain(texts[reader])] != explained:
                    failures.append("explain")
                if not all(torch.equal(classifier.ngram_ids(texts[reader]), ngram_ids) for _ in range(10)):
                    failures.append("ngram ids")
        except Exception as error:  # in a thread it would only be a warning
            failures.append(error)

    readers = [threading.Thread(target=read, args=(reader,), daemon=True) for reader in texts]  # a hang fails
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes, so a race shows up in every run
    try:
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=120)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not failures and not any(reader.is_alive() for reader in readers)


def test_vader_peer_reads_the_tweet_as_written():
    peer = VaderPeer(threshold=0.05)
    assert peer.verdicts(["I love this, best flight ever!", "worst service, I hate it", ""]) == [
        "positive",
        "negative",
        "negative",
    ]


def test_a_peer_s_logged_run_is_its_evaluation_run_and_none_other():
    def run(name: str, evaluation_only: bool, peer: str | None) -> SimpleNamespace:
        return SimpleNamespace(run_name=name, evaluation_only=evaluation_only, params={"peer": peer} if peer else {})

    runs = [run("lstm", False, None), run("tfidf", True, TfidfPeer.NAME), run("trained", False, VaderPeer.NAME)]
    assert logged_run(runs, VaderPeer.NAME) is None  # a trained run naming the peer is not its evaluation
    runs.append(run("vader", True, VaderPeer.NAME))
    assert logged_run(runs, VaderPeer.NAME).run_name == "vader"
    assert logged_run(runs, TfidfPeer.NAME).run_name == "tfidf"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry-run training of the champion's config (recurrence and n-gram path) in its own store, shared by the
    tests that inspect it."""
    folder = tmp_path_factory.mktemp("m2o-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        run_id = train.main(
            [
                "many_to_one",
                "--config",
                "training/configs/many_to_one/bilstm_attention_ngrams.toml",
                "--dry-run",
                "--set",
                "threads=1",
                "--run-name",
                "dry-bilstm",
            ]
        )
        yield run_id, store.client(), folder


def test_dry_run_logs_params_metrics_and_a_loadable_checkpoint(dry_run, monkeypatch):
    run_id, client, folder = dry_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.setenv("RNNLAB_CACHE", str(folder / "cache"))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.cell"] == "lstm" and run.data.params["model.bidirectional"] == "True"
    assert run.data.tags[store.SELECTION_TAG] == "best_val_macro_f1"
    assert logged_memory(run_id) == ["span.json", "units.json"]
    assert [m.step for m in client.get_metric_history(run_id, "val_macro_f1")] == [1]
    assert {"test_accuracy", "test_macro_f1", "train_loss"} <= set(run.data.metrics)
    checkpoint = load_checkpoint(store.download_checkpoint(run_id))
    assert checkpoint.config.bidirectional and checkpoint.config.ngram_buckets > 0
    assert checkpoint.file(TOKENIZER_FILE).is_file()
    assert TweetClassifier.from_checkpoint(checkpoint).probabilities(["great crew"]).shape == (1, 2)


def test_bundle_exports_imports_and_predicts(dry_run, tmp_path, monkeypatch):
    run_id, _, folder = dry_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    bundle = bundles.export_bundle(run_id, tmp_path / "shipped")
    assert {TOKENIZER_FILE, "model.safetensors", "run.json"} <= {p.name for p in bundle.iterdir()}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    [imported] = bundles.import_all(tmp_path / "shipped")
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(store.download_checkpoint(imported)))
    [explained] = classifier.explain(["Loves the German bakeries in Sydney"])
    assert explained.label in ("negative", "positive") and len(explained.pieces) > 1
    assert json.loads((bundle / "run.json").read_text())["params"]["model.pooling"] == "attention"


def test_vader_run_sits_beside_the_rnns_and_never_becomes_champion(tracking_store, monkeypatch):
    from training import held_out_domains, peers

    monkeypatch.setattr(
        held_out_domains, "leave_one_domain_out", lambda splits, score_held_out: {"lodo_mean_accuracy": 0.7}
    )
    [run_id] = peers.main(["many_to_one", "vader"])
    [run] = store.list_runs("many_to_one")
    assert run.run_id == run_id and run.evaluation_only and not run.champion
    assert -1 <= float(run.params["threshold"]) <= 1 and run.params["threshold.chosen_on"].startswith("validation")
    assert 0.5 < run.metrics["test_accuracy"] < 0.9 and "lexicon" in run.params["kind"]


TINY_GENERAL_SETS = {
    "reviews": (["what a wonderful film", "dull and far too long", "I loved every minute"], np.array([1, 0, 1])),
    "editorials": (["a shameful decision by the council", "a fine, generous plan"], np.array([0, 1])),
}


def test_everyday_english_is_a_test_split_where_it_can_be_had_and_training_goes_on_where_not(monkeypatch, capsys):
    from training.data.sources import DataUnavailable
    from training.tasks import many_to_one as sentiment_task

    def offline():
        raise DataUnavailable("offline, and never fetched")

    monkeypatch.setattr(sentiment_task, "general_english_sets", offline)
    assert sentiment_task.prepare(sentiment_task.Config(), dry_run=True).test_splits == ("test",)
    assert "everyday English is not scored: offline" in capsys.readouterr().err
    monkeypatch.setattr(sentiment_task, "general_english_sets", lambda: TINY_GENERAL_SETS)
    task = sentiment_task.prepare(sentiment_task.Config(), dry_run=True)
    assert task.test_splits == ("test", "general")
    scores = task.evaluate(task.model, "general")
    assert set(scores) == {f"{s}_{m}" for s in ("reviews", "editorials", "mean") for m in ("accuracy", "macro_f1")}
    assert scores["mean_accuracy"] == pytest.approx((scores["reviews_accuracy"] + scores["editorials_accuracy"]) / 2)


def test_a_trained_run_logs_its_everyday_english_scores_as_the_command_gives_them(dry_run, monkeypatch):
    from training.data.general_english import general_english_sets
    from training.data.sources import DataUnavailable
    from training.general_english import model_verdicts, scores

    try:
        sets = general_english_sets()
    except DataUnavailable as error:  # offline, never fetched: the dry run trained without them (tested below)
        pytest.skip(f"the rated sentences cannot be had here: {error}")
    run_id, client, folder = dry_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    test_step = client.get_metric_history(run_id, "test_accuracy")[0].step
    logged = {  # what training logged, beside its test scores (the command may have logged at that step since)
        key: min(history, key=lambda m: m.timestamp).value
        for key in (f"general_{s}_{m}" for s in ("amazon", "movies", "nyt", "mean") for m in ("accuracy", "macro_f1"))
        if (history := [m for m in client.get_metric_history(run_id, key) if m.step == test_step])
    }
    assert len(logged) == 8
    rows = 4 * int(client.get_run(run_id).data.params["batch_size"])  # a dry run's rows of every split
    sets = {name: (texts[:rows], labels[:rows]) for name, (texts, labels) in sets.items()}
    again = scores(model_verdicts(store.download_checkpoint(run_id)), sets)
    assert logged == pytest.approx({f"general_{key}": value for key, value in again.items()})


def test_everyday_english_scores_are_logged_on_a_trained_run(dry_run, monkeypatch):
    from training import general_english

    run_id, client, folder = dry_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.setattr(general_english, "general_english_sets", lambda: TINY_GENERAL_SETS)
    with pytest.raises(SystemExit):  # a dry run is found by its id, never by its name
        general_english.main(["--run-name", "dry-bilstm"])
    general_english.main(["--run-name", run_id])
    metrics = client.get_run(run_id).data.metrics
    assert {f"general_{s}_{m}" for s in ("reviews", "editorials", "mean") for m in ("accuracy", "macro_f1")} <= set(
        metrics
    )
    assert metrics["general_mean_accuracy"] == pytest.approx(
        (metrics["general_reviews_accuracy"] + metrics["general_editorials_accuracy"]) / 2
    )


def test_everyday_english_scores_are_logged_on_a_peer_s_run_and_a_stranger_is_refused(tracking_store, monkeypatch):
    from training import general_english, held_out_domains, peers

    monkeypatch.setattr(held_out_domains, "leave_one_domain_out", lambda splits, score: {"lodo_mean_accuracy": 0.7})
    monkeypatch.setattr(general_english, "general_english_sets", lambda: TINY_GENERAL_SETS)
    [run_id] = peers.main(["many_to_one", "vader"])
    logged = general_english.log_general_english("vader")
    # VADER reads these five sentences right: its verdicts, not the model's, were scored
    assert logged["general_mean_accuracy"] == 1.0
    assert store.client().get_run(run_id).data.metrics["general_mean_accuracy"] == 1.0
    with pytest.raises(SystemExit, match="no finished trained or evaluation many_to_one run"):
        general_english.log_general_english("nobody")
