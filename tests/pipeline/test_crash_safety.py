"""Crash safety of the sinks: a writer killed with SIGKILL in the middle of a write
leaves readers the previous complete rows, and a rerun completes.

The writer runs in a child process that stops in the middle of its write (the
Parquet file half written, the DuckDB rows inserted but not committed, the
PostgreSQL COPY half streamed), says so, and is killed there with SIGKILL: the
same state a crash or an out-of-memory kill leaves, reached deterministically.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import textwrap

import pandas as pd

from tests.pipeline.sink_targets import A, expected_rows, make_scores, parquet_target

OLD = make_scores(A, [(f"C{i:05d}", "core", "protect", 0.2, 100.0 + i) for i in range(3000)])
NEW = make_scores(A, [(f"D{i:05d}", "lost", "regain", 0.9, 5.0 + i) for i in range(2000)])

#: Child process: open the sink, make the write stop half-way, print "mid", wait.
CHILD = textwrap.dedent('''
    import pickle, sys, time
    import pyarrow as pa
    from pipeline.sinks import DuckDBSink, ParquetSink, duckdb_sink, parquet, postgres

    sink, frame, as_of = pickle.load(open(sys.argv[1], "rb"))

    def stop_here():
        print("mid", flush=True)
        time.sleep(120)

    if isinstance(sink, ParquetSink):
        write_table = parquet.pq.write_table

        def half_written(table, where, **kwargs):
            with parquet.pq.ParquetWriter(where, table.schema) as writer:
                writer.write_table(table.slice(0, len(table) // 2))
                stop_here()  # the file is open and incomplete
        parquet.pq.write_table = half_written
    elif isinstance(sink, DuckDBSink):
        load = duckdb_sink._load_duckdb

        def uncommitted(con, qualified, data):
            load(con, qualified, data)  # the old rows deleted, the new inserted ...
            stop_here()                 # ... and no COMMIT yet
        duckdb_sink._load_duckdb = uncommitted
    else:
        copy = postgres._copy_postgres

        def half_copied(cursor, qualified, columns, data):
            copy(cursor, qualified, columns, data.slice(0, len(data) // 2))
            stop_here()
        postgres._copy_postgres = half_copied
    sink.write(frame, as_of)
''')


def kill_mid_write(sink, frame, tmp_path) -> None:
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((sink, frame, A)))
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(job)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "mid", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_writer_killed_mid_write_leaves_the_previous_rows(target, tmp_path):
    target.sink.write(OLD, A)
    kill_mid_write(target.sink, NEW, tmp_path)
    # Readers see the previous complete rows: not a mix, not nothing.
    assert target.rows() == expected_rows((OLD, A))
    # A rerun completes and replaces them.
    target.sink.write(NEW, A)
    assert target.rows() == expected_rows((NEW, A))


def test_a_writer_killed_on_a_new_date_leaves_no_rows_of_it(target, tmp_path):
    kill_mid_write(target.sink, NEW, tmp_path)
    if target.sink.name == "parquet":  # no file of the date was ever published
        assert not list(target.sink.root.glob("*/*.parquet"))
    else:
        assert target.rows() == []
    target.sink.write(NEW, A)
    assert target.rows() == expected_rows((NEW, A))


def test_the_parquet_dataset_shows_no_temporary_file_to_readers(tmp_path):
    target = parquet_target(tmp_path)
    target.sink.write(OLD, A)
    kill_mid_write(target.sink, NEW, tmp_path)
    leftovers = list(target.sink.partition(A).glob(".*.tmp"))
    assert leftovers, "the killed writer's temporary file should be there"
    assert [p.name for p in target.sink.partition(A).glob("*.parquet")] == ["part-0.parquet"]
    read = pd.read_parquet(target.sink.partition(A) / "part-0.parquet")
    assert len(read) == len(OLD)
    target.sink.write(NEW, A)  # the next write clears what the killed one left
    assert not list(target.sink.partition(A).glob(".*.tmp"))
