"""DVC stage ``features``: point-in-time features per customer and snapshot cutoff.

Reads the clean tables written by ``validate``; writes the feature table as a
folder of Parquet parts (``data/features/``) and ``reports/features.json``.
"""

from __future__ import annotations

import logging

from features.spec import feature_table
from pipeline.config import load_params
from pipeline.engine import build_features, cutoffs_for, open_clean
from pipeline.errors import NoEventsError
from pipeline.io import atomic_path, write_json
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.progress import steps
from pipeline.runner import run_stage
from pipeline.wiring.features import feature_spec

log = logging.getLogger("churn")


def main(params: Params | None = None, paths: Paths | None = None) -> dict:
    """Build the feature table; return the summary written to ``reports/features.json``."""
    params = params or load_params()
    paths = paths or PATHS
    spec = feature_spec(params)
    clean = open_clean(params, paths)
    span = clean.span
    cutoffs = cutoffs_for(params, *span)
    if cutoffs[-1] <= span[0]:
        # Features at a cutoff see the events on days before it: every snapshot
        # would be empty, and labels and training would fail far from the cause.
        raise NoEventsError(
            f"every snapshot cutoff ({cutoffs[0]} to {cutoffs[-1]}) is on or before the first "
            f"event ({span[0]}): no customer has an event before any cutoff. Set "
            f"features.last_snapshot (and features.first_snapshot) in params.yaml to dates "
            f"after {span[0]}, or to null for the data's own range")
    log.info("features: %d cutoffs from %s to %s", len(cutoffs), cutoffs[0], cutoffs[-1])
    with steps("features") as progress, atomic_path(paths.features, directory=True) as tmp:
        summary = build_features(params, paths, clean, cutoffs=cutoffs, spec=spec, out_dir=tmp,
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
    run_stage(main)
