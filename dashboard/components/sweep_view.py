"""A hyper-parameter sweep on a page: its trials, the score against every parameter together (parallel coordinates)
and against each alone, which parameters matter (fANOVA) and on how many trials that rests, and the best trial
with a promote action the embedding page supplies. Sweeps are read from MLflow (models.sweep_store), or from the
shipped sweep bundles while tracking is unavailable."""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.components.runs import tracking_error
from dashboard.components.user_text import code, literal
from models import store
from models.sweep_store import Sweep, Trial, list_sweeps, parameter_importance, shipped_sweeps

REFRESH_S = 10  # a running sweep adds a trial every minute or so; a page sees it this many seconds later at most


def trials_table(sweep: Sweep) -> pd.DataFrame:
    """One row per trial: its number, state, searched values, best validation score and epochs trained."""
    rows = [
        {
            "trial": trial.number,
            "state": trial.state,
            **trial.params,
            sweep.objective: trial.value,
            "epochs": len(trial.history),
        }
        for trial in sweep.trials
    ]
    return pd.DataFrame(rows, columns=["trial", "state", *(p.name for p in sweep.space), sweep.objective, "epochs"])


def _axis_values(sweep: Sweep, trials: list[Trial], name: str) -> tuple[list, dict]:
    """A parameter's values as numbers on a parallel-coordinates axis, and the axis' tick settings: categories by
    their index, log-scaled parameters by their log10 with the real values on the ticks."""
    parameter = next(p for p in sweep.space if p.name == name)
    values = [trial.params[name] for trial in trials]
    if parameter.kind == "categorical":
        labels = [str(choice) for choice in parameter.choices]
        return [labels.index(str(value)) for value in values], {
            "tickvals": list(range(len(labels))),
            "ticktext": labels,
            "range": [0, len(labels) - 1],
        }
    if parameter.log:
        low, high = math.floor(math.log10(parameter.low)), math.ceil(math.log10(parameter.high))
        ticks = [
            10**power * step
            for power in range(low, high + 1)
            for step in (1, 2, 5)
            if parameter.low <= 10**power * step <= parameter.high
        ]
        return [math.log10(value) for value in values], {
            "tickvals": [math.log10(t) for t in ticks],
            "ticktext": [f"{t:g}" for t in ticks],
            "range": [math.log10(parameter.low), math.log10(parameter.high)],
        }
    return values, {"range": [parameter.low, parameter.high]}


def parallel_coordinates(sweep: Sweep) -> go.Figure:
    """Every complete trial as one line through its parameter values to its score, coloured by the score."""
    trials = [trial for trial in sweep.trials_in("complete") if len(trial.params) == len(sweep.space)]
    scores = [trial.value for trial in trials]
    dimensions = []
    for parameter in sweep.space:
        values, ticks = _axis_values(sweep, trials, parameter.name)
        dimensions.append({"label": parameter.name + (" (log)" if parameter.log else ""), "values": values, **ticks})
    dimensions.append({"label": sweep.objective, "values": scores})
    figure = go.Figure(
        go.Parcoords(line={"color": scores, "colorscale": "Viridis", "showscale": True}, dimensions=dimensions)
    )
    figure.update_layout(height=380, margin=dict(t=50, b=20, l=60, r=60))
    return figure


def metric_by_parameter(sweep: Sweep) -> go.Figure:
    """The best validation score of every trial against each parameter alone; pruned trials, whose scores stop
    early, as grey crosses."""
    figure = make_subplots(
        rows=1, cols=len(sweep.space), shared_yaxes=True, subplot_titles=[p.name for p in sweep.space]
    )
    for column, parameter in enumerate(sweep.space, start=1):
        for state, marker in (
            ("complete", dict(color="#1f77b4", size=8)),
            ("pruned", dict(color="#aaaaaa", size=8, symbol="x")),
        ):
            trials = [t for t in sweep.trials_in(state) if parameter.name in t.params and t.value is not None]
            figure.add_trace(
                go.Scatter(
                    x=[
                        str(t.params[parameter.name]) if parameter.kind == "categorical" else t.params[parameter.name]
                        for t in trials
                    ],
                    y=[t.value for t in trials],
                    mode="markers",
                    marker=marker,
                    name=state,
                    legendgroup=state,
                    showlegend=column == 1,
                    text=[f"trial {t.number}" for t in trials],
                ),
                row=1,
                col=column,
            )
        if parameter.log:
            figure.update_xaxes(type="log", row=1, col=column)
        if parameter.kind == "categorical":
            figure.update_xaxes(
                type="category",
                categoryorder="array",
                categoryarray=[str(c) for c in parameter.choices],
                row=1,
                col=column,
            )
    figure.update_yaxes(title_text=sweep.objective, row=1, col=1)
    figure.update_layout(height=320, margin=dict(t=40, b=20, l=10, r=10))
    return figure


def importance_figure(importance: dict[str, float]) -> go.Figure:
    """Each parameter's share of the score's variance, largest on top."""
    ranked = sorted(importance.items(), key=lambda item: item[1])
    figure = go.Figure(
        go.Bar(
            x=[share for _, share in ranked],
            y=[name for name, _ in ranked],
            orientation="h",
            text=[f"{share:.0%}" for _, share in ranked],
            textposition="auto",
        )
    )
    figure.update_layout(
        height=60 + 40 * len(ranked),
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(range=[0, 1], title="share of the score's variance (fANOVA)"),
    )
    return figure


def importance_caption(sweep: Sweep, rests_on: int) -> str:
    pruned = len(sweep.trials_in("pruned"))
    left_out = f"; {pruned} pruned trials are left out, their scores stop early" if pruned else ""
    caution = " A ranking on so few trials is rough." if rests_on < 20 else ""
    return f"Rests on {rests_on} complete trials{left_out}.{caution}"


def sweep_label(sweep: Sweep) -> str:
    return f"{sweep.study} · {len(sweep.trials)} trials · {sweep.status.lower()}"


@st.cache_data(ttl=REFRESH_S, show_spinner=False)
def _stored_sweeps(topology: str, dry_run: bool, tracking_uri: str) -> list[Sweep]:
    return list_sweeps(topology, dry_run)


def topology_sweeps(topology: str, dry_run: bool = False) -> tuple[list[Sweep], str | None]:
    """The topology's sweeps (or dry-run sweeps) from tracking, or the shipped ones with the reason tracking could
    not be used."""
    error = tracking_error()
    if error is None:
        try:
            return _stored_sweeps(topology, dry_run, store.tracking_uri()), None
        except store.TrackingUnavailable as unavailable:
            error = str(unavailable)
    return shipped_sweeps(topology), error


def render_best_trial(sweep: Sweep, on_promote: Callable[[Trial], None] | None, key: str) -> None:
    best = sweep.best_trial
    if best is None:
        st.info("No trial has completed yet.")
        return
    st.markdown(
        f"**Best trial: {best.number}** ({code(best.run_name)}), {literal(sweep.objective)} "
        f"**{best.value:.4f}** after {len(best.history)} epochs"
    )
    st.dataframe(pd.DataFrame([best.params]), hide_index=True)
    if best.has_checkpoint and on_promote is not None:
        if st.button(f"Promote trial {best.number}", key=f"{key}-promote"):
            on_promote(best)
    elif not best.has_checkpoint:
        st.caption(
            "This trial kept no checkpoint (a shipped sweep carries results only). To serve its settings, "
            "train them as a full run on the sweep's recipe:"
        )
        recipe = ["--config", sweep.config_file] if sweep.config_file else []
        st.code(
            " ".join(
                [
                    "python -m training.train",
                    sweep.topology,
                    *recipe,
                    *(f"--set {argument}" for argument in best.set_arguments()),
                ]
            ),
            language="bash",
        )


def render_sweep(sweep: Sweep, on_promote: Callable[[Trial], None] | None = None, key: str = "sweep") -> None:
    """One sweep: trial counts, charts, importance and its best trial. ``on_promote(trial)`` runs when the person
    presses Promote on the best trial (shown only for a trial that kept a checkpoint)."""
    counts = ", ".join(
        f"{len(sweep.trials_in(state))} {state}"
        for state in ("complete", "pruned", "failed", "running")
        if sweep.trials_in(state)
    )
    minutes = f", {sweep.duration_s / 60:.1f} min" if sweep.duration_s else ""
    st.caption(
        f"Sweep {code(sweep.study)} ({sweep.status.lower()}{minutes}): {counts or 'no trials yet'}. "
        f"Each trial maximises {literal(sweep.objective)} on validation."
    )
    if not sweep.trials:
        return
    render_best_trial(sweep, on_promote, key)
    if sweep.trials_in("complete"):
        st.plotly_chart(parallel_coordinates(sweep), key=f"{key}-parallel")
    st.plotly_chart(metric_by_parameter(sweep), key=f"{key}-by-parameter")
    importance, rests_on = parameter_importance(sweep)
    st.markdown("**Parameter importance**")
    if importance:
        st.plotly_chart(importance_figure(importance), key=f"{key}-importance")
        st.caption(importance_caption(sweep, rests_on))
    else:
        st.caption(f"Importance needs at least 2 complete trials; this sweep has {rests_on}.")
    with st.expander("All trials"):
        st.dataframe(trials_table(sweep), hide_index=True)


def render_sweeps(
    topology: str, on_promote: Callable[[Trial], None] | None = None, dry_run: bool = False, key: str = "sweeps"
) -> None:
    """The topology's sweeps (``dry_run``: its dry-run sweeps), a picker when there are several, and the chosen one
    (render_sweep)."""
    sweeps, error = topology_sweeps(topology, dry_run)
    if error:
        st.info(f"Tracking is unavailable, so these are the shipped sweeps: {literal(error)}")
    if not sweeps:
        st.info(
            f"No sweep of this topology yet: `python -m training.sweep {topology} --space <space file> "
            "--trials 24` starts one (training/sweeps/ holds the space files)."
        )
        return
    chosen = st.selectbox("Sweep", sweeps, format_func=sweep_label, key=f"{key}-pick") if len(sweeps) > 1 else sweeps[0]
    render_sweep(chosen, on_promote, key)
