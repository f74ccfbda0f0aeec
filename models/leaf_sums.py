"""Per-row sums of per-leaf vectors over the trees of an ensemble, compiled (numba).

The path attribution of :func:`models.contributions.contributions` gives every leaf of
every tree a vector (the contribution of each reason group on the path to that leaf); a
row's attribution is the sum, over the trees, of the vector of the leaf it falls in.
:func:`leaf_sums` adds them row by row, tree after tree, in the same order as a loop
over the trees in numpy would (``out += tables[t][leaves[:, t]]``), so the sums are
the same to the last bit, without a temporary of the whole output per tree.

Compiled code is cached beside the module (``__pycache__``, or ``NUMBA_CACHE_DIR``);
a machine without a cache compiles it at the first call (about a second).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

__all__ = ["leaf_sums", "stack_tables"]


def stack_tables(tables: Sequence[np.ndarray]) -> np.ndarray:
    """The trees' ``leaves x width`` tables in one ``trees x most leaves x width``
    array (rows past a tree's own leaves are zeros and never read)."""
    if not tables:
        return np.zeros((0, 1, 0))
    width = tables[0].shape[1]
    out = np.zeros((len(tables), max(t.shape[0] for t in tables), width))
    for i, table in enumerate(tables):
        out[i, :table.shape[0]] = table
    return out


@numba.njit(cache=True, nogil=True, boundscheck=True)
def _sums(leaves, tables, out):  # pragma: no cover - compiled; tested through leaf_sums
    n, trees = leaves.shape
    width = tables.shape[2]
    for r in range(n):
        for t in range(trees):
            leaf = leaves[r, t]
            for w in range(width):
                out[r, w] += tables[t, leaf, w]


def leaf_sums(leaves: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Sum over the trees of each row's leaf vector.

    Parameters
    ----------
    leaves
        Shape ``(rows, trees)``, integers: the leaf index of each row in each tree
        (LightGBM's ``pred_leaf``, int32).
    tables
        Shape ``(trees, most leaves, width)``, from :func:`stack_tables`.

    Returns
    -------
    numpy.ndarray
        Shape ``(rows, width)``, float64.

    Raises
    ------
    ValueError
        If the shapes disagree or a leaf index is outside its tree's table.
    """
    leaves = np.asarray(leaves)
    if not np.issubdtype(leaves.dtype, np.integer):
        raise ValueError(f"leaf_sums: leaf indices must be integers, got {leaves.dtype}")
    # int32 (LightGBM's pred_leaf) or int64 as given: a copy only if not contiguous.
    leaves = np.ascontiguousarray(leaves)
    tables = np.ascontiguousarray(tables, dtype=np.float64)
    if leaves.ndim != 2 or tables.ndim != 3 or leaves.shape[1] != tables.shape[0]:
        raise ValueError(f"leaf_sums: leaves of shape {leaves.shape} do not match tables of "
                         f"shape {tables.shape} (rows x trees, trees x leaves x width)")
    if leaves.size and (leaves.min() < 0 or leaves.max() >= tables.shape[1]):
        raise ValueError(f"leaf_sums: leaf indices run from {leaves.min()} to {leaves.max()}, "
                         f"outside the tables' {tables.shape[1]} leaves")
    out = np.zeros((leaves.shape[0], tables.shape[2]))
    if leaves.size and tables.shape[2]:
        _sums(leaves, tables, out)
    return out
