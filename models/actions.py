"""Risk labels, value tiers and the action policy: from predictions to one of seven actions.

Every scored customer gets three coordinates and one action:

* a **risk label** (``low``, ``medium``, ``high``, ``critical``) from its
  calibrated defection probability ``p`` and the thresholds of
  :class:`RiskBands` (:func:`risk_label`);
* a **value tier** (``low``, ``medium``, ``high``) from its predicted spend in
  the horizon and the cuts of :class:`ValueTiers` (:func:`value_tier`);
* an **action**, one of the seven customer-management strategies of the domain
  model (``DOMAIN.md``), chosen by the rule of an :class:`ActionPolicy` that
  matches its (stage, risk label, value tier). The policy is data (a list of
  rules, the ``score.policy`` section of ``params.yaml``), checked on load to
  cover every combination exactly once, and the name of the rule that fired is
  written with every scored row, so an analyst can trace each action to a rule
  and its stated reason (``why``).

Prospects
---------
A prospect has never bought, so it has no defection probability: its risk label
is null (NA), whatever ``p`` the scorer may have produced for it. The policy
chooses a prospect's action from its stage and value tier only: the
combinations to cover are ``prospect x {NA} x tiers`` plus
``other stage x {low, medium, high, critical} x tiers``. A rule's ``risk: "*"``
matches the NA risk of prospects; a named risk label never does, so a rule for
prospects must say ``risk: "*"``. :meth:`ActionPolicy.apply` ignores the risk
label of prospect rows and requires one on every other row.

All functions here are pure: they take arrays and thresholds and return new
arrays; the scoring stage reads the thresholds and the rules from
``params.yaml`` and passes them in.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.stages import STAGES

__all__ = [
    "ACTIONS",
    "DEFAULT_RULES",
    "RISK_DTYPE",
    "RISK_LABELS",
    "VALUE_DTYPE",
    "VALUE_TIERS",
    "ActionPolicy",
    "PolicyError",
    "PolicyRule",
    "RiskBands",
    "TierCuts",
    "ValueTiers",
    "risk_label",
    "value_tier",
]

#: Risk labels, from the lowest to the highest defection probability.
RISK_LABELS: tuple[str, ...] = ("low", "medium", "high", "critical")
RISK_DTYPE = pd.CategoricalDtype(list(RISK_LABELS), ordered=True)

#: Value tiers, from the lowest to the highest predicted value.
VALUE_TIERS: tuple[str, ...] = ("low", "medium", "high")
VALUE_DTYPE = pd.CategoricalDtype(list(VALUE_TIERS), ordered=True)

#: The seven customer-management strategies of the domain model.
ACTIONS: tuple[str, ...] = (
    "start", "protect", "re_engineer", "enhance", "harvest", "end", "regain",
)

#: A rule field that matches every value.
ANY = "*"

# The risk axis of the policy grid: the four labels, then "no risk label"
# (prospects). Displayed as NA in messages and tables.
_RISK_AXIS: tuple[str | None, ...] = (*RISK_LABELS, None)
_NA = len(RISK_LABELS)
_PROSPECT = STAGES.index("prospect")


# --------------------------------------------------------------------------
# Risk labels
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskBands:
    """Thresholds of the risk labels on the calibrated defection probability ``p``.

    Each field is the probability from which its label starts (``p`` below
    ``medium`` is ``low``), and a ``p`` exactly at a threshold gets the higher
    label. With the defaults::

        low: p < 0.3    medium: 0.3 <= p < 0.5    high: 0.5 <= p < 0.75    critical: 0.75 <= p

    Why these defaults: ``p`` is calibrated, so the thresholds read as odds of
    no purchase in the horizon. 0.5 and 0.75 are the band edges of published
    products ("low < 0.5 <= medium < 0.75 <= high", ``DOMAIN.md``): from 0.5
    defection is more likely than not (``high``), from 0.75 three in four such
    customers leave (``critical``). The published lowest band is split at 0.3
    because a valuable customer with a one-in-three chance of not buying is
    already worth a protective contact, well before defection is the likelier
    outcome; below 0.3 the usual rhythm of repeat buyers explains the residual
    risk.

    Parameters
    ----------
    medium, high, critical
        The probability from which each label starts; strictly increasing, each
        strictly between 0 and 1 (a band that starts at 0 or 1 would be empty or
        would swallow ``low``).

    Raises
    ------
    ValueError
        Naming the field and its value, when a threshold is not a number in
        (0, 1) or the thresholds do not increase strictly.
    """

    medium: float = 0.3
    high: float = 0.5
    critical: float = 0.75

    def __post_init__(self) -> None:
        for name in ("medium", "high", "critical"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, Real)
                    or not 0 < float(value) < 1):
                raise ValueError(
                    f"RiskBands.{name} must be a probability strictly between 0 and 1, "
                    f"got {value!r}"
                )
        for lower, upper in (("medium", "high"), ("high", "critical")):
            if getattr(self, upper) <= getattr(self, lower):
                raise ValueError(
                    f"RiskBands thresholds must increase strictly (medium < high < critical): "
                    f"{upper} ({getattr(self, upper)}) is not above {lower} "
                    f"({getattr(self, lower)})"
                )

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """``(medium, high, critical)``: where each label above ``low`` starts."""
        return (float(self.medium), float(self.high), float(self.critical))


def risk_label(p: Any, bands: RiskBands) -> pd.Categorical:
    """The risk label of each calibrated defection probability.

    Parameters
    ----------
    p
        One-dimensional array-like of probabilities in [0, 1]; NaN / None / NA
        where there is none (prospects).
    bands
        The thresholds; a ``p`` exactly at a threshold gets the higher label.

    Returns
    -------
    pandas.Categorical
        One label per input value, in order, with the ordered categories
        ``low < medium < high < critical`` (:data:`RISK_DTYPE`); NA where ``p``
        is missing.

    Raises
    ------
    ValueError
        When a value is not numeric or lies outside [0, 1] (with the number of
        such values and an example).
    """
    values = _as_float(p, "risk_label: p")
    known = ~np.isnan(values)
    outside = known & ~((values >= 0) & (values <= 1))
    if outside.any():
        example = float(values[np.flatnonzero(outside)[0]])
        raise ValueError(
            f"risk_label: {int(outside.sum())} of {values.size} probabilities are outside "
            f"[0, 1] (e.g. {example!r}); pass the calibrated defection probability"
        )
    # side="right" counts the thresholds <= p: a p at a threshold moves up a label.
    codes = np.searchsorted(np.asarray(bands.thresholds), values, side="right")
    codes = np.where(known, codes, -1)
    return pd.Categorical.from_codes(codes, dtype=RISK_DTYPE)


# --------------------------------------------------------------------------
# Value tiers
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueTiers:
    """How predicted value is cut into the tiers ``low``, ``medium``, ``high``.

    Parameters
    ----------
    method
        ``"quantile"`` (default): ``cuts`` are shares of the scored population,
        turned into amounts at every scoring run, so a business that does not
        know its numbers still gets tiers of known size: with the default
        ``(0.5, 0.8)`` the lower half is ``low``, the top fifth ``high`` (the
        customers who usually bring most of the revenue) and the 30 % in between
        ``medium``. A value above a quantile moves up; a value equal to it stays
        in the lower tier, so a mass of identical values (e.g. many customers
        with zero predicted spend) never inflates an upper tier.
        ``"absolute"``: ``cuts`` are amounts in the currency of the data; a value
        equal to a cut gets the higher tier (``low < cuts[0] <= medium <
        cuts[1] <= high``), the same convention as :class:`RiskBands`.
    cuts
        Two strictly increasing finite numbers; for ``"quantile"`` both strictly
        between 0 and 1.

    Raises
    ------
    ValueError
        Naming the field and its value.
    """

    method: Literal["quantile", "absolute"] = "quantile"
    cuts: tuple[float, float] = (0.5, 0.8)

    def __post_init__(self) -> None:
        if self.method not in ("quantile", "absolute"):
            raise ValueError(
                f"ValueTiers.method must be 'quantile' or 'absolute', got {self.method!r}"
            )
        cuts = self.cuts
        if (isinstance(cuts, str | bytes) or not isinstance(cuts, Sequence)
                or len(cuts) != len(VALUE_TIERS) - 1):
            raise ValueError(
                f"ValueTiers.cuts must be two numbers (where medium and high start), "
                f"got {cuts!r}"
            )
        for value in cuts:
            if (isinstance(value, bool) or not isinstance(value, Real)
                    or not np.isfinite(float(value))):
                raise ValueError(f"ValueTiers.cuts must be finite numbers, got {cuts!r}")
        if not cuts[0] < cuts[1]:
            raise ValueError(
                f"ValueTiers.cuts must increase strictly (medium starts below high), "
                f"got {tuple(cuts)!r}"
            )
        if self.method == "quantile" and not (cuts[0] > 0 and cuts[1] < 1):
            raise ValueError(
                f"ValueTiers.cuts are shares of the population with method='quantile' and "
                f"must lie strictly between 0 and 1, got {tuple(cuts)!r}"
            )
        object.__setattr__(self, "cuts", (float(cuts[0]), float(cuts[1])))

    def thresholds(self, values: Any) -> tuple[float, float]:
        """The amounts where ``medium`` and ``high`` start, for these values.

        Parameters
        ----------
        values
            One-dimensional array-like of predicted values (NaN ignored). Not
            read with ``method="absolute"``.

        Returns
        -------
        tuple of float
            The cuts themselves (absolute), or the ``cuts`` quantiles of the
            non-missing values (NaN, NaN when there are none).
        """
        if self.method == "absolute":
            return self.cuts
        known = _as_float(values, "ValueTiers.thresholds: values")
        known = known[~np.isnan(known)]
        if known.size == 0:
            return (np.nan, np.nan)
        low, high = np.quantile(known, self.cuts)
        return (float(low), float(high))

    def fit(self, values: Any, groups: Any = None) -> TierCuts:
        """Freeze the cuts as amounts, from a reference population's values.

        Parameters
        ----------
        values
            Predicted values of the reference population (NaN ignored).
        groups
            Only with ``method="quantile"``: the group of each value; the
            quantiles are taken within each group.

        Returns
        -------
        TierCuts
            Per group (or ``"*"``), the amounts where ``medium`` and ``high``
            start; quantile cuts keep a value equal to a cut in the lower tier,
            absolute ones move it up.
        """
        return _fit_cuts(self, values, groups)


def _tier_groups(groups: Any, size: int) -> np.ndarray | None:
    if groups is None:
        return None
    labels = pd.Series(np.asarray(groups, dtype=object))
    if labels.size != size:
        raise ValueError(f"value_tier: groups has {labels.size} labels for {size} values")
    if labels.isna().any():
        raise ValueError(f"value_tier: {int(labels.isna().sum())} group labels are missing")
    return labels.astype(str).to_numpy(dtype=object)


def _tier_amounts(values: Any) -> np.ndarray:
    amounts = _as_float(values, "value_tier: values")
    infinite = np.isinf(amounts)
    if infinite.any():
        raise ValueError(
            f"value_tier: {int(infinite.sum())} of {amounts.size} values are infinite "
            f"(e.g. {float(amounts[np.flatnonzero(infinite)[0]])!r})"
        )
    return amounts


@dataclass(frozen=True)
class TierCuts:
    """Fixed amounts where ``medium`` and ``high`` start, per group of customers.

    The result of :meth:`ValueTiers.fit`: quantile cuts turned into amounts on
    a reference population, so that a customer's tier depends on its own value
    only, not on which other customers are scored in the same batch (a batch
    split across Spark partitions gets the same tiers as the whole table).

    Parameters
    ----------
    cuts
        Group label -> ``(medium, high)`` amounts; the single key ``"*"`` when
        customers are not grouped. NaN amounts (a group without known values in
        the reference) give that group NA tiers.
    side
        Which tier a value equal to a cut gets: ``"left"`` keeps it in the lower
        tier (quantile cuts), ``"right"`` moves it up (absolute cuts).
    """

    cuts: Mapping[str, tuple[float, float]]
    side: Literal["left", "right"] = "left"

    def __post_init__(self) -> None:
        if self.side not in ("left", "right"):
            raise ValueError(f"TierCuts.side must be 'left' or 'right', got {self.side!r}")
        if not self.cuts:
            raise ValueError("TierCuts.cuts is empty: give at least one group")
        clean = {}
        for group, pair in self.cuts.items():
            low, high = (float(v) for v in pair)
            if np.isfinite(low) and np.isfinite(high) and not low <= high:
                raise ValueError(f"TierCuts: the cuts of group {group!r} decrease: {(low, high)}")
            clean[str(group)] = (low, high)
        object.__setattr__(self, "cuts", clean)

    @property
    def grouped(self) -> bool:
        """Whether the cuts differ by group (rather than one ``"*"`` pair)."""
        return ANY not in self.cuts

    def apply(self, values: Any, groups: Any = None) -> pd.Categorical:
        """The tier of each value (see :func:`value_tier` for the conventions).

        Raises
        ------
        ValueError
            When a value is not numeric or is infinite, when ``groups`` is given
            for ungrouped cuts or missing for grouped ones, or names a group
            without cuts.
        """
        amounts = _tier_amounts(values)
        labels = _tier_groups(groups, amounts.size)
        if self.grouped and labels is None:
            raise ValueError(f"value_tier: these cuts are per group ({sorted(self.cuts)}); "
                             "pass the group of every value")
        if not self.grouped and labels is not None:
            raise ValueError("value_tier: these cuts are the same for every customer; "
                             "do not pass groups")
        known = ~np.isnan(amounts)
        codes = np.full(amounts.size, -1, dtype=np.int64)
        if labels is None:
            labels = np.full(amounts.size, ANY, dtype=object)
        unknown = sorted(set(np.unique(labels)) - set(self.cuts))
        if unknown:
            raise ValueError(f"value_tier: no cuts for the groups {unknown}; the cuts know "
                             f"{sorted(self.cuts)}")
        for group, pair in self.cuts.items():
            rows = (labels == group) & known & bool(np.isfinite(pair).all())
            if rows.any():
                codes[rows] = np.searchsorted(np.asarray(pair), amounts[rows], side=self.side)
        return pd.Categorical.from_codes(codes, dtype=VALUE_DTYPE)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; :meth:`from_dict` reads it back (NaN written as null)."""
        return {"side": self.side,
                "cuts": {g: [None if np.isnan(v) else v for v in pair]
                         for g, pair in self.cuts.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TierCuts:
        return cls({g: tuple(np.nan if v is None else float(v) for v in pair)
                    for g, pair in data["cuts"].items()}, side=data["side"])


def _fit_cuts(tiers: ValueTiers, values: Any, groups: Any) -> TierCuts:
    amounts = _tier_amounts(values)
    labels = _tier_groups(groups, amounts.size)
    if tiers.method == "absolute":
        if labels is not None:
            raise ValueError("value_tier: groups apply only to method='quantile' (absolute "
                             "cuts are the same amounts for every group)")
        return TierCuts({ANY: tiers.cuts}, side="right")
    if labels is None:
        return TierCuts({ANY: tiers.thresholds(amounts)}, side="left")
    return TierCuts({g: tiers.thresholds(amounts[labels == g]) for g in np.unique(labels)},
                    side="left")


def value_tier(values: Any, tiers: ValueTiers, *, groups: Any = None) -> pd.Categorical:
    """The value tier of each predicted value, with cuts taken from these values.

    Equivalent to ``tiers.fit(values, groups).apply(values, groups)``: with
    ``method="quantile"`` the quantiles are those of ``values`` themselves.
    To tier new customers against a reference population, fit once on the
    reference (:meth:`ValueTiers.fit`) and apply the :class:`TierCuts`.

    Parameters
    ----------
    values
        One-dimensional array-like of predicted values (e.g. ``predicted_value``,
        the expected spend in the horizon); NaN / None / NA where unknown.
    tiers
        The method and cuts (see :class:`ValueTiers` for which side of a cut a
        value equal to it falls).
    groups
        Only with ``method="quantile"``: one label per value; the quantiles are
        computed within each group, e.g. ``stage == "prospect"`` so that
        prospects are ranked among prospects (whose predicted spend is mostly
        far below that of buyers) and the top of them can still be ``high``.

    Returns
    -------
    pandas.Categorical
        One tier per value, in order, with the ordered categories
        ``low < medium < high`` (:data:`VALUE_DTYPE`); NA where the value is
        missing.

    Raises
    ------
    ValueError
        When a value is not numeric or is infinite, when ``groups`` has another
        length than ``values`` or has missing labels, or is given with
        ``method="absolute"``.
    """
    cuts = _fit_cuts(tiers, values, groups)
    return cuts.apply(values, None if groups is None else np.asarray(groups, dtype=object)
                      .astype(str))


# --------------------------------------------------------------------------
# The action policy
# --------------------------------------------------------------------------


class PolicyError(ValueError):
    """The rules of an action policy are invalid, leave gaps or overlap."""


_FIELDS: dict[str, tuple[str, ...]] = {
    "stage": STAGES,
    "risk": RISK_LABELS,
    "value": VALUE_TIERS,
}
_RULE_KEYS = ("name", "stage", "risk", "value", "action", "why")


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the action policy.

    Parameters
    ----------
    name
        Unique identifier, written with every row the rule decides (``action_rule``).
    stage, risk, value
        What the rule matches: ``"*"`` (anything) or a tuple of stage names,
        risk labels or value tiers. ``risk="*"`` also matches the missing risk
        label of prospects; a tuple of risk labels does not.
    action
        One of :data:`ACTIONS`.
    why
        The reason in a sentence, shown in the scoring report.
    """

    name: str
    stage: str | tuple[str, ...]
    risk: str | tuple[str, ...]
    value: str | tuple[str, ...]
    action: str
    why: str

    def mask(self) -> np.ndarray:
        """Boolean array over (stage, risk incl. NA, value tier): the combinations matched."""
        stage = _axis_mask(self.stage, STAGES)
        risk = _axis_mask(self.risk, _RISK_AXIS)
        value = _axis_mask(self.value, VALUE_TIERS)
        return stage[:, None, None] & risk[None, :, None] & value[None, None, :]

    def to_dict(self) -> dict[str, Any]:
        """The rule as params data (lists for tuples), as ``from_rules`` takes it."""
        def plain(spec: str | tuple[str, ...]) -> str | list[str]:
            return spec if isinstance(spec, str) else list(spec)
        return {"name": self.name, "stage": plain(self.stage), "risk": plain(self.risk),
                "value": plain(self.value), "action": self.action, "why": self.why}


@dataclass(frozen=True)
class ActionPolicy:
    """A validated action policy: every (stage, risk, value tier) maps to exactly one rule.

    Build it with :meth:`from_rules`. The combinations it must cover are the
    seven stages x the four risk labels x the three value tiers, except that
    prospects have no risk label: for them, only (prospect, NA, tier). That
    makes ``3 + 6 x 4 x 3 = 75`` combinations; the policy stores the action and
    the rule of each in a lookup table that :meth:`apply` indexes with the codes
    of the input columns.

    Parameters
    ----------
    rules
        The rules, in the order given.
    """

    rules: tuple[PolicyRule, ...]
    _rule_of: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def from_rules(cls, rules: Iterable[Mapping[str, Any] | PolicyRule]) -> ActionPolicy:
        """Validate rules and build the policy.

        Parameters
        ----------
        rules
            Mappings with the keys ``name``, ``stage``, ``risk``, ``value``,
            ``action`` and ``why`` (as in ``params.yaml``), or :class:`PolicyRule`
            objects. ``stage``, ``risk`` and ``value`` are each one name, a list of
            names, or ``"*"`` for any.

        Returns
        -------
        ActionPolicy

        Raises
        ------
        PolicyError
            Listing every problem: a rule with missing or unknown keys, an
            unknown stage, risk label, value tier or action (with the rule and
            the valid names), a duplicate rule name, a rule that matches no
            combination; or, when every rule is valid, every combination no rule
            covers and every combination that several rules match (with their
            names).
        """
        if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
            raise PolicyError(f"the action policy must be a list of rules, got "
                              f"{type(rules).__name__}")
        rules = list(rules)
        if not rules:
            raise PolicyError("the action policy has no rules")
        problems: list[str] = []
        parsed: list[PolicyRule] = []
        for i, raw in enumerate(rules):
            rule = _parse_rule(raw, i, problems)
            if rule is not None:
                parsed.append(rule)
        seen: dict[str, int] = {}
        for i, rule in enumerate(parsed):
            if rule.name in seen:
                problems.append(f"rule {rule.name!r}: the name is used by more than one rule "
                                "(names identify the rule that fired)")
            seen.setdefault(rule.name, i)
        if problems:
            raise PolicyError(_listing("the action policy has invalid rules", problems))

        valid = _valid_combinations()
        masks = np.stack([rule.mask() for rule in parsed])
        for rule, mask in zip(parsed, masks, strict=True):
            if not (mask & valid).any():
                problems.append(
                    f"rule {rule.name!r} matches no combination"
                    + (" (prospects have no risk label: use risk: '*' for them)"
                       if _axis_mask(rule.stage, STAGES)[_PROSPECT] else "")
                )
        counts = (masks & valid).sum(axis=0)
        gaps = np.argwhere(valid & (counts == 0))
        if gaps.size:
            problems.append(
                f"{len(gaps)} combinations are covered by no rule: "
                + "; ".join(_compact(map(tuple, gaps)))
            )
        overlaps: dict[tuple[str, ...], list[tuple[int, ...]]] = {}
        for cell in np.argwhere(valid & (counts > 1)):
            names = tuple(r.name for r, m in zip(parsed, masks, strict=True) if m[tuple(cell)])
            overlaps.setdefault(names, []).append(tuple(cell))
        for names, cells in overlaps.items():
            problems.append(
                f"rules {', '.join(repr(n) for n in names)} "
                f"{'both' if len(names) == 2 else 'all'} match "
                f"{len(cells)} combination{'s' if len(cells) > 1 else ''}: "
                + "; ".join(_compact(cells))
            )
        if problems:
            raise PolicyError(_listing("the action policy does not map every combination of "
                                       "stage, risk and value tier to exactly one rule",
                                       problems))
        rule_of = np.where(valid, masks.argmax(axis=0), -1)
        return cls(rules=tuple(parsed), _rule_of=rule_of)

    @property
    def reasons(self) -> dict[str, str]:
        """Rule name -> its ``why``."""
        return {rule.name: rule.why for rule in self.rules}

    def table(self) -> pd.DataFrame:
        """Every combination with its action and rule (for reports and documentation).

        Returns
        -------
        pandas.DataFrame
            Columns ``stage``, ``risk`` (NA for prospects), ``value_tier``,
            ``action``, ``action_rule``, ``why``; one row per combination, in the
            order of :data:`~models.stages.STAGES`, :data:`RISK_LABELS` and
            :data:`VALUE_TIERS`.
        """
        rows = []
        for s, r, v in np.argwhere(self._rule_of >= 0):
            rule = self.rules[self._rule_of[s, r, v]]
            rows.append({"stage": STAGES[s], "risk": _RISK_AXIS[r], "value_tier": VALUE_TIERS[v],
                         "action": rule.action, "action_rule": rule.name, "why": rule.why})
        out = pd.DataFrame(rows)
        out["risk"] = pd.Categorical(out["risk"], dtype=RISK_DTYPE)
        out["value_tier"] = pd.Categorical(out["value_tier"], dtype=VALUE_DTYPE)
        return out

    def apply(self, stage: Any, risk: Any, value_tier: Any) -> tuple[np.ndarray, np.ndarray]:
        """The action and the rule that chose it, for every row.

        Parameters
        ----------
        stage, risk, value_tier
            One-dimensional array-likes of equal length (e.g. columns of the
            scored frame): stage names, risk labels and value tiers, as strings
            or categoricals. The risk of ``prospect`` rows is ignored (they have
            none, see the module docstring); every other row needs one.

        Returns
        -------
        action, action_rule : numpy.ndarray
            Object arrays of the action and of the rule name, one per row.

        Raises
        ------
        ValueError
            When the lengths differ, a value is not a known stage, risk label or
            value tier, or a stage, a value tier, or the risk of a customer who
            is not a prospect is missing (with the number of rows and an example).
        """
        s = _codes(stage, STAGES, "stage")
        r = _codes(risk, RISK_LABELS, "risk")
        v = _codes(value_tier, VALUE_TIERS, "value_tier")
        if not s.size == r.size == v.size:
            raise ValueError(f"ActionPolicy.apply: stage, risk and value_tier have "
                             f"{s.size}, {r.size} and {v.size} rows")
        for codes, what in ((s, "stage"), (v, "value_tier")):
            if (codes < 0).any():
                raise ValueError(f"ActionPolicy.apply: {int((codes < 0).sum())} rows have no "
                                 f"{what} (first: row {int(np.flatnonzero(codes < 0)[0])})")
        prospect = s == _PROSPECT
        missing = ~prospect & (r < 0)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"ActionPolicy.apply: {int(missing.sum())} rows of customers who have bought "
                f"have no risk label (first: row {i}, stage {STAGES[s[i]]!r}); only prospects "
                "go without one"
            )
        r = np.where(prospect, _NA, r)
        rule = self._rule_of[s, r, v]
        actions = np.array([x.action for x in self.rules], dtype=object)
        names = np.array([x.name for x in self.rules], dtype=object)
        return actions[rule], names[rule]


# --------------------------------------------------------------------------
# The default policy
# --------------------------------------------------------------------------

_BUYING = ["first_time_buyer", "early_repeat", "core", "reactivated"]

#: The default policy (the ``score.policy`` section of ``params.yaml``), after the
#: domain model's table of strategies. ``re_engineer`` is "a customer who costs
#: more to serve than it brings"; without cost data it is approximated by a
#: customer who is still buying (first-time, repeat, core or reactivated) but
#: whose expected spend is low and whose defection risk is high or critical:
#: personal attention would cost more than it can save, so service moves to
#: self-service and automated channels. ``end`` is kept for customers who have
#: stopped buying (at risk or lost) with low value and for low-value prospects.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"name": "start_promising_prospect", "stage": "prospect", "risk": ANY, "value": "high",
     "action": "start",
     "why": "Prospect among the highest predicted value: begin the relationship, diagnose "
            "needs first, then offer."},
    {"name": "harvest_average_prospect", "stage": "prospect", "risk": ANY, "value": "medium",
     "action": "harvest",
     "why": "Prospect of middling predicted value: keep it in low-cost automated contact, "
            "no extra spend until it shows interest."},
    {"name": "end_unpromising_prospect", "stage": "prospect", "risk": ANY, "value": "low",
     "action": "end",
     "why": "Prospect with no sign of future profit: stop active spending on it."},
    {"name": "enhance_engaged", "stage": [*_BUYING], "risk": "low", "value": ["medium", "high"],
     "action": "enhance",
     "why": "Buying, low risk, room to grow: cross-sell and up-sell, move it up the value "
            "ladder."},
    {"name": "protect_valuable", "stage": [*_BUYING], "risk": ["medium", "high", "critical"],
     "value": ["medium", "high"], "action": "protect",
     "why": "Valuable customer whose risk is rising: proactive contact, priority service and "
            "follow-up before a competitor gets in."},
    {"name": "harvest_stable_low_value", "stage": [*_BUYING], "risk": ["low", "medium"],
     "value": "low", "action": "harvest",
     "why": "Stable customer with low predicted value: keep service lean, no extra spend."},
    {"name": "re_engineer_risky_low_value", "stage": [*_BUYING], "risk": ["high", "critical"],
     "value": "low", "action": "re_engineer",
     "why": "Still buying, but low value and likely to leave: personal service costs more "
            "than it brings, move it to self-service and automated channels."},
    {"name": "regain_drifting_high_value", "stage": "at_risk", "risk": ANY, "value": "high",
     "action": "regain",
     "why": "High-value customer drifting away: win-back contact, find out why, strong offer "
            "at the right moment."},
    {"name": "protect_drifting_medium_value", "stage": "at_risk", "risk": ANY,
     "value": "medium", "action": "protect",
     "why": "Customer of middling value overdue for its next purchase: proactive contact "
            "before it is lost."},
    {"name": "harvest_drifting_low_value", "stage": "at_risk", "risk": ["low", "medium"],
     "value": "low", "action": "harvest",
     "why": "Low-value customer overdue, but likely to buy again: no extra spend."},
    {"name": "end_drifting_low_value", "stage": "at_risk", "risk": ["high", "critical"],
     "value": "low", "action": "end",
     "why": "Low-value customer overdue and likely gone: no sign of future profit, stop "
            "active spending."},
    {"name": "regain_lost_valuable", "stage": "lost", "risk": ANY, "value": ["medium", "high"],
     "action": "regain",
     "why": "Lost customer still worth winning back: find out why it left and contact it "
            "with a strong offer."},
    {"name": "end_lost_low_value", "stage": "lost", "risk": ANY, "value": "low",
     "action": "end",
     "why": "Lost customer of low value: no sign of future profit, stop active spending."},
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _as_float(values: Any, what: str) -> np.ndarray:
    """A 1-d float array with NaN for every missing value (None, NaN, pd.NA)."""
    if np.ndim(values) != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {np.shape(values)}")
    series = pd.Series(np.asarray(values, dtype=object))
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} values are not numbers "
                         f"(e.g. {series[bad].iloc[0]!r})")
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def _codes(values: Any, categories: Sequence[str], what: str) -> np.ndarray:
    """Positions of ``values`` in ``categories``; -1 for missing; unknown names refused."""
    if np.ndim(values) != 1:
        raise ValueError(f"ActionPolicy.apply: {what} must be one-dimensional, got shape "
                         f"{np.shape(values)}")
    raw = pd.Series(np.asarray(values, dtype=object))
    missing = raw.isna().to_numpy()
    codes = pd.Index(list(categories)).get_indexer(raw.where(~missing, None))
    unknown = (codes < 0) & ~missing
    if unknown.any():
        names = sorted({str(x) for x in raw[unknown]})
        raise ValueError(f"ActionPolicy.apply: {int(unknown.sum())} rows have an unknown {what} "
                         f"({', '.join(repr(n) for n in names[:5])}); valid: "
                         f"{', '.join(categories)}")
    return codes.astype(np.int64)


def _axis_mask(spec: str | tuple[str, ...], axis: Sequence[str | None]) -> np.ndarray:
    if spec == ANY:
        return np.ones(len(axis), dtype=bool)
    if isinstance(spec, str):
        spec = (spec,)
    return np.array([a in spec for a in axis], dtype=bool)


def _valid_combinations() -> np.ndarray:
    """(stage, risk incl. NA, value) cells that exist: NA risk for prospects only."""
    valid = np.ones((len(STAGES), len(_RISK_AXIS), len(VALUE_TIERS)), dtype=bool)
    valid[_PROSPECT, :_NA, :] = False
    valid[np.arange(len(STAGES)) != _PROSPECT, _NA, :] = False
    return valid


def _parse_rule(raw: Mapping[str, Any] | PolicyRule, i: int,
                problems: list[str]) -> PolicyRule | None:
    """A checked rule, or None after appending what is wrong with it to ``problems``."""
    if isinstance(raw, PolicyRule):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        problems.append(f"rule #{i + 1}: expected a mapping with keys {', '.join(_RULE_KEYS)}, "
                        f"got {type(raw).__name__}")
        return None
    name = raw.get("name")
    label = f"rule {name!r}" if isinstance(name, str) and name.strip() else f"rule #{i + 1}"
    before = len(problems)
    unknown = sorted(str(k) for k in raw if k not in _RULE_KEYS)
    if unknown:
        problems.append(f"{label}: unknown keys {unknown}; a rule has the keys "
                        f"{', '.join(_RULE_KEYS)}")
    missing = [k for k in _RULE_KEYS if k not in raw]
    if missing:
        problems.append(f"{label}: missing keys {missing}")
    for key in ("name", "why"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            problems.append(f"{label}: {key} must be a non-empty text, got {raw[key]!r}")
    specs: dict[str, str | tuple[str, ...]] = {}
    for key, valid in _FIELDS.items():
        if key in raw:
            spec = _parse_spec(raw[key], valid, f"{label}: {key}", problems)
            if spec is not None:
                specs[key] = spec
    action = raw.get("action")
    if "action" in raw and action not in ACTIONS:
        problems.append(f"{label}: unknown action {action!r}{_suggest(action, ACTIONS)}; "
                        f"valid actions: {', '.join(ACTIONS)}")
    if len(problems) > before:
        return None
    return PolicyRule(name=name.strip(), stage=specs["stage"], risk=specs["risk"],
                      value=specs["value"], action=action, why=raw["why"].strip())


def _parse_spec(spec: Any, valid: Sequence[str], label: str,
                problems: list[str]) -> str | tuple[str, ...] | None:
    """``"*"``, or a tuple of known names in the order of ``valid``."""
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list | tuple) or not items:
        problems.append(f"{label} must be '*', a name or a non-empty list of names, "
                        f"got {spec!r}")
        return None
    if ANY in items:
        if len(items) > 1:
            problems.append(f"{label}: '*' matches anything and cannot be listed with "
                            f"names, got {list(items)!r}")
            return None
        return ANY
    bad = [x for x in items if x not in valid]
    if bad:
        hint = "".join(_suggest(x, valid) for x in bad[:1])
        problems.append(f"{label}: unknown {', '.join(repr(x) for x in bad)}{hint}; "
                        f"valid: {', '.join(valid)} or '*'")
        return None
    return tuple(v for v in valid if v in items)


def _suggest(word: Any, valid: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _compact(cells: Iterable[tuple[int, ...]]) -> list[str]:
    """Grid cells written as few products: ``stage=a|b, risk=c, value=d|e`` each."""
    by_stage_risk: dict[tuple[int, int], set[int]] = {}
    for s, r, v in cells:
        by_stage_risk.setdefault((int(s), int(r)), set()).add(int(v))
    by_stage: dict[tuple[int, frozenset[int]], set[int]] = {}
    for (s, r), values in by_stage_risk.items():
        by_stage.setdefault((s, frozenset(values)), set()).add(r)
    blocks: dict[tuple[frozenset[int], frozenset[int]], set[int]] = {}
    for (s, values), risks in by_stage.items():
        blocks.setdefault((frozenset(risks), values), set()).add(s)

    def names(codes: Iterable[int], axis: Sequence[str | None]) -> str:
        return "|".join("NA" if axis[c] is None else str(axis[c]) for c in sorted(codes))

    ordered = sorted(blocks.items(), key=lambda kv: (min(kv[1]), min(kv[0][0]), min(kv[0][1])))
    return [f"stage={names(stages, STAGES)}, risk={names(risks, _RISK_AXIS)}, "
            f"value={names(values, VALUE_TIERS)}"
            for (risks, values), stages in ordered]


def _listing(title: str, problems: list[str]) -> str:
    return f"{title}:\n" + "\n".join(f"  - {p}" for p in problems)
