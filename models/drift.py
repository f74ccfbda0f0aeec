"""Population stability index (PSI): has the scored population moved away from the training data?

The PSI compares the shares of two populations over the same bins::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

where ``e_i`` is the share of the reference (expected) population in bin ``i``
and ``a_i`` that of the current (actual) one. It is zero when the shares are
equal and grows with every bin that gains or loses weight; it is symmetric in
the two populations (it is the Jeffreys divergence of the binned shares).

Reading it
----------
The usual rule of thumb comes from credit scoring (Siddiqi, *Credit Risk
Scorecards*, Wiley 2006; examined by Yurdakul and Naranjo, "Statistical
properties of the population stability index", *Journal of Risk Model
Validation*, 2020):

* PSI < 0.1: no significant change;
* 0.1 <= PSI < 0.25: a moderate change, worth a look;
* PSI >= 0.25: a significant change, action needed.

Monitoring set-ups often use a single alarm level of 0.2 instead, the default
threshold of :meth:`DriftReference.compare`. The rule ignores sample size:
two samples of the same population still differ by chance, by about
``(bins - 1) * (1 / n_reference + 1 / n_current)`` on average (PSI scaled by
``1 / (1/n + 1/m)`` is close to a chi-square with ``bins - 1`` degrees of
freedom), so a few hundred rows per side and many bins can cross 0.1 without
any real change.

Bins
----
:class:`DriftReference` learns the bins of each column from the reference
population (the training data), stores its shares (:class:`ColumnProfile`),
and later counts a scored population into the same bins. Missing values (NaN,
None, ``pd.NA``) always form a bin of their own, so a change in the share of
missing values is drift by itself.

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

A share of 0 on one side would make the logarithm infinite, so shares below
``epsilon`` (1e-4 by default) are raised to it first: a bin of the current
data that the reference never filled adds about ``a * ln(a / 1e-4)``.

Everything here is pure: :meth:`DriftReference.fit` and
:meth:`DriftReference.compare` take frames and return new objects;
:meth:`DriftReference.to_dict` is plain JSON data for a model bundle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "DRIFT_COLUMNS",
    "FORMAT",
    "ColumnProfile",
    "DriftReference",
    "psi",
]

#: Version tag written by :meth:`DriftReference.to_dict` and required by
#: :meth:`DriftReference.from_dict`.
FORMAT = "drift-reference/1"

#: Columns of :meth:`DriftReference.compare`, in order.
DRIFT_COLUMNS: tuple[str, ...] = (
    "column", "kind", "psi", "reference_rows", "current_rows",
    "reference_missing_share", "current_missing_share", "drifted",
)

_KINDS = ("numeric", "categorical")
# Shares are counts divided by the row count: their sum is 1 up to rounding.
_SUM_TOLERANCE = 1e-9


# --------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------


def psi(expected: ArrayLike, actual: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index between two vectors of bin shares.

    ``PSI = sum((a - e) * ln(a / e))`` over the bins, after raising every share
    below ``epsilon`` to ``epsilon`` (the shares are not renormalised after
    that). Symmetric in its two arguments; 0 for equal shares. See the module
    docstring for the usual reading (0.1 moderate, 0.2 or 0.25 significant).

    Parameters
    ----------
    expected
        Shares of the reference population, one per bin: non-negative, finite,
        summing to 1 (within 1e-6).
    actual
        Shares of the current population over the same bins, same conditions.
    epsilon
        Floor of the shares, strictly between 0 and 1: keeps ``ln(a / e)``
        finite for a bin that is empty on one side.

    Returns
    -------
    float
        The index, >= 0.

    Raises
    ------
    ValueError
        When a vector is not one-dimensional or empty, the two differ in
        length, a share is negative, missing or infinite, a vector does not sum
        to 1, or ``epsilon`` is not in (0, 1).
    """
    if (isinstance(epsilon, bool) or not isinstance(epsilon, Real)
            or not 0 < float(epsilon) < 1):
        raise ValueError(f"psi: epsilon must be a number strictly between 0 and 1, "
                         f"got {epsilon!r}")
    e = _shares(expected, "expected")
    a = _shares(actual, "actual")
    if e.size != a.size:
        raise ValueError(f"psi: expected has {e.size} bins and actual {a.size}; pass the "
                         f"shares of both populations over the same bins")
    e = np.maximum(e, epsilon)
    a = np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(values: ArrayLike, what: str) -> np.ndarray:
    try:
        shares = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"psi: {what} must be numbers (bin shares): {err}") from None
    if shares.ndim != 1 or shares.size == 0:
        raise ValueError(f"psi: {what} must be a non-empty one-dimensional vector of bin "
                         f"shares, got shape {shares.shape}")
    bad = ~np.isfinite(shares) | (shares < 0)
    if bad.any():
        raise ValueError(f"psi: {what} has {int(bad.sum())} shares that are negative, NaN "
                         f"or infinite (e.g. {float(shares[np.flatnonzero(bad)[0]])!r} in "
                         f"bin {int(np.flatnonzero(bad)[0])})")
    total = float(shares.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"psi: the shares of {what} sum to {total!r}, not 1; divide counts "
                         f"by their total first")
    return shares


# --------------------------------------------------------------------------
# One column
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    """The binned distribution of one column of the reference population.

    Built by :meth:`DriftReference.fit`; the bins are described in the module
    docstring.

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
# A population
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftReference:
    """Binned distribution of each column of a reference population (the training data).

    Small enough to ship inside a model bundle: :meth:`to_dict` is plain JSON
    data. Build it with :meth:`fit`, then :meth:`compare` a scored population
    with it.

    Parameters
    ----------
    columns
        Column name -> its profile, in the order of the reference frame. Stored
        read-only.

    Raises
    ------
    ValueError
        When ``columns`` is empty, or a name is not a text or a value not a
        :class:`ColumnProfile`.
    """

    columns: Mapping[str, ColumnProfile]

    def __post_init__(self) -> None:
        if not isinstance(self.columns, Mapping) or not self.columns:
            raise ValueError("DriftReference.columns must be a non-empty mapping of column "
                             "name -> ColumnProfile")
        for name, profile in self.columns.items():
            if not isinstance(name, str):
                raise ValueError(f"DriftReference.columns: column names must be texts, "
                                 f"got {name!r}")
            if not isinstance(profile, ColumnProfile):
                raise ValueError(f"DriftReference.columns[{name!r}] must be a ColumnProfile, "
                                 f"got {type(profile).__name__}")
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str] | None = None, *,
            bins: int = 10, max_categories: int = 50) -> DriftReference:
        """Learn the bins and shares of each column of a reference population.

        Parameters
        ----------
        frame
            The reference population, at least one row. Not modified.
        columns
            The columns to follow; all columns of ``frame`` by default. Numeric
            dtypes (numpy and nullable ``Int64``/``Float64``) are binned at
            quantiles; ``object``, string, ``category`` and boolean dtypes are
            categorical.
        bins
            Number of quantile bins of a numeric column, at least 2; fewer when
            ties merge edges (plus the bin below the reference minimum and the
            missing bin).
        max_categories
            Most categories of a categorical column that get a bin of their own
            (the most frequent, ties in text order); the others go to "other".

        Returns
        -------
        DriftReference

        Raises
        ------
        ValueError
            When ``frame`` has no rows, a requested column is absent or
            duplicated, a column name is not a text, a column has another dtype
            (e.g. datetime: convert it to a number first), or ``bins`` /
            ``max_categories`` is not an integer >= 2 / >= 1.
        """
        if isinstance(bins, bool) or not isinstance(bins, Integral) or bins < 2:
            raise ValueError(f"DriftReference.fit: bins must be an integer >= 2, got {bins!r}")
        if (isinstance(max_categories, bool) or not isinstance(max_categories, Integral)
                or max_categories < 1):
            raise ValueError(f"DriftReference.fit: max_categories must be an integer >= 1, "
                             f"got {max_categories!r}")
        if len(frame) == 0:
            raise ValueError("DriftReference.fit: the reference frame has no rows")
        names = list(frame.columns) if columns is None else list(columns)
        if not names:
            raise ValueError("DriftReference.fit: no columns to profile")
        _check_columns(frame, names, "DriftReference.fit: the reference frame")
        profiles = {}
        for name in names:
            series = frame[name]
            if _kind(series, name) == "numeric":
                profiles[name] = _fit_numeric(_as_numbers(series, name), int(bins))
            else:
                profiles[name] = _fit_categorical(series, int(max_categories))
        return cls(columns=profiles)

    def compare(self, frame: pd.DataFrame, *, threshold: float = 0.2,
                epsilon: float = 1e-4) -> pd.DataFrame:
        """PSI of every reference column between the reference and ``frame``.

        Parameters
        ----------
        frame
            The current population (e.g. the scored customers), at least one
            row, with every reference column (other columns are ignored). Not
            modified.
        threshold
            A column has drifted when its PSI is above this (strictly); 0.2 by
            default (see the module docstring for the usual levels).
        epsilon
            Floor of the bin shares, as in :func:`psi`.

        Returns
        -------
        pandas.DataFrame
            One row per reference column, columns :data:`DRIFT_COLUMNS`:
            ``column``, ``kind`` (``numeric``/``categorical``), ``psi``
            (float64), ``reference_rows`` and ``current_rows`` (int64),
            ``reference_missing_share`` and ``current_missing_share`` (float64),
            ``drifted`` (bool, ``psi > threshold``). Sorted by ``psi``
            descending, ties in reference column order; index ``0..n-1``.

        Raises
        ------
        ValueError
            When ``frame`` has no rows, lacks reference columns (all of them
            named), has one twice, a numeric column holds values that are not
            numbers, or ``threshold`` is not a finite number >= 0.
        """
        return self.compare_counts(self.counts(frame), threshold=threshold, epsilon=epsilon)

    def counts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Rows of ``frame`` in each bin of each reference column.

        Counts of several parts of a population add up (``np.add``) to the counts
        of the whole, so a population scored in chunks is compared with
        :meth:`compare_counts` without holding it in memory at once.

        Raises
        ------
        ValueError
            As :meth:`compare`.
        """
        if len(frame) == 0:
            raise ValueError("DriftReference.compare: the current frame has no rows")
        _check_columns(frame, list(self.columns), "DriftReference.compare: the current frame")
        out = {}
        for name, profile in self.columns.items():
            try:
                shares = profile.shares_of(frame[name])
            except ValueError as err:
                raise ValueError(f"DriftReference.compare: column {name!r}: {err}") from None
            out[name] = np.rint(shares * len(frame))
        return out

    def compare_counts(self, counts: Mapping[str, np.ndarray], *, threshold: float = 0.2,
                       epsilon: float = 1e-4) -> pd.DataFrame:
        """:meth:`compare` from bin counts (:meth:`counts`, possibly summed over chunks)."""
        if (isinstance(threshold, bool) or not isinstance(threshold, Real)
                or not math.isfinite(threshold) or threshold < 0):
            raise ValueError(f"DriftReference.compare: threshold must be a finite number >= 0, "
                             f"got {threshold!r}")
        missing = [name for name in self.columns if name not in counts]
        if missing:
            raise ValueError(f"DriftReference.compare_counts: no counts for {missing}")
        rows = []
        for name, profile in self.columns.items():
            bins = np.asarray(counts[name], dtype=np.float64)
            total = float(bins.sum())
            if bins.shape != (len(profile.shares),) or total <= 0:
                raise ValueError(f"DriftReference.compare_counts: column {name!r}: expected "
                                 f"{len(profile.shares)} bin counts with a positive total, got "
                                 f"{bins.tolist()}")
            current = bins / total
            rows.append((name, profile.kind, psi(profile.shares, current, epsilon=epsilon),
                         profile.rows, int(total), profile.missing_share, float(current[-1])))
        out = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS[:-1])).astype({
            "psi": "float64", "reference_rows": "int64", "current_rows": "int64",
            "reference_missing_share": "float64", "current_missing_share": "float64",
        })
        out["drifted"] = out["psi"].to_numpy() > threshold
        return out.sort_values("psi", ascending=False, kind="stable", ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``json.dumps(ref.to_dict(), allow_nan=False)`` works and
        :meth:`from_dict` reads it back equal."""
        return {"format": FORMAT,
                "columns": {name: p.to_dict() for name, p in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        """Read :meth:`to_dict` back (e.g. after ``json.loads``).

        Raises
        ------
        ValueError
            When ``data`` is not of :data:`FORMAT`, or a column profile is
            invalid (naming the column).
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"DriftReference.from_dict: expected a mapping with format "
                             f"{FORMAT!r}, got {found!r}")
        columns = data.get("columns")
        if not isinstance(columns, Mapping):
            raise ValueError("DriftReference.from_dict: 'columns' must be a mapping of column "
                             "name -> profile")
        profiles = {}
        for name, raw in columns.items():
            try:
                profiles[name] = ColumnProfile.from_dict(raw)
            except (ValueError, TypeError) as err:
                raise ValueError(f"DriftReference.from_dict: column {name!r}: {err}") from None
        return cls(columns=profiles)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _check_columns(frame: pd.DataFrame, names: list[str], what: str) -> None:
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise ValueError(f"{what} lacks {len(absent)} of the {len(names)} columns: "
                         f"{', '.join(repr(n) for n in absent)}")
    repeated = set(frame.columns[frame.columns.duplicated()])
    twice = sorted({str(n) for n in names if n in repeated or names.count(n) > 1})
    if twice:
        raise ValueError(f"{what}: the columns {twice} appear more than once")
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValueError(f"{what}: column names must be texts (they are JSON keys), "
                         f"got {bad[:5]!r}")


def _kind(series: pd.Series, name: str) -> str:
    dtype = series.dtype
    if (pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    raise ValueError(f"DriftReference.fit: column {name!r} has dtype {dtype}, neither numeric "
                     f"nor categorical; convert it first (e.g. a date to days since an origin)")


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
