"""DVC stage and batch job ``score``: every customer as of a date, into the analysts' tables.

1. Load the scorer from the MLflow registry (``models:/<name>@champion`` unless
   ``score.model_uri`` or ``--model-uri`` says otherwise) and check that it was
   trained on the feature schema and stage rules of these params.
2. Build the features as of the date (events on days before it) for every
   customer seen before it, prospects included, bucket by bucket.
3. Score them chunk by chunk (:meth:`models.scorer.Scorer.score`): stage, next
   stage, calibrated defection probability, risk label, predicted value, value
   at risk, value tier, action of highest expected net value (or of the policy
   rule), its expected net value and cost, three reasons. Then the budget over the
   whole population (``score.budget``, :func:`pipeline.scoring.apply_contacts`):
   the contacts ranked, those beyond the budget given no spend.
4. Compare the scored population with the training reference (population
   stability index of every feature and of ``p_defect``).
5. Write the rows to the sinks (Parquet dataset, DuckDB file, PostgreSQL when a
   URL is given), replacing that date's rows: staged in every sink, then published
   in all (:func:`pipeline.sinks.publish`: a sink that fails leaves none showing the
   date, and ``reports/score.json`` says which stores hold it); the drift table
   beside them; log the run to MLflow; write ``reports/score.json`` and print a
   summary.

Before any work the scoring date is checked against the clean tables: a date more
than ``labels.horizon_days`` after the last event is refused (:class:`ConfigError`,
exit code 3) unless ``score.force_as_of``; a forced date is marked so in the sinks,
and the ``latest_scores`` view never shows it.

With ``fail_on_drift`` a drifted population is not published: the drift table
and the report are written, the sinks are left as they were, and the job ends
with :class:`DriftError` (exit code 7).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from models.uplift import describe
from pipeline import memory, tracking
from pipeline.config import load_params
from pipeline.engine import build_features, open_clean
from pipeline.errors import DriftError
from pipeline.io import check_writable, temporary_directory, write_json, write_parquet
from pipeline.model_source import check_compatible, load_model
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.progress import steps
from pipeline.reports import write_scoring_report
from pipeline.runner import run_stage
from pipeline.scoring import (
    apply_contacts,
    beyond_reach,
    score_features,
    scoring_date,
    scoring_time,
    summarize,
)
from pipeline.sinks import PublishError, publish
from pipeline.wiring.features import feature_spec
from pipeline.wiring.sinks import sinks

log = logging.getLogger("churn")


def log_event(event: str, **fields: Any) -> None:
    """One structured log line: ``event key=value ...`` (values with spaces quoted)."""
    def text(value: Any) -> str:
        value = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f'"{value}"' if re.search(r"\s", value) or not value else value
    log.info("%s %s", event, " ".join(f"{k}={text(v)}" for k, v in fields.items()))


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Features and scores
# --------------------------------------------------------------------------


def checked_date(params: Params, paths: Paths) -> tuple[dt.date, bool]:
    """The scoring date of params, checked against the clean tables before any work, and
    whether it is beyond the data's reach (more than ``labels.horizon_days`` after the
    last event: refused unless ``score.force_as_of``).

    Raises
    ------
    ConfigError
        When the date is beyond the data's reach and not forced.
    NoEventsError
        When it is not after the first event.
    InputError
        When a clean table is missing or damaged.
    """
    clean = open_clean(params, paths)
    span = clean.span
    clean.close()
    horizon = params.labels.horizon_days
    as_of = scoring_date(params.score.as_of, span, horizon_days=horizon,
                         force=params.score.force_as_of)
    beyond = beyond_reach(as_of, span, horizon)
    if beyond:
        log.warning("score.as_of %s is %d days after the last event (%s), beyond the data's "
                    "reach (labels.horizon_days: %d): scored because score.force_as_of is "
                    "set; the date is kept out of the latest_scores view", as_of,
                    (as_of - span[1]).days, span[1], horizon)
    return as_of, beyond


def publish_scores(scores: Any, targets: list[Any], as_of: dt.date,
                   beyond_data: bool) -> dict[str, str]:
    """Stage the rows of ``as_of`` in every sink, then publish them all
    (:func:`pipeline.sinks.publish`); return where each went."""
    t0 = time.perf_counter()

    def stage(sink: Any) -> Any:
        if isinstance(scores, pd.DataFrame):
            return sink.stage(scores, as_of, beyond_data=beyond_data)
        return scores.stage(sink, as_of, beyond_data=beyond_data)

    outputs = publish([(sink.name, lambda sink=sink: stage(sink)) for sink in targets])
    for name, where in outputs.items():
        log_event("score.write", sink=name, rows=len(scores), where=where,
                  seconds=round(time.perf_counter() - t0, 1))
    return outputs


def features_as_of(params: Params, paths: Paths, out_dir: Path,
                   progress: Any) -> tuple[dt.date, list[Path]]:
    """Build the features as of the scoring date into ``out_dir``; return the date
    and the Parquet parts."""
    clean = open_clean(params, paths)
    as_of = scoring_date(params.score.as_of, clean.span)
    build_features(params, paths, clean, cutoffs=[as_of], spec=feature_spec(params),
                   out_dir=out_dir, progress=progress)
    clean.close()
    return as_of, sorted(out_dir.glob("*.parquet"))


def main(params: Params | None = None, paths: Paths | None = None, *,
         fail_on_drift: bool = False) -> dict[str, Any]:
    """Score every customer as of ``score.as_of``; return the summary of ``reports/score.json``.

    Raises
    ------
    ModelUnavailableError, ModelMismatchError
        Before any work, when the model cannot be loaded or does not fit params.
    DriftError
        With ``fail_on_drift``, when a feature or ``p_defect`` drifted; nothing is
        written to the sinks then.
    ConfigError
        Before any work, when ``score.as_of`` is beyond the data's reach, not forced.
    OutputError
        Before any work, when ``reports/`` or ``data/drift/`` cannot be written.
    PublishError
        A :class:`SinkError`: a sink could not be written; no store shows the new
        date, or the error and ``reports/score.json`` say which do.
    """
    params = params or load_params()
    paths = paths or PATHS
    started = time.perf_counter()
    scored_at = scoring_time()
    model = load_model(params)
    check_compatible(model.scorer, params)
    log_event("score.model", uri=model.uri, name=model.name, version=model.version,
              run_id=model.run_id)
    targets = sinks(params, paths)
    as_of, beyond_data = checked_date(params, paths)
    check_writable(paths.reports, paths.drift)

    with steps("score") as progress, temporary_directory("score-features", paths.root) as tmp:
        t0 = time.perf_counter()
        threshold = params.score.drift.threshold
        if params.features.engine == "spark":
            # Features, scores, drift counts and summary computed by Spark; the rows
            # stay in its output folder until the sinks take them.
            from pipeline import spark_scoring as spark_engine

            as_of, scores, drift = spark_engine.score(model, params, paths,
                                                      scored_at=scored_at)
        else:
            as_of, parts = features_as_of(params, paths, Path(tmp), progress)
            log_event("score.features", as_of=as_of,
                      seconds=round(time.perf_counter() - t0, 1))
            t0 = time.perf_counter()
            # The rows go to a folder as they are scored: memory holds the chunks in
            # flight, not the population.
            scores, drift = score_features(model, parts, chunk_rows=params.score.chunk_rows,
                                           scored_at=scored_at, threshold=threshold,
                                           workers=params.score.workers, progress=progress,
                                           spool=paths.root)
    # Each step's peak would otherwise come on top of the memory the last one freed.
    memory.release()
    t1 = time.perf_counter()
    scores, contacts = apply_contacts(scores, model.scorer.decisions.policy, params.score.budget)
    memory.release()
    economics = model.scorer.decisions.economics
    contacts = {"mode": economics.mode, "margin": economics.margin,
                "effects": describe(model.scorer.fitted.get("effects"), economics), **contacts}
    log_event("score.contacts", contacts=contacts["contacts"],
              candidates=contacts["candidates"], expected_cost=contacts["expected_cost"],
              expected_net_value=contacts["expected_net_value"],
              seconds=round(time.perf_counter() - t1, 1))
    log_event("score.scored", customers=len(scores), seconds=round(time.perf_counter() - t0, 1))
    drift_file = paths.drift / f"as_of={as_of.isoformat()}" / "drift.parquet"
    if len(drift):
        write_parquet(pa.Table.from_pandas(drift.assign(as_of=as_of), preserve_index=False),
                      drift_file)
    drifted = drift[drift["drifted"]] if len(drift) else drift
    if len(drifted):
        top = ", ".join(f"{r.column} {r.psi:.2f}" for r in drifted.head(10).itertuples())
        log.warning("drift: %d of %d columns above PSI %.2f: %s%s (table: %s)", len(drifted),
                    len(drift), threshold, top, ", ..." if len(drifted) > 10 else "", drift_file)

    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "scored_at": scored_at.isoformat(),
        "model": {"uri": model.uri, "name": model.name, "version": model.version,
                  "run_id": model.run_id},
        **summarize(scores),
        "contacts": contacts,
        "drift": {
            "threshold": threshold,
            "drifted": drifted["column"].tolist() if len(drifted) else [],
            "max_psi": float(drift["psi"].max()) if len(drift) else None,
            "p_defect_psi": (float(drift.loc[drift["column"] == "p_defect", "psi"].iloc[0])
                             if len(drift) and (drift["column"] == "p_defect").any() else None),
            "table": str(drift_file) if len(drift) else None,
        },
        "beyond_data": beyond_data,
        "published": not (fail_on_drift and len(drifted)),
        "outputs": {},
    }
    try:
        if summary["published"]:
            summary["outputs"] = publish_scores(scores, targets, as_of, beyond_data)
    except PublishError as err:
        # The report says exactly which stores hold the date (none, when staging failed).
        summary["outputs"], summary["not_written"] = err.published, err.failed
        summary["published"] = False
        write_json(summary, paths.score_report)
        raise
    finally:
        if not isinstance(scores, pd.DataFrame):
            scores.close()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["mlflow_run_id"] = tracking.log_scoring(params, summary, drift)
    if summary["published"] and {"duckdb", "parquet"} & set(summary["outputs"]):
        summary["report"] = str(write_scoring_report(
            paths, as_of, drift_threshold=threshold, mlflow_run_id=summary["mlflow_run_id"],
            lock_timeout=params.score.sinks.lock_timeout_seconds))
    write_json(summary, paths.score_report)
    print_summary(summary)
    if not summary["published"]:
        raise DriftError(
            f"{len(drifted)} columns drifted above PSI {threshold} "
            f"({', '.join(drifted['column'].head(5))}{', ...' if len(drifted) > 5 else ''}); "
            f"scores not published. Drift table: {drift_file}")
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """The end-of-job summary, as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = (f"scored {summary['customers']:,} customers as of {summary['as_of']} with "
            f"{summary['model']['name']} v{summary['model']['version']}; value at risk "
            f"{summary['value_at_risk']:,.2f}")
    console.print(head, highlight=False)
    table = Table("stage", "action", "customers", "value at risk", box=None,
                  header_style="bold")
    for row in summary["stage_x_action"]:
        table.add_row(row["stage"], row["action"], f"{row['customers']:,}",
                      f"{row['value_at_risk']:,.2f}")
    console.print(table)
    c = summary["contacts"]
    console.print(f"contacts: {c['contacts']:,} of {c['candidates']:,} whose best action spends "
                  f"(budget {_limits(c['budget'])}); expected cost {c['expected_cost']:,.2f}, "
                  f"value saved {c['expected_value_saved']:,.2f}, net "
                  f"{c['expected_net_value']:,.2f}; effects {c['effects']}", highlight=False)
    drift = summary["drift"]
    console.print(f"drift: {len(drift['drifted'])} columns above PSI {drift['threshold']}"
                  + (f" ({', '.join(drift['drifted'][:5])})" if drift["drifted"] else ""),
                  highlight=False)
    for name, where in summary["outputs"].items():
        console.print(f"{name}: {where}", highlight=False)


def _limits(budget: dict[str, Any]) -> str:
    parts = [f"{budget[k]:,} {k}" for k in ("contacts", "money") if budget[k] is not None]
    parts += [f"{action}: {_limits(dict(limits, per_action={}))}"
              for action, limits in budget["per_action"].items()]
    return ", ".join(parts) or "none"


if __name__ == "__main__":
    run_stage(main)
