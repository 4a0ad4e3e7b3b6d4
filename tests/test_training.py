"""The generic trainer and the training CLI, end to end against a temporary MLflow store."""

import pytest
import torch
from mlflow import MlflowClient

from models import store
from models.checkpoint import load_checkpoint
from tests.conftest import tiny_mlp_run
from training import train
from training.config import flatten, load_config, override
from training.tasks import one_to_one as task
from training.trainer import TrainConfig, Trainer, lr_factor


def test_config_overrides_nested_and_typed(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = 3\n[model]\narch = "mlp"\n')
    config = load_config(task.Config, toml, ["lr=0.01", "model.bidirectional=false", "model.labels=a,b"])
    assert (config.epochs, config.lr, config.model.arch) == (3, 0.01, "mlp")
    assert config.model.bidirectional is False and config.model.labels == ("a", "b")
    logged = {key: value for key, value in flatten(config).items()}  # what a resumed run reads back
    assert override(task.Config(), logged) == config
    with pytest.raises(SystemExit, match="unknown config key"):
        override(config, {"model.nope": "1"})
    with pytest.raises(SystemExit, match="bad value for epochs"):
        override(config, {"epochs": "many"})


def test_schedule_warms_up_then_decays():
    factor = lr_factor(TrainConfig(epochs=2, warmup_epochs=0.5), steps_per_epoch=10)
    assert factor(0) == pytest.approx(0.2) and factor(4) == pytest.approx(1.0)
    assert factor(19) < 0.05 and all(0 <= factor(s) <= 1 for s in range(20))


class ListLogger:
    """A RunLogger that keeps what the trainer reports, for a test to read."""

    def __init__(self):
        self.metrics, self.states, self.best = [], 0, 0

    def log_metrics(self, metrics, step):
        self.metrics.append((step, metrics))

    def save_state(self, state):
        self.states += 1

    def save_best(self, model):
        self.best += 1


class Probe(torch.nn.Module):
    """The smallest model the trainer takes: one linear layer over batches {"x": (B, 4), "y": (B,)}."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x, y):
        logits = self.linear(x)
        return logits, torch.nn.functional.cross_entropy(logits, y)


def test_trainer_learns_and_stops_early():
    torch.manual_seed(0)
    inputs = torch.randn(256, 4)
    targets = (inputs[:, 0] > 0).long()

    from training.batching import TensorBatches

    model = Probe()
    evaluate = lambda m: {"accuracy": float((m.linear(inputs).argmax(-1) == targets).float().mean())}  # noqa: E731
    logger = ListLogger()
    trainer = Trainer(
        TrainConfig(epochs=30, batch_size=32, lr=0.05, patience=2),
        model,
        TensorBatches({"x": inputs, "y": targets}, 32, shuffle=True),
        evaluate,
        "accuracy",
        logger,
    )
    best = trainer.fit()
    assert best > 0.95
    assert [step for step, _ in logger.metrics] == list(range(1, len(logger.metrics) + 1))
    assert len(logger.metrics) < 30  # stopped early once accuracy stopped improving
    assert {"train_loss", "val_accuracy", "lr", "epoch_seconds", "samples_per_sec"} <= set(logger.metrics[0][1])
    assert evaluate(model)["accuracy"] == pytest.approx(best)  # the best weights are the ones left in the model


def test_dry_run_logs_params_stepped_metrics_and_a_loadable_checkpoint(tracking_store, tmp_path):
    run_id = train.main(["one_to_one", "--dry-run", "--set", "model.arch=mlp"])
    client = MlflowClient(tracking_store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.arch"] == "mlp" and run.data.params["max_batches"] == "2"
    assert {"rnnlab.cpu", "rnnlab.threads", "rnnlab.torch", "mlflow.source.git.commit"} <= set(run.data.tags)
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [1] and isinstance(history[0].value, float)
    assert {"train_loss", "val_loss", "lr", "epoch_seconds", "samples_per_sec", "test_accuracy"} <= set(
        run.data.metrics
    )
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == store.experiment_name("one_to_one") + "-dry-run"
    checkpoint = load_checkpoint(store.download_checkpoint(run_id))
    assert checkpoint.config.arch == "mlp"
    assert (checkpoint.directory / "out_of_domain.json").is_file()  # the threshold measured with these weights
    logits, _ = checkpoint.model(torch.rand(2, 1, 28, 28))
    assert logits.shape == (2, 10)
    assert tracking_store.endswith("mlflow.db") and (tmp_path / "artifacts").is_dir()  # artifacts beside the store


def test_interrupted_run_is_killed_then_resumes(tracking_store, monkeypatch):
    original = Trainer._train_epoch

    def interrupt_in_second_epoch(self, progress):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return original(self, progress)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupt_in_second_epoch)
    argv = tiny_mlp_run("interrupted")
    with pytest.raises(SystemExit) as exited:
        train.main(argv)
    assert exited.value.code == 130
    client = MlflowClient(tracking_store)
    [run] = client.search_runs([client.get_experiment_by_name(store.experiment_name("one_to_one")).experiment_id])
    assert run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1]

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    assert train.main(["one_to_one", "--resume", run.info.run_id]) == run.info.run_id
    resumed = client.get_run(run.info.run_id)
    assert resumed.info.status == "FINISHED"
    resumed_labels = load_checkpoint(store.download_checkpoint(run.info.run_id)).config.labels
    assert resumed_labels == task.Config().model.labels
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    assert store.champion_run_id("one_to_one") == run.info.run_id  # the only finished run becomes champion


def test_failed_run_is_marked_failed(tracking_store, monkeypatch):
    def explode(self, progress):
        raise RuntimeError("boom")

    monkeypatch.setattr(Trainer, "_train_epoch", explode)
    with pytest.raises(RuntimeError, match="boom"):
        train.main(["one_to_one", "--dry-run"])
    client = MlflowClient(tracking_store)
    experiment = client.get_experiment_by_name(store.experiment_name("one_to_one") + "-dry-run")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_unknown_topology_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown topology"):
        train.main(["two_to_seven", "--dry-run"])


def test_same_seed_same_run(tracking_store):
    client = MlflowClient(tracking_store)
    losses = []
    for _ in range(2):
        run_id = train.main(["one_to_one", "--dry-run", "--set", "model.arch=cnn"])
        losses.append(
            (client.get_run(run_id).data.metrics["train_loss"], client.get_run(run_id).data.metrics["test_loss"])
        )
    assert losses[0] == losses[1]
