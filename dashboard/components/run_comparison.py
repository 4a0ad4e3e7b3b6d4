"""Compare an experiment's runs: a table, overlaid learning curves, the params that differ, and final test metrics.
Evaluation-only runs (a non-neural peer scored on the same test split) appear in the table and the bars."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.components.runs import run_catalogue, tracking_notice
from models import store

# Params that say what a run *is*, shown as columns of the table when present.
KEY_PARAMS = ("model.arch", "model.cell", "model.bidirectional", "model.recurrence", "model.attention",
              "model.pooling", "epochs", "lr", "batch_size", "model.parameters", "peer")
BOOKKEEPING_METRICS = ("lr", "epoch_seconds", "samples_per_sec")
COLOURS = px.colors.qualitative.Plotly
PANELS_PER_ROW = 6


def final_metrics(runs: list[store.RunSummary], headline: tuple[str, ...] | None = None) -> list[str]:
    """The held-out metrics to show: ``headline`` where a page names them (those some run has), else every
    ``test_*`` metric but the loss."""
    logged = {k for run in runs for k in run.metrics}
    if headline:
        return [m for m in headline if m in logged]
    return sorted(k for k in logged if k.startswith("test_") and k != "test_loss")


def runs_table(runs: list[store.RunSummary], headline: tuple[str, ...] | None = None) -> pd.DataFrame:
    metrics = final_metrics(runs, headline) if headline else \
        sorted({k for run in runs for k in run.metrics if k.startswith("test_")})
    rows = []
    for run in runs:
        row = {"run": run.run_name, "champion": run.champion,
               "kind": "evaluation only" if run.evaluation_only else "trained"}
        row.update({key: run.params[key] for key in KEY_PARAMS if key in run.params})
        row.update({key: round(run.metrics[key], 4) for key in sorted(metrics) if key in run.metrics})
        row["duration (s)"] = round(run.duration_s, 1) if run.duration_s else None
        rows.append(row)
    return pd.DataFrame(rows)


def differing_params(runs: list[store.RunSummary]) -> pd.DataFrame:
    """The params that tell the runs apart: those on which the trained runs differ, and those only a non-neural
    peer has (what it is). A peer has no epochs or learning rate; that alone is not a difference worth a row."""
    keys = sorted(set().union(*(run.params for run in runs)))
    table = pd.DataFrame({run.run_name: [run.params.get(k, "—") for k in keys] for run in runs}, index=keys)
    trained = [run for run in runs if not run.evaluation_only]
    trained_differ = table[[run.run_name for run in trained]].nunique(axis=1) > 1
    peer_only = ~table.index.isin(list(set().union(*(run.params for run in trained))))
    return table[trained_differ | peer_only]


@st.cache_data(ttl=60, show_spinner=False)
def _history(run: store.RunSummary, key: str) -> list[tuple[int, float, int]]:
    return store.run_history(run, key)


def run_colours(runs: list[store.RunSummary]) -> dict[str, str]:
    """A run keeps one colour in every chart of the comparison."""
    return {run.run_name: COLOURS[index % len(COLOURS)] for index, run in enumerate(runs)}


def curves_figure(runs: list[store.RunSummary], metric: str, by_time: bool, colours: dict[str, str]) -> go.Figure:
    figure = go.Figure()
    for run in runs:
        points = _history(run, metric)
        if not points:
            continue
        steps, values, stamps = zip(*points)
        x = [(t - stamps[0]) / 1000 for t in stamps] if by_time else steps
        figure.add_scatter(x=x, y=values, mode="lines+markers", name=run.run_name, line_color=colours[run.run_name])
    figure.update_layout(title=metric, xaxis_title="seconds since first point" if by_time else "epoch",
                         height=320, margin=dict(t=40, b=30, l=10, r=10), legend=dict(orientation="h"))
    return figure


def test_metrics_figure(runs: list[store.RunSummary], colours: dict[str, str],
                        headline: tuple[str, ...] | None = None) -> go.Figure:
    """One panel per held-out metric, each on its own scale: accuracies, BLEU and throughputs do not share an
    axis."""
    metrics = final_metrics(runs, headline)
    columns = min(max(len(metrics), 1), PANELS_PER_ROW)
    rows = max(-(-len(metrics) // columns), 1)  # captioning logs about twenty: wrap them, or no title is legible
    titles = metrics if headline else [m.removeprefix("test_") for m in metrics]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, vertical_spacing=0.35 / rows)
    for index, metric in enumerate(metrics):
        for run in runs:
            figure.add_bar(name=run.run_name, x=[run.run_name], y=[run.metrics.get(metric)],
                           row=index // columns + 1, col=index % columns + 1,
                           marker_color=colours[run.run_name], showlegend=index == 0)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(title="Final metrics on held-out data", height=90 + 270 * rows,
                         margin=dict(t=70, b=20, l=10, r=10), legend=dict(orientation="h"), bargap=0.15)
    return figure


def default_curves(runs: list[store.RunSummary], curve_metrics: list[str]) -> list[str]:
    """Two curves: the metric the champion is chosen by, the validation loss, then other validation metrics."""
    selection = {run.tags.get(store.SELECTION_TAG, "").removeprefix("best_") for run in runs}
    ranked = ([m for m in curve_metrics if m in selection] + [m for m in curve_metrics if m == "val_loss"]
              + [m for m in curve_metrics if m.startswith("val_")])
    return list(dict.fromkeys(ranked))[:2] or curve_metrics[:1]


def run_comparison(topology: str, headline_metrics: tuple[str, ...] | None = None) -> None:
    st.header("Compare runs")
    catalogue = run_catalogue(topology)
    tracking_notice(catalogue)
    runs = catalogue.runs
    if not runs:
        st.info("No runs logged for this topology yet.")
        return
    st.dataframe(runs_table(runs, headline_metrics), hide_index=True, width="stretch")
    names = [run.run_name for run in runs]
    chosen_names = st.multiselect("Runs to compare", names, default=names[:4], key=f"{topology}-compare")
    chosen = [run for run in runs if run.run_name in chosen_names]
    if not chosen:
        st.info("Pick at least one run to compare.")
        return
    trained = [run for run in chosen if not run.evaluation_only]
    colours = run_colours(chosen)
    curve_metrics = sorted({k for run in trained for k in run.metrics
                            if not k.startswith(("test_", "best_")) and k not in BOOKKEEPING_METRICS})
    if trained and curve_metrics:
        default = default_curves(trained, curve_metrics)
        left, right = st.columns([3, 1])
        metrics = left.multiselect("Learning curves", curve_metrics + list(BOOKKEEPING_METRICS), default=default,
                                   key=f"{topology}-curves")
        by_time = right.radio("x axis", ["epoch", "wall time"], key=f"{topology}-axis", horizontal=True) == "wall time"
        columns = st.columns(2)
        for index, metric in enumerate(metrics):
            columns[index % 2].plotly_chart(curves_figure(trained, metric, by_time, colours), width="stretch")
    st.plotly_chart(test_metrics_figure(chosen, colours, headline_metrics), width="stretch")
    if len(chosen) > 1:
        st.subheader("Params that differ")
        differing = differing_params(chosen)
        if differing.empty:
            st.caption("The chosen runs share every param.")
        else:
            st.dataframe(differing, width="stretch")
    st.caption("The same runs, with every param, metric and artifact, are in MLflow's own UI: `make mlflow-ui`, "
               "then open http://127.0.0.1:5000 (experiment "
               f"`{store.experiment_name(topology)}`).")
