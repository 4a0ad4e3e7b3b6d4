"""The shared text box with its button, alone on a page, for a browser test."""

import streamlit as st

from dashboard.components.text_input import text_entry

text = text_entry("Tweets", key="tweets", action="Classify", empty_hint="Type a tweet, then press Classify.")
st.text(f"classified: {text!r}")
