"""DVC stage ``labels``: lifecycle stage, next stage, defection and future value per snapshot.

Reads the clean tables written by ``validate``; chooses the out-of-time split
(``models.labels``), computes the features it needs at every cutoff ``t`` and
``t + horizon_days`` with the feature engine, applies the stage rules
(``models.stages``, thresholds from ``params.yaml`` ``stages``) and writes
``data/labels/labels.parquet`` and ``reports/labels.json``.

The labels need features at ``t + horizon_days``, which are not snapshots of
the feature table, so the stage computes its own (only the columns the labels
read are kept) in a temporary folder beside its output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.engines.duckdb import build_features
from features.spec import FeatureSpec
from models.labels import LABELS, label_summary, make_labels, with_splits
from models.split_plan import SplitPlan, choose_cutoffs, plan_from_cutoffs
from models.stages import REQUIRED_COLUMNS, StageRules
from pipeline.config import PATHS, ConfigError, Params, Paths, load_params
from pipeline.features import cutoffs_for, open_clean, partitions_per_chunk
from pipeline.io import atomic_path, write_json
from pipeline.progress import steps

log = logging.getLogger("churn")

#: Feature columns the labels read.
LABEL_FEATURES = ("customer_id", "cutoff", "monetary_sum", *REQUIRED_COLUMNS)


def stage_rules(params: Params) -> StageRules:
    """The stage thresholds of params ``stages``."""
    return StageRules(**params.stages.model_dump())


def label_feature_spec(params: Params) -> FeatureSpec:
    """The smallest feature declaration that yields the columns of :data:`LABEL_FEATURES`.

    Those columns do not depend on windows or on interaction kinds; which customers
    have a row does not either (any interaction makes a customer known). One
    window and no resolution tracking keep the extra computation small.
    """
    return FeatureSpec(windows_days=(params.labels.horizon_days,),
                       trend_days=params.labels.horizon_days,
                       interaction_kinds=tuple(params.data.interaction_kinds),
                       resolution_kinds=())


def split_plan(params: Params, first_event: dt.date, last_event: dt.date) -> SplitPlan:
    """The split plan: explicit from params ``labels.*_cutoffs``, else chosen from the data.

    Raises
    ------
    ConfigError
        If the explicit plan leaks or is not observed, or the data is too short for
        an automatic plan (the message names the dates or the days needed).
    """
    lab = params.labels
    try:
        if lab.explicit:
            return plan_from_cutoffs(lab.train_cutoffs or [], lab.validation_cutoffs or [],
                                     lab.test_cutoffs or [], horizon_days=lab.horizon_days,
                                     first_event=first_event, last_event=last_event)
        return choose_cutoffs(first_event, last_event, horizon_days=lab.horizon_days,
                              frequency=params.features.snapshot_frequency,
                              min_history_days=lab.min_history_days, n_test=lab.n_test,
                              n_validation=lab.n_validation,
                              first=params.features.first_snapshot)
    except ValueError as err:
        where = ("labels.train_cutoffs / validation_cutoffs / test_cutoffs" if lab.explicit
                 else "labels (automatic split)")
        raise ConfigError(f"{where}: {err}") from None


def _to_arrow(labels: pd.DataFrame) -> pa.Table:
    schema = LABELS.arrow_schema()
    labels = labels.sort_values(["cutoff", "customer_id"], kind="stable")
    columns = {
        "customer_id": labels["customer_id"].astype(str),
        "cutoff": pd.to_datetime(labels["cutoff"]).dt.date,
        "split": labels["split"].astype(str),
        "stage": labels["stage"].astype(str),
        "next_stage": labels["next_stage"].astype(str),
        "defected": labels["defected"],
        "future_purchases": labels["future_purchases"],
        "future_spend": labels["future_spend"],
    }
    arrays = [pa.array(columns[f.name], type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Build the labels; return the summary written to ``reports/labels.json``."""
    params = params or load_params()
    paths = paths or PATHS
    f = params.features
    con, clean, span = open_clean(params, paths)
    plan = split_plan(params, *span)
    source = "params" if params.labels.explicit else "automatic"
    log.info("labels: events %s to %s, horizon %d days, %s plan", span[0], span[1],
             plan.horizon_days, source)
    for name in ("train", "validation", "test"):
        dates = getattr(plan, name)
        log.info("labels: %s cutoffs (%d): %s", name, len(dates),
                 ", ".join(d.isoformat() for d in dates) or "-")
    on_grid = set(cutoffs_for(params, *span))
    off_grid = [t for t in plan.cutoffs if t not in on_grid]
    if off_grid:
        log.warning("labels: cutoffs %s are not snapshots of the feature table; their labels "
                    "will find no features to join", ", ".join(map(str, off_grid)))

    needed = sorted(set(plan.cutoffs) | set(plan.label_cutoffs))
    rules = stage_rules(params)
    paths.labels.parent.mkdir(parents=True, exist_ok=True)
    with (steps("labels") as progress,
          tempfile.TemporaryDirectory(prefix=".labels-features.", dir=paths.labels.parent) as tmp):
        build_features(con, clean=clean, cutoffs=needed, spec=label_feature_spec(params),
                       out_dir=Path(tmp),
                       partitions_per_chunk=partitions_per_chunk(con, clean, f.events_per_chunk,
                                                                 f.workers),
                       workers=f.workers, progress=progress)
        feats = pq.read_table(tmp, columns=list(LABEL_FEATURES)).to_pandas()
    at = pd.to_datetime(feats["cutoff"]).dt.date
    labels = make_labels(feats.loc[at.isin(plan.cutoffs)], feats.loc[at.isin(plan.label_cutoffs)],
                         rules=rules, horizon_days=plan.horizon_days)
    labels = with_splits(labels, plan)
    table = _to_arrow(labels)
    with atomic_path(paths.labels, directory=True) as out:
        pq.write_table(table, out / paths.labels_table.name, compression="zstd")

    summary = label_summary(labels)
    report = {
        "first_event": span[0].isoformat(),
        "last_event": span[1].isoformat(),
        "plan": {**plan.to_dict(), "source": source},
        "rules": dataclasses.asdict(rules),
        "feature_cutoffs": [d.isoformat() for d in needed],
        "cutoffs_not_in_features": [d.isoformat() for d in off_grid],
        **summary,
    }
    write_json(report, paths.labels_report)
    for name in ("train", "validation", "test"):
        log.info("labels: %s %d rows, defection rate %s", name, summary["rows"][name],
                 summary["defection_rate"][name]["all"])
    log.info("labels: %d rows -> %s", table.num_rows, paths.labels_table)
    return report


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
