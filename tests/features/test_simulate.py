"""The demo lifecycle simulator: contract, determinism, and the story's properties."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.schema import CUSTOMERS, INTERACTIONS, TRANSACTIONS
from features.simulate import (
    GROUND_TRUTH,
    STORY_KINDS,
    Simulation,
    render_csv_tables,
    response,
    simulate,
)
from features.simulate.population import _p_no_purchase
from pipeline.params import Params
from tests.features.conftest import simulate_tiny


@pytest.fixture(scope="module")
def sim(params: Params) -> Simulation:
    return simulate_tiny(params)


@pytest.fixture(scope="module")
def purchases(sim: Simulation) -> pd.DataFrame:
    tx = sim.transactions
    return tx[tx["amount"] > 0]


# --------------------------------------------------------------------------
# Contract and determinism
# --------------------------------------------------------------------------


def test_frames_have_exactly_the_contract_columns(sim: Simulation) -> None:
    assert list(sim.transactions.columns) == TRANSACTIONS.names
    assert list(sim.interactions.columns) == INTERACTIONS.names
    assert list(sim.customers.columns) == CUSTOMERS.names
    assert list(sim.ground_truth.columns) == GROUND_TRUTH.names


def test_text_tables_have_exactly_the_contract_columns(sim: Simulation) -> None:
    tables, _ = render_csv_tables(sim, seed=1)
    for name, table in (("transactions", TRANSACTIONS), ("interactions", INTERACTIONS),
                        ("customers", CUSTOMERS)):
        assert tables[name].column_names == table.names
        assert all(t == pa.string() for t in tables[name].schema.types)


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    kwargs = dict(n_customers=300, n_days=400, start_date=dt.date(2023, 3, 1))
    a, b = simulate(seed=11, **kwargs), simulate(seed=11, **kwargs)
    c = simulate(seed=12, **kwargs)
    for name in ("customers", "transactions", "interactions", "ground_truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.transactions.equals(c.transactions)
    assert not a.customers.equals(c.customers)


def test_customer_ids_are_zero_padded_text(sim: Simulation) -> None:
    ids = sim.customers["customer_id"]
    assert ids.iloc[0] == "C0000001"
    assert ids.str.fullmatch(r"C\d{7}").all()
    assert ids.is_unique
    assert set(sim.transactions["customer_id"]) <= set(ids)
    assert set(sim.interactions["customer_id"]) <= set(ids)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\['chat_message'\] are not part of the simulator"):
        simulate(n_customers=10, n_days=100, start_date=dt.date(2022, 1, 1), seed=1,
                 interaction_kinds=["complaint", "chat_message"])


def test_only_requested_kinds_are_recorded() -> None:
    kwargs = dict(n_customers=300, n_days=400, start_date=dt.date(2022, 1, 1), seed=3)
    full = simulate(**kwargs)
    part = simulate(interaction_kinds=["complaint", "call"], **kwargs)
    assert set(part.interactions["kind"]) == {"complaint", "call"}
    # Unrecorded kinds still happen: the latent story, hence the purchases, is unchanged.
    pd.testing.assert_frame_equal(full.ground_truth, part.ground_truth)
    assert len(full.transactions) == len(part.transactions)


# --------------------------------------------------------------------------
# Volumes and the story
# --------------------------------------------------------------------------


def test_tiny_event_counts_are_plausible(sim: Simulation) -> None:
    n = len(sim.customers)
    assert 3 * n <= len(sim.transactions) <= 15 * n
    assert 8 * n <= len(sim.interactions) <= 40 * n
    counts = sim.interactions["kind"].value_counts()
    assert set(counts.index) == set(STORY_KINDS)
    # Browsing and e-mail dominate; complaints are rarer than support tickets.
    assert counts["web_visit"] > counts["support_ticket"] > counts["complaint"] > 0


def test_events_lie_in_the_period_and_after_signup(sim: Simulation, params: Params) -> None:
    start = pd.Timestamp(params.generate.start_date)
    end = start + pd.Timedelta(days=params.generate.sizes["tiny"].days)
    signup = sim.customers.set_index("customer_id")["signup_date"]
    for frame in (sim.transactions, sim.interactions):
        ts = frame["timestamp"]
        assert ts.min() >= start
        assert ts.max() < end
        assert (ts.to_numpy() > signup.loc[frame["customer_id"]].to_numpy()).all()
        assert ts.is_monotonic_increasing


def test_purchase_counts_vary_widely_across_buyers(purchases: pd.DataFrame) -> None:
    counts = purchases.groupby("customer_id").size()
    assert counts.std() / counts.mean() > 1.0
    assert counts.quantile(0.9) >= 4 * counts.median()
    assert 0.1 <= (counts == 1).mean() <= 0.5  # one-time buyers are common, not universal
    spend = purchases.groupby("customer_id")["amount"].mean()
    assert spend.quantile(0.9) >= 3 * spend.quantile(0.1)


def test_prospects_exist_with_and_without_interactions(sim: Simulation,
                                                       purchases: pd.DataFrame) -> None:
    customers = set(sim.customers["customer_id"])
    prospects = customers - set(purchases["customer_id"])
    assert 0.1 <= len(prospects) / len(customers) <= 0.5
    with_contacts = prospects & set(sim.interactions["customer_id"])
    assert len(with_contacts) >= 50
    assert len(prospects - with_contacts) >= 5  # a customer record and nothing else
    assert sim.latent["prospects"] == len(prospects)


def test_lost_customers_come_back(sim: Simulation, purchases: pd.DataFrame) -> None:
    gt = sim.ground_truth
    buyers = gt[gt["is_buyer"]].sort_values(["customer_id", "month"])
    was_lost = buyers.groupby("customer_id")["alive"].transform(
        lambda s: (~s).cumsum().shift(fill_value=0) > 0)
    back = buyers[was_lost & buyers["alive"]]["customer_id"].unique()
    assert len(back) >= 10
    assert sim.latent["reactivations"] >= len(back)
    # In the data a return shows as a purchase after a long silence.
    ts = purchases.sort_values(["customer_id", "timestamp"])
    gap = ts.groupby("customer_id")["timestamp"].diff()
    long_gap = ts.loc[gap > pd.Timedelta(days=180), "customer_id"].unique()
    assert len(set(back) & set(long_gap)) >= 5


def test_unresolved_complaints_raise_defection(params: Params) -> None:
    """Active buyers with an unresolved complaint in the last 90 days are lost three
    months later clearly more often than the others (4,000 customers: the ratio is
    1.4 to 1.9 across seeds, against 1.0 without the effect)."""
    sim = simulate_tiny(params, n_customers=4000)
    gt = sim.ground_truth
    it = sim.interactions
    unresolved = it[(it["kind"] == "complaint") & (it["resolved"] == False)]  # noqa: E712
    active = gt[gt["is_buyer"] & gt["alive"]][["customer_id", "month"]]
    later = gt[["customer_id", "month", "alive"]].assign(
        month=gt["month"] - pd.DateOffset(months=3)).rename(columns={"alive": "alive_later"})
    rows = active.merge(later, on=["customer_id", "month"])
    pairs = rows.merge(unresolved[["customer_id", "timestamp"]], on="customer_id")
    recent = pairs[(pairs["timestamp"] < pairs["month"])
                   & (pairs["timestamp"] >= pairs["month"] - pd.Timedelta(days=90))]
    flagged = rows.set_index(["customer_id", "month"]).index.isin(
        recent.set_index(["customer_id", "month"]).index)
    lost_with = 1 - rows.loc[flagged, "alive_later"].mean()
    lost_without = 1 - rows.loc[~flagged, "alive_later"].mean()
    assert flagged.sum() >= 200
    assert lost_with > 1.2 * lost_without


def test_ground_truth_is_consistent(sim: Simulation, purchases: pd.DataFrame) -> None:
    gt = sim.ground_truth
    assert gt["p_defect"].between(0, 1).all()
    assert not gt.duplicated(["customer_id", "month"]).any()
    assert (gt["month"] == gt["month"].dt.to_period("M").dt.to_timestamp()).all()
    signup = sim.customers.set_index("customer_id")["signup_date"]
    assert (gt["month"].to_numpy() > signup.loc[gt["customer_id"]].to_numpy()).all()
    # is_buyer: a purchase strictly before the month start.
    first = purchases.groupby("customer_id")["timestamp"].min()
    first_at = first.reindex(gt["customer_id"]).to_numpy()
    expected = ~pd.isna(first_at) & (first_at < gt["month"].to_numpy())
    assert (gt["is_buyer"].to_numpy() == expected).all()
    # Lost buyers are far more likely than active ones to make no purchase.
    buyers = gt[gt["is_buyer"]]
    mean_p = buyers.groupby("alive")["p_defect"].mean()
    assert mean_p[False] > mean_p[True] + 0.3
    assert (~gt.loc[~gt["is_buyer"], "alive"]).any()  # prospects who lost interest


def test_p_defect_is_calibrated_on_realized_outcomes(sim: Simulation,
                                                      purchases: pd.DataFrame) -> None:
    """Mean p_defect matches the realized share of buyers with no purchase in 90 days."""
    gt = sim.ground_truth
    last_month = gt["month"].max() - pd.DateOffset(months=3)
    rows = gt[gt["is_buyer"] & (gt["month"] <= last_month)][["customer_id", "month",
                                                              "p_defect"]]
    pairs = rows.merge(purchases[["customer_id", "timestamp"]], on="customer_id")
    hit = pairs[(pairs["timestamp"] > pairs["month"])
                & (pairs["timestamp"] <= pairs["month"] + pd.Timedelta(days=90))]
    bought = rows.set_index(["customer_id", "month"]).index.isin(
        hit.set_index(["customer_id", "month"]).index)
    assert abs((~bought).mean() - rows["p_defect"].mean()) < 0.05


def test_expected_spend_matches_realized_spend(sim: Simulation,
                                               purchases: pd.DataFrame) -> None:
    gt = sim.ground_truth
    last_month = gt["month"].max() - pd.DateOffset(months=3)
    rows = gt[gt["is_buyer"] & (gt["month"] <= last_month)]
    pairs = rows[["customer_id", "month"]].merge(
        purchases[["customer_id", "timestamp", "amount"]], on="customer_id")
    inside = pairs[(pairs["timestamp"] >= pairs["month"])
                   & (pairs["timestamp"] < pairs["month"] + pd.Timedelta(days=90))]
    realized = (inside.groupby(["customer_id", "month"])["amount"].sum()
                .reindex(pd.MultiIndex.from_frame(rows[["customer_id", "month"]]))
                .fillna(0.0).to_numpy())
    expected = rows["expected_spend"].to_numpy()
    # Before discounts (a few percent of spend): a little above what was paid.
    assert 0.95 < expected.mean() / realized.mean() < 1.15
    assert np.corrcoef(expected, realized)[0, 1] > 0.8


def test_true_responses_are_heterogeneous_and_leave_the_events_alone(
        params: Params, sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    gt = sim.ground_truth.drop_duplicates("customer_id")
    by_type = gt.groupby("response")["effect_protect"]
    assert set(gt["response"]) == {"persuadable", "unmoved", "sleeping_dog"}
    assert (by_type.min()["persuadable"] > 0 and by_type.max()["sleeping_dog"] < 0
            and (gt.loc[gt["response"] == "unmoved", "effect_protect"] == 0).all())
    assert 0.02 < (gt["response"] == "sleeping_dog").mean() < 0.15
    # Drawn from a stream of their own: without campaigns, other responses, the same
    # events (with campaigns, the treated customers answer with them).
    quiet = simulate_tiny(params, retention_campaigns=False)
    monkeypatch.setattr(response, "_RESPONSE_STREAM", 12345)
    other = simulate_tiny(params, retention_campaigns=False)
    pd.testing.assert_frame_equal(other.transactions, quiet.transactions)
    pd.testing.assert_frame_equal(other.interactions, quiet.interactions)
    assert (other.ground_truth["response"] != quiet.ground_truth["response"]).any()
    segment = sim.customers.set_index("customer_id")["segment"]
    shares = (gt.assign(segment=segment.loc[gt["customer_id"]].to_numpy())
              .groupby("segment")["response"].apply(lambda r: (r == "persuadable").mean()))
    # The recorded segment is right 85% of the time: discount-driven buyers answer
    # offers more often than wanderers.
    assert shares["discount_driven"] > shares["wanderer"] + 0.2


def test_refunds_follow_purchases(sim: Simulation, purchases: pd.DataFrame) -> None:
    tx = sim.transactions
    refunds = tx[tx["amount"] < 0]
    assert 0.005 <= len(refunds) / len(purchases) <= 0.06
    assert (refunds["quantity"] < 0).all()
    assert (refunds["discount"] == 0).all()
    pairs = refunds.merge(purchases, on="customer_id", suffixes=("", "_order"))
    covered = pairs[(pairs["timestamp_order"] < pairs["timestamp"])
                    & (pairs["amount_order"] >= -pairs["amount"])]
    assert covered["transaction_id"].nunique() == len(refunds)
    assert tx["transaction_id"].is_unique


def test_amounts_have_two_decimals(sim: Simulation) -> None:
    cents = sim.transactions[["amount", "discount"]].to_numpy() * 100
    assert np.allclose(cents, np.round(cents))


def test_interaction_fields_follow_the_kind(sim: Simulation, params: Params) -> None:
    it = sim.interactions
    lo, hi = params.data.satisfaction_range
    survey = it["kind"] == "survey"
    assert (it["satisfaction"].notna() == survey).all()
    scores = it.loc[survey, "satisfaction"]
    assert scores.between(lo, hi).all()
    assert (scores == scores.round()).all()
    assert scores.nunique() == int(hi - lo) + 1
    service = it["kind"].isin(["support_ticket", "complaint"])
    assert (it["resolved"].notna() == service).all()
    assert (it["resolution_hours"].notna() == (it["resolved"] == True)).all()  # noqa: E712
    assert (it["resolution_hours"].dropna() > 0).all()
    assert it["channel"].notna().all()
    calls = it[it["kind"] == "call"]
    assert (calls["channel"] == "phone").all()


def test_survey_scores_are_lower_after_unresolved_complaints(sim: Simulation) -> None:
    """Surveys answered within 60 days of an unresolved complaint score lower."""
    it = sim.interactions
    bad = it[(it["kind"] == "complaint") & (it["resolved"] == False)]  # noqa: E712
    surveys = it[it["kind"] == "survey"][["customer_id", "timestamp", "satisfaction"]]
    pairs = surveys.reset_index().merge(bad[["customer_id", "timestamp"]], on="customer_id",
                                        suffixes=("", "_complaint"))
    soon = pairs[(pairs["timestamp"] > pairs["timestamp_complaint"])
                 & (pairs["timestamp"] <= pairs["timestamp_complaint"] + pd.Timedelta(days=60))]
    after = surveys.index.isin(soon["index"])
    assert after.sum() >= 20
    score = surveys["satisfaction"]
    assert score[after].mean() < score[~after].mean() - 0.25


# --------------------------------------------------------------------------
# The ground-truth probability, by hand
# --------------------------------------------------------------------------


def _one(value: float) -> np.ndarray:
    return np.array([value])


@pytest.mark.parametrize(
    ("alive", "rate", "hazard", "comeback", "shock", "days", "expected"),
    [
        # Active, never leaves: no purchase for 10 days at 0.1 per day.
        (True, 0.1, 0.0, 0.0, 0, 10, math.exp(-1.0)),
        # Lost: only a comeback (which is a purchase) can happen.
        (False, 0.5, 0.3, 0.01, 0, 20, math.exp(-0.2)),
        # Two days, may leave then never come back: stay and skip twice, or leave.
        (True, 0.2, 0.1, 0.0, 0, 2,
         (math.exp(-0.1) * math.exp(-0.2)) ** 2
         + math.exp(-0.1) * math.exp(-0.2) * (1 - math.exp(-0.1))
         + (1 - math.exp(-0.1))),
        # A competitor's offer for the one day: hazard x4, purchase rate x0.5.
        (True, 0.2, 0.1, 0.0, 1, 1,
         math.exp(-0.4) * math.exp(-0.1) + (1 - math.exp(-0.4))),
    ],
)
def test_p_no_purchase_matches_hand_computation(alive, rate, hazard, comeback, shock, days,
                                                expected) -> None:
    got = _p_no_purchase(np.array([alive]), _one(rate), _one(hazard), _one(comeback),
                         np.array([shock]), np.ones(days))
    assert got[0] == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------
# Warts
# --------------------------------------------------------------------------


def test_warts_are_as_reported(sim: Simulation) -> None:
    tables, warts = render_csv_tables(sim, seed=99)
    frames = {name: t.to_pandas().fillna("") for name, t in tables.items()}
    tx, it, cu = frames["transactions"], frames["interactions"], frames["customers"]

    def bad_timestamps(values: pd.Series) -> int:
        return int(pd.to_datetime(values, format="ISO8601", errors="coerce").isna().sum())

    assert int(tx.duplicated().sum()) == warts["transactions"]["duplicate_rows"] >= 1
    assert int((tx["channel"] == "").sum()) == warts["transactions"]["null_channel"] >= 1
    assert int((tx["category"] == "").sum()) == warts["transactions"]["null_category"] >= 1
    assert bad_timestamps(tx["timestamp"]) == warts["transactions"]["bad_timestamp"] >= 1
    amounts = pd.to_numeric(tx["amount"], errors="coerce")
    assert int(amounts.isna().sum()) == warts["transactions"]["bad_amount"] >= 1
    assert int((tx["customer_id"] == "").sum()) == warts["transactions"]["empty_customer_id"]
    assert warts["transactions"]["refund_rows"] == int((sim.transactions["amount"] < 0).sum())
    assert len(tx) == warts["transactions"]["rows"] == (
        len(sim.transactions) + warts["transactions"]["duplicate_rows"])

    assert int(it.duplicated().sum()) == warts["interactions"]["duplicate_rows"] >= 1
    assert int((it["channel"] == "").sum()) == warts["interactions"]["null_channel"] >= 1
    assert bad_timestamps(it["timestamp"]) == warts["interactions"]["bad_timestamp"] >= 1
    assert int((it["customer_id"] == "").sum()) == warts["interactions"]["empty_customer_id"]

    assert int(cu.duplicated().sum()) == warts["customers"]["duplicate_rows"] >= 1
    assert int((cu["segment"] == "").sum()) == warts["customers"]["null_segment"] >= 1

    for name in ("transactions", "interactions"):
        injected = sum(v for k, v in warts[name].items() if k not in ("rows", "refund_rows"))
        assert injected < 0.001 * warts[name]["rows"]


def test_text_formats(sim: Simulation) -> None:
    tables, warts = render_csv_tables(sim, seed=5, wart_rates={})
    assert warts["transactions"]["rows"] == len(sim.transactions)
    tx = tables["transactions"].to_pandas()
    assert tx["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert tx["amount"].str.fullmatch(r"-?\d+\.\d\d").all()
    assert tx["discount"].str.fullmatch(r"\d+\.\d\d").all()
    assert tx["quantity"].str.fullmatch(r"-?\d+").all()
    assert (pd.to_numeric(tx["amount"]).to_numpy() == sim.transactions["amount"].to_numpy()).all()
    it = tables["interactions"].to_pandas()
    assert set(it["resolved"].dropna()) == {"true", "false"}
    assert set(it["satisfaction"].dropna()) <= {"1", "2", "3", "4", "5"}
