"""Validation of the raw inputs: parse, check, quarantine, partition.

The raw transactions, interactions and customers (CSV or Parquet) are loaded
into a DuckDB connection as text, parsed with SQL, and every input row ends in
exactly one place: the clean table (typed as :data:`features.schema.CLEAN_TABLES`)
or the quarantine (:data:`features.schema.QUARANTINE`), with the id of the rule
it broke (:data:`RULES`). The counts are reconciled before anything is written.

Input rows -> outputs:

* ``rows_read`` = ``rows_accepted`` + ``rows_quarantined`` for every table;
  a malformed CSV line counts as one row.
* A row breaks at most one rule: the first in the order of :data:`RULES`.
* Clean rows keep every contract column (absent optional ones are null), get
  ``customer_key`` (see :func:`write_customer_index`),
  ``bucket`` (hash partition of the customer, see :func:`bucket_of`),
  ``source_file`` and ``source_line``, and transactions get ``is_refund``.
* Customer ids are text as written (``00123`` stays ``00123``), trimmed and in
  Unicode NFC; an id stored as a fractional number in Parquet is refused.

The work happens in the DuckDB connection passed in, so that memory is bounded
by DuckDB's ``memory_limit`` rather than by the size of the data; nothing here
reads params or the environment. The stage entry point is
:mod:`pipeline.validate`; the usual sequence is::

    report = validate_inputs(con, inputs=..., text=TextFormat(...), checks=Checks(...), now=...)
    write_clean_table(con, "transactions", path)   # for each clean table
    write_quarantine(con, path)
    write_customer_index(con, path)               # every customer once, with its dense key
    check_written(report, written)
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import gzip
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import (
    CLEAN_TABLES,
    CUSTOMER_INDEX,
    INPUT_TABLES,
    N_PARTITIONS,
    QUARANTINE,
    Table,
)

#: Validation rules, by stable id, in the order they are checked: a row that
#: breaks several rules is quarantined under the first one.
RULES: dict[str, str] = {
    "malformed_line": "CSV line that cannot be split into the header's fields (wrong number "
                      "of fields, unterminated quote, invalid UTF-8).",
    "customer_id_missing": "customer_id empty, only whitespace, or a null marker written as "
                           "text (NULL, null, None, NaN, N/A, NA, nil, \\N, #N/A).",
    "timestamp_missing": "timestamp empty.",
    "timestamp_unparseable": "timestamp not in data.timestamp_format (ISO 8601 when null).",
    "timestamp_too_old": "timestamp (or customers.signup_date) before validate.min_timestamp.",
    "amount_missing": "amount empty.",
    "amount_unparseable": "amount not a finite number with data.decimal and data.thousands.",
    "kind_unknown": "interaction kind empty or not in data.interaction_kinds "
                    "(compared trimmed and lower-cased).",
    "satisfaction_unparseable": "satisfaction given but not a number.",
    "satisfaction_out_of_range": "satisfaction outside data.satisfaction_range (inclusive).",
    "resolved_not_boolean": "resolved given but not one of true/false, 1/0, yes/no, t/f.",
    "resolution_hours_unparseable": "resolution_hours given but not a number.",
    "resolution_hours_negative": "resolution_hours below zero.",
    "signup_date_unparseable": "signup_date given but neither in data.timestamp_format (or its "
                               "date part) nor ISO 8601.",
    "timestamp_in_future": "timestamp (or signup_date) after the last valid event plus "
                           "validate.max_future_days; events after the time of the run never "
                           "count as the last valid event.",
    "exact_duplicate": "all raw fields equal to an earlier row, which is kept.",
    "transaction_id_conflict": "transactions row whose transaction_id is already used by an "
                               "earlier valid row with other values and an amount of the same "
                               "sign (a purchase and its refund may share an id); the earlier "
                               "row is kept.",
    "duplicate_customer_id": "customers row whose customer_id already appears on an earlier "
                             "valid row, which is kept.",
}

#: What happens to an optional numeric column that does not parse.
OPTIONAL_NUMBER_POLICY = (
    "transactions.quantity and transactions.discount values that are not numbers are set to "
    "null and the row is kept; the count per column is in optional_values_nulled"
)

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_ROW_GROUP_SIZE = 250_000

# Whitespace trimmed around every text value (ids keep everything else).
_WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2007\u202f\ufeff"
_ISO_PATTERN = (r"^\d{4}-\d{2}-\d{2}"
                r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$")
_ISO_TEXT = "ISO 8601 timestamp (YYYY-MM-DD, optionally THH:MM[:SS[.ffffff]] and Z or +HH:MM)"
_NULL_MARKERS = ("null", "none", "nan", "n/a", "na", "nil", "\\n", "#n/a")
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")
_DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_NUMERIC_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
    r"|FLOAT|DOUBLE|DECIMAL.*)$"
)
_INTEGER_TYPES = re.compile(r"^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$")
_NAIVE_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")
_AWARE_TIME_TYPES = ("TIMESTAMP WITH TIME ZONE",)
# Column holding the event time checked by timestamp_in_future, per table.
_EVENT_TIME = {"transactions": "timestamp", "interactions": "timestamp",
               "customers": "signup_date"}


class InputError(ValueError):
    """An input cannot be used as configured; the message says what to change in params."""


class ReconciliationError(RuntimeError):
    """Counts or written files disagree with the input rows: a bug, never a data problem."""


@dataclass(frozen=True)
class TextFormat:
    """How the files are written (the ``data`` section of params).

    Attributes
    ----------
    delimiter
        CSV field separator.
    decimal
        Decimal mark of numbers written as text: ``"."`` or ``","``.
    thousands
        Thousands separator of numbers written as text, or None. With ``" "``,
        no-break and narrow no-break spaces are accepted too.
    timestamp_format
        strptime format of timestamps written as text; None for ISO 8601.
    timezone
        IANA zone of timestamps written without a UTC offset.
    """

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Checks:
    """Values the rules compare against (``data`` and ``validate`` sections of params).

    Attributes
    ----------
    interaction_kinds
        Vocabulary of ``interactions.kind`` (lower-case).
    satisfaction_range
        Inclusive ``(low, high)`` bounds of ``interactions.satisfaction``.
    min_timestamp
        Earliest acceptable timestamp (naive UTC).
    max_future_days
        Days allowed after the last valid event before a timestamp is in the future.
    """

    interaction_kinds: tuple[str, ...]
    satisfaction_range: tuple[float, float] = (1.0, 5.0)
    min_timestamp: dt.datetime = dt.datetime(1990, 1, 1)
    max_future_days: int = 1


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

    @property
    def raw(self) -> str:
        return f"_v_raw_{self.table}"

    @property
    def bad(self) -> str:
        return f"_v_bad_{self.table}"

    @property
    def steps(self) -> str:
        return f"_v_steps_{self.table}"

    @property
    def parsed(self) -> str:
        return f"_v_parsed_{self.table}"

    @property
    def late(self) -> str:
        return f"_v_late_{self.table}"

    @property
    def rows(self) -> str:
        return f"_v_rows_{self.table}"


# --------------------------------------------------------------------------
# SQL helpers: identifiers are quoted, values are bound as parameters.
# --------------------------------------------------------------------------


def _q(name: str) -> str:
    """Quote an SQL identifier (double quotes, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


class _Params:
    """Named parameters of one statement; calling it binds a value and returns ``$pN``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        key = f"p{len(self.values)}"
        self.values[key] = value
        return f"${key}"


def _run(con: duckdb.DuckDBPyConnection, sql: str,
         params: _Params | None = None) -> list[tuple[Any, ...]]:
    """Execute one statement and fetch all its rows (leaving no result open)."""
    values = params.values if params is not None and params.values else None
    result = con.execute(sql, values) if values is not None else con.execute(sql)
    return result.fetchall()


def bucket_of(customer_id: str) -> int:
    """Hash partition of a customer id, as stored in the ``bucket`` column.

    The partition is ``md5_number(customer_id) % N_PARTITIONS`` in DuckDB: the
    MD5 digest of the UTF-8 bytes of the id as stored (trimmed, in Unicode NFC)
    read as a little-endian 128-bit integer, modulo
    :data:`~features.schema.N_PARTITIONS`. This Python
    version is the reference for other engines and for tests.

    Parameters
    ----------
    customer_id
        The customer id as stored in the clean tables.

    Returns
    -------
    int
        A partition number in ``[0, N_PARTITIONS)``.
    """
    digest = hashlib.md5(customer_id.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest, "little") % N_PARTITIONS


def _bucket_sql(id_sql: str, md5_sql: str) -> str:
    """SQL for ``md5_number(id) % N_PARTITIONS``, given SQL for the id and for ``md5(id)``."""
    # Stable across runs, machines and engines (see bucket_of); engines read
    # the stored column rather than recomputing it. md5_number reads the
    # digest as a little-endian integer, so when N_PARTITIONS divides 2**16
    # the partition depends on the first two bytes only: taken from the hex
    # digest, which is several times faster than md5_number in DuckDB.
    if 65536 % N_PARTITIONS == 0:
        low16 = f"CAST('0x' || substr({md5_sql}, 3, 2) || substr({md5_sql}, 1, 2) AS INTEGER)"
        return f"CAST({low16} % {N_PARTITIONS} AS INTEGER)"
    return f"CAST(md5_number({id_sql}) % {N_PARTITIONS} AS INTEGER)"


# --------------------------------------------------------------------------
# Locating and opening the inputs
# --------------------------------------------------------------------------


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


def _read_header(table: str, path: Path, delimiter: str) -> tuple[list[str], str]:
    """Header fields of a CSV and its first line as text ('' for an empty file)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            first = f.readline(16 * 1024 * 1024)
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read data.{table}: {err}") from err
    try:
        text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: the header line is not UTF-8 text ({err}). Re-encode the "
                         f"file as UTF-8 (data.{table} in params.yaml).") from err
    if not text.strip():
        return [], ""
    fields = next(csv.reader([text], delimiter=delimiter, quotechar='"'))
    return fields, text


def _open_binary(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _line_numbers(path: Path, offsets: Sequence[int]) -> tuple[list[int], list[int]]:
    """Line numbers (1 = first line) at sorted byte offsets, and the file's empty lines.

    Offsets count bytes of the decompressed text for ``.gz`` files. Empty lines
    at the end of the file are not reported (they precede no record).
    """
    lines: list[int] = []
    seen = 0  # line breaks before the current chunk
    start = 0  # byte offset of the current chunk
    tail = b""
    has_empty = False
    with _open_binary(path) as f:
        while chunk := f.read(1 << 24):
            at, counted = 0, seen
            while len(lines) < len(offsets) and offsets[len(lines)] < start + len(chunk):
                end = offsets[len(lines)] - start
                counted += chunk.count(b"\n", at, end)
                at = end
                lines.append(counted + 1)
            seen += chunk.count(b"\n")
            start += len(chunk)
            # Line breaks ending the text so far move to the next chunk, so
            # that only empty lines followed by more text count.
            body = (tail + chunk).rstrip(b"\r\n")
            tail = (tail + chunk)[len(body):]
            has_empty = has_empty or b"\n\n" in body or b"\n\r\n" in body
    if not has_empty:
        return lines, []
    with _open_binary(path) as f:
        return lines, [i for i, line in enumerate(f, 1) if line in (b"\n", b"\r\n")]


def _unique_keys(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        n = seen.get(name, 0) + 1
        seen[name] = n
        keys.append(name if n == 1 else f"{name}_{n}")
    return tuple(keys)


def _delimiter_hint(header_line: str, fields: list[str], delimiter: str,
                    wanted: list[str]) -> str | None:
    """A message when the header splits better on another delimiter."""
    for candidate in _DELIMITER_CANDIDATES:
        if candidate == delimiter or candidate not in header_line:
            continue
        split = [f.strip().strip('"') for f in header_line.split(candidate)]
        if (len(fields) == 1 and len(split) > 1) or any(w in split for w in wanted):
            shown = "\\t" if candidate == "\t" else candidate
            return (f"the file looks {shown!r}-delimited: set data.delimiter: {shown!r} in "
                    f"params.yaml (with data.delimiter {delimiter!r} the header reads as "
                    f"{len(fields)} column(s): {fields[:5]})")
    return None


def _resolve_columns(table: str, display: str, names: list[str], column_map: Mapping[str, str],
                     header_line: str | None, delimiter: str) -> dict[str, int]:
    """Position in the file of each contract column present; raise for required ones absent."""
    contract = INPUT_TABLES[table]
    unknown = sorted(set(column_map) - set(contract.names))
    if unknown:
        raise InputError(
            f"data.columns.{table} in params.yaml has keys {unknown} that are not columns of "
            f"the {table} contract; the keys must be among {contract.names} (each mapped to "
            f"the column's name in {display})."
        )
    stripped = [n.strip() for n in names]
    positions: dict[str, int] = {}
    missing: list[tuple[str, str]] = []
    for column in contract.columns:
        wanted = column_map.get(column.name, column.name).strip()
        found = [i for i, n in enumerate(stripped) if n == wanted]
        if len(found) > 1:
            raise InputError(
                f"{display}: column {wanted!r} appears {len(found)} times in the header; "
                f"rename the copies in the file or map {table}.{column.name} to another "
                f"column with data.columns.{table}.{column.name} in params.yaml."
            )
        if found:
            positions[column.name] = found[0]
        elif column.required or column.name in column_map:
            missing.append((column.name, wanted))
    if missing:
        if header_line is not None:
            hint = _delimiter_hint(header_line, names, delimiter, [w for _, w in missing])
            if hint:
                raise InputError(f"{display}: {hint}.")
        name, wanted = missing[0]
        raise InputError(_missing_column_message(table, display, name, wanted, stripped,
                                                 mapped=name in column_map))
    return positions


def _missing_column_message(table: str, display: str, name: str, wanted: str,
                            header: list[str], *, mapped: bool) -> str:
    lowered = {h.lower(): h for h in header}
    close = [lowered[m] for m in difflib.get_close_matches(wanted.lower(), list(lowered),
                                                           n=3, cutoff=0.5)]
    source = (f"set by data.columns.{table}.{name}" if mapped
              else f"the {table} contract column; its name in the file is set by "
                   f"data.columns.{table}.{name}")
    shown = ", ".join(repr(h) for h in header[:30]) + (", ..." if len(header) > 30 else "")
    suggestion = close[0] if close else "<its name in the file>"
    return (
        f"{display}: column {wanted!r} not found ({source}). The header has: {shown}. "
        f"Close matches: {', '.join(repr(c) for c in close) if close else 'none'}. "
        f"Set data.columns.{table}.{name}: {suggestion} in params.yaml."
    )


# --------------------------------------------------------------------------
# Loading into DuckDB
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


@dataclass
class _Parse:
    """Expressions for one table: layer-1 texts, layer-2 values, then rules and outputs."""

    p: _Params
    source: _Source
    text: TextFormat
    texts: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    rules: list[tuple[str, str, str]] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)

    def raw_type(self, column: str) -> str | None:
        pos = self.source.positions.get(column)
        return None if pos is None else self.source.types[pos]

    def text_of(self, column: str) -> str:
        """Trimmed text of a contract column (NULL when absent or empty)."""
        pos = self.source.positions.get(column)
        if pos is None:
            expr = "CAST(NULL AS VARCHAR)"
        elif self.source.types[pos] != "VARCHAR":
            expr = f"CAST(c{pos} AS VARCHAR)"
        else:
            # trim() with a set of characters is slow; most values start and
            # end with printable ASCII and need no trimming at all.
            c = f"c{pos}"
            expr = (f"nullif(CASE WHEN ascii({c}) BETWEEN 33 AND 126 "
                    f"AND ascii({c}[-1:]) BETWEEN 33 AND 126 THEN {c} "
                    f"ELSE trim({c}, {self.p(_WHITESPACE)}) END, '')")
        self.texts[f"t_{column}"] = expr
        return f"t_{column}"

    def raw_of(self, column: str) -> str:
        pos = self.source.positions[column]
        self.texts[f"r_{column}"] = f"c{pos}"
        return f"r_{column}"

    def shown(self, column_text: str) -> str:
        """SQL for a value shown in a reason: JSON-quoted text."""
        return f"CAST(to_json({column_text}) AS VARCHAR)"


def _number_pattern(decimal: str, thousands: str | None) -> tuple[str, str]:
    """RE2 pattern of a number as text, and of the thousands separators to remove."""
    dec = {".": "[.]", ",": "[,]"}[decimal]
    seps = {".": "[.]", ",": "[,]", " ": "[ \u00a0\u202f]", "'": "['\u2019]"}
    if thousands is None:
        integer, remove = r"\d+", ""
    else:
        integer, remove = rf"(?:\d{{1,3}}(?:{seps[thousands]}\d{{3}})+|\d+)", seps[thousands]
    return rf"^[+-]?(?:{integer}(?:{dec}\d*)?|{dec}\d+)(?:[eE][+-]?\d+)?$", remove


def _number(parse: _Parse, column: str) -> tuple[str, str]:
    """Register text and value of a numeric column; return SQL for both (value finite or NULL)."""
    t = parse.text_of(column)
    raw_type = parse.raw_type(column)
    if raw_type is not None and _NUMERIC_TYPES.match(raw_type):
        r = parse.raw_of(column)
        value = f"CAST({r} AS DOUBLE)"
    else:
        pattern, remove = _number_pattern(parse.text.decimal, parse.text.thousands)
        normal = t
        if remove:
            normal = f"regexp_replace({normal}, {parse.p(remove)}, '', 'g')"
        if parse.text.decimal == ",":
            normal = f"replace({normal}, ',', '.')"
        value = (f"CASE WHEN regexp_full_match({t}, {parse.p(pattern)}) "
                 f"THEN TRY_CAST({normal} AS DOUBLE) END")
    parse.values[f"v_{column}"] = value
    # NaN and infinities (Parquet doubles, or 1e999 as text) are not numbers.
    return t, f"(CASE WHEN isfinite(v_{column}) THEN v_{column} END)"


def _number_words(text: TextFormat) -> str:
    thousands = "null" if text.thousands is None else repr(text.thousands)
    return f"with data.decimal {text.decimal!r} and data.thousands {thousands}"


# Number formats tried on a value that does not parse, to say which setting reads it.
_NUMBER_FORMATS: tuple[tuple[str, str | None], ...] = (
    (",", None), (".", ","), (",", "."), (",", " "), (".", " "), (".", "'"))


def _number_hint(parse: _Parse, t: str) -> str:
    """SQL for a hint ending a reason: the data.decimal/data.thousands that read ``t``, or ''."""
    p = parse.p
    branches = []
    current = (parse.text.decimal, parse.text.thousands)
    # The formats closest to the current one first (one setting changed, then two).
    for decimal, thousands in sorted(
            (f for f in _NUMBER_FORMATS if f != current),
            key=lambda f: (f[0] != current[0]) + (f[1] != current[1])):
        pattern, _ = _number_pattern(decimal, thousands)
        changes = [f"data.{key}: {value!r}" for key, value, now in (
            ("decimal", decimal, parse.text.decimal),
            ("thousands", thousands, parse.text.thousands)) if value != now]
        shown = " and ".join(c.replace("None", "null") for c in changes)
        branches.append(f"WHEN regexp_full_match({t}, {p(pattern)}) "
                        f"THEN {p(f'; with {shown} in params.yaml it reads as a number')}")
    return f"CASE {' '.join(branches)} ELSE '' END"


def _strptime_sql(parse: _Parse, t: str, fmt: str) -> str:
    parsed = f"try_strptime({t}, {parse.p(fmt)})"
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', {parsed})"
    return _local_to_utc(parse, parsed)


def _local_to_utc(parse: _Parse, naive: str) -> str:
    if parse.text.timezone == "UTC":
        return naive
    return f"timezone('UTC', timezone({parse.p(parse.text.timezone)}, {naive}))"


def _iso_sql(parse: _Parse, t: str) -> str:
    # TRY_CAST alone accepts 'epoch', 'infinity', '1_000' and drops offsets
    # when casting to TIMESTAMP: the pattern admits ISO 8601 only, and
    # strings with an offset go through TIMESTAMPTZ, which applies it.
    has_offset = (f"(suffix({t}, 'Z') OR contains(substr({t}, 12), '+') "
                  f"OR contains(substr({t}, 12), '-'))")
    return (f"CASE WHEN NOT regexp_full_match({t}, {parse.p(_ISO_PATTERN)}) THEN NULL "
            f"WHEN {has_offset} THEN timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ)) "
            f"ELSE {_local_to_utc(parse, f'TRY_CAST({t} AS TIMESTAMP)')} END")


def _date_part(fmt: str) -> str | None:
    """The date directives of a strptime format ('%d/%m/%Y %H:%M' -> '%d/%m/%Y')."""
    match = re.search(r"%[HIMSpfzZTRX]", fmt)
    if match is None:
        return None
    head = fmt[: match.start()].rstrip(" T,;-_:/")
    return head if re.search(r"%[dmyYbBjeF]", head) else None


def _timestamp(parse: _Parse, column: str, *, lenient: bool = False) -> tuple[str, str]:
    """Register text and value (naive UTC) of a timestamp column."""
    t = parse.text_of(column)
    raw_type = parse.raw_type(column)
    fmt = parse.text.timestamp_format
    if raw_type in _AWARE_TIME_TYPES:
        value = f"timezone('UTC', {parse.raw_of(column)})"
    elif raw_type in _NAIVE_TIME_TYPES:
        value = _local_to_utc(parse, f"CAST({parse.raw_of(column)} AS TIMESTAMP)")
    elif fmt is None:
        value = _iso_sql(parse, t)
    elif not lenient:
        value = _strptime_sql(parse, t, fmt)
    else:
        candidates = [_strptime_sql(parse, t, fmt)]
        date_fmt = _date_part(fmt)
        if date_fmt is not None:
            candidates.append(_strptime_sql(parse, t, date_fmt))
        candidates.append(_iso_sql(parse, t))
        value = f"coalesce({', '.join(candidates)})"
    parse.values[f"v_{column}"] = value
    return t, f"v_{column}"


def _expected_timestamp(text: TextFormat, *, lenient: bool = False) -> str:
    if text.timestamp_format is None:
        return (f"is not a valid {_ISO_TEXT}; if the file uses another format, set "
                f"data.timestamp_format in params.yaml")
    if lenient:
        return (f"matches neither data.timestamp_format {text.timestamp_format!r} (or its date "
                f"part) nor ISO 8601")
    return f"does not match data.timestamp_format {text.timestamp_format!r}"


# Formats tried on a timestamp that does not parse, to name the one the file seems to use.
_TIMESTAMP_FORMATS = tuple(
    f"{date}{time}"
    for date in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d")
    for time in (" %H:%M:%S", " %H:%M", ""))


def _timestamp_hint(parse: _Parse, t: str) -> str:
    """SQL for a hint ending a reason: the strptime formats that read ``t``, or ''."""
    p = parse.p
    matches = ", ".join(
        f"CASE WHEN try_strptime({t}, {p(fmt)}) IS NOT NULL THEN {p(repr(fmt))} END"
        for fmt in _TIMESTAMP_FORMATS if fmt != parse.text.timestamp_format)
    epoch = ("; it looks like a Unix epoch number: export timestamps as ISO 8601 text or as "
             "a Parquet timestamp column")
    return (f"CASE WHEN regexp_full_match({t}, {p(r'[0-9]{9,13}([.][0-9]+)?')}) "
            f"THEN {p(epoch)} ELSE coalesce({p('; it matches data.timestamp_format ')} "
            f"|| nullif(concat_ws(' or ', {matches}), ''), '') END")


def _customer_id_rule(parse: _Parse) -> None:
    p = parse.p
    cid = parse.text_of("customer_id")
    # A null written as text by a database export would otherwise gather every
    # customer-less row under one made-up customer "NULL". Ids are compared as
    # NFC text, so that "Zoë" typed with a combining diaeresis is the same
    # customer as "Zoë" with a precomposed one; ASCII ids (strlen = length) are
    # already normal and skip the work.
    parse.values["v_customer_id"] = (
        f"CASE WHEN length({cid}) <= 4 AND lower({cid}) IN {_in_list(_NULL_MARKERS)} THEN NULL "
        f"WHEN strlen({cid}) = length({cid}) THEN {cid} ELSE nfc_normalize({cid}) END")
    parse.outputs["customer_id"] = "v_customer_id"
    if "customer_id" in parse.source.positions:
        raw = parse.raw_of("customer_id")
        why = (f"CASE WHEN {raw} IS NULL THEN {p('customer_id is empty')} "
               f"ELSE {p('customer_id ')} || {parse.shown(f'CAST({raw} AS VARCHAR)')} "
               f"|| CASE WHEN {cid} IS NULL THEN {p(' is only whitespace')} "
               f"ELSE {p(' is a null marker, not an id')} END END")
    else:
        why = p("customer_id is empty")
    parse.rules.append(("customer_id_missing", "v_customer_id IS NULL", why))


def _timestamp_rules(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    t, v = _timestamp(parse, "timestamp")
    parse.outputs["timestamp"] = v
    parse.rules += [
        ("timestamp_missing", f"{t} IS NULL", p("timestamp is empty")),
        ("timestamp_unparseable", f"{v} IS NULL",
         f"{p('timestamp ')} || {parse.shown(t)} || {p(' ' + _expected_timestamp(parse.text))}"
         f" || {_timestamp_hint(parse, t)}"),
        ("timestamp_too_old", f"{v} < {p(checks.min_timestamp)}",
         f"{p('timestamp ')} || {parse.shown(t)} || "
         f"{p(f' is before validate.min_timestamp {checks.min_timestamp:%Y-%m-%d %H:%M:%S}')}"),
    ]


def _transactions(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    _timestamp_rules(parse, checks)
    t, v = _number(parse, "amount")
    parse.outputs["amount"] = v
    parse.rules += [
        ("amount_missing", f"{t} IS NULL", p("amount is empty")),
        ("amount_unparseable", f"{v} IS NULL",
         f"{p('amount ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
    ]
    for column in ("transaction_id", "channel", "category"):
        parse.outputs[column] = parse.text_of(column)
    for column in ("quantity", "discount"):
        t, v = _number(parse, column)
        parse.outputs[column] = v
        parse.flags[f"__nulled_{column}"] = f"({t} IS NOT NULL AND {v} IS NULL)"


def _interactions(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    _timestamp_rules(parse, checks)
    kind = parse.text_of("kind")
    parse.values["v_kind"] = f"lower({kind})"
    parse.outputs["kind"] = "v_kind"
    vocabulary = ", ".join(checks.interaction_kinds)
    parse.rules.append((
        "kind_unknown", f"v_kind IS NULL OR NOT list_contains({p(list(checks.interaction_kinds))}, "
                        f"v_kind)",
        f"CASE WHEN {kind} IS NULL "
        f"THEN {p('kind is empty; expected one of data.interaction_kinds ')} "
        f"ELSE {p('kind ')} || {parse.shown(kind)} || {p(' is not in data.interaction_kinds ')} "
        f"END || {p(f'[{vocabulary}]')}",
    ))
    parse.outputs["channel"] = parse.text_of("channel")
    low, high = checks.satisfaction_range
    t, v = _number(parse, "satisfaction")
    parse.outputs["satisfaction"] = v
    parse.rules += [
        ("satisfaction_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('satisfaction ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
        ("satisfaction_out_of_range", f"{v} < {p(float(low))} OR {v} > {p(float(high))}",
         f"{p('satisfaction ')} || {parse.shown(t)} || "
         f"{p(f' is outside data.satisfaction_range [{low:g}, {high:g}]')}"),
    ]
    t = parse.text_of("resolved")
    raw_type = parse.raw_type("resolved")
    if raw_type == "BOOLEAN":
        value = parse.raw_of("resolved")
    elif raw_type is not None and _INTEGER_TYPES.match(raw_type):
        r = parse.raw_of("resolved")
        value = f"CASE {r} WHEN 1 THEN true WHEN 0 THEN false END"
    else:
        value = (f"CASE WHEN lower({t}) IN {_in_list(_TRUE)} THEN true "
                 f"WHEN lower({t}) IN {_in_list(_FALSE)} THEN false END")
    parse.values["v_resolved"] = value
    parse.outputs["resolved"] = "v_resolved"
    parse.rules.append((
        "resolved_not_boolean", f"{t} IS NOT NULL AND v_resolved IS NULL",
        f"{p('resolved ')} || {parse.shown(t)} || "
        f"{p(' is not a boolean (true/false, 1/0, yes/no, t/f)')}",
    ))
    t, v = _number(parse, "resolution_hours")
    parse.outputs["resolution_hours"] = v
    parse.rules += [
        ("resolution_hours_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('resolution_hours ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
        ("resolution_hours_negative", f"{v} < 0",
         f"{p('resolution_hours ')} || {parse.shown(t)} || {p(' is negative')}"),
    ]


def _customers(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    t, v = _timestamp(parse, "signup_date", lenient=True)
    parse.outputs["signup_date"] = v
    parse.rules += [
        ("signup_date_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('signup_date ')} || {parse.shown(t)} || "
         f"{p(' ' + _expected_timestamp(parse.text, lenient=True))} || "
         f"{_timestamp_hint(parse, t)}"),
        ("timestamp_too_old", f"{v} < {p(checks.min_timestamp)}",
         f"{p('signup_date ')} || {parse.shown(t)} || "
         f"{p(f' is before validate.min_timestamp {checks.min_timestamp:%Y-%m-%d %H:%M:%S}')}"),
    ]
    for column in ("segment", "relationship_type"):
        parse.outputs[column] = parse.text_of(column)


def _in_list(words: tuple[str, ...]) -> str:
    # Constant vocabularies of this module, not user input (no quote in them).
    return "(" + ", ".join(f"'{w}'" for w in words) + ")"


_TABLE_RULES = {"transactions": _transactions, "interactions": _interactions,
                "customers": _customers}


def _parse(con: duckdb.DuckDBPyConnection, source: _Source, text: TextFormat,
           checks: Checks) -> None:
    """Create ``_v_parsed_<table>``: one row per raw row, typed values, first rule broken."""
    parse = _Parse(_Params(), source, text)
    _TABLE_RULES[source.table](parse, checks)
    contract = INPUT_TABLES[source.table]
    lined = _lined_sql(con, source, parse.p)
    raw_columns = ", ".join(f"c{i}" for i in range(len(source.keys)))
    layer1 = ", ".join(f"{expr} AS {name}" for name, expr in parse.texts.items())
    layer2 = ", ".join(f"{expr} AS {name}" for name, expr in parse.values.items())
    outputs = ", ".join(
        f"CAST({parse.outputs[c.name]} AS {c.duckdb_type}) AS {_q(c.name)}"
        for c in contract.columns
    )
    rule = " ".join(f"WHEN {cond} THEN {parse.p(rid)}" for rid, cond, _ in parse.rules)
    reason = " ".join(f"WHEN {cond} THEN {why}" for _, cond, why in parse.rules)
    flags = "".join(f", coalesce({expr}, false) AS {name}" for name, expr in parse.flags.items())
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.parsed} AS
        SELECT __rid, __line, __file, __hash, {outputs},
               CAST(CASE {rule} END AS VARCHAR) AS __rule,
               CAST(CASE {reason} END AS VARCHAR) AS __reason{flags}
        FROM (
            SELECT *, {layer2} FROM (
                SELECT __rid, __line, __file, hash({raw_columns}) AS __hash, {layer1}
                FROM ({lined}) l
            ) l1
        ) l2
    """, parse.p)


# --------------------------------------------------------------------------
# Rules across rows and tables
# --------------------------------------------------------------------------


def _last_valid_event(con: duckdb.DuckDBPyConnection, sources: Mapping[str, _Source],
                      now: dt.datetime) -> dt.datetime | None:
    """Latest event (transaction or interaction) that breaks no rule and is not after ``now``."""
    p = _Params()
    cutoff = p(now)
    parts = [
        f"SELECT max({_q('timestamp')}) AS t FROM {sources[name].parsed} "
        f"WHERE __rule IS NULL AND {_q('timestamp')} <= {cutoff}"
        for name in ("transactions", "interactions") if name in sources
    ]
    return _run(con, f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})", p)[0][0]


def _cross_row_rules(con: duckdb.DuckDBPyConnection, source: _Source,
                     limit: dt.datetime) -> None:
    """Create ``_v_late_<table>``: rows breaking exact_duplicate, transaction_id_conflict or
    duplicate_customer_id.

    Only rows that break no other rule (and are not in the future) take part,
    so a duplicate of a rejected row is quarantined under the same rule as it.
    """
    column = _q(_EVENT_TIME[source.table])
    p = _Params()
    # Rows whose hash is seen twice are candidates; equality of every raw
    # field is then checked on the candidates only, so a hash collision never
    # quarantines a row.
    partition = ", ".join(f"r.c{i}" for i in range(len(source.keys)))
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.late} AS
        WITH valid AS (
            SELECT __rid, __line, __file, __hash, customer_id FROM {source.parsed}
            WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
        ), candidates AS (
            SELECT __hash FROM valid GROUP BY __hash HAVING count(*) > 1
        ), ranked AS (
            SELECT v.__rid, v.__file,
                   first_value(v.__line) OVER w AS first_line,
                   first_value(v.__file) OVER w AS first_file,
                   row_number() OVER w AS n
            FROM valid v JOIN {source.raw} r ON v.__rid = r.rowid
            WHERE v.__hash IN (SELECT __hash FROM candidates)
            WINDOW w AS (PARTITION BY {partition} ORDER BY v.__file, v.__line)
        )
        SELECT __rid, CAST({p('exact_duplicate')} AS VARCHAR) AS __rule,
               {p('all fields equal to line ')} || first_line
               || CASE WHEN first_file IS DISTINCT FROM __file THEN {p(' of ')} || first_file
                  ELSE '' END || {p(' (kept)')} AS __reason
        FROM ranked WHERE n > 1
    """, p)
    if source.table == "transactions" and "transaction_id" in source.positions:
        # Same id, other values: a corrected or conflicting record. Keeping both
        # would count the purchase twice; the earlier row is kept. A refund may
        # carry the id of the purchase it refunds, so the sign of the amount is
        # part of the key.
        p = _Params()
        _run(con, f"""
            INSERT INTO {source.late}
            WITH valid AS (
                SELECT __rid, __line, __file, transaction_id, amount < 0 AS refund
                FROM {source.parsed}
                WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
                  AND transaction_id IS NOT NULL
                  AND __rid NOT IN (SELECT __rid FROM {source.late})
            ), firsts AS (
                SELECT transaction_id, refund, min(struct_pack(f := __file, l := __line)) AS first
                FROM valid GROUP BY transaction_id, refund HAVING count(*) > 1
            )
            SELECT v.__rid, {p('transaction_id_conflict')},
                   {p('transaction_id ')} || CAST(to_json(v.transaction_id) AS VARCHAR)
                   || {p(' is already used by line ')} || f.first.l
                   || CASE WHEN f.first.f IS DISTINCT FROM v.__file THEN {p(' of ')} || f.first.f
                      ELSE '' END
                   || {p(' with other values (kept)')}
            FROM valid v JOIN firsts f
              ON v.transaction_id = f.transaction_id AND v.refund = f.refund
            WHERE struct_pack(f := v.__file, l := v.__line) > f.first
        """, p)
    if source.table != "customers":
        return
    p = _Params()
    _run(con, f"""
        INSERT INTO {source.late}
        WITH valid AS (
            SELECT __rid, __line, __file, customer_id FROM {source.parsed}
            WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
              AND __rid NOT IN (SELECT __rid FROM {source.late})
        ), firsts AS (
            SELECT customer_id, min(struct_pack(f := __file, l := __line)) AS first
            FROM valid GROUP BY customer_id HAVING count(*) > 1
        )
        SELECT v.__rid, {p('duplicate_customer_id')},
               {p('customer_id ')} || CAST(to_json(v.customer_id) AS VARCHAR)
               || {p(' already appears on line ')} || f.first.l || {p(' (kept)')}
        FROM valid v JOIN firsts f ON v.customer_id = f.customer_id
        WHERE struct_pack(f := v.__file, l := v.__line) > f.first
    """, p)


def _finalize(con: duckdb.DuckDBPyConnection, source: _Source, limit: dt.datetime,
              last_event: dt.datetime | None, checks: Checks) -> None:
    """Create ``_v_rows_<table>``: parsed rows with their final rule and their bucket."""
    name = _EVENT_TIME[source.table]
    column = _q(name)
    p = _Params()
    since = (f"the last valid event {last_event:%Y-%m-%d %H:%M:%S}" if last_event is not None
             else "the time of the run")
    after = "" if last_event is not None else "; no valid event is dated before the run"
    future = f"(v.__rule IS NULL AND {column} > {p(limit)})"
    why = (f"{p(name + ' ')} || strftime({column}, '%Y-%m-%d %H:%M:%S') "
           f"|| {p(f' UTC is after {limit:%Y-%m-%d %H:%M:%S} UTC ({since} plus ')}"
           f"|| {p(f'validate.max_future_days = {checks.max_future_days}{after})')}")
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.rows} AS
        SELECT v.* EXCLUDE (__rule, __reason, __md5),
               coalesce(v.__rule, CASE WHEN {future} THEN {p('timestamp_in_future')} END,
                        l.__rule) AS __rule,
               coalesce(v.__reason, CASE WHEN {future} THEN {why} END, l.__reason) AS __reason,
               {_bucket_sql('v.customer_id', 'v.__md5')} AS __bucket
        FROM (SELECT *, md5(customer_id) AS __md5 FROM {source.parsed}) v
        LEFT JOIN {source.late} l ON v.__rid = l.__rid
    """, p)
    _run(con, f"DROP TABLE {source.parsed}")
    _run(con, f"DROP TABLE {source.late}")


def _build_quarantine(con: duckdb.DuckDBPyConnection, sources: Mapping[str, _Source]) -> None:
    columns = ", ".join(f"{_q(c.name)} {c.duckdb_type}" for c in QUARANTINE.columns)
    _run(con, f"CREATE OR REPLACE TABLE _v_quarantine ({columns})")
    for source in sources.values():
        p = _Params()
        pairs = ", ".join(f"{p(key)}, CAST(r.c{i} AS VARCHAR)" for i, key in enumerate(source.keys))
        _run(con, f"""
            INSERT INTO _v_quarantine
            SELECT {p(source.table)}, v.__file, v.__line, v.__rule, v.__reason,
                   CAST(json_object({pairs}) AS VARCHAR)
            FROM {source.rows} v JOIN {source.raw} r ON v.__rid = r.rowid
            WHERE v.__rule IS NOT NULL
        """, p)
        p = _Params()
        _run(con, f"""
            INSERT INTO _v_quarantine
            SELECT {p(source.table)}, {p(source.display)}, source_line, {p('malformed_line')},
                   {p('malformed CSV line (')} || error_type || {p(': ')} || error_message
                   || {p(f'; read with data.delimiter {source.delimiter!r})')},
                   CAST(json_object({p('line')}, line_text) AS VARCHAR)
            FROM {source.bad}
        """, p)


# --------------------------------------------------------------------------
# Counting and the report
# --------------------------------------------------------------------------


def _count(con: duckdb.DuckDBPyConnection, source: _Source) -> dict[str, Any]:
    raw_rows = _run(con, f"SELECT count(*) FROM {source.raw}")[0][0]
    bad_rows = _run(con, f"SELECT count(*) FROM {source.bad}")[0][0]
    by_rule = dict(_run(con, f"SELECT __rule, count(*) FROM {source.rows} "
                             f"WHERE __rule IS NOT NULL GROUP BY __rule"))
    if bad_rows:
        by_rule["malformed_line"] = bad_rows
    by_rule = {rule: by_rule[rule] for rule in RULES if rule in by_rule}
    accepted = _run(con, f"SELECT count(*) FROM {source.rows} "
                         f"WHERE __rule IS NULL")[0][0]
    report: dict[str, Any] = {
        "source_file": source.display,
        "skipped": source.kind == "none",
        "format": None if source.kind == "none" else source.kind,
        "rows_read": raw_rows + bad_rows,
        "rows_accepted": accepted,
        "rows_quarantined": sum(by_rule.values()),
        "quarantined_by_rule": by_rule,
        "exact_duplicates_removed": by_rule.get("exact_duplicate", 0),
        "columns": {name: source.keys[pos] for name, pos in source.positions.items()},
        "optional_columns_absent": [c for c in INPUT_TABLES[source.table].optional
                                    if c not in source.positions],
    }
    if source.table == "transactions":
        refunds, quantity, discount = _run(con, f"""
            SELECT count(*) FILTER (WHERE amount < 0),
                   count(*) FILTER (WHERE __nulled_quantity),
                   count(*) FILTER (WHERE __nulled_discount)
            FROM {source.rows} WHERE __rule IS NULL
        """)[0]
        report["refunds_kept"] = refunds
        report["optional_values_nulled"] = {"quantity": quantity, "discount": discount}
    report["reconciled"] = (report["rows_read"]
                            == report["rows_accepted"] + report["rows_quarantined"])
    return report


def _totals(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    for t in tables.values():
        for rule, n in t["quarantined_by_rule"].items():
            by_rule[rule] = by_rule.get(rule, 0) + n
    totals = {key: sum(t[key] for t in tables.values())
              for key in ("rows_read", "rows_accepted", "rows_quarantined",
                          "exact_duplicates_removed")}
    totals["quarantined_by_rule"] = {rule: by_rule[rule] for rule in RULES if rule in by_rule}
    totals["refunds_kept"] = sum(t.get("refunds_kept", 0) for t in tables.values())
    totals["reconciled"] = (all(t["reconciled"] for t in tables.values())
                            and totals["rows_read"]
                            == totals["rows_accepted"] + totals["rows_quarantined"])
    return totals


def reconcile(report: Mapping[str, Any]) -> None:
    """Raise if any table's rows read differ from accepted + quarantined.

    Parameters
    ----------
    report
        The report returned by :func:`validate_inputs`.

    Raises
    ------
    ReconciliationError
        Naming the table and the three counts.
    """
    for name, t in report["tables"].items():
        if not t["reconciled"] or t["rows_read"] != t["rows_accepted"] + t["rows_quarantined"]:
            raise ReconciliationError(
                f"{name}: {t['rows_read']} rows read but {t['rows_accepted']} accepted + "
                f"{t['rows_quarantined']} quarantined; validation lost or duplicated rows "
                f"(this is a bug in features/validation.py, not in the data)"
            )
    if not report["totals"]["reconciled"]:
        raise ReconciliationError(f"totals do not reconcile: {report['totals']}")


_RULE_HINTS = {
    "malformed_line": "check data.delimiter",
    "timestamp_unparseable": "check data.timestamp_format",
    "amount_unparseable": "check data.decimal and data.thousands",
    "timestamp_too_old": "check validate.min_timestamp",
    "timestamp_in_future": "check validate.max_future_days",
    "customer_id_missing": "check data.columns.transactions.customer_id",
    "amount_missing": "check data.columns.transactions.amount",
}


def _no_transactions(con: duckdb.DuckDBPyConnection, report: Mapping[str, Any],
                     last_event: dt.datetime | None) -> InputError:
    display = report["source_file"]
    if report["rows_read"] == 0:
        return InputError(f"{display}: the file has no data rows (only a header or nothing); "
                          f"data.transactions must name a file with transactions.")
    problems = []
    by_rule = report["quarantined_by_rule"]
    for rule, n in sorted(by_rule.items(), key=lambda kv: -kv[1])[:3]:
        line, reason = _run(con, "SELECT source_line, reason FROM _v_quarantine "
                                 "WHERE \"table\" = 'transactions' AND rule = $r "
                                 "ORDER BY source_line LIMIT 1", _one("r", rule))[0]
        hint = f"; {_RULE_HINTS[rule]} in params.yaml" if rule in _RULE_HINTS else ""
        if rule == "timestamp_in_future" and last_event is None:
            # Every event after the time of the run: the dates are misread (day and
            # month swapped, wrong year or zone) or this machine's clock is wrong.
            hint = ("; every parsed event is after the time of the run: check the dates in "
                    "the file (day/month order, data.timestamp_format, the year) and the "
                    "clock of this machine")
        problems.append(f"{rule}: {n} rows (e.g. line {line}: {reason}{hint})")
    return InputError(f"{display}: none of the {report['rows_read']} transactions rows passed "
                      f"validation. Most frequent problems: " + " | ".join(problems))


def _one(name: str, value: Any) -> _Params:
    p = _Params()
    p.values[name] = value
    return p


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def validate_inputs(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs: Mapping[str, str | Path | None],
    text: TextFormat,
    checks: Checks,
    now: dt.datetime,
    column_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Load, parse and check the inputs inside ``con``; return the validation report.

    Leaves in ``con`` the tables that :func:`write_clean_table` and
    :func:`write_quarantine` write out.

    Parameters
    ----------
    con
        DuckDB connection doing the work (its memory limit bounds the memory used).
    inputs
        File (or directory of Parquet files) for ``transactions`` (required),
        ``interactions`` and ``customers`` (None: skipped, written empty).
    text
        How values are written in the files.
    checks
        Values the rules compare against.
    now
        Time of the run, naive UTC: events after it never define the last valid event.
    column_maps
        Per table, contract column -> column name in the file, for names that differ.

    Returns
    -------
    dict
        ``tables`` (per table: ``source_file``, ``rows_read``, ``rows_accepted``,
        ``rows_quarantined``, ``quarantined_by_rule``, ``exact_duplicates_removed``,
        ``refunds_kept`` and ``optional_values_nulled`` for transactions,
        ``reconciled``), ``totals``, ``last_valid_event``, ``future_limit``,
        ``rules`` and ``policies``.

    Raises
    ------
    InputError
        An input cannot be used as configured (missing file or column, unreadable
        Parquet, wrong delimiter, no usable transactions).
    ReconciliationError
        If counts do not add up (a bug).
    """
    column_maps = column_maps or {}
    sources: dict[str, _Source] = {}
    for name in CLEAN_TABLES:
        path = inputs.get(name)
        if name == "transactions" and path is None:
            raise InputError("data.transactions is null; transactions are required: set "
                             "data.transactions in params.yaml to the transactions file.")
        sources[name] = _load(con, name, None if path is None else Path(path),
                              column_maps.get(name, {}), text)
    for source in sources.values():
        _parse(con, source, text, checks)

    last_event = _last_valid_event(con, sources, now)
    limit = (last_event if last_event is not None else now) + dt.timedelta(
        days=checks.max_future_days)
    for source in sources.values():
        _cross_row_rules(con, source, limit)
        _finalize(con, source, limit, last_event, checks)
    _build_quarantine(con, sources)

    tables = {name: _count(con, source) for name, source in sources.items()}
    for source in sources.values():
        # The raw text is in the quarantine now; free its memory (or disk).
        for name in (source.raw, source.bad, source.steps):
            _run(con, f"DROP TABLE {name}")
    report: dict[str, Any] = {
        "tables": tables,
        "totals": _totals(tables),
        "last_valid_event": None if last_event is None else last_event.isoformat(" "),
        "future_limit": limit.isoformat(" ") if last_event is not None else None,
        "min_timestamp": checks.min_timestamp.isoformat(" "),
        "rules": dict(RULES),
        "policies": {"unparseable_optional_numbers": OPTIONAL_NUMBER_POLICY},
    }
    reconcile(report)
    if tables["transactions"]["rows_accepted"] == 0:
        raise _no_transactions(con, tables["transactions"], last_event)
    return report


def _write_sorted(con: duckdb.DuckDBPyConnection, query: str, schema: pa.Schema, dest: Path,
                  row_group_size: int) -> int:
    """Stream a query into a Parquet file with exactly ``schema``, in row groups."""
    reader = con.sql(query).to_arrow_reader(batch_size=min(row_group_size, 131_072))
    written = 0
    with pq.ParquetWriter(dest, schema, compression="zstd") as writer:
        for chunk in _row_groups(reader, schema, row_group_size):
            writer.write_table(chunk, row_group_size=row_group_size)
            written += chunk.num_rows
    return written


def _row_groups(reader: pa.RecordBatchReader, schema: pa.Schema,
                size: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch.cast(schema))
        rows += batch.num_rows
        if rows >= size:
            table = pa.Table.from_batches(pending, schema)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, rows = rest.to_batches(), rest.num_rows
            while rows >= size:
                table = pa.Table.from_batches(pending, schema)
                yield table.slice(0, size)
                rest = table.slice(size)
                pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending, schema)


def _check_schema(dest: Path, expected: Table) -> None:
    actual = pq.read_schema(dest).remove_metadata()
    if not actual.equals(expected.arrow_schema()):
        raise ReconciliationError(f"{dest}: written schema {actual} differs from the declared "
                                  f"{expected.name} schema {expected.arrow_schema()}")


def write_clean_table(con: duckdb.DuckDBPyConnection, table: str, dest: str | Path, *,
                      row_group_size: int = DEFAULT_ROW_GROUP_SIZE) -> int:
    """Write the accepted rows of one table to Parquet, clustered by bucket.

    Columns and Arrow dtypes are exactly ``CLEAN_TABLES[table]``; rows are
    sorted by (bucket, customer_id, timestamp, source_file, source_line) and
    row groups hold at most ``row_group_size`` rows, so readers filtering on
    bucket ranges skip row groups through their statistics.

    Parameters
    ----------
    con
        The connection :func:`validate_inputs` ran in.
    table
        ``transactions``, ``interactions`` or ``customers``.
    dest
        Parquet file to write (typically a temporary path, moved into place by the caller).
    row_group_size
        Rows per row group.

    Returns
    -------
    int
        Rows written.
    """
    spec = CLEAN_TABLES[table]
    _build_customer_index(con)
    expressions = {c: f"r.{_q(c)}" for c in INPUT_TABLES[table].names}
    expressions.update({
        "is_refund": f"r.{_q('amount')} < 0",
        "customer_key": "k.customer_key",
        "bucket": "r.__bucket",
        "source_file": "r.__file",
        "source_line": "r.__line",
    })
    select = ", ".join(f"CAST({expressions[c.name]} AS {c.duckdb_type}) AS {_q(c.name)}"
                       for c in spec.columns)
    order = ["bucket", "customer_id"] + (["timestamp"] if "timestamp" in spec.names else [])
    order += ["source_file", "source_line"]
    query = (f"SELECT {select} FROM _v_rows_{table} r "
             f"JOIN _customer_index k ON k.customer_id = r.{_q('customer_id')} "
             f"WHERE r.__rule IS NULL ORDER BY {', '.join(_q(c) for c in order)}")
    written = _write_sorted(con, query, spec.arrow_schema(), Path(dest), row_group_size)
    _check_schema(Path(dest), spec)
    return written


def _build_customer_index(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``_customer_index`` once: every accepted customer with its dense key."""
    if con.execute("SELECT count(*) FROM duckdb_tables() "
                   "WHERE table_name = '_customer_index'").fetchall()[0][0]:
        return
    union = " UNION ".join(
        f"SELECT {_q('customer_id')} AS customer_id, __bucket AS bucket "
        f"FROM _v_rows_{table} WHERE __rule IS NULL" for table in CLEAN_TABLES)
    _run(con, f"""
        CREATE TABLE _customer_index AS
        SELECT row_number() OVER (ORDER BY bucket, customer_id) - 1 AS customer_key,
               customer_id, bucket
        FROM ({union})""")


def write_customer_index(con: duckdb.DuckDBPyConnection, dest: str | Path) -> int:
    """Write every accepted customer once with its dense ``customer_key`` (``CUSTOMER_INDEX``).

    The key is the rank of (bucket, customer_id) over the customers of all clean
    tables, so the customers of a range of buckets have consecutive keys and
    the feature engines can index arrays by key.

    Returns
    -------
    int
        Rows written.
    """
    _build_customer_index(con)
    select = ", ".join(f"CAST({_q(c.name)} AS {c.duckdb_type}) AS {_q(c.name)}"
                       for c in CUSTOMER_INDEX.columns)
    written = _write_sorted(con, f"SELECT {select} FROM _customer_index ORDER BY customer_key",
                            CUSTOMER_INDEX.arrow_schema(), Path(dest), DEFAULT_ROW_GROUP_SIZE)
    _check_schema(Path(dest), CUSTOMER_INDEX)
    return written


def write_quarantine(con: duckdb.DuckDBPyConnection, dest: str | Path, *,
                     row_group_size: int = DEFAULT_ROW_GROUP_SIZE) -> int:
    """Write the quarantined rows of every table to Parquet (``QUARANTINE`` schema).

    Parameters
    ----------
    con
        The connection :func:`validate_inputs` ran in.
    dest
        Parquet file to write.
    row_group_size
        Rows per row group.

    Returns
    -------
    int
        Rows written.
    """
    query = ('SELECT * FROM _v_quarantine ORDER BY "table", source_file, source_line')
    written = _write_sorted(con, query, QUARANTINE.arrow_schema(), Path(dest), row_group_size)
    _check_schema(Path(dest), QUARANTINE)
    return written


def check_written(report: Mapping[str, Any], written: Mapping[str, int]) -> None:
    """Raise unless the files hold the rows the report counts.

    Parameters
    ----------
    report
        The report of :func:`validate_inputs`.
    written
        Rows written per clean table, and under ``"quarantine"`` for the quarantine.

    Raises
    ------
    ReconciliationError
        Naming the file whose row count differs.
    """
    for name, t in report["tables"].items():
        if written[name] != t["rows_accepted"]:
            raise ReconciliationError(f"clean {name}: {written[name]} rows written, "
                                      f"{t['rows_accepted']} accepted")
    if written["quarantine"] != report["totals"]["rows_quarantined"]:
        raise ReconciliationError(f"quarantine: {written['quarantine']} rows written, "
                                  f"{report['totals']['rows_quarantined']} quarantined")
