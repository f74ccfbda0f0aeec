"""DVC stage ``train``: the defection, stage-transition and value models.

Reads the labels (``data/labels``) and the feature table (``data/features``),
trains on the training snapshots, stops early on one half of the validation
snapshot's customers and calibrates the defection model on the other half
(a stable hash split), and writes the fitted models to ``data/models/`` with
``reports/train.json``. Everything is logged to one MLflow run, which the
``evaluate`` stage continues with the test metrics and the registration.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from features.spec import feature_table
from models.bgnbd_features import BGNBD_FEATURES, BGNBDBaseline, with_bgnbd_features
from models.calibration import ProbabilityCalibrator, split_for_calibration
from models.design import FeatureFrame, feature_columns
from models.fitted import save_fitted
from models.lgbm import (
    LightGBMParams,
    TrainedModel,
    predict_defection,
    train_defection,
    train_transition,
    train_value,
)
from models.stages import STAGES
from pipeline import tracking
from pipeline.config import PATHS, Params, Paths, load_params
from pipeline.features import feature_spec
from pipeline.io import atomic_path, write_json

log = logging.getLogger("churn")

#: Feature families of the "RFM only" ablation model: purchases, and nothing the
#: customer said or did besides buying.
RFM_FAMILIES = ("calendar", "tenure", "rfm", "rhythm", "trend", "refunds", "rfm_score")


def load_training_frame(paths: Paths) -> pd.DataFrame:
    """Labels joined with the features of the same customer and cutoff."""
    con = duckdb.connect()
    frame = con.execute(
        "SELECT f.*, l.split, l.stage, l.next_stage, l.defected, l.future_purchases, "
        "l.future_spend FROM read_parquet(?) l "
        "JOIN read_parquet(?) f USING (customer_id, cutoff) "
        "ORDER BY l.cutoff, l.customer_id",
        [str(paths.labels_table), str(paths.features / "*.parquet")]).df()
    n_labels = con.execute("SELECT count(*) FROM read_parquet(?)",
                           [str(paths.labels_table)]).fetchall()[0][0]
    if len(frame) != n_labels:
        raise ValueError(f"{n_labels - len(frame)} labelled rows have no feature row: the "
                         "labels and the feature table disagree on cutoffs (re-run `dvc repro`)")
    return frame


def lightgbm_params(params: Params) -> LightGBMParams:
    """LightGBM hyper-parameters from params ``train.lightgbm``."""
    return LightGBMParams(**params.train.lightgbm.model_dump())


def _auc_logloss(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p))}


def fit_models(frame: pd.DataFrame, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit every model on a labelled training frame.

    Returns the fitted objects (by name) and a JSON-ready summary of the
    decisions taken on the validation snapshot.
    """
    t = params.train
    lgb_params = lightgbm_params(params)
    spec = feature_spec(params)
    table = feature_table(spec)
    numeric, categorical = feature_columns(table.names)
    horizon = params.labels.horizon_days

    def buyers(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["defected"].notna()]

    # BG/NBD outputs as candidate inputs, fitted on the training snapshots only and
    # kept only if they help on validation. Computed once, for every row.
    split = frame["split"].to_numpy()
    bgnbd = BGNBDBaseline(horizon_days=horizon).fit(buyers(frame[split == "train"]))
    frame = with_bgnbd_features(frame, bgnbd, horizon)  # same rows, same order
    train, valid = frame[split == "train"], frame[split == "validation"]
    calib_part = split_for_calibration(valid["customer_id"], fraction=t.calibration_fraction)
    stop, calib = valid[~calib_part], valid[calib_part]
    summary: dict[str, Any] = {"rows": {"train": len(train), "stop": len(stop),
                                        "calibration": len(calib)}}

    frames = {"without": FeatureFrame.from_training(
        train, numeric=numeric, categorical=categorical,
        fixed_categories={"stage": STAGES})}
    frames["with"] = FeatureFrame(frames["without"].numeric + BGNBD_FEATURES,
                                  frames["without"].categorical, frames["without"].categories)
    candidates: dict[str, TrainedModel] = {}
    scores = {}
    tr, st = buyers(train), buyers(stop)
    for name, ff in frames.items():
        model = train_defection(ff.transform(tr), tr["defected"].astype(bool),
                                ff.transform(st), st["defected"].astype(bool), lgb_params)
        candidates[name] = model
        scores[name] = _auc_logloss(st["defected"].astype(bool).to_numpy(),
                                    predict_defection(model, ff.transform(st)))
    wanted = t.bgnbd_features
    use_bg = (scores["with"]["log_loss"] < scores["without"]["log_loss"]
              if wanted == "auto" else wanted == "always")
    choice = "with" if use_bg else "without"
    summary["bgnbd_features"] = {"setting": wanted, "kept": use_bg,
                                 "validation_stop": scores}
    ff = frames[choice]
    defection = candidates[choice]

    cb = buyers(calib)
    calibrator = ProbabilityCalibrator(random_state=lgb_params.seed).fit(
        predict_defection(defection, ff.transform(cb)), cb["defected"].astype(bool).to_numpy())
    summary["calibration"] = {"method": calibrator.method_,
                              "cv_log_loss": calibrator.cv_log_loss_}

    # Ablation: the same model on purchase features only.
    families = {c.name: c.family for c in table.columns}
    rfm_numeric = tuple(c for c in ff.numeric if families.get(c) in RFM_FAMILIES)
    ff_rfm = FeatureFrame(rfm_numeric, ("stage",), {"stage": ff.categories["stage"]})
    defection_rfm = train_defection(ff_rfm.transform(tr), tr["defected"].astype(bool),
                                    ff_rfm.transform(st), st["defected"].astype(bool),
                                    lgb_params)

    X_train, X_stop = ff.transform(train), ff.transform(stop)
    transition = train_transition(X_train, train["next_stage"].astype(str),
                                  X_stop, stop["next_stage"].astype(str), lgb_params,
                                  classes=STAGES)
    value = train_value(X_train, train["future_spend"].astype(float),
                        X_stop, stop["future_spend"].astype(float), lgb_params)
    for name, model in (("defection", defection), ("defection_rfm", defection_rfm),
                        ("transition", transition), ("value", value)):
        summary[name] = {"best_iteration": model.best_iteration,
                         "best_score": model.best_score, "metric": model.metric}
    fitted = {"defection": defection, "defection_rfm": defection_rfm, "transition": transition,
              "value": value, "calibrator": calibrator, "bgnbd": bgnbd if use_bg else None,
              "feature_frame": ff, "feature_frame_rfm": ff_rfm}
    return fitted, summary


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Train the models; return the summary written to ``reports/train.json``."""
    params = params or load_params()
    paths = paths or PATHS
    # An unreachable tracking store fails the stage now, not after the work.
    tracking.configure(params)
    started = time.perf_counter()
    frame = load_training_frame(paths)
    fitted, summary = fit_models(frame, params)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    with atomic_path(paths.models, directory=True) as tmp:
        save_fitted(fitted, tmp)
    summary["mlflow"] = tracking.log_training(params, paths, frame, fitted, summary)
    write_json(summary, paths.train_report)
    log.info("train: defection model %s BG/NBD features, calibrated by %s; %.1f s",
             "with" if summary["bgnbd_features"]["kept"] else "without",
             summary["calibration"]["method"], summary["seconds"])
    return summary


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
