"""Rows of each outcome per split (models/outcomes.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from models.outcomes import MIN_ROWS_PER_OUTCOME, Shortfall, outcome_counts, outcome_shortfalls


def _labels(**splits: tuple[int, int, int]) -> pd.DataFrame:
    """Label rows: per split, (defected, retained, prospects without a label)."""
    split, defected = [], []
    for name, (yes, no, prospects) in splits.items():
        split += [name] * (yes + no + prospects)
        defected += [True] * yes + [False] * no + [None] * prospects
    return pd.DataFrame({"split": pd.Categorical(split, categories=["train", "validation",
                                                                   "test"]),
                         "defected": pd.array(defected, dtype="boolean")})


def test_counts_per_split_leave_prospects_out():
    labels = _labels(train=(3, 5, 2), validation=(1, 0, 4), test=(0, 2, 0))
    assert outcome_counts(labels) == {"train": {"defected": 3, "retained": 5},
                                      "validation": {"defected": 1, "retained": 0},
                                      "test": {"defected": 0, "retained": 2}}


def test_a_split_without_rows_counts_zeros():
    labels = _labels(train=(4, 4, 0), test=(4, 4, 0))
    assert outcome_counts(labels)["validation"] == {"defected": 0, "retained": 0}


def test_every_split_with_enough_of_each_outcome_passes():
    n = MIN_ROWS_PER_OUTCOME
    assert outcome_shortfalls(_labels(train=(n, n, 7), validation=(n, n, 0),
                                      test=(n, n + 30, 1))) == []


def test_one_outcome_or_too_few_of_one_is_a_shortfall():
    n = MIN_ROWS_PER_OUTCOME
    labels = _labels(train=(n, n, 0), validation=(14, 0, 3), test=(n - 1, 200, 0))
    assert outcome_shortfalls(labels) == [Shortfall("validation", 14, 0, n),
                                          Shortfall("test", n - 1, 200, n)]


def test_the_minimum_is_a_parameter():
    labels = _labels(train=(2, 2, 0), validation=(2, 2, 0), test=(2, 1, 0))
    assert outcome_shortfalls(labels, minimum=2) == [Shortfall("test", 2, 1, 2)]
    assert outcome_shortfalls(labels, minimum=1) == []
    with pytest.raises(ValueError, match="minimum must be at least 1, got 0"):
        outcome_shortfalls(labels, minimum=0)


@pytest.mark.parametrize(("shortfall", "words"), [
    (Shortfall("validation", 14, 0, 20), "the validation split holds 14 labelled rows, "
                                         "all defected"),
    (Shortfall("train", 0, 9, 20), "the train split holds 9 labelled rows, all retained"),
    (Shortfall("test", 3, 40, 20), "the test split holds 43 labelled rows, 3 defected and "
                                   "40 retained"),
    (Shortfall("validation", 0, 0, 20), "the validation split holds no labelled row"),
])
def test_a_shortfall_in_words(shortfall, words):
    assert shortfall.describe() == words
