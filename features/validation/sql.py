"""Small SQL helpers shared by the validation modules, and the bucket of a customer.

Identifiers are quoted (:func:`_q`), values are bound as parameters
(:class:`_Params`), and every statement is run by :func:`_run`, which leaves no
result open. :func:`bucket_of` is the reference definition of the ``bucket``
column; :func:`_bucket_sql` is the same partition in DuckDB SQL.
"""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb

from features.schema import N_PARTITIONS


def _q(name: str) -> str:
    """Quote an SQL identifier (double quotes, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


class _Params:
    """Named parameters of one statement; calling it binds a value and returns ``$pN``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        key = f"p{len(self.values)}"
        self.values[key] = value
        return f"${key}"


def _run(con: duckdb.DuckDBPyConnection, sql: str,
         params: _Params | None = None) -> list[tuple[Any, ...]]:
    """Execute one statement and fetch all its rows (leaving no result open)."""
    values = params.values if params is not None and params.values else None
    result = con.execute(sql, values) if values is not None else con.execute(sql)
    return result.fetchall()


def _one(name: str, value: Any) -> _Params:
    p = _Params()
    p.values[name] = value
    return p


def bucket_of(customer_id: str) -> int:
    """Hash partition of a customer id, as stored in the ``bucket`` column.

    The partition is ``md5_number(customer_id) % N_PARTITIONS`` in DuckDB: the
    MD5 digest of the UTF-8 bytes of the id as stored (trimmed, in Unicode NFC)
    read as a little-endian 128-bit integer, modulo
    :data:`~features.schema.N_PARTITIONS`. This Python
    version is the reference for other engines and for tests.

    Parameters
    ----------
    customer_id
        The customer id as stored in the clean tables.

    Returns
    -------
    int
        A partition number in ``[0, N_PARTITIONS)``.
    """
    digest = hashlib.md5(customer_id.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest, "little") % N_PARTITIONS


def _bucket_sql(id_sql: str, md5_sql: str) -> str:
    """SQL for ``md5_number(id) % N_PARTITIONS``, given SQL for the id and for ``md5(id)``."""
    # Stable across runs, machines and engines (see bucket_of); engines read
    # the stored column rather than recomputing it. md5_number reads the
    # digest as a little-endian integer, so when N_PARTITIONS divides 2**16
    # the partition depends on the first two bytes only: taken from the hex
    # digest, which is several times faster than md5_number in DuckDB.
    if 65536 % N_PARTITIONS == 0:
        low16 = f"CAST('0x' || substr({md5_sql}, 3, 2) || substr({md5_sql}, 1, 2) AS INTEGER)"
        return f"CAST({low16} % {N_PARTITIONS} AS INTEGER)"
    return f"CAST(md5_number({id_sql}) % {N_PARTITIONS} AS INTEGER)"
