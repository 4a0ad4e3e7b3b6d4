"""Models of RNN Lab: one file per topology, the checkpoint format, and where trained runs live.

Each topology module holds its config, modules, model and inference, and nothing else: it exposes ``Config`` (a
frozen dataclass, with ``arch``, the architecture's short name) and ``build_model(config) -> nn.Module`` whose
``forward`` returns ``(logits, loss)``. What the models read through has a module of its own: tweet_text (the
tweet pipeline), video (decoding), sequences (padding and reversal shared by the recurrent models); so do the
non-neural peers they are compared with (peers) and the seeded generators of the synthetic data (generators/).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Topology:
    """A registered topology. Its name also finds its training task (training/tasks/<name>.py), its configs
    (training/configs/<name>/) and its page (dashboard/views/<name>.py); the dashboard's TOPOLOGY_UI holds what the
    pages show of it. docs/adding-a-topology.md lists every piece, and tests/test_topology_registry.py checks them."""

    name: str  # the id used in commands, experiment names and folders
    title: str  # what the dashboard calls it
    module: str  # the models module that defines Config and build_model


TOPOLOGIES: dict[str, Topology] = {
    t.name: t
    for t in (
        Topology("one_to_one", "One to one", "models.one_to_one"),
        Topology("one_to_many", "One to many", "models.one_to_many"),
        Topology("many_to_one", "Many to one", "models.many_to_one"),
        Topology("many_to_many", "Many to many", "models.many_to_many"),
        Topology("many_to_many_synced", "Many to many, synced", "models.many_to_many_synced"),
    )
}


def topology_module(name: str) -> ModuleType:
    if name not in TOPOLOGIES:
        raise KeyError(f"unknown topology {name!r}; known: {', '.join(TOPOLOGIES)}")
    return importlib.import_module(TOPOLOGIES[name].module)
