"""Value tiers: predicted value cut into the tiers ``low``, ``medium`` and ``high``.

A scored customer gets a **value tier** from its predicted spend in the horizon
and the cuts of :class:`ValueTiers` (:func:`value_tier`). Cuts given as shares
of the population are turned into amounts on a reference population by
:meth:`ValueTiers.fit`; the resulting :class:`TierCuts` tier any later batch by
each customer's own value, and are stored with the scorer.

Data contract: :meth:`TierCuts.to_dict` writes ``{"side": "left" | "right",
"cuts": {group: [medium, high]}}``, NaN amounts as null; cuts that are the same
for every customer have the single group ``"*"``.

The functions here are pure: they take arrays and cuts and return new arrays;
the scoring stage reads the method and the cuts from ``params.yaml``
(``score.value_tiers``) and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.risk import _as_float

__all__ = [
    "VALUE_DTYPE",
    "VALUE_TIERS",
    "TierCuts",
    "ValueTiers",
    "value_tier",
]

#: Value tiers, from the lowest to the highest predicted value.
VALUE_TIERS: tuple[str, ...] = ("low", "medium", "high")
VALUE_DTYPE = pd.CategoricalDtype(list(VALUE_TIERS), ordered=True)

#: The group of cuts that are the same for every customer.
_UNGROUPED = "*"


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
        return _UNGROUPED not in self.cuts

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
            labels = np.full(amounts.size, _UNGROUPED, dtype=object)
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
        return TierCuts({_UNGROUPED: tiers.cuts}, side="right")
    if labels is None:
        return TierCuts({_UNGROUPED: tiers.thresholds(amounts)}, side="left")
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
