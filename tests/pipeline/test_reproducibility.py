"""Reproducibility: the same data, params and model give byte-identical scored files."""

from __future__ import annotations

import copy

import pytest

from pipeline import score, scoring
from pipeline.errors import ConfigError

pytestmark = pytest.mark.slow


def test_scoring_twice_writes_byte_identical_parquet(trained_project, monkeypatch, tmp_path):
    params, paths, *_, uri = trained_project
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735732800")  # 2025-01-01 12:00 UTC
    files = []
    for run in ("a", "b"):
        out = copy.copy(paths)  # the same clean data, its own outputs
        out.scores, out.scores_db = tmp_path / run / "scores", tmp_path / run / "scores.duckdb"
        out.drift, out.score_report = tmp_path / run / "drift", tmp_path / run / "score.json"
        summary = score.main(params, out)
        assert summary["scored_at"] == "2025-01-01T12:00:00"
        files += [out.scores / f"as_of={summary['as_of']}" / "part-0.parquet"]
    assert files[0].read_bytes() == files[1].read_bytes()


def test_a_malformed_source_date_epoch_is_a_config_error(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH must be whole seconds"):
        scoring.scoring_time()
