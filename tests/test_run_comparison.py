"""The run comparison: the scoreboard, the metric charts and the params table, as pure functions on small fake runs,
then as the pages draw it from the shipped runs (AppTest)."""

import json
import math

import pytest

from dashboard.components.run_comparison import (
    NOT_APPLICABLE,
    default_charts,
    differing_params,
    group_metrics,
    headline,
    lower_is_better,
    metrics_figure,
    run_colours,
    score_text,
    scoreboard,
    scored_metrics,
    styled_scoreboard,
    value_range,
)
from models import store
from tests.conftest import assert_no_exception


def run(name, metrics=None, params=None, champion=False, peer=False):
    return store.RunSummary(
        None,
        name,
        "FINISHED",
        0,
        60_000,
        params=params or {},
        metrics=metrics or {},
        tags={store.KIND_TAG: "evaluation"} if peer else {},
        champion=champion,
    )


CNN = run(
    "cnn",
    {"test_accuracy": 0.9278, "test_loss": 0.21, "val_loss": 0.2},
    champion=True,
    params={"model.arch": "cnn", "model.cnn_hidden": "256", "model.bidirectional": "True", "lr": "0.002"},
)
MLP = run(
    "mlp",
    {"test_accuracy": 0.8864, "test_loss": 0.33},
    params={"model.arch": "mlp", "model.mlp_hidden": "512", "model.bidirectional": "True", "lr": "0.002"},
)
ROW_LSTM = run(
    "row_lstm",
    {"test_accuracy": 0.91, "test_loss": 0.25},
    params={"model.arch": "row_lstm", "model.rnn_hidden": "128", "model.bidirectional": "True", "lr": "0.002"},
)
PEER = run("peer", {"test_accuracy": 0.95}, params={"peer": "a lexicon"}, peer=True)


def test_lower_is_better_for_losses_times_and_failures_only():
    assert all(map(lower_is_better, ["test_loss", "new_test_seconds", "test_unfinished", "pretrain_val_false_rate"]))
    assert not any(map(lower_is_better, ["test_accuracy", "samples_per_sec", "test_bleu", "test_parse_rate"]))


def test_scoreboard_marks_the_best_of_each_column_and_the_difference_to_the_champion():
    runs = [CNN, MLP, PEER]
    frame = scoreboard(runs, ["test_accuracy", "test_loss"])
    assert list(frame["kind"]) == ["champion", "trained", "evaluation only"]
    assert math.isnan(frame.loc[2, "test_loss"])  # a peer has no loss: a gap, not a zero
    html = styled_scoreboard(frame, ["test_accuracy", "test_loss"]).set_uuid("s").to_html()
    rows = [row.split("</tr>")[0] for row in html.split("<tr>")[2:]]
    assert ">0.928<" in rows[0] and ">0.886 (−0.041)<" in rows[1]  # the MLP is 4 points below the CNN
    assert ">0.950 (+0.022) ★<" in rows[2]  # the peer is the best on accuracy...
    assert ">0.210 ★<" in rows[0] and ">0.330 (+0.120)<" in rows[1]  # ...the champion on loss: lower is better
    assert f">{NOT_APPLICABLE}<" in rows[2]
    assert "#T_s_row0_col3, #T_s_row2_col2 {\n  background-color" in html  # the two best cells, highlighted
    assert score_text(0.9, best=0.95, champion=None, places=2) == "0.90"  # no champion among the runs


def test_metrics_are_grouped_test_split_first_then_each_hold_out():
    metrics = [
        "seed_tweets_correct",
        "general_mean_accuracy",
        "lodo_mean_accuracy",
        "new_test_bleu",
        "test_holdout_scene_match",
        "test_bleu",
    ]
    groups = group_metrics(metrics)
    assert list(groups) == [
        "Test split",
        "Hold-out: newest data",
        "Hold-out: unseen combinations",
        "Hold-out: each topic left out of training",
        "Hold-out: everyday English that is not tweets",
        "Other scores",
    ]
    assert groups["Test split"] == ["test_bleu"]
    assert default_charts([f"test_m{i}" for i in range(9)] + ["new_test_m0", "new_test_m1"], limit=4) == [
        "test_m0",
        "new_test_m0",
        "test_m1",
        "new_test_m1",
    ]


def test_a_metric_every_run_lacks_or_has_at_zero_is_not_offered():
    runs = [
        run("gru", {"test_bleu": 31.2, "test_unfinished": 0.0, "val_bleu": 30.0, "best_val_bleu": 30.0}),
        run("apertium", {"test_bleu": 25.9, "test_seconds": 2.7}, peer=True),
    ]
    assert scored_metrics(runs) == ["test_bleu", "test_seconds"]
    assert scored_metrics(runs[:1]) == ["test_bleu"]
    assert headline(runs, None) == ["test_bleu"]  # not the time a peer took
    assert headline(runs, ("test_chrf", "test_bleu")) == ["test_bleu"]


def test_a_page_without_headline_metrics_gets_five_scores_a_set_and_six_charts():
    captioner = run(
        "sat", {f"{split}_m{i:02d}": 0.5 + i / 100 for split in ("test", "test_holdout") for i in range(14)}
    )
    assert headline([captioner], None) == [f"{split}_m{i:02d}" for split in ("test", "test_holdout") for i in range(5)]
    chosen = default_charts(headline([captioner], None))
    assert len(chosen) == 6 and {m.split("_m")[0] for m in chosen} == {"test", "test_holdout"}


def test_axes_are_padded_around_the_values_not_drawn_from_zero():
    low, high = value_range([0.8864, 0.9278])
    assert 0.87 < low < 0.8864 and 0.9278 < high < 0.95
    assert value_range([0.047, 0.95])[0] == 0  # a non-negative score never gets a negative axis
    assert value_range([7.0])[0] < 7 < value_range([7.0])[1]
    assert value_range([0.0, 0.0]) == (0.0, 0.05)


def test_every_panel_has_its_points_and_an_axis_around_them():
    runs = [CNN, MLP, PEER]
    figure = metrics_figure(runs, ["test_accuracy", "test_loss"], run_colours(runs))
    assert [a.text for a in figure.layout.annotations] == ["accuracy", "loss"]
    by_axis = {}
    for trace in figure.data:
        by_axis.setdefault(trace.yaxis, []).extend(trace.y)
    assert sorted(by_axis) == ["y", "y2"] and len(by_axis["y"]) == 3 and len(by_axis["y2"]) == 2
    assert sorted(k for k in figure.layout.to_plotly_json() if k.startswith("yaxis")) == ["yaxis", "yaxis2"]
    assert figure.layout.yaxis.range[0] > 0.85 and figure.layout.yaxis2.range[0] > 0.15
    assert sum(trace.showlegend for trace in figure.data) == 3  # one legend entry per run, not per panel


def test_a_param_the_architecture_does_not_use_shows_as_a_dash():
    table = differing_params([CNN, MLP, ROW_LSTM])
    assert table.loc["model.bidirectional"].to_dict() == {
        "cnn": NOT_APPLICABLE,
        "mlp": NOT_APPLICABLE,
        "row_lstm": "True",
    }
    assert table.loc["model.cnn_hidden", "mlp"] == NOT_APPLICABLE and table.loc["model.mlp_hidden", "mlp"] == "512"
    assert "lr" not in table.index
    sentiment = [
        run(
            cell,
            params={
                "model.cell": cell,
                "model.bidirectional": bi,
                "model.pooling": pooling,
                "model.attention_dim": "32",
            },
        )
        for cell, bi, pooling in (("gru", "False", "last"), ("lstm", "True", "attention"))
    ]
    table = differing_params(sentiment)  # no model.arch here: bidirectional applies to every run
    assert table.loc["model.bidirectional"].to_dict() == {"gru": "False", "lstm": "True"}
    assert table.loc["model.attention_dim"].to_dict() == {"gru": NOT_APPLICABLE, "lstm": "32"}
    with_ngrams, without = (
        run(name, params={"model.ngram_buckets": buckets, "model.ngram_dropout": dropout})
        for name, buckets, dropout in (("ngrams", "262144", "0.2"), ("plain", "0", "0.5"))
    )
    table = differing_params([with_ngrams, without])  # switched off, the n-gram path's dropout means nothing
    assert table.loc["model.ngram_dropout"].to_dict() == {"ngrams": "0.2", "plain": NOT_APPLICABLE}


def comparison_script(topology, headline_metrics):
    from dashboard.components.run_comparison import run_comparison

    run_comparison(topology, headline_metrics)


@pytest.fixture
def comparison(shipped_store):
    """The comparison section alone, as a page draws it from the shipped runs: an AppTest per topology."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def start(topology, headline_metrics=None):
        st.cache_data.clear()
        app_test = AppTest.from_function(comparison_script, args=(topology, headline_metrics), default_timeout=60)
        app_test.run()
        assert_no_exception(app_test)
        return app_test

    return start


def score_panels(app_test, run_names: set[str]) -> list[tuple[dict, list[float]]]:
    """Each panel of the charts of final scores (not the learning curves): its y axis and the values drawn in it."""
    panels = []
    for spec in (json.loads(chart.proto.spec) for chart in app_test.get("plotly_chart")):
        traces = spec["data"]
        if not traces or any(t.get("name") not in run_names or "lines" in t.get("mode", "") for t in traces):
            continue
        for axis_key in sorted(k for k in spec["layout"] if k.startswith("yaxis")):
            trace_axis = "y" + axis_key.removeprefix("yaxis")
            values = [y for t in traces if t.get("yaxis", "y") == trace_axis for y in t["y"] if y is not None]
            panels.append((spec["layout"][axis_key], values))
    return panels


def table_cells(app_test, run_name: str, param: str) -> list:
    """What every table says about one param of one run (runs as rows or as columns)."""
    found = []
    for frame in (df.value for df in app_test.dataframe):
        if param in frame.index and run_name in frame.columns:
            found.append(frame.loc[param, run_name])
        if "run" in frame.columns and param in frame.columns:
            found.extend(frame.loc[frame["run"] == run_name, param])
    return found


def test_one_to_one_shows_a_param_only_for_the_architecture_that_uses_it(comparison):
    app_test = comparison("one_to_one")
    for plain in ("cnn", "mlp"):  # neither has a recurrent layer to be bidirectional
        assert set(table_cells(app_test, plain, "model.bidirectional")) == {NOT_APPLICABLE}
    assert set(table_cells(app_test, "row_lstm", "model.bidirectional")) == {"True"}
    assert set(table_cells(app_test, "cnn", "model.mlp_hidden")) == {NOT_APPLICABLE}


def test_one_to_many_charts_few_panels_with_axes_that_show_differences(comparison):
    app_test = comparison("one_to_many")
    runs = {run.run_name for run in store.shipped_bundles("one_to_many")}
    panels = score_panels(app_test, runs)
    assert 1 <= len(panels) <= 6
    for axis, values in panels:
        assert values, "a panel with nothing drawn"
        low, high = axis["range"]
        assert low <= min(values) and max(values) <= high
        assert high - low <= 3 * (max(values) - min(values)) + 0.01 * max(map(abs, values))  # not from 0
    [test_split, hold_out] = [df.value for df in app_test.dataframe if "kind" in df.value.columns]
    assert list(test_split["kind"]) == ["champion", "trained"]
    assert list(hold_out.columns[2:-1]) == [
        f"test_holdout_{m}" for m in ("attribute_accuracy", "bleu1", "bleu2", "bleu3", "bleu4")
    ]  # five, not 14


def test_many_to_many_offers_no_metric_the_chosen_runs_all_lack(comparison):
    app_test = comparison("many_to_many", ("new_test_bleu", "test_bleu"))
    app_test.multiselect(key="many_to_many-compare").set_value(["gru", "gru_attention"]).run()
    assert_no_exception(app_test)
    options = app_test.multiselect(key="many_to_many-metrics").options
    assert "test_bleu" in options
    assert "test_unfinished" not in options  # zero for both: a panel with nothing to see
    assert "test_seconds" not in options  # only Apertium logs it
    app_test.multiselect(key="many_to_many-metrics").set_value(["test_bleu", "new_test_chrf"]).run()
    assert_no_exception(app_test)
    panels = score_panels(app_test, {"gru", "gru_attention"})
    assert len(panels) == 2 and all(len(values) == 2 for _, values in panels)
    tables = [df.value for df in app_test.dataframe if "run" in df.value.columns]
    assert [list(t.columns[2:-1]) for t in tables] == [["test_bleu"], ["new_test_bleu"]]  # test split, hold-out
    assert "evaluation only" in set(tables[0]["kind"])  # Apertium, in the scoreboard though not charted


COMPARISON_APP = """
import streamlit as st

from dashboard.components.run_comparison import run_comparison

st.set_page_config(layout="wide")
st.sidebar.write("A sidebar as wide as the dashboard's navigation.")
run_comparison(st.query_params["topology"])
"""

# What the browser laid out: the box of every title, axis title and legend of each chart, and whether each table
# scrolls sideways (the grid draws on a canvas; its scroller is wider than the table when columns are cut off).
LAYOUT_JS = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, e.textContent]; };
  const texts = '.annotation-text, .gtitle, .g-xtitle text, .g-ytitle text';
  return {
    charts: [...document.querySelectorAll('.js-plotly-plot')].map(plot => ({
      titles: [...plot.querySelectorAll(texts)].map(box), legends: [...plot.querySelectorAll('g.legend')].map(box)})),
    tables: [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')].map(
      s => [s.scrollWidth, s.clientWidth]),
  };
}"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def comparison_url(shipped_store_uri, tmp_path_factory):
    from tests.browser import serve_app

    script = tmp_path_factory.mktemp("comparison") / "comparison.py"
    script.write_text(COMPARISON_APP)
    with serve_app(shipped_store_uri, script=script) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize("topology", ["one_to_many", "many_to_one", "many_to_many"])
def test_at_1280_px_no_title_overlaps_and_no_table_is_cut_off(comparison_url, topology):
    from tests.browser import assert_page_healthy, browser_page, wait_until_idle

    with browser_page(1280, 3000) as page:
        page.goto(f"{comparison_url}/?topology={topology}")
        wait_until_idle(page, expect=page.locator(".js-plotly-plot").first, timeout_s=300)  # a busy CI machine
        assert_page_healthy(page)
        layout = page.evaluate(LAYOUT_JS)
    assert layout["charts"] and layout["tables"]
    problems = []
    for chart in layout["charts"]:
        titles = chart["titles"]
        problems += [f"{a[4]} overlaps {b[4]}" for i, a in enumerate(titles) for b in titles[i + 1 :] if overlap(a, b)]
        problems += [f"a legend covers {t[4]}" for legend in chart["legends"] for t in titles if overlap(legend, t)]
    problems += [f"a table {scroll} px wide in {width} px" for scroll, width in layout["tables"] if scroll > width + 1]
    assert not problems
