"""Text uploads (CSV or plain text), checked before they reach a model: a binary file, a file that is not UTF-8 or a
CSV without the expected column each gets a clear message, never a stack trace."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

TEXT_TYPES = ["csv", "txt", "tsv"]
MAX_TEXT_BYTES = 50 * 1024 * 1024
# Bytes that never occur in text files; a few in the first 8 kB mean an image, archive or executable.
BINARY_BYTES = set(range(0x00, 0x09)) | {0x0B, 0x0E, 0x0F} | set(range(0x10, 0x20)) - {0x1B}
TEXT_COLUMN_NAMES = ("text", "tweet", "tweets", "content", "message", "sentence")


class TextRejected(ValueError):
    """An upload the app cannot read as text; the message is written for the person who uploaded it."""


@dataclass
class DecodedText:
    text: str
    notes: list[str] = field(default_factory=list)  # what was done to read it, said on the page


def decode_text(data: bytes) -> DecodedText:
    """UTF-8 (with or without a byte-order mark); Latin-1 when that fails, which reads any byte but may turn
    accents into the wrong letters, so the page says so."""
    if not data:
        raise TextRejected("The file is empty.")
    if len(data) > MAX_TEXT_BYTES:
        raise TextRejected(f"The file is {len(data) / 2**20:.0f} MB; text files up to {MAX_TEXT_BYTES // 2**20} MB "
                           "are accepted.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark ("Unicode text" exports)
        try:
            return DecodedText(data.decode("utf-16"))
        except UnicodeDecodeError:
            raise TextRejected("The file starts like UTF-16 text but is not valid UTF-16.") from None
    head = data[:8192]
    if head.count(0) or sum(byte in BINARY_BYTES for byte in head) > len(head) * 0.01:
        raise TextRejected("This looks like a binary file (an image, archive or program), not text. Upload a CSV or "
                           "a plain-text file with one entry per line.")
    try:
        return DecodedText(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        note = (f"The file is not UTF-8 (byte {error.start:,} is invalid), so it was read as Latin-1: accented "
                "letters may come out wrong. Save it as UTF-8 for an exact reading.")
        return DecodedText(data.decode("latin-1"), [note])


def read_table(text: str, delimiter: str | None = None) -> pd.DataFrame:
    """A CSV (or TSV) as strings; the delimiter is sniffed when not given."""
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           skip_blank_lines=True, on_bad_lines="warn", engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        raise TextRejected(f"The file cannot be read as a table: {error}") from None


def text_column(table: pd.DataFrame, key: str) -> str | None:
    """The column holding the texts: one with a usual name, else the user's pick (None until picked)."""
    for column in table.columns:
        if str(column).strip().lower() in TEXT_COLUMN_NAMES:
            return column
    columns = ", ".join(f"`{c}`" for c in table.columns)
    st.warning(f"No column named {' / '.join(TEXT_COLUMN_NAMES[:2])} in this CSV. Columns found: {columns}. "
               "Pick the one that holds the texts.")
    return st.selectbox("Column with the texts", list(table.columns), index=None, key=f"{key}-column",
                        placeholder="Choose a column")


def lines_upload(label: str, key: str) -> list[str] | None:
    """A CSV / TXT uploader: the texts of a CSV's text column, or a text file's lines; None until there is a usable
    file (any problem is explained on the page)."""
    uploaded = st.file_uploader(label, type=TEXT_TYPES, key=key,
                                help="A CSV with a text column (or any column you pick), or a .txt file with one "
                                     f"entry per line; UTF-8 preferred, up to {MAX_TEXT_BYTES // 2**20} MB.")
    if uploaded is None:
        return None
    try:
        decoded = decode_text(uploaded.getvalue())
        for note in decoded.notes:
            st.warning(f"**{uploaded.name}**: {note}")
        if not uploaded.name.lower().endswith((".csv", ".tsv")):
            return decoded.text.splitlines()
        table = read_table(decoded.text, "\t" if uploaded.name.lower().endswith(".tsv") else None)
    except TextRejected as error:
        st.error(f"**{uploaded.name}**: {error}")
        return None
    if table.empty:
        st.error(f"**{uploaded.name}**: the table has a header but no rows.")
        return None
    column = text_column(table, key)
    if column is None:
        return None
    st.caption(f"{len(table):,} rows read from **{uploaded.name}**, column `{column}`.")
    return table[column].tolist()
