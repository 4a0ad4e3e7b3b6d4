"""Text in: the text box with a button, and CSV / TXT uploads through the shared components, in small AppTest
scripts (the pages that use them have their own tests)."""

import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard.components.text_input import MAX_TEXT_MB, read_table
from dashboard.components.user_text import code, csv_download, literal, spreadsheet_safe
from tests.conftest import assert_no_exception, page_texts

INJECTION = "x` [click me](https://example.com)"


def uploader_script():
    import streamlit as st

    from dashboard.components.text_input import lines_upload

    lines = lines_upload("Texts", key="texts", empty_hint="Upload a CSV with a text column, or a TXT file.")
    if lines is not None:
        st.text(f"{len(lines)} lines: {lines}")


def uploaded(name: str, data: bytes) -> AppTest:
    app_test = AppTest.from_function(uploader_script).run()
    app_test.file_uploader[0].upload(name, data, "text/csv").run()
    assert_no_exception(app_test)
    return app_test


def live_markup(markdown: str) -> str:
    """What of a Markdown message can be read as markup, by CommonMark's rules read left to right: a backslash
    makes the next punctuation mark plain text, and a run of backticks opens a code span (all plain text) that
    the next run of the same length closes. Both are left out; the rest is returned."""
    live, position = [], 0
    while position < len(markdown):
        if markdown[position] == "\\" and position + 1 < len(markdown):
            position += 2
            continue
        fence = re.match(r"`+", markdown[position:])
        if fence:
            closing = re.compile(rf"(?<!`){fence.group()}(?!`)").search(markdown, fence.end() + position)
            if closing:
                position = closing.end()
                continue
        live.append(markdown[position])
        position += 1
    return "".join(live)


def test_csv_with_an_unclosed_quote_keeps_its_rows_and_says_why():
    app_test = uploaded("tweets.csv", b'text\n"what a flight\nlost my bag\n')
    assert not app_test.error  # it used to say "the table has a header but no rows"
    assert app_test.text[0].value == "2 lines: ['\"what a flight', 'lost my bag']"
    assert any("Line 2 opens a quote" in warning.value for warning in app_test.warning)


def test_rows_with_too_many_cells_are_counted_not_dropped_silently():
    read = read_table("text,label\nfine,1\nnot, fine,2\nalso fine,3\n")
    assert list(read.table["text"]) == ["fine", "also fine"]
    assert read.notes == ["1 row(s) have more cells than the header has columns and were left out."]


def test_a_quoted_cell_over_two_lines_is_one_row_without_a_note():
    read = read_table('text\n"one cell\nover two lines"\nnext\n')
    assert list(read.table["text"]) == ["one cell\nover two lines", "next"] and read.notes == []


def test_column_and_file_names_are_not_markdown():
    app_test = uploaded(f"{INJECTION}.csv", f"id;{INJECTION}\n1;great service\n".encode())
    messages = [element.value for kind in ("warning", "caption") for element in getattr(app_test, kind)]
    assert any("click me" in message for message in messages)
    for message in messages:
        assert "](" not in live_markup(message), message
    app_test.selectbox(key="texts-column").set_value(INJECTION).run()
    assert app_test.text[0].value == "1 lines: ['great service']"
    for caption in app_test.caption:
        assert "](" not in live_markup(caption.value) and "[click" not in live_markup(caption.value)


def test_upload_mode_gives_an_upload_hint_and_the_uploader_its_limit():
    app_test = AppTest.from_function(uploader_script).run()
    assert "Upload a CSV with a text column" in page_texts(app_test)
    assert app_test.file_uploader[0].proto.max_upload_size_mb == MAX_TEXT_MB
    assert f"up to {MAX_TEXT_MB} MB" in app_test.file_uploader[0].proto.help


def entry_script():
    import streamlit as st

    from dashboard.components.text_input import text_entry

    text = text_entry("Tweets", key="tweets", action="Classify", empty_hint="Type a tweet, then press Classify.")
    st.text(f"classified: {text!r}")


def test_text_is_used_when_the_button_is_pressed_not_while_typing():
    app_test = AppTest.from_function(entry_script).run()
    assert [button.label for button in app_test.button] == ["Classify"]
    assert "Type a tweet, then press Classify." in page_texts(app_test)
    app_test.text_area(key="tweets").input("half-typed").run()  # focus leaves the box: nothing is classified
    assert app_test.text[0].value == "classified: ''"
    app_test.text_area(key="tweets").input("love the crew")
    app_test.button(key="tweets-submit").click().run()
    assert app_test.text[0].value == "classified: 'love the crew'" and not app_test.info


def test_markdown_helpers_leave_nothing_live():
    hostile = INJECTION + " :red[x]: <b>*hi*</b> $x$ # heading"
    assert not re.search(r"[\[\]()<>:`*_$#]", live_markup(literal(hostile)))
    assert re.search(r"[\[\]()<>:`*_$#]", live_markup(hostile))  # the check can fail
    assert live_markup(code(INJECTION + " www.example.com")) == "" and code("id") == "`id`"
    assert code("`a") == "`` `a ``" and code("a\nb") == "`a b`"


def test_downloads_neutralise_spreadsheet_formulas():
    table = pd.DataFrame(
        {
            "tweet": [
                '=HYPERLINK("https://example.com","prize")',
                "+cmd|' /C calc'!A0",
                "@SUM(A1)",
                "-1+2",
                "\tindented",
                "\rreturn",
                "a fine tweet",
                "mid = text",
            ],
            "probability": [0.5, -0.25, 1.0, 0.75, 0.5, 0.5, 0.9, 0.6],
        }
    )
    safe = spreadsheet_safe(table)
    assert list(safe["tweet"]) == ["'" + cell for cell in table["tweet"][:6]] + ["a fine tweet", "mid = text"]
    assert list(safe["probability"]) == list(table["probability"])  # a negative number is not a formula
    assert list(table["tweet"])[0].startswith("=")  # the page's own table is left as it is
    lines = csv_download(table).decode().splitlines()
    assert lines[1] == '"\'=HYPERLINK(""https://example.com"",""prize"")",0.5'
    assert lines[2] == "\"'+cmd|' /C calc'!A0\",-0.25"
