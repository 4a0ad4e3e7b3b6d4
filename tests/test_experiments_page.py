"""AppTests of the Experiments page against a store of the shipped one-to-one runs: the generated form and its
per-field messages, a dry run launched through the queue until it is finished and compared, promote and restore,
a server where training is switched off, and the Sweeps section: the shipped sweep and a sweep launched through the
queue."""

from __future__ import annotations

import time

import pytest

from models import jobs, store
from tests.conftest import REPO_ROOT, assert_no_exception, page_texts

PAGE = "views/experiments.py"


@pytest.fixture
def one_to_one_store(tracking_store):
    """A fresh store holding the three shipped one-to-one runs (cnn is their champion), with its own job queue."""
    from training import tracking
    from training.bundles import import_bundle

    tracking.set_tracking()
    for folder in sorted((store.SHIPPED_DIR / "one_to_one").iterdir()):
        import_bundle(folder)
    return tracking_store


@pytest.fixture
def page(one_to_one_store):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=180)
    app.switch_page(PAGE).run()
    assert_no_exception(app)
    return app


def by_label(widgets, label: str):
    return next(widget for widget in widgets if widget.label == label)


def launch_button(app):
    return next(button for button in app.button if button.label == "Launch")


def test_the_form_is_generated_from_the_settings_with_their_comments(page):
    arch = by_label(page.selectbox, "model.arch")
    assert arch.options == ["mlp", "cnn", "row_lstm"] and arch.value == "cnn"  # the preset picked by default
    assert by_label(page.text_input, "epochs").value == "8"  # cnn.toml, not the dataclass default of 10
    assert "doubled in the second block" in by_label(page.text_input, "model.cnn_channels").help
    assert "Estimated duration: a dry run" in page_texts(page)
    assert "8 epochs up to about" in page_texts(page) and "the shipped run cnn" in page_texts(page)
    page.selectbox(key="one_to_one-preset").set_value("mlp").run()
    assert by_label(page.selectbox, "model.arch").value == "mlp"


def test_invalid_values_get_a_message_per_field_and_nothing_starts(page):
    by_label(page.text_input, "epochs").input("-1")
    by_label(page.text_input, "lr").input("abc")
    by_label(page.text_input, "model.rnn_hidden").input("0")
    by_label(page.text_input, "model.dropout").input("1.5")
    launch_button(page).click().run()
    assert_no_exception(page)
    [message] = [e.value for e in page.error]
    assert message.startswith("Nothing was launched")
    for expected in (
        "`epochs`: must be at least 1",
        "`lr`: abc is not a number",
        "`model.rnn_hidden`: must be at least 1",
        "`model.dropout`: must be at most 1",
    ):
        assert expected in message
    assert jobs.list_jobs() == []


def wait_for_jobs(app, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while any(job.active for job in jobs.list_jobs()):
        assert time.monotonic() < deadline, [jobs.log_lines(job) for job in jobs.list_jobs()]
        time.sleep(2)
        app.run()
        assert_no_exception(app)
    app.run()
    assert_no_exception(app)


def test_a_dry_run_launched_here_finishes_and_joins_the_runs(page):
    page.selectbox(key="one_to_one-preset").set_value("mlp").run()
    page.text_input(key="one_to_one-run-name").input("from the page")
    by_label(page.text_input, "threads").input("1")
    launch_button(page).click().run()
    assert_no_exception(page)
    [job] = jobs.list_jobs()
    assert job.argv == [
        "-m",
        "training.train",
        "one_to_one",
        "--config",
        "training/configs/one_to_one/mlp.toml",
        "--set",
        "threads=1",
        "--run-name",
        "from the page",
        "--dry-run",
    ]
    wait_for_jobs(page)
    job = jobs.get(job.id)
    assert job.status == jobs.FINISHED, jobs.log_lines(job)
    [jobs_table, runs_table] = [frame.value for frame in page.dataframe][:2]
    assert jobs_table.iloc[0]["status"] == "FINISHED"
    [row] = runs_table[runs_table["run"] == "from the page"].to_dict("records")
    assert row["status"] == "FINISHED" and row["dry run"] and not row["champion"]
    assert (
        row["test_accuracy"] is not None
        and job.run_id
        == store.client()
        .search_runs([store.client().get_experiment_by_name("rnnlab-one_to_one-dry-run").experiment_id])[0]
        .info.run_id
    )
    assert set(runs_table["run"]) == {"from the page", "cnn", "mlp", "row_lstm"}  # beside the shipped runs


def test_make_champion_asks_first_then_restore_goes_back(page, one_to_one_store):
    from training.bundles import import_all

    champion = store.champion_run_id("one_to_one")
    runs = {run.run_name: run for run in store.list_runs("one_to_one")}
    assert runs["cnn"].run_id == champion
    picker = page.selectbox(key="one_to_one-inspected")
    picker.select_index(next(i for i, label in enumerate(picker.options) if label.startswith("mlp ·"))).run()
    page.button(key=f"experiments-crown-{runs['mlp'].run_id}").click().run()
    assert_no_exception(page)
    assert store.champion_run_id("one_to_one") == champion  # nothing changes before the confirmation
    [comparison] = [frame.value for frame in page.dataframe if "this run (mlp)" in frame.value.columns]
    assert list(comparison.columns) == ["this run (mlp)", "current champion (cnn)"]
    assert "test_accuracy" in comparison.index and "best_val_accuracy" in comparison.index
    page.button(key="experiments-promote-confirm").click().run()
    assert_no_exception(page)
    assert store.champion_run_id("one_to_one") == runs["mlp"].run_id
    assert "Champion history" in [h.value for h in page.subheader]

    import_all()  # importing the shipped bundles again leaves a choice made by hand alone
    assert store.champion_run_id("one_to_one") == runs["mlp"].run_id

    restore = next(b for b in page.button if b.label == "Restore previous")
    restore.click().run()
    assert_no_exception(page)
    assert store.champion_run_id("one_to_one") == champion


def test_training_switched_off_hides_launching_and_says_so(one_to_one_store, monkeypatch):
    monkeypatch.setenv("RNNLAB_ALLOW_TRAINING", "0")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    app = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=180)
    app.switch_page(PAGE).run()
    assert_no_exception(app)
    assert "RNNLAB\\_ALLOW\\_TRAINING=0" in page_texts(app) or "RNNLAB_ALLOW_TRAINING=0" in page_texts(app)
    assert not any(button.label in ("Launch", "Delete", "Make champion", "Rename") for button in app.button)
    [runs_table] = [frame.value for frame in app.dataframe if "run" in frame.value.columns]
    assert set(runs_table["run"]) == {"cnn", "mlp", "row_lstm"}  # the runs are still listed


def test_the_sweeps_section_shows_the_shipped_sweep_and_queues_a_dry_run_sweep(page, monkeypatch):
    from training.bundles import import_sweeps

    assert "No search space for this topology" in page_texts(page)  # one_to_one has none
    import_sweeps()
    monkeypatch.setattr(jobs, "start_queued", lambda: [])  # queued is enough: the sweep itself is not under test
    page.selectbox(key="experiments-topology").set_value("many_to_one").run()
    assert_no_exception(page)
    assert page.selectbox(key="many_to_one-sweep-space").options == ["training/sweeps/many_to_one.toml"]
    texts = page_texts(page)
    assert "Sweep `sentiment-cell-hidden-dropout-lr` (finished" in texts and "Best trial:" in texts
    assert "many_to_one-sweep-parallel" in [chart.key for chart in page.get("plotly_chart")]

    page.number_input(key="experiments-sweep-trials").set_value(3)
    next(button for button in page.button if button.label == "Launch sweep").click().run()
    assert_no_exception(page)
    [job] = jobs.list_jobs()
    assert (job.topology, job.status) == ("many_to_one", jobs.QUEUED)
    assert job.argv == [
        "-m",
        "training.sweep",
        "many_to_one",
        "--space",
        "training/sweeps/many_to_one.toml",
        "--trials",
        "3",
        "--dry-run",
    ]
    assert [toast.value for toast in page.toast] == [f"Job {job.id} queued"]  # it survives the rerun


def dry_run_sweep_with_a_checkpointed_trial(topology: str) -> str:
    """A finished dry-run sweep of one complete trial that kept a checkpoint, as training.sweep logs one; returns
    the trial's run id."""
    from mlflow import MlflowClient

    from models import sweep_store
    from training import tracking

    client = MlflowClient()
    experiment = tracking.ensure_experiment(topology, sweep_store.SWEEP_SUFFIX + store.DRY_RUN_SUFFIX)
    space = sweep_store.space_json([sweep_store.Parameter("lr", "float", 1e-4, 1e-2, log=True)])
    parent = client.create_run(
        experiment,
        run_name="tiny-sweep",
        tags={
            store.KIND_TAG: sweep_store.SWEEP_KIND,
            "rnnlab.topology": topology,
            sweep_store.STUDY_TAG: "tiny-sweep",
            sweep_store.SPACE_TAG: space,
            sweep_store.OBJECTIVE_TAG: "val_accuracy",
        },
    ).info.run_id
    trial = client.create_run(
        experiment,
        run_name="tiny-sweep-0",
        tags={
            sweep_store.PARENT_TAG: parent,
            sweep_store.STUDY_TAG: "tiny-sweep",
            sweep_store.TRIAL_TAG: "0",
            sweep_store.STATE_TAG: "complete",
            store.KIND_TAG: "trained",
            store.DRY_RUN_TAG: "true",
            store.CHECKPOINT_BYTES_TAG: "1024",
        },
    ).info.run_id
    client.log_param(trial, "lr", "0.001")
    client.log_metric(trial, "val_accuracy", 0.5, step=1)
    for run_id in (trial, parent):
        client.set_terminated(run_id, "FINISHED")
    return trial


def test_promoting_a_sweep_trial_asks_first_like_any_run(page):
    trial = dry_run_sweep_with_a_checkpointed_trial("one_to_one")
    page.toggle(key="experiments-sweep-show-dry-runs").set_value(True).run()
    assert_no_exception(page)
    next(button for button in page.button if button.label == "Promote trial 0").click().run()
    assert_no_exception(page)
    assert page.session_state["experiments-promote-pending"] == trial
    [comparison] = [frame.value for frame in page.dataframe if "this run (tiny-sweep-0)" in frame.value.columns]
    assert list(comparison.columns) == ["this run (tiny-sweep-0)", "current champion (cnn)"]
    assert "This is a dry run" in [warning.value for warning in page.warning][0]
    page.button(key="experiments-promote-cancel").click().run()
    assert "experiments-promote-pending" not in page.session_state
