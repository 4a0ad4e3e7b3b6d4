"""DistributedDataParallel on the CPU: two gloo processes, as `torchrun --nproc-per-node 2 -m training.train`
starts them (the same RANK, WORLD_SIZE and rendezvous variables), end a dry run with the same weights, and rank 0
alone logs one MLflow run."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing
from mlflow import MlflowClient

from models import store
from training import train
from training.distributed import World, resolve_device
from training.servers import free_port
from training.trainer import Trainer

WORLD_SIZE = 2
DRY_RUN = [
    "one_to_one",
    "--dry-run",
    "--set",
    "model.arch=mlp",
    "--set",
    "threads=1",
    "--set",
    "device=cpu",
    "--run-name",
    "ddp",
]


def train_rank(rank: int, port: int, folder: str, tracking_uri: str) -> None:
    """One torchrun process: its environment, the training CLI, and its weights after fit() saved for the test."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GLOO_SOCKET_IFNAME="lo",
        MLFLOW_TRACKING_URI=tracking_uri,
    )
    fit = Trainer.fit

    def fit_and_keep(trainer: Trainer) -> float:
        initial = {key: value.clone() for key, value in trainer.model.state_dict().items()}
        best = fit(trainer)
        torch.save({"initial": initial, "final": trainer.model.state_dict()}, f"{folder}/rank{rank}.pt")
        return best

    Trainer.fit = fit_and_keep
    train.main(DRY_RUN)


def test_two_gloo_processes_end_with_the_same_weights_and_one_run(tracking_store, tmp_path):
    torch.multiprocessing.spawn(train_rank, args=(free_port(), str(tmp_path), tracking_store), nprocs=WORLD_SIZE)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD_SIZE)]
    for key, weights in ranks[0]["final"].items():
        assert torch.equal(weights, ranks[1]["final"][key]), f"{key} differs between the ranks"
    assert any(not torch.equal(ranks[0]["initial"][key], weights) for key, weights in ranks[0]["final"].items()), (
        "the weights never changed: nothing was trained"
    )

    client = MlflowClient(tracking_store)
    experiment = client.get_experiment_by_name(store.experiment_name("one_to_one") + store.DRY_RUN_SUFFIX)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["device"] == "cpu"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]
    # Each of the two dry-run batches went to one rank: the logged loss is over both.
    assert run.data.metrics["samples_per_sec"] > 0 and client.list_artifacts(run.info.run_id, "checkpoint")


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda")
    assert not World().distributed and World(rank=1, size=2).distributed and not World(rank=1, size=2).is_main
