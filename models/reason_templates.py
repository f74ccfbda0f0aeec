"""Reason texts: each reason group written as a sentence about a customer.

A template reads the customer's feature values, not the contributions: a
sentence states facts about the customer ("no purchase for 143 days, 4.8 times
its usual gap"), the contributions only decide which facts are stated
(:func:`models.reasons.top_reasons`). A template never prints a missing value:
when the values it needs are missing it falls back to a neutral phrase for the
group ("complaint history").

:func:`_template` gives the template of a reason key (the keys of
:data:`models.contributions.REASON_GROUPS`, one per interaction kind, or any
other key, written as itself). A template writes the sentences of all the rows
given to it at once (:class:`models.reason_render._Rows`), case by case, each
phrase a function of one value (:class:`models.reason_render._Sentences`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from models.contributions import OTHER_GROUP, REASON_GROUPS
from models.reason_render import (
    _amount,
    _count,
    _days,
    _hours,
    _number,
    _percent,
    _Rows,
    _Sentences,
)

_KIND = re.compile(REASON_GROUPS["{kind}"])

#: Counts over several windows are told over the window closest to this many days.
_RECENT_DAYS = 90

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")

_Template = Callable[[_Rows], _Sentences]


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
# Templates: one per reason key, each writing the sentences of some rows
# --------------------------------------------------------------------------


def _overdue(columns: frozenset[str]) -> _Template:
    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "time since the last purchase")
        recency = r.number("recency_days")
        told = out.each(recency, lambda days: f"no purchase for {_days(days)}")
        ratio, median = r.number("recency_gap_ratio"), r.number("gap_median_days")
        derived = told & np.isnan(ratio) & ~np.isnan(median)
        with np.errstate(divide="ignore", invalid="ignore"):
            # the definition of recency_gap_ratio; not told when not finite
            ratio[derived] = recency[derived] / (1.0 + median[derived])
        out.extend(told, ratio, lambda x: f", {_number(x)} times its usual gap")
        return out
    return render


def _frequency(columns: frozenset[str]) -> _Template:
    window, column = _longest(columns, "frequency")

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "purchase frequency")
        out.each(r.number(column),
                 lambda n: f"{_count(n, 'purchase', 'purchases')} in the last {window} days")
        out.each(r.number("frequency"),
                 lambda n: f"{_count(n, 'purchase', 'purchases')} in total")
        return out
    return render


def _value(columns: frozenset[str]) -> _Template:
    window, column = _longest(columns, "monetary_sum")

    def recent(spent: float) -> str:
        if spent == 0:
            return f"nothing spent in the last {window} days"
        return f"spent {_amount(spent)} in the last {window} days"

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "spending level")
        out.each(r.number(column), recent)
        out.each(r.number("monetary_sum"), lambda spent: f"spent {_amount(spent)} in total")
        out.each(r.number("monetary_mean"),
                 lambda mean: f"{_amount(mean)} per purchase on average")
        return out
    return render


def _spend_trend(columns: frozenset[str]) -> _Template:
    m_window, m_column = _recent(columns, "monetary_trend")
    f_window, f_column = _recent(columns, "frequency_trend")

    def spend(change: float) -> str:
        if _percent(change) == "0%":
            return f"spend about the same as in the previous {m_window} days"
        way = "down" if change < 0 else "up"
        return f"spend {way} {_percent(change)} vs the previous {m_window} days"

    def purchases(diff: float) -> str:
        previous = f"than in the previous {f_window} days"
        if diff < 0:
            return f"{_count(-diff, 'fewer purchase', 'fewer purchases')} {previous}"
        if diff > 0:
            return f"{_count(diff, 'more purchase', 'more purchases')} {previous}"
        return f"as many purchases as in the previous {f_window} days"

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "recent change in spending")
        out.each(r.number(m_column), spend)
        out.each(r.number(f_column), purchases)
        return out
    return render


def _refunds(columns: frozenset[str]) -> _Template:
    window, column = _recent(columns, "refund_count")

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "refund history")
        recent, total = r.number(column), r.number("refund_count")
        out.each(recent, lambda n: f"{_count(n, 'refund', 'refunds')} in the last {window} days",
                 where=recent > 0)
        told = out.each(total, lambda n: f"{_count(n, 'refund', 'refunds')} in total",
                        where=total > 0)
        out.extend(told, r.number("refund_amount"), lambda x: f", {_amount(x)} refunded")
        out.fixed(~np.isnan(total), "no refunds so far")
        out.fixed(~np.isnan(recent), f"no refunds in the last {window} days")
        return out
    return render


def _satisfaction(scale: float | None) -> Callable[[frozenset[str]], _Template]:
    of = f" of {_number(scale)}" if scale is not None else ""

    def make(columns: frozenset[str]) -> _Template:
        def render(r: _Rows) -> _Sentences:
            out = _Sentences(len(r), "satisfaction scores")
            out.each(r.number("satisfaction_last"),
                     lambda last: f"satisfaction last scored {_number(last)}{of}")
            out.each(r.number("satisfaction_mean"),
                     lambda mean: f"average satisfaction {_number(mean)}{of}")
            out.fixed(r.number("satisfaction_count") == 0, "no satisfaction score given")
            return out
        return render
    return make


def _tenure(columns: frozenset[str]) -> _Template:
    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "length of the relationship")
        out.each(r.number("tenure_days"), lambda days: f"customer for {_days(days)}")
        out.each(r.number("days_since_first_purchase"),
                 lambda days: f"first purchase {_days(days)} ago")
        return out
    return render


def _season(columns: frozenset[str]) -> _Template:
    def month(value: float) -> str:
        if value in range(1, 13):
            return f"time of year: {_MONTHS[int(value) - 1]}"
        return "time of year"

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "time of year")
        out.each(r.number("cutoff_month"), month)
        return out
    return render


def _label(column: str, prefix: str, neutral: str, *, words: bool = False
           ) -> Callable[[frozenset[str]], _Template]:
    def make(columns: frozenset[str]) -> _Template:
        def render(r: _Rows) -> _Sentences:
            out = _Sentences(len(r), neutral)
            out.each(r.text(column),
                     lambda value: f"{prefix}: {value.replace('_', ' ') if words else value}")
            return out
        return render
    return make


def _purchase_pattern(columns: frozenset[str]) -> _Template:
    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), "purchase pattern")
        # The chance of no purchase speaks of the risk itself; "still active" only
        # when it is not known (a customer can be surely active and still rarely buy).
        none = r.number("bgnbd_p_no_purchase")
        none = np.where(np.isnan(none), r.number("paretonbd_p_no_purchase"), none)
        out.each(none, lambda p: f"purchase pattern gives a {_percent(p)} chance of no "
                                 "purchase in the coming period")
        out.each(r.number("bgnbd_p_alive"),
                 lambda p: f"purchase pattern gives a {_percent(p)} chance of still being active")
        out.each(r.number("bgnbd_expected_purchases"),
                 lambda n: f"purchase pattern expects {_count(n, 'purchase', 'purchases')} in "
                           "the coming period")
        return out
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

    def still_open(n: float) -> str:
        return (f"{_count(n, f'unresolved {singular}', f'unresolved {plural}')} "
                f"in the last {open_window} days")

    def recent(n: float) -> str:
        return f"{_count(n, singular, plural)} in the last {window} days"

    def last(days: float) -> str:
        if problem:
            return f"last {singular} {_days(days)} ago"
        return f"no {singular} for {_days(days)}"

    def render(r: _Rows) -> _Sentences:
        out = _Sentences(len(r), neutral)
        n_open, n = r.number(unresolved), r.number(count)
        out.each(n_open, still_open, where=n_open > 0)
        told = out.each(n, recent, where=n > 0)
        if problem:
            out.extend(told, r.number(hours), lambda h: f", resolved in {_hours(h)} on average")
        out.each(r.number(since), last)
        out.fixed(~np.isnan(n), f"no {plural} in the last {window} days")
        return out
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
    return lambda r: _Sentences(len(r), neutral)
