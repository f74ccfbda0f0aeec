"""Value tiers: absolute and quantile cuts, within groups, and cuts fitted on a reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.value_tiers import VALUE_DTYPE, VALUE_TIERS, TierCuts, ValueTiers, value_tier

# --------------------------------------------------------------------------
# Value tiers
# --------------------------------------------------------------------------


def test_absolute_tiers_a_value_at_a_cut_moves_up():
    tiers = ValueTiers(method="absolute", cuts=(100, 500))
    out = value_tier([0, 99.99, 100, 499, 500, 1e6, None], tiers)
    assert out.dtype == VALUE_DTYPE and list(out.categories) == list(VALUE_TIERS)
    assert list(out[:6]) == ["low", "low", "medium", "medium", "high", "high"]
    assert pd.isna(out[6])
    assert tiers.thresholds([1, 2, 3]) == (100.0, 500.0)


def test_quantile_tiers_split_the_population_by_share():
    values = np.arange(1, 11, dtype=float)  # 1..10: quantiles 0.5 -> 5.5, 0.8 -> 8.2
    tiers = ValueTiers()  # quantile, (0.5, 0.8)
    assert tiers.thresholds(values) == pytest.approx((5.5, 8.2))
    out = value_tier(values[::-1], tiers)  # order of the input is kept
    assert list(out) == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5


def test_quantile_tiers_ties_at_a_quantile_stay_low():
    # Six zero predictions out of ten: the median is 0, and zero must not be "medium".
    values = [0, 0, 0, 0, 0, 0, 10, 20, 30, 40]
    assert list(value_tier(values, ValueTiers())) == ["low"] * 6 + ["medium"] * 2 + ["high"] * 2


def test_quantile_tiers_ignore_missing_values():
    out = value_tier([np.nan, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ValueTiers())
    assert pd.isna(out[0])
    assert list(out[1:]) == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2


def test_quantile_tiers_within_groups():
    values = [1, 2, 3, 4, 100, 200, 300, 400]
    groups = [True] * 4 + [False] * 4  # e.g. prospect or not
    tiers = ValueTiers(cuts=(0.5, 0.75))
    assert list(value_tier(values, tiers)) == ["low"] * 4 + ["medium"] * 2 + ["high"] * 2
    assert list(value_tier(values, tiers, groups=groups)) == (
        ["low", "low", "medium", "high"] * 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "rank"}, r"method must be 'quantile' or 'absolute', got 'rank'"),
    ({"cuts": (0.5,)}, r"cuts must be two numbers .* got \(0\.5,\)"),
    ({"cuts": (0.8, 0.5)}, r"cuts must increase strictly .* got \(0\.8, 0\.5\)"),
    ({"cuts": (0.5, 1.0)}, r"strictly between 0 and 1, got \(0\.5, 1\.0\)"),
    ({"cuts": (0.0, 0.5)}, r"strictly between 0 and 1, got \(0\.0, 0\.5\)"),
    ({"method": "absolute", "cuts": (10, float("inf"))}, r"cuts must be finite numbers"),
])
def test_invalid_value_tiers_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ValueTiers(**kwargs)


def test_absolute_cuts_may_exceed_one_and_groups_are_refused_with_them():
    tiers = ValueTiers(method="absolute", cuts=(50, 200))
    with pytest.raises(ValueError, match="groups apply only to method='quantile'"):
        value_tier([1, 2], tiers, groups=[0, 1])
    with pytest.raises(ValueError, match=r"1 of 2 values are infinite"):
        value_tier([1, np.inf], tiers)


def test_fitted_cuts_tier_new_customers_against_the_reference():
    reference = np.arange(1, 11, dtype=float)  # quantiles 5.5 and 8.2
    cuts = ValueTiers().fit(reference)
    assert cuts.cuts == {"*": pytest.approx((5.5, 8.2))} and cuts.side == "left"
    # A new batch is tiered by the reference's amounts, not by its own quantiles.
    assert list(cuts.apply([5.5, 5.6, 8.2, 8.3, 0.0])) == [
        "low", "medium", "medium", "high", "low"]
    # One customer alone gets the same tier as inside a batch.
    assert [cuts.apply([v])[0] for v in (5.6, 8.3)] == ["medium", "high"]


def test_fitted_cuts_per_group_and_round_trip():
    values = [1, 2, 3, 4, 100, 200, 300, 400]
    groups = ["prospect"] * 4 + ["buyer"] * 4
    cuts = ValueTiers(cuts=(0.5, 0.75)).fit(values, groups)
    assert cuts.grouped and set(cuts.cuts) == {"prospect", "buyer"}
    assert list(cuts.apply([3, 300], ["prospect", "buyer"])) == ["medium", "medium"]
    assert list(cuts.apply([3, 3], ["prospect", "buyer"])) == ["medium", "low"]
    back = TierCuts.from_dict(json.loads(json.dumps(cuts.to_dict())))
    assert back == cuts
    with pytest.raises(ValueError, match=r"these cuts are per group .*pass the group"):
        cuts.apply([1.0])
    with pytest.raises(ValueError, match=r"no cuts for the groups \['lead'\]"):
        cuts.apply([1.0], ["lead"])


def test_absolute_fitted_cuts_move_a_value_at_a_cut_up():
    cuts = ValueTiers(method="absolute", cuts=(100, 500)).fit([1.0, 2.0])
    assert cuts.side == "right" and cuts.cuts == {"*": (100.0, 500.0)}
    assert list(cuts.apply([100, 500, 99])) == ["medium", "high", "low"]
    with pytest.raises(ValueError, match="do not pass groups"):
        cuts.apply([1.0], ["buyer"])


def test_cuts_of_a_group_without_reference_values_give_no_tier():
    cuts = TierCuts({"prospect": (np.nan, np.nan), "buyer": (1.0, 2.0)})
    out = cuts.apply([5.0, 5.0], ["prospect", "buyer"])
    assert pd.isna(out[0]) and out[1] == "high"
    with pytest.raises(ValueError, match="decrease"):
        TierCuts({"*": (3.0, 1.0)})
