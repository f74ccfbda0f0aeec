"""DVC stage ``evaluate``: test figures, plots, registration and promotion.

Runs the evaluation recipe (:func:`models.evaluate.evaluate`: the model against the
recency heuristic, a logistic regression on RFM and BG/NBD, the simulator's oracle
when its truth exists, the ablation, transitions and value) on the test snapshot,
and writes ``reports/evaluation.json`` (every figure), ``reports/metrics.json`` (the
headline figures DVC shows), ``reports/plots/*.csv`` (DVC plots) and
``reports/promotion.json``; logs all of it to the training run, registers the scorer
bundle with the alias ``challenger`` and moves ``champion`` to it when the promotion
rule says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from features.errors import InputError
from models.evaluate import evaluate, flat_metrics, headline_metrics
from models.feature_schema import schema_digest
from models.fitted import _design, load_fitted, models_digest
from models.profit import evaluate_policies
from models.promotion import decide
from models.uplift import contact_rows, describe, sources
from models.uplift_checks import empty_curves, gate, validate_effects
from pipeline import tracking
from pipeline.config import load_params
from pipeline.datasets import load_contacts, load_training_frame, oracle, truth_of
from pipeline.io import atomic_path, write_json
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.reports import write_training_report
from pipeline.runner import run_stage
from pipeline.wiring.models import promotion_rule
from pipeline.wiring.scorer import scorer

log = logging.getLogger("churn")


#: Tag of a registered version: the digest of its fitted model files
#: (:func:`models.fitted.models_digest`).
MODELS_DIGEST_TAG = "models_digest"
#: The model version tag with the digest of the feature columns its models read.
FEATURES_DIGEST_TAG = "feature_schema_digest"


def promote(params: Params, run_id: str, version: str, challenger: dict[str, float],
            digest: str, features_digest: str) -> dict[str, Any]:
    """Apply the promotion rule of params to a newly registered version: tag it with its
    models' digest and its features' digest, give it the ``challenger`` alias, and the
    ``champion`` alias when :func:`models.promotion.decide` says so (a champion that
    reads other features than these params build cannot score them). Returns the
    decision as written to ``reports/promotion.json``."""
    name = params.train.registered_model
    champion_version = tracking.alias_version(name, tracking.CHAMPION)
    champion = (tracking.run_metrics_of_version(name, champion_version)
                if champion_version else None)
    same = (champion_version is not None
            and tracking.version_tag(name, champion_version, MODELS_DIGEST_TAG) == digest)
    champion_features = (tracking.version_tag(name, champion_version, FEATURES_DIGEST_TAG)
                         if champion_version else None)
    tracking.set_version_tag(name, version, MODELS_DIGEST_TAG, digest)
    tracking.set_version_tag(name, version, FEATURES_DIGEST_TAG, features_digest)
    decision = decide(challenger, champion, promotion_rule(params), same_models=same,
                      other_features=champion_features not in (None, features_digest))
    tracking.set_alias(name, tracking.CHALLENGER, version)
    if decision.promote:
        tracking.set_alias(name, tracking.CHAMPION, version)
    return {"registered_model": name, "version": version, "run_id": run_id,
            "previous_champion": champion_version, "promoted": decision.promote,
            "reason": decision.reason, "challenger": decision.challenger,
            "champion": decision.champion, "rule": params.evaluate.promotion.model_dump()}


def profit_of_contacts(params: Params, paths: Paths, fitted: dict[str, Any],
                       test: Any) -> tuple[dict[str, Any], Any]:
    """The contact policies on the test snapshot (:func:`models.profit.evaluate_policies`),
    with the decisions of params frozen on the models that have not seen it, at the
    budget of ``score.budget``; true profits where the simulator's truth covers it."""
    tested = scorer(fitted, params, test)
    scored = tested.score(test[list(tested.feature_schema)])
    d = tested.decisions
    rule_action, _ = d.policy.apply(scored["stage"], scored["risk_label"], scored["value_tier"])
    truth = truth_of(paths, test)
    profit, curves = evaluate_policies(
        scored, rule_action, d.economics, params.score.budget,
        allowed=d.policy.actions_by_stage(), truth=truth,
        bootstrap_samples=params.evaluate.bootstrap_samples, seed=params.evaluate.seed)
    profit["effects"] = describe(fitted.get("effects"), d.economics)
    profit["measured"] = "true (simulator)" if truth is not None else "expected (model)"
    return profit, curves


def effects_on_test(params: Params, paths: Paths, fitted: dict[str, Any],
                    test: Any) -> tuple[dict[str, Any], Any]:
    """The learned effects of the held-out models on the contacts of the test snapshot
    (:func:`models.uplift_checks.validate_effects`: Qini, uplift at 30%, observed and predicted
    effect per action), with where each action's effect comes from."""
    economics = params.score.economics
    learned = fitted.get("effects")
    report: dict[str, Any] = {"effects": describe(learned, economics),
                              "sources": sources(learned, economics), "actions": {}}
    rows = test.join(contact_rows(test, load_contacts(paths),
                                  within_days=params.train.effects.contact_within_days))
    rows = rows[rows["contact_action"].notna().to_numpy()]
    if learned is None or rows.empty:
        return report, empty_curves()
    _, X = _design(fitted, rows, params.labels.horizon_days)
    X.index = rows.index
    report["actions"], curves = validate_effects(learned, X, rows, economics)
    return report, curves


def headline_effects(effects: dict[str, Any]) -> dict[str, float | None]:
    """The Qini coefficient and uplift at 30% of every learned action on the test
    snapshot's contacts."""
    out: dict[str, float | None] = {}
    for action, got in effects["actions"].items():
        out[f"{action}_qini"] = got["qini"]
        out[f"{action}_uplift_at_30"] = got.get("uplift_at_30")
    return out


def headline_profit(profit: dict[str, Any]) -> dict[str, float | None]:
    """Profit at the budget per policy (true where the truth exists), the share of the
    oracle's the costed policy reaches, and the lower ends of its bootstrap intervals
    against the rule table and the top by p_defect."""
    key = "true_profit" if "oracle_share" in profit else "expected_profit"
    out: dict[str, float | None] = {f"{name}_at_budget": got[key]
                                    for name, got in profit["policies"].items()}
    if "oracle_share" in profit:
        out["oracle_share"] = profit["oracle_share"]
        for other in ("rules", "top_p_defect"):
            out[f"vs_{other}_ci_low"] = profit[f"costed_vs_{other}"]["ci_low"]
    return out


log = logging.getLogger("churn")


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Evaluate on the test snapshot, register the bundle, apply the promotion rule;
    return every test figure (as written to ``reports/evaluation.json``)."""
    params = params or load_params()
    paths = paths or PATHS
    # An unreachable tracking store fails the stage now, not after the work.
    tracking.configure(params)
    if not paths.train_report.exists():
        raise InputError(f"{paths.train_report} is missing: run `churn train` (or `dvc repro "
                         "train`) first")
    run_id = json.loads(paths.train_report.read_text())["mlflow"]["run_id"]
    tracking.check_training_run(run_id)
    frame = load_training_frame(paths)
    fitted = load_fitted(paths.models)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    metrics, plots = evaluate(frame, fitted, horizon_days=params.labels.horizon_days,
                              bootstrap_samples=params.evaluate.bootstrap_samples,
                              seed=params.evaluate.seed, oracle=oracle(paths, test))
    metrics["effects"], plots["qini_curves"] = effects_on_test(params, paths, fitted, test)
    # A learned effect decides only where it orders the test snapshot's contacts better
    # than chance; the others keep their priors, in the policies compared and in the
    # scorer registered.
    fitted = gate(fitted, metrics["effects"]["actions"])
    metrics["effects"]["used"] = describe(fitted.get("effects"), params.score.economics)
    metrics["profit"], plots["profit_curves"] = profit_of_contacts(params, paths, fitted, test)
    write_json(metrics, paths.evaluation)
    write_json(headline_metrics(metrics) | {"profit": headline_profit(metrics["profit"]),
                                            "effects": headline_effects(metrics["effects"])},
               paths.metrics)
    with atomic_path(paths.plots, directory=True) as tmp:
        for name, table in plots.items():
            table.to_csv(Path(tmp) / f"{name}.csv", index=False)

    flat = flat_metrics(metrics) | {f"test_profit_{k}": v for k, v in
                                    headline_profit(metrics["profit"]).items() if v is not None}
    flat |= {f"test_effect_{k}": v for k, v in headline_effects(metrics["effects"]).items()
             if v is not None}
    tracking.log_evaluation(params, run_id, flat, [paths.evaluation, paths.metrics, paths.plots])
    # What scores: the models refitted on every labelled cutoff (older outputs have none).
    deployed = gate(load_fitted(paths.deployed_models) if paths.deployed_models.exists()
                    else fitted, metrics["effects"]["actions"])
    bundle = scorer(deployed, params, test)
    with atomic_path(paths.scorer, directory=True) as tmp:
        bundle.save(tmp)
    example = test[list(bundle.feature_schema)].head(50)
    # Integer features that can be null (RFM scores of prospects) are doubles in the
    # signature: the test snapshot shows which.
    reference = test[list(bundle.feature_schema)]
    inputs = tracking.input_schema(bundle.feature_schema,
                                   nullable=[c for c in reference if reference[c].isna().any()])
    version = tracking.log_and_register_scorer(params, run_id, paths.scorer, inputs, example,
                                               bundle.score(example))
    promotion = promote(params, run_id, version, flat, models_digest(paths.models),
                        schema_digest(bundle.feature_schema))
    write_json(promotion, paths.promotion)
    # The page shows the promotion decision, so it comes last; it joins the run's plots.
    tracking.log_evaluation(params, run_id, {}, [write_training_report(paths)])
    d = metrics["defection"]
    log.info("evaluate: defection AUC %.4f (best baseline %s %.4f), version %s %s",
             d["model"]["roc_auc"], d["vs_best_baseline"]["baseline"],
             d[d["vs_best_baseline"]["baseline"]]["roc_auc"], version,
             "promoted to champion" if promotion["promoted"] else "stays challenger")
    return metrics


if __name__ == "__main__":
    run_stage(main)
