"""Experiments: launch a training run or a sweep from the browser, watch it live, compare it with the others,
promote one."""

import streamlit as st

from dashboard.components import experiments
from dashboard.components.runs import tracking_error
from dashboard.components.user_text import literal
from models import TOPOLOGIES

st.title(":material/science: Experiments")
st.caption(
    "Every run here is a `python -m training.train` process of its own, queued on this server and tracked "
    "in MLflow; closing the browser or restarting the dashboard does not stop it."
)
topology = st.selectbox(
    "Topology", list(TOPOLOGIES), format_func=lambda name: TOPOLOGIES[name].title, key="experiments-topology"
)

if experiments.training_allowed():
    st.header("Launch a run")
    experiments.launch_form(topology)
else:
    st.info(
        f"Launching, stopping and changing runs is switched off on this server "
        f"({experiments.ALLOW_TRAINING_ENV}=0). The runs and their reports can still be watched and compared.",
        icon=":material/lock:",
    )

st.header("Jobs")
experiments.watch(topology)

st.header("Sweeps")
experiments.sweeps(topology)

st.header("Runs")
if error := tracking_error():
    st.warning(f"**Tracking is unavailable**, so no run can be listed. {literal(error)}", icon=":material/warning:")
    st.stop()
runs = experiments.tracked_runs(topology)
if not runs:
    st.info("No run of this topology in the tracking store yet.")
    st.stop()
experiments.runs_overview(runs)
experiments.run_inspector(topology, runs)
experiments.deleted_runs(topology)
experiments.champion_history(topology, runs)
