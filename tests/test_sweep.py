"""Sweeps: a dry-run sweep logs nested trial runs and ranks its parameters; bad space files are refused; the median
rule prunes a trial through the trainer's epoch callback; a sweep ships as one JSON bundle and imports back."""

import json

import optuna
import pytest
import torch
from mlflow import MlflowClient

from models import store, sweep_store
from tests.test_training import ListLogger, Probe
from training import bundles, sweep
from training.tasks import one_to_one
from training.trainer import StopRun, TrainConfig, Trainer

SPACE = """
[fixed]
model.arch = "mlp"

[parameters."model.mlp_hidden"]
type = "int"
low = 16
high = 64
log = true

[parameters."model.dropout"]
type = "float"
low = 0.0
high = 0.5

[parameters.lr]
type = "float"
low = 1e-3
high = 1e-2
log = true
"""


def write_space(tmp_path, text: str = SPACE):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return str(path)


def run_sweep(folder, *extra: str) -> str:
    """A sweep of SPACE with its study in ``folder``; returns its sweep run id."""
    return sweep.main(
        [
            "one_to_one",
            "--space",
            write_space(folder),
            "--storage",
            f"sqlite:///{folder / 'optuna.db'}",
            "--study",
            "test-sweep",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def dry_sweep_store(tmp_path_factory):
    """One finished 3-trial dry-run sweep per module, in its own store (a sweep takes a minute): the store's URI,
    its folder and the sweep run id."""
    folder = tmp_path_factory.mktemp("dry-sweep")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("RNNLAB_OFFLINE", "1")
        return uri, folder, run_sweep(folder, "--trials", "3", "--dry-run")


@pytest.fixture
def dry_sweep(dry_sweep_store, monkeypatch):
    """Tracking pointed at the module's dry-run sweep; returns its sweep run id."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dry_sweep_store[0])
    return dry_sweep_store[2]


def test_dry_run_sweep_nests_its_trials_and_ranks_parameters(dry_sweep, dry_sweep_store):
    client = MlflowClient(dry_sweep_store[0])
    parent = client.get_run(dry_sweep)
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == store.experiment_name("one_to_one") + "-sweeps-dry-run"
    assert parent.info.status == "FINISHED" and parent.data.tags[store.KIND_TAG] == "sweep"
    assert parent.data.tags[store.PROCESS_TAG]  # so store.end_dead_runs can end it if its process dies
    trials = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{dry_sweep}'")
    assert len(trials) == 3
    for trial in trials:
        assert trial.info.status == "FINISHED" and trial.data.tags[sweep_store.STATE_TAG] == "complete"
        assert trial.data.params["model.arch"] == "mlp" and trial.data.params["max_batches"] == "2"
        assert 16 <= int(trial.data.params["model.mlp_hidden"]) <= 64
        assert 1e-3 <= float(trial.data.params["lr"]) <= 1e-2
    assert len({trial.data.params["lr"] for trial in trials}) == 3  # the sampler proposed, not a fixed default

    [read] = sweep_store.list_sweeps("one_to_one", dry_run=True)
    assert read.objective == "val_accuracy" and [t.state for t in read.trials] == ["complete"] * 3
    assert all(t.has_checkpoint and len(t.history) == 1 for t in read.trials)
    importance, rests_on = sweep_store.parameter_importance(read)
    assert rests_on == 3 and set(importance) == {"model.mlp_hidden", "model.dropout", "lr"}
    assert sum(importance.values()) == pytest.approx(1.0)
    # no trial is crowned: the registry is untouched
    assert store.champion_run_id("one_to_one") is None

    # the same study continued to 4 trials runs one more, under the same sweep run
    assert run_sweep(dry_sweep_store[1], "--trials", "4", "--dry-run") == dry_sweep
    assert len(sweep_store.read_sweep(client, dry_sweep).trials) == 4


def test_unknown_or_mistyped_parameters_are_refused_with_the_known_names(tmp_path):
    unknown = write_space(tmp_path, SPACE.replace('"model.mlp_hidden"', '"model.mlp_width"'))
    with pytest.raises(SystemExit, match=r"unknown parameter model\.mlp_width; .*model\.mlp_hidden.*") as refused:
        sweep.load_space(unknown, one_to_one.Config)
    assert "lr" in str(refused.value) and "model.arch" in str(refused.value)
    with pytest.raises(SystemExit, match=r"unknown parameter model\.colour"):
        sweep.load_space(write_space(tmp_path, SPACE.replace("model.arch", "model.colour")), one_to_one.Config)
    with pytest.raises(SystemExit, match="cannot be searched as float"):
        sweep.load_space(
            write_space(tmp_path, SPACE.replace("low = 16", "low = 16.0").replace('type = "int"', 'type = "float"')),
            one_to_one.Config,
        )
    with pytest.raises(SystemExit, match="log scale needs low > 0"):
        sweep.load_space(write_space(tmp_path, SPACE.replace("low = 0.0", "low = 0.0\nlog = true")), one_to_one.Config)


def test_trainer_calls_back_after_each_logged_epoch_and_lets_stop_run_through():
    inputs, targets = torch.randn(64, 4), torch.randint(0, 2, (64,))

    from training.batching import TensorBatches

    seen = []

    def stop_in_second_epoch(epoch, metrics):
        seen.append((epoch, sorted(metrics)))
        if epoch == 2:
            raise StopRun("enough")

    logger = ListLogger()
    trainer = Trainer(
        TrainConfig(epochs=5, batch_size=32),
        Probe(),
        TensorBatches({"x": inputs, "y": targets}, 32),
        lambda m: {"accuracy": 0.5},
        "accuracy",
        logger,
        on_epoch=stop_in_second_epoch,
    )
    with pytest.raises(StopRun, match="enough"):
        trainer.fit()
    assert [step for step, _ in logger.metrics] == [1, 2] and [epoch for epoch, _ in seen] == [1, 2]
    assert "val_accuracy" in seen[0][1]


def test_median_rule_prunes_a_trial_below_earlier_trials(tracking_store, tmp_path, monkeypatch):
    """Trial 0 scores 0.9 every epoch, trial 1 scores 0.1 (a fake validation metric): with one earlier trial the
    median rule stops trial 1 at epoch 2, its run ends KILLED and tagged pruned, and the study records PRUNED."""
    monkeypatch.setattr(sweep, "PRUNE_AFTER_TRIALS", 1)
    prepared = []
    real_prepare = one_to_one.prepare

    def prepare_with_a_fake_score(config, dry_run=False):
        task = real_prepare(config, dry_run=dry_run)
        score = 0.9 if not prepared else 0.1
        prepared.append(score)
        real_evaluate = task.evaluate
        task.evaluate = lambda model, split: {**real_evaluate(model, split), "accuracy": score}
        return task

    monkeypatch.setattr(one_to_one, "prepare", prepare_with_a_fake_score)
    parent = run_sweep(
        tmp_path, "--trials", "2", "--set", "epochs=3", "--set", "max_batches=2", "--set", "batch_size=16"
    )
    client = MlflowClient(tracking_store)
    read = sweep_store.read_sweep(client, parent)
    assert [t.state for t in read.trials] == ["complete", "pruned"]
    pruned = client.get_run(read.trials[1].run_id)
    assert pruned.info.status == "KILLED" and "pruned by the sweep at epoch 2" in pruned.data.tags[store.ENDED_TAG]
    assert [step for step, _ in read.trials[1].history] == [1, 2]  # the epoch it was pruned at is logged
    assert [step for step, _ in read.trials[0].history] == [1, 2, 3]
    study = optuna.load_study(study_name="test-sweep", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert read.best_trial.number == 0


def test_sweep_bundle_round_trip(dry_sweep, tmp_path, monkeypatch):
    client = MlflowClient(store.tracking_uri())
    original = sweep_store.read_sweep(client, dry_sweep)
    path = bundles.export_sweep(dry_sweep, tmp_path / "sweeps")
    assert path == tmp_path / "sweeps" / "one_to_one" / "test-sweep.json"
    assert path.stat().st_size < 100_000 and str(tmp_path) not in path.read_text()
    shipped = sweep_store.read_sweep_bundle(path)
    assert not any(t.has_checkpoint for t in shipped.trials)  # a bundle ships results, not weights

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh)
    assert len(bundles.import_sweeps(tmp_path / "sweeps")) == 1
    assert bundles.import_sweeps(tmp_path / "sweeps") == []  # idempotent
    [imported] = sweep_store.list_sweeps("one_to_one")
    for read in (shipped, imported):
        assert (read.study, read.objective, read.space) == (original.study, original.objective, original.space)
        assert [(t.number, t.state, t.params, t.history) for t in read.trials] == [
            (t.number, t.state, t.params, t.history) for t in original.trials
        ]
    assert sweep_store.parameter_importance(imported) == sweep_store.parameter_importance(original)
    assert all(
        MlflowClient(fresh).get_run(t.run_id).data.tags[sweep_store.PARENT_TAG] == imported.run_id
        for t in imported.trials
    )
    # Exported again (say, a note added): the new import replaces the earlier one, trials and all.
    record = json.loads(path.read_text())
    record["parent"]["tags"]["mlflow.note.content"] = "exported again"
    path.write_text(json.dumps(record))
    [again] = bundles.import_sweeps(tmp_path / "sweeps")
    assert [sweep.run_id for sweep in sweep_store.list_sweeps("one_to_one")] == [again]
    experiment = MlflowClient(fresh).get_experiment(MlflowClient(fresh).get_run(again).info.experiment_id)
    assert len(MlflowClient(fresh).search_runs([experiment.experiment_id])) == 1 + len(original.trials)


def sweep_page():
    """A page that embeds the sweep view, its promote action recording the trial's run id."""
    import streamlit as st

    from dashboard.components.sweep_view import render_sweeps

    render_sweeps("one_to_one", on_promote=lambda trial: st.session_state.update(promoted=trial.run_id), dry_run=True)


def test_sweep_view_draws_the_sweep_and_promotes_its_best_trial(dry_sweep):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import assert_no_exception, page_texts

    st.cache_data.clear()

    read = sweep_store.read_sweep(store.client(), dry_sweep)
    best = read.best_trial
    page = AppTest.from_function(sweep_page, default_timeout=60).run()
    assert_no_exception(page)
    assert f"Rests on {len(read.trials)} complete trials" in page_texts(page)
    [promote] = [button for button in page.button if button.label == f"Promote trial {best.number}"]
    promote.click().run()
    assert_no_exception(page)
    assert page.session_state["promoted"] == best.run_id


SENTIMENT_SPACE = {"model.cell", "model.hidden", "model.dropout", "lr"}


def test_the_shipped_sentiment_sweep_imports_with_the_bundles(shipped_store):
    [shipped] = sweep_store.shipped_sweeps("many_to_one")
    assert {p.name for p in shipped.space} == SENTIMENT_SPACE and shipped.objective == "val_macro_f1"
    assert len(shipped.trials) >= 24 and shipped.status == "FINISHED"
    assert not any(t.has_checkpoint for t in shipped.trials)
    assert all(path.stat().st_size < 300_000 for path in sweep_store.SWEEPS_DIR.rglob("*.json"))
    [stored] = sweep_store.list_sweeps("many_to_one")
    assert [(t.number, t.state, t.params, t.history) for t in stored.trials] == [
        (t.number, t.state, t.params, t.history) for t in shipped.trials
    ]
    importance, rests_on = sweep_store.parameter_importance(stored)
    assert set(importance) == SENTIMENT_SPACE and rests_on == len(stored.trials_in("complete")) >= 10


def shipped_sweep_page():
    from dashboard.components.sweep_view import render_sweeps

    render_sweeps("many_to_one", on_promote=lambda trial: None)


def test_sweep_view_shows_the_shipped_sweep_while_tracking_is_down(monkeypatch, tmp_path):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import assert_no_exception, page_texts

    st.cache_data.clear()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'missing.db'}")
    page = AppTest.from_function(shipped_sweep_page, default_timeout=60).run()
    assert_no_exception(page)
    assert "Tracking is unavailable" in page_texts(page)
    assert not [button for button in page.button if button.label.startswith("Promote")]  # no checkpoint to promote
    [command] = [block.value for block in page.code]
    assert command.startswith(
        "python -m training.train many_to_one --config training/configs/many_to_one/gru.toml --set model.cell="
    )


def test_a_running_trial_that_never_named_its_worker_is_failed_after_the_grace_period(tmp_path):
    """Optuna fails only trials whose heartbeat stopped; one that never sent any (a study interrupted before sweeps
    had heartbeats, a worker killed as it started a trial) would hold its place for ever and stall the workers."""
    study = optuna.create_study(storage=sweep.open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", 1, client=None))
    study.ask()
    named = study.ask()
    named.set_user_attr(sweep.WORKER_ATTR, "a live worker")
    unnamed_since = {}
    sweep.fail_silent_trials(study, 3600, unnamed_since)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.RUNNING] * 2
    sweep.fail_silent_trials(study, 0, unnamed_since)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING]


def test_a_tag_two_workers_insert_at_once_is_set_on_the_second_try_and_other_failures_still_raise():
    from mlflow.exceptions import MlflowException

    class RacingClient:
        """The store refuses the first insert, as PostgreSQL does when another worker inserted the tag first."""

        def __init__(self, refusals: int):
            self.refusals, self.tags = refusals, {}

        def set_tag(self, run_id, key, value):
            if self.refusals:
                self.refusals -= 1
                raise MlflowException('duplicate key value violates unique constraint "tag_pk"')
            self.tags[key] = value

    client = RacingClient(refusals=1)
    sweep.set_shared_tag(client, "parent", sweep_store.OBJECTIVE_TAG, "val_accuracy")
    assert client.tags == {sweep_store.OBJECTIVE_TAG: "val_accuracy"}
    with pytest.raises(MlflowException):
        sweep.set_shared_tag(RacingClient(refusals=2), "parent", sweep_store.OBJECTIVE_TAG, "val_accuracy")
