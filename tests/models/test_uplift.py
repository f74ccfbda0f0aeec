"""The T-learner of the contacts' effects: matching contacts to cutoffs, learning a
heterogeneous effect, and keeping the prior where the history is too thin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.economics import Economics
from models.lgbm import LightGBMParams
from models.qini import qini_coefficient
from models.uplift import EFFECT_BOUNDS, ContactEffects, contact_rows, fit_effects
from models.uplift_checks import gate, validate_effects, validated

PARAMS = LightGBMParams(num_threads=1, seed=7, num_boost_round=300,
                        early_stopping_rounds=30, learning_rate=0.1)


def test_contacts_are_matched_to_the_latest_cutoff_before_them():
    frame = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "d"],
                          "cutoff": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01",
                                                    "2024-02-01", "2024-02-01"]).date})
    contacts = pd.DataFrame({
        "customer_id": ["a", "b", "b", "c", "e"],
        "timestamp": pd.to_datetime(["2024-02-01 09:00", "2024-02-03 00:00", "2024-02-05 00:00",
                                     "2024-03-15 00:00", "2024-02-01 00:00"]),
        "action": ["protect", "regain", "protect", "protect", "protect"],
        "control": [False, True, None, False, False]})
    got = contact_rows(frame, contacts, within_days=7)
    assert got.index.equals(frame.index)
    # a: its 2024-02-01 row; b: the first record of the week; c: 43 days after the
    # cutoff, beyond 7 days; d: no contact; e: no row.
    assert got["contact_action"].fillna("-").tolist() == ["-", "protect", "regain", "-", "-"]
    assert got["contact_control"].astype(object).fillna("-").tolist() == \
        ["-", False, True, "-", "-"]


def _experiment(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Contacted and control customers whose true share of defection removed by
    ``protect`` is 0.5 where x0 > 0 and 0 elsewhere."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    p0 = 1 / (1 + np.exp(-(0.5 + X["x1"].to_numpy())))
    effect = np.where(X["x0"].to_numpy() > 0, 0.5, 0.0)
    control = rng.random(n) < 0.4
    p = np.where(control, p0, p0 * (1 - effect))
    rows = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "contact_action": pd.array(["protect"] * n, dtype="string"),
                         "contact_control": pd.array(control, dtype="boolean"),
                         "defected": rng.random(n) < p,
                         "future_spend": rng.gamma(2.0, 20.0, n)})
    return X, rows, effect


def test_a_heterogeneous_effect_is_learned_and_ranks_the_persuadable_first():
    X, rows, truth = _experiment(12_000)
    effects = fit_effects(X, rows, Economics(), lightgbm=PARAMS)
    assert set(effects.learned) == {"protect"}
    # The other actions have no contacts: they keep their priors, with the reason.
    assert set(effects.assumed) == {"enhance", "regain", "start"}
    assert "0 treated rows" in effects.assumed["regain"]
    X_new, rows_new, truth_new = _experiment(6_000, seed=1)
    e = effects.effects(X_new, Economics())["protect"]
    assert e.min() >= EFFECT_BOUNDS["defection"][0] and e.max() <= EFFECT_BOUNDS["defection"][1]
    assert e[truth_new > 0].mean() == pytest.approx(0.5, abs=0.12)
    assert e[truth_new == 0].mean() == pytest.approx(0.0, abs=0.12)
    stay = ~rows_new["defected"].to_numpy()
    treated = ~rows_new["contact_control"].to_numpy(dtype=bool)
    assert qini_coefficient(stay, e, treated) > 0.01
    summary = effects.summary()
    assert summary["protect"]["source"] == "learned"
    assert summary["protect"]["control"] == int(rows["contact_control"].sum())
    # Reproducible.
    again = fit_effects(X, rows, Economics(), lightgbm=PARAMS)
    again = again.effects(X_new, Economics())["protect"]
    np.testing.assert_array_equal(e, again)


def test_a_thin_history_keeps_the_prior_and_says_why():
    X, rows, _ = _experiment(300)
    effects = fit_effects(X, rows, Economics(), lightgbm=PARAMS)
    assert effects.learned == {}
    assert "fewer than 200" in effects.assumed["protect"]
    assert effects.effects(X, Economics()) == {}
    assert effects.sources(Economics())["protect"] == "prior"


def test_an_effect_on_spend_is_a_lift():
    rng = np.random.default_rng(3)
    n = 8_000
    X = pd.DataFrame({"x0": rng.normal(size=n)})
    control = rng.random(n) < 0.5
    lift = np.where(X["x0"].to_numpy() > 0, 0.4, 0.0)
    spend = rng.gamma(2.0, 25.0, n) * np.where(control, 1.0, 1.0 + lift)
    rows = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "contact_action": pd.array(["enhance"] * n, dtype="string"),
                         "contact_control": pd.array(control, dtype="boolean"),
                         "defected": np.zeros(n, bool), "future_spend": spend})
    e = fit_effects(X, rows, Economics(), lightgbm=PARAMS).effects(X, Economics())["enhance"]
    assert e[lift > 0].mean() == pytest.approx(0.4, abs=0.12)
    assert e[lift == 0].mean() == pytest.approx(0.0, abs=0.12)


def test_the_held_out_contacts_measure_the_learned_effects():
    X, rows, _ = _experiment(12_000)
    effects = fit_effects(X, rows, Economics(), lightgbm=PARAMS)
    X_new, rows_new, truth_new = _experiment(6_000, seed=2)
    # A slice of a larger frame, as the evaluation passes it.
    report, curves = validate_effects(effects, X_new.iloc[::2], rows_new.iloc[::2],
                                      Economics())
    got = report["protect"]
    held = rows_new.iloc[::2]
    assert got["control"] == int(held["contact_control"].sum())
    assert got["treated"] + got["control"] == len(held)
    assert got["qini"] > 0.01 and got["uplift_at_30"] > 0
    # Observed: the treated stay more often than the controls, about as the truth says.
    assert got["observed_gain"] > 0
    assert set(report) == {"protect"}
    assert set(curves["action"]) == {"protect"}
    assert curves["share"].iloc[0] == 0 and curves["share"].iloc[-1] == 1
    # No learned action: nothing measured, an empty curve table with its columns.
    report, curves = validate_effects(ContactEffects(), X_new, rows_new, Economics())
    assert report == {} and list(curves.columns) == ["action", "share", "qini", "random"]


def test_only_effects_that_beat_a_random_order_out_of_time_are_used():
    X, rows, _ = _experiment(12_000)
    effects = fit_effects(X, rows, Economics(), lightgbm=PARAMS)
    X_new, rows_new, _ = _experiment(6_000, seed=4)
    report, _ = validate_effects(effects, X_new, rows_new, Economics())
    assert report["protect"]["qini_low"] > 0
    keep, why = validated(report)
    assert keep == {"protect"} and why == {}
    # The same model judged on contacts whose outcomes do not depend on it: the lower
    # end of its Qini interval is not above 0, and the action goes back to its prior,
    # with the figures.
    noise = rows_new.assign(defected=np.random.default_rng(5).random(len(rows_new)) < 0.5)
    report, _ = validate_effects(effects, X_new, noise, Economics())
    assert report["protect"]["qini_low"] <= 0
    keep, why = validated(report)
    assert keep == set() and "is not above a random order's" in why["protect"]
    used = effects.restricted(keep, why)
    assert used.learned == {} and used.assumed["protect"] == why["protect"]
    # The gate of a fitted bundle: the same restriction, the other models untouched.
    bundle = {"effects": effects, "defection": "booster"}
    gated = gate(bundle, report)
    assert gated["defection"] == "booster" and gated["effects"].learned == {}
    assert gated["effects"].assumed == used.assumed and bundle["effects"] is effects
    assert gate({"effects": None}, report) == {"effects": None}
    assert used.sources(Economics())["protect"] == "prior"
    assert effects.sources(Economics())["protect"] == "learned"  # the original is untouched
