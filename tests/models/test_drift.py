"""Drift reference: PSI per column, bins on ties, missing values, round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from models.column_profile import ColumnProfile
from models.drift import DRIFT_COLUMNS, FORMAT, DriftReference

EPS = 1e-4
BELOW_ZERO = np.nextafter(0.0, -np.inf)  # the edge just below a reference minimum of 0


def counts_frame() -> pd.DataFrame:
    """100 integer counts, 70 % zeros: quantiles 0.1 .. 0.7 are all 0, 0.8 is 1, 0.9 is 2."""
    return pd.DataFrame({"n": [0] * 70 + [1] * 10 + [2] * 10 + [3] * 5 + [4] * 5})


# --------------------------------------------------------------------------
# Numeric bins
# --------------------------------------------------------------------------


def test_tied_counts_get_unique_edges_and_the_zeros_a_bin_of_their_own():
    profile = DriftReference.fit(counts_frame()).columns["n"]
    assert profile.kind == "numeric" and profile.rows == 100
    assert profile.edges == (-np.inf, BELOW_ZERO, 0.0, 1.0, 2.0, np.inf)
    # bins: < 0, = 0, (0, 1], (1, 2], > 2, missing
    assert profile.shares == pytest.approx((0.0, 0.7, 0.1, 0.1, 0.1, 0.0))


def test_a_value_equal_to_an_edge_falls_in_the_bin_below_it():
    profile = DriftReference.fit(counts_frame()).columns["n"]
    shares = profile.shares_of([-1.0, 0.0, 0.5, 1.0, 2.0, 2.5, np.nan, 7.0])
    # bins: < 0 | = 0 | (0, 1] | (1, 2] | > 2 | missing
    assert shares.tolist() == pytest.approx([1 / 8, 1 / 8, 2 / 8, 1 / 8, 2 / 8, 1 / 8])


def test_shares_are_the_same_whatever_the_row_order():
    frame = counts_frame()
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    reference = DriftReference.fit(frame)
    assert DriftReference.fit(shuffled) == reference
    assert reference.compare(shuffled)["psi"].tolist() == [0.0]


def test_constant_column_is_stable_until_its_values_move_either_way():
    reference = DriftReference.fit(pd.DataFrame({"x": [5.0] * 50}))
    profile = reference.columns["x"]
    assert profile.edges == (-np.inf, np.nextafter(5.0, -np.inf), 5.0, np.inf)
    assert profile.shares == (0.0, 1.0, 0.0, 0.0)  # < 5, = 5, > 5, missing
    assert reference.compare(pd.DataFrame({"x": [5.0] * 20}))["psi"].iloc[0] == 0.0
    moved = 2 * (1 - EPS) * math.log(1 / EPS)  # all the weight leaves one bin for another
    for value in (4.0, 6.0):
        row = reference.compare(pd.DataFrame({"x": [value] * 20})).iloc[0]
        assert row["psi"] == pytest.approx(moved, rel=1e-12)
        assert row["drifted"]


def test_all_missing_numeric_reference_has_only_an_empty_value_bin_and_the_missing_bin():
    frame = pd.DataFrame({"x": pd.array([None] * 10, dtype="Float64")})
    reference = DriftReference.fit(frame)
    profile = reference.columns["x"]
    assert profile.edges == (-np.inf, np.inf) and profile.shares == (0.0, 1.0)
    assert reference.compare(pd.DataFrame({"x": [np.nan] * 4}))["psi"].iloc[0] == 0.0
    half = reference.compare(pd.DataFrame({"x": [1.0, 2.0, np.nan, np.nan]})).iloc[0]
    assert half["psi"] == pytest.approx((0.5 - EPS) * math.log(0.5 / EPS)
                                        + (0.5 - 1) * math.log(0.5), rel=1e-12)
    assert half["current_missing_share"] == 0.5 and half["reference_missing_share"] == 1.0


def test_shifted_normal_drifts_and_sampling_noise_does_not():
    rng = np.random.default_rng(20240611)
    reference = DriftReference.fit(pd.DataFrame({"x": rng.normal(size=20_000)}))
    shifted = reference.compare(pd.DataFrame({"x": rng.normal(0.75, 1.0, size=20_000)})).iloc[0]
    same = reference.compare(pd.DataFrame({"x": rng.normal(size=20_000)})).iloc[0]
    assert shifted["psi"] > 0.2 and shifted["drifted"]
    assert same["psi"] < 0.1 and not same["drifted"]


def test_infinite_values_fall_in_the_outermost_bins():
    reference = DriftReference.fit(pd.DataFrame({"x": [-np.inf, 1.0, 2.0, np.inf]}), bins=2)
    profile = reference.columns["x"]
    assert all(np.isfinite(profile.edges[1:-1]))
    shares = profile.shares_of(pd.Series([-np.inf, np.inf]))
    assert shares[0] == 0.5 and shares[-2] == 0.5


# --------------------------------------------------------------------------
# Categorical columns and missing values
# --------------------------------------------------------------------------


def test_unseen_category_goes_to_the_other_bin():
    reference = DriftReference.fit(pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50}))
    profile = reference.columns["c"]
    assert profile.kind == "categorical"
    assert profile.categories == ("a", "b") and profile.shares == (0.5, 0.5, 0.0, 0.0)
    row = reference.compare(pd.DataFrame({"c": ["a"] * 50 + ["c"] * 50})).iloc[0]
    # b: 0.5 -> 0 (floored to EPS); other: 0 (floored) -> 0.5
    assert row["psi"] == pytest.approx(2 * (0.5 - EPS) * math.log(0.5 / EPS), rel=1e-12)
    assert row["kind"] == "categorical" and row["drifted"]


def test_only_the_most_frequent_categories_get_a_bin():
    frame = pd.DataFrame({"c": ["z"] * 4 + ["y"] * 3 + ["x"] * 3 + ["w"] * 2 + [None] * 8})
    profile = DriftReference.fit(frame, max_categories=2).columns["c"]
    assert profile.categories == ("z", "x")  # x and y tie: text order
    assert profile.shares == pytest.approx((0.2, 0.15, 0.25, 0.4))  # z, x, other, missing


def test_a_change_in_the_missing_share_alone_is_drift():
    reference = DriftReference.fit(pd.DataFrame({"c": ["a"] * 45 + ["b"] * 45 + [None] * 10}))
    current = pd.DataFrame({"c": ["a"] * 30 + ["b"] * 30 + [None] * 40})
    row = reference.compare(current).iloc[0]
    # a and b keep a 50/50 split among known values; only missing goes from 0.1 to 0.4
    expected = 2 * (0.3 - 0.45) * math.log(0.3 / 0.45) + (0.4 - 0.1) * math.log(0.4 / 0.1)
    assert row["psi"] == pytest.approx(expected, rel=1e-12)
    assert row["reference_missing_share"] == pytest.approx(0.1)
    assert row["current_missing_share"] == pytest.approx(0.4)
    assert row["drifted"]


def test_nullable_dtypes_match_their_numpy_counterparts():
    nullable = pd.DataFrame({
        "i": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
        "f": pd.array([0.5, None, 1.5, 2.5, 3.5, 4.5], dtype="Float64"),
        "b": pd.array([True, False, None, True, True, False], dtype="boolean"),
        "s": pd.array(["a", "b", pd.NA, "a", "c", "a"], dtype="string"),
        "k": pd.Categorical(["x", None, "y", "x", "x", "y"], categories=["x", "y", "unused"]),
        "ia": pd.array([1, 2, None, 4, 5, 6], dtype=pd.ArrowDtype(pa.int64())),
        "sa": pd.array(["a", "b", None, "a", "c", "a"], dtype=pd.ArrowDtype(pa.string())),
    })
    before = nullable.copy()
    reference = DriftReference.fit(nullable)
    assert {n: p.kind for n, p in reference.columns.items()} == {
        "i": "numeric", "f": "numeric", "b": "categorical", "s": "categorical",
        "k": "categorical", "ia": "numeric", "sa": "categorical"}
    assert reference.columns["b"].categories == ("True", "False")
    assert reference.columns["k"].categories == ("x", "y")  # an unused category gets no bin
    plain = pd.DataFrame({
        "i": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
        "f": [0.5, np.nan, 1.5, 2.5, 3.5, 4.5],
        "b": np.array([True, False, None, True, True, False], dtype=object),
        "s": np.array(["a", "b", None, "a", "c", "a"], dtype=object),
        "k": np.array(["x", np.nan, "y", "x", "x", "y"], dtype=object),
    })
    out = reference.compare(plain.assign(ia=plain["i"], sa=plain["s"]))
    assert out["psi"].tolist() == [0.0] * 7
    assert out["current_missing_share"].tolist() == pytest.approx([1 / 6] * 7)
    assert out["reference_missing_share"].tolist() == pytest.approx([1 / 6] * 7)
    pd.testing.assert_frame_equal(nullable, before)


def test_categories_are_compared_by_their_text():
    reference = DriftReference.fit(pd.DataFrame({"c": np.array([1, "1", "a", None],
                                                               dtype=object)}))
    assert reference.columns["c"].categories == ("1", "a")
    assert reference.columns["c"].shares == (0.5, 0.25, 0.0, 0.25)


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------


def test_compare_layout_order_and_threshold():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"same": rng.normal(size=1000), "moved": rng.normal(size=1000),
                          "text": rng.choice(["a", "b"], size=1000)})
    reference = DriftReference.fit(frame)
    current = frame.assign(moved=frame["moved"] + 2, extra=1)
    out = reference.compare(current)
    assert tuple(out.columns) == DRIFT_COLUMNS
    assert out["column"].tolist() == ["moved", "same", "text"]  # same and text tie at 0
    assert out["psi"].is_monotonic_decreasing and out.index.tolist() == [0, 1, 2]
    assert out["kind"].tolist() == ["numeric", "numeric", "categorical"]
    assert out["drifted"].tolist() == [True, False, False]
    assert out["reference_rows"].dtype == np.int64 and out["drifted"].dtype == bool
    assert (out["current_rows"] == 1000).all()
    at_psi = reference.compare(current, threshold=float(out["psi"].iloc[0]))
    assert not at_psi["drifted"].any()  # drifted means strictly above the threshold


def test_compare_names_every_missing_column():
    reference = DriftReference.fit(pd.DataFrame({"a": [1.0], "b": [2.0], "c": ["x"]}))
    with pytest.raises(ValueError, match=r"lacks 2 of the 3 columns: 'b', 'c'"):
        reference.compare(pd.DataFrame({"a": [1.0]}))


@pytest.mark.parametrize(("current", "message"), [
    (pd.DataFrame({"x": ["1.5", "high"]}), r"column 'x': 1 of 2 values are not numbers "
                                           r"\(e\.g\. 'high'\)"),
    (pd.DataFrame({"x": pd.Series([], dtype=float)}), "the current frame has no rows"),
])
def test_compare_refuses_text_in_a_numeric_column_and_empty_frames(current, message):
    reference = DriftReference.fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=message):
        reference.compare(current)


def test_compare_reads_numbers_stored_as_text():
    reference = DriftReference.fit(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), bins=2)
    current = pd.DataFrame({"x": np.array(["1", 2, "3.0", 4], dtype=object)})
    assert reference.compare(current)["psi"].iloc[0] == 0.0


@pytest.mark.parametrize(("frame", "kwargs", "message"), [
    (pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])}), {}, r"column 't' has dtype "
                                                               r"datetime64"),
    (pd.DataFrame({"x": [1.0]}), {"columns": ["x", "y"]}, r"lacks 1 of the 2 columns: 'y'"),
    (pd.DataFrame({"x": [1.0]}), {"columns": ["x", "x"]}, r"the columns \['x'\] appear more"),
    (pd.DataFrame({0: [1.0]}), {}, "column names must be texts"),
    (pd.DataFrame({"x": []}), {}, "the reference frame has no rows"),
    (pd.DataFrame({"x": [1.0]}), {"bins": 1}, "bins must be an integer >= 2, got 1"),
    (pd.DataFrame({"x": [1.0]}), {"max_categories": 0}, "max_categories must be an integer"),
])
def test_fit_refuses(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DriftReference.fit(frame, **kwargs)


# --------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------


def test_round_trip_through_json_is_exact():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 1, size=500),
        "count": rng.poisson(0.4, size=500),
        "constant": 1.0,
        "empty": np.nan,
        "channel": rng.choice(["web", "store", None], size=500),
        "flag": rng.random(500) > 0.3,
    })
    reference = DriftReference.fit(frame)
    text = json.dumps(reference.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["format"] == FORMAT
    assert data["columns"]["constant"]["edges"][0] == "-inf"
    assert data["columns"]["constant"]["edges"][-1] == "inf"
    back = DriftReference.from_dict(data)
    assert back == reference
    assert list(back.columns) == list(reference.columns)
    current = frame.assign(amount=frame["amount"] * 1.5)
    pd.testing.assert_frame_equal(back.compare(current), reference.compare(current))


def test_reference_is_read_only():
    reference = DriftReference.fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(TypeError):
        reference.columns["y"] = reference.columns["x"]


@pytest.mark.parametrize(("data", "message"), [
    ({"format": "drift-reference/0", "columns": {}}, "expected a mapping with format"),
    ([], "expected a mapping with format"),
    ({"format": FORMAT, "columns": []}, "'columns' must be a mapping"),
    ({"format": FORMAT, "columns": {"x": {"kind": "numeric", "rows": 2, "shares": [1, 0]}}},
     r"column 'x': .* missing \['edges'\]"),
    ({"format": FORMAT, "columns": {"x": {"kind": "numeric", "rows": 2, "shares": [1, 0],
                                          "edges": ["-inf", "infinity"]}}},
     r"column 'x': an edge must be a number, 'inf' or '-inf', got 'infinity'"),
    ({"format": FORMAT, "columns": {"x": {"kind": "numeric", "rows": 2, "shares": [0.5, 0.4],
                                          "edges": ["-inf", "inf"]}}},
     r"column 'x': ColumnProfile.shares must lie in \[0, 1\] and sum to 1"),
])
def test_from_dict_refuses_malformed_data(data, message):
    with pytest.raises(ValueError, match=message):
        DriftReference.from_dict(data)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "ordinal", "shares": (1.0,), "rows": 1}, "kind must be 'numeric' or"),
    ({"kind": "numeric", "shares": (1.0, 0.0), "rows": 0, "edges": (-np.inf, np.inf)},
     "rows must be a positive integer, got 0"),
    ({"kind": "numeric", "shares": (0.5, 0.5, 0.0), "rows": 2, "edges": (-np.inf, 1.0, 1.0,
                                                                          np.inf)},
     "edges must increase strictly from -inf to inf"),
    ({"kind": "numeric", "shares": (1.0, 0.0, 0.0), "rows": 2, "edges": (-np.inf, np.inf,
                                                                       np.inf)},
     "edges must increase strictly from -inf to inf"),
    ({"kind": "numeric", "shares": (1.0, 0.0), "rows": 2, "edges": (0.0, np.inf)},
     "edges must increase strictly from -inf to inf"),
    ({"kind": "numeric", "shares": (1.0,), "rows": 2, "edges": (-np.inf, np.inf)},
     "shares must have 2 entries for its numeric bins and the missing bin, got 1"),
    ({"kind": "categorical", "shares": (0.5, 0.5, 0.0, 0.0), "rows": 2,
      "categories": ("a", "a")}, "categories must be unique"),
    ({"kind": "categorical", "shares": (1.0, 0.0, 0.0), "rows": 2, "categories": (1,)},
     "categories must be texts"),
    ({"kind": "categorical", "shares": (0.0, 1.0), "rows": 2, "edges": (-np.inf, np.inf)},
     "edges must be empty for a categorical column"),
])
def test_column_profile_refuses_inconsistent_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ColumnProfile(**kwargs)


def test_columns_of_equal_psi_keep_the_reference_order():
    names = [f"c{i:02d}" for i in range(40)][::-1]
    frame = pd.DataFrame({name: ["a"] * 10 + ["b"] * 10 for name in names})
    moved = names[::3]  # every third column: half of the a become b
    current = frame.assign(**{name: ["a"] * 5 + ["b"] * 15 for name in moved})
    out = DriftReference.fit(frame).compare(current)
    assert out["column"].tolist() == moved + [n for n in names if n not in moved]


def test_counts_of_chunks_add_up_to_the_comparison_of_the_whole():
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"x": rng.normal(size=2000), "k": rng.choice(["a", "b"], 2000)})
    current = pd.DataFrame({"x": rng.normal(0.5, 1, size=1500),
                            "k": rng.choice(["a", "b", "c"], 1500)})
    current.loc[::7, "x"] = np.nan
    ref = DriftReference.fit(reference, bins=8)
    parts = [ref.counts(current.iloc[i:i + 400]) for i in range(0, len(current), 400)]
    summed = {name: np.sum([p[name] for p in parts], axis=0) for name in ref.columns}
    pd.testing.assert_frame_equal(ref.compare_counts(summed, threshold=0.1),
                                  ref.compare(current, threshold=0.1))
    with pytest.raises(ValueError, match=r"no counts for \['k'\]"):
        ref.compare_counts({"x": summed["x"]})
    with pytest.raises(ValueError, match="bin counts with a positive total"):
        ref.compare_counts({"x": summed["x"][:-1], "k": summed["k"]})
