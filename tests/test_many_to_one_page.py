"""AppTests of the many-to-one page against the shipped models: paste, predict, upload, download, compare, and every
kind of bad input; any exception fails."""

import html
import re

import pytest

from models import store
from tests.conftest import assert_no_exception, open_page, open_tab, page_texts

PAGE = "views/many_to_one.py"
SENTIMENT_RUNS = {
    "rnn",
    "gru",
    "lstm",
    "bilstm_attention",
    "bilstm_attention_ngrams",
    "bilstm_attention_ngrams_distilled",
    "vader",
    "tfidf",
}


def results_table(app_test):
    [table] = [df.value for df in app_test.dataframe if "VADER" in df.value.columns]
    return table


def highlights(app_test) -> str:
    return "".join(str(element.proto.body) for element in app_test.get("html"))


def paste(app_test, text: str):
    """Type ``text`` into the box and press Classify."""
    app_test.text_area(key="many_to_one-text").input(text)
    app_test.button(key="many_to_one-text-submit").click().run()
    assert_no_exception(app_test)
    return app_test


@pytest.fixture
def page(app):
    return open_page(app, PAGE)


def test_no_input_is_a_hint_and_the_comparison_shows_vader(page):
    assert "Paste one tweet per line" in page_texts(page) and not page.error
    open_tab(page, "many_to_one", "Compare runs")
    runs = next(df.value for df in page.dataframe if "run" in df.value.columns)  # the test split's scoreboard
    names = set(runs["run"])
    assert SENTIMENT_RUNS <= names
    assert set(runs.set_index(runs["run"]).loc[["vader", "tfidf"], "kind"]) == {"evaluation only"}


def test_examples_predict_and_download(page):
    page.button(key="many_to_one-examples").click().run()
    assert_no_exception(page)
    table = results_table(page)
    assert len(table) == 8 and set(table["label"]) <= {"negative", "positive"}
    assert set(table["VADER"]) <= {"negative", "positive"}
    assert table["probability"].between(0.5, 1).all()
    shown = highlights(page)  # the champion has attention: every tweet's pieces are shaded
    assert shown.count("<p") == 8 and shown.count("<span") > 8 * 5 and " Together" in shown
    [download] = page.get("download_button")
    assert download.proto.label == "Download the results as CSV"


def test_markup_in_a_tweet_is_shown_as_text(page):
    paste(page, "<script>alert('x')</script> **so** [good](http://x.io) <b>bold</b> &amp;")
    shown = highlights(page)
    assert "<script" not in shown and "<b>bold" not in shown
    visible = html.unescape(re.sub(r"<[^>]+>", "", shown))  # the text a browser shows: our tags gone, entities read
    # ftfy leaves entities alone in text that has tags, so "&amp;" stays as typed
    assert "<script>alert('x')</script> **so** [good]( <url> <b>bold</b> &amp;" in visible
    assert results_table(page)["tweet"][0].startswith("<script>")  # the table keeps the tweet verbatim


@pytest.mark.parametrize("text", ["", "\n   \n\t\n"])
def test_empty_or_blank_input_is_a_hint(page, text):
    paste(page, text)
    assert "Paste one tweet per line" in page_texts(page) and not page.error


def test_a_huge_line_is_cut_and_the_page_says_so(page):
    paste(page, "so happy " * 12_500)  # 112,500 characters
    assert "1,000 characters" in page_texts(page)
    assert len(results_table(page)) == 1


def test_ten_thousand_lines(page):
    lines = [f"flight {i} was {'great, thanks' if i % 2 else 'late again, awful'}" for i in range(10_000)]
    paste(page, "\n".join(lines))
    table = results_table(page)
    assert len(table) == 10_000 and table["label"].nunique() == 2


def test_emoji_rtl_zero_width_and_control_characters(page):
    paste(
        page,
        "\n".join(
            [
                "I love it 😍😍🔥",
                "مرحبا، الخدمة سيئة جدا",
                "zero\u200bwidth\u200d joiner \u202e flip",
                "bell\x07 and nul-ish \x1b[31m colour",
                "👍🏽👨‍👩‍👧",
            ]
        ),
    )
    assert len(results_table(page)) == 5 and not page.error


def upload(page, name: str, data: bytes, mime: str = "text/csv"):
    page.radio(key="many_to_one-source").set_value("Upload a CSV or TXT file").run()
    page.file_uploader(key="many_to_one-upload").upload(name, data, mime).run()
    assert_no_exception(page)
    return page


def test_csv_upload_with_a_text_column(page):
    upload(page, "tweets.csv", b'id,text\n1,"@united worst flight ever, lost my bag"\n2,love the crew!\n')
    assert list(results_table(page)["tweet"]) == ["@united worst flight ever, lost my bag", "love the crew!"]


def test_csv_without_a_text_column_lists_the_columns_and_lets_the_user_pick(page):
    upload(page, "posts.csv", b"id;body\n1;great service\n2;terrible delay\n")
    warning = page_texts(page)
    assert "`id`" in warning and "`body`" in warning
    page.selectbox(key="many_to_one-upload-column").set_value("body").run()
    assert_no_exception(page)
    assert list(results_table(page)["tweet"]) == ["great service", "terrible delay"]


def test_txt_upload_in_latin1_is_read_with_a_note(page):
    upload(page, "tweets.txt", "caf\u00e9 was lovely\nna\u00efve airline\n".encode("latin-1"), "text/plain")
    assert "Latin-1" in page_texts(page)
    assert list(results_table(page)["tweet"]) == ["caf\u00e9 was lovely", "na\u00efve airline"]


@pytest.mark.parametrize(
    "name, data", [("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), ("empty.txt", b"")]
)
def test_binary_or_empty_files_get_a_message(page, name, data):
    upload(page, name, data)
    assert any(name in e.value for e in page.error)
    assert "Paste one tweet per line" not in page_texts(page)  # upload mode never hints at pasting (defect 10)


def test_every_logged_model_classifies(page):
    page.button(key="many_to_one-examples").click().run()
    picker = page.selectbox(key="many_to_one-model")
    assert len(picker.options) >= 4
    for index in range(len(picker.options)):
        page.selectbox(key="many_to_one-model").select_index(index).run()
        assert_no_exception(page)
        assert len(results_table(page)) == 8


def test_compare_tab_overlays_curves(page):
    open_tab(page, "many_to_one", "Compare runs")
    runs = next(df.value for df in page.dataframe if "run" in df.value.columns)  # the test split's scoreboard
    page.multiselect(key="many_to_one-compare").set_value(list(runs["run"])).run()
    assert_no_exception(page)
    assert len(page.get("plotly_chart")) >= 2
    champion = next(r for r in store.shipped_bundles("many_to_one") if r.champion)
    assert champion.run_name in set(runs["run"])


def test_emoji_only_text_gets_a_note_instead_of_a_verdict(page):
    paste(page, "😍😍🔥\nI love this crew, thank you so much")
    table = results_table(page)
    assert table["label"][0] == "unsure" and table["note"][0] == "the model knows little of this text"
    assert table["probability"].isna()[0] and table["label"][1] in ("negative", "positive")
    assert "the model knows little of this text" in page_texts(page)
    assert "unsure</b> (the model knows little of this text)" in highlights(page)


def test_the_comparison_scores_every_run_on_topics_it_never_saw(page):
    open_tab(page, "many_to_one", "Compare runs")
    [lodo] = [df.value for df in page.dataframe if "mean" in df.value.columns]
    assert SENTIMENT_RUNS <= set(lodo.index)
    assert {"airlines", "coachella", "self_driving"} <= set(lodo.columns)
    assert lodo["mean"].between(0, 1).all()
    assert "each run gets right: " in page_texts(page)
    headings = [heading.value for heading in page.subheader]
    assert any("loses to a non-neural peer" in warning.value for warning in page.warning)  # TF-IDF on the test split
    peers = headings.index("Where the champion loses to a peer")  # a heading of its own, just before the topics
    assert headings[peers + 1] == "Topics never seen in training (leave one domain out)"


def test_the_champion_s_losses_to_a_peer_are_said_for_each_measure_and_only_those():
    from dashboard.components.held_out_domains import standing_against_peers

    def run(name, metrics, champion=False, peer=None):
        tags = {store.KIND_TAG: "evaluation"} if peer else {}
        params = {"peer": peer} if peer else {}
        return store.RunSummary(None, name, "FINISHED", None, None, params, metrics, tags, champion)

    champion = run("ngrams", {"test_accuracy": 0.86, "lodo_mean_accuracy": 0.70, "general_mean_accuracy": 0.65}, True)
    vader = run("vader", {"test_accuracy": 0.72, "lodo_mean_accuracy": 0.62, "general_mean_accuracy": 0.68}, peer="v")
    said = standing_against_peers([champion, vader])
    assert "rated English sentences that are not tweets 0.680 against 0.650" in said
    assert "test accuracy" not in said and "leave-one-domain-out" not in said
    vader.metrics["general_mean_accuracy"] = 0.60
    assert standing_against_peers([champion, vader]) is None
