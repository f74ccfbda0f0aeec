"""Params into the sinks of the scoring job."""

from __future__ import annotations

from pipeline.params import Params
from pipeline.paths import Paths
from pipeline.sinks import Sink, open_sinks


def sinks(params: Params, paths: Paths) -> list[Sink]:
    """The sinks params ask for, in the order Parquet, DuckDB, PostgreSQL."""
    s = params.score.sinks
    url = s.postgres.resolved_url
    names = [name for name, on in (("parquet", s.parquet), ("duckdb", s.duckdb),
                                   ("postgres", bool(url))) if on]
    return open_sinks(names, parquet_root=paths.scores, duckdb_path=paths.scores_db,
                      postgres_url=url, postgres_schema=s.postgres.db_schema,
                      postgres_table=s.postgres.table, lock_timeout=s.lock_timeout_seconds)
