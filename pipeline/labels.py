"""DVC stage ``labels``: lifecycle stage, next stage, defection and future value per snapshot.

Reads the clean tables written by ``validate``; chooses the out-of-time split
(``models.split_plan``), computes the features it needs at every cutoff ``t`` and
``t + horizon_days`` with the feature engine, applies the stage rules
(``models.stages``, thresholds from ``params.yaml`` ``stages``) and writes
``data/labels/labels.parquet`` and ``reports/labels.json``.

The labels need features at ``t + horizon_days``, which are not snapshots of
the feature table, so the stage computes its own (only the columns the labels
read are kept) in a temporary folder beside its output.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.labels import LABELS, label_summary, make_labels, with_splits
from models.outcomes import outcome_shortfalls
from models.split_plan import SplitPlan
from models.stages import REQUIRED_COLUMNS
from pipeline.config import load_params
from pipeline.engine import build_features, open_clean
from pipeline.errors import ConfigError
from pipeline.io import atomic_path, write_json
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.progress import steps
from pipeline.runner import run_stage
from pipeline.wiring.features import label_feature_spec
from pipeline.wiring.models import split_plan, stage_rules

log = logging.getLogger("churn")

#: Feature columns the labels read.
LABEL_FEATURES = ("customer_id", "cutoff", "monetary_sum", *REQUIRED_COLUMNS)


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


def _refuse_thin_splits(labels: pd.DataFrame, params: Params, plan: SplitPlan) -> None:
    """Stop, naming the settings to change, when a split holds too few rows of an outcome
    for the models to train, validate and test on it (:mod:`models.outcomes`).

    Raises
    ------
    ConfigError
        Naming the splits, their counts and the ``labels`` settings that give more rows.
    """
    short = outcome_shortfalls(labels)
    if not short:
        return
    explicit = params.labels.explicit
    fixes = []
    for s in short:
        if explicit:
            fixes.append(f"more dates in labels.{s.split}_cutoffs" if s.split != "validation"
                         or plan.validation_share is None
                         else "a larger labels.validation_share")
        elif s.split == "train":
            fixes.append("more training cutoffs (a shorter labels.min_history_days, a "
                         "features.snapshot_frequency with more dates)")
        elif s.split == "validation" and plan.validation_share is not None:
            fixes.append("a larger labels.validation_share")
        elif s.split == "validation":
            fixes.append("a larger labels.n_validation (or 0: labels.validation_share of the "
                         "customers validate on the training cutoffs)")
        else:
            fixes.append("a larger labels.n_test")
    longer = sum(s.defected - s.retained for s in short) > 0  # too many defect: look longer
    fixes.append(f"a {'longer' if longer else 'shorter'} labels.horizon_days "
                 f"({'fewer' if longer else 'more'} buyers defect within it)")
    where = ("labels.train_cutoffs / validation_cutoffs / test_cutoffs" if explicit
             else "labels (automatic split)")
    raise ConfigError(
        f"{where}: {'; '.join(s.describe() for s in short)}: the defection model needs at "
        f"least {short[0].minimum} labelled rows of each outcome (defected, retained) in every "
        f"split to train, validate and test; try {', '.join(fixes)}, or a longer history")


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Build the labels; return the summary written to ``reports/labels.json``."""
    params = params or load_params()
    paths = paths or PATHS
    clean = open_clean(params, paths)
    span = clean.span
    plan = split_plan(params, *span)
    source = "params" if params.labels.explicit else "automatic"
    log.info("labels: events %s to %s, horizon %d days, %s plan", span[0], span[1],
             plan.horizon_days, source)
    for name in ("train", "validation", "test"):
        dates = getattr(plan, name)
        log.info("labels: %s cutoffs (%d): %s", name, len(dates),
                 ", ".join(d.isoformat() for d in dates) or "-")
    for step in plan.steps:
        log.info("labels: plan: %s", step)

    needed = sorted(set(plan.cutoffs) | set(plan.label_cutoffs))
    rules = stage_rules(params)
    paths.labels.parent.mkdir(parents=True, exist_ok=True)
    with (steps("labels") as progress,
          tempfile.TemporaryDirectory(prefix=".labels-features.", dir=paths.labels.parent) as tmp):
        build_features(params, paths, clean, cutoffs=needed, spec=label_feature_spec(params),
                       out_dir=Path(tmp), progress=progress)
        feats = pq.read_table(tmp, columns=list(LABEL_FEATURES)).to_pandas()
    at = pd.to_datetime(feats["cutoff"]).dt.date
    labels = make_labels(feats.loc[at.isin(plan.cutoffs)], feats.loc[at.isin(plan.label_cutoffs)],
                         rules=rules, horizon_days=plan.horizon_days)
    labels = with_splits(labels, plan)
    _refuse_thin_splits(labels, params, plan)
    table = _to_arrow(labels)
    with atomic_path(paths.labels, directory=True) as out:
        pq.write_table(table, out / paths.labels_table.name, compression="zstd")

    summary = label_summary(labels)
    report = {
        "first_event": span[0].isoformat(),
        "last_event": span[1].isoformat(),
        "plan": {**plan.to_dict(), "source": source},
        "rules": rules.model_dump(),
        "feature_cutoffs": [d.isoformat() for d in needed],
        **summary,
    }
    write_json(report, paths.labels_report)
    for name in ("train", "validation", "test"):
        log.info("labels: %s %d rows, defection rate %s", name, summary["rows"][name],
                 summary["defection_rate"][name]["all"])
    log.info("labels: %d rows -> %s", table.num_rows, paths.labels_table)
    return report


if __name__ == "__main__":
    run_stage(main)
