"""The evaluation recipe: every test figure of the fitted models on the test rows.

On the test snapshot (out of time, see :mod:`models.split_plan`):

* defection: the calibrated model against the recency heuristic, a logistic
  regression on RFM, BG/NBD and Pareto/NBD (each fitted on the training rows), and, when
  given, the oracle (the true probability, on simulator data); the paired
  bootstrap interval of the AUC difference to the best baseline, and the share of
  the baseline-to-oracle gap the model closes;
* the ablation: the same model on purchase features only;
* transitions against the empirical Markov matrix; value (spend) errors.

:func:`flat_metrics` names the scalars for MLflow and the promotion rule;
:func:`headline_metrics` picks the few that DVC shows (``reports/metrics.json``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from models.baselines import RecencyHeuristic, rfm_logistic
from models.bgnbd_features import BGNBDBaseline
from models.comparison import gap_closed, paired_bootstrap_auc_diff
from models.curves import curves
from models.fitted import predict_all
from models.lgbm import predict_defection
from models.markov import MarkovTransitionBaseline
from models.metrics import (
    defection_metrics,
    per_group_metrics,
    transition_metrics,
    value_metrics,
)
from models.paretonbd_baseline import ParetoNBDBaseline
from models.stages import STAGES

#: The baselines of the defection model, by name.
BASELINES = ("recency", "rfm_logistic", "bgnbd", "paretonbd")


def evaluate(frame: pd.DataFrame, fitted: dict[str, Any], *, horizon_days: int,
             bootstrap_samples: int, seed: int,
             oracle: Any = None) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Every test figure: a JSON-ready dict of metrics and the plot tables.

    Parameters
    ----------
    frame
        The training frame (``split`` says which rows are ``train`` and ``test``).
    fitted
        The fitted models (:func:`models.train.fit_models`).
    horizon_days
        The label horizon.
    bootstrap_samples, seed
        The paired bootstrap of the AUC differences.
    oracle
        The true defection probability of each test row, or None.
    """
    horizon = horizon_days
    split = frame["split"].to_numpy()
    train, test = frame[split == "train"], frame[split == "test"].reset_index(drop=True)
    buyer = test["defected"].notna().to_numpy()
    y = test.loc[buyer, "defected"].astype(bool).to_numpy()
    pred = predict_all(fitted, test, horizon_days=horizon)
    p_model = pred.loc[buyer, "p_defect"].to_numpy()

    tb = train[train["defected"].notna()]
    ty = tb["defected"].astype(bool).to_numpy()
    baselines = {
        "recency": RecencyHeuristic().fit(tb, ty),
        "rfm_logistic": rfm_logistic().fit(tb, ty),
        "bgnbd": BGNBDBaseline(horizon_days=horizon).fit(tb),
        "paretonbd": ParetoNBDBaseline(horizon_days=horizon).fit(tb),
    }
    test_b = test[buyer]
    p_base = {}
    for name, model in baselines.items():
        proba = model.predict_proba(test_b)
        p_base[name] = proba[:, 1] if np.ndim(proba) == 2 else np.asarray(proba)
    metrics: dict[str, Any] = {"defection": {"model": defection_metrics(y, p_model)}}
    for name, p in p_base.items():
        metrics["defection"][name] = defection_metrics(y, p)
    best = max(p_base, key=lambda n: metrics["defection"][n]["roc_auc"])
    n_boot = bootstrap_samples
    metrics["defection"]["vs_best_baseline"] = {
        "baseline": best,
        **paired_bootstrap_auc_diff(y, p_model, p_base[best], n_boot=n_boot, seed=seed)}
    if oracle is not None:
        p_oracle = np.asarray(oracle)[buyer]
        metrics["defection"]["oracle"] = defection_metrics(y, p_oracle)
        metrics["defection"]["gap_closed"] = gap_closed(
            metrics["defection"]["model"]["roc_auc"], metrics["defection"][best]["roc_auc"],
            metrics["defection"]["oracle"]["roc_auc"])

    ff_rfm = fitted["feature_frame_rfm"]
    p_rfm = predict_defection(fitted["defection_rfm"], ff_rfm.transform(test_b))
    p_raw = pred.loc[buyer, "p_defect_raw"].to_numpy()
    metrics["ablation"] = {
        "rfm_only": defection_metrics(y, p_rfm),
        "rfm_and_interactions": defection_metrics(y, p_raw),
        "with_interactions_vs_rfm_only": paired_bootstrap_auc_diff(
            y, p_raw, p_rfm, n_boot=n_boot, seed=seed),
    }
    by_stage = per_group_metrics(y, p_model, test_b["stage"].astype(str).to_numpy())
    metrics["defection"]["by_stage"] = json.loads(by_stage.to_json(orient="index"))

    proba = pred[[f"p_next_{s}" for s in STAGES]].set_axis(list(STAGES), axis=1)
    markov = MarkovTransitionBaseline().fit(train["stage"].astype(str),
                                            train["next_stage"].astype(str))
    truth_next = test["next_stage"].astype(str)
    t_model = transition_metrics(truth_next, proba)
    t_markov = transition_metrics(truth_next, markov.predict_proba(test["stage"].astype(str)))
    confusion = t_model.pop("confusion")
    t_markov.pop("confusion")
    metrics["transition"] = {"model": t_model, "markov": t_markov}
    metrics["value"] = {"model": value_metrics(test["future_spend"].to_numpy(dtype=float),
                                               pred["predicted_value"].to_numpy())}

    plots = dict(curves(y, p_model))
    plots["confusion"] = (confusion.rename_axis("actual").reset_index()
                          .melt(id_vars="actual", var_name="predicted", value_name="count"))
    plots["feature_importance"] = _importance(fitted)
    plots["ablation"] = pd.DataFrame({
        "model": ["rfm_only", "rfm_and_interactions"],
        "roc_auc": [metrics["ablation"][m]["roc_auc"]
                    for m in ("rfm_only", "rfm_and_interactions")]})
    return metrics, plots


def _importance(fitted: dict[str, Any]) -> pd.DataFrame:
    """The defection model's 25 most important inputs: the booster's split gain, or,
    without a booster, the absolute coefficients of the logistic part's standardised
    inputs (column ``gain`` either way)."""
    if fitted["defection"] is not None:
        booster = fitted["defection"].booster
        table = pd.DataFrame({"feature": booster.feature_name(),
                              "gain": booster.feature_importance(importance_type="gain")})
    else:
        offset = fitted["defection_offset"]
        table = pd.DataFrame({"feature": list(offset.inputs), "gain": np.abs(offset.coef_)})
    return table.sort_values("gain", ascending=False).head(25)


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalar metrics as MLflow keys (``test_defection_roc_auc`` ...)."""
    out: dict[str, float] = {}
    d = metrics["defection"]
    for who in ("model", *BASELINES, "oracle"):
        for k, v in d.get(who, {}).items():
            if isinstance(v, int | float):
                prefix = "test_defection" if who == "model" else f"test_{who}"
                out[f"{prefix}_{k}"] = float(v)
    for k in ("diff", "ci_low", "ci_high"):
        out[f"test_auc_vs_best_baseline_{k}"] = float(d["vs_best_baseline"][k])
    if "gap_closed" in d:
        out["test_oracle_gap_closed"] = float(d["gap_closed"])
    ab = metrics["ablation"]["with_interactions_vs_rfm_only"]
    for k in ("diff", "ci_low", "ci_high"):
        out[f"test_ablation_auc_gain_{k}"] = float(ab[k])
    for who in ("model", "markov"):
        for k in ("macro_f1", "log_loss", "accuracy"):
            out[f"test_transition_{who}_{k}"] = float(metrics["transition"][who][k])
    for k, v in metrics["value"]["model"].items():
        out[f"test_value_{k}"] = float(v)
    return out


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few figures a data scientist compares between runs (``reports/metrics.json``,
    what ``dvc metrics show`` and ``dvc exp show`` print): the defection model's test
    quality, its gap to the best baseline with the bootstrap interval, each baseline's
    AUC, the transition and value errors."""
    d = metrics["defection"]
    model, gap = d["model"], d["vs_best_baseline"]
    out: dict[str, Any] = {
        "defection": {k: model[k] for k in ("roc_auc", "pr_auc", "log_loss", "brier", "ece",
                                            "lift_top_decile")},
        "vs_best_baseline": {"auc_diff": gap["diff"], "ci_low": gap["ci_low"],
                             "ci_high": gap["ci_high"]},
        "baseline_roc_auc": {name: d[name]["roc_auc"] for name in BASELINES},
        "transition": {k: metrics["transition"]["model"][k] for k in ("log_loss", "macro_f1")},
        "value": {k: metrics["value"]["model"][k] for k in ("mae", "spearman")},
    }
    if "gap_closed" in d:
        out["oracle_gap_closed"] = d["gap_closed"]
    return out
