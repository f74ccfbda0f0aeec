"""The distributed engine: Spark groups the clean tables by hash partition and runs the kernel.

The same feature code as the DuckDB engine (:func:`features.build.compute_features`
and :func:`features.build.rfm_values`), called once per group of consecutive
hash partitions (``bucket``; ``buckets_per_group`` of them, 1 for one call per
bucket) inside ``groupBy(...).applyInArrow``:

1. The four clean tables are read by Spark and stacked into one frame (a column
   ``_table`` says which table a row comes from; the other tables' columns are
   null), so that one shuffle brings every row of a group to the same task.
2. First pass: :func:`~features.build.rfm_values` per group gives the recency,
   frequency and monetary value of every buyer at every cutoff; grouped by
   cutoff, :func:`~features.rfm_scores.rfm_edges` turns them into the quintile edges
   of the whole population (one cutoff's buyers go through one task). The edges,
   a few rows per cutoff, are collected and shipped to the second pass.
3. Second pass: :func:`~features.build.compute_features` per group, with those
   edges, gives rows with exactly the schema of :func:`~features.spec.feature_table`.

The kernel gets Arrow tables, as from DuckDB: ``applyInArrow`` passes Spark's
Arrow batches through without a detour via pandas. Inside a group the rows are
put back in the order of the clean files (customer, time, source file and
line), so the kernel sees the same input as with DuckDB and gives the same
values, bit for bit. A group must fit in one Python worker: with one bucket per
group, 1/1024 of the data (about 100 MB of events per worker for 100 M events).

This module receives a SparkSession and values; the session, its master and its
memory are set up by ``pipeline.spark`` from params.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.build import compute_features, rfm_values
from features.engines.duckdb import KERNEL_COLUMNS, BuildSummary
from features.rfm_scores import rfm_edges
from features.spec import FeatureSpec, feature_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The column of the stacked frame that says which clean table a row comes from.
TABLE_TAG = "_table"
#: The column of the stacked frame that says which group (range of buckets) a row is in.
GROUP = "_group"
TABLES = ("transactions", "interactions", "customers", "customer_index")
#: Order of the rows of an event table in its clean file (after the bucket).
_FILE_ORDER = ("customer_key", "timestamp", "source_file", "source_line")
#: Arrow types the kernel is given, whatever Spark's Arrow settings (large strings...).
_STRING_COLUMNS = ("kind", "segment", "relationship_type", "customer_id")

_RFM_SCHEMA = "cutoff date, recency_days double, frequency long, monetary_mean double"
_EDGES_SCHEMA = "cutoff date, source string, q20 double, q40 double, q60 double, q80 double"


def read_clean(spark: SparkSession, clean: Mapping[str, str | Path], *,
               buckets_per_group: int = 1) -> DataFrame:
    """The clean tables stacked into one frame: ``_group``, ``_table``, the kernel's columns.

    Parameters
    ----------
    spark
        The session.
    clean
        Paths (or URLs: ``hdfs://``, ``s3a://`` ...) of the clean ``transactions``,
        ``interactions``, ``customers`` and ``customer_index`` tables.
    buckets_per_group
        How many consecutive hash partitions go through the kernel together (one
        Spark group): 1 is the most parallel; more buckets per call spread the
        kernel's fixed cost per call over more customers.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per row of the four tables: ``_group`` (``bucket`` divided by
        ``buckets_per_group``), ``_table`` (the table's
        position in :data:`TABLES`), the union of the columns of
        ``KERNEL_COLUMNS`` (null where a table does not have them) and, for the
        event tables, ``source_file`` / ``source_line`` when present.
    """
    from pyspark.sql import functions as F

    frames = []
    for i, name in enumerate(TABLES):
        df = spark.read.parquet(str(clean[name]))
        extra = ([c for c in ("source_file", "source_line") if c in df.columns]
                 if name in ("transactions", "interactions") else [])
        group = F.floor(F.col("bucket") / F.lit(int(buckets_per_group))).cast("int")
        frames.append(df.select(group.alias(GROUP), F.lit(i).cast("byte").alias(TABLE_TAG),
                                *KERNEL_COLUMNS[name], *extra))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame, allowMissingColumns=True)
    return out


def event_range(spark: SparkSession,
                clean: Mapping[str, str | Path]) -> tuple[dt.date, dt.date] | None:
    """First and last day with a transaction or interaction, or None without events
    (:func:`features.engines.duckdb.event_range` read by Spark)."""
    from pyspark.sql import functions as F

    days = None
    for name in ("transactions", "interactions"):
        df = spark.read.parquet(str(clean[name])).select(F.to_date("timestamp").alias("d"))
        days = df if days is None else days.unionByName(df)
    row = days.agg(F.min("d").alias("lo"), F.max("d").alias("hi")).collect()[0]
    if row["lo"] is None:
        return None
    return row["lo"], row["hi"]


def split_tables(stacked: pa.Table) -> dict[str, pa.Table]:
    """The rows of one group of :func:`read_clean`, back as the kernel's four input tables.

    Event rows are sorted as in the clean files (customer, time, source file and
    line), so the kernel sees the same input as from DuckDB; strings are plain
    Arrow strings and timestamps naive (UTC) microseconds.
    """
    tag = stacked.column(TABLE_TAG)
    out = {}
    for i, name in enumerate(TABLES):
        rows = stacked.filter(pc.equal(tag, pa.scalar(i, tag.type)))
        order = [(c, "ascending") for c in _FILE_ORDER if c in rows.column_names]
        if name == "customer_index":
            order = [("customer_key", "ascending")]
        if len(order) > 1 or name == "customer_index":
            rows = rows.sort_by(order)
        out[name] = _kernel_types(rows.select(list(KERNEL_COLUMNS[name])))
    return out


def _kernel_types(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        target = None
        if field.name in _STRING_COLUMNS and field.type != pa.string():
            target = pa.string()
        elif pa.types.is_timestamp(field.type) and (field.type.tz or field.type.unit != "us"):
            # An instant (Spark's TIMESTAMP) or another unit: naive UTC microseconds,
            # as the clean files store them.
            target = pa.timestamp("us")
        if target is not None:
            table = table.set_column(i, field.name, table.column(i).cast(target))
    return table


def _rfm_pass(cutoffs: Sequence[dt.date]):
    def run(stacked: pa.Table) -> pa.Table:
        t = split_tables(stacked)
        values = rfm_values(t["transactions"], t["customer_index"], cutoffs)
        return pa.table({
            "cutoff": pa.array(values["cutoff"].to_numpy(dtype="datetime64[D]"), pa.date32()),
            "recency_days": pa.array(values["recency_days"].to_numpy(dtype="float64")),
            "frequency": pa.array(values["frequency"].to_numpy(dtype="int64")),
            "monetary_mean": pa.array(values["monetary_mean"].to_numpy(dtype="float64")),
        })
    return run


def _edges_of_cutoff(values: pa.Table) -> pa.Table:
    edges = rfm_edges(values.to_pandas())
    return pa.table({
        "cutoff": pa.array(edges["cutoff"].to_numpy(dtype="datetime64[D]"), pa.date32()),
        "source": pa.array(edges["source"].astype(object).to_numpy(), pa.string()),
        **{q: pa.array(edges[q].to_numpy(dtype="float64")) for q in ("q20", "q40", "q60", "q80")},
    })


def rfm_edges_spark(stacked: DataFrame, cutoffs: Sequence[dt.date]) -> pd.DataFrame:
    """The RFM quintile edges of the whole population (:func:`features.rfm_scores.rfm_edges`).

    Values per bucket, then :func:`~features.rfm_scores.rfm_edges` itself per cutoff,
    so the edges are those of the DuckDB engine's pre-pass (both interpolate
    linearly between order statistics).

    Returns
    -------
    pandas.DataFrame
        Columns ``cutoff`` (datetime64), ``source``, ``q20`` ... ``q80``, sorted.
    """
    values = stacked.groupBy(GROUP).applyInArrow(_rfm_pass(list(cutoffs)), _RFM_SCHEMA)
    edges = values.groupBy("cutoff").applyInArrow(_edges_of_cutoff, _EDGES_SCHEMA)
    rows = edges.toArrow().to_pandas()
    rows["cutoff"] = pd.to_datetime(rows["cutoff"])
    rows["source"] = rows["source"].astype(object)
    return rows.sort_values(["cutoff", "source"], ignore_index=True)


def spark_schema(spec: FeatureSpec):
    """The Spark schema of the feature table (from its Arrow declaration)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(feature_table(spec).arrow_schema())


def _feature_pass(cutoffs: Sequence[dt.date], spec: FeatureSpec, edges: pd.DataFrame):
    def run(stacked: pa.Table) -> pa.Table:
        t = split_tables(stacked)
        return compute_features(t["transactions"], t["interactions"], t["customers"],
                                t["customer_index"], cutoffs, spec, edges)
    return run


def features_frame(stacked: DataFrame, *, cutoffs: Sequence[dt.date], spec: FeatureSpec,
                   edges: pd.DataFrame) -> DataFrame:
    """The feature table as a Spark frame (lazy): the kernel applied to every bucket.

    Parameters
    ----------
    stacked
        :func:`read_clean`.
    cutoffs, spec
        Snapshot dates and feature declaration, as for the DuckDB engine.
    edges
        :func:`rfm_edges_spark` over the same data and cutoffs (shipped to every
        task: a few rows per cutoff).

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of :func:`features.spec.feature_table`, one row per customer
        seen before a cutoff and cutoff.
    """
    return stacked.groupBy(GROUP).applyInArrow(
        _feature_pass(sorted(set(cutoffs)), spec, edges), spark_schema(spec))


def build_features(spark: SparkSession, *, clean: Mapping[str, str | Path],
                   cutoffs: Sequence[dt.date], spec: FeatureSpec,
                   out_dir: str | Path, buckets_per_group: int = 1) -> BuildSummary:
    """Compute the feature table into ``out_dir`` (a folder of Parquet parts), like
    :func:`features.engines.duckdb.build_features`.

    ``out_dir`` is written by Spark (replaced if it exists). On a local file
    system the parts are renamed ``part-NNNNN.parquet`` and Spark's marker and
    checksum files removed, so the folder looks like the DuckDB engine's.
    """
    from pyspark.sql import functions as F

    stacked = read_clean(spark, clean, buckets_per_group=buckets_per_group)
    edges = rfm_edges_spark(stacked, cutoffs)
    frame = features_frame(stacked, cutoffs=cutoffs, spec=spec, edges=edges)
    frame.write.mode("overwrite").option("compression", "zstd").parquet(str(out_dir))
    written = spark.read.parquet(str(out_dir))
    last = max(cutoffs)
    counts = written.groupBy((F.col("cutoff") == F.lit(last)).alias("last")).count().collect()
    by_last = {row["last"]: row["count"] for row in counts}
    parts = tidy_parts(out_dir)
    return BuildSummary(rows=int(sum(by_last.values())), customers=int(by_last.get(True, 0)),
                        cutoffs=list(cutoffs), chunks=len(parts), parts=parts)


def tidy_parts(out_dir: str | Path) -> list[str]:
    """On a local folder written by Spark: parts renamed ``part-NNNNN.parquet`` (in
    Spark's order), ``_SUCCESS`` and ``.crc`` files removed; the part names.
    Elsewhere (``hdfs://``, ``s3a://`` ...), nothing is touched and no name is listed."""
    folder = Path(str(out_dir).removeprefix("file:"))
    if "://" in str(out_dir) or not folder.is_dir():
        return []
    for junk in [*folder.glob("_SUCCESS"), *folder.glob(".*.crc")]:
        junk.unlink()
    parts = sorted(p for p in folder.glob("part-*.parquet"))
    names = []
    for i, part in enumerate(parts):
        name = f"part-{i:05d}.parquet"
        part.rename(folder / name)
        names.append(name)
    return names
