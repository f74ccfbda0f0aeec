"""The training recipe: the defection, stage-transition and value models from a
labelled training frame.

Input: the training frame (feature-table columns of :func:`features.spec.feature_table`
plus ``split``, ``stage``, ``next_stage``, ``defected``, ``future_spend``), one row per
customer and labelled cutoff. The models train on the ``train`` rows, stop early on
one half of the ``validation`` rows' customers and calibrate the defection
probability on the other half (a stable hash split of customer ids). BG/NBD outputs,
fitted on the training rows only, are kept as inputs of the defection model when they
help on validation (or as ``bgnbd_features`` says).

:func:`refit_models` then trains the chosen models again on every labelled row, the
latest cutoff included, so that what scores has seen the latest behaviour; the
figures of the evaluation stay those of the models of :func:`fit_models` on the
held-out test snapshot.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from features.spec import FeatureSpec, feature_table
from models.bgnbd_features import BGNBD_FEATURES, BGNBDBaseline, with_bgnbd_features
from models.calibration import ProbabilityCalibrator, split_for_calibration
from models.design import FeatureFrame, feature_columns
from models.lgbm import (
    TrainedModel,
    predict_defection,
    refit,
    train_defection,
    train_transition,
    train_value,
)
from models.lgbm_params import LightGBMParams
from models.stages import STAGES

#: Feature families of the "RFM only" ablation model: purchases, and nothing the
#: customer said or did besides buying.
RFM_FAMILIES = ("calendar", "tenure", "rfm", "rhythm", "trend", "refunds", "rfm_score")


def _auc_logloss(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p))}


def _buyers(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["defected"].notna()]


def fit_models(frame: pd.DataFrame, *, spec: FeatureSpec, lightgbm: LightGBMParams,
               horizon_days: int, calibration_fraction: float,
               bgnbd_features: Literal["auto", "always", "never"] = "auto",
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit every model on a labelled training frame.

    Parameters
    ----------
    frame
        The training frame (see the module docstring); not modified.
    spec
        The feature declaration the frame was built with.
    lightgbm
        Hyper-parameters shared by the boosters.
    horizon_days
        The label horizon (the BG/NBD inputs predict over it).
    calibration_fraction
        Share of the validation customers that calibrate; the rest stop the boosting.
    bgnbd_features
        ``"auto"``: keep the BG/NBD inputs when they lower the validation log loss;
        ``"always"`` or ``"never"``.

    Returns
    -------
    fitted : dict
        ``defection``, ``defection_rfm``, ``transition``, ``value`` (boosters),
        ``calibrator``, ``bgnbd`` (or None), ``feature_frame``, ``feature_frame_rfm``.
    summary : dict
        JSON-ready decisions taken on the validation rows.
    """
    table = feature_table(spec)
    numeric, categorical = feature_columns(table.names)

    # BG/NBD outputs as candidate inputs, fitted on the training snapshots only and
    # kept only if they help on validation. Computed once, for every row.
    split = frame["split"].to_numpy()
    bgnbd = BGNBDBaseline(horizon_days=horizon_days).fit(_buyers(frame[split == "train"]))
    frame = with_bgnbd_features(frame, bgnbd, horizon_days)  # same rows, same order
    train, valid = frame[split == "train"], frame[split == "validation"]
    calib_part = split_for_calibration(valid["customer_id"], fraction=calibration_fraction)
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
    tr, st = _buyers(train), _buyers(stop)
    for name, ff in frames.items():
        model = train_defection(ff.transform(tr), tr["defected"].astype(bool),
                                ff.transform(st), st["defected"].astype(bool), lightgbm)
        candidates[name] = model
        scores[name] = _auc_logloss(st["defected"].astype(bool).to_numpy(),
                                    predict_defection(model, ff.transform(st)))
    use_bg = (scores["with"]["log_loss"] < scores["without"]["log_loss"]
              if bgnbd_features == "auto" else bgnbd_features == "always")
    choice = "with" if use_bg else "without"
    summary["bgnbd_features"] = {"setting": bgnbd_features, "kept": use_bg,
                                 "validation_stop": scores}
    ff = frames[choice]
    defection = candidates[choice]

    cb = _buyers(calib)
    calibrator = ProbabilityCalibrator(random_state=lightgbm.seed).fit(
        predict_defection(defection, ff.transform(cb)), cb["defected"].astype(bool).to_numpy())
    summary["calibration"] = {"method": calibrator.method_,
                              "cv_log_loss": calibrator.cv_log_loss_}

    # Ablation: the same model on purchase features only.
    families = {c.name: c.family for c in table.columns}
    rfm_numeric = tuple(c for c in ff.numeric if families.get(c) in RFM_FAMILIES)
    ff_rfm = FeatureFrame(rfm_numeric, ("stage",), {"stage": ff.categories["stage"]})
    defection_rfm = train_defection(ff_rfm.transform(tr), tr["defected"].astype(bool),
                                    ff_rfm.transform(st), st["defected"].astype(bool),
                                    lightgbm)

    X_train, X_stop = ff.transform(train), ff.transform(stop)
    transition = train_transition(X_train, train["next_stage"].astype(str),
                                  X_stop, stop["next_stage"].astype(str), lightgbm,
                                  classes=STAGES)
    value = train_value(X_train, train["future_spend"].astype(float),
                        X_stop, stop["future_spend"].astype(float), lightgbm)
    for name, model in (("defection", defection), ("defection_rfm", defection_rfm),
                        ("transition", transition), ("value", value)):
        summary[name] = {"best_iteration": model.best_iteration,
                         "best_score": model.best_score, "metric": model.metric}
    fitted = {"defection": defection, "defection_rfm": defection_rfm, "transition": transition,
              "value": value, "calibrator": calibrator, "bgnbd": bgnbd if use_bg else None,
              "feature_frame": ff, "feature_frame_rfm": ff_rfm}
    return fitted, summary


def refit_models(frame: pd.DataFrame, fitted: dict[str, Any], *, lightgbm: LightGBMParams,
                 horizon_days: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models that score: those of :func:`fit_models` trained again on every
    labelled row, the latest cutoff (the test snapshot) included.

    The rounds of each booster are those early stopping chose on the validation rows;
    the BG/NBD inputs (when kept) are fitted again on every row; the calibrator is
    fitted on the most recent labelled window, the latest cutoff, scored by the same
    defection model trained on the earlier cutoffs only (so that it calibrates
    predictions for rows it did not learn from). The ablation model is not refitted.

    Parameters
    ----------
    frame
        The training frame, every split (``split`` is not read: every row with a label
        is used); not modified.
    fitted
        The output of :func:`fit_models`.
    lightgbm, horizon_days
        As for :func:`fit_models`.

    Returns
    -------
    deployed : dict
        The keys of ``fitted``, the refitted models in place.
    summary : dict
        JSON-ready: the cutoffs and rows the refit saw, the calibration window.
    """
    cutoffs = pd.to_datetime(frame["cutoff"]).dt.date
    latest = cutoffs.max()
    if (cutoffs < latest).sum() == 0:
        raise ValueError("refit_models needs labelled rows before the latest cutoff "
                         f"{latest} to calibrate on it")
    bgnbd = (BGNBDBaseline(horizon_days=horizon_days).fit(_buyers(frame))
             if fitted["bgnbd"] is not None else None)
    rows = with_bgnbd_features(frame, bgnbd, horizon_days)  # same rows, same order
    ff = fitted["feature_frame"]
    X = ff.transform(rows)
    buyer = rows["defected"].notna().to_numpy()
    earlier = (cutoffs < latest).to_numpy()
    y = rows["defected"].to_numpy()

    defection = refit(fitted["defection"], X[buyer], y[buyer].astype(bool), lightgbm)
    before = refit(fitted["defection"], X[buyer & earlier], y[buyer & earlier].astype(bool),
                   lightgbm)
    window = buyer & ~earlier
    calibrator = ProbabilityCalibrator(random_state=lightgbm.seed).fit(
        predict_defection(before, X[window]), y[window].astype(bool))
    transition = refit(fitted["transition"], X, rows["next_stage"].astype(str), lightgbm)
    value = refit(fitted["value"], X, rows["future_spend"].astype(float), lightgbm)
    deployed = {**fitted, "defection": defection, "transition": transition, "value": value,
                "calibrator": calibrator, "bgnbd": bgnbd}
    summary = {
        "cutoffs": sorted(d.isoformat() for d in set(cutoffs)),
        "rows": int(len(rows)), "buyer_rows": int(buyer.sum()),
        "rounds": {name: fitted[name].best_iteration
                   for name in ("defection", "transition", "value")},
        "calibration": {"cutoff": latest.isoformat(), "rows": int(window.sum()),
                        "method": calibrator.method_, "cv_log_loss": calibrator.cv_log_loss_},
    }
    return deployed, summary
