"""Loading one input into DuckDB: the raw, bad and steps tables of :class:`_Source`.

* ``_v_raw_<table>``: one row per record in file order, the raw columns as
  ``c0``, ``c1``, ... (text for CSV, the stored types for Parquet), with
  ``__line`` and ``__file`` for Parquet.
* ``_v_bad_<table>``: malformed CSV lines (``source_line``, ``error_type``,
  ``error_message``, ``line_text``).
* ``_v_steps_<table>``: where the line of accepted CSV records departs from
  ``2 + rowid`` (see :func:`_line_steps`); :func:`_lined_sql` adds the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from features.errors import InputError
from features.validation.columns import _resolve_columns
from features.validation.options import TextFormat
from features.validation.sources import (
    _check_exists,
    _format_of,
    _line_numbers,
    _parquet_files,
    _read_header,
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
        names, header_line = _read_header(table, path, text.delimiter)
        if not names:
            if table == "transactions":
                raise InputError(f"{display}: the file is empty (no header line, no rows); "
                                 f"data.transactions must name a file with transactions.")
            return _load_nothing(con, table, display, kind="empty")
        positions = _resolve_columns(table, display, names, column_map, header_line,
                                     text.delimiter)
        source = _Source(table, display, "csv", _unique_keys(names),
                         ("VARCHAR",) * len(names), positions, text.delimiter)
        _load_csv(con, source, path)
        return source
    files = _parquet_files(table, path)
    p = _Params()
    try:
        described = _run(con, f"DESCRIBE SELECT * FROM read_parquet({p(files)}, "
                              f"union_by_name = true)", p)
    except duckdb.Error as err:
        raise InputError(_unreadable_parquet(table, display, err)) from err
    names = [row[0] for row in described]
    positions = _resolve_columns(table, display, names, column_map, None, text.delimiter)
    source = _Source(table, display, "parquet", _unique_keys(names),
                     tuple(row[1] for row in described), positions)
    _check_id_type(con, source, files)
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


def _check_id_type(con: duckdb.DuckDBPyConnection, source: _Source, files: list[str]) -> None:
    """Refuse customer ids stored as fractional numbers: their text is not the id."""
    pos = source.positions["customer_id"]
    kind = source.types[pos]
    if not re.match(r"^(FLOAT|DOUBLE|REAL|DECIMAL\(\d+,\s*[1-9]\d*\))$", kind):
        return
    name = source.keys[pos]
    p = _Params()
    example = _run(con, f"SELECT CAST({_q(name)} AS VARCHAR) FROM read_parquet({p(files)}, "
                        f"union_by_name = true) WHERE {_q(name)} IS NOT NULL LIMIT 1", p)
    shown = f" (e.g. {example[0][0]!r})" if example else ""
    raise InputError(
        f"{source.display}: column {name!r} (data.{source.table} customer_id) is stored as "
        f"{kind}{shown}; an id stored as a fractional number is not its text (123 reads as "
        f"'123.0', leading zeros are gone, ids above 2**53 change). Export the file again with "
        f"customer_id as text (a string column) from the system that holds the ids; converting "
        f"the numbers afterwards cannot bring the lost digits back."
    )


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
    _run(con, f"CREATE OR REPLACE TABLE {source.steps} (rid BIGINT, shift BIGINT)")


def _load_csv(con: duckdb.DuckDBPyConnection, source: _Source, path: Path) -> None:
    """Create the raw, bad and steps tables of a CSV (see :func:`_line_steps`)."""
    errors, scans = f"_v_rejects_{source.table}", f"_v_reject_scans_{source.table}"
    rejected = f"_v_rejected_{source.table}"
    _run(con, f"DROP TABLE IF EXISTS {errors}")
    _run(con, f"DROP TABLE IF EXISTS {scans}")
    p = _Params()
    columns = {f"c{i}": "VARCHAR" for i in range(len(source.keys))}
    # Line numbers come from rowid, which follows the file only when DuckDB
    # preserves insertion order (its default).
    _run(con, "SET preserve_insertion_order = true")
    try:
        # Every field as text, in file order (rowid follows the file), with
        # malformed lines stored in the rejects table instead of dropped.
        _run(con, f"""
            CREATE OR REPLACE TABLE {source.raw} AS
            SELECT * FROM read_csv({p(str(path))}, columns = {p(columns)}, header = true,
                auto_detect = false, delim = {p(source.delimiter)}, quote = '"', escape = '"',
                encoding = 'utf-8', strict_mode = true, null_padding = false,
                store_rejects = true, rejects_table = {p(errors)}, rejects_scan = {p(scans)})
        """, p)
    except duckdb.Error as err:
        raise InputError(f"{source.display}: cannot read data.{source.table} as CSV: "
                         f"{str(err).splitlines()[0]}") from err
    # One record per rejected record (DuckDB may report several errors for
    # one), located by the byte offset of its text: DuckDB's own line numbers
    # are approximate when records span lines.
    _run(con, f"""
        CREATE OR REPLACE TABLE {rejected} AS
        SELECT CAST(line_byte_position - 1
                    + length(csv_line) - length(ltrim(csv_line, chr(13) || chr(10)))
                    AS BIGINT) AS byte_offset, *
        FROM (
            SELECT line_byte_position, arg_min(csv_line, byte_position) AS csv_line,
                   CAST(arg_min(error_type, byte_position) AS VARCHAR) AS error_type,
                   arg_min(error_message, byte_position) AS error_message
            FROM {errors} GROUP BY line_byte_position
        )
    """)
    offsets = [row[0] for row in _run(con, f"SELECT byte_offset FROM {rejected} ORDER BY 1")]
    lines, empty = _line_numbers(path, offsets)
    con.register("_v_lines", pa.table({"byte_offset": pa.array(offsets, pa.int64()),
                                       "line": pa.array(lines, pa.int64())}))
    try:
        _run(con, f"""
            CREATE OR REPLACE TABLE {source.bad} AS
            SELECT CAST(l.line AS BIGINT) AS source_line, b.error_type, b.error_message,
                   trim(b.csv_line, chr(13) || chr(10)) AS line_text
            FROM {rejected} b JOIN _v_lines l ON b.byte_offset = l.byte_offset
        """)
    finally:
        con.unregister("_v_lines")
    _run(con, f"DROP TABLE {rejected}")
    _run(con, f"DROP TABLE IF EXISTS {errors}")
    _run(con, f"DROP TABLE IF EXISTS {scans}")

    # Accepted rows are numbered by rowid (file order); their line is 2 +
    # rowid until a record with quoted line breaks, a rejected record or an
    # empty line (which DuckDB skips) pushes the following ones down.
    raw_columns = [f"c{i}" for i in range(len(source.keys))]
    newlines = " + ".join(
        f"coalesce(length({c}) - length(replace({c}, chr(10), '')), 0)" for c in raw_columns)
    multiline = _run(con, f"SELECT rowid, {newlines} FROM {source.raw} WHERE "
                          + " OR ".join(f"contains({c}, chr(10))" for c in raw_columns)
                          + " ORDER BY rowid")
    obstacles = sorted(
        [(line, span) for line, span in _run(
            con, f"SELECT source_line, 1 + length(line_text) - length(replace(line_text, "
                 f"chr(10), '')) FROM {source.bad}")]
        + [(line, 1) for line in empty])
    steps = _line_steps(multiline, obstacles)
    con.register("_v_steps", pa.table({"rid": pa.array([r for r, _ in steps], pa.int64()),
                                       "shift": pa.array([n for _, n in steps], pa.int64())}))
    try:
        _run(con, f"CREATE OR REPLACE TABLE {source.steps} AS SELECT * FROM _v_steps")
    finally:
        con.unregister("_v_steps")


def _line_steps(multiline: Sequence[tuple[int, int]],
                obstacles: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where the line of accepted CSV records departs from ``2 + rowid``.

    Parameters
    ----------
    multiline
        ``(rowid, line breaks inside it)`` of accepted records spanning several
        lines, by rowid.
    obstacles
        ``(first line, lines taken)`` of rejected records and empty lines, by line.

    Returns
    -------
    list of (rowid, shift)
        Accepted record ``k`` is on line ``2 + k + shift`` of the last step at
        or before ``k`` (0 before the first step).
    """
    steps: list[tuple[int, int]] = []

    def step(rowid: int, shift: int) -> None:
        if steps and steps[-1][0] >= rowid:
            steps[-1] = (steps[-1][0], shift)
        else:
            steps.append((rowid, shift))

    shift, i = 0, 0
    for start, span in obstacles:
        # Accepted records whose line would be before the obstacle keep it.
        while i < len(multiline) and multiline[i][0] < start - 2 - shift:
            shift += multiline[i][1]
            step(multiline[i][0] + 1, shift)
            i += 1
        first_after = start - 2 - shift
        shift += span
        step(first_after, shift)
    for rowid, extra in multiline[i:]:
        shift += extra
        step(rowid + 1, shift)
    return steps


def _lined_sql(con: duckdb.DuckDBPyConnection, source: _Source, p: _Params) -> str:
    """A query over the raw table with ``__rid``, ``__line`` and ``__file`` added."""
    if source.kind != "csv":
        return f"SELECT rowid AS __rid, * FROM {source.raw}"
    lined = f"SELECT rowid AS __rid, 2 + rowid AS __line, * FROM {source.raw}"
    # The ASOF join sorts the whole table: only when some line is shifted.
    if _run(con, f"SELECT count(*) FROM {source.steps}")[0][0]:
        lined = (f"SELECT l.* EXCLUDE (__line), l.__line + coalesce(s.shift, 0) AS __line "
                 f"FROM ({lined}) l ASOF LEFT JOIN {source.steps} s ON l.__rid >= s.rid")
    return (f"SELECT l.* EXCLUDE (__line), CAST(l.__line AS BIGINT) AS __line, "
            f"{p(source.display)} AS __file FROM ({lined}) l")
