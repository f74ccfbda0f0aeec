"""Data-quality warts: deterministic flaws injected into the contract text tables.

:data:`WART_RATES` gives, per table, the share of rows of each wart (at least one
row each): exact duplicate rows, nulls in optional columns, unparseable timestamps
and amounts, empty customer ids. :func:`_inject_warts` applies each wart to its own
rows (disjoint, so every wart is countable) with a generator seeded apart from the
story's, so the warts never change the simulated events.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Data-quality warts: share of rows (at least one row each), by table.
WART_RATES: dict[str, dict[str, float]] = {
    "transactions": {"duplicate_rows": 1e-4, "null_channel": 1e-4, "null_category": 1e-4,
                     "bad_timestamp": 2e-5, "bad_amount": 2e-5, "empty_customer_id": 2e-5},
    "interactions": {"duplicate_rows": 1e-4, "null_channel": 1e-4, "bad_timestamp": 2e-5,
                     "empty_customer_id": 2e-5},
    "customers": {"duplicate_rows": 1e-4, "null_segment": 1e-4},
}
_BAD_TIMESTAMPS = ("2023-13-45 10:00:00", "not a date", "2022-02-30 08:15:00")
_BAD_AMOUNTS = ("abc", "12.3.4")
_WART_STREAM = 0x57A27  # second seed word of the wart generator, distinct from the story


def _inject_warts(table: pa.Table, rates: dict[str, float], rng: np.random.Generator
                  ) -> tuple[pa.Table, dict[str, int]]:
    """Apply each wart to its own rows (disjoint), then insert the duplicate rows."""
    n = table.num_rows
    wanted = {w: (max(1, round(r * n)) if r > 0 else 0) for w, r in rates.items()}
    total = sum(wanted.values())
    if total > n:
        raise ValueError(f"{total} wart rows requested for a table of {n} rows")
    picked = rng.choice(n, size=total, replace=False)
    counts: dict[str, int] = {}
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    duplicate = np.zeros(0, np.int64)
    start = 0
    for wart, count in wanted.items():
        rows = np.sort(picked[start:start + count])
        start += count
        counts[wart] = int(count)
        if wart == "duplicate_rows":
            duplicate = rows
            continue
        if wart.startswith("null_"):
            column, value = wart.removeprefix("null_"), None
        elif wart == "empty_customer_id":
            column, value = "customer_id", None
        elif wart == "bad_timestamp":
            column, value = "timestamp", _BAD_TIMESTAMPS
        elif wart == "bad_amount":
            column, value = "amount", _BAD_AMOUNTS
        else:
            raise ValueError(f"unknown wart {wart!r}")
        mask = np.zeros(n, bool)
        mask[rows] = True
        values = np.full(n, None, dtype=object)
        if value is not None:
            values[rows] = [value[i % len(value)] for i in range(count)]
        columns[column] = pc.if_else(pa.array(mask), pa.array(values, pa.string()),
                                     columns[column])
    take = np.repeat(np.arange(n), np.where(np.isin(np.arange(n), duplicate), 2, 1))
    out = pa.table(columns).take(pa.array(take))
    counts["rows"] = out.num_rows
    return out, counts
