"""MLflow on PostgreSQL, as `make tracking-server` starts it: a dry-run training and the bundle import go through
the server, and the run, its metrics and its checkpoint come back through it, with no local artifact path."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pytest

from models import serving, store
from models.checkpoint import load_checkpoint
from training import bundles, servers, train


@pytest.fixture(scope="module")
def server_root():
    # Not pytest's tmp_path: under root, PostgreSQL runs as the postgres account, which must reach its cluster, and
    # pytest's base folder is private to the user running it.
    root = Path(tempfile.mkdtemp(prefix="rnnlab-tracking-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tracking_server(server_root):
    """PostgreSQL and MLflow on free ports for this module; both stopped at its end, however it ends."""
    try:
        servers.install_postgres()
    except servers.ServerError as error:
        pytest.skip(f"PostgreSQL cannot be installed here: {error}")
    with servers.tracking_server(server_root, data_dir=server_root / "postgresql") as url:
        yield url


@pytest.fixture
def on_server(tracking_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    yield tracking_server
    mlflow.set_tracking_uri(None)


def test_a_dry_run_trains_through_the_server(on_server, server_root, tmp_path):
    run_id = train.main(["one_to_one", "--dry-run", "--set", "model.arch=mlp", "--run-name", "on-postgres"])
    client = store.client()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "on-postgres"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "the client must store no local path"
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]
    assert "test_accuracy" in run.data.metrics and run.data.params["model.arch"] == "mlp"
    checkpoint = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=store.CHECKPOINT_ARTIFACT, dst_path=str(tmp_path), tracking_uri=on_server
    )
    assert load_checkpoint(Path(checkpoint)).topology == "one_to_one"
    # The server keeps the files, under its artifacts destination.
    assert list((server_root / "artifacts").rglob(f"{run_id}/artifacts/checkpoint/model.safetensors"))


def test_a_shipped_bundle_imports_once_and_serves_from_the_server(on_server, tmp_path):
    bundle = store.shipped_bundles("many_to_one")[0]  # the champion: one bundle keeps the test short
    shipped = tmp_path / "shipped" / "many_to_one"
    shipped.mkdir(parents=True)
    (shipped / bundle.bundle_dir.name).symlink_to(bundle.bundle_dir)
    [run_id] = bundles.import_all(shipped.parent)
    assert bundles.import_all(shipped.parent) == [], "a second import adds nothing"

    [champion] = store.list_runs("many_to_one")
    assert champion.run_id == run_id and champion.champion and champion.run_name == bundle.run_name
    assert store.metric_history(run_id, "val_accuracy") == store.run_history(bundle, "val_accuracy")
    checkpoint = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=store.CHECKPOINT_ARTIFACT,
        dst_path=str(tmp_path / "download"),
        tracking_uri=on_server,
    )
    assert load_checkpoint(Path(checkpoint)).topology == "many_to_one"
    # The import registered a served model, fetched through the server by its registry alias.
    served = mlflow.pyfunc.load_model(f"models:/{store.registered_model_name('many_to_one')}@{store.CHAMPION_ALIAS}")
    answer = served.predict(serving.input_example("many_to_one"))
    assert list(answer["label"]) == ["positive", "negative"]


def test_a_wrong_database_url_is_one_clear_line_within_seconds(tmp_path):
    wrong = f"postgresql+psycopg://rnnlab:secret@127.0.0.1:{servers.free_port()}/mlflow"
    started = time.monotonic()
    with pytest.raises(servers.ServerError) as failed:
        with servers.tracking_server(tmp_path, database_url=wrong):
            pass
    assert time.monotonic() - started < 10
    message = str(failed.value)
    assert "cannot be used" in message and "secret" not in message and "rnnlab:***@127.0.0.1" in message
