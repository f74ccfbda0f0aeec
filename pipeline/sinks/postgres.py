"""The PostgreSQL sink: a table and its two views in a schema, loaded with COPY.

A write replaces the rows of one ``as_of`` in one transaction (the table locked
against other writers, readers see the previous rows until the commit). The
URL's password is shown only masked (:func:`pipeline.secrets.mask_url`). Needs
the ``postgres`` extra (``pip install -e '.[postgres]'``); psycopg and SQLAlchemy
are imported when a sink is made.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.errors import SinkError
from pipeline.identifiers import check_identifier
from pipeline.secrets import mask_url
from pipeline.sinks.base import (
    DEFAULT_TABLE,
    LATEST_VIEW,
    SUMMARY_VIEW,
    Staged,
    validate_scores,
    write_staged,
)
from pipeline.sinks.sql import _column_list, _ensure_table_and_views, _mark_date, marker_table

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
    of the date, COPY the new ones as CSV streamed in chunks (:meth:`stage`),
    commit (the staged write's ``publish``). The
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

    def write(self, scores: pd.DataFrame, as_of: dt.date, *, beyond_data: bool = False) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return the masked URL and table.

        See :func:`validate_scores` for the frame's contract and the errors raised;
        database errors are raised as :class:`SinkError` naming the table.
        """
        return write_staged(self.stage(scores, as_of, beyond_data=beyond_data))

    def stage(self, scores: pd.DataFrame, as_of: dt.date, *,
              beyond_data: bool = False) -> Staged:
        """Lock the table, delete the rows of ``as_of`` and COPY ``scores``, in a transaction
        left open: publishing commits it."""
        import psycopg
        from psycopg import sql

        data = validate_scores(scores, as_of)
        where = f"{mask_url(self.url)} (table {self.schema}.{self.table})"
        args = self._connect_args()
        conn = None
        try:
            conn = psycopg.connect(**args)
            cur = conn.cursor()

            def quote(name: str) -> str:
                return sql.Identifier(name).as_string(conn)

            def run(statement: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []

            if not run("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)):
                run(f"CREATE SCHEMA {quote(self.schema)}", None)
            _ensure_table_and_views(
                run, param="%s", schema=self.schema, table=self.table,
                views=(self.latest_view, self.summary_view), quote=quote,
                sql_type=lambda c: _POSTGRES_TYPES[c.dtype], primary_key=True,
                where=where)
            conn.commit()  # the table and views, for the other writers to lock
            qualified = f"{quote(self.schema)}.{quote(self.table)}"
            cur.execute(f"LOCK TABLE {qualified} IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(f"DELETE FROM {qualified} WHERE as_of = %s", (as_of,))
            _copy_postgres(cur, qualified, _column_list(quote), data)
            _mark_date(run, param="%s",
                       qualified_marker=f"{quote(self.schema)}.{quote(marker_table(self.table))}",
                       as_of=as_of, beyond_data=beyond_data)
        except BaseException as err:
            if conn is not None:
                _StagedPostgres(conn, where, "").discard()
            if isinstance(err, psycopg.Error):
                raise SinkError(f"{where}: {self._masked(err)}") from None
            raise
        return _StagedPostgres(conn, where, str(args.get("password") or ""))

    def _masked(self, err: BaseException) -> str:
        message = str(err).strip()
        password = self._connect_args().get("password")
        return message.replace(str(password), "***") if password else message

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


@dataclass
class _StagedPostgres:
    """A transaction that replaced a date's rows, not committed yet: the table is locked."""

    conn: Any
    where: str
    password: str

    def publish(self) -> None:
        import psycopg

        try:
            self.conn.commit()
        except psycopg.Error as err:
            message = str(err).strip()
            if self.password:
                message = message.replace(self.password, "***")
            raise SinkError(f"{self.where}: the commit failed ({message})") from None
        finally:
            self.conn.close()

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection has nothing to roll back
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()


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
