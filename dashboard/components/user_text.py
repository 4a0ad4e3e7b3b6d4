"""Strings that come from users (file names, column names, cell text) on the page and in downloads: shown as the
text they are, never as Markdown or HTML, and never run as a formula by the spreadsheet that opens a download."""

from __future__ import annotations

import csv
import html
import re

import pandas as pd
import streamlit as st

# What can start markup inside a line: CommonMark's links, images, emphasis, code, HTML and entities, GitHub's
# tables and strikethrough, Streamlit's LaTeX ($), icons and colours (:name:, :red[…]). A backslash makes each a
# plain character. Bare URLs and e-mail addresses are linked after parsing, escaped or not: see code().
MARKUP = re.compile(r"([\\`*_~\[\](){}<>!#|$:&+\-=^])")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def one_line(text: object) -> str:
    return " ".join(str(text).splitlines())


def literal(text: object) -> str:
    """Text from a library (an error message) ready to sit inside a Markdown message (st.error, st.caption, …):
    every mark that could start markup is escaped, and line breaks become spaces, so no heading or list can start
    either. Names a user chose (files, columns, runs) go through code(), which also stops bare links."""
    return MARKUP.sub(r"\\\1", one_line(text))


def code(text: object) -> str:
    """``text`` as inline code in a Markdown message, shown exactly as typed: nothing inside a code span is markup
    (not even a bare www. address, which Streamlit links in plain text however it is escaped), and the span is
    fenced with more backticks than any run of them in the text, so the text cannot close it early."""
    text = one_line(text)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells cannot run as formulas: one that starts with = + - @, a tab or a
    carriage return gets a leading single quote, as OWASP's CSV-injection guidance says. Numbers stay numbers
    (a negative number is not a formula), and so do the column names unless they are text that starts so."""

    def neutralised(value):
        return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value

    safe = table.copy()
    safe.columns = [neutralised(column) for column in safe.columns]
    for position, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
            safe.iloc[:, position] = safe.iloc[:, position].map(neutralised)
    return safe


def csv_download(table: pd.DataFrame) -> bytes:
    """``table`` as UTF-8 CSV bytes for st.download_button, safe to open in a spreadsheet. Every text cell is
    quoted (with inner quotes doubled), as OWASP also asks, so a delimiter inside a cell cannot start a new one."""
    return spreadsheet_safe(table).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


CELL_STYLE = "border: 1px solid rgba(49, 51, 63, 0.1); padding: 0.25rem 0.375rem; vertical-align: top"


def text_table(table: pd.DataFrame) -> None:
    """A small table of texts, every cell shown whole and wrapped, as the text it is: st.dataframe cuts a long
    cell to one line, and st.table reads a cell as Markdown (a typed **word** bold, a typed address a link).
    Every header and cell is HTML-escaped, so nothing in them is markup."""
    heading = f"{CELL_STYLE}; font-weight: normal; text-align: left"
    header = "".join(f"<th style='{heading}'>{html.escape(str(name))}</th>" for name in table)
    rows = "".join(
        "<tr>" + "".join(f"<td style='{CELL_STYLE}'>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    st.html(
        "<table style='width: 100%; border-collapse: collapse; font-size: 0.875rem; overflow-wrap: anywhere'>"
        f"<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
    )


def pick_text(label: str, texts: list[str], key: str) -> int:
    """A picker of one of the user's texts (sentences, tweets); returns its index. The numbered texts themselves are
    the options, never equal to each other: a new input is a new set of options, so the picker cannot keep showing
    a text of the previous input, as an index with a label function did."""
    labels = [f"{number}. {text[:80]}" for number, text in enumerate(texts, start=1)]
    return labels.index(st.selectbox(label, labels, key=key))
