"""Promotion: a better challenger is promoted, a worse one is not."""

from __future__ import annotations

import pytest

from models.promotion import PromotionRule, decide

RULE = PromotionRule(metric="roc_auc", min_improvement=0.0, guard_metric="log_loss",
                     guard_tolerance=0.005)


def m(auc: float, ll: float) -> dict[str, float]:
    return {"test_defection_roc_auc": auc, "test_defection_log_loss": ll}


def test_first_model_is_promoted():
    assert decide(m(0.7, 0.6), None, RULE).promote


def test_better_challenger_is_promoted():
    d = decide(m(0.80, 0.50), m(0.78, 0.51), RULE)
    assert d.promote and "0.8000 vs champion 0.7800" in d.reason


def test_worse_or_equal_challenger_is_not():
    assert not decide(m(0.77, 0.50), m(0.78, 0.51), RULE).promote
    assert not decide(m(0.78, 0.50), m(0.78, 0.51), RULE).promote


def test_guard_metric_blocks_a_badly_calibrated_challenger():
    d = decide(m(0.80, 0.52), m(0.78, 0.51), RULE)
    assert not d.promote and "log_loss" in d.reason
    assert decide(m(0.80, 0.514), m(0.78, 0.51), RULE).promote  # within tolerance


def test_minimum_improvement():
    rule = PromotionRule(min_improvement=0.01)
    assert not decide(m(0.785, 0.5), m(0.78, 0.5), rule).promote
    assert decide(m(0.795, 0.5), m(0.78, 0.5), rule).promote


def test_lower_is_better_metric_as_the_main_one():
    # The rule takes an AUC as its main metric (below); decide() reads either metric in
    # its own direction, which a rule built without the checks shows.
    rule = PromotionRule.model_construct(metric="log_loss", guard_metric="ece")
    new = {"test_defection_log_loss": 0.40, "test_defection_ece": 0.01}
    old = {"test_defection_log_loss": 0.45, "test_defection_ece": 0.01}
    assert decide(new, old, rule).promote
    assert not decide(old, new, rule).promote


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "log_loss"}, r"metric\n  Input should be 'roc_auc' or 'pr_auc' "),
    ({"guard_metric": "roc_auc"}, r"guard_metric\n  Input should be 'log_loss', 'brier' or 'ece' "),
    ({"min_improvement": -0.01}, r"min_improvement\n  Input should be greater than or equal to 0 "),
    ({"guard_tolerance": True}, r"guard_tolerance\n  Input should be a valid number "),
    ({"guard_tolerence": 0.01}, r"guard_tolerence\n  Extra inputs are not permitted"),
])
def test_invalid_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PromotionRule(**kwargs)


def test_champion_without_metrics_is_replaced_and_missing_challenger_metric_raises():
    assert decide(m(0.7, 0.6), {"other": 1.0}, RULE).promote
    with pytest.raises(ValueError, match="no metric"):
        decide({"test_defection_roc_auc": 0.7}, None, RULE)


def test_same_models_are_promoted_whatever_the_metrics():
    champion = {"test_defection_roc_auc": 0.80, "test_defection_log_loss": 0.40}
    rule = PromotionRule()
    assert not decide(champion, champion, rule).promote  # no improvement
    decision = decide(champion, champion, rule, same_models=True)
    assert decision.promote and "same fitted models" in decision.reason
    assert decision.champion == champion


def test_a_challenger_that_loses_to_the_best_baseline_beyond_noise_is_refused():
    worse = {"test_defection_roc_auc": 0.80, "test_defection_log_loss": 0.40,
             "test_auc_vs_best_baseline_diff": -0.02,
             "test_auc_vs_best_baseline_ci_low": -0.03,
             "test_auc_vs_best_baseline_ci_high": -0.001}
    rule = PromotionRule()
    champion = {"test_defection_roc_auc": 0.70, "test_defection_log_loss": 0.5}
    decision = decide(worse, champion, rule)
    assert not decision.promote
    assert decision.reason.startswith("loses to the best baseline beyond sampling noise: "
                                      "AUC difference -0.0200 [-0.0300, -0.0010]")
    # Without a champion nothing else could score: promoted, saying that it loses.
    first = decide(worse, None, rule)
    assert first.promote and first.reason == (
        "no champion yet, promoted although it loses to the best baseline beyond sampling "
        "noise: AUC difference -0.0200 [-0.0300, -0.0010]")
    # Within the noise it is compared as usual; a parameter can allow the loss.
    assert decide({**worse, "test_auc_vs_best_baseline_ci_high": 0.001}, None, rule).promote
    assert decide(worse, champion, PromotionRule(allow_worse_than_baseline=True)).promote


def test_a_champion_that_reads_other_features_is_replaced_whatever_the_metrics():
    # The champion scored higher on its own data, but cannot score the features built now.
    decision = decide(m(0.77, 0.55), m(0.80, 0.50), RULE, other_features=True)
    assert decision.promote and "reads other features" in decision.reason
    assert decision.champion == m(0.80, 0.50)
    assert not decide(m(0.77, 0.55), m(0.80, 0.50), RULE, other_features=False).promote
