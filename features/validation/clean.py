"""Writing the outputs of a validation to Parquet, and checking what was written.

The clean tables (exactly :data:`features.schema.CLEAN_TABLES`, sorted by
bucket, customer and time, in row groups), the customer index
(:data:`features.schema.CUSTOMER_INDEX`: every accepted customer once with its
dense ``customer_key``) and the quarantine
(:data:`features.schema.QUARANTINE`). Each file's schema is checked after
writing; :func:`check_written` checks the row counts against the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import ReconciliationError
from features.schema import CLEAN_TABLES, CUSTOMER_INDEX, INPUT_TABLES, QUARANTINE, Table
from features.validation.sql import _q, _run

DEFAULT_ROW_GROUP_SIZE = 250_000


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
