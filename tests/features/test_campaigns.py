"""The simulated company's past retention campaigns: the record, the rule, the control
group and the true effects acting on the treated customers (features/simulate/campaigns.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import CONTACT_ACTIONS, RETENTION_CONTACT
from features.simulate import Simulation
from features.simulate.campaigns import _Campaigns
from features.simulate.population import _State
from features.simulate.story import _CAMPAIGN_POOL, _CAMPAIGN_SHARE
from pipeline.params import Params
from tests.features.conftest import simulate_tiny

H = 90


@pytest.fixture(scope="module")
def sim(params: Params) -> Simulation:
    return simulate_tiny(params)


def _contacts(sim: Simulation) -> pd.DataFrame:
    it = sim.interactions
    return it[it["kind"] == RETENTION_CONTACT].rename(columns={"timestamp": "month"})


def _arms(sim: Simulation) -> pd.DataFrame:
    """The chosen customer-months with a fully observed horizon: truth and outcome
    (a purchase on the days [month, month + H)) and the horizon's spend."""
    gt = sim.ground_truth
    chosen = gt[gt["contact_action"].notna()
                & (gt["month"] <= gt["month"].max() - pd.DateOffset(months=3))].copy()
    tx = sim.transactions
    pairs = chosen[["customer_id", "month"]].merge(
        tx.loc[tx["amount"] > 0, ["customer_id", "timestamp", "amount"]], on="customer_id")
    inside = pairs[(pairs["timestamp"] >= pairs["month"])
                   & (pairs["timestamp"] < pairs["month"] + pd.Timedelta(days=H))]
    key = pd.MultiIndex.from_frame(chosen[["customer_id", "month"]])
    chosen["bought"] = (inside.groupby(["customer_id", "month"]).size()
                        .reindex(key).fillna(0).to_numpy() > 0)
    return chosen


# --------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------


def test_contacts_are_recorded_at_month_starts_with_action_and_control(
        sim: Simulation, params: Params) -> None:
    it = sim.interactions
    contacts = _contacts(sim)
    assert len(contacts) >= 200
    assert (contacts["month"] == contacts["month"].dt.to_period("M").dt.to_timestamp()).all()
    start = pd.Timestamp(params.generate.start_date)
    assert contacts["month"].min() == start + pd.DateOffset(months=3)  # after a warm-up
    assert set(contacts["action"]) == {"protect", "regain", "enhance"}
    assert set(contacts["action"]) <= set(CONTACT_ACTIONS)
    assert contacts["control"].notna().all()
    others = it[it["kind"] != RETENTION_CONTACT]
    assert others["action"].isna().all() and others["control"].isna().all()
    # The ground truth holds the same contacts, on the customer-month of each.
    gt = sim.ground_truth
    truth = gt[gt["contact_action"].notna()]
    recorded = set(zip(contacts["customer_id"], contacts["month"], contacts["action"],
                       contacts["control"].astype(bool), strict=True))
    assert recorded == set(zip(truth["customer_id"], truth["month"], truth["contact_action"],
                               truth["contact_control"].astype(bool), strict=True))
    assert gt.loc[gt["contact_action"].isna(), "contact_control"].isna().all()
    assert sim.latent["contacts_made"] + sim.latent["contacts_held_out"] == len(contacts)


def test_control_share_is_near_its_setting(sim: Simulation, params: Params) -> None:
    for frame, share in ((_contacts(sim), 0.2),
                         (_contacts(simulate_tiny(params, campaign_control_share=0.5)), 0.5)):
        n = len(frame)
        assert abs(frame["control"].mean() - share) < 3 * np.sqrt(share * (1 - share) / n)


def test_no_campaign_no_contact_and_nothing_changes_before_the_first(
        sim: Simulation, params: Params) -> None:
    quiet = simulate_tiny(params, retention_campaigns=False)
    assert not (quiet.interactions["kind"] == RETENTION_CONTACT).any()
    assert quiet.ground_truth["contact_action"].isna().all()
    # Up to the first campaign's snapshot the two histories are the same.
    first = _contacts(sim)["month"].min()
    columns = [c for c in sim.ground_truth.columns if not c.startswith("contact_")]
    before = [g[g["month"] <= first][columns].reset_index(drop=True)
              for g in (sim.ground_truth, quiet.ground_truth)]
    pd.testing.assert_frame_equal(*before)
    # The same seed gives the same campaigns.
    again = simulate_tiny(params)
    pd.testing.assert_frame_equal(again.interactions, sim.interactions)
    pd.testing.assert_frame_equal(again.ground_truth, sim.ground_truth)


def test_shares_are_checked(params: Params) -> None:
    with pytest.raises(ValueError, match=r"campaign_control_share must be a share in \[0, 1\]"):
        simulate_tiny(params, n_customers=10, campaign_control_share=1.5)
    with pytest.raises(ValueError, match=r"campaign_capacity must be a share in \(0, 1\]"):
        simulate_tiny(params, n_customers=10, campaign_capacity=0.0)


# --------------------------------------------------------------------------
# The targeting rule: only what the company could see
# --------------------------------------------------------------------------


def test_contacts_follow_the_rule_on_what_the_data_shows(sim: Simulation) -> None:
    """From the files alone: each month's chosen customers are in their action's pool
    (days since the last purchase R, purchases F, not chosen in the last horizon), within
    the capacity, and for protect and regain the highest R x F of the pool."""
    contacts = _contacts(sim)
    tx = sim.transactions
    buys = tx.loc[tx["amount"] > 0, ["customer_id", "timestamp"]]
    capacity = 0.03
    for month, chosen in contacts.groupby("month"):
        before = buys[buys["timestamp"] < month]
        seen = before.groupby("customer_id")["timestamp"].agg(["max", "size"])
        recency = (month - seen["max"].dt.normalize()).dt.days
        frequency = seen["size"]
        earlier = contacts[(contacts["month"] < month)
                           & (contacts["month"] > month - pd.Timedelta(days=H))]
        free = ~seen.index.isin(earlier["customer_id"])
        for action, share in _CAMPAIGN_SHARE.items():
            lo, hi, min_f = _CAMPAIGN_POOL[action]
            pool = seen.index[free & (recency >= lo).to_numpy() & (recency < hi).to_numpy()
                              & (frequency >= min_f).to_numpy()]
            picked = chosen.loc[chosen["action"] == action, "customer_id"]
            assert set(picked) <= set(pool), (month, action)
            assert len(picked) == min(round(capacity * len(seen) * share), len(pool))
            if action != "enhance" and len(picked) < len(pool):
                score = recency.loc[pool] * frequency.loc[pool]
                assert score.loc[picked].min() >= score.drop(picked).max(), (month, action)


# --------------------------------------------------------------------------
# The true effects act on the treated customers
# --------------------------------------------------------------------------


def test_treated_and_control_differ_as_the_true_effects_imply(params: Params) -> None:
    """No purchase in the horizon: the control group's rate is the truth's p_defect, the
    treated group's p (1 - e), so treated minus control is what the effects imply, within
    3.5 standard errors (8,000 customers, a tenth of the buyers chosen each month, half
    held out: about 1,600 customers per arm for protect, 950 for regain; the implied
    difference is then 4 to 6 standard errors)."""
    sim = simulate_tiny(params, n_customers=8000, campaign_capacity=0.1, campaign_control_share=0.5)
    arms = _arms(sim)
    for action in ("protect", "regain"):
        rows = arms[arms["contact_action"] == action]
        held = rows["contact_control"].astype(bool)
        control, treated = rows[held], rows[~held]
        assert min(len(control), len(treated)) >= 600
        rate_c, rate_t = 1 - control["bought"].mean(), 1 - treated["bought"].mean()
        se = np.sqrt(rate_c * (1 - rate_c) / len(control) + rate_t * (1 - rate_t) / len(treated))
        implied_t = np.minimum(1.0, treated["p_defect"] * (1 - treated[f"effect_{action}"]))
        implied = control["p_defect"].mean() - implied_t.mean()
        assert implied > 3 * se  # the effects are large enough to be seen at this size
        assert rate_c - rate_t > 2 * se, action  # the contact keeps customers
        assert abs((rate_c - rate_t) - implied) < 3.5 * se, (action, rate_c - rate_t, implied)
        assert abs(rate_t - implied_t.mean()) < 3.5 * np.sqrt(rate_t * (1 - rate_t)
                                                              / len(treated))


def _state(purchases: list[int]) -> _State:
    st = _State.empty(len(purchases))
    st.purchases[:] = purchases
    st.alive[:] = True
    return st


def test_a_contact_wins_drives_away_or_lifts_spend_by_its_effect() -> None:
    """By hand: 200 lapsing repeat buyers (protect), 50 recent ones (enhance) and 200 in
    no pool; capacity 1 and no control, so that every customer of a pool is chosen."""
    n = 450
    effects = {a: np.zeros(n) for a in CONTACT_ACTIONS}
    effects["protect"][:100] = 0.9  # persuadable: most are won
    effects["protect"][100:200] = -0.5  # sleeping dogs: p 0.8 -> all leave (q = 1)
    effects["enhance"][200:250] = 0.25
    campaigns = _Campaigns(seed=1, n=n, effects=effects, month_days=np.array([0, 31, 59, 90]),
                           horizon_days=H, capacity=1.0, control_share=0.0)
    st = _state([3] * n)
    campaigns.bought(np.arange(200), 0)  # R = 90 at day 90: protect's pool
    campaigns.bought(np.arange(200, 250), 80)  # R = 10: enhance's pool
    campaigns.bought(np.arange(250, n), 50)  # R = 40: no pool
    p = np.full(n, 0.8)
    campaigns.run(60, st, n, p)  # not a campaign day
    assert 60 not in campaigns.log
    campaigns.run(90, st, n, p)
    who, code, control = campaigns.log[90]
    assert sorted(who.tolist()) == list(range(250))
    assert (code[who < 200] == CONTACT_ACTIONS.index("protect")).all()
    assert not control.any()
    assert not st.alive[100:200].any() and st.alive[:100].all() and st.alive[200:].all()
    assert campaigns.counts["contact_defections"] == 100
    won = np.flatnonzero(campaigns.win_day >= 0)
    assert won.size == campaigns.counts["contacts_won"] and 75 <= won.size <= 100
    assert won.max() < 100
    assert ((campaigns.win_day[won] >= 90) & (campaigns.win_day[won] < 90 + H)).all()
    # A won customer buys on its day unless it bought since the contact.
    day = int(campaigns.win_day[won[0]])
    assert campaigns.won_today(day, n)[won[0]]
    campaigns.bought(np.array([won[0]]), 90)
    assert not campaigns.won_today(day, n)[won[0]]
    # Enhance: purchases in the horizon are 1 + e times as large, then back to 1.
    assert campaigns.bought(np.array([210]), 100).tolist() == [1.25]
    assert campaigns.bought(np.array([210]), 90 + H).tolist() == [1.0]
    # Chosen customers are not chosen again within a horizon; the others now are.
    campaigns.days = frozenset({120})
    campaigns.run(120, st, n, p)
    assert sorted(campaigns.log[120][0].tolist()) == list(range(250, n))
