"""Reason codes: why the defection model rates a customer at risk, in words.

:func:`top_reasons` ranks, for every row, the reason groups by their summed
contributions (:mod:`models.contributions`) and writes the largest positive
ones as sentences with the customer's own values ("no purchase for 143 days,
4.8 times its usual gap"), with the templates of :mod:`models.reason_templates`.

Data contract: the result is on the index of the contributions, with the
columns ``reason_1`` ... ``reason_k`` (sentences, largest contribution first)
then ``reason_1_key`` ... ``reason_k_key`` (reason keys), of pandas' string
dtype; a missing reason is NA, never an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from models.contributions import _group_matrix, reason_groups
from models.reason_render import _Rows
from models.reason_templates import _template

__all__ = [
    "top_reasons",
]


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
    (:func:`~models.contributions.group_contributions`), largest first; ties
    go to the group that comes first in ``groups``. The first ``k`` groups
    whose sum is strictly positive become the reasons. A row with fewer than ``k`` such groups has
    missing values (NA) in the remaining reason and key columns; a row whose
    contributions are all zero or negative has none.

    Parameters
    ----------
    contrib
        Output of :func:`~models.contributions.contributions`; the bias column
        is ignored.
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
        :data:`~models.contributions.REASON_GROUPS` and interaction kinds have
        templates; any other key is written as the key itself, underscores as
        spaces.
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

    keys = list(groups)
    width = min(k, len(keys))
    # A stable sort of the negated sums keeps equal sums in group order.
    order = np.argsort(-sums, axis=1, kind="stable")[:, :width]
    chosen = np.take_along_axis(sums, order, axis=1) > 0

    # Reason j of row i is said[codes[j, i]], of the key keys[key_codes[j, i]] (-1: none).
    key_codes = np.full((k, len(contrib)), -1, dtype=np.intp)
    key_codes[:width] = np.where(chosen, order, -1).T
    codes = np.full((k, len(contrib)), -1, dtype=np.intp)
    said: list[str] = []
    # Each template writes all its rows at once, whatever their slot: the reasons
    # sorted by key (a stable sort of small integers is a counting sort).
    rows, slots = np.nonzero(chosen)
    group = order[rows, slots]
    by = np.argsort(group.astype(np.min_scalar_type(len(keys))), kind="stable")
    rows, slots = rows[by], slots[by]
    counts = np.bincount(group, minlength=len(keys))
    starts = np.cumsum(counts) - counts
    columns = frozenset(features.columns)
    for g in np.flatnonzero(counts).tolist():
        at = slice(starts[g], starts[g] + counts[g])
        template = _template(keys[g], groups[keys[g]], columns, satisfaction_scale)
        written = template(_Rows(features, rows[at]))
        codes[slots[at], rows[at]] = len(said) + written.codes
        said += written.texts

    texts, names = pa.array(said, type=pa.large_string()), pa.array(keys, type=pa.large_string())
    out = {f"reason_{j + 1}": _strings(texts, codes[j], contrib.index) for j in range(k)}
    out |= {f"reason_{j + 1}_key": _strings(names, key_codes[j], contrib.index)
            for j in range(k)}
    return pd.DataFrame(out, index=contrib.index)


def _strings(texts: pa.Array, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``texts[codes]`` in pandas' string dtype, NA where the code is -1."""
    taken = texts.take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(taken, dtype="str"), index=index)
