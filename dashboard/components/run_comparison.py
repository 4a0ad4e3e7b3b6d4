"""Compare an experiment's runs: a scoreboard of the headline metrics, the metrics a user picks as charts grouped by
test set, overlaid learning curves, and the params that tell the runs apart. Evaluation-only runs (a non-neural
peer scored on the same test split) are in the scoreboard and the charts."""

from __future__ import annotations

import math
from functools import partial
from itertools import chain, zip_longest

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.components.runs import run_catalogue, tracking_notice
from models import store

CURVE_PREFIXES = ("val_", "train_", "pretrain_")  # logged every epoch: drawn as learning curves
BEST_PREFIX = "best_"  # the best epoch's validation metric, logged once: a repeat of a curve, not a score
BOOKKEEPING_METRICS = ("lr", "epoch_seconds", "samples_per_sec")
# A word of a metric's name that makes a smaller value the better one (loss, test_seconds, new_test_unfinished).
LOWER_IS_BETTER_WORDS = frozenset({"loss", "seconds", "unfinished", "false", "error", "ms"})
# Which data a final metric was measured on, by its name's prefix. A hold-out set is unlike the training data on
# purpose (newer sentences, unseen garment-colour pairs, a topic left out of training), so it is shown apart.
TEST_GROUP, OTHER_GROUP = "Test split", "Other scores"
METRIC_GROUPS = {
    "test_": TEST_GROUP,
    "new_test_": "Hold-out: newest data",
    "test_holdout_": "Hold-out: unseen combinations",
    "lodo_": "Hold-out: each topic left out of training",
    "general_": "Hold-out: everyday English that is not tweets",
}
# A param that only one kind of architecture uses: (the param choosing the architecture, its value) -> the params
# only that choice reads. A run that has the choosing param but another value shows "—" for them; a run without the
# choosing param (another topology) is not concerned.
PARAMS_ONLY_FOR = {
    ("model.arch", "mlp"): ("model.mlp_hidden",),
    ("model.arch", "cnn"): ("model.cnn_channels", "model.cnn_hidden"),
    ("model.arch", "row_lstm"): ("model.rnn_hidden", "model.rnn_layers", "model.bidirectional"),
    ("model.attention", "True"): ("model.attention_dim",),
    ("model.attention", "False"): ("model.summary_channels",),
    ("model.pooling", "attention"): ("model.attention_dim",),
    ("model.recurrence", "uni"): ("model.state_channels",),
    ("model.recurrence", "bi"): ("model.state_channels",),
}
# A param that a switch turns off: (the switch, its "off" value) -> the params it makes meaningless.
PARAMS_OFF_WHEN = {("model.ngram_buckets", "0"): ("model.ngram_dropout",)}
NOT_APPLICABLE = "—"
MAX_DEFAULT_CHARTS = 6
MAX_SCOREBOARD_METRICS = 5  # per set, where a page names no headline metrics
MAX_DEFAULT_RUNS = 6
PANELS_PER_ROW = 3  # about 270 px a panel at 1280 px: room for a title like "self_driving_macro_f1"
PANEL_HEIGHT = 250
RUN_COLUMN_WIDTH = 235  # px: "bilstm_attention_ngrams_distilled" whole, and five scores beside it at 1280 px
PARAMS_TABLE_WIDTH = 640  # px for the runs' columns of the params table, beside the param names
COLOURS = px.colors.qualitative.Plotly
BEST_MARK = "★"
BEST_BACKGROUND = "background-color: rgba(33, 195, 84, 0.18)"


def lower_is_better(metric: str) -> bool:
    return not LOWER_IS_BETTER_WORDS.isdisjoint(metric.split("_"))


def metric_group(metric: str) -> tuple[str, str]:
    """The group a metric is shown in and its label there (the name without the group's prefix)."""
    for prefix in sorted(METRIC_GROUPS, key=len, reverse=True):  # test_holdout_ before test_
        if metric.startswith(prefix):
            return METRIC_GROUPS[prefix], metric.removeprefix(prefix)
    return OTHER_GROUP, metric


def group_metrics(metrics: list[str]) -> dict[str, list[str]]:
    """The metrics by group, in the given order within each: the test split first, the hold-outs, then the rest."""
    order = [TEST_GROUP, *(g for g in METRIC_GROUPS.values() if g != TEST_GROUP), OTHER_GROUP]
    groups = {group: [m for m in metrics if metric_group(m)[0] == group] for group in order}
    return {group: members for group, members in groups.items() if members}


def scored_metrics(runs: list[store.RunSummary]) -> list[str]:
    """The metrics logged once at the end (not per epoch) that some run has a non-zero value of: an all-zero
    count, like the translations no run left unfinished, would draw an empty panel."""
    return sorted(
        {
            key
            for run in runs
            for key, value in run.metrics.items()
            if not key.startswith((*CURVE_PREFIXES, BEST_PREFIX))
            and key not in BOOKKEEPING_METRICS
            and math.isfinite(value)
            and value != 0
        }
    )


def headline(runs: list[store.RunSummary], headline_metrics: tuple[str, ...] | None) -> list[str]:
    """The page's headline metrics that some run has; where a page names none, the first few test and hold-out
    scores of each set (not the losses), as many as a scoreboard shows at 1280 px."""
    scored = scored_metrics(runs)
    if headline_metrics:
        return [m for m in headline_metrics if m in scored]
    scores = group_metrics([m for m in scored if metric_group(m)[0] != OTHER_GROUP and not lower_is_better(m)])
    return [m for members in scores.values() for m in members[:MAX_SCOREBOARD_METRICS]]


def default_charts(metrics: list[str], limit: int = MAX_DEFAULT_CHARTS) -> list[str]:
    """The first ``limit`` metrics, taken from each group in turn, so the test split and every hold-out set show."""
    interleaved = chain.from_iterable(zip_longest(*group_metrics(metrics).values()))
    return [m for m in interleaved if m is not None][:limit]


def run_kind(run: store.RunSummary) -> str:
    return "evaluation only" if run.evaluation_only else "champion" if run.champion else "trained"


def scoreboard(runs: list[store.RunSummary], metrics: list[str]) -> pd.DataFrame:
    """Runs × metrics, the raw values (NaN where a run lacks a metric), then each run's duration."""
    return pd.DataFrame(
        [
            {
                "run": run.run_name,
                "kind": run_kind(run),
                **{m: run.metrics.get(m, math.nan) for m in metrics},
                "duration (s)": run.duration_s,
            }
            for run in runs
        ]
    )


def best_value(values: pd.Series, metric: str) -> float:
    return values.min() if lower_is_better(metric) else values.max()


def decimals(values: pd.Series) -> int:
    """Three significant digits for the largest value (0.928, 35.6, 350), as the README reports scores; none for
    counts."""
    finite = values.dropna()
    if finite.empty or (finite == finite.round()).all():
        return 0
    return max(0, 2 - math.floor(math.log10(max(finite.abs().max(), 1e-12))))


def score_text(value: float, best: float, champion: float | None, places: int) -> str:
    """A scoreboard cell: the value, its difference to the champion's, and a star where it is the best."""
    if math.isnan(value):
        return NOT_APPLICABLE
    text = f"{value:.{places}f}"
    if champion is not None and not math.isnan(champion) and value != champion:
        text += f" ({value - champion:+.{places}f})".replace("-", "−")
    return f"{text} {BEST_MARK}" if value == best else text


def styled_scoreboard(frame: pd.DataFrame, metrics: list[str]):
    """The scoreboard as a pandas Styler: the values stay numbers (the table sorts by them) and are shown as
    ``score_text``, with the best of each column highlighted."""
    champions = frame[frame["kind"] == "champion"]
    styler = frame.style.format({"duration (s)": "{:.0f}"}, na_rep=NOT_APPLICABLE)
    for metric in metrics:
        best = best_value(frame[metric], metric)
        champion = champions[metric].iloc[0] if len(champions) else None
        styler = styler.format(
            partial(score_text, best=best, champion=champion, places=decimals(frame[metric])), subset=[metric]
        )
        styler = styler.map(lambda value, best=best: BEST_BACKGROUND if value == best else "", subset=[metric])
    return styler


def value_range(values: list[float]) -> tuple[float, float]:
    """An axis range padded around the values, so 0.886 and 0.928 look different; it stops at 0 for values that
    cannot be negative."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.15 or abs(high) * 0.05 or 0.05
    return (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad


def metrics_figure(runs: list[store.RunSummary], metrics: list[str], colours: dict[str, str]) -> go.Figure:
    """One panel per metric, each on its own scale (accuracies, BLEU and counts do not share an axis): a dot per run
    that has the metric, the y axis padded around the values rather than starting at 0."""
    columns = PANELS_PER_ROW  # panels keep one size on every page, however few metrics are picked
    rows = -(-len(metrics) // columns)
    cells = [
        [{} if row * columns + column < len(metrics) else None for column in range(columns)] for row in range(rows)
    ]  # no axes where no metric is: an empty frame reads as a panel with no data
    figure = make_subplots(
        rows=rows,
        cols=columns,
        specs=cells,
        subplot_titles=[metric_group(m)[1] for m in metrics],
        horizontal_spacing=0.08,
        vertical_spacing=0.3 / rows,
    )
    for index, metric in enumerate(metrics):
        row, column = index // columns + 1, index % columns + 1
        scored = [run for run in runs if metric in run.metrics]
        for run in scored:
            figure.add_scatter(
                x=[run.run_name],
                y=[run.metrics[metric]],
                name=run.run_name,
                mode="markers",
                marker=dict(size=13, color=colours[run.run_name]),
                legendgroup=run.run_name,
                showlegend=index == 0,
                row=row,
                col=column,
                hovertemplate="%{y:.4g}",
            )
        figure.update_yaxes(range=value_range([run.metrics[metric] for run in scored]), row=row, col=column)
    # Every panel places the runs in the same slots, with room either side (a dot on the frame is hard to see).
    figure.update_xaxes(
        showticklabels=False,
        categoryorder="array",
        categoryarray=[run.run_name for run in runs],
        range=[-0.5, len(runs) - 0.5],
    )
    figure.update_annotations(font_size=13)
    # Below the panels, where nothing else is: the x axes have neither labels nor titles.
    figure.update_layout(
        height=PANEL_HEIGHT * rows + 60,
        margin=dict(t=30, b=10, l=10, r=10),
        legend=dict(orientation="h", yanchor="top", y=-0.04, x=0),
    )
    return figure


def applicable_params(run: store.RunSummary) -> dict[str, str]:
    """The run's params less those its architecture does not use (``PARAMS_ONLY_FOR``) or a switch turns off
    (``PARAMS_OFF_WHEN``)."""
    unused = {
        param
        for (choice, value), params in PARAMS_ONLY_FOR.items()
        if choice in run.params and run.params[choice] != value
        for param in params
    } | {
        param for (switch, off), params in PARAMS_OFF_WHEN.items() if run.params.get(switch) == off for param in params
    }
    used = {
        param
        for (choice, value), params in PARAMS_ONLY_FOR.items()
        if run.params.get(choice) == value
        for param in params
    }
    return {key: value for key, value in run.params.items() if key not in unused - used}


def differing_params(runs: list[store.RunSummary]) -> pd.DataFrame:
    """The params that tell the runs apart: those on which the trained runs differ, and those only a non-neural
    peer has (what it is). A peer has no epochs or learning rate; that alone is not a difference worth a row. A
    param a run's architecture does not use shows as "—" for that run."""
    params = {run.run_name: applicable_params(run) for run in runs}
    keys = sorted(set().union(*params.values()))
    table = pd.DataFrame(
        {name: [values.get(k, NOT_APPLICABLE) for k in keys] for name, values in params.items()}, index=keys
    )
    trained = [run.run_name for run in runs if not run.evaluation_only]
    trained_differ = table[trained].nunique(axis=1) > 1
    peer_only = ~table.index.isin(list(set().union(*(params[name] for name in trained))))
    return table[trained_differ | peer_only]


@st.cache_data(ttl=60, show_spinner=False)
def _history(run: store.RunSummary, key: str) -> list[tuple[int, float, int]]:
    return store.run_history(run, key)


def run_colours(runs: list[store.RunSummary]) -> dict[str, str]:
    """A run keeps one colour in every chart of the comparison."""
    return {run.run_name: COLOURS[index % len(COLOURS)] for index, run in enumerate(runs)}


LEGEND_WIDTH = 400  # px a legend has in the narrowest curve chart (half of a 1280-pixel window, sidebar open)


def legend_rows(names: list[str]) -> int:
    """Rows a horizontal legend of these names takes in a curve chart, half of the page. When the entries do not
    fit in one row, plotly lays them out in columns as wide as the widest entry (about 40 px of line and gap plus
    6 px a character), so one long name (bilstm_attention_ngrams_distilled) leaves room for one column only."""
    widths = [40 + 6 * len(name) for name in names]
    if sum(widths) <= LEGEND_WIDTH:
        return 1
    return math.ceil(len(names) / max(1, LEGEND_WIDTH // max(widths)))


def curves_figure(runs: list[store.RunSummary], metric: str, by_time: bool, colours: dict[str, str]) -> go.Figure:
    figure = go.Figure()
    for run in runs:
        points = _history(run, metric)
        if not points:
            continue
        steps, values, stamps = zip(*points)
        x = [(t - stamps[0]) / 1000 for t in stamps] if by_time else steps
        figure.add_scatter(x=x, y=values, mode="lines+markers", name=run.run_name, line_color=colours[run.run_name])
    # The legend goes above the plot: below it, it would cover the x axis title. It grows upwards a row at a time
    # as the runs' names wrap, so the top margin makes room for every row under the title.
    rows = legend_rows([run.run_name for run in runs])
    figure.update_layout(
        title=dict(text=metric, y=0.98, yanchor="top"),
        height=316 + 24 * rows,
        xaxis_title="seconds since first point" if by_time else "epoch",
        margin=dict(t=46 + 24 * rows, b=30, l=10, r=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return figure


def default_curves(runs: list[store.RunSummary], curve_metrics: list[str]) -> list[str]:
    """Two curves: the metric the champion is chosen by, the validation loss, then other validation metrics."""
    selection = {run.tags.get(store.SELECTION_TAG, "").removeprefix(BEST_PREFIX) for run in runs}
    ranked = (
        [m for m in curve_metrics if m in selection]
        + [m for m in curve_metrics if m == "val_loss"]
        + [m for m in curve_metrics if m.startswith("val_")]
    )
    return list(dict.fromkeys(ranked))[:2] or curve_metrics[:1]


def show_scoreboard(runs: list[store.RunSummary], metrics: list[str]) -> None:
    for group, members in group_metrics(metrics).items():
        st.markdown(f"**{group}**")
        frame = scoreboard(runs, members)
        labels = {
            m: st.column_config.NumberColumn(
                metric_group(m)[1],
                width="small",
                help=f"{m}: {'lower' if lower_is_better(m) else 'higher'} is "
                "better; in brackets, the difference to the champion",
            )
            for m in members
        }
        st.dataframe(
            styled_scoreboard(frame, members),
            hide_index=True,
            width="stretch",
            column_order=["run", "kind", *members, *(["duration (s)"] if group == TEST_GROUP else [])],
            column_config={"run": st.column_config.TextColumn(pinned=True, width=RUN_COLUMN_WIDTH), **labels},
            placeholder=NOT_APPLICABLE,  # the grid shows a missing value as "None" whatever the Styler says
        )
    st.caption(f"{BEST_MARK} the best value of each column (highlighted); in brackets, the difference to the champion.")


def show_learning_curves(topology: str, trained: list[store.RunSummary], colours: dict[str, str]) -> None:
    curve_metrics = sorted({k for run in trained for k in run.metrics if k.startswith(CURVE_PREFIXES)})
    if not curve_metrics:
        return
    left, right = st.columns([3, 1])
    metrics = left.multiselect(
        "Learning curves",
        curve_metrics + list(BOOKKEEPING_METRICS),
        default=default_curves(trained, curve_metrics),
        key=f"{topology}-curves",
    )
    by_time = right.radio("x axis", ["epoch", "wall time"], key=f"{topology}-axis", horizontal=True) == "wall time"
    columns = st.columns(2)
    for index, metric in enumerate(metrics):
        columns[index % 2].plotly_chart(curves_figure(trained, metric, by_time, colours), width="stretch")


def run_comparison(topology: str, headline_metrics: tuple[str, ...] | None = None) -> None:
    st.header("Compare runs")
    catalogue = run_catalogue(topology)
    tracking_notice(catalogue)
    runs = catalogue.runs
    if not runs:
        st.info("No runs logged for this topology yet.")
        return
    show_scoreboard(runs, headline(runs, headline_metrics))
    names = [run.run_name for run in runs]
    chosen_names = st.multiselect("Runs to compare", names, default=names[:MAX_DEFAULT_RUNS], key=f"{topology}-compare")
    chosen = [run for run in runs if run.run_name in chosen_names]
    if not chosen:
        st.info("Pick at least one run to compare.")
        return
    colours = run_colours(chosen)
    offered = scored_metrics(chosen)
    picked = st.multiselect(
        "Metrics to chart",
        offered,
        key=f"{topology}-metrics",
        default=default_charts(headline(chosen, headline_metrics)),
    )
    for group, members in group_metrics(picked).items():
        st.markdown(f"**{group}**")
        st.plotly_chart(metrics_figure(chosen, members, colours), width="stretch")
    trained = [run for run in chosen if not run.evaluation_only]
    if trained:
        show_learning_curves(topology, trained, colours)
    if len(chosen) > 1:
        st.subheader("Params that differ")
        differing = differing_params(chosen)
        if differing.empty:
            st.caption("The chosen runs share every param.")
        else:
            # Columns of one width that fit 1280 px: a peer's long description is cut short, not the table.
            column_width = max(PARAMS_TABLE_WIDTH // len(chosen), 100)
            st.dataframe(
                differing,
                width="stretch",
                height="content",
                column_config={name: st.column_config.TextColumn(width=column_width) for name in differing},
            )
    st.caption(
        "The same runs, with every param, metric and artifact, are in MLflow's own UI: `make mlflow-ui`, "
        "then open http://127.0.0.1:5000 (experiment "
        f"`{store.experiment_name(topology)}`)."
    )
