"""The embedded engine: DuckDB reads the clean Parquet one range of partitions at a time.

Clean tables are sorted by (bucket, customer, time), so a range of buckets is a
contiguous run of row groups: DuckDB skips the others using the Parquet
statistics and hands the kernel (:func:`features.build.compute_features`)
rows that need no sorting. Peak memory follows the size of a range, set by
``partitions_per_chunk``, not the size of the data; the next range is read
and computed while the previous one is being written.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.build import iter_features, iter_rfm_values
from features.rfm_scores import RFM_SOURCES
from features.schema import N_PARTITIONS
from features.spec import FeatureSpec, feature_table

#: Columns the kernel reads from each clean table.
KERNEL_COLUMNS = {
    "transactions": ("customer_key", "timestamp", "amount", "is_refund"),
    "interactions": ("customer_key", "timestamp", "kind", "satisfaction", "resolved",
                     "resolution_hours"),
    "customers": ("customer_key", "signup_date", "segment", "relationship_type"),
    "customer_index": ("customer_key", "customer_id"),
}


#: How feature parts are written. Snappy, Parquet's usual codec, writes a part in
#: about three quarters of zstd's time here, for 40% more bytes. Dictionary
#: encoding only where values repeat by design (one cutoff per batch, a few segments):
#: elsewhere it costs more time than the space it saves. Min/max statistics for the
#: keys readers filter on, not for the 70-odd features. Values go to the encoders
#: 64 Ki rows at a time rather than 1 Ki: the same encodings and sizes (pages may
#: end elsewhere) in about 8% less time.
PARQUET_OPTIONS = {"compression": "snappy",
                   "use_dictionary": ["cutoff", "segment", "relationship_type"],
                   "write_statistics": ["customer_id", "cutoff"],
                   "write_batch_size": 64 * 1024}

#: How the RFM values between the two passes are written: read once and deleted,
#: they are not worth compressing, encoding or describing.
STAGING_OPTIONS = {"compression": "none", "use_dictionary": False, "write_statistics": False}


@dataclass(frozen=True)
class BuildSummary:
    """What a feature build produced."""

    rows: int
    customers: int
    cutoffs: list[dt.date]
    chunks: int
    parts: list[str]


def connect(*, memory_limit: str | None = None, threads: int | None = None,
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the given limits."""
    con = duckdb.connect()
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    return con


def event_range(con: duckdb.DuckDBPyConnection,
                clean: dict[str, Path]) -> tuple[dt.date, dt.date] | None:
    """First and last day with a transaction or interaction, or None without events."""
    row = con.execute(
        "SELECT min(d0), max(d1) FROM ("
        " SELECT min(timestamp)::DATE AS d0, max(timestamp)::DATE AS d1 FROM read_parquet(?)"
        " UNION ALL"
        " SELECT min(timestamp)::DATE, max(timestamp)::DATE FROM read_parquet(?))",
        [str(clean["transactions"]), str(clean["interactions"])],
    ).fetchall()[0]
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _read(con: duckdb.DuckDBPyConnection, path: Path, table: str, lo: int, hi: int,
          kinds: Sequence[str] = ()) -> pa.Table:
    """The kernel's columns of one range of partitions. With ``kinds``, an interaction's
    ``kind`` comes as its position in that vocabulary (-1 outside it): small integers
    cost less to hand over than strings."""
    columns = list(KERNEL_COLUMNS[table])
    params: list = [str(path), lo, hi]
    if kinds and "kind" in columns:
        columns[columns.index("kind")] = ("coalesce(list_position(?, kind) - 1, -1)::SMALLINT "
                                          "AS kind")
        params.insert(0, list(kinds))
    return con.sql(f"SELECT {', '.join(columns)} FROM read_parquet(?) "
                   "WHERE bucket >= ? AND bucket < ?", params=params).to_arrow_table()


def rfm_edges_duckdb(con: duckdb.DuckDBPyConnection, staging: Path) -> pd.DataFrame:
    """:func:`features.rfm_scores.rfm_edges` over staged RFM values, computed by DuckDB.

    ``staging`` holds one folder per cutoff, named by its ISO date, of Parquet
    files with the columns ``recency_days``, ``frequency`` and ``monetary_mean``.
    One query per cutoff: memory holds one cutoff's values, whatever the number
    of cutoffs. ``quantile_cont`` interpolates linearly like :func:`numpy.quantile`.
    """
    quantiles = ", ".join(f"quantile_cont({source}, [0.2, 0.4, 0.6, 0.8])"
                          for source, _ in RFM_SOURCES.values())
    rows = []
    for folder in sorted(p for p in Path(staging).iterdir() if p.is_dir()):
        found = con.sql(f"SELECT {quantiles} FROM read_parquet(?)",
                        params=[str(folder / "*.parquet")]).fetchall()[0]
        for (source, _), q in zip(RFM_SOURCES.values(), found, strict=True):
            rows.append({"cutoff": pd.Timestamp(folder.name), "source": source,
                         "q20": q[0], "q40": q[1], "q60": q[2], "q80": q[3]})
    return pd.DataFrame(rows, columns=["cutoff", "source", "q20", "q40", "q60", "q80"])


def _numbered(ranges: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    return [(i, lo, hi) for i, (lo, hi) in enumerate(ranges)]


def chunks(partitions_per_chunk: int) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of hash partitions processed together."""
    bounds = [*range(0, N_PARTITIONS, partitions_per_chunk), N_PARTITIONS]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def build_features(
    con: duckdb.DuckDBPyConnection,
    *,
    clean: dict[str, Path],
    cutoffs: Sequence[dt.date],
    spec: FeatureSpec,
    out_dir: Path,
    partitions_per_chunk: int = N_PARTITIONS,
    workers: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> BuildSummary:
    """Compute the feature table into ``out_dir`` (a folder of Parquet parts).

    Parameters
    ----------
    con
        DuckDB connection (limits already set).
    clean
        Paths of the clean ``transactions``, ``interactions``, ``customers`` and
        ``customer_index`` tables.
    cutoffs
        Snapshot dates.
    spec
        Feature windows and kinds.
    out_dir
        An empty folder; receives ``part-NNNNN.parquet``, one per chunk with rows.
    partitions_per_chunk
        How many of the ``N_PARTITIONS`` hash partitions go through the kernel at once.
    workers
        Chunks computed at the same time (threads); peak memory grows with it.
    progress
        Called with (pass name, chunks done, chunks in all).

    Two passes over the transactions: the first collects recency, frequency and
    monetary value of every buyer at every cutoff, whose quintile edges over all
    customers define the RFM scores; the second computes every feature.
    """
    out_dir = Path(out_dir)
    ranges = chunks(partitions_per_chunk)
    schema = feature_table(spec).arrow_schema()
    staging = out_dir / ".rfm"
    staging.mkdir()

    def rfm_chunk(i: int, lo: int, hi: int) -> None:
        cur = con.cursor()  # one cursor per thread
        for cutoff, values in iter_rfm_values(
                _read(cur, clean["transactions"], "transactions", lo, hi),
                _read(cur, clean["customer_index"], "customer_index", lo, hi), cutoffs):
            if not values.num_rows:
                continue
            folder = staging / cutoff.isoformat()
            folder.mkdir(exist_ok=True)
            pq.write_table(values, folder / f"rfm-{i:05d}.parquet", **STAGING_OPTIONS)

    def feature_chunk(i: int, lo: int, hi: int) -> tuple[str, int, int]:
        cur = con.cursor()
        tables = {name: _read(cur, path, name, lo, hi, spec.interaction_kinds)
                  for name, path in clean.items()}
        name = f"part-{i:05d}.parquet"
        rows = latest = 0  # latest: rows at the last cutoff, every customer seen at all
        with pq.ParquetWriter(out_dir / name, schema, **PARQUET_OPTIONS) as writer:
            for batch in iter_features(tables["transactions"], tables["interactions"],
                                       tables["customers"], tables["customer_index"],
                                       cutoffs, spec, edges):
                writer.write_batch(batch)
                rows += batch.num_rows
                latest = batch.num_rows
        if not latest:
            (out_dir / name).unlink()
        return name, rows, latest

    # Chunks are independent: `workers` of them are computed at once (NumPy, Arrow
    # and DuckDB release the GIL for their work), each writing its own part.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # The values of every buyer at every cutoff grow with customers x cutoffs: they
        # go to staging files, one folder per cutoff, and DuckDB computes the quantiles
        # of one cutoff at a time.
        for done, _ in enumerate(pool.map(rfm_chunk, *zip(*_numbered(ranges), strict=True))):
            if progress:
                progress("rfm", done + 1, len(ranges))
        edges = rfm_edges_duckdb(con, staging)
        shutil.rmtree(staging)
        parts: list[str] = []
        rows = customers = 0
        results = pool.map(feature_chunk, *zip(*_numbered(ranges), strict=True))
        for done, (name, n, latest) in enumerate(results):
            rows += n
            if latest:
                parts.append(name)
                customers += latest
            if progress:
                progress("features", done + 1, len(ranges))
    return BuildSummary(rows=rows, customers=customers, cutoffs=list(cutoffs),
                        chunks=len(ranges), parts=parts)
