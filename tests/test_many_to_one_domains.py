"""Many to one beyond the corpus's topics: domain tagging, topic masking at training and at prediction, the
leave-one-domain-out split, VADER's lexicon from the installed package, the TF-IDF peer's run, and the note for
text the model knows little of."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from models import store
from models.checkpoint import load_checkpoint, save_checkpoint
from models.many_to_one import Config, TweetClassifier, model_texts
from models.peers import TfidfPeer
from models.tweet_text import MENTION_TOKEN, TOKENIZER_FILE, TOPIC_TOKEN, TweetTokenizer, normalize_tweet
from training import bundles, held_out_domains, peers
from training.data import sentiment_lexicon
from training.data.tweet_domains import DOMAINS, tweet_domain
from training.data.tweets import TweetSplits
from training.tasks import many_to_one as task

DOMAIN_FIXTURE = [
    ("@united 3 hours on the tarmac, never again", "airlines"),
    ("So the #jetblue crew found my bag. Thanks!", "airlines"),
    ("Flying Southwest tomorrow, hope the flight is on time", "airlines"),
    ("@AmericanAir @usairways merger means worse service", "airlines"),
    ("Brady knew. #DeflateGate", "nfl"),
    ("Super Bowl Sunday and the Patriots are cheating again", "nfl"),
    ("Can't wait for #Coachella2015, the lineup is 🔥", "coachella"),
    ("@apple my iPhone 6 battery dies by noon", "apple"),
    ("iCloud ate my photos again", "apple"),
    ("Claritin D is the best, no more sneezing", "allergy"),
    ("these allergies are killing me", "allergy"),
    ("I wouldn't trust a self-driving car with my kids", "self_driving"),
    ("Google's driver-less car drove itself to the shop", "self_driving"),
    ("Loves the German bakeries in Sydney", "other"),
    ("The Apple pie at the airport bakery was stale", "apple"),  # the rules see the word Apple, not the meaning
]


@pytest.mark.parametrize("text, domain", DOMAIN_FIXTURE)
def test_domain_tagging(text, domain):
    assert tweet_domain(text) == domain


def test_every_rule_has_a_tweet_in_the_fixture():
    assert {domain for _, domain in DOMAIN_FIXTURE} == set(DOMAINS)


def test_topic_names_become_one_placeholder_and_sentiment_words_stay():
    text = "@united United lost my bag again #Coachella2015 iPhone6 deflated Patriots, sad 😞 http://t.co/x"
    assert normalize_tweet(text, mask_topics=True) == (
        f"{MENTION_TOKEN} {TOPIC_TOKEN} lost my bag again {TOPIC_TOKEN} {TOPIC_TOKEN} deflated {TOPIC_TOKEN}, sad 😞 "
        "<url>"
    )
    assert normalize_tweet(text) == normalize_tweet(text, mask_topics=False)
    assert "United" in normalize_tweet(text)  # unmasked without the flag: older checkpoints read as they learnt
    assert normalize_tweet("pineapple and unitedly", mask_topics=True) == "pineapple and unitedly"


def fixture_splits(tweets_per_domain: int = 6) -> TweetSplits:
    """Three domains' tweets in every split; labels alternate."""
    lines = {
        "airlines": "@united flight {} was {}",
        "coachella": "#Coachella2015 day {} is {}",
        "apple": "my iPhone number {} is {}",
    }
    texts, targets = {}, {}
    for split in ("train", "val", "test"):
        texts[split] = [
            template.format(f"{split}{i}", "awful" if i % 2 else "lovely")
            for template in lines.values()
            for i in range(tweets_per_domain)
        ]
        targets[split] = np.array([1 - i % 2 for _ in lines for i in range(tweets_per_domain)], dtype=np.int64)
    return TweetSplits(
        labels=("negative", "positive"),
        texts=texts,
        targets=targets,
        agreement={split: np.ones(len(t)) for split, t in texts.items()},
        rows_read=0,
        duplicates_dropped=0,
        conflicting_dropped=0,
    )


def test_masking_is_applied_identically_at_training_and_at_prediction(tmp_path):
    config = task.Config(
        model=Config(vocab_size=120, embed_dim=8, hidden=6, max_tokens=16, mask_topics=True), batch_size=8
    )
    splits = fixture_splits()
    prepared = task.prepare_splits(config, splits)
    trained_ids = prepared.train_batches.fields["token_ids"]
    folder = save_checkpoint(tmp_path / "ckpt", "many_to_one", config.model, prepared.model)
    prepared.extra_files(folder)
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(folder))
    seen = []
    predict = classifier.model.predict
    classifier.model.predict = lambda ids, **ngrams: (
        seen.extend(row[row != 0].tolist() for row in ids),
        predict(ids, **ngrams),
    )[1]
    row = -1  # "my iPhone number train5 is awful": a topic name the masking replaces
    classifier.probabilities([splits.texts["train"][row]])
    classifier.explain([splits.texts["train"][row]])
    assert seen == [trained_ids[row], trained_ids[row]]
    assert classifier.tokenizer.tokenizer.token_to_id(TOPIC_TOKEN) in trained_ids[row]
    assert model_texts(["@united United"], config.model) == [f"{MENTION_TOKEN} {TOPIC_TOKEN}"]


def test_the_ngram_path_reads_the_same_ngrams_at_training_and_at_prediction(tmp_path):
    config = task.Config(
        model=Config(vocab_size=120, embed_dim=8, hidden=6, max_tokens=16, ngram_buckets=4099), batch_size=8
    )
    splits = fixture_splits()
    prepared = task.prepare_splits(config, splits)
    trained = prepared.train_batches.fields["ngram_ids"]
    with torch.no_grad():  # weights that tell the n-grams apart, not the silent start
        prepared.model.ngrams.weights.weight[1:].normal_()
    folder = save_checkpoint(tmp_path / "ckpt", "many_to_one", config.model, prepared.model)
    prepared.extra_files(folder)
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(folder))
    texts = splits.texts["train"][:3]
    with torch.no_grad():
        at_training = torch.cat([classifier.model.ngrams(torch.from_numpy(trained[i])[None]) for i in range(3)])
    predicted = classifier.word_table.encode(model_texts(texts, config.model)).ngram_logits  # what predictions add
    torch.testing.assert_close(predicted, at_training)


def test_class_balancing_evens_the_labels_over_the_whole_training_split():
    splits = fixture_splits()
    skewed = np.zeros(len(splits.targets["train"]), dtype=np.int64)
    skewed[:5] = 1  # 5 positive (all airline tweets), 13 negative
    splits = dataclasses.replace(splits, targets={**splits.targets, "train": skewed})
    config = task.Config(model=Config(vocab_size=120, embed_dim=8, hidden=6), balance_classes=True)
    labels = task.prepare_splits(config, splits).train_batches.aligned["labels"]
    assert (labels == 0).sum() == (labels == 1).sum() == 13  # the positives repeated, nothing dropped


def test_soft_targets_give_the_label_half_the_annotators_disagreement_back():
    targets = task.agreement_targets(np.array([1, 0, 2]), np.array([1.0, 0.6, 0.4]), n_classes=3)
    np.testing.assert_allclose(targets, [[0, 1, 0], [0.8, 0.1, 0.1], [0.15, 0.15, 0.7]])


def test_a_blank_agreement_is_the_mean_of_its_label_s_known_ones():
    labels = np.array([0, 0, 0, 1, 1, 2])
    agreement = np.array([1.0, np.nan, 0.6, 0.7, np.nan, np.nan])
    filled = task.blanks_filled(agreement, labels)
    np.testing.assert_allclose(filled, [1.0, 0.8, 0.6, 0.7, 0.7, 1.0])  # label 2 has no known one: the label as given
    assert np.isnan(agreement).sum() == 3  # the caller's array is left alone


def test_soft_labels_follow_each_tweet_through_balancing_and_leave_extra_examples_whole(tmp_path):
    splits = fixture_splits()
    n = len(splits.targets["train"])
    skewed = np.zeros(n, dtype=np.int64)
    skewed[:5] = 1  # 5 positive, 13 negative: the positives are repeated
    agreement = np.linspace(0.4, 1.0, n)
    splits = dataclasses.replace(
        splits, targets={**splits.targets, "train": skewed}, agreement={**splits.agreement, "train": agreement}
    )
    config = task.Config(
        model=Config(vocab_size=120, embed_dim=8, hidden=6), balance_classes=True, lexicon_words=True, soft_labels=True
    )
    prepared = task.prepare_splits(config, splits)
    targets = prepared.train_batches.aligned["labels"]
    words, _ = sentiment_lexicon.lexicon_examples()
    rows = task.balanced_rows(skewed, ["all"] * n, config.seed)
    assert targets.shape == (len(rows) + len(words), 2)
    expected = task.agreement_targets(skewed[rows], agreement[rows], 2)
    np.testing.assert_allclose(targets[: len(rows)].numpy(), expected, rtol=1e-6)
    assert set(targets[len(rows) :].max(dim=1).values.tolist()) == {1.0}  # VADER's words: no annotators to doubt
    prepared.extra_files(tmp_path)  # the tokenizer: each target row must be the tweet of that row
    tokenizer = TweetTokenizer.from_file(tmp_path / TOKENIZER_FILE, config.model.max_tokens)
    balanced_texts = model_texts([splits.texts["train"][i] for i in rows], config.model)
    assert prepared.train_batches.fields["token_ids"][: len(rows)] == tokenizer.encode(balanced_texts)
    hard = task.prepare_splits(dataclasses.replace(config, soft_labels=False), splits).train_batches.aligned["labels"]
    assert (targets.argmax(dim=1) == hard).all()  # the same labels, only softer
    loss = prepared.model(**next(iter(prepared.train_batches)))[1]
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_the_tokenizer_never_makes_more_tokens_than_the_model_has_embeddings():
    words, _ = sentiment_lexicon.lexicon_examples()  # hundreds of emoji: more characters than 120 tokens
    assert len(set("".join(words))) > 120
    assert TweetTokenizer.train(words, vocab_size=120, max_tokens=16).vocab_size <= 120


def test_word_dropped_copies_keep_a_word_and_are_reproducible():
    texts = ["the flight was late again", "fine", ""]
    dropped = task.word_dropped(texts, 0.5, np.random.default_rng(3))
    assert dropped == task.word_dropped(texts, 0.5, np.random.default_rng(3))
    assert all(set(copy.split()) <= set(text.split()) for copy, text in zip(dropped, texts))
    assert task.word_dropped(texts, 0.0, np.random.default_rng(0)) == texts
    every_word_drawn = task.word_dropped(texts, 1.0, np.random.default_rng(0))
    assert [len(copy.split()) for copy in every_word_drawn] == [1, 1, 0]  # one word kept; an empty text stays empty


def distilled_config(**changes) -> task.Config:
    return task.Config(
        model=Config(vocab_size=120, embed_dim=8, hidden=6, max_tokens=16),
        batch_size=8,
        epochs=1,
        soft_labels=True,
        teacher_hidden=5,
        teacher_embed_dim=7,
        transfer_copies=2,
        **changes,
    )


def test_a_teacher_s_verdicts_become_the_targets_of_the_rows_and_of_their_word_dropped_copies(monkeypatch):
    splits = fixture_splits()
    n = len(splits.targets["train"])
    taught = []
    trained_teacher = task.trained_teacher

    def recorded(config, fold, dry_run=False):
        teacher, score = trained_teacher(config, fold, dry_run)
        taught.append((teacher, fold))
        return teacher, score

    monkeypatch.setattr(task, "trained_teacher", recorded)
    labels_only = task.prepare_splits(distilled_config(teacher_weight=0.0), splits).train_batches
    [(teacher, _)] = taught
    assert teacher.model.config.hidden == 5 and teacher.model.config.embed_dim == 7  # the teacher's width
    own = task.agreement_targets(splits.targets["train"], splits.agreement["train"], 2)
    targets = labels_only.aligned["labels"].numpy()
    assert targets.shape == (3 * n, 2)  # the tweets, then two word-dropped copies of each
    np.testing.assert_allclose(targets[:n], own, rtol=1e-6)  # weight 0: the rows keep their own targets
    copies = task.word_dropped(splits.texts["train"] * 2, 0.25, np.random.default_rng(0))
    np.testing.assert_allclose(targets[n:], teacher.probabilities(copies), rtol=1e-5)
    teacher_only = task.prepare_splits(distilled_config(teacher_weight=1.0), splits)
    np.testing.assert_allclose(
        teacher_only.train_batches.aligned["labels"].numpy()[:n],
        taught[1][0].probabilities(splits.texts["train"]),
        rtol=1e-5,
    )
    assert teacher_only.info["data.transfer_examples"] == str(2 * n)
    loss = teacher_only.model(**next(iter(teacher_only.train_batches)))[1]
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_a_fold_s_teacher_never_sees_the_held_out_domain(monkeypatch):
    seen = []
    trained_teacher = task.trained_teacher

    def recorded(config, fold, dry_run=False):
        seen.append(set(fold.texts["train"] + fold.texts["val"]))
        return trained_teacher(config, fold, dry_run)

    monkeypatch.setattr(task, "trained_teacher", recorded)
    fold = held_out_domains.held_out_fold(fixture_splits(), "coachella")
    task.prepare_splits(distilled_config(), fold)
    assert seen and {tweet_domain(text) for text in seen[0]} == {"airlines", "apple"}  # the fold's, no Coachella


def test_without_copies_or_its_share_a_teacher_changes_nothing_the_model_trains_on():
    splits = fixture_splits()
    hard = dataclasses.replace(distilled_config(), soft_labels=False)
    torch.manual_seed(hard.seed)  # as training.train seeds before it prepares a task
    alone = task.prepare_splits(dataclasses.replace(hard, teacher_hidden=0), splits)
    torch.manual_seed(hard.seed)
    taught = task.prepare_splits(dataclasses.replace(hard, teacher_weight=0.0, transfer_copies=0), splits)
    for name, weights in alone.model.state_dict().items():  # the same start: the teacher's draws are not the model's
        torch.testing.assert_close(taught.model.state_dict()[name], weights)
    labels = alone.train_batches.aligned["labels"]  # hard labels: class ids
    np.testing.assert_array_equal(taught.train_batches.aligned["labels"].numpy(), np.eye(2)[labels.numpy()])
    assert alone.unused_settings == task.TEACHER_SETTINGS and not taught.unused_settings


def test_distillation_settings_out_of_range_are_refused():
    for bad in ({"teacher_weight": 1.5}, {"transfer_word_drop": 1.0}, {"transfer_copies": -1}):
        with pytest.raises(ValueError, match="teacher_weight must be"):
            task.prepare_splits(dataclasses.replace(distilled_config(), **bad), fixture_splits())


def test_a_calibrated_threshold_is_saved_with_the_weights_and_used_at_prediction(tmp_path):
    config = task.Config(
        model=Config(vocab_size=120, embed_dim=8, hidden=6, max_tokens=16), batch_size=8, calibrate_threshold=True
    )
    prepared = task.prepare_splits(config, fixture_splits())
    folder = save_checkpoint(tmp_path / "ckpt", "many_to_one", config.model, prepared.model)
    prepared.extra_files(folder)
    classifier = TweetClassifier.from_checkpoint(load_checkpoint(folder))
    assert 0.05 <= classifier.positive_threshold <= 0.95
    classifier.positive_threshold = 0.3
    assert list(classifier.label_ids(np.array([[0.75, 0.25], [0.7, 0.3]]))) == [0, 1]
    texts = fixture_splits().texts["test"]
    explained = classifier.explain(texts)
    assert [e.label for e in explained] == [
        classifier.labels[i] for i in classifier.label_ids(classifier.probabilities(texts))
    ]


def test_a_held_out_domain_never_leaks_into_training_or_validation():
    splits = fixture_splits()
    for domain in ("airlines", "coachella", "apple"):
        fold = held_out_domains.held_out_fold(splits, domain)
        held_out = [
            t
            for split in ("train", "val", "test")
            for t, d in zip(splits.texts[split], map(tweet_domain, splits.texts[split]))
            if d == domain
        ]
        assert sorted(fold.texts["test"]) == sorted(held_out)  # every tweet of the domain, from every split
        assert not set(fold.texts["train"] + fold.texts["val"]) & set(held_out)
        assert {tweet_domain(t) for t in fold.texts["train"] + fold.texts["val"]} == {
            "airlines",
            "coachella",
            "apple",
        } - {domain}
        assert len(fold.targets["test"]) == len(fold.agreement["test"]) == len(held_out)


def test_leave_one_domain_out_fits_each_fold_on_its_own_training_tweets():
    splits = fixture_splits()
    seen = []

    def score_held_out(fold):
        seen.append((set(fold.texts["train"]), set(fold.texts["test"])))
        return {"accuracy": 0.5, "macro_f1": 0.25}

    scores = held_out_domains.leave_one_domain_out(splits, score_held_out, domains=["airlines", "apple"])
    assert all(not train & test for train, test in seen) and len(seen) == 2
    assert scores == {
        "lodo_airlines_accuracy": 0.5,
        "lodo_airlines_macro_f1": 0.25,
        "lodo_apple_accuracy": 0.5,
        "lodo_apple_macro_f1": 0.25,
        "lodo_mean_accuracy": 0.5,
        "lodo_mean_macro_f1": 0.25,
    }


def test_a_tokenizer_trained_on_a_fold_never_saw_the_held_out_domain(tmp_path):
    def vocabulary(held_out: str) -> set[str]:
        fold = held_out_domains.held_out_fold(fixture_splits(), held_out)
        prepared = task.prepare_splits(task.Config(model=Config(vocab_size=120, embed_dim=8, hidden=6)), fold)
        prepared.extra_files(tmp_path)
        return set(TweetTokenizer.from_file(tmp_path / "tokenizer.json", 16).tokenizer.get_vocab())

    assert any("coach" in token for token in vocabulary("airlines"))  # the check below can fail
    assert not any("coach" in token for token in vocabulary("coachella"))


def test_balancing_leaves_no_topic_with_a_favourite_label():
    targets = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0])
    groups = ["airlines"] * 7 + ["coachella"] * 2
    rows = task.balanced_rows(targets, groups, seed=0)
    for group in ("airlines", "coachella"):
        labels = [targets[i] for i in rows if groups[i] == group]
        assert labels.count(0) == labels.count(1)
    assert set(rows) == set(range(len(targets)))  # nothing dropped, only repeated


def test_the_lexicon_is_read_from_the_installed_package(monkeypatch):
    import socket

    monkeypatch.setattr(socket, "socket", lambda *a, **k: pytest.fail("the lexicon must not need the network"))
    valences = sentiment_lexicon.word_valences()
    assert len(valences) > 7000 and valences["love"] > 2 and valences["hate"] < -2
    import vaderSentiment

    assert (Path(vaderSentiment.__file__).parent / sentiment_lexicon.LEXICON_FILE).is_file()
    texts, labels = sentiment_lexicon.lexicon_examples()
    label_of = dict(zip(texts, labels))
    assert label_of["love"] == 1 and label_of["hate"] == 0 and label_of["😍"] == 1 and label_of["😢"] == 0
    assert "the" not in label_of  # neutral words are no examples


def test_the_tfidf_peer_fits_and_scores():
    splits = fixture_splits()
    peer = TfidfPeer().fit(splits.texts["train"], splits.targets["train"])
    assert peer.verdicts(["@united flight x was lovely", "#Coachella2015 day y is awful"]) == ["positive", "negative"]


@pytest.fixture(scope="module")
def tenth_of_the_corpus() -> TweetSplits:
    """The real splits, a seeded tenth of each, so that a peer run with all its folds takes seconds."""
    real = task.load_tweet_splits()
    rng = np.random.default_rng(0)
    rows = {split: np.sort(rng.permutation(len(texts))[: len(texts) // 10]) for split, texts in real.texts.items()}
    return TweetSplits(
        labels=real.labels,
        texts={s: [real.texts[s][i] for i in r] for s, r in rows.items()},
        targets={s: real.targets[s][r] for s, r in rows.items()},
        agreement={s: real.agreement[s][r] for s, r in rows.items()},
        rows_read=real.rows_read,
        duplicates_dropped=real.duplicates_dropped,
        conflicting_dropped=real.conflicting_dropped,
    )


@pytest.fixture
def small_corpus(tenth_of_the_corpus, monkeypatch):
    monkeypatch.setattr(task, "load_tweet_splits", lambda *args, **kwargs: tenth_of_the_corpus)
    monkeypatch.setattr(peers, "load_tweet_splits", lambda *args, **kwargs: tenth_of_the_corpus)
    monkeypatch.setattr(held_out_domains, "LODO_MIN_TWEETS", 30)
    return tenth_of_the_corpus


@pytest.mark.parametrize("peer", ["tfidf", "vader"])
def test_a_peer_run_logs_lodo_and_ships_like_vader(peer, small_corpus, tracking_store, tmp_path, monkeypatch):
    [run_id] = peers.main(["many_to_one", peer])
    [run] = store.list_runs("many_to_one")
    assert run.run_id == run_id and run.run_name == peer and run.evaluation_only and not run.champion
    assert run.params["threshold.chosen_on"].startswith("validation") and "baseline" in run.params["kind"]
    assert 0.6 < run.metrics["test_accuracy"] < 1 and 0 <= run.metrics["seed_tweets_correct"] <= 8
    assert {f"lodo_{domain}_accuracy" for domain in ("airlines", "nfl", "coachella", "apple")} <= set(run.metrics)
    assert run.metrics["lodo_mean_accuracy"] == pytest.approx(
        np.mean(
            [v for k, v in run.metrics.items() if k.startswith("lodo_") and k.endswith("_accuracy") and "mean" not in k]
        )
    )
    bundle = bundles.export_bundle(run_id, tmp_path / "shipped")
    assert not (bundle / "model.safetensors").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh.db'}")
    bundles.import_all(tmp_path / "shipped")
    [imported] = store.list_runs("many_to_one")
    assert imported.evaluation_only and imported.metrics["lodo_mean_accuracy"] == run.metrics["lodo_mean_accuracy"]


def test_known_word_share_is_low_for_emoji_other_scripts_and_unknown_words():
    texts = [normalize_tweet(t) for t in ("love the crew, thank you!", "worst flight ever, never again")] * 20
    tokenizer = TweetTokenizer.train(texts, vocab_size=200, max_tokens=32)
    assert tokenizer.known_word_share("love the crew") == 1.0
    for unknown in ("😍🔥👍", "مرحبا الخدمة سيئة", "שלום עולם", "xqzvy plorbnik", "123 !!!"):
        assert tokenizer.known_word_share(normalize_tweet(unknown)) < 0.5, unknown


def test_the_classifier_flags_text_it_knows_little_of(tmp_path):
    texts = [normalize_tweet(t) for t in ("love the crew, thank you!", "worst flight ever, never again")] * 20
    tokenizer = TweetTokenizer.train(texts, vocab_size=200, max_tokens=32)
    config = Config(vocab_size=200, embed_dim=8, hidden=6)
    torch.manual_seed(0)
    classifier = TweetClassifier(task.many_to_one.build_model(config), tokenizer)
    emoji, english = classifier.explain(["😍😍🔥", "love the crew"])
    assert emoji.knows_little and not english.knows_little


def test_rated_sentences_parse_in_the_real_layout_and_near_neutral_ones_are_left_out():
    from training.data.general_english import labelled, parse_ratings

    text = (
        "1_1\t-0.9\ttroubleshooting ad-2500: no picture.\r\n"
        "1_2\t0.15\trepost from january.\r\n\r\n"
        "2_7\t2.6\tLoved it — «superb»!\r\n"
    )
    rows = parse_ratings(text)
    assert rows == [
        (-0.9, "troubleshooting ad-2500: no picture."),
        (0.15, "repost from january."),
        (2.6, "Loved it — «superb»!"),
    ]
    texts, targets = labelled(rows)
    assert texts == ["troubleshooting ad-2500: no picture.", "Loved it — «superb»!"] and targets.tolist() == [0, 1]
    with pytest.raises(ValueError, match="line 2"):
        parse_ratings("1_1\t0.5\tfine\n1_2\tnot a number\tbad")


def test_general_english_scores_each_set_and_their_mean():
    from training.general_english import scores

    sets = {"a": (["x", "y"], np.array([1, 0])), "b": (["z", "w", "v", "u"], np.array([1, 1, 0, 0]))}
    got = scores(lambda texts: np.ones(len(texts), dtype=np.int64), sets)  # always positive
    assert got["a_accuracy"] == 0.5 and got["b_accuracy"] == 0.5 and got["mean_accuracy"] == 0.5
    assert got["a_macro_f1"] == pytest.approx(1 / 3) and got["mean_macro_f1"] == pytest.approx(1 / 3)
