"""Faults of the scoring job, each one line with its exit code: a model whose files are
missing or damaged (5), a date beyond the data (3), a damaged intermediate (4), a sink
that cannot be written (8, no store showing the new date)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import mlflow
import pytest
from typer.testing import CliRunner

from features.errors import InputError
from pipeline import cli, errors, features, model_files, score
from pipeline.paths import Paths
from pipeline.sinks import ParquetSink, PublishError

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(trained_project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_project[4])
    monkeypatch.setattr(score, "PATHS", trained_project[1])
    return trained_project


@pytest.fixture
def copy(trained_project, tmp_path, monkeypatch):
    """A copy of the trained project (its outputs and its MLflow store) to damage."""
    root = tmp_path / "project"
    shutil.copytree(trained_project[1].root, root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setattr(score, "PATHS", Paths(root))
    return trained_project[0], Paths(root)


def invoke(*args: str):
    result = CliRunner().invoke(cli.app, ["score", *args])
    result.text = " ".join(result.output.split())  # log lines wrap on a narrow terminal
    return result


@pytest.fixture
def artefact(project):
    """The folder of the champion's files in the artifact store; restored after the test."""
    params = project[0]
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(params.train.registered_model, "champion")
    location = mlflow.get_logged_model(version.source.removeprefix("models:/")).artifact_location
    folder = Path(urlparse(location).path if location.startswith("file:") else location)
    backup = folder.with_name(folder.name + ".backup")
    shutil.copytree(folder, backup)
    try:
        yield folder, version
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        backup.rename(folder)


def test_registration_records_the_checksum_of_every_file(artefact):
    folder, version = artefact
    recorded = json.loads(version.tags[model_files.CHECKSUM_TAG])
    assert {"MLmodel", "python_model.pkl", "artifacts/scorer/scorer.json",
            "artifacts/scorer/models/transition.txt"} <= set(recorded)
    assert recorded == model_files.checksums(folder)


def test_a_truncated_booster_is_named_before_lightgbm_reads_it(artefact):
    folder, version = artefact
    booster = folder / "artifacts" / "scorer" / "models" / "transition.txt"
    booster.write_bytes(booster.read_bytes()[: booster.stat().st_size // 3])
    result = invoke()
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert (f"model unavailable: the model models:/lifecycle-churn@champion (version "
            f"{version.version} of lifecycle-churn): the model's files are not those "
            f"registered: changed since registration (truncated or overwritten) "
            f"artifacts/scorer/models/transition.txt.") in result.text


def test_a_pickled_class_that_is_not_what_was_written_is_named(artefact):
    folder, _ = artefact
    (folder / "python_model.pkl").write_bytes(b"not what was written")
    (folder / "artifacts" / "scorer" / "scorer.json").unlink()
    result = invoke()
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert ("registered: missing artifacts/scorer/scorer.json; changed since registration "
            "(truncated or overwritten) python_model.pkl.") in result.text


def test_a_deleted_model_artefact(artefact):
    folder, _ = artefact
    shutil.rmtree(folder)
    result = invoke()
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert "files registered is in the artifact store (the model's artifacts were deleted or " \
           "moved)" in result.text


def test_a_model_without_checksums_is_still_checked_for_cut_boosters(project, tmp_path):
    """A model that is no registered version: a booster cut short would abort the process
    in LightGBM's parser (SIGABRT), so it runs in a child process here."""
    folder = tmp_path / "model"
    source = mlflow.artifacts.download_artifacts(
        f"models:/{project[0].train.registered_model}@champion", dst_path=str(tmp_path / "dl"))
    shutil.copytree(source, folder)
    booster = folder / "artifacts" / "scorer" / "models" / "transition.txt"
    booster.write_bytes(booster.read_bytes()[: booster.stat().st_size // 3])
    paths = project[1]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("churn")), "score", "--params",
         str(REPO / "params.yaml"), "-S", "generate.size=tiny", "--model-uri", str(folder)],
        cwd=paths.root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CHURN_PROJECT_DIR": str(paths.root),
             "COLUMNS": "300"})
    text = " ".join(done.stderr.split())
    assert done.returncode == errors.EXIT_MODEL, done.stderr[-3000:]
    assert "LightGBM model files cut short (no 'end of trees' line): " \
           "artifacts/scorer/models/transition.txt" in text


def test_a_date_beyond_the_data_is_refused_unless_forced(copy):
    params, paths = copy
    before = sorted(paths.root.rglob("*"))
    result = invoke("--as-of", "2099-01-01")
    assert result.exit_code == errors.EXIT_CONFIG, result.output
    assert "configuration error: score.as_of 2099-01-01 is" in result.text
    assert "more than the horizon (labels.horizon_days: 90)" in result.text
    assert sorted(paths.root.rglob("*")) == before  # refused before any work
    latest = score.main(params, paths)["as_of"]
    forced = params.model_copy(update={"score": params.score.model_copy(update={
        "as_of": dt.date(2099, 1, 1), "force_as_of": True})})
    summary = score.main(forced, paths)
    assert summary["beyond_data"] is True and summary["outputs"]
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        shown = con.sql("SELECT DISTINCT CAST(as_of AS VARCHAR) FROM latest_scores").fetchall()
        dates = con.sql("SELECT DISTINCT CAST(as_of AS VARCHAR) FROM customer_scores "
                        "ORDER BY 1").fetchall()
    assert shown == [(latest,)]
    assert dates[-1] == ("2099-01-01",)


def test_a_truncated_clean_table_stops_features_naming_it(copy):
    params, paths = copy
    table = paths.clean_table("transactions")
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    before = sorted(p.name for p in paths.features.iterdir())
    with pytest.raises(InputError, match=rf"^{table} is not a whole Parquet file .*the output "
                                         r"of `validate` is damaged"):
        features.main(params, paths)
    assert sorted(p.name for p in paths.features.iterdir()) == before
    kinds = [code for classes, _, code in errors.EXPECTED if issubclass(InputError, classes)]
    assert kinds[0] == errors.EXIT_INPUT


def test_a_sink_down_leaves_no_store_showing_the_new_date(copy, monkeypatch):
    params, paths = copy
    monkeypatch.setenv("CHURN_POSTGRES_URL", "postgresql+psycopg://u:pw@127.0.0.1:1/scores")
    day = dt.date(2024, 11, 1)
    with pytest.raises(PublishError, match=r"(?s)^postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/"
                                           r"scores .*nothing published: no store of "
                                           r"parquet, duckdb, postgres shows the new date"):
        score.main(params.model_copy(update={"score": params.score.model_copy(update={
            "as_of": day})}), paths)
    assert not ParquetSink(paths.scores).partition(day).exists()
    if paths.scores_db.exists():
        with duckdb.connect(str(paths.scores_db), read_only=True) as con:
            held = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                               "table_name = 'customer_scores'").fetchone()[0] and con.execute(
                "SELECT count(*) FROM customer_scores WHERE as_of = ?", [day]).fetchone()[0]
        assert not held
    report = json.loads(paths.score_report.read_text())
    assert report["as_of"] == day.isoformat() and report["published"] is False
    assert report["outputs"] == {} and list(report["not_written"]) == ["postgres"]
    assert not list(paths.root.glob(".score-*")) and not list(paths.root.glob("data/.scores*"))
