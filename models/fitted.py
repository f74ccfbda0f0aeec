"""The fitted models of a scorer, as one bundle: saved, loaded and predicted with.

The bundle is a mapping: the LightGBM models of :data:`MODEL_NAMES`
(:class:`~models.lgbm.TrainedModel`, each saved as LightGBM text of its best
iteration, ``<name>.txt``, and its metadata, ``<name>.json``; ``defection`` is None
when the chosen defection candidate has no booster), the parts of the defection
model (:mod:`models.defection`: ``defection_offset``, its logistic part or None,
``defection_offset.joblib``; ``defection_choice``, ``defection_choice.json``), the
``calibrator`` of the defection model and the ``bgnbd`` baseline whose outputs
are model inputs, or None (``calibrator.joblib``, ``bgnbd.joblib``), and the
design-matrix schemas ``feature_frame`` and ``feature_frame_rfm``
(:class:`~models.design.FeatureFrame`, ``<name>.json``), and the ``effects`` of the
actions learned from past contacts (:class:`~models.uplift.ContactEffects`,
``effects.joblib``; None, and no file, when the history holds no contacts).

:func:`predict_all` is the single place where feature rows become predictions;
evaluation calls it directly, and :class:`models.scorer.Scorer` scores with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd

from models.bgnbd_features import with_bgnbd_features
from models.defection import DefectionChoice, defection_probability
from models.design import FeatureFrame
from models.lgbm import TrainedModel, predict_transition, predict_value
from models.stages import STAGES

__all__ = ["MODEL_NAMES", "load_fitted", "predict_all", "save_fitted"]

MODEL_NAMES = ("defection", "defection_rfm", "transition", "value")


def save_fitted(fitted: Mapping[str, Any], out_dir: str | Path) -> None:
    """Write fitted models into ``out_dir`` (LightGBM text, joblib, JSON);
    :func:`load_fitted` reads them back."""
    out_dir = Path(out_dir)
    for name in MODEL_NAMES:
        model: TrainedModel | None = fitted[name]
        if model is None:  # a defection model without a booster
            continue
        model.booster.save_model(str(out_dir / f"{name}.txt"),
                                 num_iteration=model.best_iteration)
        (out_dir / f"{name}.json").write_text(json.dumps(model.metadata(), indent=2))
    joblib.dump(fitted["calibrator"], out_dir / "calibrator.joblib")
    joblib.dump(fitted["bgnbd"], out_dir / "bgnbd.joblib")
    joblib.dump(fitted["defection_offset"], out_dir / "defection_offset.joblib")
    (out_dir / "defection_choice.json").write_text(
        json.dumps(fitted["defection_choice"].to_dict(), indent=2))
    for name in ("feature_frame", "feature_frame_rfm"):
        (out_dir / f"{name}.json").write_text(json.dumps(fitted[name].to_dict(), indent=2))
    if fitted.get("effects") is not None:
        joblib.dump(fitted["effects"], out_dir / "effects.joblib")


def load_fitted(folder: str | Path) -> dict[str, Any]:
    """Read back the models written by :func:`save_fitted`."""
    folder = Path(folder)
    fitted: dict[str, Any] = {}
    choice_file = folder / "defection_choice.json"
    # Bundles written before the defection model had candidates hold a booster only.
    fitted["defection_choice"] = (DefectionChoice.from_dict(json.loads(choice_file.read_text()))
                                  if choice_file.exists() else DefectionChoice.of("lightgbm"))
    offset_file = folder / "defection_offset.joblib"
    fitted["defection_offset"] = joblib.load(offset_file) if offset_file.exists() else None
    for name in MODEL_NAMES:
        if name == "defection" and not fitted["defection_choice"].booster_weight:
            fitted[name] = None
            continue
        meta = json.loads((folder / f"{name}.json").read_text())
        for key in ("feature_names", "classes", "trained_classes"):
            meta[key] = tuple(meta.get(key) or ())
        booster = lgb.Booster(model_file=str(folder / f"{name}.txt"))
        fitted[name] = TrainedModel(booster=booster, **meta)
    fitted["calibrator"] = joblib.load(folder / "calibrator.joblib")
    fitted["bgnbd"] = joblib.load(folder / "bgnbd.joblib")
    for name in ("feature_frame", "feature_frame_rfm"):
        fitted[name] = FeatureFrame.from_dict(json.loads((folder / f"{name}.json").read_text()))
    effects_file = folder / "effects.joblib"
    fitted["effects"] = joblib.load(effects_file) if effects_file.exists() else None
    return fitted


def _design(fitted: Mapping[str, Any], frame: pd.DataFrame,
            horizon_days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows with the BG/NBD columns (index reset) and their design matrix."""
    rows = with_bgnbd_features(frame, fitted.get("bgnbd"), horizon_days)
    return rows, fitted["feature_frame"].transform(rows)


def _predict(fitted: Mapping[str, Any], rows: pd.DataFrame, X: pd.DataFrame,
             raw: np.ndarray | None = None) -> pd.DataFrame:
    """The predictions of :func:`predict_all`; ``raw``, when given, is the uncalibrated
    defection probability of every row, already known (NaN: none wanted, the row's
    ``p_defect`` is NaN)."""
    if raw is None:
        raw = defection_probability(fitted["defection_choice"], fitted["defection_offset"],
                                    fitted["defection"], rows, X)
    known = np.isfinite(raw)
    p_defect = np.full(raw.shape, np.nan)
    if known.any():
        p_defect[known] = fitted["calibrator"].predict(raw[known])
    proba = predict_transition(fitted["transition"], X)
    best = proba.to_numpy().argmax(axis=1)
    out = pd.DataFrame({
        "p_defect": p_defect,
        "p_defect_raw": raw,
        "next_stage": np.asarray(proba.columns)[best],
        "p_next_stage": proba.to_numpy().max(axis=1),
    })
    for stage in STAGES:
        out[f"p_next_{stage}"] = proba[stage].to_numpy()
    out["predicted_value"] = predict_value(fitted["value"], X)
    return out


def predict_all(fitted: Mapping[str, Any], frame: pd.DataFrame, *,
                horizon_days: float) -> pd.DataFrame:
    """Predictions for feature rows (the feature table's columns plus ``stage``).

    Returns
    -------
    pandas.DataFrame
        One row per input row, in order (index reset): ``p_defect`` (calibrated
        probability of no purchase in the horizon; meaningful for customers who
        have bought), ``p_defect_raw`` (before calibration), ``next_stage``
        (most likely stage at the end of the horizon) and its probability
        ``p_next_stage``, one ``p_next_<stage>`` column per stage, and
        ``predicted_value`` (expected spend in the horizon).
    """
    return _predict(fitted, *_design(fitted, frame, horizon_days))


def models_digest(folder: str | Path) -> str:
    """SHA-256 over the fitted model files written by :func:`save_fitted` (names and
    contents): equal digests, equal models."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()
