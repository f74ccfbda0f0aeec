"""Which columns are model inputs, the design matrix and its schema (FeatureFrame)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import FeatureSpec, feature_table
from models.design import FeatureFrame, design_matrix, feature_columns, learn_categories
from models.stages import STAGES

# --------------------------------------------------------------------------
# Which columns are inputs
# --------------------------------------------------------------------------


def test_feature_columns_of_the_feature_table():
    names = feature_table(FeatureSpec()).names
    numeric, categorical = feature_columns(names)
    assert categorical == ("segment", "relationship_type", "stage")
    assert "customer_id" not in numeric and "cutoff" not in numeric
    assert not set(numeric) & set(categorical)
    assert list(numeric) == [n for n in names
                             if n not in ("customer_id", "cutoff", "segment", "relationship_type")]


def test_feature_columns_reject_a_stage_feature():
    with pytest.raises(ValueError, match="labels table"):
        feature_columns(["customer_id", "cutoff", "frequency", "stage"])


# --------------------------------------------------------------------------
# The design matrix
# --------------------------------------------------------------------------


def _tiny() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "frequency": pd.array([3, None, 0, 7], dtype="Int32"),
        "recency_days": [1.5, np.nan, 4.0, 2.0],
        "segment": ["loyal", "martian", None, "discount"],
        "stage": ["core", "lost", "prospect", "core"],
    }, index=[10, 11, 12, 13])


TINY_CATS = {"segment": ("discount", "loyal"), "stage": STAGES}


def test_design_matrix_columns_values_and_fixed_categories():
    got = design_matrix(_tiny(), numeric=["frequency", "recency_days"],
                        categorical=["segment", "stage"], categories=TINY_CATS)
    expected = pd.DataFrame({
        "frequency": [3.0, np.nan, 0.0, 7.0],
        "recency_days": [1.5, np.nan, 4.0, 2.0],
        "segment": pd.Categorical(["loyal", None, None, "discount"],
                                  categories=["discount", "loyal"]),
        "stage": pd.Categorical(["core", "lost", "prospect", "core"], categories=list(STAGES)),
    }, index=[10, 11, 12, 13])
    pd.testing.assert_frame_equal(got, expected)
    # the codes are those of the given order, not of the values present
    assert got["stage"].cat.codes.tolist() == [3, 5, 0, 3]
    assert list(got["stage"].cat.categories) == list(STAGES)


def test_design_matrix_unseen_category_is_missing():
    got = design_matrix(_tiny(), numeric=[], categorical=["segment"], categories=TINY_CATS)
    assert got["segment"].isna().tolist() == [False, True, True, False]
    assert "martian" not in got["segment"].cat.categories


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [2], [1, 3], []], ids=str)
def test_design_matrix_schema_does_not_depend_on_rows(rows):
    full = design_matrix(_tiny(), numeric=["frequency", "recency_days"],
                         categorical=["segment", "stage"], categories=TINY_CATS)
    part = design_matrix(_tiny().iloc[rows], numeric=["frequency", "recency_days"],
                         categorical=["segment", "stage"], categories=TINY_CATS)
    assert list(part.columns) == list(full.columns)
    pd.testing.assert_series_equal(part.dtypes, full.dtypes)
    assert all(part[c].dtype == full[c].dtype for c in ("segment", "stage"))


def test_design_matrix_does_not_modify_its_input():
    frame = _tiny()
    before = frame.copy()
    out = design_matrix(frame, numeric=["frequency"], categorical=["segment"],
                        categories=TINY_CATS)
    out.iloc[0, 0] = -1.0
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"numeric": ["nope"], "categorical": [], "categories": {}}, "missing from the frame"),
    ({"numeric": [], "categorical": ["segment"], "categories": {}}, "no categories"),
    ({"numeric": ["segment"], "categorical": [], "categories": {}}, "numeric column 'segment'"),
    ({"numeric": ["frequency", "frequency"], "categorical": [], "categories": {}},
     "more than once"),
    ({"numeric": [], "categorical": ["segment"], "categories": {"segment": ["a", "a"]}},
     "repeated"),
])
def test_design_matrix_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        design_matrix(_tiny(), **kwargs)


def test_learn_categories_sorted_distinct_non_null_and_fixed_kept():
    cats = learn_categories(_tiny(), ["segment", "stage"], fixed={"stage": STAGES})
    assert cats == {"segment": ("discount", "loyal", "martian"), "stage": STAGES}


def test_feature_frame_round_trip_and_transform():
    spec = FeatureFrame.from_training(_tiny(), numeric=["frequency"],
                                      categorical=["segment", "stage"],
                                      fixed_categories={"stage": STAGES})
    again = FeatureFrame.from_dict(spec.to_dict())
    assert again == spec
    assert spec.columns == ("frequency", "segment", "stage")
    pd.testing.assert_frame_equal(
        again.transform(_tiny()),
        design_matrix(_tiny(), numeric=["frequency"], categorical=["segment", "stage"],
                      categories=spec.categories))
