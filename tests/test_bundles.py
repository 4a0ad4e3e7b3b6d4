"""Shipped bundles: export a run, import it into fresh stores (idempotently), and serve its champion."""

import json

import pytest
import torch
from mlflow import MlflowClient

from models import TOPOLOGIES, store
from models.checkpoint import load_checkpoint
from tests.conftest import tiny_mlp_run
from training import bundles, tracking, train


@pytest.fixture
def exported_bundle(tracking_store, tmp_path):
    run_id = train.main(tiny_mlp_run("tiny-mlp"))
    return run_id, bundles.export_bundle(run_id, tmp_path / "shipped")


def test_export_writes_a_portable_bundle(exported_bundle, tmp_path):
    run_id, folder = exported_bundle
    assert folder == tmp_path / "shipped" / "one_to_one" / "tiny-mlp"
    assert {"model.json", "model.safetensors", "run.json", "dataset_card.md"} <= {p.name for p in folder.iterdir()}
    assert (folder / "report" / "confusion_matrix_data.json").is_file()
    assert (folder / store.MEMORY_DIR / "span.json").is_file()  # the memory span training.train logged
    record = json.loads((folder / "run.json").read_text())
    assert [step for step, _, _ in record["metrics"]["val_accuracy"]] == [1, 2]
    assert record["params"]["model.arch"] == "mlp" and record["status"] == "FINISHED"
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md"):
            assert str(tmp_path) not in path.read_text(), f"{path.name} holds an absolute path"
    assert bundles.import_all(tmp_path / "shipped") == []  # the store it came from has it already


def test_import_into_a_fresh_store_is_idempotent(exported_bundle, tmp_path, monkeypatch):
    _, folder = exported_bundle
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    (tmp_path / "fresh").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh)
    assert len(bundles.import_all(tmp_path / "shipped")) == 1
    assert bundles.import_all(tmp_path / "shipped") == []
    client = MlflowClient(fresh)
    experiment = client.get_experiment_by_name(store.experiment_name("one_to_one"))
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "tiny-mlp" and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    assert store.champion_run_id("one_to_one") == run.info.run_id
    assert experiment.artifact_location.startswith((tmp_path / "fresh").as_uri())
    checkpoint = load_checkpoint(store.download_checkpoint(run.info.run_id))
    assert checkpoint.model.predict(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_a_bundle_exported_again_replaces_its_earlier_import(exported_bundle, tmp_path, monkeypatch):
    _, folder = exported_bundle
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    (tmp_path / "fresh").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh)
    [first] = bundles.import_all(tmp_path / "shipped")
    assert store.champion_run_id("one_to_one") == first
    # Exported again with a score logged since (as training.held_out_domains and training.general_english do).
    record = json.loads((folder / "run.json").read_text())
    record["metrics"]["general_mean_accuracy"] = [[0, 0.75, record["end_time"]]]
    (folder / "run.json").write_text(json.dumps(record))
    [second] = bundles.import_all(tmp_path / "shipped")
    assert bundles.import_all(tmp_path / "shipped") == []
    client = MlflowClient(fresh)
    experiment = client.get_experiment_by_name(store.experiment_name("one_to_one"))
    [run] = client.search_runs([experiment.experiment_id])  # one run of the folder, not two
    assert run.info.run_id == second and run.data.metrics["general_mean_accuracy"] == 0.75
    assert client.get_run(first).info.lifecycle_stage == "deleted"
    assert store.champion_run_id("one_to_one") == second  # the alias the earlier import held moved with it
    name = store.registered_model_name("one_to_one")
    assert not client.search_model_versions(f"name = '{name}' and run_id = '{first}'")


def test_a_store_that_took_a_bundle_twice_before_is_mended_on_its_next_import(exported_bundle, tmp_path, monkeypatch):
    _, folder = exported_bundle
    (tmp_path / "fresh").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}")
    [first] = bundles.import_all(tmp_path / "shipped")
    record = json.loads((folder / "run.json").read_text())
    record["metrics"]["general_mean_accuracy"] = [[0, 0.75, record["end_time"]]]
    (folder / "run.json").write_text(json.dumps(record))
    client = store.client()
    experiment_id = client.get_experiment_by_name(store.experiment_name("one_to_one")).experiment_id
    # What imports made before they were marked and earlier ones retired: the re-exported bundle beside the old one.
    client.delete_tag(first, store.IMPORTED_TAG)
    second = bundles._create_from_bundle(client, experiment_id, folder, record, store.bundle_key(folder))
    client.delete_tag(second, store.IMPORTED_TAG)
    assert len(client.search_runs([experiment_id])) == 2
    assert bundles.import_all(tmp_path / "shipped") == []  # nothing new to create...
    assert [run.info.run_id for run in client.search_runs([experiment_id])] == [second]  # ...and the old one gone
    assert store.champion_run_id("one_to_one") == second


def test_a_champion_made_by_hand_stays_chosen_when_its_bundle_is_imported_again(exported_bundle, tmp_path, monkeypatch):
    _, folder = exported_bundle
    (tmp_path / "fresh").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}")
    [first] = bundles.import_all(tmp_path / "shipped")
    tracking.promote("one_to_one", first)
    record = json.loads((folder / "run.json").read_text())
    record["metrics"]["val_accuracy"] = [[1, 0.01, record["end_time"]]]  # the same run, worse by the rule now
    (folder / "run.json").write_text(json.dumps(record))
    [second] = bundles.import_all(tmp_path / "shipped")
    holder = store.client().get_model_version_by_alias(store.registered_model_name("one_to_one"), "champion")
    assert holder.run_id == second and holder.tags.get(store.PROMOTED_TAG) == "by hand"
    # Retrained (another training run in the folder): the choice was of other weights, so the rule picks again.
    record["start_time"] += 1
    record["metrics"]["val_accuracy"] = [[1, 0.02, record["end_time"]]]
    (folder / "run.json").write_text(json.dumps(record))
    [third] = bundles.import_all(tmp_path / "shipped")
    holder = store.client().get_model_version_by_alias(store.registered_model_name("one_to_one"), "champion")
    assert holder.run_id == third and store.PROMOTED_TAG not in holder.tags  # the only run left, by the rule


def test_a_run_trained_here_is_never_taken_for_an_earlier_import(exported_bundle, tmp_path):
    first, folder = exported_bundle
    second = train.main(tiny_mlp_run("tiny-mlp"))  # the same name, exported to the same folder
    assert bundles.export_bundle(second, tmp_path / "shipped") == folder
    assert bundles.import_all(tmp_path / "shipped") == []  # this store made the bundle: nothing to import...
    client = store.client()
    assert client.get_run(first).info.lifecycle_stage == "active"  # ...and nothing to retire
    assert client.get_run(second).info.lifecycle_stage == "active"
    # The bundle exported again from another store (scores logged there): the same start time, but this store
    # trained the run, so it stays beside the import.
    record = json.loads((folder / "run.json").read_text())
    record["metrics"]["general_mean_accuracy"] = [[0, 0.75, record["end_time"]]]
    (folder / "run.json").write_text(json.dumps(record))
    assert len(bundles.import_all(tmp_path / "shipped")) == 1
    assert client.get_run(second).info.lifecycle_stage == "active"


def test_shipped_bundles_import_and_every_champion_loads(shipped_store):
    shipped = {name: store.shipped_bundles(name) for name in TOPOLOGIES}
    assert shipped["one_to_one"], "the foundation ships one-to-one models"
    for topology, runs in shipped.items():
        if not runs:
            continue
        champion_id = store.champion_run_id(topology)
        assert champion_id is not None, f"{topology} has bundles but no champion"
        champion = next(r for r in store.list_runs(topology) if r.run_id == champion_id)
        assert champion.run_name == next(r for r in runs if r.champion).run_name  # the same pick, online or not
        load_checkpoint(store.download_checkpoint(champion_id))
    assert bundles.import_all() == []  # already there: nothing is added twice


def test_shipped_checkpoints_fit_the_size_budget():
    files = [p for p in store.SHIPPED_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 60 * 2**20
    assert all(p.stat().st_size < 20 * 2**20 for p in files)


def test_one_to_one_ships_mlp_cnn_and_row_lstm():
    architectures = {run.params.get("model.arch") for run in store.shipped_bundles("one_to_one")}
    assert {"mlp", "cnn", "row_lstm"} <= architectures
