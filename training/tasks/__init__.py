"""Task modules join a data set, a model and a config; nothing else. Each exposes ``Config`` (a frozen dataclass
subclassing TrainConfig, with a nested ``model`` config) and ``prepare(config, dry_run) -> Task``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable

import torch

from models import TOPOLOGIES


@dataclass
class Task:
    model: torch.nn.Module
    train_batches: Iterable[dict]
    evaluate: Callable[[torch.nn.Module, str], dict[str, float]]  # (model, "val" | a test split) -> metrics
    selection_metric: str  # a key of evaluate's result; higher is better; picks the best epoch and the champion
    dataset_card: str
    # Test-time figures and tables logged as artifacts: name -> plotly figure (logged as .html) or dict (.json).
    report: Callable[[torch.nn.Module], dict[str, object]] = lambda model: {}
    extra_files: Callable[[Path], None] | None = None  # writes a tokenizer or vocabulary beside the weights
    info: dict[str, str] = field(default_factory=dict)  # short facts logged as tags (e.g. data set sizes)
    # The model config saved with checkpoints when prepare derives part of it from the data (a vocabulary);
    # None means the config's own ``model``.
    model_config: object | None = None
    # The held-out sets scored once training ends, each logged as ``<split>_<metric>``: a task may keep a second
    # test set that resembles what users bring (newer, longer or out-of-domain data) beside the random one.
    test_splits: tuple[str, ...] = ("test",)
    pretraining: Pretraining | None = None  # a first stage, trained before ``model`` and sharing weights with it
    # The data set when it is not the topology's own, as "<name>@<content hash>": only runs on the same data set
    # compete for a champion. None: the data set the topology's page demonstrates.
    dataset: str | None = None
    # Config keys (dotted) this run does not use, such as another data set's settings: they are not logged.
    unused_settings: frozenset[str] = frozenset()


@dataclass
class Pretraining:
    """A stage trained before the main one on its own objective (an encoder naming what is where, say). Its
    model shares modules with the main model, so the main stage starts from what it learnt; heads the main model
    does not share are dropped."""

    model: torch.nn.Module
    train_batches: Iterable[dict]
    evaluate: Callable[[torch.nn.Module, str], dict[str, float]]  # (model, "val") -> metrics
    selection_metric: str  # a key of evaluate's result; higher is better; picks the weights the stage ends with
    epochs: int


def task_module(topology: str) -> ModuleType:
    if topology not in TOPOLOGIES:
        raise SystemExit(f"unknown topology {topology!r}; choose one of: {', '.join(TOPOLOGIES)}")
    try:
        return importlib.import_module(f"training.tasks.{topology}")
    except ModuleNotFoundError as error:
        if error.name == f"training.tasks.{topology}":
            raise SystemExit(f"topology {topology!r} has no training task yet") from error
        raise
