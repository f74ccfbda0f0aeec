"""Does the choice of contacts pay? Profit curves of contact policies, and their profit at
the budget.

A policy is an ordered list of (customer, action): whom to contact first, with what.
On the test snapshot, five policies are compared:

* ``costed``: the scorer's own decisions (the action of highest expected net value,
  :func:`models.economics.decide`) in the order of :func:`models.contacts.plan_contacts`;
* ``rules``: every customer whose rule-table action spends, by value at risk
  (prospects, who have none, last, by predicted value);
* ``top_p_defect`` and ``top_value_at_risk``: the buyers by defection probability or by
  value at risk, each with the retention action of its stage (``regain`` for the
  lost, ``protect`` for the others);
* ``oracle`` (on simulator data only): every customer's best action by its true
  effect, by true net value, where it pays.

Every policy is cut by the same budget (:func:`models.contacts.within_budget`, in its own
order). Its **true** incremental profit uses the simulator's truth (the true defection
probability, spend and effect of each row, ``features.schema.GROUND_TRUTH``) with the
costs and margin of the economics; its **expected** profit uses the model's own
estimates (what a business without the truth sees). The difference of two policies'
true profits gets a bootstrap interval over customers.

Pure functions of frames and arrays; the evaluate stage passes the scored test rows and
the truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.contacts import Budget, plan_contacts, within_budget
from models.economics import SPEND_ACTIONS, Economics, action_values

__all__ = ["POLICIES", "evaluate_policies", "true_values"]

#: The policies compared, in the order of the reports.
POLICIES: tuple[str, ...] = ("costed", "rules", "top_p_defect", "top_value_at_risk", "oracle")

#: Points per policy in the profit-curve table.
_CURVE_POINTS = 200


def true_values(economics: Economics, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """True net value and cost of every costed action for every row of ``truth``
    (``p_defect``, ``expected_spend`` and ``effect_<action>``; the true effects in place
    of the priors): :func:`models.economics.action_values` on the truth."""
    p = truth["p_defect"].to_numpy(dtype=np.float64)
    spend = truth["expected_spend"].to_numpy(dtype=np.float64)
    prospect = ~truth["is_buyer"].to_numpy(dtype=bool)
    p = np.where(prospect, np.nan, p)
    effects = {a: truth[f"effect_{a}"].to_numpy(dtype=np.float64) for a in SPEND_ACTIONS}
    return action_values(economics, p, spend, effects)


def _retention_action(stage: np.ndarray) -> np.ndarray:
    return np.where(stage == "lost", "regain", "protect").astype(object)


def _policies(scored: pd.DataFrame, rule_action: np.ndarray, budget: Budget,
              oracle: tuple[np.ndarray, np.ndarray] | None
              ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Policy -> (rows in order, their actions), before the budget."""
    stage = scored["stage"].astype(str).to_numpy()
    buyer = stage != "prospect"
    var = scored["value_at_risk"].to_numpy(dtype=np.float64)
    ids = scored["customer_id"].astype(str).to_numpy()

    def by(key: np.ndarray, rows: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame({"key": key[rows], "id": ids[rows]})
        return rows[frame.sort_values(["key", "id"], ascending=[False, True],
                                      kind="stable").index.to_numpy()]

    action = scored["action"].astype(str).to_numpy(dtype=object)
    plan = plan_contacts(ids, action, scored["expected_net_value"], scored["action_cost"],
                         Budget())
    costed = np.flatnonzero(plan.contacted)
    costed = costed[np.argsort(plan.rank[costed])]
    out = {"costed": (costed, action[costed])}
    spends = np.flatnonzero(np.isin(rule_action, SPEND_ACTIONS))
    key = np.where(buyer, np.nan_to_num(var), -1e12 + scored["predicted_value"].to_numpy())
    rules = by(key, spends)
    out["rules"] = (rules, rule_action[rules])
    buyers = np.flatnonzero(buyer)
    for name, column in (("top_p_defect", "p_defect"), ("top_value_at_risk", "value_at_risk")):
        rows = by(scored[column].to_numpy(dtype=np.float64), buyers)
        out[name] = (rows, _retention_action(stage[rows]))
    if oracle is not None:
        net, _ = oracle
        best = np.where(np.isfinite(net), net, -np.inf)
        j = best.argmax(axis=1)
        value = best[np.arange(len(best)), j]
        rows = by(value, np.flatnonzero(value > 0))
        out["oracle"] = (rows, np.asarray(SPEND_ACTIONS, dtype=object)[j[rows]])
    return out


def evaluate_policies(scored: pd.DataFrame, rule_action: Any, economics: Economics,
                      budget: Budget, *, allowed: dict[str, Any],
                      truth: pd.DataFrame | None = None, bootstrap_samples: int = 1000,
                      seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """Profit of every policy at the budget, and the profit curves.

    Parameters
    ----------
    scored
        The scorer's rows of the test snapshot (before the budget): ``customer_id``,
        ``stage``, ``p_defect``, ``predicted_value``, ``value_at_risk``, ``action``,
        ``expected_net_value``, ``action_cost``.
    rule_action
        The rule table's action of each row.
    economics, budget
        The costs, priors and margin; the budget every policy is cut by.
    allowed
        Stage -> the actions it allows (the oracle chooses among them).
    truth
        The simulator's truth of each row (``is_buyer``, ``p_defect``,
        ``expected_spend``, ``effect_<action>``), or None.
    bootstrap_samples, seed
        The bootstrap of the differences of true profit.

    Returns
    -------
    metrics : dict
        Per policy: ``contacts``, ``expected_profit`` and (with the truth)
        ``true_profit`` at the budget; with the truth, ``oracle_share`` (the costed
        policy's true profit over the oracle's) and ``costed_vs_<policy>`` (the
        difference of true profit with its bootstrap interval).
    curves : pandas.DataFrame
        ``contacts`` and one column per policy: the true profit (with the truth; else
        the expected profit) of its first ``contacts`` contacts, on a grid up to the
        longest policy (a policy's profit stays flat past its last contact).
    """
    stage = scored["stage"].astype(str).to_numpy()
    rule_action = np.asarray(rule_action, dtype=object)
    model_net, model_cost = action_values(economics, scored["p_defect"],
                                          scored["predicted_value"])
    oracle = true_all = None
    if truth is not None:
        # A policy is charged what its contacts truly return, whatever the stage allows;
        # the oracle chooses among the actions the stage allows.
        true_all, true_cost = true_values(economics, truth)
        ok = np.array([[a in allowed[s] for a in SPEND_ACTIONS] for s in stage], dtype=bool)
        oracle = (np.where(ok, true_all, np.nan), true_cost)
    column = {a: j for j, a in enumerate(SPEND_ACTIONS)}
    metrics: dict[str, Any] = {"budget": budget.model_dump(), "policies": {}}
    per_row: dict[str, np.ndarray] = {}
    cumulative: dict[str, np.ndarray] = {}
    for name, (rows, acts) in _policies(scored, rule_action, budget, oracle).items():
        j = np.array([column[a] for a in acts], dtype=np.int64)
        exp_net = np.nan_to_num(model_net[rows, j])
        cost = np.nan_to_num(model_cost[rows, j])
        keep = within_budget(acts, cost, budget)
        got: dict[str, Any] = {"contacts": int(keep.sum()),
                               "expected_profit": round(float(exp_net[keep].sum()), 2)}
        true_net = None
        if true_all is not None:
            true_net = np.nan_to_num(true_all[rows, j])
            got["true_profit"] = round(float(true_net[keep].sum()), 2)
            mine = np.zeros(len(scored))
            mine[rows[keep]] = true_net[keep]
            per_row[name] = mine
        metrics["policies"][name] = got
        shown = true_net if true_net is not None else exp_net
        cumulative[name] = np.concatenate([[0.0], np.cumsum(shown)])
    if oracle is not None:
        best = metrics["policies"]["oracle"]["true_profit"]
        costed = metrics["policies"]["costed"]["true_profit"]
        metrics["oracle_share"] = round(costed / best, 4) if best > 0 else None
        rng = np.random.default_rng(seed)
        for other in ("rules", "top_p_defect", "top_value_at_risk"):
            diff = per_row["costed"] - per_row[other]
            samples = np.array([diff[rng.integers(0, diff.size, diff.size)].sum()
                                for _ in range(bootstrap_samples)])
            low, high = np.quantile(samples, [0.025, 0.975])
            metrics[f"costed_vs_{other}"] = {"diff": round(float(diff.sum()), 2),
                                             "ci_low": round(float(low), 2),
                                             "ci_high": round(float(high), 2)}
    longest = max(len(c) for c in cumulative.values()) - 1
    grid = np.unique(np.linspace(0, longest, min(_CURVE_POINTS, longest + 1)).astype(np.int64))
    curves = pd.DataFrame({"contacts": grid, **{
        name: c[np.minimum(grid, len(c) - 1)].round(2) for name, c in cumulative.items()}})
    return metrics, curves
