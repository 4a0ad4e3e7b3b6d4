"""RNN Lab: `streamlit run dashboard/app.py` (or `make run`)."""
import streamlit as st

import dashboard.runtime  # noqa: F401  (process-wide torch settings)
from dashboard.navigation import VIEWS, topology_pages

st.set_page_config(page_title="RNN Lab", page_icon=":material/all_inclusive:", layout="wide")
home = st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True)
experiments = st.Page(VIEWS / "experiments.py", title="Experiments", icon=":material/science:", url_path="experiments")
st.session_state["topology_pages"] = topology_pages()
st.navigation({"RNN Lab": [home, experiments], "Topologies": list(st.session_state["topology_pages"].values())}).run()
