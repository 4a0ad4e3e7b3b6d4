"""Configs are frozen dataclasses; a TOML file and ``--set key=value`` override their defaults."""

from __future__ import annotations

import ast
import dataclasses
import tomllib
import typing
from pathlib import Path


def _coerce(text: str, kind):
    origin = typing.get_origin(kind)
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if text.startswith(("(", "[")):  # a logged param is the tuple's repr, e.g. "('T-shirt/top', 'Trouser')"
            return tuple(item(value) for value in ast.literal_eval(text))
        return tuple(_coerce(part.strip(), item) for part in text.split(",") if part.strip())
    if kind in (int, float, str):
        return kind(text)
    raise ValueError(f"cannot set a field of type {kind}")


def flatten(config, prefix: str = "", convert=str) -> dict[str, object]:
    """A nested config dataclass as flat dotted keys (``model.arch``), each value passed through ``convert``."""
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            values.update(flatten(value, f"{prefix}{field.name}.", convert))
        else:
            values[f"{prefix}{field.name}"] = convert(value)
    return values


def override(config, values: dict[str, object]):
    """A copy of ``config`` with dotted keys replaced (``model.arch``); values may be strings to parse."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    changes, nested = {}, {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            raise SystemExit(f"unknown config key {key!r}; known: {', '.join(sorted(fields))}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        elif dataclasses.is_dataclass(getattr(config, head)) and isinstance(value, dict):
            nested.setdefault(head, {}).update(value)
        else:
            try:
                changes[head] = (
                    _coerce(value, hints[head])
                    if isinstance(value, str) and hints[head] is not str
                    else (tuple(value) if isinstance(value, list) else value)
                )
            except ValueError as error:
                raise SystemExit(f"bad value for {key}: {error}") from error
    for head, sub in nested.items():
        changes[head] = override(getattr(config, head), sub)
    return dataclasses.replace(config, **changes)


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    values = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {assignment!r}")
        values[key.strip()] = value.strip()
    return values


def load_config(config_class, path: Path | None, assignments: list[str]):
    config = config_class()
    if path:
        config = override(config, tomllib.loads(Path(path).read_text()))
    return override(config, parse_assignments(assignments))
