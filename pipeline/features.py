"""DVC stage ``features``: point-in-time features per customer and snapshot cutoff.

Reads the clean tables written by ``validate``; writes the feature table as a
folder of Parquet parts (``data/features/``) and ``reports/features.json``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import duckdb

from features.engines.duckdb import build_features, connect, event_range
from features.schema import N_PARTITIONS
from features.spec import FeatureSpec, feature_table, snapshot_cutoffs
from pipeline.config import PATHS, Params, Paths, load_params
from pipeline.io import atomic_path, write_json
from pipeline.progress import steps

log = logging.getLogger("churn")


class NoEventsError(ValueError):
    """No event to build features from: the clean tables hold none, or none before a cutoff."""


def feature_spec(params: Params) -> FeatureSpec:
    """The feature declaration implied by params."""
    return FeatureSpec(
        windows_days=tuple(params.features.windows_days),
        trend_days=params.features.trend_days,
        interaction_kinds=tuple(params.data.interaction_kinds),
        resolution_kinds=tuple(params.features.resolution_kinds),
    )


def cutoffs_for(params: Params, first_event: dt.date, last_event: dt.date) -> list[dt.date]:
    """Snapshot cutoffs from params, defaulting to the data's own date range."""
    f = params.features
    return snapshot_cutoffs(first_event=first_event, last_event=last_event,
                            frequency=f.snapshot_frequency, first=f.first_snapshot,
                            last=f.last_snapshot)


def clean_inputs(paths: Paths) -> dict:
    """The clean tables the feature engines read, by name."""
    tables = {name: paths.clean_table(name)
              for name in ("transactions", "interactions", "customers")}
    return {**tables, "customer_index": paths.customer_index}


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


def open_clean(params: Params, paths: Paths) -> tuple[duckdb.DuckDBPyConnection, dict,
                                                       tuple[dt.date, dt.date]]:
    """A DuckDB connection with the feature limits, the clean tables, and their date range.

    Raises
    ------
    NoEventsError
        When the clean tables hold no transaction and no interaction.
    """
    f = params.features
    clean = clean_inputs(paths)
    con = connect(memory_limit=f.memory_limit, threads=f.threads)
    span = event_range(con, clean)
    if span is None:
        raise NoEventsError(f"{clean['transactions']} and {clean['interactions']} hold no "
                            "events: check the validation report "
                            f"({paths.validation_report}) for quarantined rows")
    return con, clean, span


def main(params: Params | None = None, paths: Paths | None = None) -> dict:
    """Build the feature table; return the summary written to ``reports/features.json``."""
    params = params or load_params()
    paths = paths or PATHS
    f = params.features
    spec = feature_spec(params)
    con, clean, span = open_clean(params, paths)
    cutoffs = cutoffs_for(params, *span)
    if cutoffs[-1] <= span[0]:
        # Features at a cutoff see the events on days before it: every snapshot
        # would be empty, and labels and training would fail far from the cause.
        raise NoEventsError(
            f"every snapshot cutoff ({cutoffs[0]} to {cutoffs[-1]}) is on or before the first "
            f"event ({span[0]}): no customer has an event before any cutoff. Set "
            f"features.last_snapshot (and features.first_snapshot) in params.yaml to dates "
            f"after {span[0]}, or to null for the data's own range")
    per_chunk = partitions_per_chunk(con, clean, f.events_per_chunk, f.workers)
    log.info("features: %d cutoffs from %s to %s, %d partitions per chunk",
             len(cutoffs), cutoffs[0], cutoffs[-1], per_chunk)
    with steps("features") as progress, atomic_path(paths.features, directory=True) as tmp:
        if f.engine == "spark":
            from pipeline import spark as spark_engine

            summary = spark_engine.build_features(params, paths, spec=spec, cutoffs=cutoffs,
                                                  out_dir=tmp)
        else:
            summary = build_features(con, clean=clean, cutoffs=cutoffs, spec=spec, out_dir=tmp,
                                     partitions_per_chunk=per_chunk, workers=f.workers,
                                     progress=progress)
    report = {
        "rows": summary.rows,
        "customers": summary.customers,
        "columns": len(feature_table(spec).columns),
        "cutoffs": [c.isoformat() for c in cutoffs],
        "first_event": span[0].isoformat(),
        "last_event": span[1].isoformat(),
        "chunks": summary.chunks,
        "parts": summary.parts,
    }
    write_json(report, paths.features_report)
    log.info("features: %d rows for %d customers at %d cutoffs -> %s",
             summary.rows, summary.customers, len(cutoffs), paths.features)
    return report


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
