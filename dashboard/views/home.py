"""Home: what RNN Lab is, the five topologies, and the state of each one's champion model."""

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.components.runs import run_catalogue
from dashboard.components.topologies import diagram
from dashboard.components.topology_registry import TOPOLOGY_UI
from dashboard.components.user_text import literal
from dashboard.navigation import built
from models import TOPOLOGIES, store

st.title(":material/all_inclusive: RNN Lab")
st.markdown(
    "RNN Lab demonstrates the five classic recurrent-network topologies on real models trained on real data. "
    "Every training run is tracked in MLflow, so each page can compare runs: RNN vs GRU vs LSTM, uni- vs "
    "bidirectional, attention vs none, recurrent vs plain, and a non-neural peer on the same test set."
)

pages = st.session_state["topology_pages"]
columns = st.columns(len(TOPOLOGIES))
for column, (name, topology) in zip(columns, TOPOLOGIES.items()):
    with column:
        diagram(name, height=110)
        st.page_link(pages[name], label=f"**{topology.title}**", icon=TOPOLOGY_UI[name].icon)
        st.caption(TOPOLOGY_UI[name].demo + ("" if built(name) else " · *not built yet*"))


def status_row(name: str) -> dict:
    catalogue = run_catalogue(name)
    champion = next((run for run in catalogue.runs if run.champion), None)
    row = {"topology": TOPOLOGIES[name].title, "page": "built" if built(name) else "not built yet"}
    if champion is None:
        return row
    selection = champion.tags.get(store.SELECTION_TAG, "")
    test_metric = "test_" + selection.removeprefix("best_val_")
    size = champion.tags.get(store.CHECKPOINT_BYTES_TAG)
    row.update(
        {
            "champion run": champion.run_name,
            "test metric": f"{test_metric.removeprefix('test_')} {champion.metrics[test_metric]:.4f}"
            if test_metric in champion.metrics
            else "—",
            "parameters": f"{int(champion.params['model.parameters']):,}"
            if "model.parameters" in champion.params
            else "—",
            "size on disk": f"{int(size) / 2**20:.2f} MB" if size else "—",
            "trained": datetime.fromtimestamp(champion.end_time / 1000).strftime("%Y-%m-%d %H:%M")
            if champion.end_time
            else "—",
            "source": "MLflow" if catalogue.from_tracking else "shipped bundle",
        }
    )
    return row


st.header("Champions")
st.dataframe(pd.DataFrame([status_row(name) for name in TOPOLOGIES]), hide_index=True, width="stretch")
errors = {run_catalogue(name).tracking_error for name in TOPOLOGIES} - {None}
for error in errors:
    st.warning(
        f"**Tracking is unavailable**; the table shows the shipped models. {literal(error)}", icon=":material/warning:"
    )
st.caption("Run `make mlflow-ui` to open the same runs in MLflow's own UI.")
