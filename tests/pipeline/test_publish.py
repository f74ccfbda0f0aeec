"""One publish per scoring date across sinks, and the faults of a sink's files: a store
that fails leaves none showing the new date, or the error says which stores hold it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import pytest

from pipeline.sinks import (
    DuckDBSink,
    ParquetSink,
    PublishError,
    SinkError,
    publish,
)
from pipeline.sinks.duckdb_sink import open_waiting
from tests.pipeline.sink_targets import (
    ROWS_A,
    ROWS_B,
    A,
    B,
    duckdb_target,
    expected_rows,
    make_scores,
    parquet_target,
)

OLD, NEW = make_scores(A, ROWS_A), make_scores(B, ROWS_B)


class Failing:
    """A sink whose staging (PostgreSQL down) or publishing (a commit refused) fails."""

    def __init__(self, at: str) -> None:
        self.name, self.at = "postgres", at

    def stage(self, scores, as_of, *, beyond_data=False):
        if self.at == "stage":
            raise SinkError("postgresql://u:***@db/x (table public.customer_scores): "
                            "connection refused")
        return self

    where = "postgresql://u:***@db/x (table public.customer_scores)"

    def publish(self):
        raise SinkError("the commit failed (server closed the connection)")

    def discard(self):
        pass


@pytest.fixture
def stores(tmp_path):
    targets = [parquet_target(tmp_path), duckdb_target(tmp_path)]
    for target in targets:
        target.sink.write(OLD, A)
    return targets


def stages(sinks, frame, as_of):
    return [(sink.name, lambda sink=sink: sink.stage(frame, as_of)) for sink in sinks]


def test_all_stores_show_the_new_date_once_published(stores):
    outputs = publish(stages([t.sink for t in stores], NEW, B))
    assert list(outputs) == ["duckdb", "parquet"]  # the commits first, the rename last
    for target in stores:
        assert target.rows() == expected_rows((OLD, A), (NEW, B))


def test_a_store_that_cannot_be_staged_leaves_none_showing_the_new_date(stores, tmp_path):
    sinks = [t.sink for t in stores] + [Failing("stage")]
    with pytest.raises(PublishError) as raised:
        publish(stages(sinks, NEW, B))
    assert raised.value.published == {} and list(raised.value.failed) == ["postgres"]
    assert "(nothing published: no store of parquet, duckdb, postgres shows the new date)" in (
        str(raised.value))
    for target in stores:
        assert target.rows() == expected_rows((OLD, A))
    # Nothing staged is left behind: no hidden partition file or folder, no open file.
    assert not [p for p in tmp_path.rglob(".*") if p.name != ".locks"]
    assert not ParquetSink(tmp_path / "scores").partition(B).exists()
    duckdb.connect(str(stores[1].sink.path)).close()  # not held


def test_a_failed_publish_names_the_stores_that_hold_the_new_date(stores):
    sinks = [stores[0].sink, Failing("publish"), stores[1].sink]
    with pytest.raises(PublishError) as raised:
        publish(stages(sinks, NEW, B))
    # PostgreSQL commits first and fails: DuckDB and Parquet are not published either.
    assert raised.value.published == {}
    assert sorted(raised.value.failed) == ["duckdb", "parquet", "postgres"]
    assert "the new date is in none; not in postgres, duckdb, parquet" in str(raised.value)
    for target in stores:
        assert target.rows() == expected_rows((OLD, A))


def test_a_commit_that_fails_after_another_store_published_is_reported(stores):
    late = Failing("publish")
    late.name = "parquet"  # published last, after the database
    sinks = [stores[1].sink, late]
    with pytest.raises(PublishError) as raised:
        publish(stages(sinks, NEW, B))
    assert list(raised.value.published) == ["duckdb"] and list(raised.value.failed) == [
        "parquet"]
    assert "the new date is in duckdb; not in parquet: score the date again" in str(raised.value)


def test_a_file_that_is_not_a_duckdb_database_is_named_and_kept(tmp_path):
    path = tmp_path / "scores.duckdb"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000)
    before = path.read_bytes()
    with pytest.raises(SinkError, match=rf"cannot open the DuckDB file {path}: .*move it aside; "
                                        r"it was not changed"):
        DuckDBSink(path).write(NEW, B)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.duckdb"]


def test_a_reader_of_the_duckdb_file_waits_for_the_writer_too(tmp_path):
    target = duckdb_target(tmp_path)
    target.sink.write(OLD, A)
    path = target.sink.path
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    con = duckdb.connect()
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(SinkError, match=r"is in use by another process.*waited 0\.3 s"):
            open_waiting(lambda: con.execute(f"ATTACH '{path}' AS s (READ_ONLY)"), path, 0.3)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    open_waiting(lambda: con.execute(f"ATTACH '{path}' AS s (READ_ONLY)"), path, 5)
    assert con.execute("SELECT count(*) FROM s.customer_scores").fetchone() == (len(ROWS_A),)


@pytest.fixture
def immutable():
    """Make a folder unwritable for everyone, root included (the immutable attribute)."""
    frozen = []

    def freeze(folder):
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("chattr +i is not available here")
        frozen.append(folder)

    yield freeze
    for folder in frozen:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_parquet_dataset_that_cannot_be_written_is_named_and_unchanged(stores, immutable):
    parquet = stores[0]
    immutable(parquet.sink.root)
    with pytest.raises(PublishError, match=rf"cannot write the Parquet scores in "
                                           rf"{parquet.sink.root}/as_of=2024-02-29: Operation "
                                           r"not permitted"):
        publish(stages([t.sink for t in stores], NEW, B))
    for target in stores:
        assert target.rows() == expected_rows((OLD, A))


def test_a_partition_that_cannot_be_replaced_is_named(stores, immutable):
    parquet = stores[0]
    immutable(parquet.sink.partition(A))
    with pytest.raises(SinkError, match=rf"cannot write the Parquet scores in "
                                        rf"{parquet.sink.partition(A)}"):
        parquet.sink.write(NEW.assign(as_of=A), A)
    assert parquet.rows() == expected_rows((OLD, A))


def test_a_duckdb_folder_that_cannot_be_written_is_named(tmp_path, immutable):
    folder = tmp_path / "db"
    folder.mkdir()
    immutable(folder)
    with pytest.raises(SinkError, match=rf"cannot open the DuckDB file {folder}/scores\.duckdb"):
        DuckDBSink(folder / "scores.duckdb").write(NEW, B)


def test_a_date_beyond_the_data_is_never_the_latest(database):
    database.sink.write(OLD, A)
    database.sink.write(NEW, B, beyond_data=True)
    assert database.query("SELECT DISTINCT as_of FROM latest_scores") == [(A,)]
    assert database.query("SELECT as_of FROM customer_scores_beyond_data") == [(B,)]
    assert database.query("SELECT count(DISTINCT as_of) FROM action_summary") == [(2,)]
    database.sink.write(NEW, B)  # scored again within reach: it is the latest again
    assert database.query("SELECT DISTINCT as_of FROM latest_scores") == [(B,)]
    assert database.query("SELECT count(*) FROM customer_scores_beyond_data") == [(0,)]


def test_a_latest_view_of_an_earlier_version_is_replaced(tmp_path):
    path = tmp_path / "scores.duckdb"
    DuckDBSink(path).write(OLD, A)
    with duckdb.connect(str(path)) as con:  # the view as earlier versions made it
        con.execute("CREATE OR REPLACE VIEW latest_scores AS SELECT * FROM customer_scores "
                    "WHERE as_of = (SELECT max(as_of) FROM customer_scores)")
    DuckDBSink(path).write(NEW, B, beyond_data=True)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT DISTINCT as_of FROM latest_scores").fetchall() == [(A,)]


def test_a_staged_duckdb_write_holds_the_file_and_a_discard_leaves_it_as_it_was(tmp_path):
    target = duckdb_target(tmp_path)
    target.sink.write(OLD, A)
    staged = target.sink.stage(NEW, B)
    try:
        other = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys\ntry:\n    duckdb.connect(sys.argv[1], "
             "read_only=True)\nexcept duckdb.IOException as e:\n    print('held' if 'lock' in "
             "str(e) else e)", str(target.sink.path)], capture_output=True, text=True, timeout=60)
    finally:
        staged.discard()
    assert other.stdout.strip() == "held", other.stderr
    assert target.rows() == expected_rows((OLD, A))


def test_a_new_date_whose_write_was_killed_leaves_nothing_after_the_next_write(tmp_path):
    sink = ParquetSink(tmp_path / "scores")
    sink.write(OLD, A)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = sink.partition(B)  # what a write of B killed before its publish leaves
    killed.mkdir()
    (killed / f".part-0.parquet.{dead.pid}-{'e' * 32}.tmp").write_bytes(b"PAR1 half")
    sink.write(OLD, A)  # the next run scores another date
    assert sorted(p.name for p in sink.root.iterdir()) == ["as_of=2024-01-31"]
