"""Stable splits of customers by a hash of their ids: the same side on every run and
machine (the calibration part, the validation customers of a plan)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


def stable_share(
    customer_ids: Iterable[Any],
    fraction: float,
    salt: str,
) -> np.ndarray:
    """Whether each customer falls in a share of all customers, by a stable hash.

    A customer is in the share when the MD5 digest of the UTF-8
    text ``salt + customer_id``, its first 8 bytes read as a big-endian
    integer ``u``, satisfies ``u / 2**64 < fraction``. The answer depends only
    on the id, the salt and the fraction: every row of a customer falls on the
    same side, on every run and machine, and raising ``fraction`` only moves
    customers into the share. The salt keeps the split independent
    of the hash partitions (``bucket``), which hash the bare id.

    Parameters
    ----------
    customer_ids : iterable of str
        One id per row (repeats allowed); non-string ids are hashed as ``str(id)``.
    fraction : float
        Expected share of customers, in [0, 1].
    salt : str
        Prefix of the hashed text; another salt gives an independent split.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for rows of customers in the share.

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1] or an id is missing.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    ids = pd.Series(list(customer_ids) if not isinstance(customer_ids, pd.Series)
                    else customer_ids, dtype=object)
    missing = ids.isna().to_numpy()
    if missing.any():
        raise ValueError(f"customer_ids has {int(missing.sum())} missing value(s), first at "
                         f"position {int(np.flatnonzero(missing)[0])}")
    codes, uniques = pd.factorize(ids)
    u = np.fromiter(
        (int.from_bytes(hashlib.md5((salt + str(v)).encode("utf-8"),
                                    usedforsecurity=False).digest()[:8], "big")
         for v in uniques),
        dtype=np.uint64, count=len(uniques),
    )
    # In float64, u / 2**64 can round up to exactly 1.0: fraction == 1 must still take all.
    chosen = (u.astype(np.float64) / 2.0**64 < fraction) | (fraction == 1.0)
    return chosen[codes]
