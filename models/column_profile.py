"""One column of a reference population, binned: :class:`ColumnProfile`, and
how its bins are learned from the reference and counted in a current population.

Bins
----
:class:`~models.drift.DriftReference` learns the bins of each column from the
reference population (the training data), stores its shares
(:class:`ColumnProfile`), and later counts a scored population into the same
bins. Missing values (NaN, None, ``pd.NA``) always form a bin of their own, so
a change in the share of missing values is drift by itself.

*Numeric columns* are cut at the reference quantiles ``1/bins, 2/bins, ...``
(the smallest reference value at or above each share, so edges are values that
occur), with duplicates removed: a column with 70 % zeros gets one edge at 0
instead of seven, and the zeros fill one bin of their own. Bins are closed on
the right, ``(edges[i], edges[i + 1]]``: a value equal to an edge falls in the
bin below it, together with the values just under it, never with the values
above it. One more edge lies just below the reference minimum (the largest
float smaller than it), so the lowest bin holds exactly the values below
anything the reference held: a mass of values at the minimum (zeros, a
constant) is then separated from values below it as well as from values above
it. A constant column thus gets the bins ``< c``, ``= c`` and ``> c`` (shares
0, 1 and 0), and its PSI is 0 while the values stay at ``c`` and large as soon
as they move in either direction. A numeric column that the reference never
filled (all missing) gets a single value bin ``(-inf, inf)`` of share 0 beside
its missing bin: PSI 0 while the current data stays missing, large once values
appear. Infinite values are values: they fall in the outermost bins.

*Categorical columns* (object, string, category and boolean dtypes) are
compared by the text of their values (``str(value)``, so ``True`` is
``"True"``). Each reference category has a bin, up to ``max_categories`` of the
most frequent ones; the others and every category the reference never saw
share an "other" bin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["ColumnProfile"]

_KINDS = ("numeric", "categorical")
# Shares are counts divided by the row count: their sum is 1 up to rounding.
_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ColumnProfile:
    """The binned distribution of one column of the reference population.

    Built by :meth:`models.drift.DriftReference.fit`; the bins are described in
    the module docstring.

    Parameters
    ----------
    kind
        ``"numeric"`` or ``"categorical"``.
    shares
        Share of the reference rows in each bin, in bin order, the missing bin
        last: for a numeric column ``len(edges) - 1`` value bins then missing;
        for a categorical column one bin per category, then "other", then
        missing. Non-negative, summing to 1.
    rows
        Number of reference rows (missing ones included), > 0.
    edges
        Numeric only: strictly increasing bin edges from ``-inf`` to ``inf``;
        bin ``i`` is ``(edges[i], edges[i + 1]]`` (closed on the right, the
        last one also holds ``inf``).
    categories
        Categorical only: the text of each category that has a bin, unique.

    Raises
    ------
    ValueError
        Naming the field, when a field is malformed or the fields disagree
        (e.g. the number of shares does not match the bins).
    """

    kind: Literal["numeric", "categorical"]
    shares: tuple[float, ...]
    rows: int
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"ColumnProfile.kind must be 'numeric' or 'categorical', "
                             f"got {self.kind!r}")
        if (isinstance(self.rows, bool) or not isinstance(self.rows, Integral)
                or self.rows < 1):
            raise ValueError(f"ColumnProfile.rows must be a positive integer, got {self.rows!r}")
        object.__setattr__(self, "rows", int(self.rows))
        edges = _float_tuple(self.edges, "edges")
        categories = self.categories
        if isinstance(categories, str) or not isinstance(categories, Sequence):
            raise ValueError(f"ColumnProfile.categories must be a sequence of texts, "
                             f"got {categories!r}")
        categories = tuple(categories)
        if self.kind == "numeric":
            if categories:
                raise ValueError("ColumnProfile.categories must be empty for a numeric column")
            if (len(edges) < 2 or edges[0] != -math.inf or edges[-1] != math.inf
                    or not all(a < b for a, b in zip(edges, edges[1:], strict=False))):
                raise ValueError(f"ColumnProfile.edges must increase strictly from -inf to inf, "
                                 f"got {edges!r}")
            n_bins = len(edges)  # value bins + missing
        else:
            if edges:
                raise ValueError("ColumnProfile.edges must be empty for a categorical column")
            if not all(isinstance(c, str) for c in categories):
                raise ValueError(f"ColumnProfile.categories must be texts, got {categories!r}")
            if len(set(categories)) != len(categories):
                raise ValueError(f"ColumnProfile.categories must be unique, got {categories!r}")
            n_bins = len(categories) + 2  # categories + other + missing
        shares = _float_tuple(self.shares, "shares")
        if len(shares) != n_bins:
            raise ValueError(f"ColumnProfile.shares must have {n_bins} entries for its "
                             f"{self.kind} bins and the missing bin, got {len(shares)}")
        if not all(0 <= s <= 1 for s in shares) or abs(sum(shares) - 1) > _SUM_TOLERANCE:
            raise ValueError(f"ColumnProfile.shares must lie in [0, 1] and sum to 1, "
                             f"got {shares!r}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "shares", shares)

    @property
    def missing_share(self) -> float:
        """Share of reference rows with a missing value."""
        return self.shares[-1]

    def shares_of(self, values: ArrayLike) -> np.ndarray:
        """Count ``values`` into this profile's bins.

        Parameters
        ----------
        values
            One column of a current population (a Series or one-dimensional
            array-like), at least one value. For a numeric
            profile it must hold numbers (any numeric, nullable or boolean dtype,
            or objects that are numbers); for a categorical one anything (values
            are compared by their text).

        Returns
        -------
        numpy.ndarray
            Share of the rows in each bin, aligned with :attr:`shares`.

        Raises
        ------
        ValueError
            When ``values`` is empty, or a numeric profile meets values that are
            not numbers (with their count and an example).
        """
        if not isinstance(values, pd.Series):
            values = pd.Series(values)
        if len(values) == 0:
            raise ValueError("cannot compute bin shares of an empty column")
        if self.kind == "numeric":
            bins = _numeric_bins(_as_numbers(values), np.asarray(self.edges[1:-1]))
        else:
            codes, labels = _text_codes(values)
            position = pd.Index(self.categories, dtype=object).get_indexer(
                pd.Index(labels, dtype=object))
            other = len(self.categories)
            position = np.where(position < 0, other, position)
            bins = np.where(codes >= 0, np.append(position, 0)[codes], other + 1)
        counts = np.bincount(bins, minlength=len(self.shares))
        return counts / len(values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``inf`` written as the texts ``"-inf"`` and ``"inf"``)."""
        out: dict[str, Any] = {"kind": self.kind, "rows": self.rows}
        if self.kind == "numeric":
            out["edges"] = [_encode_float(x) for x in self.edges]
        else:
            out["categories"] = list(self.categories)
        out["shares"] = list(self.shares)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Read :meth:`to_dict` back.

        Raises
        ------
        ValueError
            On missing or unknown keys or invalid values.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a column profile must be a mapping, got {type(data).__name__}")
        kind = data.get("kind")
        allowed = {"kind", "rows", "shares", "edges" if kind == "numeric" else "categories"}
        missing = sorted(allowed - set(data))
        unknown = sorted(str(k) for k in set(data) - allowed)
        if missing or unknown:
            raise ValueError(f"a {kind} column profile has the keys {sorted(allowed)}; "
                             f"missing {missing}, unknown {unknown}")
        if kind == "numeric":
            return cls(kind=kind, rows=data["rows"], shares=tuple(data["shares"]),
                       edges=tuple(_decode_float(x) for x in data["edges"]))
        return cls(kind=kind, rows=data["rows"], shares=tuple(data["shares"]),
                   categories=tuple(data["categories"]))


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _as_numbers(series: pd.Series, name: str | None = None) -> np.ndarray:
    """The values as float64 with NaN for missing; refuses values that are not numbers."""
    dtype = series.dtype
    if dtype == np.float64:
        return series.to_numpy()
    if ((pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
            and not pd.api.types.is_complex_dtype(dtype)
            and not isinstance(dtype, pd.CategoricalDtype)):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    raw = series.astype(object)
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    if bad.any():
        where = f"column {name!r}: " if name is not None else ""
        raise ValueError(f"{where}{int(bad.sum())} of {len(raw)} values are not numbers "
                         f"(e.g. {raw[bad].iloc[0]!r}) where the reference column is numeric")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_bins(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Bin index of each value for the inner edges; missing values go to the last bin."""
    # side="left" counts the edges strictly below the value: a value equal to an
    # edge stays in the bin that the edge closes (bins are closed on the right).
    bins = np.searchsorted(inner, values, side="left")
    bins[np.isnan(values)] = inner.size + 1
    return bins


def _fit_numeric(values: np.ndarray, bins: int) -> ColumnProfile:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return ColumnProfile(kind="numeric", shares=(0.0, 1.0), rows=values.size,
                             edges=(-math.inf, math.inf))
    # inverted_cdf: the smallest value whose cumulative share reaches each level,
    # so edges are values that occur and (.., edge] holds at least that share.
    cuts = np.quantile(known, np.arange(1, bins) / bins, method="inverted_cdf")
    below_min = np.nextafter(known.min(), -np.inf)
    inner = np.unique(np.append(cuts, below_min))
    inner = inner[np.isfinite(inner)]
    counts = np.bincount(_numeric_bins(values, inner), minlength=inner.size + 2)
    return ColumnProfile(kind="numeric", shares=tuple(counts / values.size), rows=values.size,
                         edges=(-math.inf, *inner.tolist(), math.inf))


def _fit_categorical(series: pd.Series, max_categories: int) -> ColumnProfile:
    codes, labels = _text_codes(series)
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    # Most frequent first, ties in text order: independent of the row order.
    order = sorted((i for i in range(len(labels)) if counts[i] > 0),
                   key=lambda i: (-counts[i], labels[i]))
    kept = order[:max_categories]
    n = len(series)
    shares = [counts[i] / n for i in kept]
    shares.append(sum(counts[i] for i in order[max_categories:]) / n)
    shares.append(float(np.sum(codes < 0)) / n)
    return ColumnProfile(kind="categorical", shares=tuple(float(s) for s in shares), rows=n,
                         categories=tuple(labels[i] for i in kept))


def _text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct texts of the values (-1 for missing), and those texts."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int64)
        uniques = series.cat.categories
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        codes = codes.astype(np.int64)
    texts = [str(u) for u in uniques]
    # Distinct values can share a text (1 and "1"): merge them.
    merged, labels = pd.factorize(np.array(texts, dtype=object))
    codes = np.where(codes >= 0, np.append(merged, -1)[codes], -1)
    return codes, [str(t) for t in labels]


def _float_tuple(values: Any, field: str) -> tuple[float, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"ColumnProfile.{field} must be a sequence of numbers, got {values!r}")
    out = []
    for x in values:
        if isinstance(x, bool) or not isinstance(x, Real):
            raise ValueError(f"ColumnProfile.{field} must hold numbers, got {x!r}")
        out.append(float(x))
    return tuple(out)


def _encode_float(x: float) -> float | str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _decode_float(x: Any) -> float:
    if x == "inf":
        return math.inf
    if x == "-inf":
        return -math.inf
    if isinstance(x, bool) or not isinstance(x, Real):
        raise ValueError(f"an edge must be a number, 'inf' or '-inf', got {x!r}")
    return float(x)
