"""A topology's training settings as JSON, for forms that launch runs (the dashboard's Experiments page), which
must not import training code:

    python -m training.describe one_to_one

Prints ``{"topology", "fields": [...], "presets": [...]}``. Each field is a dotted config key with its type, default,
allowed range or choices, and a help line taken from the comments beside it in the config dataclasses (the source
stays the one place that documents a setting). Each preset is a shipped TOML config with every value it resolves to.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import re
import sys
import tokenize
import typing
from functools import cache
from pathlib import Path

from training.config import flatten, load_config
from training.tasks import task_module

CONFIGS_DIR = Path(__file__).parent / "configs"
# Ints that may be 0 (an off switch or a count that may be empty) although their default is not; every other int
# must be at least 1 (no epochs, batches or hidden units of size 0), unless its default is 0 itself.
ZERO_ALLOWED = {
    "seed",
    "max_batches",
    "weak_sentences",
    "pretrain_epochs",
    "pooled_naming_hidden",
    "max_len_extra",
    "holdout_scenes",
}
POSITIVE_FLOATS = {"lr", "grad_clip", "length_penalty"}  # must be above 0
# Floats that are shares of something: between 0 and 1.
UNIT_INTERVAL = re.compile(r"dropout|fraction|smoothing|probability|share")
# Help for the fields the config classes leave uncommented because every trainer knows them.
COMMON_HELP = {
    "epochs": "passes over the training data; early stopping may end the run sooner",
    "batch_size": "examples per optimiser step",
    "lr": "peak learning rate (AdamW), reached after the warm-up",
    "weight_decay": "AdamW's decoupled weight decay (biases and norm gains are not decayed)",
    "warmup_epochs": "epochs of linear learning-rate warm-up",
    "seed": "seeds the data split, shuffles and initial weights: the same seed repeats a run",
    "threads": "torch threads for this run; 1 on a machine busy with other work",
    "dropout": "share of activations zeroed during training",
}
# A comment listing the allowed values: "mlp" | "cnn" | "row_lstm", each possibly followed by an explanation.
CHOICE = re.compile(r'^\s*"([^"]+)"')


@cache
def _comments(cls: type) -> dict[str, str]:
    """Each annotated field of ``cls`` -> the comment on its line, after the comment block right above it."""
    try:
        source_lines, first = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    source = "".join(source_lines)
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    lines = source.splitlines()
    found = {}
    for statement in ast.parse(inspect.cleandoc("\n" + source) if source[0].isspace() else source).body[0].body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        above, row = [], statement.lineno - 1
        while row >= 1 and lines[row - 1].strip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        beside = [comments[r] for r in range(statement.lineno, statement.end_lineno + 1) if r in comments]
        found[statement.target.id] = " ".join(above + beside)
    return found


def _help(cls: type, name: str) -> str:
    """The field's comment in the first class of the hierarchy that has one (a subclass that only changes a
    default, like a task's ``epochs``, keeps the base class's explanation)."""
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}) and _comments(klass).get(name):
            return _comments(klass)[name]
    return COMMON_HELP.get(name, "")


def _kind(hint) -> str | None:
    """The form's type for a field: int, float, bool, str, or a list of numbers; None for what a form cannot set
    (label and vocabulary tuples come from the data)."""
    if hint in (int, float, bool, str):
        return hint.__name__
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if item in (int, float):
            return f"{item.__name__} list"
    return None


def _range(name: str, kind: str, default) -> dict:
    if kind in ("int", "int list"):
        zero = name in ZERO_ALLOWED or default == 0 or kind == "int list"
        return {"min": 0 if zero else 1}
    if kind in ("float", "float list"):
        bounds = {"min": 0.0, "min_exclusive": name in POSITIVE_FLOATS}
        if UNIT_INTERVAL.search(name):
            bounds["max"] = 1.0
        return bounds
    return {}


def _choices(help_text: str) -> list[str] | None:
    if "|" not in help_text:
        return None
    options = [CHOICE.match(part) for part in help_text.split("|")]
    return [match[1] for match in options] if all(options) else None


def _value(value):
    return list(value) if isinstance(value, tuple) else value


def describe_fields(config, prefix: str = "") -> list[dict]:
    """The settable fields of a config dataclass instance, nested ones as dotted keys."""
    cls, hints = type(config), typing.get_type_hints(type(config))
    fields = []
    for field in dataclasses.fields(config):
        value, key = getattr(config, field.name), f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            fields += describe_fields(value, f"{key}.")
            continue
        kind = _kind(hints[field.name])
        if kind is None:
            continue
        help_text = _help(cls, field.name)
        fields.append(
            {
                "key": key,
                "type": kind,
                "default": _value(value),
                "help": help_text,
                "choices": _choices(help_text),
                **_range(field.name, kind, value),
            }
        )
    return fields


def _first_comment(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def describe(topology: str) -> dict:
    module = task_module(topology)
    presets = [
        {
            "name": path.stem,
            "file": str(path.relative_to(CONFIGS_DIR.parents[1])),
            "summary": _first_comment(path),
            "values": flatten(load_config(module.Config, path, []), convert=_value),
        }
        for path in sorted((CONFIGS_DIR / topology).glob("*.toml"))
    ]
    return {"topology": topology, "fields": describe_fields(module.Config()), "presets": presets}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m training.describe <topology>")
    print(json.dumps(describe(argv[0])))


if __name__ == "__main__":
    main()
