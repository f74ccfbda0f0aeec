"""Fixtures shared by every test package: a trained pipeline on the tiny demo, a
PostgreSQL server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import settings

from pipeline import evaluate, features, generate, labels, train, validate
from pipeline.config import load_params
from pipeline.paths import Paths
from tests.pipeline.postgres_server import ServerUnavailable, running_postgres

# The long run of the property tests (`make fuzz`): --hypothesis-profile=fuzz.
settings.register_profile("fuzz", max_examples=3000, deadline=None, print_blob=True)


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory):
    """generate -> evaluate on the tiny size in a temporary project with its own MLflow
    store; returns ``(params, paths, train summary, test metrics, tracking URI)``.

    The registry holds version 1 as champion and challenger; tests must not move
    the aliases (score tests that need another model load it from a folder)."""
    root = tmp_path_factory.mktemp("project")
    paths = Paths(root)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    params = load_params(overrides={
        "generate.size": "tiny",
        **{f"data.{t}": str(paths.demo_input(t))
           for t in ("transactions", "interactions", "customers")}})
    try:
        for stage in (generate, validate, features, labels):
            stage.main(params, paths)
        summary = train.main(params, paths)
        metrics = evaluate.main(params, paths)
    finally:
        mp.undo()  # tests point MLflow at the store themselves (monkeypatch)
    return params, paths, summary, metrics, uri


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="the PostgreSQL sink needs the 'postgres' extra: "
                        "pip install -e '.[dev,postgres]'")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_postgres())
        except ServerUnavailable as err:
            pytest.skip(f"no PostgreSQL server for these tests: {err}")
        yield url
