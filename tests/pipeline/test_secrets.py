"""Database passwords never reach messages, MLflow params and tags, or logged artifacts.

Where a password may come from: ``score.sinks.postgres.url`` (refused with a
password in it: params.yaml and dvc.lock are versioned), ``score.model_uri``
(refused likewise), the environment (``CHURN_POSTGRES_URL``, which only the
PostgreSQL sink reads and shows through ``mask_url``), and any text in the
sections logged to MLflow (masked by ``pipeline.tracking.redact``). What a secret
looks like is decided in one place, ``pipeline.secrets``. Scoring into
a real PostgreSQL server without the password in ``reports/score.json`` or the
logs is tested in ``test_score.py``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import tracking
from pipeline.cli import app
from pipeline.config import load_params
from pipeline.errors import EXIT_CONFIG, ConfigError
from pipeline.secrets import is_secret_key, mask_secrets, mask_url, may_show_value

PASSWORD = "hunter2-Secret"
URL = f"postgresql+psycopg://churn:{PASSWORD}@db.example:5432/crm"
MASKED = "postgresql+psycopg://churn:***@db.example:5432/crm"


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql+psycopg://user:pw@127.0.0.1:5432/db",
     "postgresql+psycopg://user:***@127.0.0.1:5432/db"),
    ("postgresql://user:p%40ss:w/rd@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user@host/db?sslmode=require&password=pw",
     "postgresql://user@host/db?sslmode=require&password=***"),
    ("postgresql://host/db", "postgresql://host/db"),
    ("/data/scores.duckdb", "/data/scores.duckdb"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mask_secrets_masks_every_password_in_a_text():
    text = (f"cannot connect to {URL} (jdbc:{URL}); retry with host=h password={PASSWORD} "
            f"or https://ci:{PASSWORD}@registry.example/m?password={PASSWORD}#top")

    assert mask_secrets(text) == (
        f"cannot connect to {MASKED} (jdbc:{MASKED}); retry with host=h password=*** "
        f"or https://ci:***@registry.example/m?password=***#top")


@pytest.mark.parametrize(("key", "secret"), [
    ("x.db_password", True), ("x.PASSWD", True), ("x.client_secret", True),
    ("x.api_token", True), ("x.credentials_file", True),
    ("spark.hadoop.fs.s3a.access.key", True), ("x.private_key", True),
    ("spark.hadoop.fs.azure.account.key.store.dfs.core.windows.net", True),
    ("spark.jdbc.url", False), ("train.experiment", False), ("score.model_uri", False),
])
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(("key", "shown"), [
    ("score.sinks.postgres.url", False), ("features.spark.conf.spark.jdbc.URL", False),
    ("x.api_token", False), ("spark.hadoop.fs.s3a.access.key", False),
    ("score.model_uri", True), ("features.spark.conf.spark.executor.memory", True),
])
def test_may_show_value(key, shown):
    assert may_show_value(key) is shown


@pytest.mark.parametrize(("key", "shown"), [
    ("spark.jdbc.url", False), ("spark.hadoop.fs.s3a.access.key", False),
    ("spark.x.mytoken", False), ("spark.executor.cores", True),
])
def test_a_validation_message_quotes_no_value_of_a_secret_or_url_key(key, shown):
    with pytest.raises(ConfigError) as raised:
        load_params(overrides={"features.spark.conf": {key: 12345}})

    (message,) = str(raised.value).splitlines()
    assert message.startswith(f"--set features.spark.conf.{key}: Input should be a valid string")
    assert ("12345" in message) is shown


def test_a_password_in_the_params_url_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as raised:
        load_params(overrides={"score.sinks.postgres.url": URL})

    assert str(raised.value) == (
        f"--set score.sinks.postgres.url: holds a password ({MASKED}); params.yaml and dvc.lock "
        f"are versioned: put the URL with its password in the environment variable "
        f"CHURN_POSTGRES_URL instead, or leave the password out of the URL and give it to "
        f"PostgreSQL through PGPASSWORD or ~/.pgpass")
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize("args", [["-S", f"score.sinks.postgres.url={URL}"],
                                  ["--model-uri", f"https://ci:{PASSWORD}@registry.example/m"]],
                         ids=["postgres-url", "model-uri"])
def test_the_cli_exits_3_without_showing_the_password(args):
    result = CliRunner().invoke(app, ["score", *args])

    assert result.exit_code == EXIT_CONFIG, result.output
    assert "holds a password" in result.output and ":***@" in result.output
    assert PASSWORD not in result.output


def test_the_environment_url_is_used_and_no_url_is_in_the_params_repr(monkeypatch):
    monkeypatch.setenv("CHURN_POSTGRES_URL", URL)
    params = load_params(overrides={
        "score.sinks.postgres.url": "postgresql+psycopg://churn@db.example:5432/crm"})

    assert params.score.sinks.postgres.resolved_url == URL
    assert "db.example" not in repr(params)


@pytest.mark.parametrize(("key", "value", "logged"), [
    ("features.spark.conf.spark.jdbc.url", f"jdbc:{URL}", f"jdbc:{MASKED}"),
    ("x.dsn", f"host=h user=u password={PASSWORD}", "host=h user=u password=***"),
    ("x.options", f"?sslmode=require&password={PASSWORD}", "?sslmode=require&password=***"),
    ("x.spark.hadoop.fs.s3a.secret.key", PASSWORD, "***"),
    ("x.db_password", PASSWORD, "***"),
    ("x.api_token", PASSWORD, "***"),
    ("x.tracking", "http://mlflow.example:5000", "http://mlflow.example:5000"),
    ("x.model", "models:/lifecycle-churn@champion", "models:/lifecycle-churn@champion"),
    ("x.long", "a" * 600, "a" * 500),
], ids=["url-in-text", "libpq-keywords", "query-password", "secret-key", "password-key",
        "token-key", "url-without-password", "model-alias", "truncated"])
def test_redact(key, value, logged):
    assert tracking.redact({key: value}) == {key: logged}


def test_training_params_never_carry_a_password():
    params = load_params()
    # Any text in a logged section is masked, e.g. an experiment named after a URL.
    params = params.model_copy(update={"train": params.train.model_copy(
        update={"experiment": URL})})

    logged = tracking.training_params(params)

    assert logged["train.experiment"] == MASKED
    assert {key.split(".")[0] for key in logged} == {"train", "labels", "stages", "features"}
    assert not [v for v in logged.values() if PASSWORD in v]


class _FakeMlflow:
    """What log_scoring hands to MLflow, recorded instead of sent."""

    def __init__(self) -> None:
        self.logged: dict[str, dict[str, str]] = {}

    def set_tracking_uri(self, uri: str) -> None:
        self.logged["tracking_uri"] = {"uri": uri}

    def set_experiment(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(experiment_id="0")

    @contextlib.contextmanager
    def start_run(self, **kwargs):
        yield SimpleNamespace(info=SimpleNamespace(run_id="run-1"))

    def set_tags(self, tags):
        self.logged["tags"] = dict(tags)

    def log_params(self, params):
        self.logged["params"] = dict(params)

    def log_metrics(self, metrics):
        self.logged["metrics"] = {k: str(v) for k, v in metrics.items()}

    def log_artifacts(self, folder, artifact_path=None):
        self.logged["artifacts"] = {p.name: p.read_text() for p in Path(folder).iterdir()}


def test_the_scoring_run_logs_no_password(monkeypatch):
    fake = _FakeMlflow()
    monkeypatch.setattr(tracking, "mlflow", fake)
    summary = {
        "as_of": "2024-06-01",
        "model": {"uri": f"https://ci:{PASSWORD}@registry.example/models/churn",
                  "version": "3", "run_id": "abc"},
        "customers": 2, "value_at_risk": 10.0, "by_stage": {"core": 2},
        "by_action": {"protect": 2},
        "drift": {"threshold": 0.2, "drifted": [], "max_psi": None, "p_defect_psi": None},
        "outputs": {"postgres": f"{MASKED} (table public.customer_scores)"},
    }

    assert tracking.log_scoring(load_params(), summary, pd.DataFrame()) == "run-1"

    assert fake.logged["params"]["model_uri"] == (
        "https://ci:***@registry.example/models/churn")
    assert fake.logged["tags"]["model_uri"] == "https://ci:***@registry.example/models/churn"
    artifact = json.loads(fake.logged["artifacts"]["score_summary.json"])
    assert artifact["model"]["uri"] == "https://ci:***@registry.example/models/churn"
    assert PASSWORD not in json.dumps(fake.logged)
