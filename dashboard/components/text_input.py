"""Text in: a text box with the button people expect, and uploads (CSV or plain text) checked before they reach a
model: a binary file, a file that is not UTF-8, a broken CSV or one without the expected column each gets a clear
message, never a stack trace."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from dashboard.components.user_text import code, literal

TEXT_TYPES = ["csv", "txt", "tsv"]
MAX_TEXT_MB = 50  # the one size limit for text files: the uploader refuses bigger files and says so in its box
MAX_TEXT_BYTES = MAX_TEXT_MB * 1024 * 1024
# Bytes that never occur in text files; a few in the first 8 kB mean an image, archive or executable.
BINARY_BYTES = set(range(0x00, 0x09)) | {0x0B, 0x0E, 0x0F} | set(range(0x10, 0x20)) - {0x1B}
TEXT_COLUMN_NAMES = ("text", "tweet", "tweets", "content", "message", "sentence")


class TextRejected(ValueError):
    """An upload the app cannot read as text; the message is written for the person who uploaded it."""


@dataclass
class DecodedText:
    text: str
    notes: list[str] = field(default_factory=list)  # what was done to read it, said on the page


@dataclass
class DecodedTable:
    table: pd.DataFrame  # every cell a string
    notes: list[str] = field(default_factory=list)  # what was done to read it, said on the page


def decode_text(data: bytes) -> DecodedText:
    """UTF-8 (with or without a byte-order mark); Latin-1 when that fails, which reads any byte but may turn
    accents into the wrong letters, so the page says so."""
    if not data:
        raise TextRejected("The file is empty.")
    if len(data) > MAX_TEXT_BYTES:
        raise TextRejected(f"The file is {len(data) / 2**20:.0f} MB; text files up to {MAX_TEXT_MB} MB are accepted.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark ("Unicode text" exports)
        try:
            return DecodedText(data.decode("utf-16"))
        except UnicodeDecodeError:
            raise TextRejected("The file starts like UTF-16 text but is not valid UTF-16.") from None
    head = data[:8192]
    if head.count(0) or sum(byte in BINARY_BYTES for byte in head) > len(head) * 0.01:
        raise TextRejected(
            "This looks like a binary file (an image, archive or program), not text. Upload a CSV or "
            "a plain-text file with one entry per line."
        )
    try:
        return DecodedText(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        note = (
            f"The file is not UTF-8 (byte {error.start:,} is invalid), so it was read as Latin-1: accented "
            "letters may come out wrong. Save it as UTF-8 for an exact reading."
        )
        return DecodedText(data.decode("latin-1"), [note])


def unclosed_quote_line(text: str, delimiter: str) -> int | None:
    """The line on which a quote opens that the file never closes, or None. A CSV reader takes such a quote for the
    start of one cell running to the end of the file, so every row after it would vanish into that cell."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    read_up_to = 0
    try:
        for _ in reader:
            read_up_to = reader.line_num
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            return read_up_to + 1
    return None


def read_table(text: str, delimiter: str | None = None) -> DecodedTable:
    """A CSV (or TSV) as strings; the delimiter is sniffed when not given. Rows that cannot be read as they are
    (an unclosed quote, more cells than the header) are read another way or left out, and the notes say which."""
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    notes, quoting = [], csv.QUOTE_MINIMAL
    unclosed = unclosed_quote_line(text, delimiter)
    if unclosed:
        notes.append(
            f'Line {unclosed:,} opens a quote (") that is never closed, so quotes were read as ordinary '
            "characters and every line is one row."
        )
        quoting = csv.QUOTE_NONE
    too_long = []

    def leave_out(cells: list[str]) -> None:
        too_long.append(cells)  # returning None tells pandas to skip the row

    try:
        table = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            quoting=quoting,
            skip_blank_lines=True,
            on_bad_lines=leave_out,
            engine="python",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        raise TextRejected(f"The file cannot be read as a table: {literal(error)}") from None
    if too_long:
        notes.append(f"{len(too_long):,} row(s) have more cells than the header has columns and were left out.")
    return DecodedTable(table, notes)


def text_column(table: pd.DataFrame, key: str) -> str | None:
    """The column holding the texts: one with a usual name, else the user's pick (None until picked)."""
    for column in table.columns:
        if str(column).strip().lower() in TEXT_COLUMN_NAMES:
            return column
    columns = ", ".join(code(column) for column in table.columns)
    st.warning(
        f"No column named {' / '.join(TEXT_COLUMN_NAMES[:2])} in this CSV. Columns found: {columns}. "
        "Pick the one that holds the texts."
    )
    return st.selectbox(
        "Column with the texts", list(table.columns), index=None, key=f"{key}-column", placeholder="Choose a column"
    )


def lines_upload(label: str, key: str, empty_hint: str | None = None) -> list[str] | None:
    """A CSV / TXT uploader: the texts of a CSV's text column, or a text file's lines; None until there is a usable
    file. Until a file is uploaded, ``empty_hint`` (when given) says what to upload; any problem with a file is
    explained."""
    uploaded = st.file_uploader(
        label,
        type=TEXT_TYPES,
        key=key,
        max_upload_size=MAX_TEXT_MB,
        help="A CSV with a text column (or any column you pick), or a .txt file with one "
        f"entry per line; UTF-8 preferred, up to {MAX_TEXT_MB} MB.",
    )
    if uploaded is None:
        if empty_hint:
            st.info(empty_hint)
        return None
    name = code(uploaded.name)
    try:
        decoded = decode_text(uploaded.getvalue())
        for note in decoded.notes:
            st.warning(f"**{name}**: {note}")
        if not uploaded.name.lower().endswith((".csv", ".tsv")):
            return decoded.text.splitlines()
        read = read_table(decoded.text, "\t" if uploaded.name.lower().endswith(".tsv") else None)
    except TextRejected as error:
        st.error(f"**{name}**: {error}")
        return None
    for note in read.notes:
        st.warning(f"**{name}**: {note}")
    table = read.table
    if table.empty:
        st.error(f"**{name}**: the table has a header but no rows.")
        return None
    column = text_column(table, key)
    if column is None:
        return None
    st.caption(f"{len(table):,} rows read from **{name}**, column {code(column)}.")
    return table[column].tolist()


def text_entry(label: str, key: str, action: str, empty_hint: str, placeholder: str = "", height: int = 180) -> str:
    """A text box with the button people expect (``action``: "Classify", "Translate"): its text is used when the
    button is pressed or on Ctrl+Enter, never half-typed, nor when the box merely loses focus. Returns the text
    last submitted (the box's starting value before any); while that is blank, ``empty_hint`` says what to do.
    Setting ``st.session_state[key]`` before the call (an example picked) puts text in the box and uses it. The
    button's key is ``f"{key}-submit"``."""
    with st.form(f"{key}-form", border=False):
        text = st.text_area(label, key=key, height=height, placeholder=placeholder)
        st.form_submit_button(action, type="primary", icon=":material/play_arrow:", key=f"{key}-submit")
    if not text.strip():
        st.info(empty_hint)
    return text
