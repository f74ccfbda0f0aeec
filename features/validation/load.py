"""Loading one input into DuckDB: the raw, bad and steps tables of :class:`_Source`.

* ``_v_raw_<table>``: one row per record in file order, the raw columns as
  ``c0``, ``c1``, ... (text for CSV, the stored types for Parquet), with
  ``__line`` (and ``__file`` for Parquet; :func:`_lined_sql` adds it for CSV).
  CSV files are read by :mod:`~features.validation.csv_load`.
* ``_v_bad_<table>``: malformed CSV lines (``source_line``, ``error_type``,
  ``error_message``, ``line_text``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import InputError
from features.validation.column_types import _check_types
from features.validation.columns import _check_part_columns, _resolve_columns
from features.validation.csv_load import _load_csv
from features.validation.options import TextFormat
from features.validation.sources import (
    _check_exists,
    _format_of,
    _parquet_files,
    _Source,
    _unique_keys,
)
from features.validation.sql import _Params, _q, _run


def _load(con: duckdb.DuckDBPyConnection, table: str, path: Path | None,
          column_map: Mapping[str, str], text: TextFormat) -> _Source:
    """Create ``_v_raw_<table>`` (raw values, file order) and ``_v_bad_<table>`` (malformed)."""
    if path is None:
        return _load_nothing(con, table, None)
    _check_exists(table, path)
    display = str(path)
    if _format_of(table, path) == "csv":
        source = _load_csv(con, table, path, column_map, text)
        if source is None:
            if table == "transactions":
                raise InputError(f"{display}: the file is empty (no header line, no rows); "
                                 f"data.transactions must name a file with transactions.")
            return _load_nothing(con, table, display, kind="empty")
        return source
    files = _parquet_files(table, path)
    p = _Params()
    try:
        described = _run(con, f"DESCRIBE SELECT * FROM read_parquet({p(files)}, "
                              f"union_by_name = true)", p)
    except duckdb.Error as err:
        raise InputError(_unreadable_parquet(table, display, err)) from err
    names = [row[0] for row in described]
    positions = _resolve_columns(table, display, names, column_map, None, text.delimiter,
                                 "its columns")
    for part in files:  # read together, the files hide a column twice or a part without one
        try:
            part_names = pq.read_schema(part).names
        except (OSError, pa.ArrowException) as err:
            raise InputError(_unreadable_parquet(table, part, err)) from err
        _check_part_columns(table, display, part, part_names, column_map)
    source = _Source(table, display, "parquet", _unique_keys(names),
                     tuple(row[1] for row in described), positions)
    _check_types(con, source, files, text.timestamp_unit)
    select = ", ".join(f"{_q(n)} AS c{i}" for i, n in enumerate(names))
    p = _Params()
    try:
        _run(con, f"""
            CREATE OR REPLACE TABLE {source.raw} AS
            SELECT {select}, CAST(file_row_number + 1 AS BIGINT) AS __line,
                   CAST(filename AS VARCHAR) AS __file
            FROM read_parquet({p(files)}, union_by_name = true, file_row_number = true,
                              filename = true)
        """, p)
    except duckdb.Error as err:
        raise InputError(_unreadable_parquet(table, display, err)) from err
    _empty_bad(con, source)
    return source


def _unreadable_parquet(table: str, display: str, err: Exception) -> str:
    return (f"{display}: not a readable Parquet file (truncated or corrupt?): "
            f"{str(err).splitlines()[0]}. Re-export the file, or set data.{table} in "
            f"params.yaml to a readable file.")


def _load_nothing(con: duckdb.DuckDBPyConnection, table: str, display: str | None, *,
                  kind: str = "none") -> _Source:
    """Empty raw and bad tables, for a skipped input or an empty file."""
    source = _Source(table, display, kind, ("value",), ("VARCHAR",), {})
    _run(con, f"CREATE OR REPLACE TABLE {source.raw} AS SELECT CAST(NULL AS VARCHAR) AS c0, "
              f"CAST(NULL AS BIGINT) AS __line, CAST(NULL AS VARCHAR) AS __file LIMIT 0")
    _empty_bad(con, source)
    return source


def _empty_bad(con: duckdb.DuckDBPyConnection, source: _Source) -> None:
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.bad} (
            source_line BIGINT, error_type VARCHAR, error_message VARCHAR, line_text VARCHAR)
    """)


def _lined_sql(con: duckdb.DuckDBPyConnection, source: _Source, p: _Params) -> str:
    """A query over the raw table with ``__rid``, ``__line`` and ``__file`` added."""
    if source.kind != "csv":
        return f"SELECT rowid AS __rid, * FROM {source.raw}"
    return f"SELECT rowid AS __rid, *, {p(source.display)} AS __file FROM {source.raw}"
