"""Every registered topology has every piece docs/adding-a-topology.md lists, so a missing one fails here rather
than as a KeyError on a page, in training or in serving."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from dashboard.components.topology_registry import TOPOLOGY_UI
from dashboard.navigation import VIEWS, built
from models import TOPOLOGIES, topology_module

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adding-a-topology.md"
# The names the doc must mention, one per piece checked below.
PIECES = (
    "models/<topology>.py",
    "TOPOLOGIES",
    "training/tasks/<topology>.py",
    "training/configs/<topology>/",
    "TOPOLOGY_UI",
    "dashboard/views/<topology>.py",
    "ANSWERS",
    "INPUT_COLUMNS",
    "signature",
    "EXAMPLE_REQUESTS",
    "MEASURES",
    "DRY_RUN_SIZES",
)


def test_the_dashboard_registry_has_the_same_topologies_as_the_models_registry():
    assert list(TOPOLOGY_UI) == list(TOPOLOGIES)


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_a_topology_has_every_piece(name):
    assert TOPOLOGIES[name].name == name
    model = topology_module(name)
    assert dataclasses.is_dataclass(model.Config) and callable(model.build_model)
    task = importlib.import_module(f"training.tasks.{name}")
    assert dataclasses.is_dataclass(task.Config) and callable(task.prepare)
    assert sorted((ROOT / "training" / "configs" / name).glob("*.toml")), f"training/configs/{name}/ has no TOML"
    ui = TOPOLOGY_UI[name]
    assert ui.icon.startswith(":material/") and ui.demo and ui.explanation
    assert set(ui.layout.inputs) | set(ui.layout.outputs) <= set(range(ui.layout.steps))
    # A page file frames itself with its own topology's name; without one the navigation serves a placeholder.
    if built(name):
        # The call may wrap after its parenthesis (the formatter does that for long argument lists).
        assert re.search(rf'topology_page\(\s*"{name}"', (VIEWS / f"{name}.py").read_text())


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_a_topology_is_served_and_its_memory_measured(name):
    from models import serving
    from training import memory_span

    assert name in serving.ANSWERS
    serving.signature(name, {})  # reads INPUT_COLUMNS and the table of output columns
    assert set(serving.input_example(name).columns) <= set(serving.INPUT_COLUMNS[name])
    assert name in memory_span.MEASURES and name in memory_span.DRY_RUN_SIZES


def test_the_doc_names_every_piece_the_test_checks():
    doc = DOC.read_text()
    assert [piece for piece in PIECES if piece not in doc] == []
