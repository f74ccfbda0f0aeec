"""Fixtures of the pipeline tests: sink targets (the trained tiny project and the
PostgreSQL server are in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.pipeline.sink_targets import Target, duckdb_target, parquet_target, postgres_target


@pytest.fixture(params=["parquet", "duckdb", "postgres"])
def target(request, tmp_path) -> Target:
    if request.param == "postgres":
        return postgres_target(request.getfixturevalue("postgres_url"))
    return parquet_target(tmp_path) if request.param == "parquet" else duckdb_target(tmp_path)


@pytest.fixture(params=["duckdb", "postgres"])
def database(request, tmp_path) -> Target:
    if request.param == "postgres":
        return postgres_target(request.getfixturevalue("postgres_url"))
    return duckdb_target(tmp_path)
