"""The stored types a contract column may have in a Parquet file, and the refusals.

A Parquet writer may store each contract column in many Arrow types: strings
(plain, large, dictionary-encoded, pandas categoricals), integers signed and
unsigned, decimals, floats, timestamps with or without a zone in any unit,
dates. DuckDB reads them all; what each contract column accepts is decided here
from the family of its DuckDB type, before any row is read:

* ids (``customer_id``, ``transaction_id``) from text or integers (read as
  their digits, ``123`` never ``123.0``); a fractional number is refused, its
  text not being the id;
* numbers from integers, decimals, floats or text;
* timestamps from timestamps, dates or text; integers and floats are Unix
  epochs, read only in the unit ``data.timestamp_unit`` names, never guessed;
* booleans from booleans, integers (1/0) or text;
* any other text column from any scalar type.

A nested type (list, struct, map, union) or a type that cannot hold the column
(a time of day, an interval, a boolean amount) stops validation with one
message naming the column, its stored type and what to export instead.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from features.errors import InputError
from features.schema import INPUT_TABLES
from features.validation.sources import _Source
from features.validation.sql import _Params, _q, _run

_INTEGER = re.compile(r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|DECIMAL\(\d+,\s*0\))$")
_FRACTIONAL = re.compile(r"^(FLOAT|DOUBLE|REAL|DECIMAL\(\d+,\s*[1-9]\d*\))$")
#: DuckDB types of timestamps without and with a zone (any unit), and dates.
NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")
AWARE_TIME_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS")
_TIME = NAIVE_TIME_TYPES + AWARE_TIME_TYPES
_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}
_IDS = ("customer_id", "transaction_id")


def _family(kind: str) -> str:
    """``text``, ``integer``, ``fractional``, ``time``, ``boolean``, ``null``, ``nested`` or
    ``other`` for a DuckDB type name."""
    if kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION")):
        return "nested"
    if _INTEGER.match(kind):
        return "integer"
    if _FRACTIONAL.match(kind):
        return "fractional"
    if kind in _TIME:
        return "time"
    if kind in ("VARCHAR", "BLOB", "UUID") or kind.startswith("ENUM"):
        return "text"
    return {"BOOLEAN": "boolean", '"NULL"': "null", "NULL": "null"}.get(kind, "other")


_ACCEPTED = {
    "id": ("text", "integer", "null"),
    "double": ("integer", "fractional", "text", "null"),
    "timestamp[us]": ("time", "text", "null"),
    "bool": ("boolean", "integer", "text", "null"),
    "string": ("text", "integer", "fractional", "time", "boolean", "null"),
}
_EXPORT = {
    "id": "a string column (or integers)",
    "double": "a number column (integer, decimal or float) or text",
    "timestamp[us]": "a timestamp or date column, or ISO 8601 text",
    "bool": "a boolean column, 1/0 integers or text",
    "string": "a string column",
}


def _check_types(con: duckdb.DuckDBPyConnection, source: _Source, files: list[str],
                 timestamp_unit: str | None) -> None:
    """Raise an :class:`InputError` for the first contract column whose stored type it
    cannot have."""
    for column in INPUT_TABLES[source.table].columns:
        pos = source.positions.get(column.name)
        if pos is None:
            continue
        kind, name = source.types[pos], source.keys[pos]
        family = _family(kind)
        role = "id" if column.name in _IDS else column.dtype
        accepted = _ACCEPTED[role]
        if role == "timestamp[us]" and timestamp_unit is not None:
            accepted += ("integer", "fractional")
        if family in accepted:
            continue
        example = _example(con, name, files)
        where = f"{source.display}: column {name!r} (data.{source.table} {column.name})"
        if column.name == "customer_id" and family == "fractional":
            raise InputError(
                f"{where} is stored as {kind}{example}; an id stored as a fractional number "
                f"is not its text (123 reads as '123.0', leading zeros are gone, ids above "
                f"2**53 change). Export the file again with customer_id as text (a string "
                f"column) from the system that holds the ids; converting the numbers "
                f"afterwards cannot bring the lost digits back.")
        if role == "timestamp[us]" and family in ("integer", "fractional"):
            raise InputError(f"{where} is stored as {kind}{example}: numbers, not timestamps. "
                             f"{_epoch_advice(con, name, files)}")
        raise InputError(f"{where} is stored as {kind}{example}, which cannot hold "
                         f"{column.name} values ({column.dtype}); export it as "
                         f"{_EXPORT[role]}.")


def _first(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> object:
    p = _Params()
    row = _run(con, f"SELECT {_q(name)} FROM read_parquet({p(files)}, union_by_name = true) "
                    f"WHERE {_q(name)} IS NOT NULL LIMIT 1", p)
    return row[0][0] if row else None


def _example(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> str:
    p = _Params()
    row = _run(con, f"SELECT CAST({_q(name)} AS VARCHAR) FROM read_parquet({p(files)}, "
                    f"union_by_name = true) WHERE {_q(name)} IS NOT NULL LIMIT 1", p)
    return f" (e.g. {row[0][0]!r})" if row else ""


def _epoch_advice(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> str:
    """Unix epochs are never guessed: the setting to name, and what a value reads as."""
    value = _first(con, name, files)
    readings = []
    if isinstance(value, int | float):
        for unit in _UNITS:
            readings.append(f"{_epoch_reading(value, unit)} in {unit!r}")
    shown = f"; {value!r} reads as " + ", ".join(readings) if readings else ""
    return (f"If they are Unix epochs (time since 1970-01-01 UTC), set data.timestamp_unit in "
            f"params.yaml to their unit: 's', 'ms', 'us' or 'ns'{shown}. Otherwise export the "
            f"column as timestamps.")


def _epoch_reading(value: float, unit: str) -> str:
    try:
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=float(value) * _UNITS[unit])
    except (OverflowError, ValueError):
        return "out of range"
    return moment.isoformat(" ", timespec="seconds")


def _epoch_sql(value: str, family: str, unit: str) -> str:
    """SQL for a naive UTC timestamp from an epoch number in ``unit`` (NULL if out of range)."""
    if family == "integer":
        scaled = (f"CAST({value} AS HUGEINT) // 1000" if unit == "ns"
                  else f"CAST({value} AS HUGEINT) * {int(_UNITS[unit])}")
    else:
        scaled = f"round(CAST({value} AS DOUBLE) * {_UNITS[unit]})"
    return f"try(make_timestamp(TRY_CAST({scaled} AS BIGINT)))"
