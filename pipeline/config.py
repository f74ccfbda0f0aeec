"""Reading ``params.yaml``: the file, ``--set`` overrides, and messages that name the key.

The declaration of every key is :mod:`pipeline.params`; this module reads the file,
applies dotted overrides, validates, and turns each problem into one line naming where
it is (the file, or ``--set``), the dotted key, what is wrong, the value given, and the
nearest valid key for a misspelt one. A file that cannot be read as YAML (not UTF-8, a
syntax error, a key given twice, an impossible date) is named with its line and column.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import os
import re
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
        With every problem on a line of its own: ``<file>: <key>: <message>``, or
        ``--set <key>: <message>`` for an override.
    """
    file = Path(path) if path is not None else ROOT / PARAMS_FILE
    raw = _read_tree(file)
    in_file = copy.deepcopy(raw)
    overrides = overrides or {}
    for key, value in overrides.items():
        _set_dotted(raw, key, value)
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = []
        for error in err.errors():
            key, message = _problem(error)
            given = (_overridden(key, message, overrides)
                     or _made_by_override(tuple(error["loc"]), in_file, overrides))
            lines.append(f"--set {message}" if given else f"{file}: {message}")
        raise ConfigError("\n".join(lines)) from None


# --------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """The safe YAML loader (libyaml's when installed), refusing a key given twice in one
    mapping (YAML forbids it; PyYAML keeps the last silently) and naming the line of a
    date that does not exist."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *base" merges keys that the mapping may then override
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the constructor refuses it
            if repeated:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"the key {key!r} is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as err:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date that exists ({err})",
                node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _read_tree(file: Path) -> dict[str, Any]:
    """The params file as a tree of sections, or a ConfigError naming the file (and the
    line and column of what cannot be read)."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: params file not found") from None
    except OSError as err:
        raise ConfigError(f"{file}: the params file cannot be read ({err.strerror})") from None
    if data.startswith(b"\x1f\x8b"):
        raise ConfigError(f"{file}: the params file is gzip-compressed, not YAML text; "
                          f"decompress it")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = err.start + bom
        line = data.count(b"\n", 0, at) + 1
        column = at - (data.rfind(b"\n", 0, at) + 1) + 1
        raise ConfigError(f"{file}, line {line}, column {column}: the params file is not "
                          f"UTF-8 text (byte 0x{data[at]:02x}); save it as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # a safe loader: plain data only
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}{_yaml_error(err, text)}") from None
    if raw is None:
        raise ConfigError(f"{file}: the params file is empty (it holds no parameters)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of stage names, got {type(raw).__name__}")
    return raw


def _yaml_error(err: yaml.YAMLError, text: str) -> str:
    """``, line L, column C: not valid YAML: <problem> (<context>)`` on one line."""
    if isinstance(err, yaml.reader.ReaderError):  # a control character: a position, no mark
        at = err.position
        line, column = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        return (f", line {line}, column {column}: not valid YAML: the control character "
                f"U+{char:04X} cannot be written in YAML")
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return f": not valid YAML: {' '.join(str(err).split())}"
    problem = getattr(err, "problem", None) or "cannot be parsed"
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark is not None and context_mark.line != mark.line:
        problem += f" ({context} started on line {context_mark.line + 1})"
    elif context:
        problem += f" ({context})"
    return f", line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"


# --------------------------------------------------------------------------
# The messages
# --------------------------------------------------------------------------


def _problem(error: Mapping[str, Any]) -> tuple[str, str]:
    """The dotted key of one validation error and its line: ``key: message, got value``,
    with what helps fix it."""
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc)
    message = error["msg"].removeprefix("Value error, ")
    shown = _shown(error.get("input"), key)
    if error["type"] == "extra_forbidden":
        allowed = _section_keys(loc[:-1]) or []
        prefix = "".join(f"{p}." for p in loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = (f"unknown key (did you mean '{prefix}{near[0]}'?)" if near
                   else f"unknown key (the keys here are {', '.join(allowed)})" if allowed
                   else "unknown key")
    elif error["type"] == "model_type":
        message = "should be a section of keys (key: value lines), not a single value"
    elif error["type"] in ("date_type", "date_parsing", "date_from_datetime_inexact"):
        message = "Input should be a date that exists, written YYYY-MM-DD (e.g. 2024-01-31)"
    elif error["type"] in ("value_error", "assertion_error", "missing"):
        shown = None  # the message says what is wrong with the value, or there is none
    if error["type"] in ("value_error", "assertion_error") and message.startswith(f"{key}."):
        return key, message  # a check of the section that names its own key
    return key, f"{key}: {message}" + (f", got {shown}" if shown is not None else "")


def _shown(value: Any, key: str) -> str | None:
    """The value as the message quotes it (short), or None when it may be a secret."""
    if not may_show_value(key) or isinstance(value, Mapping):
        return None
    text = repr(list(value) if isinstance(value, tuple) else value)  # a tuple is a YAML list
    return text if len(text) <= 80 else text[:77] + "..."


def _overridden(key: str, message: str, overrides: Mapping[str, Any]) -> bool:
    """Whether the problem is in an override: its key, a key under it, or a key the
    message names (a check of a whole section)."""
    return any(key == given or key.startswith(f"{given}.")
               or re.search(rf"(?<![\w.]){re.escape(given)}(?!\w)", message)
               for given in overrides)


def _made_by_override(loc: tuple[Any, ...], in_file: Mapping[str, Any],
                      overrides: Mapping[str, Any]) -> bool:
    """Whether the key at ``loc`` is not in the file but an override made it, as the
    section of a longer key (``-S validat.max_future_days=2`` makes ``validat``)."""
    node: Any = in_file
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            dotted = ".".join(str(p) for p in loc)
            return any(given == dotted or given.startswith(f"{dotted}.") for given in overrides)
        node = node[part]
    return False


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
    if not dotted or any(not part for part in dotted.split(".")):
        raise ConfigError(f"--set {dotted!r}: not a dotted key such as labels.horizon_days")
    node = tree
    *parents, leaf = dotted.split(".")
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            section = ".".join(parents[: i + 1])
            raise ConfigError(f"--set {dotted}: {section} holds a {type(node).__name__}, not a "
                              f"section of keys; set {section} as a whole")
    node[leaf] = value
