"""Locating and opening the input files, before anything is loaded into DuckDB.

The format of an input (CSV or Parquet, by name, or a directory of Parquet
files), whether it exists (with close names when it does not), the files of a
Parquet directory and the keys of the raw columns. :class:`_Source` describes
one input once loaded and names its working tables in DuckDB.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.errors import InputError

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class _Source:
    """One input as loaded: where it came from and where its contract columns are."""

    table: str
    display: str | None
    kind: str  # "csv", "parquet", "empty" (a 0-byte file) or "none" (no input)
    keys: tuple[str, ...]  # raw column names, as JSON keys of the quarantine
    types: tuple[str, ...]  # DuckDB type of each raw column
    positions: dict[str, int] = field(default_factory=dict)  # contract column -> raw column
    delimiter: str = ","
    physical: dict[str, Any] = field(default_factory=dict)  # a CSV's lines (csv_records)

    @property
    def raw(self) -> str:
        return f"_v_raw_{self.table}"

    @property
    def bad(self) -> str:
        return f"_v_bad_{self.table}"

    @property
    def parsed(self) -> str:
        return f"_v_parsed_{self.table}"

    @property
    def late(self) -> str:
        return f"_v_late_{self.table}"

    @property
    def rows(self) -> str:
        return f"_v_rows_{self.table}"


def _format_of(table: str, path: Path) -> str:
    if path.is_dir():
        return "parquet"
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise InputError(
        f"{path}: cannot tell the format of data.{table} from its name; expected one of "
        f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} or a directory of .parquet files. "
        f"Rename the file or set data.{table} in params.yaml to a file with such a name."
    )


def _check_exists(table: str, path: Path) -> None:
    if path.exists():
        return
    hint = f" The folder {path.parent} does not exist either." if not path.parent.is_dir() else ""
    if path.parent.is_dir():
        near = difflib.get_close_matches(path.name, sorted(p.name for p in path.parent.iterdir()),
                                         n=3, cutoff=0.6)
        if near:
            hint = f" Files with close names in {path.parent}: {', '.join(near)}."
    or_null = "" if table == "transactions" else ", or to null if there is none"
    raise InputError(f"{path}: file not found (data.{table} in params.yaml).{hint} "
                     f"Set data.{table} in params.yaml to the {table} file{or_null}.")


def _parquet_files(table: str, path: Path) -> list[str]:
    if not path.is_dir():
        return [str(path)]
    files = sorted(
        str(p) for p in path.rglob("*")
        if p.is_file() and p.name.lower().endswith(PARQUET_SUFFIXES)
        and not p.name.startswith((".", "_"))
    )
    if not files:
        raise InputError(f"{path}: directory has no .parquet or .pq files (data.{table} in "
                         f"params.yaml). Point data.{table} at a file or a directory of "
                         f"Parquet files.")
    return files


def _unique_keys(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        n = seen.get(name, 0) + 1
        seen[name] = n
        keys.append(name if n == 1 else f"{name}_{n}")
    return tuple(keys)
