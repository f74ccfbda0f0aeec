"""The DuckDB sink: a database file with the scores table and its two views.

A write replaces the rows of one ``as_of`` in one transaction, from an Arrow
table or straight from Parquet files, and waits (up to ``lock_timeout``) for a
file another process holds open: DuckDB allows one writer per file
(:func:`open_waiting`, which the readers of the file use too). A staged write
(:meth:`DuckDBSink.stage`) is that transaction left open until it is published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import CUSTOMER_SCORES
from pipeline.errors import SinkError
from pipeline.identifiers import check_identifier
from pipeline.sinks.base import (
    DEFAULT_TABLE,
    LATEST_VIEW,
    SUMMARY_VIEW,
    Staged,
    _check_date,
    validate_scores,
    write_staged,
)
from pipeline.sinks.sql import (
    _column_list,
    _ensure_table_and_views,
    _mark_date,
    _quote,
    marker_table,
)


@dataclass(frozen=True)
class DuckDBSink:
    """A DuckDB database file with the scores table and its two views.

    The file (and its folder) is created if missing; the table is created from
    the declared schema, the views ``latest_scores`` and ``action_summary`` (see
    :mod:`pipeline.sinks`) if missing. A write deletes the rows of the date and inserts
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

    def write(self, scores: pd.DataFrame, as_of: dt.date, *, beyond_data: bool = False) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return ``"<path> (table <name>)"``.

        See :func:`validate_scores` for the frame's contract and the errors raised.
        """
        return write_staged(self.stage(scores, as_of, beyond_data=beyond_data))

    def stage(self, scores: pd.DataFrame, as_of: dt.date, *,
              beyond_data: bool = False) -> Staged:
        """Delete the rows of ``as_of`` and insert ``scores`` in a transaction left open
        (the file held): publishing commits it."""
        data = validate_scores(scores, as_of)
        return self._stage(as_of, lambda con, qualified: _load_duckdb(con, qualified, data),
                           beyond_data)

    def write_files(self, files: Sequence[Path], as_of: dt.date, *,
                    beyond_data: bool = False) -> str:
        """:meth:`write` from Parquet files (:meth:`stage_files`)."""
        return write_staged(self.stage_files(files, as_of, beyond_data=beyond_data))

    def stage_files(self, files: Sequence[Path], as_of: dt.date, *,
                    beyond_data: bool = False) -> Staged:
        """:meth:`stage` from Parquet files of scored rows of ``as_of`` (every column
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

        return self._stage(as_of, load, beyond_data)

    def _stage(self, as_of: dt.date, load: Callable[[duckdb.DuckDBPyConnection, str], None],
               beyond_data: bool) -> _StagedTransaction:
        """Delete the rows of ``as_of`` and ``load`` the new ones in a transaction, left open."""
        where = f"{self.path} (table {self.table})"
        con = self._connect()
        try:
            def run(sql: str, params: tuple | None) -> list:
                return con.execute(sql, params).fetchall()

            _ensure_table_and_views(
                run, param="?", schema="main", table=self.table,
                views=(self.latest_view, self.summary_view), quote=_quote,
                sql_type=lambda c: c.duckdb_type, primary_key=False, where=where)
            qualified = f"main.{_quote(self.table)}"
            con.begin()
            con.execute(f"DELETE FROM {qualified} WHERE as_of = ?", [as_of])
            load(con, qualified)
            _mark_date(run, param="?", qualified_marker=f"main.{_quote(marker_table(self.table))}",
                       as_of=as_of, beyond_data=beyond_data)
        except BaseException as err:
            _StagedTransaction(con, where).discard()
            if isinstance(err, duckdb.Error):
                raise SinkError(f"{where}: {str(err).splitlines()[0]}; the file is as it "
                                f"was") from None
            raise
        return _StagedTransaction(con, where)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SinkError(f"cannot make the folder of the DuckDB file {self.path}: "
                            f"{err.strerror or err}") from None
        return open_waiting(lambda: duckdb.connect(str(self.path)), self.path,
                            self.lock_timeout)


@dataclass
class _StagedTransaction:
    """A transaction that replaced a date's rows, not committed yet: the file is held."""

    con: duckdb.DuckDBPyConnection
    where: str

    def publish(self) -> None:
        try:
            self.con.commit()
        except duckdb.Error as err:
            raise SinkError(f"{self.where}: the commit failed ({str(err).splitlines()[0]}); "
                            f"the file is as it was") from None
        finally:
            self.con.close()

    def discard(self) -> None:
        with contextlib.suppress(duckdb.Error):  # nothing to roll back: none begun, or closed
            self.con.rollback()
        with contextlib.suppress(duckdb.Error):
            self.con.close()


T = TypeVar("T")


def open_waiting(open_file: Callable[[], T], path: Path, timeout: float) -> T:
    """``open_file()``, which opens the DuckDB file ``path``, retried while another process
    holds the file (DuckDB allows one writer, or many readers, per file) for up to
    ``timeout`` seconds. Used to write the file and to read it.

    Raises
    ------
    SinkError
        Naming the file, when it is still held after ``timeout`` seconds, or is not a
        DuckDB database (the file is left as it is).
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            return open_file()
        except duckdb.Error as err:
            text = str(err)
            # "Could not set lock on file ...: Conflicting lock is held in ..." (not a
            # damaged file's "block checksum").
            if not re.search(r"\b(set|conflicting) lock\b", text, re.IGNORECASE):
                raise SinkError(
                    f"cannot open the DuckDB file {path}: {text.splitlines()[0]}. If it is not "
                    f"a DuckDB database (damaged, or another file at that path), move it "
                    f"aside; it was not changed") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SinkError(
                    f"DuckDB file {path} is in use by another process, and DuckDB "
                    f"allows one writer per file; waited {timeout:g} s. Close "
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
