"""Point-in-time features: hand-computed values, a naive reference, and no leakage."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import compute_features, rfm_values
from features.rfm_scores import rfm_edges
from features.spec import FeatureSpec, feature_table, snapshot_cutoffs
from tests.features.conftest import SPEC, make_inputs, ts

CUTOFF = dt.date(2024, 4, 1)


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas().set_index(["customer_id", "cutoff"])


@pytest.fixture
def fixture_rows():
    tx = [
        ("A", ts("2024-01-01"), 10.0),
        ("A", ts("2024-01-11"), 20.0),
        ("A", ts("2024-02-10"), 30.0),
        ("A", ts("2024-03-12"), 40.0),
        ("A", ts("2024-03-20"), -5.0),            # refund
        ("A", ts("2024-03-31", 23), 50.0),        # last moment before the cutoff
        ("A", ts("2024-04-01", 0), 999.0),        # on the cutoff day: not seen
        ("D", ts("2023-06-15"), 25.0),
        ("E", ts("2024-04-03"), 60.0),            # only after the cutoff
    ]
    ix = [
        ("A", ts("2024-01-20"), "complaint", None, True, 48.0),
        ("A", ts("2024-03-05"), "complaint", None, False, None),
        ("A", ts("2024-02-01"), "survey", 2.0, None, None),
        ("A", ts("2024-03-10"), "survey", 4.0, None, None),
        ("A", ts("2024-03-30"), "support_ticket", None, True, 5.0),
        # resolved only after the cutoff (20:00 + 10 h): still open at the cutoff
        ("A", ts("2024-03-31", 20), "complaint", None, True, 10.0),
        ("A", ts("2024-04-02"), "survey", 1.0, None, None),  # after the cutoff
        ("B", ts("2024-03-01"), "survey", 5.0, None, None),  # a prospect
    ]
    cu = [
        ("A", ts("2023-12-01", 0), "loyal", "self_service"),
        ("C", ts("2024-05-01", 0), "wanderer", None),       # known only after the cutoff
    ]
    return tx, ix, cu


def test_hand_computed_values(fixture_rows):
    out = compute_features(*make_inputs(*fixture_rows), [CUTOFF], SPEC)
    assert out.schema == feature_table(SPEC).arrow_schema()
    df = _frame(out)
    assert sorted(df.index.get_level_values(0)) == ["A", "B", "D"]
    a = df.loc[("A", CUTOFF)]
    expected_a = {
        "cutoff_month": 4, "tenure_days": 122, "days_since_first_purchase": 91,
        "recency_days": 1,
        "frequency": 5, "monetary_sum": 150.0, "monetary_mean": 30.0,
        "frequency_30d": 2, "monetary_sum_30d": 90.0, "monetary_mean_30d": 45.0,
        "frequency_90d": 4, "monetary_sum_90d": 140.0, "monetary_mean_90d": 35.0,
        "gap_mean_days": 22.5, "gap_median_days": 24.5, "gap_std_days": 9.9498743710662,
        "recency_gap_ratio": 1 / 25.5, "last_gap_days": 19, "prior_gap_median_days": 30,
        "frequency_trend_30d": 1, "monetary_trend_30d": 2.0,
        "refund_count": 1, "refund_amount": 5.0, "refund_count_30d": 1,
        "support_ticket_count_30d": 1, "support_ticket_count_90d": 1,
        "support_ticket_days_since_last": 2,
        "complaint_count_30d": 2, "complaint_count_90d": 3, "complaint_days_since_last": 1,
        "survey_count_30d": 1, "survey_count_90d": 2, "survey_days_since_last": 22,
        "complaint_resolved_rate": 1 / 3, "complaint_resolution_hours_mean": 48.0,
        "complaint_unresolved_30d": 2,
        "satisfaction_count": 2, "satisfaction_mean": 3.0, "satisfaction_last": 4.0,
        "segment": "loyal", "relationship_type": "self_service",
    }
    for name, value in expected_a.items():
        if isinstance(value, str):
            assert a[name] == value, name
        else:
            assert a[name] == pytest.approx(value), name

    b = df.loc[("B", CUTOFF)]
    assert b["frequency"] == 0 and b["monetary_sum"] == 0
    assert b["tenure_days"] == 31
    for name in ("recency_days", "monetary_mean", "days_since_first_purchase",
                 "gap_median_days", "monetary_trend_30d", "complaint_resolved_rate"):
        assert pd.isna(b[name]), name
    assert b["survey_count_30d"] == 0 and b["survey_count_90d"] == 1  # 31 days before
    assert b["satisfaction_last"] == 5.0
    assert pd.isna(b["segment"])

    d = df.loc[("D", CUTOFF)]
    assert d["recency_days"] == 291 and d["frequency"] == 1 and d["frequency_90d"] == 0
    assert pd.isna(d["gap_mean_days"]) and pd.isna(d["monetary_mean_90d"])


# ---------------------------------------------------------------- naive reference


def naive_features(tx_rows, ix_rows, cu_rows, cutoff: dt.date, spec: FeatureSpec) -> dict:
    """Straightforward per-customer computation, one cutoff: the kernel must agree."""
    c = cutoff

    def days(t):
        return (c - t.date()).days

    out = {}
    ids = {r[0] for r in (*tx_rows, *ix_rows, *cu_rows)}
    for cid in ids:
        buys = sorted((r[1], r[2]) for r in tx_rows if r[0] == cid and r[2] >= 0
                      and r[1].date() < c)
        refunds = [r for r in tx_rows if r[0] == cid and r[2] < 0 and r[1].date() < c]
        ix = sorted((r for r in ix_rows if r[0] == cid and r[1].date() < c),
                    key=lambda r: r[1])
        signup = [r[1] for r in cu_rows if r[0] == cid and r[1] is not None]
        firsts = [t.date() for t in
                  [*(b[0] for b in buys[:1]), *(r[1] for r in ix[:1]), *signup]]
        if not firsts or min(firsts) >= c:
            continue
        f = {"tenure_days": (c - min(firsts)).days, "cutoff_month": c.month}
        amounts = [a for _, a in buys]
        f["frequency"] = len(buys)
        f["monetary_sum"] = sum(amounts)
        f["monetary_mean"] = statistics.fmean(amounts) if amounts else None
        f["recency_days"] = days(buys[-1][0]) if buys else None
        f["days_since_first_purchase"] = days(buys[0][0]) if buys else None
        for w in spec.windows_days:
            inw = [a for t, a in buys if days(t) <= w]
            f[f"frequency_{w}d"] = len(inw)
            f[f"monetary_sum_{w}d"] = sum(inw)
            f[f"monetary_mean_{w}d"] = statistics.fmean(inw) if inw else None
        gaps = [(buys[i][0].date() - buys[i - 1][0].date()).days for i in range(1, len(buys))]
        f["gap_mean_days"] = statistics.fmean(gaps) if gaps else None
        f["gap_median_days"] = statistics.median(gaps) if gaps else None
        f["gap_std_days"] = statistics.stdev(gaps) if len(gaps) >= 2 else None
        f["recency_gap_ratio"] = (f["recency_days"] / (1 + f["gap_median_days"])
                                  if gaps else None)
        f["last_gap_days"] = gaps[-1] if gaps else None
        f["prior_gap_median_days"] = statistics.median(gaps[:-1]) if len(gaps) >= 2 else None
        T = spec.trend_days
        last = [a for t, a in buys if days(t) <= T]
        prev = [a for t, a in buys if T < days(t) <= 2 * T]
        f[f"frequency_trend_{T}d"] = len(last) - len(prev)
        f[f"monetary_trend_{T}d"] = ((sum(last) - sum(prev)) / sum(prev)) if sum(prev) else None
        f["refund_count"] = len(refunds)
        f["refund_amount"] = -sum(r[2] for r in refunds)
        f[f"refund_count_{T}d"] = sum(1 for r in refunds if days(r[1]) <= T)
        for k in spec.interaction_kinds:
            of_k = [r for r in ix if r[2] == k]
            for w in spec.windows_days:
                f[f"{k}_count_{w}d"] = sum(1 for r in of_k if days(r[1]) <= w)
            f[f"{k}_days_since_last"] = days(of_k[-1][1]) if of_k else None
        for k in spec.resolution_kinds:
            of_k = [r for r in ix if r[2] == k]

            def resolved_by_cutoff(r):
                return r[4] is True and (r[1] + dt.timedelta(hours=r[5] or 0)).date() < c

            done = [r for r in of_k if resolved_by_cutoff(r)]
            hours = [r[5] for r in done if r[5] is not None]
            f[f"{k}_resolved_rate"] = len(done) / len(of_k) if of_k else None
            f[f"{k}_resolution_hours_mean"] = statistics.fmean(hours) if hours else None
            f[f"{k}_unresolved_{T}d"] = sum(1 for r in of_k
                                           if days(r[1]) <= T and not resolved_by_cutoff(r))
        sats = [r[3] for r in ix if r[3] is not None]
        f["satisfaction_count"] = len(sats)
        f["satisfaction_mean"] = statistics.fmean(sats) if sats else None
        f["satisfaction_last"] = sats[-1] if sats else None
        out[cid] = f
    return out


def _assert_matches(kernel: pd.DataFrame, naive: dict, cutoff: dt.date) -> None:
    got = {cid for cid, c in kernel.index if c == cutoff}
    assert got == set(naive)
    for cid, expected in naive.items():
        row = kernel.loc[(cid, cutoff)]
        for name, value in expected.items():
            if value is None:
                assert pd.isna(row[name]), (cid, name, row[name])
            else:
                # sums are exact in millionths (see features.build._fixed)
                assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-6), (cid, name)


_day = st.dates(dt.date(2023, 1, 1), dt.date(2024, 6, 30))
_hour = st.integers(0, 23)
_cid = st.sampled_from(["c1", "c2", "c3", "007", "Ünï"])
_amount = st.one_of(st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 2)),
                    st.floats(-100, -0.01).map(lambda x: round(x, 2)))
_tx = st.tuples(_cid, st.builds(ts, _day, _hour), _amount)
_ix = st.tuples(_cid, st.builds(ts, _day, _hour), st.sampled_from(SPEC.interaction_kinds),
                st.one_of(st.none(), st.integers(1, 5).map(float)),
                st.one_of(st.none(), st.booleans()),
                st.one_of(st.none(), st.floats(0, 100, allow_nan=False)))
_cu = st.tuples(_cid, st.one_of(st.none(), st.builds(ts, _day, st.just(0))),
                st.sampled_from(["loyal", "wanderer"]), st.none())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx=st.lists(_tx, max_size=40), ix=st.lists(_ix, max_size=30),
       cu=st.lists(_cu, max_size=5, unique_by=lambda r: r[0]),
       cutoffs=st.lists(_day, min_size=1, max_size=4, unique=True))
def test_kernel_matches_naive_reference(tx, ix, cu, cutoffs):
    kernel = _frame(compute_features(*make_inputs(tx, ix, cu), cutoffs, SPEC))
    for cutoff in cutoffs:
        _assert_matches(kernel, naive_features(tx, ix, cu, cutoff, SPEC), cutoff)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx=st.lists(_tx, max_size=30), ix=st.lists(_ix, max_size=20),
       later_tx=st.lists(_tx, max_size=15), later_ix=st.lists(_ix, max_size=15),
       cutoff=_day)
def test_events_at_or_after_the_cutoff_change_no_feature(tx, ix, later_tx, later_ix, cutoff):
    """Leakage: whatever happens on or after the cutoff day, features at the cutoff are equal."""
    def on_or_after(rows):
        shift = [(r[0], ts(max(r[1].date(), cutoff), r[1].hour), *r[2:]) for r in rows]
        return shift

    before = compute_features(*make_inputs(tx, ix), [cutoff], SPEC)
    after = compute_features(*make_inputs(tx + on_or_after(later_tx), ix + on_or_after(later_ix)),
                             [cutoff], SPEC)
    # A customer whose only events come later has no row at the cutoff at all.
    assert before.equals(after)


def test_many_cutoffs_equal_one_at_a_time(fixture_rows):
    cutoffs = [dt.date(2024, 1, 15), dt.date(2024, 2, 1), CUTOFF, dt.date(2024, 6, 1)]
    inputs = make_inputs(*fixture_rows)
    together = compute_features(*inputs, cutoffs, SPEC)
    apart = pa.concat_tables([compute_features(*inputs, [c], SPEC) for c in cutoffs])
    assert_same_bits(together, apart)


# ---------------------------------------------------------------- one pass over many cutoffs


def assert_same_bits(got: pa.Table, want: pa.Table) -> None:
    """Same schema, rows, nulls and values, doubles compared bit for bit."""
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in got.column_names:
        g, w = got.column(name).combine_chunks(), want.column(name).combine_chunks()
        null = np.asarray(g.is_null())
        assert (null == np.asarray(w.is_null())).all(), name
        if pa.types.is_floating(g.type):
            bits = [a.to_numpy(zero_copy_only=False)[~null].view(np.int64) for a in (g, w)]
            np.testing.assert_array_equal(*bits, err_msg=name)
        else:
            assert g.equals(w), name


#: Cutoffs one day apart, a few weeks apart and months apart.
WALK_CUTOFFS = [dt.date(2023, 3, 1), dt.date(2023, 3, 2), dt.date(2023, 4, 15),
                dt.date(2023, 7, 1), dt.date(2023, 7, 31), dt.date(2023, 12, 1),
                dt.date(2024, 1, 1)]


def _varied_rows(seed: int):
    """Customers with events before the first cutoff, between cutoffs, after the last
    and on cutoff days (at midnight, not yet seen, and late the day before); refunds;
    interactions of every kind and one outside the vocabulary, with scores and with
    resolutions that come between cutoffs or exactly at a cutoff's midnight; histories
    long enough that many gaps come at once; signups without events."""
    rng = np.random.default_rng(seed)
    first, last = WALK_CUTOFFS[0], WALK_CUTOFFS[-1]
    span = (last - first).days + 460

    def moment() -> dt.datetime:
        where = rng.random()
        if where < 0.2:   # on a cutoff day or the evening before
            c = WALK_CUTOFFS[rng.integers(len(WALK_CUTOFFS))]
            return ts(c, 0) if rng.random() < 0.5 else ts(c - dt.timedelta(days=1), 23)
        return ts(first + dt.timedelta(days=int(rng.integers(-400, span - 400))),
                  int(rng.integers(0, 24)))

    tx, ix, cu = [], [], []
    kinds = [*SPEC.interaction_kinds, "fax"]
    for i in range(70):
        cid = f"c{i:03d}"
        n = int(rng.choice([0, 1, 2, 5, 12, 80]))
        for _ in range(n):
            amount = round(float(rng.uniform(1, 300)), 2)
            tx.append((cid, moment(), -amount / 4 if rng.random() < 0.15 else amount))
        for _ in range(int(rng.choice([0, 1, 4, 30]))):
            at = moment()
            hours = (None if rng.random() < 0.3 else
                     float(rng.choice([1.5, 12.0, 30.0, 24.0 * rng.integers(1, 120)])))
            ix.append((cid, at, str(rng.choice(kinds)),
                       float(rng.integers(1, 6)) if rng.random() < 0.4 else None,
                       None if rng.random() < 0.2 else bool(rng.random() < 0.7), hours))
        if rng.random() < 0.3:
            cu.append((cid, ts(first + dt.timedelta(days=int(rng.integers(-200, 400))), 0),
                       "loyal", "self_service"))
    # Resolved exactly at a cutoff's first moment: not yet resolved at that cutoff.
    ix.append(("edge", ts(dt.date(2023, 6, 30), 12), "complaint", None, True, 12.0))
    cu.append(("only_signup", ts(dt.date(2023, 1, 1), 0), "wanderer", None))
    tx.append(("only_after", ts(last + dt.timedelta(days=3)), 10.0))
    return tx, ix, cu


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_pass_over_many_cutoffs_equals_each_cutoff_alone(seed):
    """The walk that carries each customer's state from one cutoff to the next gives,
    bit for bit, the rows of a build at each cutoff on its own (which walks from the
    first event straight to its cutoff), RFM scores included."""
    inputs = make_inputs(*_varied_rows(seed))
    edges = rfm_edges(rfm_values(inputs[0], inputs[3], WALK_CUTOFFS))
    together = compute_features(*inputs, WALK_CUTOFFS, SPEC, edges)
    apart = pa.concat_tables([compute_features(*inputs, [c], SPEC, edges)
                              for c in WALK_CUTOFFS])
    assert_same_bits(together, apart)
    pd.testing.assert_frame_equal(
        rfm_values(inputs[0], inputs[3], WALK_CUTOFFS),
        pd.concat([rfm_values(inputs[0], inputs[3], [c]) for c in WALK_CUTOFFS],
                  ignore_index=True))
    # The data is as varied as it says: the rows change between cutoffs in every family.
    df = together.to_pandas()
    per_cutoff = df.groupby("cutoff")
    assert per_cutoff.size().is_monotonic_increasing and per_cutoff.size().nunique() > 3
    for name in ("frequency", "refund_count", "complaint_count_90d", "satisfaction_count",
                 "gap_median_days", "complaint_resolved_rate", "complaint_unresolved_30d"):
        assert per_cutoff[name].sum().nunique() > 2, name
    assert df["complaint_resolved_rate"].between(0, 1, inclusive="neither").any()
    assert "only_after" not in set(df["customer_id"])
    assert (df["customer_id"] == "only_signup").sum() == len(WALK_CUTOFFS)
    edge = df[df["customer_id"] == "edge"].set_index("cutoff")
    assert edge.loc[dt.date(2023, 7, 1), "complaint_unresolved_30d"] == 1
    assert edge.loc[dt.date(2023, 7, 31), "complaint_resolved_rate"] == 1.0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx=st.lists(_tx, max_size=40), ix=st.lists(_ix, max_size=30),
       cu=st.lists(_cu, max_size=5, unique_by=lambda r: r[0]),
       cutoffs=st.lists(_day, min_size=2, max_size=6, unique=True), data=st.data())
def test_one_pass_equals_each_cutoff_alone_on_any_rows(tx, ix, cu, cutoffs, data):
    # Cutoffs on the days of events as well: ties on the cutoff day.
    days = sorted({r[1].date() for r in (*tx, *ix)})
    if days:
        cutoffs = [*cutoffs, *data.draw(st.lists(st.sampled_from(days), max_size=3))]
    cutoffs = sorted(set(cutoffs))  # the order in which a build gives them
    inputs = make_inputs(tx, ix, cu)
    together = compute_features(*inputs, cutoffs, SPEC)
    apart = [compute_features(*inputs, [c], SPEC) for c in cutoffs]
    assert_same_bits(together, pa.concat_tables(apart))


def test_a_walk_goes_through_ascending_cutoffs_only():
    from features.partition import Customers, Purchases

    tx, _, _, index = make_inputs([("a", ts("2024-01-01"), 5.0)])
    customers = Customers(index)
    walk = Purchases(tx, customers.codes(tx), customers.n).walk((30,), 30)
    everyone = np.arange(customers.n)
    walk.at(19_800, everyone)
    walk.at(19_800, everyone)  # the same cutoff again is fine
    with pytest.raises(ValueError, match="ascending cutoffs"):
        walk.at(19_700, everyone)


def test_unsorted_input_gives_the_same_rows(fixture_rows):
    tx, ix, cu = fixture_rows
    sorted_out = compute_features(*make_inputs(tx, ix, cu), [CUTOFF], SPEC)
    shuffled = compute_features(*make_inputs(tx[::-1], ix[::-1], cu[::-1]), [CUTOFF], SPEC)
    assert shuffled.equals(sorted_out)


def test_kinds_given_as_positions_in_the_vocabulary_give_the_same_rows(fixture_rows):
    """The DuckDB engine hands over each kind as its position in the vocabulary, the
    Spark engine as its name; a kind outside the vocabulary counts nowhere either way."""
    tx, ix, cu = fixture_rows
    ix = [*ix, ("A", ts("2024-03-02"), "fax", 3.0, None, None)]
    tables = list(make_inputs(tx, ix, cu))
    by_name = compute_features(*tables, [CUTOFF], SPEC)
    names = tables[1].column("kind").to_pylist()
    positions = [SPEC.interaction_kinds.index(k) if k in SPEC.interaction_kinds else -1
                 for k in names]
    tables[1] = tables[1].set_column(tables[1].schema.get_field_index("kind"), "kind",
                                     pa.array(positions, pa.int16()))
    assert compute_features(*tables, [CUTOFF], SPEC).equals(by_name)
    row = _frame(by_name).loc[("A", CUTOFF)]
    assert row["satisfaction_count"] == 3  # the unknown kind's score still counts


def test_a_resolution_too_far_off_to_fit_is_never_before_a_cutoff():
    """Ten billion hours overflow a microsecond timestamp: the ticket stays unresolved
    (as its resolution moment is after every cutoff), not resolved in the past."""
    ix = [("c", ts("2024-03-20"), "complaint", None, True, 1e10),
          ("c", ts("2024-03-21"), "complaint", None, True, 2.0)]
    row = _frame(compute_features(*make_inputs([], ix), [CUTOFF], SPEC)).iloc[0]
    assert row["complaint_resolved_rate"] == 0.5
    assert row["complaint_resolution_hours_mean"] == 2.0
    assert row[f"complaint_unresolved_{SPEC.trend_days}d"] == 1


@pytest.mark.parametrize("tx, ix", [
    ([("c", ts("2024-01-01"), 5e12)], []),                             # an amount
    ([("c", ts("2024-01-01"), -5e12)], []),                            # a refund
    ([], [("c", ts("2024-01-01"), "complaint", None, True, 5e12)]),    # resolution hours
])
def test_sums_that_would_overflow_their_exact_integers_are_refused(tx, ix):
    with pytest.raises(ValueError, match="too large to sum exactly"):
        compute_features(*make_inputs(tx, ix), [CUTOFF], SPEC)


def test_last_value_follows_time_within_a_day():
    """Two surveys on the same day, given out of order: the later one is the last."""
    ix = [("c", ts("2023-01-01", 9), "survey", 2.0, None, None),
          ("c", ts("2023-01-01", 8), "survey", 1.0, None, None)]
    out = _frame(compute_features(*make_inputs([], ix), [dt.date(2023, 1, 2)], SPEC))
    assert out.iloc[0]["satisfaction_last"] == 2.0


def test_customer_key_missing_from_index_is_refused(fixture_rows):
    tx, ix, cu, index = make_inputs(*fixture_rows)
    with pytest.raises(ValueError, match="missing from customer_index"):
        compute_features(tx, ix, cu, index.slice(0, 1), [CUTOFF], SPEC)


# ---------------------------------------------------------------- RFM scores


def test_rfm_scores_are_quintiles_among_buyers():
    # Ten buyers with 1..10 purchases on distinct days, plus one prospect.
    tx = []
    for i in range(1, 11):
        for j in range(i):
            tx.append((f"b{i:02d}", ts(dt.date(2024, 1, 1) + dt.timedelta(days=j)), 10.0 * i))
    ix = [("p", ts("2024-01-05"), "survey", 3.0, None, None)]
    inputs = make_inputs(tx, ix)
    cutoff = [dt.date(2024, 2, 1)]
    edges = rfm_edges(rfm_values(inputs[0], inputs[3], cutoff))
    df = _frame(compute_features(*inputs, cutoff, SPEC, edges)).reset_index()
    freq = df.set_index("customer_id")["rfm_frequency_score"]
    # frequencies 1..10: quintile edges at 2.8, 4.6, 6.4, 8.2
    assert freq.loc[["b01", "b02"]].tolist() == [1, 1]
    assert freq.loc[["b03", "b04"]].tolist() == [2, 2]
    assert freq.loc[["b09", "b10"]].tolist() == [5, 5]
    assert pd.isna(freq.loc["p"])
    # b10 bought most recently (day 9): best recency score; b01 on day 0: worst
    rec = df.set_index("customer_id")["rfm_recency_score"]
    assert rec.loc["b10"] == 5 and rec.loc["b01"] == 1
    mon = df.set_index("customer_id")["rfm_monetary_score"]
    assert mon.loc["b10"] == 5 and mon.loc["b01"] == 1


def test_rfm_scores_null_without_edges(fixture_rows):
    out = compute_features(*make_inputs(*fixture_rows), [CUTOFF], SPEC)
    assert out.column("rfm_recency_score").null_count == out.num_rows


# ---------------------------------------------------------------- declarations


def test_feature_table_declares_every_column_once():
    table = feature_table(FeatureSpec())
    assert len(table.names) == len(set(table.names))
    assert all(c.description and c.family for c in table.columns)
    assert {"recency_days", "frequency", "monetary_sum", "gap_median_days",
            "complaint_unresolved_90d", "web_visit_count_365d"} <= set(table.names)


def test_resolution_kinds_must_be_interaction_kinds():
    with pytest.raises(ValueError, match="not interaction kinds"):
        FeatureSpec(interaction_kinds=("call",), resolution_kinds=("complaint",))


# ---------------------------------------------------------------- cutoffs


def test_snapshot_cutoffs_default_to_a_year_of_history_then_monthly():
    cutoffs = snapshot_cutoffs(first_event=dt.date(2022, 1, 10), last_event=dt.date(2024, 3, 14))
    assert cutoffs[0] == dt.date(2023, 2, 1)
    assert cutoffs[-1] == dt.date(2024, 3, 15)       # the day after the last event
    assert cutoffs[-2] == dt.date(2024, 3, 1)
    assert all(c.day == 1 for c in cutoffs[:-1])
    assert cutoffs == sorted(set(cutoffs))


def test_snapshot_cutoffs_explicit_range_and_frequency():
    cutoffs = snapshot_cutoffs(first_event=dt.date(2022, 1, 1), last_event=dt.date(2022, 12, 31),
                               frequency="30D", first=dt.date(2022, 6, 1),
                               last=dt.date(2022, 8, 1))
    assert cutoffs == [dt.date(2022, 6, 1), dt.date(2022, 7, 1), dt.date(2022, 7, 31),
                       dt.date(2022, 8, 1)]


def test_snapshot_cutoffs_short_history_still_gives_the_last_day():
    cutoffs = snapshot_cutoffs(first_event=dt.date(2024, 1, 1), last_event=dt.date(2024, 2, 1))
    assert cutoffs == [dt.date(2024, 2, 2)]


def test_gap_statistics_many_purchases_same_day():
    tx = [("A", ts("2024-01-01", h), 1.0) for h in range(5)]
    df = _frame(compute_features(*make_inputs(tx), [dt.date(2024, 1, 2)], SPEC))
    row = df.iloc[0]
    assert row["gap_median_days"] == 0 and row["gap_std_days"] == 0
    assert row["recency_gap_ratio"] == 1.0
    assert not math.isinf(row["recency_gap_ratio"])
    assert np.isfinite(df.select_dtypes("number").to_numpy(dtype=float)[~df.select_dtypes(
        "number").isna().to_numpy()]).all()


def test_long_histories_match_the_naive_reference():
    """Customers with hundreds of purchases and interactions (the gaps are sorted
    another way past a few dozen) at cutoffs inside and after their histories."""
    rng = np.random.default_rng(3)
    tx, ix = [], []
    for cid, n in (("heavy", 400), ("medium", 45), ("light", 3)):
        days = np.sort(rng.integers(0, 540, n))
        for d, a in zip(days, rng.integers(-20, 300, n), strict=True):
            tx.append((cid, ts(dt.date(2023, 1, 1) + dt.timedelta(days=int(d)),
                               int(rng.integers(0, 24))), float(a) or 1.0))
        for d in np.sort(rng.integers(0, 540, n // 2)):
            ix.append((cid, ts(dt.date(2023, 1, 1) + dt.timedelta(days=int(d)), 12),
                       str(rng.choice(SPEC.interaction_kinds)),
                       float(rng.integers(1, 6)) if rng.random() < 0.3 else None,
                       bool(rng.random() < 0.7) if rng.random() < 0.5 else None,
                       float(rng.uniform(0, 80)) if rng.random() < 0.5 else None))
    cutoffs = [dt.date(2023, 3, 1), dt.date(2023, 11, 17), dt.date(2024, 7, 1)]
    kernel = _frame(compute_features(*make_inputs(tx, ix), cutoffs, SPEC))
    for cutoff in cutoffs:
        _assert_matches(kernel, naive_features(tx, ix, [], cutoff, SPEC), cutoff)


def test_duckdb_rfm_edges_equal_the_reference(tmp_path):
    import pyarrow.parquet as pq

    from features.engines.duckdb import connect, rfm_edges_duckdb

    rng = np.random.default_rng(3)
    values = pd.DataFrame({
        "cutoff": np.repeat(np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]"), 50),
        "recency_days": rng.integers(1, 400, 100).astype(float),
        "frequency": rng.integers(1, 30, 100),
        "monetary_mean": rng.gamma(2.0, 30.0, 100),
    })
    for name, part in (("a", values.iloc[:60]), ("b", values.iloc[60:])):
        for cutoff, rows in part.groupby("cutoff"):
            folder = tmp_path / cutoff.date().isoformat()
            folder.mkdir(exist_ok=True)
            pq.write_table(pa.Table.from_pandas(rows.drop(columns="cutoff")),
                           folder / f"{name}.parquet")
    got = rfm_edges_duckdb(connect(), tmp_path)
    expected = rfm_edges(values)
    key = ["cutoff", "source"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True), check_dtype=False)
