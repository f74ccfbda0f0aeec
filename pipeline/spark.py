"""The Spark engine (``features.engine: spark``): the session and the feature table.

* :func:`session`: the SparkSession from ``features.spark`` (master, memory,
  any ``spark.*`` setting; ``SPARK_MASTER`` wins over the master of params).
* :func:`build_features`: the feature table with :mod:`features.engines.spark`,
  the same kernel as the DuckDB engine.

Scoring on Spark is :mod:`pipeline.spark_scoring`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from features.engines import spark as engine
from features.schema import N_PARTITIONS
from features.spec import FeatureSpec
from pipeline.errors import NoEventsError
from pipeline.params import Params
from pipeline.paths import Paths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
    pipeline.errors.NoEventsError
        When the clean tables hold no transaction and no interaction.
    """
    clean = paths.clean_inputs()
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
    spark = session(params)
    clean = paths.clean_inputs()
    per_group = buckets_per_group(spark, clean, params.features.events_per_chunk)
    log.info("features: Spark %s, %d partitions per group", spark.sparkContext.master,
             per_group)
    return engine.build_features(spark, clean=clean, cutoffs=cutoffs, spec=spec,
                                 out_dir=out_dir, buckets_per_group=per_group)
