"""The drift reference: has the scored population moved away from the training data?

:class:`DriftReference` holds the binned distribution of each column of a
reference population (the training data), one
:class:`~models.column_profile.ColumnProfile` a column (the bins are described
in :mod:`models.column_profile`), and compares a current population with it
column by column: the population stability index of the shares of each column
(:func:`models.psi.psi`, which says how to read it), and whether it is above a
threshold (0.2 by default).

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
from typing import Any

import numpy as np
import pandas as pd

from models.column_profile import ColumnProfile, _as_numbers, _fit_categorical, _fit_numeric
from models.psi import psi

__all__ = [
    "DRIFT_COLUMNS",
    "FORMAT",
    "DriftReference",
]

#: Version tag written by :meth:`DriftReference.to_dict` and required by
#: :meth:`DriftReference.from_dict`.
FORMAT = "drift-reference/1"

#: Columns of :meth:`DriftReference.compare`, in order.
DRIFT_COLUMNS: tuple[str, ...] = (
    "column", "kind", "psi", "reference_rows", "current_rows",
    "reference_missing_share", "current_missing_share", "drifted",
)


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
        :class:`~models.column_profile.ColumnProfile`.
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
            Floor of the bin shares, as in :func:`~models.psi.psi`.

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

