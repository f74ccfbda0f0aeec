"""Reason codes: why the defection model rates a customer at risk, in words.

Three steps, each a pure function:

1. :func:`contributions` splits every prediction of a LightGBM booster into one
   additive contribution per design-matrix column plus a bias (LightGBM's
   ``pred_contrib``, the TreeSHAP values of the trees). For the defection
   model they are in log-odds: a positive contribution raises the risk.
2. :func:`reason_groups` gathers the columns that describe one cause (the
   columns of one interaction kind, the purchase-rhythm columns, ...) under
   one reason key; :func:`group_contributions` sums the contributions of each
   group. Contributions are additive, so a group's sum is the group's share of
   the log-odds.
3. :func:`top_reasons` picks, for every row, the groups with the largest
   positive sums and writes each as a sentence with the customer's own values
   ("no purchase for 143 days, 4.8 times its usual gap").

Templates read the feature rows, not the contributions: a sentence states
facts about the customer, the contributions only decide which facts are
stated. A template never prints a missing value: when the values it needs are
missing it falls back to a neutral phrase for the group ("complaint history").
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from models.train import TrainedModel

__all__ = [
    "BIAS_COLUMN",
    "CONTRIBUTION_METHODS",
    "OTHER_GROUP",
    "REASON_GROUPS",
    "contributions",
    "group_contributions",
    "reason_groups",
    "top_reasons",
]

#: Column of :func:`contributions` holding the bias (the expected raw score).
BIAS_COLUMN = "__bias__"

#: Group of the features that no pattern of :data:`REASON_GROUPS` matches.
OTHER_GROUP = "other"

#: Reason key -> pattern (``re.fullmatch``) of the feature names it sums, in
#: priority order: a feature belongs to the first group whose pattern matches,
#: and ties between groups go to the group listed first. The key ``{kind}``
#: stands for one group per interaction kind, keyed by the kind (``complaint``,
#: ``support_ticket``, ...): its pattern names the kind in the ``kind`` group.
#: ``refunds`` comes before it because ``refund_count_90d`` has the shape of a
#: count of interactions of a kind ``refund``.
REASON_GROUPS: Mapping[str, str] = MappingProxyType({
    "overdue": (r"recency_days|recency_gap_ratio|gap_(?:mean|median|std)_days|last_gap_days"
                r"|prior_gap_median_days|rfm_recency_score"),
    "frequency": r"frequency(?:_\d+d)?|rfm_frequency_score",
    "value": r"monetary_(?:sum|mean)(?:_\d+d)?|rfm_monetary_score",
    "spend_trend": r"(?:monetary|frequency)_trend_\d+d",
    "refunds": r"refund_(?:count|amount)(?:_\d+d)?",
    "{kind}": (r"(?P<kind>\w+?)_(?:count_\d+d|days_since_last|resolved_rate"
               r"|resolution_hours_mean|unresolved_\d+d)"),
    "satisfaction": r"satisfaction_(?:count|mean|last)",
    "tenure": r"tenure_days|days_since_first_purchase",
    "season": r"cutoff_month",
    "stage": r"stage",
    "segment": r"segment",
    "relationship": r"relationship_type",
    "purchase_pattern": r"bgnbd_\w+",
})

_RULES = tuple((key, re.compile(pattern)) for key, pattern in REASON_GROUPS.items())
_KIND = re.compile(REASON_GROUPS["{kind}"])

#: Counts over several windows are told over the window closest to this many days.
_RECENT_DAYS = 90


# --------------------------------------------------------------------------
# Contributions
# --------------------------------------------------------------------------


#: How :func:`contributions` splits a prediction: ``"treeshap"`` (exact Shapley
#: values of the trees, LightGBM's ``pred_contrib``) or ``"path"`` (the change of
#: the node value along each row's path, credited to the split's feature).
CONTRIBUTION_METHODS = ("treeshap", "path")


def contributions(model: TrainedModel, X: pd.DataFrame, *, method: str = "treeshap",
                  groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Per-row, per-feature contributions to the raw score of a single-output model.

    For the defection model the raw score is the log-odds of defection; for
    the value model (Tweedie, log link) it is the log of the expected spend.
    Each row of the result sums to the raw score of that row, from the first
    ``model.best_iteration`` rounds, as ``booster.predict(X, raw_score=True)``
    gives it.

    Two methods, both exactly additive:

    * ``"treeshap"``: LightGBM's ``pred_contrib``, the TreeSHAP values of the
      trees (Lundberg et al., 2020). Consistent, and costly: about
      ``trees x leaves x depth**2`` operations per row, two orders of
      magnitude more than a prediction.
    * ``"path"``: the path attribution of Saabas (the ``treeinterpreter``
      method): walking a row down a tree, each split moves the expected value
      from the node's to the child's, and the move is credited to the split's
      feature; the bias is the sum of the trees' root values. It needs only the
      leaf of every row in every tree (``pred_leaf``) and a table per tree, so
      it costs about as much as a prediction. It credits a feature with the
      moves of the splits on it, where TreeSHAP shares the credit among the
      features a split interacts with, so the two rank reasons differently in
      some rows (measured on the buyers of the ``tiny`` demo, all snapshots,
      14,390 rows, reason groups: the same top reason for 77% of them,
      TreeSHAP's top reason among the path method's top three for 94%). Batch
      scoring uses it by default; ``"treeshap"`` where the exact Shapley
      attribution is worth its cost.

    Parameters
    ----------
    model
        A trained model with one output per row (not the transition model).
    X
        Design matrix with exactly the model's columns, in order
        (``FeatureFrame.transform``). Not modified.
    method
        ``"treeshap"`` (default) or ``"path"``.
    groups
        Reason key -> features (see :func:`reason_groups`): when given, the
        contributions come summed by group, as :func:`group_contributions` would
        sum them, one column per group (faster with ``"path"``: the sums are
        taken per tree leaf, not per row). Features in no group are left out.

    Returns
    -------
    pandas.DataFrame
        On the index of ``X``: one ``float64`` column per ``model.feature_names``
        (or per group), in order, then :data:`BIAS_COLUMN` (the same value on
        every row, the expected raw score over the training data).

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame.
    ValueError
        If the model has several outputs per row, ``X`` does not have the
        model's columns in the model's order, or the method is unknown.
    """
    if method not in CONTRIBUTION_METHODS:
        raise ValueError(f"contributions: method must be one of {CONTRIBUTION_METHODS}, "
                         f"got {method!r}")
    per_row = model.booster.num_model_per_iteration()
    if per_row != 1:
        raise ValueError(f"contributions: the model has {per_row} outputs per row (objective "
                         f"{model.objective!r}); reason codes need a single-output model such "
                         "as the defection model")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame from FeatureFrame.transform, "
                        f"got {type(X).__name__}")
    if tuple(X.columns) != model.feature_names:
        missing = [c for c in model.feature_names if c not in X.columns]
        extra = [c for c in X.columns if c not in model.feature_names]
        raise ValueError("contributions: X does not have the model's columns in the model's "
                         f"order: missing {missing}, unexpected {extra}; build it with the "
                         "FeatureFrame used in training")
    columns = [*model.feature_names, BIAS_COLUMN]
    # Feature -> output column: the identity, or the features' groups summed.
    projection = np.eye(len(model.feature_names))
    if groups is not None:
        per_feature = pd.DataFrame(np.eye(len(model.feature_names)),
                                   columns=list(model.feature_names))
        projection = _group_matrix(per_feature, groups)
        columns = [*groups, BIAS_COLUMN]
    if not len(X):
        return pd.DataFrame(np.empty((0, len(columns))), index=X.index, columns=columns)
    if method == "path":
        values = _path_contributions(model, X, projection)
    else:
        values = np.asarray(model.booster.predict(X, pred_contrib=True,
                                                  num_iteration=model.best_iteration),
                            dtype=np.float64)
        if values.shape != (len(X), len(model.feature_names) + 1):
            raise ValueError(f"contributions: LightGBM returned shape {values.shape}, "
                             f"expected {(len(X), len(model.feature_names) + 1)}")
        if groups is not None:
            values = np.column_stack([values[:, :-1] @ projection, values[:, -1]])
    return pd.DataFrame(values, index=X.index, columns=columns)


@functools.lru_cache(maxsize=8)
def _path_tables(booster: Any, num_iteration: int | None,
                 n_features: int) -> tuple[tuple[np.ndarray, ...], float]:
    """Per tree, the contribution of each feature on the path to each leaf
    (``leaves x features``), and the summed root values (the bias)."""
    dump = booster.dump_model(num_iteration=num_iteration)
    tables, bias = [], 0.0
    for info in dump["tree_info"]:
        root = info["tree_structure"]
        table = np.zeros((max(int(info["num_leaves"]), 1), n_features))
        if "split_feature" not in root:  # a tree of one leaf: a constant
            bias += float(root.get("leaf_value", 0.0))
            tables.append(table)
            continue
        bias += float(root["internal_value"])
        stack = [(root, np.zeros(n_features))]
        while stack:
            node, path = stack.pop()
            for child in (node["left_child"], node["right_child"]):
                leaf = "split_feature" not in child
                value = child["leaf_value"] if leaf else child["internal_value"]
                moved = path.copy()
                moved[node["split_feature"]] += value - node["internal_value"]
                if leaf:
                    table[child["leaf_index"]] = moved
                else:
                    stack.append((child, moved))
        tables.append(table)
    return tuple(tables), bias


def _path_contributions(model: TrainedModel, X: pd.DataFrame,
                        projection: np.ndarray) -> np.ndarray:
    """Path contributions projected on ``projection`` (features x outputs), then the bias."""
    tables, bias = _path_tables(model.booster, model.best_iteration, len(model.feature_names))
    leaves = np.asarray(model.booster.predict(X, pred_leaf=True,
                                              num_iteration=model.best_iteration))
    leaves = leaves.reshape(len(X), -1).astype(np.intp)
    width = projection.shape[1]
    out = np.zeros((len(X), width + 1))
    summed = out[:, :width]
    for tree, table in enumerate(tables):
        summed += (table @ projection)[leaves[:, tree]]
    out[:, width] = bias
    return out


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------


def reason_groups(feature_names: Sequence[str]) -> dict[str, list[str]]:
    """Assign every feature to exactly one reason group, by its name.

    Parameters
    ----------
    feature_names
        Design-matrix columns (for instance ``model.feature_names``): the
        feature table's columns, ``stage``, ``bgnbd_*`` columns. The bias
        column :data:`BIAS_COLUMN`, if present, is left out.

    Returns
    -------
    dict of str to list of str
        Reason key -> its features, in the order of ``feature_names``. Keys come
        in the order of :data:`REASON_GROUPS` (the kind groups in the order in
        which their first feature appears), then :data:`OTHER_GROUP` for the
        features no pattern matches. Only non-empty groups are listed.

    Raises
    ------
    ValueError
        If a name is repeated.
    """
    names = [n for n in feature_names if n != BIAS_COLUMN]
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    if repeated:
        raise ValueError(f"reason_groups: feature names are repeated: {repeated}")
    found: dict[str, list[str]] = {}
    rank: dict[str, tuple[int, int]] = {}
    for position, name in enumerate(names):
        key, rule = OTHER_GROUP, len(_RULES)
        for i, (template, pattern) in enumerate(_RULES):
            match = pattern.fullmatch(name)
            if match:
                key, rule = template.format(**match.groupdict()), i
                break
        found.setdefault(key, []).append(name)
        rank.setdefault(key, (rule, position))
    return {key: found[key] for key in sorted(found, key=rank.__getitem__)}


def _group_matrix(contrib: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Summed contributions, shape (rows, groups), after checking ``groups``."""
    if not isinstance(contrib, pd.DataFrame):
        raise TypeError(f"contrib must be a pandas DataFrame from contributions, "
                        f"got {type(contrib).__name__}")
    owner: dict[str, str] = {}
    for key, members in groups.items():
        for name in members:
            if name in owner:
                raise ValueError(f"feature {name!r} is in two reason groups, {owner[name]!r} "
                                 f"and {key!r}: its contribution would count twice")
            owner[name] = key
    missing = [n for n in owner if n not in contrib.columns]
    if missing:
        raise ValueError(f"{len(missing)} grouped feature(s) are not columns of contrib: "
                         f"{missing[:10]}; build the groups from the model's feature names")
    position = {name: i for i, name in enumerate(contrib.columns)}
    values = contrib.to_numpy(dtype=np.float64)
    sums = np.zeros((len(contrib), len(groups)), dtype=np.float64)
    for j, members in enumerate(groups.values()):
        if len(members):
            sums[:, j] = values[:, [position[n] for n in members]].sum(axis=1)
    return sums


def group_contributions(
    contrib: pd.DataFrame,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Sum the contributions of the features of each reason group.

    Parameters
    ----------
    contrib
        Output of :func:`contributions` (the bias column is ignored).
    groups
        Reason key -> features; default ``reason_groups(contrib.columns)``.
        Features of ``contrib`` in no group are left out of every sum.

    Returns
    -------
    pandas.DataFrame
        On the index of ``contrib``: one ``float64`` column per group, in the
        order of ``groups``.

    Raises
    ------
    ValueError
        If a feature is in two groups, or a grouped feature is not a column of
        ``contrib``.
    """
    groups = reason_groups(list(contrib.columns)) if groups is None else groups
    return pd.DataFrame(_group_matrix(contrib, groups), index=contrib.index,
                        columns=list(groups))


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


# --------------------------------------------------------------------------
# Top reasons
# --------------------------------------------------------------------------


def top_reasons(
    contrib: pd.DataFrame,
    features: pd.DataFrame,
    *,
    k: int = 3,
    groups: Mapping[str, Sequence[str]] | None = None,
    satisfaction_scale: float | None = 5.0,
) -> pd.DataFrame:
    """The ``k`` reasons that raise each customer's risk most, as sentences.

    For every row, the groups are ranked by their summed contribution
    (:func:`group_contributions`), largest first; ties go to the group that
    comes first in ``groups``. The first ``k`` groups whose sum is strictly
    positive become the reasons. A row with fewer than ``k`` such groups has
    missing values (NA) in the remaining reason and key columns; a row whose
    contributions are all zero or negative has none.

    Parameters
    ----------
    contrib
        Output of :func:`contributions`; the bias column is ignored.
    features
        The customers' values, on the same index as ``contrib``: the feature
        rows the design matrix was built from (feature-table columns, ``stage``,
        ``bgnbd_*``). Columns a template needs but ``features`` lacks count as
        missing. Not modified.
    k
        Number of reasons per row, at least 1.
    groups
        Reason key -> features summed; default
        ``reason_groups(contrib.columns)``. Features of ``contrib`` in no group
        never give a reason, so a subset of the groups (leaving out, say,
        ``season``) restricts the reasons to those. Keys of
        :data:`REASON_GROUPS` and interaction kinds have templates; any other
        key is written as the key itself, underscores as spaces.
    satisfaction_scale
        Highest satisfaction score (the upper end of ``data.satisfaction_range``),
        written as "2 of 5"; ``None`` writes the score alone.

    Returns
    -------
    pandas.DataFrame
        On the index of ``contrib``, columns ``reason_1`` ... ``reason_k`` (the
        sentences, largest contribution first), then ``reason_1_key`` ...
        ``reason_k_key`` (the group keys), all of pandas' default string dtype
        (``"str"``); a missing reason is NA (``NaN``), never an empty string.

    Raises
    ------
    ValueError
        If ``k < 1``, ``features`` is not on the index of ``contrib``, a
        feature is in two groups, or a grouped feature is not a column of
        ``contrib``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"top_reasons: k must be an integer >= 1, got {k!r}")
    k = int(k)
    groups = reason_groups(list(contrib.columns)) if groups is None else groups
    sums = _group_matrix(contrib, groups)
    if not isinstance(features, pd.DataFrame) or not features.index.equals(contrib.index):
        got = (f"{len(features)} rows, index starting {list(features.index[:3])}"
               if isinstance(features, pd.DataFrame) else type(features).__name__)
        raise ValueError(f"top_reasons: features must be a DataFrame on the index of contrib "
                         f"({len(contrib)} rows, index starting {list(contrib.index[:3])}); got "
                         f"{got}. Pass the rows the design matrix was built from")

    keys = np.array(list(groups), dtype=object)
    width = min(k, keys.size)
    # A stable sort of the negated sums keeps equal sums in group order.
    order = np.argsort(-sums, axis=1, kind="stable")[:, :width]
    chosen = np.take_along_axis(sums, order, axis=1) > 0

    reason_keys = np.full((len(contrib), k), None, dtype=object)
    reason_keys[:, :width][chosen] = keys[order[chosen]]
    values = _Values(features)
    templates = {key: _template(key, groups[key], values.columns, satisfaction_scale)
                 for key in set(reason_keys[:, :width][chosen])}
    texts: list[list[str | None]] = [[None] * len(contrib) for _ in range(k)]
    rows, slots = np.nonzero(chosen)
    for row, slot, key in zip(rows.tolist(), slots.tolist(),
                              reason_keys[rows, slots].tolist(), strict=True):
        texts[slot][row] = templates[key](_Row(values, row))

    columns = {f"reason_{j + 1}": texts[j] for j in range(k)}
    columns |= {f"reason_{j + 1}_key": reason_keys[:, j] for j in range(k)}
    return pd.DataFrame({name: pd.Series(v, index=contrib.index, dtype="str")
                         for name, v in columns.items()}, index=contrib.index)
