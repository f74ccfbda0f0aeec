"""Scoring on Spark (the ``score`` stage with ``features.engine: spark``).

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
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.engines import spark as engine
from features.schema import CUSTOMER_SCORES
from pipeline.io import temporary_directory
from pipeline.model_source import LoadedModel
from pipeline.params import Params
from pipeline.paths import Paths
from pipeline.scoring import SpooledScores, scoring_date
from pipeline.spark import buckets_per_group, open_clean, session
from pipeline.wiring.features import feature_spec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.drift import DriftReference

log = logging.getLogger("churn")


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
        from pyspark import SparkFiles

        from pipeline import tracking

        model = tracking.load_local_model(SparkFiles.get(model_file))
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
    (:class:`pipeline.scoring.SpooledScores`, the summary's counts aggregated by Spark)."""

    def __init__(self, spark: SparkSession, folder: tempfile.TemporaryDirectory) -> None:
        super().__init__(folder)
        self.spark = spark

    def frame(self) -> DataFrame:
        return self.spark.read.parquet(str(self.path))

    def groups(self) -> pd.DataFrame:
        """Customers and value at risk by (stage, risk label, action), aggregated by Spark
        (:func:`pipeline.scoring.score_groups`)."""
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
    from pipeline import tracking

    spark = session(params)
    clean, span = open_clean(spark, paths)
    as_of = scoring_date(params.score.as_of, span)
    work = temporary_directory("score-spark", paths.root)  # a killed run's is removed
    root = Path(work.name)
    per_group = buckets_per_group(spark, clean, params.features.events_per_chunk)
    engine.build_features(spark, clean=clean, cutoffs=[as_of], spec=feature_spec(params),
                          out_dir=root / "features", buckets_per_group=per_group)
    features = spark.read.parquet(str(root / "features"))

    # Every task loads the same model files: shipped with the job, not read from the
    # tracking store by each executor.
    download = root / f"model-{uuid.uuid4().hex[:8]}"
    local = tracking.download_checked(model.uri, download)[0]
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
