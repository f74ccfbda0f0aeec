"""Whether a newly trained model (the challenger) replaces the champion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat

#: The upper end of the paired bootstrap interval of the AUC difference to the best
#: baseline, among the challenger's test metrics.
BASELINE_GAP_HIGH = "test_auc_vs_best_baseline_ci_high"

#: Metrics where lower is better; the others (AUCs) are better higher.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})


class PromotionRule(BaseModel):
    """Promote when ``metric`` improves by at least ``min_improvement`` and
    ``guard_metric`` does not get worse by more than ``guard_tolerance``.

    Both are read from the defection model's test metrics, named
    ``test_defection_<metric>``: a discrimination metric (an AUC) decides, a
    calibration metric guards. Before any comparison with the champion, a
    challenger that loses to the best baseline beyond sampling noise (the upper
    end of the paired bootstrap interval of its AUC difference,
    ``test_auc_vs_best_baseline_ci_high``, below 0) is refused while there is a
    champion to keep, unless ``allow_worse_than_baseline``; without a champion it is
    promoted (nothing else could score) and the decision says that it loses. The
    declaration of ``evaluate.promotion`` in ``params.yaml``; ``min_improvement`` and
    ``guard_tolerance`` are at least 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    min_improvement: StrictFloat = Field(default=0.0, ge=0)
    guard_metric: Literal["log_loss", "brier", "ece"] = "log_loss"
    guard_tolerance: StrictFloat = Field(default=0.005, ge=0)
    allow_worse_than_baseline: StrictBool = False


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None


def _key(metric: str) -> str:
    return f"test_defection_{metric}"


def _gain(metric: str, new: float, old: float) -> float:
    """Improvement of ``new`` over ``old`` (positive is better, whatever the metric)."""
    return old - new if metric in LOWER_IS_BETTER else new - old


def decide(challenger: Mapping[str, float], champion: Mapping[str, float] | None,
           rule: PromotionRule, *, same_models: bool = False,
           other_features: bool = False) -> Decision:
    """Apply ``rule`` to the test metrics of the challenger and of the champion.

    Without a champion (first model, or a champion without the metrics) the
    challenger is promoted. With ``same_models`` (the challenger's fitted models
    are byte for byte the champion's: only the decisions bundled with them, such
    as the action policy or the risk bands, may differ) the challenger is
    promoted: its metrics are the champion's, and its decisions are the newer
    ones asked for. With ``other_features`` (the champion reads other feature columns
    than the challenger: the params or the inputs changed what the features are) the
    champion cannot score the features built now, and the challenger is promoted as if
    there were no champion.
    """
    keys = (_key(rule.metric), _key(rule.guard_metric))
    missing = [k for k in keys if k not in challenger]
    if missing:
        raise ValueError(f"the challenger's run has no metric {missing}")
    new = {k: float(challenger[k]) for k in keys}
    if champion is not None and other_features:
        return Decision(True, "the champion reads other features than these params build "
                        "and cannot score them: the challenger replaces it (its metrics are "
                        "not compared, they come from other data)", new,
                        {k: float(champion[k]) for k in keys if k in champion})
    high = challenger.get(BASELINE_GAP_HIGH)
    loses = high is not None and float(high) < 0 and not rule.allow_worse_than_baseline
    if loses:
        diff = challenger.get("test_auc_vs_best_baseline_diff", float("nan"))
        low = challenger.get("test_auc_vs_best_baseline_ci_low", float("nan"))
        loss = (f"loses to the best baseline beyond sampling noise: AUC difference "
                f"{diff:+.4f} [{low:+.4f}, {float(high):+.4f}]")
        if champion is not None:
            return Decision(False, f"{loss} (set evaluate.promotion.allow_worse_than_baseline "
                            "to promote it anyway)", new,
                            {k: float(champion[k]) for k in keys if k in champion})
        # Nothing else could score: promoted, and said so.
        return Decision(True, f"no champion yet, promoted although it {loss}", new, None)
    if champion is None or any(k not in champion for k in keys):
        return Decision(True, "no champion with comparable test metrics yet", new, None)
    old = {k: float(champion[k]) for k in keys}
    if same_models:
        return Decision(True, "same fitted models as the champion: only the bundled decisions "
                        "(stage rules, risk bands, value tiers, action policy) may differ, and "
                        "the newer ones are promoted", new, old)
    gain = _gain(rule.metric, new[keys[0]], old[keys[0]])
    guard = _gain(rule.guard_metric, new[keys[1]], old[keys[1]])
    if gain <= rule.min_improvement:
        return Decision(False, f"{rule.metric} {new[keys[0]]:.4f} vs champion "
                        f"{old[keys[0]]:.4f}: improvement {gain:+.4f} is not above "
                        f"{rule.min_improvement}", new, old)
    if guard < -rule.guard_tolerance:
        return Decision(False, f"{rule.guard_metric} {new[keys[1]]:.4f} vs champion "
                        f"{old[keys[1]]:.4f}: worse by {-guard:.4f}, more than "
                        f"{rule.guard_tolerance}", new, old)
    return Decision(True, f"{rule.metric} {new[keys[0]]:.4f} vs champion {old[keys[0]]:.4f} "
                    f"({gain:+.4f}); {rule.guard_metric} {new[keys[1]]:.4f} vs "
                    f"{old[keys[1]]:.4f}", new, old)
