"""The fitted models as one bundle: loading, predicting, and the MLflow pyfunc wrapper.

:func:`predict_all` is the single place where feature rows become predictions
(calibrated defection probability, next-stage probabilities, expected value);
evaluation calls it directly and the registered pyfunc model wraps it, so both
give the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd

from models.baselines import with_bgnbd_features
from models.stages import STAGES
from models.train import (
    FeatureFrame,
    TrainedModel,
    predict_defection,
    predict_transition,
    predict_value,
)

MODEL_NAMES = ("defection", "defection_rfm", "transition", "value")


def load_fitted(folder: str | Path) -> dict[str, Any]:
    """Read back the models written by the ``train`` stage."""
    folder = Path(folder)
    fitted: dict[str, Any] = {}
    for name in MODEL_NAMES:
        meta = json.loads((folder / f"{name}.json").read_text())
        for key in ("feature_names", "classes", "trained_classes"):
            meta[key] = tuple(meta.get(key) or ())
        booster = lgb.Booster(model_file=str(folder / f"{name}.txt"))
        fitted[name] = TrainedModel(booster=booster, **meta)
    fitted["calibrator"] = joblib.load(folder / "calibrator.joblib")
    fitted["bgnbd"] = joblib.load(folder / "bgnbd.joblib")
    for name in ("feature_frame", "feature_frame_rfm"):
        fitted[name] = FeatureFrame.from_dict(json.loads((folder / f"{name}.json").read_text()))
    return fitted


def _inputs(fitted: dict[str, Any], frame: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    frame = with_bgnbd_features(frame, fitted.get("bgnbd"), horizon_days)
    return fitted["feature_frame"].transform(frame)


def predict_all(fitted: dict[str, Any], frame: pd.DataFrame, *,
                horizon_days: float) -> pd.DataFrame:
    """Predictions for feature rows (the feature table's columns plus ``stage``).

    Returns
    -------
    pandas.DataFrame
        One row per input row, in order: ``p_defect`` (calibrated probability of
        no purchase in the horizon; meaningful for customers who have bought),
        ``p_defect_raw`` (before calibration), ``next_stage`` (most likely stage
        at the end of the horizon) and its probability ``p_next_stage``, one
        ``p_next_<stage>`` column per stage, and ``predicted_value`` (expected
        spend in the horizon).
    """
    X = _inputs(fitted, frame, horizon_days)
    raw = predict_defection(fitted["defection"], X)
    proba = predict_transition(fitted["transition"], X)
    best = proba.to_numpy().argmax(axis=1)
    out = pd.DataFrame({
        "p_defect": fitted["calibrator"].predict(raw),
        "p_defect_raw": raw,
        "next_stage": np.asarray(proba.columns)[best],
        "p_next_stage": proba.to_numpy().max(axis=1),
    })
    for stage in STAGES:
        out[f"p_next_{stage}"] = proba[stage].to_numpy()
    out["predicted_value"] = predict_value(fitted["value"], X)
    return out


class ChurnModels(mlflow.pyfunc.PythonModel):
    """The bundle as an MLflow pyfunc model: feature rows in, predictions out."""

    def load_context(self, context: Any) -> None:
        self.fitted = load_fitted(context.artifacts["models"])
        self.horizon_days = float(context.model_config["horizon_days"])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return predict_all(self.fitted, model_input, horizon_days=self.horizon_days)
