"""The reason sentences, written for many rows at once, against a per-row reference.

:func:`models.reasons.top_reasons` writes the sentences of all the rows of a
reason group at once (:mod:`models.reason_render`). The reference here writes
them the plain way, one customer at a time, each template reading single values
(``None`` when missing); on varied inputs (missing values, infinities, zeros and
negative zeros, singulars and plurals, large and negative numbers, categories,
padded strings, absent columns) both give the same strings, row by row.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from models.contributions import OTHER_GROUP, REASON_GROUPS, group_contributions, reason_groups
from models.reason_render import _amount, _count, _days, _distinct, _hours, _number, _percent
from models.reason_templates import _KIND_NEUTRAL, _KIND_NOUNS, _MONTHS, _longest, _recent
from models.reasons import top_reasons

_KIND = re.compile(REASON_GROUPS["{kind}"])


# --------------------------------------------------------------------------
# The reference: one customer at a time
# --------------------------------------------------------------------------


class _Customer:
    """One row's values: numbers as floats, texts stripped, ``None`` when missing."""

    def __init__(self, features: pd.DataFrame, row: int) -> None:
        self._features, self._row = features, row

    def number(self, name: str | None) -> float | None:
        if name is None or name not in self._features.columns:
            return None
        series = self._features[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        value = float(pd.to_numeric(series, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)[self._row])
        return value if math.isfinite(value) else None

    def text(self, name: str) -> str | None:
        if name not in self._features.columns:
            return None
        value = self._features[name].astype(object).iloc[self._row]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        return str(value).strip() or None


def _interaction(kind: str, columns: frozenset[str], c: _Customer) -> str:
    words = kind.replace("_", " ")
    singular, plural = _KIND_NOUNS.get(kind, (words, f"{words}s"))
    window, count = _recent(columns, f"{kind}_count")
    open_window, unresolved = _recent(columns, f"{kind}_unresolved")
    hours = f"{kind}_resolution_hours_mean"
    problem = unresolved is not None or hours in columns or f"{kind}_resolved_rate" in columns
    n_open = c.number(unresolved)
    if n_open is not None and n_open > 0:
        return (f"{_count(n_open, f'unresolved {singular}', f'unresolved {plural}')} "
                f"in the last {open_window} days")
    n = c.number(count)
    if n is not None and n > 0:
        text = f"{_count(n, singular, plural)} in the last {window} days"
        mean_hours = c.number(hours)
        if problem and mean_hours is not None:
            text += f", resolved in {_hours(mean_hours)} on average"
        return text
    days = c.number(f"{kind}_days_since_last")
    if days is not None:
        return f"last {singular} {_days(days)} ago" if problem else \
            f"no {singular} for {_days(days)}"
    if n is not None:
        return f"no {plural} in the last {window} days"
    return _KIND_NEUTRAL.get(kind, f"{singular} history")


def _overdue(columns: frozenset[str], c: _Customer) -> str:
    recency = c.number("recency_days")
    if recency is None:
        return "time since the last purchase"
    text = f"no purchase for {_days(recency)}"
    ratio, median = c.number("recency_gap_ratio"), c.number("gap_median_days")
    if ratio is None and median is not None and 1.0 + median != 0:
        ratio = recency / (1.0 + median)
    if ratio is not None and not math.isfinite(ratio):  # a median gap of -1 day or so
        ratio = None
    return text + (f", {_number(ratio)} times its usual gap" if ratio is not None else "")


def _frequency(columns: frozenset[str], c: _Customer) -> str:
    window, column = _longest(columns, "frequency")
    if (n := c.number(column)) is not None:
        return f"{_count(n, 'purchase', 'purchases')} in the last {window} days"
    if (n := c.number("frequency")) is not None:
        return f"{_count(n, 'purchase', 'purchases')} in total"
    return "purchase frequency"


def _value(columns: frozenset[str], c: _Customer) -> str:
    window, column = _longest(columns, "monetary_sum")
    if (spent := c.number(column)) is not None:
        if spent == 0:
            return f"nothing spent in the last {window} days"
        return f"spent {_amount(spent)} in the last {window} days"
    if (spent := c.number("monetary_sum")) is not None:
        return f"spent {_amount(spent)} in total"
    if (mean := c.number("monetary_mean")) is not None:
        return f"{_amount(mean)} per purchase on average"
    return "spending level"


def _spend_trend(columns: frozenset[str], c: _Customer) -> str:
    m_window, m_column = _recent(columns, "monetary_trend")
    f_window, f_column = _recent(columns, "frequency_trend")
    if (change := c.number(m_column)) is not None:
        if _percent(change) == "0%":
            return f"spend about the same as in the previous {m_window} days"
        way = "down" if change < 0 else "up"
        return f"spend {way} {_percent(change)} vs the previous {m_window} days"
    if (diff := c.number(f_column)) is not None:
        previous = f"than in the previous {f_window} days"
        if diff < 0:
            return f"{_count(-diff, 'fewer purchase', 'fewer purchases')} {previous}"
        if diff > 0:
            return f"{_count(diff, 'more purchase', 'more purchases')} {previous}"
        return f"as many purchases as in the previous {f_window} days"
    return "recent change in spending"


def _refunds(columns: frozenset[str], c: _Customer) -> str:
    window, column = _recent(columns, "refund_count")
    recent, total = c.number(column), c.number("refund_count")
    if recent is not None and recent > 0:
        return f"{_count(recent, 'refund', 'refunds')} in the last {window} days"
    if total is not None and total > 0:
        amount = c.number("refund_amount")
        return f"{_count(total, 'refund', 'refunds')} in total" + (
            f", {_amount(amount)} refunded" if amount is not None else "")
    if total is not None:
        return "no refunds so far"
    if recent is not None:
        return f"no refunds in the last {window} days"
    return "refund history"


def _satisfaction(of: str, c: _Customer) -> str:
    if (last := c.number("satisfaction_last")) is not None:
        return f"satisfaction last scored {_number(last)}{of}"
    if (mean := c.number("satisfaction_mean")) is not None:
        return f"average satisfaction {_number(mean)}{of}"
    if c.number("satisfaction_count") == 0:
        return "no satisfaction score given"
    return "satisfaction scores"


def _purchase_pattern(c: _Customer) -> str:
    none = c.number("bgnbd_p_no_purchase")
    if none is None:
        none = c.number("paretonbd_p_no_purchase")
    if none is not None:
        return f"purchase pattern gives a {_percent(none)} chance of no purchase in the " \
            "coming period"
    if (alive := c.number("bgnbd_p_alive")) is not None:
        return f"purchase pattern gives a {_percent(alive)} chance of still being active"
    if (expected := c.number("bgnbd_expected_purchases")) is not None:
        return f"purchase pattern expects {_count(expected, 'purchase', 'purchases')} in " \
            "the coming period"
    return "purchase pattern"


def _reference_sentence(key: str, members: list[str], columns: frozenset[str],
                        scale: float | None, c: _Customer) -> str:
    labels = {"stage": ("stage", "lifecycle stage", "lifecycle stage"),
              "segment": ("segment", "segment", "customer segment"),
              "relationship": ("relationship_type", "relationship type", "relationship type")}
    by_columns = {"overdue": _overdue, "frequency": _frequency, "value": _value,
                  "spend_trend": _spend_trend, "refunds": _refunds}
    if key in by_columns:
        return by_columns[key](columns, c)
    if key == "satisfaction":
        return _satisfaction(f" of {_number(scale)}" if scale is not None else "", c)
    if key == "tenure":
        if (days := c.number("tenure_days")) is not None:
            return f"customer for {_days(days)}"
        if (days := c.number("days_since_first_purchase")) is not None:
            return f"first purchase {_days(days)} ago"
        return "length of the relationship"
    if key == "season":
        month = c.number("cutoff_month")
        if month is not None and month in range(1, 13):
            return f"time of year: {_MONTHS[int(month) - 1]}"
        return "time of year"
    if key in labels:
        column, prefix, neutral = labels[key]
        value = c.text(column)
        if value is None:
            return neutral
        return f"{prefix}: {value.replace('_', ' ') if key == 'stage' else value}"
    if key == "purchase_pattern":
        return _purchase_pattern(c)
    if any((m := _KIND.fullmatch(name)) and m["kind"] == key for name in (*members, *columns)):
        return _interaction(key, columns, c)
    return "other characteristics" if key == OTHER_GROUP else key.replace("_", " ")


def _reference(contrib: pd.DataFrame, features: pd.DataFrame, k: int,
               groups: dict[str, list[str]], scale: float | None) -> list[list[tuple]]:
    """Per row, the ``k`` (key, sentence) pairs, ``(None, None)`` where no reason."""
    sums = group_contributions(contrib, groups)
    columns = frozenset(features.columns)
    out = []
    for row in range(len(contrib)):
        ranked = sorted(range(len(groups)), key=lambda g: -sums.iloc[row, g])
        keys = [list(groups)[g] for g in ranked if sums.iloc[row, g] > 0][:k]
        said = [(key, _reference_sentence(key, groups[key], columns, scale,
                                          _Customer(features, row))) for key in keys]
        out.append(said + [(None, None)] * (k - len(said)))
    return out


# --------------------------------------------------------------------------
# Varied inputs
# --------------------------------------------------------------------------

#: Values where the writing turns: missing, infinite, signed zeros, what rounds to
#: 0 or 1 (singular), to 10 (whole numbers), halves, thousands, negatives.
EDGES = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 0.96, 1.04, 0.04, -0.04, 0.05, 0.5, 1.5,
         2.0, 2.25, 2.35, 9.94, 9.96, 10.0, 10.5, 11.5, 99.5, 1234.5, 1234567.891, 1e15,
         -1.0, -2.5, -1234.5, 3.0, 12.0, 13.0, 0.349, 0.998, 0.005, 0.0049, 0.995, 0.004)


def _floats(rng: np.random.Generator, n: int) -> np.ndarray:
    pick = rng.uniform(size=n)
    return np.where(pick < 0.5, rng.choice(EDGES, size=n),
                    np.where(pick < 0.75, rng.integers(0, 400, size=n).astype(float),
                             rng.normal(scale=50, size=n)))


def _counts(rng: np.random.Generator, n: int, kind: int) -> object:
    small = rng.choice([0, 0, 1, 1, 2, 3, 7, 1500, 2_000_000, -1], size=n)
    if kind == 0:
        return small.astype("int32")
    if kind == 1:
        return pd.array(np.where(rng.uniform(size=n) < 0.2, None, small), dtype="Int32")
    return np.where(rng.uniform(size=n) < 0.2, np.nan, small.astype(float))


def _texts(rng: np.random.Generator, n: int, choices: list[object], dtype: str) -> pd.Series:
    values = pd.Series([choices[i] for i in rng.integers(0, len(choices), size=n)],
                       dtype=object)
    if dtype == "category":
        return values.astype("category")
    return values if dtype == "object" else values.astype(dtype)


NUMBERS = (
    "recency_days", "recency_gap_ratio", "gap_median_days", "monetary_sum", "monetary_mean",
    "monetary_sum_90d", "monetary_sum_365d", "monetary_trend_30d", "monetary_trend_90d",
    "refund_amount", "satisfaction_last", "satisfaction_mean", "tenure_days",
    "days_since_first_purchase", "bgnbd_p_no_purchase", "paretonbd_p_no_purchase",
    "bgnbd_p_alive", "bgnbd_expected_purchases", "complaint_resolution_hours_mean",
    "complaint_days_since_last", "complaint_resolved_rate", "web_visit_days_since_last",
    "chat_resolution_hours_mean", "chat_days_since_last", "email_open_days_since_last",
    "x_unknown",
)
COUNTS = (
    "frequency", "frequency_30d", "frequency_365d", "frequency_trend_90d", "refund_count",
    "refund_count_90d", "satisfaction_count", "complaint_count_30d", "complaint_count_90d",
    "complaint_unresolved_90d", "web_visit_count_90d", "web_visit_count_180d",
    "chat_count_28d", "chat_unresolved_28d", "email_open_count_90d", "call_count_90d",
)


def _features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = {name: _floats(rng, n) for name in NUMBERS}
    frame |= {name: _counts(rng, n, i % 3) for i, name in enumerate(COUNTS)}
    months = rng.choice([np.nan, 0, 1, 2, 6, 12, 13, 3.5, -1], size=n)
    frame["cutoff_month"] = months if seed % 2 else pd.Series(months).astype("category")
    frame["call_days_since_last"] = _texts(rng, n, [None, 3, 14.5, "x", "40"], "object")
    frame["stage"] = _texts(rng, n, ["at_risk", "core", None, "early_repeat"], "category")
    frame["segment"] = _texts(rng, n, ["loyal", "  loyal ", "", "   ", None, "dis_count"],
                              "str" if seed % 2 else "object")
    frame["relationship_type"] = _texts(rng, n, ["self_service", None, np.nan, 3, "b2b"],
                                        "object")
    return pd.DataFrame(frame, index=pd.RangeIndex(100, 100 + n))


def _contributions(features: pd.DataFrame, names: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # multiples of 1/4: sums are exact whatever the order, and ties are frequent
    values = rng.choice([-1.0, -0.25, 0.0, 0.0, 0.25, 0.5, 1.0], size=(len(features), len(names)))
    return pd.DataFrame(values, index=features.index, columns=names)


def _check(features: pd.DataFrame, contrib: pd.DataFrame, k: int,
           groups: dict[str, list[str]], scale: float | None) -> int:
    got = top_reasons(contrib, features, k=k, groups=groups, satisfaction_scale=scale)
    want = _reference(contrib, features, k, groups, scale)
    assert (got.dtypes == "str").all()
    for row, pairs in enumerate(want):
        for j, (key, text) in enumerate(pairs):
            got_key = got.iloc[row][f"reason_{j + 1}_key"]
            got_text = got.iloc[row][f"reason_{j + 1}"]
            if key is None:
                assert pd.isna(got_key) and pd.isna(got_text), (row, j)
            else:
                assert (got_key, got_text) == (key, text), (row, j, features.iloc[row].to_dict())
    return sum(key is not None for pairs in want for key, _ in pairs)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("drop", [
    (),
    # without the ratio (it follows from the median gap), the windows, the totals
    ("recency_gap_ratio", "frequency_30d", "frequency_365d", "monetary_sum_90d",
     "monetary_sum_365d", "monetary_trend_30d", "monetary_trend_90d", "refund_count_90d",
     "complaint_unresolved_90d", "satisfaction_last", "tenure_days", "bgnbd_p_no_purchase"),
    ("gap_median_days", "recency_gap_ratio", "frequency", "monetary_sum", "refund_count",
     "satisfaction_mean", "complaint_resolution_hours_mean", "complaint_resolved_rate",
     "paretonbd_p_no_purchase", "bgnbd_p_alive"),
], ids=["all", "no-windows", "no-totals"])
def test_sentences_are_those_of_the_per_row_reference(seed, drop):
    features = _features(400, seed).drop(columns=list(drop))
    names = list(features.columns)
    groups = reason_groups(names)
    groups["mystery_thing"] = groups.pop("season")  # a key without a template
    contrib = _contributions(features, names, seed)
    told = _check(features, contrib, 4, groups, 5.0 if seed == 1 else None)
    assert told > 800  # most rows have reasons


def test_every_group_of_every_row_is_written_as_the_reference():
    """k as large as the groups and every sum positive: every template, every row."""
    features = _features(300, 3)
    names = list(features.columns)
    groups = reason_groups(names)
    contrib = pd.DataFrame({name: np.full(len(features), 1.0 / (1 + j)) for j, name
                            in enumerate(names)}, index=features.index)
    assert _check(features, contrib, len(groups), groups, 10.0) == len(features) * len(groups)


def test_no_rows_and_no_reasons():
    features = _features(5, 4)
    names = list(features.columns)
    empty = top_reasons(pd.DataFrame(columns=names, dtype=float), features.iloc[:0], k=2)
    assert list(empty.columns) == ["reason_1", "reason_2", "reason_1_key", "reason_2_key"]
    assert empty.empty and (empty.dtypes == "str").all()
    negative = pd.DataFrame(-1.0, index=features.index, columns=names)
    assert top_reasons(negative, features, k=2).isna().all(axis=None)
    # the index is kept, whatever it is
    shuffled = features.set_axis(["e", "d", "c", "b", "a"])
    contrib = _contributions(shuffled, names, 4).set_axis(shuffled.index)
    assert list(top_reasons(contrib, shuffled).index) == ["e", "d", "c", "b", "a"]
    _check(shuffled, contrib, 3, reason_groups(names), 5.0)


def test_distinct_values_keep_signed_zeros_apart():
    values, codes = _distinct(np.array([0.0, -0.0, 1.5, 0.0, -0.0]))
    assert [math.copysign(1, v) for v in values if v == 0] == [1.0, -1.0]
    assert [values[c] for c in codes] == [0.0, -0.0, 1.5, 0.0, -0.0]
    assert [_number(values[c]) for c in codes] == ["0", "-0", "1.5", "0", "-0"]
