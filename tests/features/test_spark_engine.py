"""The Spark engine against the DuckDB engine: same rows, values and dtypes.

On the clean tables of the ``tiny`` demo and of a generated data set of 200,000
events (``bench/features.py``'s generator), both engines build the feature
table at the same cutoffs; the tables are compared row by row after sorting by
(customer_id, cutoff).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from features.build import rfm_values
from features.engines import duckdb as duck
from features.rfm_scores import rfm_edges
from features.spec import FeatureSpec, feature_table
from pipeline import generate, validate
from pipeline.config import load_params
from pipeline.paths import Paths
from tests.spark_session import spark  # noqa: F401  (the fixture)

pytestmark = pytest.mark.spark

BENCH = Path(__file__).resolve().parents[2] / "bench" / "features.py"
#: Relative tolerance on doubles. The kernel sees the same rows in the same order
#: with both engines and sums amounts in exact integers, so the values agree to
#: the last bit; the tolerance only keeps the test meaningful should an engine
#: ever sum in another order.
RTOL = 1e-12


def bench_features():
    """bench/features.py (its generator), loaded the way bench/score.py loads it."""
    if "bench_features" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_features", BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_features"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_features"]


@pytest.fixture(scope="module")
def tiny_clean(tmp_path_factory) -> dict[str, Path]:
    paths = Paths(tmp_path_factory.mktemp("tiny"))
    params = load_params(overrides={
        "generate.size": "tiny",
        **{f"data.{t}": str(paths.demo_input(t))
           for t in ("transactions", "interactions", "customers")}})
    generate.main(params, paths)
    validate.main(params, paths)
    return paths.clean_inputs()


@pytest.fixture(scope="module")
def medium_clean(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("medium") / "clean"
    return bench_features().generate(out, events=200_000, customers=20_000)


TINY_CUTOFFS = [dt.date(2022, 12, 1), dt.date(2023, 6, 1), dt.date(2024, 1, 1),
                dt.date(2024, 7, 1), dt.date(2025, 1, 1)]
MEDIUM_CUTOFFS = [dt.date(2024, 3, 1), dt.date(2024, 9, 1), dt.date(2025, 1, 1)]


def duckdb_features(clean, cutoffs, spec, out: Path) -> pa.Table:
    out.mkdir()
    con = duck.connect()
    duck.build_features(con, clean=clean, cutoffs=cutoffs, spec=spec, out_dir=out,
                        partitions_per_chunk=64, workers=2)
    return pq.read_table(out)


def spark_features(spark, clean, cutoffs, spec, out: Path, per_group: int):  # noqa: F811
    from features.engines import spark as engine

    summary = engine.build_features(spark, clean=clean, cutoffs=cutoffs, spec=spec,
                                    out_dir=out, buckets_per_group=per_group)
    return pq.read_table(out), summary


def by_key(table: pa.Table) -> pa.Table:
    return table.sort_by([("customer_id", "ascending"), ("cutoff", "ascending")])


def assert_same_features(got: pa.Table, want: pa.Table, spec: FeatureSpec) -> None:
    """Same schema (names, order, Arrow types), same keys, same values: integers,
    strings and dates exactly, doubles to RTOL, nulls in the same places."""
    assert got.schema.names == want.schema.names == feature_table(spec).names
    assert got.schema.types == want.schema.types == feature_table(spec).arrow_schema().types
    assert got.num_rows == want.num_rows > 0
    got, want = by_key(got), by_key(want)
    for name in want.column_names:
        a, b = got.column(name), want.column(name)
        assert a.null_count == b.null_count, name
        assert pc.all(pc.equal(a.is_null(), b.is_null())).as_py(), name
        if pa.types.is_floating(b.type):
            np.testing.assert_allclose(a.to_numpy(zero_copy_only=False),
                                       b.to_numpy(zero_copy_only=False),
                                       rtol=RTOL, atol=0, equal_nan=True, err_msg=name)
        else:
            assert a.equals(b), name


def test_spark_engine_gives_the_duckdb_features_on_the_tiny_demo(spark, tiny_clean, tmp_path):  # noqa: F811
    spec = FeatureSpec()
    want = duckdb_features(tiny_clean, TINY_CUTOFFS, spec, tmp_path / "duckdb")
    got, summary = spark_features(spark, tiny_clean, TINY_CUTOFFS, spec, tmp_path / "spark",
                                  per_group=128)
    assert_same_features(got, want, spec)
    # Scores are quintiles: all five are used at the last cutoff.
    last = want.filter(pc.equal(want.column("cutoff"), pa.scalar(TINY_CUTOFFS[-1])))
    assert set(pc.unique(last.column("rfm_monetary_score")).drop_null().to_pylist()) == {
        1, 2, 3, 4, 5}
    assert summary.rows == want.num_rows
    assert summary.customers == last.num_rows
    # The folder looks like the DuckDB engine's: part-NNNNN.parquet files only.
    assert sorted(p.name for p in (tmp_path / "spark").iterdir()) == summary.parts
    assert all(name.startswith("part-") and name.endswith(".parquet")
               for name in summary.parts)


@pytest.mark.parametrize("per_group", [8, 1024])
def test_spark_engine_gives_the_duckdb_features_on_generated_data(spark, medium_clean,  # noqa: F811
                                                                  tmp_path, per_group):
    spec = FeatureSpec(windows_days=(30, 90, 365), trend_days=60)
    want = duckdb_features(medium_clean, MEDIUM_CUTOFFS, spec, tmp_path / "duckdb")
    got, _ = spark_features(spark, medium_clean, MEDIUM_CUTOFFS, spec, tmp_path / "spark",
                            per_group=per_group)
    assert want.num_rows > 50_000
    assert_same_features(got, want, spec)


def test_spark_rfm_edges_are_those_of_the_whole_population(spark, medium_clean):  # noqa: F811
    from features.engines import spark as engine

    stacked = engine.read_clean(spark, medium_clean, buckets_per_group=16)
    got = engine.rfm_edges_spark(stacked, MEDIUM_CUTOFFS)
    tables = {name: pq.read_table(medium_clean[name], columns=list(duck.KERNEL_COLUMNS[name]))
              for name in ("transactions", "customer_index")}
    want = rfm_edges(rfm_values(tables["transactions"], tables["customer_index"],
                                MEDIUM_CUTOFFS))
    assert len(got) == len(MEDIUM_CUTOFFS) * 3
    pd.testing.assert_frame_equal(got[want.columns.tolist()].reset_index(drop=True),
                                  want.sort_values(["cutoff", "source"], ignore_index=True),
                                  check_dtype=False, rtol=RTOL)


def test_a_group_of_rows_splits_back_into_the_kernel_tables_in_file_order():
    from features.engines.spark import TABLE_TAG, split_tables

    ts = pa.array([dt.datetime(2024, 1, 2, 10), dt.datetime(2024, 1, 1, 9),
                   dt.datetime(2024, 1, 1, 9), None, None], pa.timestamp("us", tz="UTC"))
    stacked = pa.table({
        TABLE_TAG: pa.array([0, 0, 0, 3, 3], pa.int8()),
        "customer_key": pa.array([5, 5, 5, 5, 4], pa.int64()),
        "timestamp": ts,
        "amount": pa.array([1.0, 2.0, 3.0, None, None]),
        "is_refund": pa.array([False, False, True, None, None]),
        "source_file": pa.array(["a", "a", "a", None, None]),
        "source_line": pa.array([1, 9, 3, None, None], pa.int64()),
        "customer_id": pa.array([None, None, None, "x", "w"], pa.large_string()),
        **{c: pa.nulls(5, t) for c, t in [
            ("kind", pa.string()), ("satisfaction", pa.float64()), ("resolved", pa.bool_()),
            ("resolution_hours", pa.float64()), ("signup_date", pa.timestamp("us")),
            ("segment", pa.string()), ("relationship_type", pa.string())]},
    })
    tables = split_tables(stacked)
    tx = tables["transactions"]
    assert tx.column_names == list(duck.KERNEL_COLUMNS["transactions"])
    # Same timestamp: ordered by source line, as in the clean file.
    assert tx.column("amount").to_pylist() == [3.0, 2.0, 1.0]
    assert tx.schema.field("timestamp").type == pa.timestamp("us")
    assert tx.column("timestamp")[0].as_py() == dt.datetime(2024, 1, 1, 9)
    index = tables["customer_index"]
    assert index.column("customer_key").to_pylist() == [4, 5]
    assert index.schema.field("customer_id").type == pa.string()
    assert tables["interactions"].num_rows == tables["customers"].num_rows == 0
