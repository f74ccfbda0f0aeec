"""How much of the oracle's profit could a costed policy reach, knowing what?

On the test snapshot of a project trained on the demo simulator (``make run``), the
costed policy decides by expected net value (:func:`models.economics.decide`) from a
defection probability, a spend and an effect per action. The oracle decides with the
simulator's truth of all three, per customer. This benchmark gives the costed policy
more and more of the truth, and prints the true incremental profit it then reaches at
the default budget (``score.budget``), as a share of the oracle's:

* ``scored``: as the evaluate stage scores the snapshot (the effects it kept; this is
  ``metrics.json``'s ``profit.costed_at_budget``);
* ``true p and spend``: the true probability and spend, the same effects;
* ``segment x stage means``: each action's true effect averaged over the customers of
  the same estimated segment (the customer table's ``segment``) and stage, the finest
  heterogeneity the company's own data describe: what a perfect effect model of those
  inputs would know;
* ``+ type of the contacted``: the same, and for every customer with a treated
  retention contact before the snapshot the true mean effect of its response type
  (persuadable, unmoved, sleeping dog), as if one past contact revealed the type
  without error: a generous bound on learning from the contact history;
* ``response type means``: every customer's type known, not its own spread;
* ``true effects``: every customer's own effect, with the model's probability and spend.

Each row is an upper bound on what an effect learner could reach from that information,
with everything else as scored. Nothing is fitted here.

    make run && python bench/profit_ceiling.py --project .
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# bench/features.py is named like the `features` package: keep this folder off sys.path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from models.economics import SPEND_ACTIONS, decide  # noqa: E402
from models.fitted import _design, load_fitted  # noqa: E402
from models.profit import evaluate_policies  # noqa: E402
from models.uplift_checks import gate  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.datasets import load_contacts, load_training_frame, truth_of  # noqa: E402
from pipeline.paths import Paths  # noqa: E402
from pipeline.wiring.scorer import scorer  # noqa: E402


def _group_means(truth: pd.DataFrame, key: np.ndarray) -> dict[str, np.ndarray]:
    return {a: truth.groupby(key)[f"effect_{a}"].transform("mean").to_numpy(dtype=float)
            for a in SPEND_ACTIONS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    args = parser.parse_args()
    paths = Paths(args.project)
    params = load_params(args.project / "params.yaml")
    frame = load_training_frame(paths)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    truth = truth_of(paths, test)
    if truth is None:
        raise SystemExit("no simulator truth covers the test snapshot: this benchmark needs "
                         "the demo's data (make run)")
    evaluation = json.loads(paths.evaluation.read_text())
    fitted = gate(load_fitted(paths.models), evaluation["effects"]["actions"])
    bundle = scorer(fitted, params, test)
    scored = bundle.score(test[list(bundle.feature_schema)])
    d = bundle.decisions
    rule_action, _ = d.policy.apply(scored["stage"], scored["risk_label"], scored["value_tier"])
    allowed = d.policy.actions_by_stage()

    p_model = scored["p_defect"].to_numpy(dtype=float)
    v_model = scored["predicted_value"].to_numpy(dtype=float)
    p_true = np.where(truth["is_buyer"].to_numpy(dtype=bool),
                      truth["p_defect"].to_numpy(dtype=float), np.nan)
    v_true = truth["expected_spend"].to_numpy(dtype=float)
    stage = scored["stage"].astype(str).to_numpy()
    learned = fitted.get("effects")
    used = None
    if learned is not None:  # the effects the scorer decided with, as it computes them
        _, X = _design(fitted, test[list(bundle.feature_schema)].assign(stage=stage),
                       d.horizon_days)
        used = learned.effects(X, d.economics)
    segment_stage = (test["segment"].astype(str).fillna("unknown").to_numpy(dtype=object)
                     + "|" + stage.astype(object))
    by_cell = _group_means(truth, segment_stage)
    by_type = _group_means(truth, truth["response"].astype(str).to_numpy())
    contacts = load_contacts(paths)
    cutoff = pd.Timestamp(test["cutoff"].iloc[0])
    stamps = pd.to_datetime(contacts["timestamp"], utc=True).dt.tz_localize(None)
    treated = contacts[(stamps < cutoff)
                       & ~contacts["control"].fillna(False).astype(bool).to_numpy()]
    seen = test["customer_id"].isin(treated["customer_id"]).to_numpy()
    revealed = {a: np.where(seen, by_type[a], by_cell[a]) for a in SPEND_ACTIONS}
    true_effects = {a: truth[f"effect_{a}"].to_numpy(dtype=float) for a in SPEND_ACTIONS}

    cases = [("scored", p_model, v_model, used),
             ("true p and spend", p_true, v_true, used),
             ("segment x stage means", p_model, v_model, by_cell),
             ("+ type of the contacted", p_model, v_model, revealed),
             ("response type means", p_model, v_model, by_type),
             ("true effects", p_model, v_model, true_effects)]
    print(f"test snapshot {cutoff:%Y-%m-%d}: {len(test):,} customers, "
          f"{int((stage != 'prospect').sum()):,} buyers, {int(seen.sum()):,} with a treated "
          f"contact before it; budget {params.score.budget.model_dump()}")
    print(f"{'the costed policy knows':28s} {'contacts':>8s} {'true profit':>12s} "
          f"{'share of oracle':>15s}")
    oracle = None
    for name, p, v, effects in cases:
        decided = decide(d.economics, d.policy, stage=scored["stage"], risk=scored["risk_label"],
                         value_tier=scored["value_tier"], p_defect=p, predicted_value=v,
                         effects=effects)
        rows = scored.assign(action=decided.action, expected_net_value=decided.expected_net_value,
                             action_cost=decided.action_cost)
        metrics, _ = evaluate_policies(rows, rule_action, d.economics, params.score.budget,
                                       allowed=allowed, truth=truth, bootstrap_samples=1)
        oracle = metrics["policies"]["oracle"]["true_profit"]
        got = metrics["policies"]["costed"]
        print(f"{name:28s} {got['contacts']:8,d} {got['true_profit']:12,.0f} "
              f"{got['true_profit'] / oracle:15.1%}")
    print(f"{'oracle':28s} {'':8s} {oracle:12,.0f} {1:15.1%}")


if __name__ == "__main__":
    main()
