"""Sinks of the scored customer table: Parquet, DuckDB and PostgreSQL.

The PostgreSQL tests start a private server (tests/pipeline/postgres_server.py)
and are skipped, with the reason, when the server binaries or the ``postgres``
extra are missing.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.schema import CUSTOMER_SCORES
from pipeline.sinks import (
    PARQUET_PARTITIONING,
    DuckDBSink,
    ParquetSink,
    PostgresSink,
    SinkError,
    duckdb_sink,
    open_sinks,
    parquet,
    postgres,
    read_parquet_scores,
    validate_scores,
)
from tests.pipeline.postgres_server import PASSWORD
from tests.pipeline.sink_targets import (
    ROWS_A,
    ROWS_A_AGAIN,
    ROWS_B,
    SCORED_AT,
    A,
    B,
    duckdb_target,
    expected_rows,
    make_scores,
    parquet_target,
)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _with(column: str, values: list[Any]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.assign(**{column: values})


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.drop(columns=["p_defect"]), r"missing columns \['p_defect'\]\. The frame"),
    (lambda df: df.assign(extra=1), r"^customer_scores for as_of 2024-01-31: unexpected "
                                    r"columns \['extra'\]"),
    (lambda df: df.rename(columns={"stage": "Stage"}),
     r"missing columns \['stage'\]; unexpected columns \['Stage'\]"),
    (lambda df: pd.concat([df, df[["stage"]]], axis=1), r"columns \['stage'\] appear more than"),
    (_with("as_of", [A, B, A, A]),
     r"1 rows have another as_of \(e\.g\. 2024-02-29 for customer_id 'C2'\)"),
    (_with("as_of", [A, None, A, A]),
     r"1 rows have another as_of \(e\.g\. None for customer_id 'C2'\)"),
    (_with("customer_id", ["C1", "C2", "C1", "C1"]),
     r"1 customer_id values are on more than one row \(e\.g\. 'C1' x3\)"),
    (_with("customer_id", ["C1", None, "C3", "C4"]), r"1 rows have no customer_id"),
    (_with("customer_id", [1, 2, 3, 4]),
     r"column 'customer_id' \(pandas dtype int64\) cannot be cast to its declared type string"),
    (_with("p_defect", ["0.1", "high", None, None]),
     r"column 'p_defect' \(pandas dtype \w+\) cannot be cast to its declared type double"),
    (_with("scored_at", pd.to_datetime(["2024-02-01 06:30:00.000000001"] * 4)),
     r"column 'scored_at' .* timestamp\[us\]: .*would lose data"),
])
def test_bad_frames_are_rejected_with_a_precise_message(change, message):
    bad = change(make_scores(A, ROWS_A))
    with pytest.raises(ValueError, match=message):
        validate_scores(bad, A)


def test_validation_casts_to_the_declared_types_without_touching_the_input():
    frame = make_scores(A, ROWS_A)
    frame["as_of"] = pd.to_datetime(frame["as_of"])  # datetime64 at midnight
    frame["predicted_value"] = frame["predicted_value"].astype("int64")
    frame["scored_at"] = pd.Series([SCORED_AT] * 4).dt.tz_localize("UTC").dt.tz_convert(
        "Europe/Paris")  # aware: stored as naive UTC
    before = frame.copy()
    table = validate_scores(frame, A)
    assert table.schema == CUSTOMER_SCORES.arrow_schema()
    assert table.column("as_of").to_pylist() == [A] * 4
    assert table.column("scored_at").to_pylist() == [SCORED_AT] * 4
    assert table.column("predicted_value").to_pylist() == [100.0, 50.0, 10.0, 5.0]
    assert table.column("reason_2").to_pylist() == [""] * 4  # empty string is not null
    assert table.column("reason_3").null_count == 4
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("as_of", [dt.datetime(2024, 1, 31), pd.Timestamp("2024-01-31"),
                                   "2024-01-31"])
def test_as_of_must_be_a_date(as_of):
    with pytest.raises(TypeError, match="as_of must be a datetime.date"):
        validate_scores(make_scores(A, ROWS_A), as_of)


# --------------------------------------------------------------------------
# Every sink: replace one date, keep the others.
# --------------------------------------------------------------------------

def test_rewriting_a_date_replaces_its_rows_and_keeps_the_others(target):
    first_a, b, second_a = (make_scores(A, ROWS_A), make_scores(B, ROWS_B),
                            make_scores(A, ROWS_A_AGAIN))
    assert isinstance(target.sink.write(first_a, A), str)
    target.sink.write(b, B)
    assert target.rows() == expected_rows((first_a, A), (b, B))

    target.sink.write(second_a, A)
    assert target.rows() == expected_rows((second_a, A), (b, B))
    assert target.query(f"SELECT as_of, count(*), count(DISTINCT customer_id) "
                        f"FROM {target.table} GROUP BY as_of ORDER BY as_of") == [
        (A, 3, 3), (B, 2, 2)]

    target.sink.write(second_a, A)  # the same again: idempotent
    assert target.rows() == expected_rows((second_a, A), (b, B))


def test_a_bad_frame_writes_nothing(target):
    good = make_scores(A, ROWS_A)
    target.sink.write(good, A)
    with pytest.raises(ValueError, match=r"missing columns \['action'\]"):
        target.sink.write(make_scores(A, ROWS_A_AGAIN).drop(columns=["action"]), A)
    with pytest.raises(ValueError, match="1 rows have another as_of"):
        target.sink.write(make_scores(B, ROWS_B).assign(as_of=[B, A]), B)
    assert target.rows() == expected_rows((good, A))


def test_a_failure_in_the_middle_of_a_write_keeps_the_previous_rows(target, monkeypatch):
    good = make_scores(A, ROWS_A)
    target.sink.write(good, A)
    target.sink.write(make_scores(B, ROWS_B), B)
    before = target.rows()

    def fail_after(real: Callable[..., Any]) -> Callable[..., Any]:
        def write_then_fail(*args: Any, **kwargs: Any) -> None:
            if isinstance(target.sink, ParquetSink):  # a truncated file, then the crash
                table, path = args[0], args[1]
                real(table.slice(0, 1), path, **kwargs)
            else:  # every new row inserted, not committed
                real(*args, **kwargs)
            raise OSError("disk full in the middle of the write")
        return write_then_fail

    if isinstance(target.sink, ParquetSink):
        monkeypatch.setattr(parquet.pq, "write_table", fail_after(pq.write_table))
    elif isinstance(target.sink, DuckDBSink):
        monkeypatch.setattr(duckdb_sink, "_load_duckdb", fail_after(duckdb_sink._load_duckdb))
    else:
        monkeypatch.setattr(postgres, "_copy_postgres", fail_after(postgres._copy_postgres))
    with pytest.raises((OSError, SinkError), match="disk full"):  # the Parquet sink names it
        target.sink.write(make_scores(A, ROWS_A_AGAIN), A)
    assert target.rows() == before
    if isinstance(target.sink, ParquetSink):
        assert sorted(p.name for p in target.sink.partition(A).iterdir()) == ["part-0.parquet"]


CRASH_SCRIPT = """
import os, sys
from pipeline.sinks import duckdb_sink, parquet
from tests.pipeline.test_sinks import A, ROWS_A_AGAIN, make_scores

kind, where = sys.argv[1], sys.argv[2]
if kind == "parquet":
    real = parquet.pq.write_table
    def write_then_die(table, path, **kwargs):
        real(table.slice(0, 1), path, **kwargs)
        os._exit(3)
    parquet.pq.write_table = write_then_die
    sink = parquet.ParquetSink(where)
else:
    real = duckdb_sink._load_duckdb
    def load_then_die(*args):
        real(*args)
        os._exit(3)
    duckdb_sink._load_duckdb = load_then_die
    sink = duckdb_sink.DuckDBSink(where)
sink.write(make_scores(A, ROWS_A_AGAIN), A)
"""


@pytest.mark.parametrize("make_target", [parquet_target, duckdb_target],
                         ids=["parquet", "duckdb"])
def test_a_process_killed_mid_write_leaves_the_previous_rows(make_target, tmp_path):
    target = make_target(tmp_path)
    good = make_scores(A, ROWS_A)
    target.sink.write(good, A)
    where = str(getattr(target.sink, "root", None) or target.sink.path)
    killed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, target.sink.name, where],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == 3, killed.stderr
    assert target.rows() == expected_rows((good, A))
    if isinstance(target.sink, ParquetSink):  # the half-written temporary is invisible ...
        temporary, final = sorted(p.name for p in target.sink.partition(A).iterdir())
        assert final == "part-0.parquet"
        assert temporary.startswith(".part-0.parquet.") and temporary.endswith(".tmp")
        assert read_parquet_scores(target.sink.root)["customer_id"].tolist() == [
            "C1", "C2", "C3", "C4"]
    # ... and the next write completes (and tidies up).
    again = make_scores(A, ROWS_A_AGAIN)
    target.sink.write(again, A)
    assert target.rows() == expected_rows((again, A))
    if isinstance(target.sink, ParquetSink):
        assert [p.name for p in target.sink.partition(A).iterdir()] == ["part-0.parquet"]


# --------------------------------------------------------------------------
# Parquet: layout and what readers see.
# --------------------------------------------------------------------------

def test_parquet_layout_and_the_as_of_type_of_every_reader(tmp_path):
    root = tmp_path / "scores"
    sink = ParquetSink(root)
    where = sink.write(make_scores(A, ROWS_A), A)
    sink.write(make_scores(B, ROWS_B), B)
    assert where == str(root / "as_of=2024-01-31" / "part-0.parquet")
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "as_of=2024-01-31", "as_of=2024-01-31/part-0.parquet",
        "as_of=2024-02-29", "as_of=2024-02-29/part-0.parquet"]

    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{root}/*/*.parquet', "
                           f"hive_partitioning = true)").fetchall()
    assert {name: kind for name, kind, *_ in described} == {
        c.name: c.duckdb_type for c in CUSTOMER_SCORES.columns}

    ours = read_parquet_scores(root)
    assert list(ours.columns) == CUSTOMER_SCORES.names
    assert ours["as_of"].tolist() == [A] * 4 + [B] * 2
    assert read_parquet_scores(root, as_of=B)["customer_id"].tolist() == ["C1", "C5"]

    # Plain pandas cannot know the partition's type (documented); with the partitioning, dates.
    plain = pd.read_parquet(root)
    assert isinstance(plain["as_of"].dtype, pd.CategoricalDtype)
    assert sorted(plain["as_of"].astype(str).unique()) == ["2024-01-31", "2024-02-29"]
    typed = pd.read_parquet(root, partitioning=PARQUET_PARTITIONING)
    assert sorted(set(typed["as_of"])) == [A, B]


# --------------------------------------------------------------------------
# Databases: views, locks, table shape, identifiers.
# --------------------------------------------------------------------------

def test_views_latest_scores_and_action_summary(database):
    database.sink.write(make_scores(A, ROWS_A), A)
    database.sink.write(make_scores(B, ROWS_B), B)
    assert database.query("SELECT customer_id, as_of FROM latest_scores "
                          "ORDER BY customer_id") == [("C1", B), ("C5", B)]
    summary = database.query("SELECT as_of, stage, action, customers, total_value_at_risk, "
                             "mean_p_defect FROM action_summary ORDER BY as_of, stage, action")
    assert summary == [
        (A, "active", "protect", 2, pytest.approx(40.0), pytest.approx(0.3)),  # 20 + 20; mean
        (A, "lapsing", "re_engineer", 1, pytest.approx(6.0), pytest.approx(0.6)),
        (A, "prospect", "start", 1, None, None),  # prospects: no p_defect, no value at risk
        (B, "active", "protect", 1, pytest.approx(22.5), pytest.approx(0.25)),
        (B, "new", "start", 1, pytest.approx(15.0), pytest.approx(0.5)),
    ]
    database.sink.write(make_scores(A, ROWS_A_AGAIN), A)  # an older date: latest stays B
    assert database.query("SELECT count(*) FROM latest_scores") == [(2,)]
    assert database.query("SELECT sum(customers) FROM action_summary WHERE as_of = "
                          "DATE '2024-01-31'")[0][0] == 3


def test_a_table_of_another_shape_is_refused(database):
    database.sink.write(make_scores(A, ROWS_A), A)
    # Someone changed the table by hand: drop a column, add another.
    statements = ["ALTER TABLE customer_scores ADD COLUMN legacy_score DOUBLE PRECISION",
                  "DROP VIEW latest_scores", "ALTER TABLE customer_scores DROP COLUMN reason_3"]
    if isinstance(database.sink, DuckDBSink):
        with duckdb.connect(str(database.sink.path)) as con:
            for statement in statements:
                con.execute(statement.replace("DOUBLE PRECISION", "DOUBLE"))
    else:
        import psycopg

        args = database.sink._connect_args()
        with psycopg.connect(**args, autocommit=True, options=f"-c search_path="
                             f"{database.sink.schema}") as con:
            for statement in statements:
                con.execute(statement)
    with pytest.raises(SinkError, match=r"\(table \w*\.?customer_scores\): the existing table has "
                       r"other columns .*missing \['reason_3'\], unexpected \['legacy_score'\]"):
        database.sink.write(make_scores(A, ROWS_A), A)


def test_duckdb_table_types_follow_the_declared_schema(tmp_path):
    path = tmp_path / "scores.duckdb"
    DuckDBSink(path).write(make_scores(A, ROWS_A), A)
    with duckdb.connect(str(path), read_only=True) as con:
        described = con.execute("DESCRIBE customer_scores").fetchall()
    assert [(name, kind) for name, kind, *_ in described] == [
        (c.name, c.duckdb_type) for c in CUSTOMER_SCORES.columns]


def test_duckdb_a_second_process_holding_the_file_gets_a_clear_error(tmp_path):
    target = duckdb_target(tmp_path)
    sink, path = target.sink, target.sink.path
    good = make_scores(A, ROWS_A)
    sink.write(good, A)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    impatient = DuckDBSink(path, lock_timeout=0.5)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(SinkError, match=r"scores\.duckdb is in use by another process, "
                                            r"and DuckDB allows one writer per file; waited "
                                            r"0\.5 s\. Close"):
            impatient.write(make_scores(A, ROWS_A_AGAIN), A)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert target.rows() == expected_rows((good, A))
    sink.write(make_scores(A, ROWS_A_AGAIN), A)  # once the other process has let go


def test_duckdb_a_write_waits_for_the_file_to_be_released(tmp_path):
    target = duckdb_target(tmp_path)
    sink, path = target.sink, target.sink.path
    sink.write(make_scores(A, ROWS_A), A)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(1.5); con.close(); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        DuckDBSink(path, lock_timeout=20).write(make_scores(A, ROWS_A_AGAIN), A)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert 0.5 < waited < 20  # it waited for the release, then wrote
    assert target.rows() == expected_rows((make_scores(A, ROWS_A_AGAIN), A))


@pytest.mark.parametrize("make", [
    lambda name: DuckDBSink("x.duckdb", table=name),
    lambda name: DuckDBSink("x.duckdb", latest_view=name),
    lambda name: PostgresSink("postgresql+psycopg://u:pw@localhost/db", table=name),
    lambda name: PostgresSink("postgresql+psycopg://u:pw@localhost/db", schema=name),
])
@pytest.mark.parametrize("name", ['scores"; DROP TABLE x; --', "Scores", "1scores", "", "a" * 64])
def test_table_and_schema_names_must_be_plain_identifiers(make, name):
    with pytest.raises(ValueError, match="is not a plain SQL identifier"):
        make(name)


# --------------------------------------------------------------------------
# PostgreSQL: passwords stay out of messages.
# --------------------------------------------------------------------------

def test_postgres_errors_and_repr_never_show_the_password(postgres_url):
    wrong = postgres_url.replace("@127.0.0.1", "x@127.0.0.1")  # a wrong password
    secrets = (PASSWORD, postgres_url.split(":")[2].split("@")[0], PASSWORD + "x")
    sink = PostgresSink(wrong)
    with pytest.raises(SinkError, match=r"scorer:\*\*\*@127\.0\.0\.1:\d+/scores \(table "
                                        r"public\.customer_scores\): .*password") as raised:
        sink.write(make_scores(A, ROWS_A), A)
    for text in (str(raised.value), repr(sink), str(raised.value.__cause__)):
        assert not any(secret in text for secret in secrets), text
    unreachable = PostgresSink("postgresql+psycopg://scorer:hunter2@127.0.0.1:1/scores")
    with pytest.raises(SinkError, match=r"scorer:\*\*\*@127\.0\.0\.1:1/scores") as raised:
        unreachable.write(make_scores(A, ROWS_A), A)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite:///scores.db", "postgresql://u:hunter2@host:notaport/db",
                                 "not a url"])
def test_postgres_refuses_other_urls_without_showing_the_password(url):
    with pytest.raises(SinkError, match="expected e.g. postgresql") as raised:
        PostgresSink(url)
    assert "hunter2" not in str(raised.value)


# --------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------

def test_open_sinks_builds_the_named_sinks_from_values(tmp_path):
    built = open_sinks(parquet_root=tmp_path / "p", duckdb_path=tmp_path / "s.duckdb")
    assert [(s.name, type(s)) for s in built] == [("parquet", ParquetSink),
                                                  ("duckdb", DuckDBSink)]
    pg = open_sinks(["postgres"], postgres_url="postgresql+psycopg://u:pw@h/db",
                    table="scores", postgres_schema="analytics")
    assert (pg[0].table, pg[0].schema, pg[0].name) == ("scores", "analytics", "postgres")
    assert "pw" not in repr(pg[0])


def test_open_sinks_passes_the_lock_timeout_and_a_table_of_its_own_to_postgres(tmp_path):
    duck, pg = open_sinks(["duckdb", "postgres"], duckdb_path=tmp_path / "s.duckdb",
                          postgres_url="postgresql+psycopg://u@h/db", postgres_table="pg_scores",
                          lock_timeout=2.5)
    assert (duck.table, duck.lock_timeout) == (CUSTOMER_SCORES.name, 2.5)
    assert pg.table == "pg_scores"
    assert open_sinks(["duckdb"], duckdb_path="s.duckdb")[0].lock_timeout == 60.0


@pytest.mark.parametrize(("names", "kwargs", "message"), [
    (["parquet", "excel"], {"parquet_root": "p"},
     r"unknown sinks \['excel'\]: choose among \['parquet', 'duckdb', 'postgres'\]"),
    (["duckdb", "duckdb"], {"duckdb_path": "s.duckdb"}, r"sinks \['duckdb'\] are named more"),
    (["postgres"], {}, "sink 'postgres' needs postgres_url"),
    (["parquet", "duckdb"], {"parquet_root": "p"}, "sink 'duckdb' needs duckdb_path"),
])
def test_open_sinks_says_what_is_missing(names, kwargs, message):
    with pytest.raises(ValueError, match=message):
        open_sinks(names, **kwargs)
