"""RNN Lab: `streamlit run dashboard/app.py` (or `make run`)."""

import sqlite3

import streamlit as st

import dashboard.runtime  # noqa: F401  (process-wide torch settings)
from dashboard.navigation import VIEWS, topology_pages
from models import jobs


@st.cache_resource(show_spinner=False)
def reconcile_jobs_on_start() -> None:
    """Once per server process: a job whose process died while the dashboard was down ends FAILED or KILLED (never
    stays RUNNING), and queued jobs start. A queue that cannot be opened is the Experiments page's to report."""
    try:
        jobs.reconcile()
    except (OSError, sqlite3.Error):
        pass


reconcile_jobs_on_start()

st.set_page_config(page_title="RNN Lab", page_icon=":material/all_inclusive:", layout="wide")
home = st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True)
experiments = st.Page(VIEWS / "experiments.py", title="Experiments", icon=":material/science:", url_path="experiments")
st.session_state["topology_pages"] = topology_pages()
st.navigation({"RNN Lab": [home, experiments], "Topologies": list(st.session_state["topology_pages"].values())}).run()
