"""Fixtures of the pipeline tests: a PostgreSQL server (the trained tiny project is
in ``tests/conftest.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.pipeline.postgres_server import ServerUnavailable, running_postgres
from tests.pipeline.sink_targets import Target, duckdb_target, parquet_target, postgres_target


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="the PostgreSQL sink needs the 'postgres' extra: "
                        "pip install -e '.[dev,postgres]'")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_postgres())
        except ServerUnavailable as err:
            pytest.skip(f"no PostgreSQL server for the sink tests: {err}")
        yield url


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
