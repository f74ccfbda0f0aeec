"""Where scored customers are written for analysts: Parquet, DuckDB and PostgreSQL.

Scoring produces one frame per scoring date ``as_of`` with exactly the columns
of :data:`features.schema.CUSTOMER_SCORES`. Every sink has the same interface
(:class:`Sink`): ``write(scores, as_of)`` validates the frame
(:func:`validate_scores`), casts it to the declared Arrow types, replaces the
rows of that date and returns where it wrote (a path, or a URL with its
password masked by :func:`mask_url`).

Writes are idempotent and atomic per ``as_of``: writing a date again replaces
its rows (other dates stay, nothing is duplicated), and a crash in the middle
leaves readers with the previous complete rows of that date or the new complete
ones, never a mix.

========  ==============================================  ============================
sink      layout                                          atomicity
========  ==============================================  ============================
parquet   ``<root>/as_of=YYYY-MM-DD/part-0.parquet``      temporary file + os.replace
duckdb    table ``customer_scores`` + 2 views in a file   one transaction
postgres  table ``<schema>.customer_scores`` + 2 views    one transaction, COPY
========  ==============================================  ============================

The two views of the database sinks:

* ``latest_scores``: every column of the rows of the most recent ``as_of``.
* ``action_summary``: one row per ``(as_of, stage, action)`` over all dates,
  with ``customers`` (row count), ``total_value_at_risk`` (sum of
  ``value_at_risk``; null when no row of the group has one, e.g. prospects) and
  ``mean_p_defect`` (mean of the non-null ``p_defect``). For the latest date:
  ``SELECT * FROM action_summary WHERE as_of = (SELECT max(as_of) FROM
  customer_scores)``.

This module is library code: it receives paths, URLs and names as values and
never reads ``params.yaml`` or the environment. The PostgreSQL sink needs the
``postgres`` extra (``pip install -e '.[postgres]'``).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.schema import CUSTOMER_SCORES, Column
from pipeline.io import atomic_path

#: Sinks written when the caller names none.
DEFAULT_SINKS: tuple[str, ...] = ("parquet", "duckdb")
#: Every sink :func:`open_sinks` knows.
SINK_NAMES: tuple[str, ...] = ("parquet", "duckdb", "postgres")
#: Default table name of the database sinks.
DEFAULT_TABLE = CUSTOMER_SCORES.name
#: Default names of the two views of the database sinks.
LATEST_VIEW = "latest_scores"
SUMMARY_VIEW = "action_summary"
#: The one file of a Parquet partition (a fixed name, so that os.replace swaps it whole).
PARQUET_FILE = "part-0.parquet"

#: The rows of one customer on one date; unique in every sink.
_KEY = ("as_of", "customer_id")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_POSTGRES_TYPES: dict[str, str] = {
    "string": "text",
    "double": "double precision",
    "int64": "bigint",
    "int32": "integer",
    "int16": "smallint",
    "bool": "boolean",
    "timestamp[us]": "timestamp",
    "date32": "date",
}
#: Rows per CSV chunk streamed to PostgreSQL's COPY (bounds the memory of a load).
_COPY_CHUNK_ROWS = 100_000


class SinkError(RuntimeError):
    """A sink could not write: file locked, server unreachable, table of another shape."""


class Sink(Protocol):
    """Where scored customers are written; one instance per destination."""

    name: str

    def write(self, scores: pd.DataFrame, as_of: dt.date) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return where they were written."""
        ...


# --------------------------------------------------------------------------
# Helpers shared by every sink.
# --------------------------------------------------------------------------

def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, for logs and messages.

    Parameters
    ----------
    url : str
        A database URL such as ``postgresql+psycopg://user:pw@host:5432/db``. The
        password is what SQLAlchemy takes as one: from the first ``:`` after the
        user name to the first ``@``; a ``password=`` query parameter is masked too.
        Anything that is not a URL (a file path) is returned unchanged.

    Returns
    -------
    str
        The URL without its password.
    """
    masked = re.sub(r"^([\w+.-]+://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", masked, flags=re.IGNORECASE)


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if it is a plain lower-case SQL identifier, else raise ``ValueError``.

    Table, view and schema names are still quoted by the database driver when
    they are put in SQL; this check keeps them portable (no quoting needed by the
    analysts who query them) and within PostgreSQL's 63 characters.
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} is not a plain SQL identifier: use lower-case letters, "
            f"digits and underscores, not starting with a digit, at most 63 characters"
        )
    return name


def validate_scores(scores: pd.DataFrame, as_of: dt.date) -> pa.Table:
    """Check a frame of scored customers and cast it to the declared Arrow types.

    Parameters
    ----------
    scores : pandas.DataFrame
        Exactly the columns of :data:`features.schema.CUSTOMER_SCORES`, in any
        order; one row per customer. String columns may hold None/NA; ``as_of``
        may be dates, midnight timestamps or ISO strings; ``scored_at`` a naive
        UTC timestamp (a time-zone-aware one is converted to naive UTC) with at
        most microsecond precision. The frame is not modified.
    as_of : datetime.date
        The scoring date the frame is written for.

    Returns
    -------
    pyarrow.Table
        The rows with schema ``CUSTOMER_SCORES.arrow_schema()`` (declared column
        order and types).

    Raises
    ------
    TypeError
        ``scores`` is not a DataFrame or ``as_of`` not a ``datetime.date``.
    ValueError
        Missing, unexpected or repeated columns (named); a column that cannot be
        cast (named, with the offending value); a null ``customer_id``; a row whose
        ``as_of`` differs from the argument; a ``customer_id`` on more than one row.
    """
    table = CUSTOMER_SCORES
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"{table.name}: expected a pandas DataFrame, got {type(scores).__name__}")
    _check_date(as_of)
    where = f"{table.name} for as_of {as_of.isoformat()}"
    repeated_columns = sorted({str(c) for c in scores.columns[scores.columns.duplicated()]})
    if repeated_columns:
        raise ValueError(f"{where}: columns {repeated_columns} appear more than once in the "
                         f"frame; keep one of each")
    missing = [name for name in table.names if name not in scores.columns]
    unexpected = [str(c) for c in scores.columns if c not in table.names]
    if missing or unexpected:
        problems = ([f"missing columns {missing}"] if missing else []) + (
            [f"unexpected columns {unexpected}"] if unexpected else [])
        raise ValueError(f"{where}: {'; '.join(problems)}. The frame must have exactly the "
                         f"columns declared in features.schema.CUSTOMER_SCORES (any order).")

    arrays = [_cast(scores[c.name], c, where) for c in table.columns]
    data = pa.Table.from_arrays(arrays, schema=table.arrow_schema())

    ids = data.column("customer_id")
    if ids.null_count:
        raise ValueError(f"{where}: {ids.null_count} rows have no customer_id (null); every "
                         f"row must name its customer")
    dates = data.column("as_of")
    other_date = pc.fill_null(pc.not_equal(dates, pa.scalar(as_of, pa.date32())), True)
    n_other = pc.sum(other_date).as_py() or 0
    if n_other:
        first = pc.index(other_date, True).as_py()
        raise ValueError(
            f"{where}: {n_other} rows have another as_of (e.g. {dates[first].as_py()} for "
            f"customer_id {ids[first].as_py()!r}); a frame holds one scoring date: write "
            f"each date with its own as_of"
        )
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        examples = ", ".join(f"{r['values']!r} x{r['counts']}" for r in repeated[:3].to_pylist())
        raise ValueError(f"{where}: {len(repeated)} customer_id values are on more than one row "
                         f"(e.g. {examples}); each customer has one row per as_of")
    return data


def _check_date(as_of: object) -> None:
    # datetime.datetime (and pandas.Timestamp) are dates too; a time of day here is a mistake.
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r} "
                        f"({type(as_of).__name__})")


def _cast(series: pd.Series, column: Column, where: str) -> pa.Array:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(None)  # aware -> naive UTC, the declared convention
    try:
        return pa.array(series, type=column.arrow_type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ValueError(f"{where}: column {column.name!r} (pandas dtype {series.dtype}) cannot "
                         f"be cast to its declared type {column.dtype}: {err}") from err


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a folder: so that a rename survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# SQL shared by the database sinks.
# --------------------------------------------------------------------------

def _quote(name: str) -> str:
    """Standard SQL identifier quoting (DuckDB's; PostgreSQL's driver quotes its own)."""
    return '"' + name.replace('"', '""') + '"'


def _create_table_sql(qualified: str, quote: Callable[[str], str],
                      sql_type: Callable[[Column], str], *, primary_key: bool) -> str:
    lines = [f"{quote(c.name)} {sql_type(c)}{' NOT NULL' if c.name in _KEY else ''}"
             for c in CUSTOMER_SCORES.columns]
    if primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(quote(k) for k in _KEY)})")
    return f"CREATE TABLE {qualified} (\n    " + ",\n    ".join(lines) + "\n)"


def _view_selects(qualified: str, latest_view: str, summary_view: str) -> dict[str, str]:
    return {
        latest_view: (f"SELECT * FROM {qualified} "
                      f"WHERE as_of = (SELECT max(as_of) FROM {qualified})"),
        summary_view: (f"SELECT as_of, stage, action, count(*) AS customers, "
                       f"sum(value_at_risk) AS total_value_at_risk, "
                       f"avg(p_defect) AS mean_p_defect "
                       f"FROM {qualified} GROUP BY as_of, stage, action"),
    }


def _ensure_table_and_views(
    run: Callable[[str, tuple[Any, ...] | None], list[tuple[Any, ...]]],
    *,
    param: str,
    schema: str,
    table: str,
    views: tuple[str, str],
    quote: Callable[[str], str],
    sql_type: Callable[[Column], str],
    primary_key: bool,
    where: str,
) -> None:
    """Create the table and the views if missing; check an existing table's columns.

    ``run(sql, params)`` executes one statement and returns its rows; ``param`` is
    the driver's placeholder (``?`` or ``%s``).
    """
    qualified = f"{quote(schema)}.{quote(table)}"
    found = [row[0] for row in run(
        f"SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = {param} AND table_name = {param} ORDER BY ordinal_position",
        (schema, table))]
    if not found:
        run(_create_table_sql(qualified, quote, sql_type, primary_key=primary_key), None)
    elif sorted(found) != sorted(CUSTOMER_SCORES.names):
        missing = [n for n in CUSTOMER_SCORES.names if n not in found]
        unexpected = [n for n in found if n not in CUSTOMER_SCORES.names]
        raise SinkError(
            f"{where}: the existing table has other columns than "
            f"features.schema.CUSTOMER_SCORES (missing {missing}, unexpected {unexpected}); "
            f"migrate it (ALTER TABLE), drop it, or write to another table"
        )
    for view, select in _view_selects(qualified, *views).items():
        exists = run(f"SELECT 1 FROM information_schema.tables "
                     f"WHERE table_schema = {param} AND table_name = {param}", (schema, view))
        if not exists:
            run(f"CREATE VIEW {quote(schema)}.{quote(view)} AS {select}", None)


def _column_list(quote: Callable[[str], str]) -> str:
    return ", ".join(quote(name) for name in CUSTOMER_SCORES.names)


# --------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ParquetSink:
    """A Parquet dataset partitioned by ``as_of``, one file per date.

    Layout: ``<root>/as_of=YYYY-MM-DD/part-0.parquet`` (hive style). The file holds
    every column but ``as_of``, whose value is the folder's name: so that one value
    cannot disagree with the other, and so that both readers below merge the
    partitions without a type conflict. A write goes to a hidden temporary file
    in the partition folder (``.part-0.parquet.<hex>.tmp``, which no ``*.parquet``
    glob matches), is flushed to disk and moved onto ``part-0.parquet`` with
    ``os.replace``; temporaries left by a crashed earlier write are removed. One
    writer per date at a time. A partition written by the Spark engine holds
    several parts (``part-NNNNN.parquet``); such a folder is replaced as a whole
    (:func:`replace_folder`), by Spark's writes (:func:`replace_partition`) and by
    this one alike.

    Reading it back:

    * DuckDB: ``SELECT * FROM read_parquet('<root>/*/*.parquet',
      hive_partitioning = true)`` gives ``as_of`` as ``DATE`` (last column).
    * pandas: :func:`read_parquet_scores` gives the declared columns in order with
      ``as_of`` as ``datetime.date`` values. Plain ``pandas.read_parquet(root)``
      cannot know the partition's type and returns ``as_of`` as a categorical of
      ISO strings; pass ``partitioning=PARQUET_PARTITIONING`` to get dates.
    """

    root: Path
    name: str = field(default="parquet", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def partition(self, as_of: dt.date) -> Path:
        """The folder of one scoring date."""
        return self.root / f"as_of={as_of.isoformat()}"

    def write(self, scores: pd.DataFrame, as_of: dt.date) -> str:
        """Replace the partition of ``as_of`` with ``scores``; return the file's path.

        See :func:`validate_scores` for the frame's contract and the errors raised.
        """
        data = validate_scores(scores, as_of)
        dest = self.partition(as_of) / PARQUET_FILE
        if dest.parent.is_dir() and any(p.name != PARQUET_FILE
                                        for p in dest.parent.glob("*.parquet")):
            staging = _staging_folder(dest.parent)
            pq.write_table(data.drop_columns(["as_of"]), staging / PARQUET_FILE,
                           compression="zstd")
            replace_folder(staging, dest.parent)
            return str(dest)
        with atomic_path(dest) as tmp:
            pq.write_table(data.drop_columns(["as_of"]), tmp, compression="zstd")
            _fsync(tmp)
        _fsync(dest.parent)
        _fsync(self.root)
        for leftover in dest.parent.glob(f".{PARQUET_FILE}.*.tmp"):
            leftover.unlink(missing_ok=True)
        return str(dest)


def _staging_folder(dest: Path) -> Path:
    """A new hidden folder beside the dataset's root (on its file system, out of its globs)."""
    root = dest.parent
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.{dest.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    return staging


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15)
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                     _RENAME_EXCHANGE) == 0


def replace_folder(new: Path, dest: Path) -> None:
    """Put the folder ``new`` in the place of ``dest`` (same file system); ``new`` is gone after.

    Where ``dest`` exists, the two are swapped in one step (``renameat2`` with
    ``RENAME_EXCHANGE``): readers see the old files or the new ones, never a mix and
    never nothing. Where the system cannot swap, ``dest`` is moved aside and ``new``
    moved in, two renames with an instant in between where the folder is absent.
    """
    for path in [*new.iterdir(), new]:
        _fsync(path)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, dest)
    elif _exchange(new, dest):
        shutil.rmtree(new)  # now holds the old files
    else:
        old = new.with_name(new.name + ".old")
        os.replace(dest, old)
        os.replace(new, dest)
        shutil.rmtree(old)
    _fsync(dest.parent)


def replace_partition(sink: ParquetSink, as_of: dt.date, folder: Path) -> str:
    """Make the Parquet files of ``folder`` the partition of ``as_of`` in ``sink``.

    ``folder`` holds the scored rows without ``as_of`` (the folder's name gives it),
    as written by Spark; it is left as it is: its files are hard-linked (copied
    across file systems) into a staging folder, which replaces the partition with
    :func:`replace_folder`. Returns the partition's path.
    """
    dest = sink.partition(as_of)
    staging = _staging_folder(dest)
    staging.rmdir()
    try:
        shutil.copytree(folder, staging, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns("_SUCCESS", ".*"))
        replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(dest)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


#: Partitioning of the Parquet sink's dataset, with ``as_of`` typed as a date; pass it
#: to ``pandas.read_parquet`` / ``pyarrow.dataset.dataset`` as ``partitioning=``.
PARQUET_PARTITIONING = ds.partitioning(pa.schema([pa.field("as_of", pa.date32())]),
                                       flavor="hive")


def read_parquet_scores(root: str | os.PathLike[str],
                        as_of: dt.date | None = None) -> pd.DataFrame:
    """Read the Parquet sink's dataset back into the declared columns and types.

    Parameters
    ----------
    root : path
        The dataset folder given to :class:`ParquetSink`.
    as_of : datetime.date, optional
        Read only this date (only its partition is opened).

    Returns
    -------
    pandas.DataFrame
        The columns of ``CUSTOMER_SCORES`` in declared order, ``as_of`` as
        ``datetime.date`` values; no rows when nothing was written yet.
    """
    if as_of is not None:
        _check_date(as_of)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no Parquet scores at {root}: write some with ParquetSink first")
    schema = CUSTOMER_SCORES.arrow_schema()
    dataset = ds.dataset(root, format="parquet", partitioning=PARQUET_PARTITIONING,
                         schema=schema)
    where = None if as_of is None else ds.field("as_of") == pa.scalar(as_of, pa.date32())
    return dataset.to_table(columns=schema.names, filter=where).to_pandas()


# --------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DuckDBSink:
    """A DuckDB database file with the scores table and its two views.

    The file (and its folder) is created if missing; the table is created from
    the declared schema, the views ``latest_scores`` and ``action_summary`` (see the
    module docstring) if missing. A write deletes the rows of the date and inserts
    the new ones from Arrow in one transaction, then closes the file, so analysts
    can open it between runs.

    Uniqueness of ``(as_of, customer_id)`` is kept by the write itself (a validated
    frame without repeated customers replaces all rows of its date) and DuckDB's
    file lock (one writing process at a time), not by a primary key: deleting a
    million keys from DuckDB's index costs about 30 s at commit, against 0.2 s
    without it. While another process holds the file (another scoring run, an
    analyst's open connection), :meth:`write` waits for it, up to
    ``lock_timeout`` seconds, then raises :class:`SinkError` and leaves the file
    as it was. Two runs for the same date started together therefore run one
    after the other, and the second replaces the first's rows.
    """

    path: Path
    table: str = DEFAULT_TABLE
    latest_view: str = LATEST_VIEW
    summary_view: str = SUMMARY_VIEW
    lock_timeout: float = 60.0
    name: str = field(default="duckdb", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        check_identifier(self.table, "table")
        check_identifier(self.latest_view, "view")
        check_identifier(self.summary_view, "view")

    def write(self, scores: pd.DataFrame, as_of: dt.date) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return ``"<path> (table <name>)"``.

        See :func:`validate_scores` for the frame's contract and the errors raised.
        """
        data = validate_scores(scores, as_of)
        return self._replace(as_of, lambda con, qualified: _load_duckdb(con, qualified, data))

    def write_files(self, files: Sequence[Path], as_of: dt.date) -> str:
        """:meth:`write` from Parquet files of scored rows of ``as_of`` (every column
        but ``as_of``, as the Parquet sink stores them), loaded by DuckDB without
        passing through Python: memory does not grow with the rows.

        Raises
        ------
        ValueError
            When the files' columns are not those of ``CUSTOMER_SCORES`` without
            ``as_of``, or a ``customer_id`` is null or on more than one row.
        """
        _check_date(as_of)
        names = [c for c in CUSTOMER_SCORES.names if c != "as_of"]
        for file in files:
            got = pq.read_schema(file).names
            if sorted(got) != sorted(names):
                raise ValueError(f"{file}: columns {got} are not those of "
                                 f"{CUSTOMER_SCORES.name} without as_of ({names})")
        paths = [str(f) for f in files]
        columns = ", ".join(_quote(c) for c in CUSTOMER_SCORES.names)
        select = ", ".join("?::DATE AS as_of" if c == "as_of" else _quote(c)
                           for c in CUSTOMER_SCORES.names)

        def load(con: duckdb.DuckDBPyConnection, qualified: str) -> None:
            bad = con.execute("SELECT count(*) - count(DISTINCT customer_id), "
                              "count(*) - count(customer_id) FROM read_parquet(?)",
                              [paths]).fetchone()
            if bad[0] or bad[1]:
                raise ValueError(f"{CUSTOMER_SCORES.name} for as_of {as_of.isoformat()}: "
                                 f"{bad[0]} repeated and {bad[1]} null customer_id values in "
                                 f"{paths[0]} ...; each customer has one row per as_of")
            con.execute(f"INSERT INTO {qualified} ({columns}) SELECT {select} "
                        f"FROM read_parquet(?)", [as_of, paths])

        return self._replace(as_of, load)

    def _replace(self, as_of: dt.date,
                 load: Callable[[duckdb.DuckDBPyConnection, str], None]) -> str:
        """Delete the rows of ``as_of`` and ``load`` the new ones, in one transaction."""
        where = f"{self.path} (table {self.table})"
        con = self._connect()
        try:
            _ensure_table_and_views(
                lambda sql, params: con.execute(sql, params).fetchall(),
                param="?", schema="main", table=self.table,
                views=(self.latest_view, self.summary_view), quote=_quote,
                sql_type=lambda c: c.duckdb_type, primary_key=False, where=where)
            qualified = f"main.{_quote(self.table)}"
            con.begin()
            try:
                con.execute(f"DELETE FROM {qualified} WHERE as_of = ?", [as_of])
                load(con, qualified)
                con.commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # none to roll back if COMMIT failed
                    con.rollback()
                raise
        finally:
            con.close()
        return where

    def _connect(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as err:
                if "lock" not in str(err).lower():
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SinkError(
                        f"DuckDB file {self.path} is in use by another process, and DuckDB "
                        f"allows one writer per file; waited {self.lock_timeout:g} s. Close "
                        f"the other connection (a notebook, a BI tool, another scoring run) "
                        f"and write again ({err})"
                    ) from err
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, 1.0)


def _load_duckdb(con: duckdb.DuckDBPyConnection, qualified: str, data: pa.Table) -> None:
    """Insert an Arrow table into a DuckDB table in one statement (no row loop)."""
    con.register("_incoming_scores", data)
    try:
        columns = _column_list(_quote)
        con.execute(f"INSERT INTO {qualified} ({columns}) "
                    f"SELECT {columns} FROM _incoming_scores")
    finally:
        con.unregister("_incoming_scores")


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PostgresSink:
    """A PostgreSQL table with the same two views, loaded with COPY.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host:5432/db``; query
        parameters (``sslmode=require``, ...) are passed to the connection. The
        connection is made with psycopg 3 whatever the URL's driver.
    table, schema : str
        Where the rows go (plain lower-case identifiers, quoted by psycopg). The
        schema, the table (primary key ``(as_of, customer_id)``) and the views
        are created if missing.
    latest_view, summary_view : str
        Names of the two views, in the same schema.

    A write runs in one transaction: lock the table against other writers
    (readers go on and see the previous rows until the commit), delete the rows
    of the date, COPY the new ones as CSV streamed in chunks, commit. The
    password never appears in the returned string, in ``repr`` or in errors.
    """

    url: str
    table: str = DEFAULT_TABLE
    schema: str = "public"
    latest_view: str = LATEST_VIEW
    summary_view: str = SUMMARY_VIEW
    name: str = field(default="postgres", init=False)

    def __post_init__(self) -> None:
        check_identifier(self.table, "table")
        check_identifier(self.schema, "schema")
        check_identifier(self.latest_view, "view")
        check_identifier(self.summary_view, "view")
        self._connect_args()  # fail now on a bad URL or a missing extra, not after scoring

    def __repr__(self) -> str:
        return (f"PostgresSink(url={mask_url(self.url)!r}, table={self.table!r}, "
                f"schema={self.schema!r})")

    def write(self, scores: pd.DataFrame, as_of: dt.date) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return the masked URL and table.

        See :func:`validate_scores` for the frame's contract and the errors raised;
        database errors are raised as :class:`SinkError` naming the table.
        """
        import psycopg
        from psycopg import sql

        data = validate_scores(scores, as_of)
        where = f"{mask_url(self.url)} (table {self.schema}.{self.table})"
        args = self._connect_args()
        try:
            with psycopg.connect(**args, autocommit=True) as conn, conn.cursor() as cur:
                def quote(name: str) -> str:
                    return sql.Identifier(name).as_string(conn)

                def run(statement: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
                    cur.execute(statement, params)
                    return cur.fetchall() if cur.description else []

                with conn.transaction():
                    if not run("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)):
                        run(f"CREATE SCHEMA {quote(self.schema)}", None)
                    _ensure_table_and_views(
                        run, param="%s", schema=self.schema, table=self.table,
                        views=(self.latest_view, self.summary_view), quote=quote,
                        sql_type=lambda c: _POSTGRES_TYPES[c.dtype], primary_key=True,
                        where=where)
                qualified = f"{quote(self.schema)}.{quote(self.table)}"
                with conn.transaction():
                    cur.execute(f"LOCK TABLE {qualified} IN SHARE ROW EXCLUSIVE MODE")
                    cur.execute(f"DELETE FROM {qualified} WHERE as_of = %s", (as_of,))
                    _copy_postgres(cur, qualified, _column_list(quote), data)
        except psycopg.Error as err:
            message = str(err).strip()
            if args.get("password"):
                message = message.replace(str(args["password"]), "***")
            raise SinkError(f"{where}: {message}") from None
        return where

    def _connect_args(self) -> dict[str, Any]:
        try:
            import psycopg  # noqa: F401  (checked here so that a missing extra fails early)
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError
        except ImportError as err:
            raise SinkError(f"the PostgreSQL sink needs the 'postgres' extra ({err}): "
                            f"pip install -e '.[postgres]'") from None
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise SinkError(f"not a database URL: {mask_url(self.url)!r}; expected e.g. "
                            f"postgresql+psycopg://user:password@host:5432/database") from None
        if url.get_backend_name() != "postgresql":
            raise SinkError(f"{mask_url(self.url)} is not a PostgreSQL URL; expected e.g. "
                            f"postgresql+psycopg://user:password@host:5432/database")
        args: dict[str, Any] = {"connect_timeout": 10}
        args.update({k: v for k, v in url.query.items() if isinstance(v, str)})
        given = {"host": url.host, "port": url.port, "user": url.username,
                 "password": url.password, "dbname": url.database}
        args.update({k: v for k, v in given.items() if v is not None})
        return args


def _copy_postgres(cursor: Any, qualified: str, columns: str, data: pa.Table) -> None:
    """Stream an Arrow table into a PostgreSQL table with ``COPY ... FROM STDIN`` (CSV).

    pyarrow quotes every string and writes nulls as nothing, which COPY's CSV
    format reads back as NULL, and an empty string as ``""``.
    """
    options = pacsv.WriteOptions(include_header=False)
    with cursor.copy(f"COPY {qualified} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in data.to_batches(max_chunksize=_COPY_CHUNK_ROWS):
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(batch, buffer, write_options=options)
            copy.write(memoryview(buffer.getvalue()))


# --------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------

def open_sinks(
    names: Sequence[str] = DEFAULT_SINKS,
    *,
    parquet_root: str | os.PathLike[str] | None = None,
    duckdb_path: str | os.PathLike[str] | None = None,
    postgres_url: str | None = None,
    table: str = DEFAULT_TABLE,
    postgres_schema: str = "public",
) -> list[Sink]:
    """Build the named sinks from plain values, checking each has what it needs.

    Parameters
    ----------
    names : sequence of str
        Among ``SINK_NAMES`` (``parquet``, ``duckdb``, ``postgres``), each at most once.
    parquet_root, duckdb_path : path, optional
        Dataset folder of the Parquet sink, database file of the DuckDB sink.
    postgres_url : str, optional
        SQLAlchemy URL of the PostgreSQL sink (the caller reads it from wherever
        secrets live; it is only shown through :func:`mask_url`).
    table : str
        Table name of the database sinks.
    postgres_schema : str
        Schema of the PostgreSQL table.

    Returns
    -------
    list of Sink
        In the order of ``names``. Nothing is opened or written yet.
    """
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in SINK_NAMES]
    if unknown:
        raise ValueError(f"unknown sinks {unknown}: choose among {list(SINK_NAMES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"sinks {repeated} are named more than once")
    builders: Mapping[str, tuple[str, Any, Callable[[Any], Sink]]] = {
        "parquet": ("parquet_root", parquet_root, lambda root: ParquetSink(Path(root))),
        "duckdb": ("duckdb_path", duckdb_path,
                   lambda path: DuckDBSink(Path(path), table=table)),
        "postgres": ("postgres_url", postgres_url,
                     lambda url: PostgresSink(str(url), table=table, schema=postgres_schema)),
    }
    sinks: list[Sink] = []
    for n in names:
        argument, value, build = builders[n]
        if value is None or value == "":
            raise ValueError(f"sink {n!r} needs {argument}")
        sinks.append(build(value))
    return sinks
