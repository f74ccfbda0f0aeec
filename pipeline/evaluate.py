"""DVC stage ``evaluate``: test metrics, baselines, oracle, plots, registration, promotion.

On the test snapshot (out of time, see :mod:`models.labels`):

* defection: the calibrated model against the recency heuristic, a logistic
  regression on RFM and BG/NBD (each fitted on the training snapshots), and,
  on simulator data, the oracle (the true probability from the ground truth);
  the paired bootstrap interval of the AUC difference to the best baseline, and
  the share of the baseline-to-oracle gap the model closes;
* the ablation: the same model on purchase features only;
* transitions against the empirical Markov matrix; value (spend) errors.

Writes ``reports/metrics.json`` (DVC metrics), ``reports/plots/*.csv`` (DVC
plots) and ``reports/promotion.json``; logs all of it to the training run,
registers the model bundle with the alias ``challenger`` and moves
``champion`` to it when the promotion rule says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.spec import feature_table
from models.actions import ActionPolicy
from models.baselines import (
    MarkovTransitionBaseline,
    RecencyHeuristic,
    rfm_logistic,
)
from models.bgnbd_features import BGNBDBaseline
from models.comparison import gap_closed, paired_bootstrap_auc_diff
from models.curves import curves
from models.fitted import load_fitted, predict_all
from models.lgbm import predict_defection
from models.metrics import (
    defection_metrics,
    per_group_metrics,
    transition_metrics,
    value_metrics,
)
from models.promotion import PromotionRule, decide
from models.risk import RiskBands
from models.scorer import Scorer
from models.stages import STAGES
from models.value_tiers import ValueTiers
from pipeline import tracking
from pipeline.config import PATHS, Params, Paths, load_params
from pipeline.features import feature_spec
from pipeline.io import atomic_path, write_json
from pipeline.labels import stage_rules
from pipeline.reports import write_training_report
from pipeline.train import load_training_frame

log = logging.getLogger("churn")

#: Tag of a registered version: the digest of its fitted model files.
MODELS_DIGEST_TAG = "models_digest"


def _oracle(paths: Paths, rows: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true defection probability for ``rows``, when the truth exists."""
    if not paths.ground_truth.exists():
        return None
    truth = pd.read_parquet(paths.ground_truth, columns=["customer_id", "month", "p_defect"])
    truth["cutoff"] = pd.to_datetime(truth["month"]).dt.date
    keys = rows[["customer_id", "cutoff"]].assign(cutoff=pd.to_datetime(rows["cutoff"]).dt.date)
    joined = keys.merge(truth[["customer_id", "cutoff", "p_defect"]], how="left",
                        on=["customer_id", "cutoff"])
    if joined["p_defect"].isna().any():
        return None  # the test cutoff is not a month start: no truth to compare with
    return joined["p_defect"].to_numpy()


def evaluate(frame: pd.DataFrame, fitted: dict[str, Any], params: Params,
             oracle: Any = None) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Every test figure: a JSON-ready dict of metrics and the plot tables."""
    horizon = params.labels.horizon_days
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
    seed, n_boot = params.evaluate.seed, params.evaluate.bootstrap_samples
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
    booster = fitted["defection"].booster
    plots["feature_importance"] = (pd.DataFrame({
        "feature": booster.feature_name(),
        "gain": booster.feature_importance(importance_type="gain")})
        .sort_values("gain", ascending=False).head(25))
    plots["ablation"] = pd.DataFrame({
        "model": ["rfm_only", "rfm_and_interactions"],
        "roc_auc": [metrics["ablation"][m]["roc_auc"]
                    for m in ("rfm_only", "rfm_and_interactions")]})
    return metrics, plots


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalar metrics as MLflow keys (``test_defection_roc_auc`` ...)."""
    out: dict[str, float] = {}
    d = metrics["defection"]
    for who in ("model", "recency", "rfm_logistic", "bgnbd", "oracle"):
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


def build_scorer(fitted: dict[str, Any], params: Params, reference: pd.DataFrame) -> Scorer:
    """The scorer bundle: the fitted models with the stage rules, risk bands, value
    tiers and action policy of params, frozen on the ``reference`` rows (the test
    snapshot: its predicted values fix the value-tier amounts and its features the
    drift reference)."""
    spec = feature_spec(params)
    schema = feature_table(spec).dtypes
    s = params.score
    return Scorer.build(
        fitted,
        feature_schema=schema,
        reference=reference[list(schema)],
        stage_rules=stage_rules(params),
        risk_bands=RiskBands(**s.risk_bands.model_dump()),
        value_tiers=ValueTiers(method=s.value_tiers.method, cuts=s.value_tiers.cuts),
        rank_prospects_separately=s.value_tiers.rank_prospects_separately,
        policy=ActionPolicy.from_rules([rule.model_dump() for rule in s.policy]),
        horizon_days=params.labels.horizon_days,
        satisfaction_scale=params.data.satisfaction_range[1],
        reason_method=s.reason_method,
        drift_bins=s.drift.bins,
    )


def models_digest(folder: Path) -> str:
    """SHA-256 over the fitted model files (names and contents): equal digests, equal models."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _promote(params: Params, run_id: str, version: str, challenger: dict[str, float],
             digest: str) -> dict[str, Any]:
    name = params.train.registered_model
    p = params.evaluate.promotion
    rule = PromotionRule(metric=p.metric, min_improvement=p.min_improvement,
                         guard_metric=p.guard_metric, guard_tolerance=p.guard_tolerance)
    champion_version = tracking.alias_version(name, tracking.CHAMPION)
    champion = (tracking.run_metrics_of_version(name, champion_version)
                if champion_version else None)
    same = (champion_version is not None
            and tracking.version_tag(name, champion_version, MODELS_DIGEST_TAG) == digest)
    tracking.set_version_tag(name, version, MODELS_DIGEST_TAG, digest)
    decision = decide(challenger, champion, rule, same_models=same)
    tracking.set_alias(name, tracking.CHALLENGER, version)
    if decision.promote:
        tracking.set_alias(name, tracking.CHAMPION, version)
    return {"registered_model": name, "version": version, "run_id": run_id,
            "previous_champion": champion_version, "promoted": decision.promote,
            "reason": decision.reason, "challenger": decision.challenger,
            "champion": decision.champion, "rule": params.evaluate.promotion.model_dump()}


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Evaluate on the test snapshot, register the bundle, apply the promotion rule."""
    params = params or load_params()
    paths = paths or PATHS
    # An unreachable tracking store fails the stage now, not after the work.
    tracking.configure(params)
    frame = load_training_frame(paths)
    fitted = load_fitted(paths.models)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    metrics, plots = evaluate(frame, fitted, params, oracle=_oracle(paths, test))
    write_json(metrics, paths.metrics)
    with atomic_path(paths.plots, directory=True) as tmp:
        for name, table in plots.items():
            table.to_csv(Path(tmp) / f"{name}.csv", index=False)

    run_id = json.loads(paths.train_report.read_text())["mlflow"]["run_id"]
    flat = flat_metrics(metrics)
    tracking.log_evaluation(params, run_id, flat, [paths.metrics, paths.plots])
    scorer = build_scorer(fitted, params, test)
    with atomic_path(paths.scorer, directory=True) as tmp:
        scorer.save(tmp)
    example = test[list(scorer.feature_schema)].head(50)
    # Integer features that can be null (RFM scores of prospects) are doubles in the
    # signature: the test snapshot shows which.
    reference = test[list(scorer.feature_schema)]
    inputs = tracking.input_schema(scorer.feature_schema,
                                   nullable=[c for c in reference if reference[c].isna().any()])
    version = tracking.log_and_register_scorer(params, run_id, paths.scorer, inputs, example,
                                               scorer.score(example))
    promotion = _promote(params, run_id, version, flat, models_digest(paths.models))
    write_json(promotion, paths.reports / "promotion.json")
    # The page shows the promotion decision, so it comes last; it joins the run's plots.
    tracking.log_evaluation(params, run_id, {}, [write_training_report(paths)])
    d = metrics["defection"]
    log.info("evaluate: defection AUC %.4f (best baseline %s %.4f), version %s %s",
             d["model"]["roc_auc"], d["vs_best_baseline"]["baseline"],
             d[d["vs_best_baseline"]["baseline"]]["roc_auc"], version,
             "promoted to champion" if promotion["promoted"] else "stays challenger")
    return metrics


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
