"""The Spark engine of the ``features`` and ``score`` stages (``features.engine: spark``).

* :func:`session`: the SparkSession from ``features.spark`` (master, memory,
  any ``spark.*`` setting; ``SPARK_MASTER`` wins over the master of params).
* :func:`build_features`: the feature table with :mod:`features.engines.spark`,
  the same kernel as the DuckDB engine.
* :func:`score`: features as of a date, the registered pyfunc scorer applied to
  them with ``mapInPandas`` (each task loads the model once and calls its
  ``predict``, which is :meth:`models.scorer.Scorer.score`), the drift counts and
  the summary aggregated by Spark; the rows stay in Spark until a sink writes
  them (:class:`SparkScores`).

The scored rows are written by Spark, not collected: the Parquet sink gets the
date's folder written by the executors, swapped into place in one step
(:func:`pipeline.sinks.replace_partition`); the DuckDB sink, a file on this
machine, loads the same files with DuckDB (:meth:`pipeline.sinks.DuckDBSink.write_files`);
the PostgreSQL sink gets them through this machine's memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.engines import spark as engine
from features.schema import CUSTOMER_SCORES, N_PARTITIONS
from features.spec import FeatureSpec
from pipeline.config import Params, Paths
from pipeline.score import LoadedModel, SpooledScores

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.drift import DriftReference

log = logging.getLogger("churn")

APP_NAME = "lifecycle-churn"


# --------------------------------------------------------------------------
# Session
# --------------------------------------------------------------------------


def session_config(params: Params) -> dict[str, str]:
    """The ``spark.*`` settings implied by params (master not included)."""
    s = params.features.spark
    conf = {
        # Cutoffs are dates at 00:00 UTC: Spark must not shift timestamps to a local zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }
    if s.driver_memory:
        conf["spark.driver.memory"] = s.driver_memory
    if s.executor_memory:
        conf["spark.executor.memory"] = s.executor_memory
    if s.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(s.shuffle_partitions)
    conf.update(s.conf)
    return conf


def master(params: Params) -> str:
    """``SPARK_MASTER`` if set, else ``features.spark.master``."""
    return os.environ.get("SPARK_MASTER") or params.features.spark.master


def session(params: Params) -> SparkSession:
    """The SparkSession of the Spark engine (the active one under ``spark-submit``).

    Python workers run this interpreter (``PYSPARK_PYTHON``, unless set): they
    import the pipeline's packages.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError("features.engine is 'spark' but PySpark is not installed: "
                          "pip install -e '.[spark]'") from err
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(APP_NAME).master(master(params))
    for key, value in session_config(params).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------


def open_clean(spark: SparkSession, paths: Paths) -> tuple[dict, tuple[dt.date, dt.date]]:
    """The clean tables and their date range, read by Spark.

    Raises
    ------
    pipeline.features.NoEventsError
        When the clean tables hold no transaction and no interaction.
    """
    from pipeline.features import NoEventsError, clean_inputs

    clean = clean_inputs(paths)
    span = engine.event_range(spark, clean)
    if span is None:
        raise NoEventsError(f"{clean['transactions']} and {clean['interactions']} hold no "
                            "events: check the validation report "
                            f"({paths.validation_report}) for quarantined rows")
    return clean, span


def buckets_per_group(spark: SparkSession, clean: Mapping[str, Path],
                      events_per_chunk: int) -> int:
    """Hash partitions per kernel call: about ``events_per_chunk`` events each, and at
    least two groups per core of the cluster so that every core has work."""
    events = sum(spark.read.parquet(str(clean[t])).count()
                 for t in ("transactions", "interactions"))
    by_size = N_PARTITIONS if events <= events_per_chunk else max(
        1, math.floor(N_PARTITIONS * events_per_chunk / events))
    cores = max(1, spark.sparkContext.defaultParallelism)
    return max(1, min(by_size, N_PARTITIONS // (2 * cores)))


def build_features(params: Params, paths: Paths, *, spec: FeatureSpec,
                   cutoffs: list[dt.date], out_dir: Path) -> engine.BuildSummary:
    """Build the feature table into ``out_dir`` with Spark (``features`` stage)."""
    from pipeline.features import clean_inputs

    spark = session(params)
    clean = clean_inputs(paths)
    per_group = buckets_per_group(spark, clean, params.features.events_per_chunk)
    log.info("features: Spark %s, %d partitions per group", spark.sparkContext.master,
             per_group)
    return engine.build_features(spark, clean=clean, cutoffs=cutoffs, spec=spec,
                                 out_dir=out_dir, buckets_per_group=per_group)


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


def scores_schema():
    """The Spark schema of the scored table (:data:`features.schema.CUSTOMER_SCORES`)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(CUSTOMER_SCORES.arrow_schema(), prefer_timestamp_ntz=True)


def _score_batches(model_file: str, stamp: Mapping[str, Any]):
    """The mapInPandas function: the pyfunc model loaded once per task, each batch
    of feature rows through its ``predict``, plus the columns naming the model."""
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import mlflow.pyfunc
        from pyspark import SparkFiles

        model = mlflow.pyfunc.load_model(SparkFiles.get(model_file))
        for batch in batches:
            if not len(batch):
                continue
            out = model.predict(batch)
            for name, value in stamp.items():
                out[name] = value
            out["scored_at"] = pd.Timestamp(stamp["scored_at"])
            yield out[list(CUSTOMER_SCORES.names)]
    return run


def _count_batches(reference: DriftReference):
    """The mapInPandas function of the drift check: per batch,
    :meth:`models.drift.DriftReference.counts`, as rows (column, bin, rows)."""
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if not len(batch):
                continue
            counts = reference.counts(batch)
            yield pd.DataFrame({
                "column": np.repeat(list(counts), [len(v) for v in counts.values()]),
                "bin": np.concatenate([np.arange(len(v)) for v in counts.values()]),
                "rows": np.concatenate(list(counts.values())).astype(np.float64),
            })
    return run


def drift_counts(reference: DriftReference, features: DataFrame,
                 scores: DataFrame) -> dict[str, np.ndarray]:
    """Bin counts of every reference column, summed over the partitions by Spark.

    The feature columns are counted on the feature rows, ``p_defect`` on the
    scored rows (prospects have none, as in the batch job); each part with
    :meth:`~models.drift.DriftReference.counts` on pandas batches inside
    ``mapInPandas``, the sums per (column, bin) collected on the driver.
    """
    from pyspark.sql import functions as F

    from models.drift import DriftReference

    schema = "column string, bin int, rows double"
    on_features = {k: v for k, v in reference.columns.items() if k != "p_defect"}
    parts = [features.mapInPandas(_count_batches(DriftReference(on_features)), schema)]
    if "p_defect" in reference.columns:
        scored = scores.select(F.when(F.col("stage") != "prospect", F.col("p_defect"))
                               .alias("p_defect"))
        only = DriftReference({"p_defect": reference.columns["p_defect"]})
        parts.append(scored.mapInPandas(_count_batches(only), schema))
    rows = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    sums = rows.groupBy("column", "bin").agg(F.sum("rows").alias("rows")).toPandas()
    out = {}
    for name, profile in reference.columns.items():
        bins = np.zeros(len(profile.shares))
        mine = sums[sums["column"] == name]
        bins[mine["bin"].to_numpy(dtype=np.int64)] = mine["rows"].to_numpy(dtype=np.float64)
        out[name] = bins
    return out


class SparkScores(SpooledScores):
    """Scored rows of one date, written by Spark to a temporary Parquet folder
    (:class:`pipeline.score.SpooledScores`, the summary's counts aggregated by Spark)."""

    def __init__(self, spark: SparkSession, folder: tempfile.TemporaryDirectory) -> None:
        super().__init__(folder)
        self.spark = spark

    def frame(self) -> DataFrame:
        return self.spark.read.parquet(str(self.path))

    def groups(self) -> pd.DataFrame:
        """Customers and value at risk by (stage, risk label, action), aggregated by Spark
        (:func:`pipeline.score.score_groups`)."""
        from pyspark.sql import functions as F

        out = (self.frame().groupBy("stage", "risk_label", "action")
               .agg(F.count(F.lit(1)).alias("customers"),
                    F.sum("value_at_risk").alias("value_at_risk"))
               .toPandas())
        return out.astype({"customers": "int64", "value_at_risk": "float64"})


def score(model: LoadedModel, params: Params, paths: Paths, *,
          scored_at: dt.datetime) -> tuple[dt.date, SparkScores, pd.DataFrame]:
    """Features as of the scoring date and their scores, with Spark.

    Returns
    -------
    as_of : datetime.date
    scores : SparkScores
        The rows (every column of ``CUSTOMER_SCORES``), in a temporary folder.
    drift : pandas.DataFrame
        The drift table (empty without a drift reference).
    """
    import mlflow.artifacts

    from pipeline.features import NoEventsError, feature_spec
    from pipeline.score import default_as_of

    spark = session(params)
    clean, span = open_clean(spark, paths)
    as_of = params.score.as_of or default_as_of(span)
    if as_of <= span[0]:
        raise NoEventsError(f"score.as_of {as_of} is not after the first event ({span[0]}): "
                            "no customer has any event before it; pick a later date")
    work = tempfile.TemporaryDirectory(prefix=".score-spark-", dir=paths.root)
    root = Path(work.name)
    per_group = buckets_per_group(spark, clean, params.features.events_per_chunk)
    engine.build_features(spark, clean=clean, cutoffs=[as_of], spec=feature_spec(params),
                          out_dir=root / "features", buckets_per_group=per_group)
    features = spark.read.parquet(str(root / "features"))

    # Every task loads the same model files: shipped with the job, not read from the
    # tracking store by each executor.
    download = root / f"model-{uuid.uuid4().hex[:8]}"
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model.uri,
                                                     dst_path=str(download)))
    spark.sparkContext.addFile(str(local), recursive=True)
    name = local.name
    stamp = {"model_name": model.name, "model_version": model.version, "run_id": model.run_id,
             "scored_at": scored_at}
    scored = features.mapInPandas(_score_batches(name, stamp), scores_schema())
    (scored.drop("as_of").write.mode("overwrite").option("compression", "zstd")
     .parquet(str(root / "scores")))
    engine.tidy_parts(root / "scores")
    shutil.rmtree(download, ignore_errors=True)
    scores = SparkScores(spark, work)
    reference = model.scorer.drift
    drift = pd.DataFrame()
    if reference is not None:
        counts = drift_counts(reference, features, scores.frame())
        drift = reference.compare_counts(counts, threshold=params.score.drift.threshold)
    return as_of, scores, drift
