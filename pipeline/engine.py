"""The clean tables and the feature engine params choose: what the ``features``,
``labels`` and ``score`` stages share.

* :func:`open_clean`: a DuckDB connection with the feature limits, the clean tables
  and the dates of their first and last event;
* :func:`cutoffs_for`: the snapshots: the grid of params over those dates and the
  cutoffs of the labels' plan;
* :func:`build_features`: the feature table at given cutoffs with the engine of
  ``features.engine`` (DuckDB bucket by bucket, or Spark), into a folder of Parquet parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from features.engines import duckdb as duckdb_engine
from features.engines.duckdb import BuildSummary
from features.errors import InputError
from features.schema import N_PARTITIONS
from features.spec import FeatureSpec, snapshot_cutoffs
from pipeline.errors import ConfigError, NoEventsError
from pipeline.io import check_intermediate
from pipeline.params import Params
from pipeline.paths import Paths
from pipeline.wiring.models import split_plan

log = logging.getLogger("churn")

@dataclass
class CleanTables:
    """The clean tables (by name, plus ``customer_index``), a DuckDB connection with the
    feature limits of params, and the days of the first and last event."""

    con: duckdb.DuckDBPyConnection
    tables: dict[str, Path]
    span: tuple[dt.date, dt.date]

    def close(self) -> None:
        self.con.close()


def open_clean(params: Params, paths: Paths) -> CleanTables:
    """The clean tables written by ``validate`` and their date range.

    Raises
    ------
    InputError
        Naming the file, when a clean table is missing or damaged (truncated,
        overwritten).
    NoEventsError
        When the clean tables hold no transaction and no interaction.
    """
    f = params.features
    tables = paths.clean_inputs()
    for path in tables.values():
        check_intermediate(path, "validate")
    con = duckdb_engine.connect(memory_limit=f.memory_limit, threads=f.threads)
    try:
        span = duckdb_engine.event_range(con, tables)
    except duckdb.Error as err:
        con.close()
        raise InputError(f"{tables['transactions']} or {tables['interactions']} cannot be "
                         f"read ({str(err).splitlines()[0]}): an output of `validate` is "
                         "damaged; run `churn validate` (or `dvc repro -f validate`) "
                         "again") from None
    if span is None:
        con.close()
        raise NoEventsError(f"{tables['transactions']} and {tables['interactions']} hold no "
                            "events: check the validation report "
                            f"({paths.validation_report}) for quarantined rows")
    return CleanTables(con, tables, span)


def cutoffs_for(params: Params, first_event: dt.date, last_event: dt.date) -> list[dt.date]:
    """The snapshots of the feature table: the snapshot grid of params over the data's
    date range, and every cutoff of the plan the labels use (:func:`pipeline.wiring.
    models.split_plan`), so that every labelled row has its features. When no plan
    fits the data, the grid alone: the features are still there to explore and to
    score, and the ``labels`` stage stops with the reason.
    """
    f = params.features
    grid = snapshot_cutoffs(first_event=first_event, last_event=last_event,
                            frequency=f.snapshot_frequency, first=f.first_snapshot,
                            last=f.last_snapshot)
    try:
        plan = split_plan(params, first_event, last_event).cutoffs
    except ConfigError:
        plan = []  # no plan fits: the labels stage says why, and what to change
    return sorted(set(grid) | set(plan))


def partitions_per_chunk(con: duckdb.DuckDBPyConnection, clean: dict, events_per_chunk: int,
                         workers: int = 1) -> int:
    """Hash partitions per chunk so that a chunk holds at most about ``events_per_chunk``
    events, and the chunks are a multiple of ``workers`` (none idle on the last round)."""
    n = sum(con.execute("SELECT count(*) FROM read_parquet(?)", [str(clean[t])]).fetchall()[0][0]
            for t in ("transactions", "interactions"))
    if n <= events_per_chunk:
        return N_PARTITIONS
    needed = math.ceil(n / events_per_chunk)
    return max(1, math.ceil(N_PARTITIONS / (math.ceil(needed / workers) * workers)))


def build_features(params: Params, paths: Paths, clean: CleanTables, *,
                   cutoffs: list[dt.date], spec: FeatureSpec, out_dir: Path,
                   progress: Any = None) -> BuildSummary:
    """The feature rows of ``spec`` at ``cutoffs`` into ``out_dir``, with the engine of
    ``features.engine`` (both write the same rows; tests hold them equal)."""
    f = params.features
    if f.engine == "spark":
        from pipeline import spark

        return spark.build_features(params, paths, spec=spec, cutoffs=cutoffs, out_dir=out_dir)
    per_chunk = partitions_per_chunk(clean.con, clean.tables, f.events_per_chunk, f.workers)
    log.info("features: DuckDB, %d partitions per chunk", per_chunk)
    return duckdb_engine.build_features(clean.con, clean=clean.tables, cutoffs=cutoffs,
                                        spec=spec, out_dir=out_dir,
                                        partitions_per_chunk=per_chunk, workers=f.workers,
                                        progress=progress)
