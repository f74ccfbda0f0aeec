"""HTML reports for people: one page per training run and one per scoring date.

* :func:`write_training_report`: ``reports/training_report.html`` from the outputs
  of ``evaluate`` (written at the end of that stage);
* :func:`write_scoring_report`: ``reports/scoring_report.html`` and
  ``reports/scoring/<as_of>.html`` from the stored scores (written at the end of
  ``score``);
* :func:`main`: ``churn report training|scoring [--as-of DATE]`` regenerates either.

Each page is self-contained (plotly.js inlined): it opens offline, from a file,
an e-mail attachment or the MLflow UI.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Literal

from pipeline.config import load_params
from pipeline.io import write_text
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.reports.html import ReportInputError
from pipeline.reports.training import load_outputs, render_training_report

log = logging.getLogger("churn")

__all__ = ["ReportInputError", "main", "write_scoring_report", "write_training_report"]


def write_training_report(paths: Paths) -> Path:
    """Write ``reports/training_report.html`` from the stored outputs of ``evaluate``."""
    started = time.perf_counter()
    page = render_training_report(load_outputs(paths))
    write_text(page, paths.training_report)
    log.info("report: training report %s (%.1f s, %.1f MB)", paths.training_report,
             time.perf_counter() - started, len(page) / 1e6)
    return paths.training_report


def write_scoring_report(paths: Paths, as_of: dt.date | None = None, *,
                         drift_threshold: float | None = None,
                         mlflow_run_id: str | None = None, lock_timeout: float = 60.0) -> Path:
    """Write the scoring report of ``as_of`` (default: the latest scored date) to
    ``reports/scoring/<as_of>.html`` and ``reports/scoring_report.html``; with
    ``mlflow_run_id``, also log it to that (scoring) run. Returns the dated file.
    ``lock_timeout``: seconds to wait for a DuckDB file another process holds."""
    from pipeline.reports.scoring import load_scores, render_scoring_report

    started = time.perf_counter()
    scores = load_scores(paths, as_of, drift_threshold=drift_threshold,
                         lock_timeout=lock_timeout)
    page = render_scoring_report(scores)
    dated = paths.scoring_reports / f"{scores.as_of.isoformat()}.html"
    write_text(page, dated)
    write_text(page, paths.scoring_report)
    if mlflow_run_id:
        from pipeline import tracking

        tracking.log_artifact(mlflow_run_id, paths.scoring_report, "scoring")
    log.info("report: scoring report %s, copy %s (%.1f s, %.1f MB)", paths.scoring_report, dated,
             time.perf_counter() - started, len(page) / 1e6)
    return dated


def main(params: Params | None = None, paths: Paths | None = None, *,
         kind: Literal["training", "scoring"] = "training",
         as_of: dt.date | None = None) -> Path:
    """Regenerate a report from stored outputs (``churn report``); return its path."""
    params = params or load_params()
    paths = paths or PATHS
    if kind == "training":
        return write_training_report(paths)
    return write_scoring_report(paths, as_of, drift_threshold=params.score.drift.threshold,
                                lock_timeout=params.score.sinks.lock_timeout_seconds)
