"""The features stage on validated data: chunking, transactions only, leakage end to end."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.engines.duckdb import build_features, connect
from pipeline import engine, generate, validate
from pipeline import features as features_stage
from pipeline.config import load_params
from pipeline.paths import Paths


def _tiny_params(**overrides):
    return load_params(overrides={"generate.size": "tiny", **overrides})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny demo, generated and validated under a temporary project folder."""
    root = tmp_path_factory.mktemp("tiny")
    paths = Paths(root)
    params = _tiny_params(**{f"data.{t}": str(paths.demo_input(t))
                             for t in ("transactions", "interactions", "customers")})
    generate.main(params, paths)
    validate.main(params, paths)
    return params, paths


def _read(folder) -> pd.DataFrame:
    df = pq.read_table(folder).to_pandas()
    return df.sort_values(["cutoff", "customer_id"]).reset_index(drop=True)


def test_stage_writes_features_and_report(tiny):
    params, paths = tiny
    report = features_stage.main(params, paths)
    df = _read(paths.features)
    assert len(df) == report["rows"] > 0
    assert df["customer_id"].nunique() == report["customers"]
    assert sorted(df["cutoff"].astype(str).unique()) == report["cutoffs"]
    assert paths.features_report.exists()


def test_chunking_and_workers_do_not_change_any_value(tiny, tmp_path):
    params, paths = tiny
    clean = paths.clean_inputs()
    spec = features_stage.feature_spec(params)
    cutoffs = [dt.date(2023, 6, 1), dt.date(2024, 1, 1), dt.date(2024, 12, 1)]
    outs = []
    for per_chunk, workers in ((1024, 1), (64, 1), (7, 2), (64, 3)):
        out = tmp_path / f"chunks{per_chunk}-{workers}"
        out.mkdir()
        build_features(connect(), clean=clean, cutoffs=cutoffs, spec=spec, out_dir=out,
                       partitions_per_chunk=per_chunk, workers=workers)
        outs.append(_read(out))
    for other in outs[1:]:
        pd.testing.assert_frame_equal(outs[0], other)


@pytest.mark.parametrize("events_per_chunk, workers, expected_chunks", [
    (10**9, 2, 1),   # everything fits in one chunk
    (None, 1, 5),    # a fifth of the events per chunk: 5 chunks
    (None, 2, 6),    # 5 chunks needed, 6 so that both workers have as many
    (None, 3, 6),
])
def test_chunks_hold_about_events_per_chunk_and_keep_every_worker_busy(
        tiny, events_per_chunk, workers, expected_chunks):
    from features.engines.duckdb import chunks

    _, paths = tiny
    clean = paths.clean_inputs()
    con = duckdb.connect()
    events = sum(con.execute("SELECT count(*) FROM read_parquet(?)",
                             [str(clean[t])]).fetchall()[0][0]
                 for t in ("transactions", "interactions"))
    per_chunk = engine.partitions_per_chunk(
        con, clean, events_per_chunk or -(-events // 5), workers)
    assert len(chunks(per_chunk)) == expected_chunks


def test_events_after_the_cutoffs_change_nothing_end_to_end(tiny, tmp_path):
    """Cut the validated data at the last cutoff: features at earlier cutoffs are identical."""
    params, paths = tiny
    cutoffs = [dt.date(2023, 3, 1), dt.date(2023, 9, 1)]
    spec = features_stage.feature_spec(params)
    full_out, cut_out = tmp_path / "full", tmp_path / "cut"
    full_out.mkdir()
    cut_out.mkdir()
    build_features(connect(), clean=paths.clean_inputs(), cutoffs=cutoffs,
                   spec=spec, out_dir=full_out)
    cut = Paths(tmp_path / "cutproject")
    cut.clean.mkdir(parents=True)
    con = duckdb.connect()
    for name, path in paths.clean_inputs().items():
        time_col = {"transactions": "timestamp", "interactions": "timestamp",
                    "customers": "signup_date"}.get(name)
        where = f"WHERE {time_col} IS NULL OR {time_col} < DATE '2023-09-01'" if time_col else ""
        con.execute(f"COPY (SELECT * FROM read_parquet(?) {where}) TO '{cut.clean / path.name}' "
                    "(FORMAT parquet)", [str(path)])
    build_features(connect(), clean=cut.clean_inputs(), cutoffs=cutoffs,
                   spec=spec, out_dir=cut_out)
    full, short = _read(full_out), _read(cut_out)
    # RFM scores compare customers with each other at each cutoff, and are equal too.
    pd.testing.assert_frame_equal(full, short)


def test_transactions_only_run(tmp_path):
    paths = Paths(tmp_path)
    raw = tmp_path / "orders.csv"
    raw.write_text(
        "customer_id,timestamp,amount\n"
        "007,2023-01-05 10:00:00,20.00\n"
        "007,2023-03-01 11:00:00,35.50\n"
        "007,2023-03-02 09:00:00,-5.00\n"
        "abc,2023-02-10 08:30:00,12.00\n"
        "abc,2024-01-10 08:30:00,18.00\n",
        encoding="utf-8")
    params = load_params(overrides={"data.transactions": str(raw), "data.interactions": None,
                                    "data.customers": None,
                                    "features.first_snapshot": "2023-02-01"})
    validate.main(params, paths)
    report = features_stage.main(params, paths)
    df = _read(paths.features)
    assert report["cutoffs"][-1] == "2024-01-11"
    assert set(df["customer_id"]) == {"007", "abc"}
    last = df[df["cutoff"] == dt.date(2024, 1, 11)].set_index("customer_id")
    assert last.loc["007", "frequency"] == 2 and last.loc["007", "refund_count"] == 1
    assert last.loc["abc", "recency_days"] == 1
    kind_cols = [c for c in df.columns if c.startswith(("complaint_", "survey_"))]
    assert kind_cols and df[kind_cols].fillna(0).eq(0).all().all()
    assert df["segment"].isna().all()
