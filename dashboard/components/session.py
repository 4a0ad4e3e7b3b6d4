"""What a page keeps in st.session_state. Keys have one style, "<topology>-<what>" (a page's name in place of a
topology's: "experiments-topology"), widget keys included, so that no two pages' keys meet and a test finds a
widget by the same name the page gives it."""

from __future__ import annotations

from typing import Callable, TypeVar

import streamlit as st

Value = TypeVar("Value")


def kept_for_session(key: str, identity: object, compute: Callable[[], Value]) -> Value:
    """``compute()`` once per ``identity`` in this session, kept under ``key``: a rerun from a widget (a scrubber, a
    tab) must not compute again. Only the latest identity is kept, so an old result holds no memory."""
    saved = st.session_state.get(key)
    if saved is None or saved[0] != identity:
        saved = (identity, compute())
        st.session_state[key] = saved
    return saved[1]
