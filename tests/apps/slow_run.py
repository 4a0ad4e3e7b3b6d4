"""A page whose run keeps going after everything above it is drawn again: what a model-heavy rerun looks like to
the browser, for testing tests/browser.py's wait_until_idle."""

import time

import streamlit as st

if st.button("Run slowly"):
    st.write("Working…")
    time.sleep(4)
    st.write("Finished the slow run")
