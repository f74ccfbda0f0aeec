"""Scoring and the features stage with the Spark engine, against the DuckDB engine.

The trained ``tiny`` project is scored as of the same date by both engines, each
into its own project folder (sharing the clean tables and the registered
model): the rows of both sinks, the summary and the drift table must be the
same. Also: the features stage on Spark, the Parquet sink's folder swap that
Spark's writes use, and the command-line options.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.schema import CUSTOMER_SCORES
from pipeline import cli, score
from pipeline import features as features_stage
from pipeline.paths import Paths
from pipeline.sinks import (
    PARQUET_FILE,
    ParquetSink,
    read_parquet_scores,
    replace_folder,
    replace_partition,
)
from tests.spark_session import spark  # noqa: F401  (the fixture)

#: Doubles of the scored rows and of the drift table: the same model on the same
#: feature values gives the same bits; the tolerance guards the test's meaning only.
RTOL = 1e-12
AS_OF = dt.date(2024, 12, 1)
BUDGET_CONTACTS = 40


def project_copy(trained_project, root: Path) -> Paths:
    """A project folder that shares the trained project's clean tables."""
    source = trained_project[1]
    paths = Paths(root)
    paths.clean.parent.mkdir(parents=True)
    paths.clean.symlink_to(source.clean.resolve(), target_is_directory=True)
    return paths


def duckdb_rows(paths: Paths) -> pd.DataFrame:
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        return con.sql("SELECT * FROM customer_scores").df()


def comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows by customer, without the time of scoring."""
    return rows.drop(columns="scored_at").sort_values("customer_id", ignore_index=True)


@pytest.fixture(scope="module")
def both_engines(trained_project, spark, tmp_path_factory):  # noqa: F811
    params, *_, uri = trained_project
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        for engine in ("duckdb", "spark"):
            paths = project_copy(trained_project, tmp_path_factory.mktemp(f"score-{engine}"))
            # A budget that binds: the contacts are chosen over the whole population,
            # whatever the partitions.
            budget = params.score.budget.model_copy(update={"contacts": BUDGET_CONTACTS})
            engine_params = params.model_copy(update={
                "features": params.features.model_copy(update={"engine": engine}),
                "score": params.score.model_copy(update={"as_of": AS_OF, "budget": budget})})
            runs[engine] = (paths, score.main(engine_params, paths))
    return runs


@pytest.mark.spark
@pytest.mark.slow
def test_spark_scoring_writes_the_rows_of_the_batch_job(both_engines):
    (want_paths, _), (got_paths, _) = both_engines["duckdb"], both_engines["spark"]
    want = comparable(read_parquet_scores(want_paths.scores, AS_OF))
    got = comparable(read_parquet_scores(got_paths.scores, AS_OF))
    assert len(want) > 1000 and want["customer_id"].is_unique
    assert set(want["stage"]) >= {"prospect", "core", "lost"}
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=RTOL)
    pd.testing.assert_frame_equal(comparable(duckdb_rows(got_paths)),
                                  comparable(duckdb_rows(want_paths)),
                                  check_exact=False, rtol=RTOL)
    # The date's folder holds Spark's parts: Parquet files only, readable as a dataset.
    folder = got_paths.scores / f"as_of={AS_OF.isoformat()}"
    names = sorted(p.name for p in folder.iterdir())
    assert names and all(n.startswith("part-") and n.endswith(".parquet") for n in names)
    assert pq.read_schema(folder / names[0]).names == [
        c for c in CUSTOMER_SCORES.names if c != "as_of"]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_scoring_summary_and_drift_are_those_of_the_batch_job(both_engines):
    (_, want), (got_paths, got) = both_engines["duckdb"], both_engines["spark"]
    for key in ("as_of", "customers", "by_stage", "by_risk", "by_action", "published",
                "contacts"):
        assert got[key] == want[key], key
    assert want["contacts"]["contacts"] == BUDGET_CONTACTS < want["contacts"]["candidates"]
    assert got["customers"] > 1000
    assert got["value_at_risk"] == pytest.approx(want["value_at_risk"], abs=0.011)
    assert [(r["stage"], r["action"], r["customers"]) for r in got["stage_x_action"]] == [
        (r["stage"], r["action"], r["customers"]) for r in want["stage_x_action"]]
    folder = got_paths.scores / f"as_of={AS_OF.isoformat()}"
    assert Path(got["outputs"]["parquet"]).parent in (folder, folder.parent)
    assert got["drift"]["drifted"] == want["drift"]["drifted"]
    assert got["drift"]["p_defect_psi"] == pytest.approx(want["drift"]["p_defect_psi"],
                                                         rel=RTOL)
    drift = {engine: pd.read_parquet(paths.drift / f"as_of={AS_OF.isoformat()}"
                                     / "drift.parquet").sort_values("column", ignore_index=True)
             for engine, (paths, _) in both_engines.items()}
    assert len(drift["duckdb"]) > 50 and (drift["duckdb"]["current_rows"] > 0).all()
    pd.testing.assert_frame_equal(drift["spark"], drift["duckdb"], check_exact=False,
                                  rtol=RTOL)


@pytest.mark.spark
@pytest.mark.slow
def test_features_stage_on_spark_writes_the_table_of_the_duckdb_engine(trained_project, spark,  # noqa: F811
                                                                       tmp_path):
    params, want_paths, *_ = trained_project
    paths = project_copy(trained_project, tmp_path / "project")
    spark_params = params.model_copy(update={
        "features": params.features.model_copy(update={"engine": "spark"})})
    report = features_stage.main(spark_params, paths)
    want = pq.read_table(want_paths.features)
    got = pq.read_table(paths.features)
    keys = [("customer_id", "ascending"), ("cutoff", "ascending")]
    assert got.schema == want.schema
    assert got.sort_by(keys).equals(want.sort_by(keys))
    assert report["rows"] == want.num_rows
    assert sorted(p.name for p in paths.features.iterdir()) == report["parts"]


# --------------------------------------------------------------------------
# Without Spark: the folder swap of the Parquet sink, the command-line options
# --------------------------------------------------------------------------


def scored_rows(ids: list[str], as_of: dt.date, stage: str = "core") -> pd.DataFrame:
    n = len(ids)
    rows = {c.name: pd.Series([None] * n, dtype=object) for c in CUSTOMER_SCORES.columns}
    rows.update({"customer_id": ids, "as_of": [as_of] * n, "stage": [stage] * n,
                 "p_defect": np.linspace(0.1, 0.9, n), "scored_at": [dt.datetime(2025, 1, 1)] * n,
                 "model_name": ["m"] * n})
    return pd.DataFrame(rows)[list(CUSTOMER_SCORES.names)]


def spark_like_folder(folder: Path, parts: list[list[str]], as_of: dt.date) -> Path:
    """A folder as Spark writes it: several parts without ``as_of``, a marker file."""
    folder.mkdir()
    for i, ids in enumerate(parts):
        table = pa.Table.from_pandas(scored_rows(ids, as_of).drop(columns="as_of"),
                                     schema=pa.schema([f for f in CUSTOMER_SCORES.arrow_schema()
                                                       if f.name != "as_of"]),
                                     preserve_index=False)
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    (folder / "_SUCCESS").touch()
    return folder


def test_a_spark_partition_replaces_a_date_and_keeps_the_others(tmp_path):
    sink = ParquetSink(tmp_path / "scores")
    day, other = dt.date(2024, 12, 1), dt.date(2024, 11, 1)
    sink.write(scored_rows(["a", "b", "c"], day), day)
    sink.write(scored_rows(["z"], other), other)
    folder = spark_like_folder(tmp_path / "spark", [["a", "b"], ["d"]], day)
    where = replace_partition(sink, day, folder)
    assert where == str(sink.partition(day))
    assert sorted(p.name for p in sink.partition(day).iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"]
    assert sorted(read_parquet_scores(sink.root, day)["customer_id"]) == ["a", "b", "d"]
    assert read_parquet_scores(sink.root, other)["customer_id"].tolist() == ["z"]
    # The source folder is left as it was (the database sinks read it next).
    assert sorted(p.name for p in folder.iterdir()) == [
        "_SUCCESS", "part-00000.parquet", "part-00001.parquet"]
    # No staging folder is left beside the dataset.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores", "spark"]


def test_the_batch_sink_replaces_a_partition_written_by_spark_whole(tmp_path):
    sink = ParquetSink(tmp_path / "scores")
    day = dt.date(2024, 12, 1)
    replace_partition(sink, day, spark_like_folder(tmp_path / "spark", [["a"], ["b"]], day))
    sink.write(scored_rows(["b", "c"], day), day)
    assert [p.name for p in sink.partition(day).iterdir()] == [PARQUET_FILE]
    assert sorted(read_parquet_scores(sink.root, day)["customer_id"]) == ["b", "c"]


def test_replace_folder_moves_a_new_folder_in_and_the_old_one_out(tmp_path):
    dest, new = tmp_path / "dest", tmp_path / "new"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_folder(new, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert not new.exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "x.txt").write_text("x")
    replace_folder(fresh, tmp_path / "missing" / "dest")
    assert (tmp_path / "missing" / "dest" / "x.txt").read_text() == "x"
    shutil.rmtree(tmp_path / "missing")


@pytest.mark.parametrize("command", ["features", "score"])
def test_engine_and_memory_limit_options_become_overrides(command, monkeypatch):
    seen = {}

    def fake_run_stage(stage, params_path=None, overrides=None, **kwargs):
        seen["overrides"] = overrides

    monkeypatch.setattr(cli, "run_stage", fake_run_stage)
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, [command, "--engine", "spark", "--memory-limit", "3GB",
                                          "-S", "features.workers=1"])
    assert result.exit_code == 0, result.output
    assert seen["overrides"] == ["features.workers=1", "features.engine=spark",
                                 "features.memory_limit=3GB"]


def test_a_memory_limit_that_is_no_size_is_refused(tmp_path):
    from pipeline.config import load_params
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="features.memory_limit must be a size"):
        load_params(overrides={"features.memory_limit": "lots"})
    with pytest.raises(ConfigError, match="features.engine"):
        load_params(overrides={"features.engine": "polars"})
