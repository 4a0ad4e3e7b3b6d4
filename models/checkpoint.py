"""The checkpoint format: a folder with ``model.json`` (topology + config), ``model.safetensors`` (the
state_dict) and any extra files a topology needs (a tokenizer, a vocabulary). Never a pickled module."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models import topology_module

MODEL_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint folder that is missing, incomplete or corrupt."""


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(config_class, values: dict):
    """Rebuild a frozen config from JSON, turning lists back into the tuples the dataclass declares."""
    hints = typing.get_type_hints(config_class)
    known = {f.name for f in dataclasses.fields(config_class)}
    kwargs = {}
    for name, value in values.items():
        if name not in known:
            raise CheckpointError(f"{config_class.__module__}.Config has no field {name!r}")
        if isinstance(value, list) and typing.get_origin(hints[name]) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return config_class(**kwargs)


@dataclass
class Checkpoint:
    topology: str
    config: object
    model: torch.nn.Module
    directory: Path
    meta: dict

    def file(self, name: str) -> Path:
        """An extra file saved beside the weights (a tokenizer, say)."""
        path = self.directory / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {self.directory} has no {name}")
        return path


def save_checkpoint(directory: Path, topology: str, config, model: torch.nn.Module, meta: dict | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    description = {
        "topology": topology,
        "config": config_to_dict(config),
        "meta": meta or {},
        "torch_version": torch.__version__,
    }
    (directory / MODEL_FILE).write_text(json.dumps(description, indent=2, sort_keys=True))
    # contiguous() because safetensors refuses views that share storage (e.g. tied or transposed weights).
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(directory / WEIGHTS_FILE))
    return directory


def load_checkpoint(directory: Path) -> Checkpoint:
    """Build the model from its config and load its weights; any defect is a CheckpointError that says what."""
    directory = Path(directory)
    try:
        description = json.loads((directory / MODEL_FILE).read_text())
        module = topology_module(description["topology"])
        config = config_from_dict(module.Config, description["config"])
        model = module.build_model(config)
        state = load_file(str(directory / WEIGHTS_FILE))
        model.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as error:  # a corrupt file surfaces as many exception types; the caller needs one
        raise CheckpointError(
            f"cannot load the checkpoint in {directory.name}: {type(error).__name__}: {error}"
        ) from error
    model.eval()
    return Checkpoint(description["topology"], config, model, directory, description.get("meta", {}))
