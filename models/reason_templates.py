"""Reason texts: each reason group written as a sentence about one customer.

A template reads the customer's feature values, not the contributions: a
sentence states facts about the customer ("no purchase for 143 days, 4.8 times
its usual gap"), the contributions only decide which facts are stated
(:func:`models.reasons.top_reasons`). A template never prints a missing value:
when the values it needs are missing it falls back to a neutral phrase for the
group ("complaint history").

:func:`_template` gives the template of a reason key (the keys of
:data:`models.contributions.REASON_GROUPS`, one per interaction kind, or any
other key, written as itself); :class:`_Values` and :class:`_Row` are the
feature rows as templates read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from models.contributions import OTHER_GROUP, REASON_GROUPS

_KIND = re.compile(REASON_GROUPS["{kind}"])

#: Counts over several windows are told over the window closest to this many days.
_RECENT_DAYS = 90


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def _number(x: float) -> str:
    """A value as people write it: whole from 10 up, else one decimal at most."""
    text = f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _count(x: float, singular: str, plural: str) -> str:
    """``"no complaints"``, ``"1 complaint"``, ``"2 complaints"``."""
    text = _number(x)
    if text in ("0", "-0"):
        return f"no {plural}"
    return f"{text} {singular if text == '1' else plural}"


def _days(x: float) -> str:
    text = _number(x)
    return f"{text} {'day' if text == '1' else 'days'}"


def _hours(x: float) -> str:
    text = _number(x)
    return f"{text} {'hour' if text == '1' else 'hours'}"


def _amount(x: float) -> str:
    return f"{x:,.2f}"


def _percent(share: float) -> str:
    return f"{abs(share) * 100:.0f}%"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


class _Values:
    """The feature rows, column by column, converted once when a template first asks."""

    def __init__(self, features: pd.DataFrame) -> None:
        self._features = features
        self.columns = frozenset(features.columns)
        self._numbers: dict[str, list[float | None]] = {}
        self._texts: dict[str, list[str | None]] = {}

    def number(self, name: str, row: int) -> float | None:
        column = self._numbers.get(name)
        if column is None:
            if name not in self.columns:
                return None
            series = self._features[name]
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                                     na_value=np.nan)
            # Python floats and None, once per column: templates read single values.
            column = self._numbers[name] = [
                None if v != v else v  # NaN (and infinities, made NaN) -> None
                for v in np.where(np.isfinite(values), values, np.nan).tolist()]
        return column[row]

    def text(self, name: str, row: int) -> str | None:
        column = self._texts.get(name)
        if column is None:
            if name not in self.columns:
                return None
            column = self._texts[name] = [
                None if value is None or (not isinstance(value, str) and pd.isna(value))
                else (str(value).strip() or None)
                for value in self._features[name].astype(object).tolist()]
        return column[row]


class _Row:
    """One row of :class:`_Values`, as templates read it."""

    __slots__ = ("_row", "_values")

    def __init__(self, values: _Values, row: int) -> None:
        self._values, self._row = values, row

    def number(self, name: str | None) -> float | None:
        if name is None:
            return None
        column = self._values._numbers.get(name)
        if column is None:
            return self._values.number(name, self._row)
        return column[self._row]

    def text(self, name: str) -> str | None:
        return self._values.text(name, self._row)


_Template = Callable[[_Row], str]


def _windows(columns: frozenset[str], prefix: str) -> list[tuple[int, str]]:
    """``(days, column)`` of the columns ``<prefix>_<days>d``, shortest window first."""
    pattern = re.compile(re.escape(prefix) + r"_(\d+)d")
    return sorted((int(m.group(1)), c) for c in columns if (m := pattern.fullmatch(c)))


def _recent(columns: frozenset[str], prefix: str) -> tuple[int, str | None]:
    """The window of ``<prefix>_<days>d`` closest to :data:`_RECENT_DAYS`."""
    found = _windows(columns, prefix)
    if not found:
        return _RECENT_DAYS, None
    return min(found, key=lambda wc: (abs(wc[0] - _RECENT_DAYS), wc[0]))


def _longest(columns: frozenset[str], prefix: str) -> tuple[int, str | None]:
    found = _windows(columns, prefix)
    return found[-1] if found else (0, None)


# --------------------------------------------------------------------------
# Templates: one per reason key, each returning a sentence for one row
# --------------------------------------------------------------------------


def _overdue(columns: frozenset[str]) -> _Template:
    def render(r: _Row) -> str:
        recency = r.number("recency_days")
        if recency is None:
            return "time since the last purchase"
        text = f"no purchase for {_days(recency)}"
        ratio = r.number("recency_gap_ratio")
        median = r.number("gap_median_days")
        if ratio is None and median is not None:
            ratio = recency / (1.0 + median)  # the definition of recency_gap_ratio
        if ratio is not None:
            text += f", {_number(ratio)} times its usual gap"
        return text
    return render


def _frequency(columns: frozenset[str]) -> _Template:
    window, column = _longest(columns, "frequency")

    def render(r: _Row) -> str:
        n = r.number(column)
        if n is not None:
            return f"{_count(n, 'purchase', 'purchases')} in the last {window} days"
        n = r.number("frequency")
        if n is not None:
            return f"{_count(n, 'purchase', 'purchases')} in total"
        return "purchase frequency"
    return render


def _value(columns: frozenset[str]) -> _Template:
    window, column = _longest(columns, "monetary_sum")

    def render(r: _Row) -> str:
        spent = r.number(column)
        if spent is not None:
            if spent == 0:
                return f"nothing spent in the last {window} days"
            return f"spent {_amount(spent)} in the last {window} days"
        spent = r.number("monetary_sum")
        if spent is not None:
            return f"spent {_amount(spent)} in total"
        mean = r.number("monetary_mean")
        if mean is not None:
            return f"{_amount(mean)} per purchase on average"
        return "spending level"
    return render


def _spend_trend(columns: frozenset[str]) -> _Template:
    m_window, m_column = _recent(columns, "monetary_trend")
    f_window, f_column = _recent(columns, "frequency_trend")

    def render(r: _Row) -> str:
        change = r.number(m_column)
        if change is not None:
            if _percent(change) == "0%":
                return f"spend about the same as in the previous {m_window} days"
            way = "down" if change < 0 else "up"
            return f"spend {way} {_percent(change)} vs the previous {m_window} days"
        diff = r.number(f_column)
        if diff is not None:
            previous = f"than in the previous {f_window} days"
            if diff < 0:
                return f"{_count(-diff, 'fewer purchase', 'fewer purchases')} {previous}"
            if diff > 0:
                return f"{_count(diff, 'more purchase', 'more purchases')} {previous}"
            return f"as many purchases as in the previous {f_window} days"
        return "recent change in spending"
    return render


def _refunds(columns: frozenset[str]) -> _Template:
    window, column = _recent(columns, "refund_count")

    def render(r: _Row) -> str:
        recent = r.number(column)
        if recent is not None and recent > 0:
            return f"{_count(recent, 'refund', 'refunds')} in the last {window} days"
        total = r.number("refund_count")
        if total is not None and total > 0:
            text = f"{_count(total, 'refund', 'refunds')} in total"
            amount = r.number("refund_amount")
            return text + (f", {_amount(amount)} refunded" if amount is not None else "")
        if total is not None:
            return "no refunds so far"
        if recent is not None:
            return f"no refunds in the last {window} days"
        return "refund history"
    return render


def _satisfaction(scale: float | None) -> Callable[[frozenset[str]], _Template]:
    of = f" of {_number(scale)}" if scale is not None else ""

    def make(columns: frozenset[str]) -> _Template:
        def render(r: _Row) -> str:
            last = r.number("satisfaction_last")
            if last is not None:
                return f"satisfaction last scored {_number(last)}{of}"
            mean = r.number("satisfaction_mean")
            if mean is not None:
                return f"average satisfaction {_number(mean)}{of}"
            if r.number("satisfaction_count") == 0:
                return "no satisfaction score given"
            return "satisfaction scores"
        return render
    return make


def _tenure(columns: frozenset[str]) -> _Template:
    def render(r: _Row) -> str:
        days = r.number("tenure_days")
        if days is not None:
            return f"customer for {_days(days)}"
        days = r.number("days_since_first_purchase")
        if days is not None:
            return f"first purchase {_days(days)} ago"
        return "length of the relationship"
    return render


def _season(columns: frozenset[str]) -> _Template:
    def render(r: _Row) -> str:
        month = r.number("cutoff_month")
        if month is not None and month in range(1, 13):
            return f"time of year: {_MONTHS[int(month) - 1]}"
        return "time of year"
    return render


def _label(column: str, prefix: str, neutral: str, *, words: bool = False
           ) -> Callable[[frozenset[str]], _Template]:
    def make(columns: frozenset[str]) -> _Template:
        def render(r: _Row) -> str:
            value = r.text(column)
            if value is None:
                return neutral
            return f"{prefix}: {value.replace('_', ' ') if words else value}"
        return render
    return make


def _purchase_pattern(columns: frozenset[str]) -> _Template:
    def render(r: _Row) -> str:
        # The chance of no purchase speaks of the risk itself; "still active" only
        # when it is not known (a customer can be surely active and still rarely buy).
        none = r.number("bgnbd_p_no_purchase")
        if none is None:
            none = r.number("paretonbd_p_no_purchase")
        if none is not None:
            return (f"purchase pattern gives a {_percent(none)} chance of no purchase in the "
                    "coming period")
        alive = r.number("bgnbd_p_alive")
        if alive is not None:
            return f"purchase pattern gives a {_percent(alive)} chance of still being active"
        expected = r.number("bgnbd_expected_purchases")
        if expected is not None:
            return (f"purchase pattern expects {_count(expected, 'purchase', 'purchases')} in "
                    "the coming period")
        return "purchase pattern"
    return render


#: Singular and plural of the interaction kinds of the default vocabulary; other
#: kinds are written with their underscores as spaces and an "s".
_KIND_NOUNS = {
    "support_ticket": ("support ticket", "support tickets"),
    "complaint": ("complaint", "complaints"),
    "survey": ("survey", "surveys"),
    "email_open": ("e-mail opened", "e-mails opened"),
    "web_visit": ("web visit", "web visits"),
    "call": ("call", "calls"),
}
_KIND_NEUTRAL = {"email_open": "e-mail engagement", "web_visit": "web activity"}


def _interactions(kind: str, columns: frozenset[str]) -> _Template:
    words = kind.replace("_", " ")
    singular, plural = _KIND_NOUNS.get(kind, (words, f"{words}s"))
    neutral = _KIND_NEUTRAL.get(kind, f"{singular} history")
    window, count = _recent(columns, f"{kind}_count")
    open_window, unresolved = _recent(columns, f"{kind}_unresolved")
    hours = f"{kind}_resolution_hours_mean"
    since = f"{kind}_days_since_last"
    # Kinds whose resolution is tracked are problems (complaints, tickets): told
    # as "last complaint 12 days ago". The others are engagement: "no call for 60 days".
    problem = unresolved is not None or hours in columns or f"{kind}_resolved_rate" in columns

    def render(r: _Row) -> str:
        n_open = r.number(unresolved)
        if n_open is not None and n_open > 0:
            return (f"{_count(n_open, f'unresolved {singular}', f'unresolved {plural}')} "
                    f"in the last {open_window} days")
        n = r.number(count)
        if n is not None and n > 0:
            text = f"{_count(n, singular, plural)} in the last {window} days"
            mean_hours = r.number(hours)
            if problem and mean_hours is not None:
                text += f", resolved in {_hours(mean_hours)} on average"
            return text
        days = r.number(since)
        if days is not None:
            if problem:
                return f"last {singular} {_days(days)} ago"
            return f"no {singular} for {_days(days)}"
        if n is not None:
            return f"no {plural} in the last {window} days"
        return neutral
    return render


def _templates(scale: float | None) -> dict[str, Callable[[frozenset[str]], _Template]]:
    return {
        "overdue": _overdue,
        "frequency": _frequency,
        "value": _value,
        "spend_trend": _spend_trend,
        "refunds": _refunds,
        "satisfaction": _satisfaction(scale),
        "tenure": _tenure,
        "season": _season,
        "stage": _label("stage", "lifecycle stage", "lifecycle stage", words=True),
        "segment": _label("segment", "segment", "customer segment"),
        "relationship": _label("relationship_type", "relationship type", "relationship type"),
        "purchase_pattern": _purchase_pattern,
    }


def _template(key: str, members: Sequence[str], columns: frozenset[str],
              scale: float | None) -> _Template:
    fixed = _templates(scale)
    if key in fixed:
        return fixed[key](columns)
    is_kind = any((m := _KIND.fullmatch(name)) and m["kind"] == key
                  for name in (*members, *columns))
    if is_kind:
        return _interactions(key, columns)
    neutral = "other characteristics" if key == OTHER_GROUP else key.replace("_", " ")
    return lambda r: neutral
