"""A CSV file loaded into DuckDB: the raw and bad tables of its records.

The records come from :class:`~features.validation.csv_records._Reader`, batch by
batch, so that memory holds one batch of lines at a time; the header names are
matched to the contract by :mod:`~features.validation.columns`.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from features.validation.columns import _resolve_columns
from features.validation.csv_records import _clean_name, _Reader
from features.validation.options import TextFormat
from features.validation.sources import _Source, _unique_keys
from features.validation.sql import _run
from features.validation.text_file import MAX_RECORD_CHARS, TextFile


def _load_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path,
              column_map: Mapping[str, str], text: TextFormat) -> _Source | None:
    """Create the raw and bad tables of a CSV file; None for a file with no header.

    The raw table holds ``c0``, ``c1``, ... (text, NULL when empty) and ``__line``
    (the line the record starts on, 1 = first line of the file) in file order;
    the bad table ``source_line``, ``error_type``, ``error_message``, ``line_text``.
    The returned source's ``physical`` holds the counts of the file's lines.
    """
    text_file = TextFile(table, path, text.encoding)
    reader = _Reader(text_file, text.delimiter)
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_RECORD_CHARS + 1)
    try:
        header = reader.header()
        if header is None:
            return None
        fields, header_line = header
        names = [_clean_name(f) for f in fields]
        display = str(path)
        positions = _resolve_columns(table, display, names, column_map, header_line,
                                     text.delimiter)
        reader.width = len(names)
        reader.contract = {pos: column for column, pos in positions.items()}
        source = _Source(table, display, "csv", _unique_keys(names), ("VARCHAR",) * len(names),
                         positions, text.delimiter)
        columns = ", ".join(f"c{j} VARCHAR" for j in range(len(names)))
        _run(con, f"CREATE OR REPLACE TABLE {source.raw} ({columns}, __line BIGINT)")
        _run(con, f"CREATE OR REPLACE TABLE {source.bad} (source_line BIGINT, error_type "
                  f"VARCHAR, error_message VARCHAR, line_text VARCHAR)")
        select = ", ".join(f"nullif(c{j}, '')" for j in range(len(names)))
        for batch in reader.records():
            _insert(con, f"INSERT INTO {source.raw} SELECT {select}, __line FROM _v_batch",
                    batch.table)
            if batch.bad:
                bad = pa.table({name: pa.array(values, kind) for (name, kind), values in zip(
                    (("source_line", pa.int64()), ("error_type", pa.string()),
                     ("error_message", pa.string()), ("line_text", pa.string())),
                    zip(*batch.bad, strict=True), strict=True)})
                _insert(con, f"INSERT INTO {source.bad} SELECT * FROM _v_batch", bad)
    finally:
        csv.field_size_limit(limit)
    return dataclasses.replace(source, physical={**text_file.report(), **reader.counts})


def _insert(con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table) -> None:
    if not table.num_rows:
        return
    con.register("_v_batch", table)
    try:
        _run(con, sql)
    finally:
        con.unregister("_v_batch")
