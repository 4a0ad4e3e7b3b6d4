"""Many to many (English → Spanish): data parsing and split, tokenizers, the encoder–decoder and its decoders,
a dry-run training, the bundle, and Apertium when it is installed."""

import unicodedata

import pytest
import torch
from mlflow import MlflowClient
from safetensors.torch import load_file

from models import many_to_many as m2m
from models.checkpoint import load_checkpoint, save_checkpoint
from models.peers import ApertiumPeer
from tests.conftest import assert_no_exception, logged_memory, open_tab, page_texts, text_tables
from training import bundles, train
from training.data import tatoeba_spa
from training.metrics import translation_scores_by_length
from training.tasks.many_to_many import train_tokenizer

ATTRIBUTION = "CC-BY 2.0 (France) Attribution: tatoeba.org #{} (CM) & #{} (Shishir)"


def tsv_line(en: str, es: str, number: int) -> str:
    return f"{en}\t{es}\t{ATTRIBUTION.format(number, number + 1)}"


def test_parse_pairs_reads_the_real_layout_and_normalises_unicode(tmp_path):
    decomposed = unicodedata.normalize("NFD", "¿Qué tal?")
    fixture = tmp_path / "spa.tsv"
    fixture.write_text(
        "\n".join(
            [tsv_line("Go.", "Ve.", 1), tsv_line("Go.", "Vete.", 3), tsv_line("How  are you?", decomposed, 5), ""]
        )
        + "\n",
        encoding="utf-8",
    )
    pairs = tatoeba_spa.parse_pairs(fixture.read_text(encoding="utf-8"))
    assert [(p.en, p.es) for p in pairs] == [("Go.", "Ve."), ("Go.", "Vete."), ("How are you?", "¿Qué tal?")]
    assert pairs[2].es == unicodedata.normalize("NFC", "¿Qué tal?") and len(pairs[2].es) == 9
    assert pairs[0].attribution.startswith("CC-BY 2.0 (France)")
    assert tatoeba_spa.contributors(p.attribution for p in pairs) == {"CM": 3, "Shishir": 3}
    with pytest.raises(ValueError, match="line 1: expected 3"):
        tatoeba_spa.parse_pairs("Go.\tVe.\n")


def numbered_pairs(count: int) -> list[tatoeba_spa.Pair]:
    """Sentence i has Tatoeba id 1000 + i (so a later sentence is newer), i + 2 words, and one or two
    translations."""
    return [
        tatoeba_spa.Pair(
            " ".join(["Sentence"] + ["word"] * i) + f" {i}.",
            f"Frase {i}{suffix}.",
            ATTRIBUTION.format(1000 + i, 5000 + 2 * i + len(suffix)),
        )
        for i in range(count)
        for suffix in ("", " bis")[: 1 + i % 2]
    ]


def test_split_by_english_keeps_every_translation_together():
    pairs = numbered_pairs(60)
    splits = tatoeba_spa.split_by_english(pairs, val_sentences=10, test_sentences=15, seed=3)
    train_en = {p.en for p in splits.train}
    val_en, test_en = {e.en for e in splits.val}, {e.en for e in splits.test}
    assert not (train_en & val_en or train_en & test_en or val_en & test_en)
    assert len(train_en | val_en | test_en) == 60 and (len(val_en), len(test_en)) == (10, 15)
    for example in splits.val + splits.test:
        number = int(example.en.split()[-1].rstrip("."))
        assert len(example.references) == 1 + number % 2  # all translations kept as references
    assert len(splits.train) == len(pairs) - sum(len(e.references) for e in splits.val + splits.test)
    again = tatoeba_spa.split_by_english(pairs, 10, 15, seed=3)
    assert [e.en for e in again.test] == [e.en for e in splits.test]


def test_the_newest_sentences_are_held_out_by_id_and_never_trained_on():
    pairs = numbered_pairs(100)
    splits = tatoeba_spa.split_by_english(
        pairs, val_sentences=10, test_sentences=15, seed=0, new_fraction=0.1, max_train_words=50
    )
    assert [e.english_id for e in splits.new_test] == list(range(1090, 1100))  # the ten highest ids
    assert all(len(e.references) == 1 + e.english_id % 2 for e in splits.new_test)  # with every translation
    held_out = splits.new_test + splits.val + splits.test
    train_ids = {tatoeba_spa.english_id(p.attribution) for p in splits.train}
    assert not {e.en for e in splits.new_test} & (
        {p.en for p in splits.train} | {e.en for e in splits.val + splits.test}
    )
    assert not {e.english_id for e in held_out} & train_ids
    assert max(train_ids) < 1090
    # A length cut applies to training only: the test sets keep every length.
    short = tatoeba_spa.split_by_english(pairs, 10, 15, seed=0, new_fraction=0.1, max_train_words=20)
    assert max(tatoeba_spa.word_count(p.en) for p in short.train) == 20
    assert [e.en for e in short.test] == [e.en for e in splits.test]
    assert max(tatoeba_spa.word_count(e.en) for e in short.new_test) == 101
    assert tatoeba_spa.english_id("CC-BY 2.0 (France) Attribution: tatoeba.org #42 (CK) & #7 (x)") == 42


def test_length_bucket_scores_count_and_score_each_bucket():
    sources = ["One two three.", "a b c d e f g h", "a b c d e f g", " ".join(["w"] * 12), " ".join(["w"] * 25)]
    references = [("Uno dos tres.",), ("El perro come.", "Un perro come."), ("Hola.",), ("Adiós.",), ("Sí.",)]
    hypotheses = ["Uno dos tres.", "Un perro come.", "Nada.", "Adiós.", "Sí."]
    scores = translation_scores_by_length(sources, hypotheses, references)
    assert [scores[f"{b}_sentences"] for b in ("len_1_6", "len_7_10", "len_11_20", "len_21_up")] == [1, 2, 1, 1]
    assert scores["len_1_6_bleu"] == pytest.approx(100) and scores["len_1_6_chrf"] == pytest.approx(100)
    # The second reference matches the second sentence exactly; the first reference alone does not.
    assert scores["len_7_10_bleu"] > scores["len_7_10_bleu_single"]
    assert scores["bleu"] > scores["bleu_single"] > 0
    empty = translation_scores_by_length(["Hi."], ["Hola."], [("Hola.",)])
    assert empty["len_21_up_sentences"] == 0 and "len_21_up_bleu" not in empty


def test_tokenizer_round_trips_case_punctuation_and_accents():
    texts = [
        "¿Dónde está el baño?",
        "Tom's dog, Max, is here!",
        "Él habló con María.",
        "I can't swim.",
        "No sé nada de eso.",
        "¡Qué día tan bonito!",
    ] * 20
    tokenizer = train_tokenizer(texts, vocab_size=120)
    for text in set(texts):
        ids = tokenizer.encode(text).ids
        assert m2m.UNK not in ids and tokenizer.decode(ids) == text
    assert [tokenizer.token_to_id(t) for t in m2m.SPECIAL_TOKENS] == [m2m.PAD, m2m.UNK, m2m.BOS, m2m.EOS]


SMALL = m2m.Config(
    source_vocab=50, target_vocab=60, embedding=16, encoder_hidden=12, decoder_hidden=20, max_len_extra=3
)


def random_source(batch=4, length=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(4, SMALL.source_vocab, (batch, length), generator=generator)
    source[1, 3:] = m2m.PAD  # a shorter sentence
    source[0, -1] = source[1, 2] = m2m.EOS
    return source


@pytest.mark.parametrize("cell,attention", [("gru", "luong"), ("gru", "none"), ("lstm", "luong")])
def test_shapes_and_the_training_loss(cell, attention):
    torch.manual_seed(0)
    model = m2m.build_model(SMALL.__class__(**{**SMALL.__dict__, "cell": cell, "attention": attention}))
    source, target = random_source(), torch.randint(4, SMALL.target_vocab, (4, 7))
    target[:, 0] = m2m.BOS
    logits, loss = model(source, target)
    assert logits.shape == (4, 6, SMALL.target_vocab) and loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    decoded = model.greedy(source)
    steps = decoded["tokens"].size(1)
    assert decoded["attention"].shape == (4, steps, 6)
    if attention == "luong":  # each step's weights are a distribution over the real source tokens only
        written = int((decoded["tokens"][1] != m2m.PAD).sum())
        weights = decoded["attention"][1, :written]
        assert torch.allclose(weights.sum(-1), torch.ones(written)) and weights[:, 3:].abs().max() == 0


def test_the_encoder_never_reads_padding():
    torch.manual_seed(0)
    model = m2m.build_model(SMALL).eval()
    source = random_source(batch=2)[:1]
    padded = torch.cat([source, torch.zeros(1, 5, dtype=torch.long)], 1)
    states, summary = model.encoder(source)
    padded_states, padded_summary = model.encoder(padded)
    assert torch.allclose(states, padded_states[:, :6], atol=1e-6) and torch.allclose(
        summary, padded_summary, atol=1e-6
    )


def test_decoding_is_deterministic_and_beam_width_one_is_greedy():
    torch.manual_seed(1)
    model = m2m.build_model(SMALL).eval()
    source = random_source(batch=6, seed=2)
    greedy = model.greedy(source)
    assert torch.equal(greedy["tokens"], model.greedy(source)["tokens"])
    beam = model.beam_search(source, beam_width=1)
    steps = greedy["tokens"].size(1)
    assert torch.equal(beam["tokens"][:, 0, :steps], greedy["tokens"])
    written = greedy["tokens"] != m2m.PAD  # after a sentence ends, its attention rows mean nothing
    assert torch.allclose(beam["attention"][:, 0, :steps][written], greedy["attention"][written], atol=1e-6)
    assert torch.equal(beam["finished"][:, 0], greedy["finished"])
    wide = model.beam_search(source, beam_width=4, length_penalty=1.0)
    assert wide["tokens"].shape[:2] == (6, 4) and (wide["scores"][:, :-1] >= wide["scores"][:, 1:]).all()


def test_output_length_is_bounded_when_eos_never_comes():
    torch.manual_seed(0)
    model = m2m.build_model(SMALL).eval()
    with torch.no_grad():
        model.output_bias[m2m.EOS] = -1e4  # a model that never ends a sentence
    source = random_source()
    bounds = model.output_bounds(source)
    assert bounds.tolist() == [(2 * int(n) + 3) for n in (source != m2m.PAD).sum(1)]
    for decoded in (model.greedy(source), model.beam_search(source, beam_width=3)):
        assert not decoded["finished"].any()
        tokens = decoded["tokens"] if decoded["tokens"].dim() == 2 else decoded["tokens"][:, 0]
        assert ((tokens != m2m.PAD).sum(1) == bounds).all()


def test_save_and_load_give_the_same_translations(tmp_path):
    torch.manual_seed(0)
    model = m2m.build_model(SMALL).eval()
    model.load_state_dict(model.state_dict())  # weights are stored in half precision: compare the rounded model
    save_checkpoint(tmp_path / "ckpt", "many_to_many", SMALL, model)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == SMALL
    stored = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert {tensor.dtype for tensor in stored.values()} == {torch.float16}
    source = random_source()
    assert torch.equal(loaded.model.greedy(source)["tokens"], model.greedy(source)["tokens"])


def test_split_sentences():
    assert m2m.split_sentences("Hi there. How are you?\nFine!  Thanks…  ok") == [
        "Hi there.",
        "How are you?",
        "Fine!",
        "Thanks…",
        "ok",
    ]
    assert m2m.split_sentences("  \n ") == []


def test_dry_run_then_bundle_translates(tracking_store, tmp_path):
    run_id = train.main(
        [
            "many_to_many",
            "--dry-run",
            "--set",
            "threads=1",
            "--set",
            "model.source_vocab=300",
            "--set",
            "model.target_vocab=300",
            "--run-name",
            "tiny-gru",
        ]
    )
    client = MlflowClient(tracking_store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.attention"] == "luong" and run.data.params["max_batches"] == "2"
    assert run.data.params["model.trained_source_words"] == "30"  # trained on the whole length range
    assert logged_memory(run_id) == ["span.json", "units.json"]
    assert [m.step for m in client.get_metric_history(run_id, "val_bleu")] == [1]
    assert {
        "train_loss",
        "val_loss",
        "val_chrf",
        "test_bleu",
        "test_chrf",
        "test_bleu_beam5",
        "test_bleu_single",
        "new_test_bleu",
        "new_test_chrf",
        "new_test_len_1_6_chrf",
        "new_test_len_7_10_sentences",
        "new_test_bleu_single_beam5",
    } <= set(run.data.metrics)
    folder = bundles.export_bundle(run_id, tmp_path / "shipped")
    assert {"source_tokenizer.json", "target_tokenizer.json", "dataset_card.md"} <= {p.name for p in folder.iterdir()}
    assert "contributors" in (folder / "report" / "attribution.json").read_text()
    assert "CC-BY 2.0" in (folder / "dataset_card.md").read_text()
    translator = m2m.Translator.from_checkpoint(load_checkpoint(folder), int8=False)
    [one, two] = translator.translate(["Hello.", "I like cheese very much."], beam_width=3)
    assert isinstance(one.text, str) and len(one.n_best) == 3
    assert one.attention.shape == (len(one.target_tokens), len(one.source_tokens))
    assert one.source_tokens[-1] == "[EOS]"
    with torch.no_grad():
        translator.model.output_bias[m2m.EOS] = -1e4  # now it never ends a sentence: bounded and flagged
    for beam_width in (1, 4):
        [endless] = translator.translate([" ".join(["word"] * 300)], beam_width=beam_width)
        assert not endless.finished and len(endless.target_tokens) == translator.model.config.max_output_tokens


def test_int8_copy_keeps_the_logits_and_leaves_the_model_alone():
    torch.manual_seed(0)
    for cell in ("gru", "lstm"):
        model = m2m.build_model(
            m2m.Config(cell=cell, source_vocab=50, target_vocab=60, embedding=16, encoder_hidden=16, decoder_hidden=24)
        ).eval()
        source = torch.randint(4, 50, (3, 7))
        target = torch.randint(4, 60, (3, 5))
        int8 = m2m.int8_for_cpu(model)
        assert model.output_layer is None and isinstance(model.decoder_rnn, m2m.CELLS[cell])  # untouched
        assert type(int8.decoder_rnn) is not m2m.CELLS[cell] and int8.output_layer is not None  # quantised
        with torch.no_grad():
            expected, _ = model(source, target)
            logits, _ = int8(source, target)
        assert logits.shape == expected.shape
        # int8 weights move the logits by a little of their spread, not by a whole different model's worth.
        assert (logits - expected).abs().max() < 0.1 * expected.std()


def translate(app, text: str) -> None:
    """Type ``text`` into the page's box and press Translate."""
    app.text_area(key="many_to_many-text").set_value(text)
    app.button(key="many_to_many-text-submit").click().run()


def translation_rows(app) -> list[list[str]]:
    """The wrapping translation table's rows as text, its header first; empty where the page shows none."""
    return next((rows for _, rows in text_tables(app) if rows[0][0] == "English"), [])


def test_a_few_translations_wrap_in_a_table_and_many_scroll_in_a_grid(app):
    app.switch_page("views/many_to_many.py").run()
    sentences = [f"The cat number {n} is sleeping." for n in range(21)]
    translate(app, " ".join(sentences[:20]))  # the page's WRAPPED_SENTENCES
    assert_no_exception(app)
    [header, *rows] = translation_rows(app)
    assert header[0] == "English" and [row[0] for row in rows] == sentences[:20] and all(row[1] for row in rows)
    assert not [df for df in app.dataframe if "English" in df.value.columns]
    translate(app, " ".join(sentences))
    assert_no_exception(app)
    [translations] = [df.value for df in app.dataframe if "English" in df.value.columns]
    assert translations["English"].tolist() == sentences and not translation_rows(app)


def test_typed_markup_in_the_translation_table_is_text(app):
    app.switch_page("views/many_to_many.py").run()
    typed = "I **love** <b>this</b> & see www.example.com ![i](http://x.y/i.png) today."
    translate(app, typed)
    assert_no_exception(app)
    [(body, rows), (_, n_best)] = text_tables(app)  # the translations, then the picked sentence's n-best list
    assert rows[1][0] == typed and n_best[0] == ["hypothesis", "score (log-prob / length)"] and len(n_best) == 6
    # shown as typed: no bold, no tag, no link, no image
    assert not any(tag in body for tag in ("<b>", "<strong", "<a", "<img")) and "&lt;b&gt;this&lt;/b&gt;" in body


def test_page_translates_compares_and_survives_bad_input(app):
    app.switch_page("views/many_to_many.py").run()
    assert_no_exception(app)
    assert "translated by beam search, width 5" in page_texts(app)
    assert "trained on English sentences of 1 to 30 words" in page_texts(app)
    assert not [df for df in app.dataframe if "test set" in df.value.columns]  # the Compare tab is closed
    open_tab(app, "many_to_many", "Compare runs")
    [by_length] = [df.value for df in app.dataframe if "test set" in df.value.columns]
    assert list(by_length.columns) == ["run", "test set", "all", "1–6 words", "7–10 words", "11–20 words", "21+ words"]
    assert {"new sentences", "random split"} <= set(by_length["test set"])  # every shipped run, both test sets
    [header, *rows] = translation_rows(app)
    assert len(rows) == 1 and rows[0][1]
    if ApertiumPeer.available():
        assert "Apertium" in header
    assert app.get("plotly_chart"), "no attention heatmap"
    for text, expected in [
        ("", "Type an English sentence"),
        ("Hello there. " * 2500, "characters"),
        (" ".join(["word"] * 300), "translated"),
        ("你好 مرحبا 😀", "unknown to the English tokenizer"),
        (" ".join(["house"] * 60) + ".", "Longer than trained: sentence(s) 1 (60 words)"),
        ("?!... 12345", "translated"),
        ("<b>bold</b> <script>alert(1)</script>", "<b>bold</b>"),
    ]:
        translate(app, text)
        assert_no_exception(app)
        assert expected in page_texts(app), text[:40]
    translate(app, "Where is the station?")
    app.slider(key="many_to_many-beam").set_value(1).run()
    sentences = [f"The weather is nice on day {n}." for n in range(200)]
    translate(app, " ".join(sentences))
    assert_no_exception(app)
    assert "200 sentence(s) translated by greedy" in page_texts(app)
    assert_no_exception(app)
    model_picker = app.selectbox(key="many_to_many-model")
    for option in model_picker.options:
        model_picker.set_value(option).run()
        assert_no_exception(app)


def test_the_example_picker_replaces_typed_text(app):
    app.switch_page("views/many_to_many.py").run()
    translate(app, "Something I typed.")
    picker = app.selectbox(key="many_to_many-example")
    example = picker.options[-1]
    picker.set_value(example).run()
    assert_no_exception(app)
    assert app.text_area(key="many_to_many-text").value == example
    [_, *rows] = translation_rows(app)
    assert [row[0] for row in rows] == m2m.split_sentences(example)


def test_the_apertium_run_scores_both_test_sets(tracking_store, monkeypatch):
    from models import store
    from training import peers

    # Apertium itself is a separate program (tested below when installed); here the run around it, with a
    # stand-in that echoes the English: it scores low, but on both test sets.
    monkeypatch.setattr(ApertiumPeer, "translate", classmethod(lambda cls, sentences: list(sentences)))
    [run_id] = peers.main(["many_to_many"])
    [run] = store.list_runs("many_to_many")
    assert run.run_id == run_id and run.run_name == "apertium" and run.evaluation_only and not run.champion
    assert run.params["peer"] == "apertium" and run.params["apertium.pair"] == "eng-spa"
    for split in ("test", "new_test"):
        assert 0 < run.metrics[f"{split}_chrf"] < 40 and run.metrics[f"{split}_len_1_6_sentences"] > 0


def test_a_peer_the_topology_lacks_is_refused():
    from training import peers

    with pytest.raises(SystemExit):
        peers.main(["many_to_many", "vader"])


@pytest.mark.skipif(not ApertiumPeer.available(), reason="apertium-eng-spa is not installed")
def test_apertium_translates_one_line_per_sentence():
    out = ApertiumPeer.translate(["The dog is black.", "I have a\nbook.", "", "你好 😀"])
    assert len(out) == 4 and out[0].startswith("El perro")
