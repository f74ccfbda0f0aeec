"""The sinks by name, built from plain values: the one factory of sinks.

:func:`open_sinks` takes the names of the sinks and the values each needs
(paths, a URL, table and schema names, the DuckDB lock timeout); the scoring
job turns ``params.yaml`` into those values (``pipeline.score.open_sinks``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.sinks.base import DEFAULT_TABLE, Sink
from pipeline.sinks.duckdb_sink import DuckDBSink
from pipeline.sinks.parquet import ParquetSink
from pipeline.sinks.postgres import PostgresSink

#: Sinks written when the caller names none.
DEFAULT_SINKS: tuple[str, ...] = ("parquet", "duckdb")
#: Every sink :func:`open_sinks` knows.
SINK_NAMES: tuple[str, ...] = ("parquet", "duckdb", "postgres")


def open_sinks(
    names: Sequence[str] = DEFAULT_SINKS,
    *,
    parquet_root: str | os.PathLike[str] | None = None,
    duckdb_path: str | os.PathLike[str] | None = None,
    postgres_url: str | None = None,
    table: str = DEFAULT_TABLE,
    postgres_schema: str = "public",
    postgres_table: str | None = None,
    lock_timeout: float = 60.0,
) -> list[Sink]:
    """Build the named sinks from plain values, checking each has what it needs.

    Parameters
    ----------
    names : sequence of str
        Among ``SINK_NAMES`` (``parquet``, ``duckdb``, ``postgres``), each at most once.
    parquet_root, duckdb_path : path, optional
        Dataset folder of the Parquet sink, database file of the DuckDB sink.
    postgres_url : str, optional
        SQLAlchemy URL of the PostgreSQL sink (the caller reads it from wherever
        secrets live; it is only shown through :func:`pipeline.secrets.mask_url`).
    table : str
        Table name of the database sinks.
    postgres_schema : str
        Schema of the PostgreSQL table.
    postgres_table : str, optional
        Table name of the PostgreSQL sink, when it is not ``table``.
    lock_timeout : float
        Seconds a DuckDB write waits for a file another process holds open
        (``score.sinks.lock_timeout_seconds`` in params).

    Returns
    -------
    list of Sink
        In the order of ``names``. Nothing is opened or written yet.
    """
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in SINK_NAMES]
    if unknown:
        raise ValueError(f"unknown sinks {unknown}: choose among {list(SINK_NAMES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"sinks {repeated} are named more than once")
    builders: Mapping[str, tuple[str, Any, Callable[[Any], Sink]]] = {
        "parquet": ("parquet_root", parquet_root, lambda root: ParquetSink(Path(root))),
        "duckdb": ("duckdb_path", duckdb_path,
                   lambda path: DuckDBSink(Path(path), table=table, lock_timeout=lock_timeout)),
        "postgres": ("postgres_url", postgres_url,
                     lambda url: PostgresSink(str(url), table=postgres_table or table,
                                              schema=postgres_schema)),
    }
    sinks: list[Sink] = []
    for n in names:
        argument, value, build = builders[n]
        if value is None or value == "":
            raise ValueError(f"sink {n!r} needs {argument}")
        sinks.append(build(value))
    return sinks
