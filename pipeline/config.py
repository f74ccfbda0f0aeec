"""Reading ``params.yaml``: the file, ``--set`` overrides, and messages that name the key.

The declaration of every key is :mod:`pipeline.params`; this module reads the file,
applies dotted overrides, validates, and turns each problem into one line naming the
key, what is wrong, and the nearest valid key for a misspelt one.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.errors import ConfigError
from pipeline.params import Params
from pipeline.paths import PARAMS_FILE, ROOT
from pipeline.secrets import may_show_value

__all__ = ["ConfigError", "Params", "load_params"]


def load_params(path: str | os.PathLike[str] | None = None,
                overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate ``params.yaml``.

    Parameters
    ----------
    path
        The params file; default ``params.yaml`` at the project root.
    overrides
        Dotted keys to replace after reading, e.g. ``{"generate.size": "tiny"}``.

    Raises
    ------
    ConfigError
        With every problem listed as ``key: message``.
    """
    file = Path(path) if path is not None else ROOT / PARAMS_FILE
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{file}: params file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of stage names, got {type(raw).__name__}")
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = "\n".join(f"  {_problem(e)}" for e in err.errors())
        raise ConfigError(f"{file}: invalid parameters:\n{problems}") from None


def _problem(error: Mapping[str, Any]) -> str:
    """``key: message`` for one validation error, with what helps fix it."""
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc).replace("validate_", "validate")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _section_keys(loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed or [], n=1)
        if near:
            message += f" (unknown key; did you mean {near[0]!r}?)"
        elif allowed:
            message += f" (unknown key; the keys here are {', '.join(allowed)})"
    elif (error["type"] not in ("value_error", "missing")
          and isinstance(error.get("input"), str | int | float | bool)
          and may_show_value(key)):
        shown = repr(error["input"])
        message += f", got {shown if len(shown) <= 80 else shown[:77] + '...'}"
    return f"{key}: {message}"


def _section_keys(loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed in the params section at ``loc``, or None if it is not a section."""
    node: Any = Params
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        field = next((f for name, f in node.model_fields.items()
                      if (f.alias or name) == part or name == part), None)
        if field is None:
            return None
        kind = field.annotation
        while not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            args = [a for a in get_args(kind) if a is not type(None)]
            if get_origin(kind) in (list, dict) and args and parts:
                parts.pop(0)  # a list index or a dict key
                kind = args[-1]
            elif len(args) == 1:
                kind = args[0]  # X | None
            else:
                return None
        node = kind
    return [f.alias or name for name, f in node.model_fields.items()]


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            section = ".".join(parents[: i + 1])
            raise ConfigError(f"--set {dotted}: {section} holds a {type(node).__name__}, not a "
                              f"section of keys; set {section} as a whole")
    node[leaf] = value

