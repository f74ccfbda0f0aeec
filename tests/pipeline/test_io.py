"""Atomic writes: all or nothing, with ordinary permissions; what a killed run left is
removed by the next; a folder that cannot be written is named."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import OutputError
from pipeline.io import (
    atomic_path,
    check_writable,
    temporary_directory,
    write_json,
    write_parquet,
)


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    dest = tmp_path / "out.json"
    write_json({"v": 1}, dest)
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text('{"v": 2, "trunc', encoding="utf-8")
        raise RuntimeError("crash in the middle")
    assert dest.read_text(encoding="utf-8").strip().endswith("}")
    assert '"v": 1' in dest.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_a_directory_is_replaced_as_a_whole(tmp_path):
    dest = tmp_path / "parts"
    with atomic_path(dest, directory=True) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with atomic_path(dest, directory=True) as tmp:
        (tmp / "c").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == ["c"]
    with pytest.raises(ValueError), atomic_path(dest, directory=True) as tmp:
        (tmp / "d").write_text("3")
        raise ValueError
    assert sorted(p.name for p in dest.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_outputs_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_parquet(pa.table({"x": [1]}), tmp_path / "t.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def _dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_runs_temporaries_are_removed_by_the_next_write(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    leftovers = [tmp_path / f".features.{dead}-{'a' * 32}.tmp",  # a folder of a killed run
                 tmp_path / f".features.{'b' * 32}.tmp",          # of an earlier version
                 tmp_path / f".features.old.{dead}"]              # the old folder, not deleted
    running = tmp_path / f".features.{alive}-{'c' * 32}.tmp"      # another process, running
    other = tmp_path / f".features.json.{dead}-{'d' * 32}.tmp"    # another output's
    for path in [*leftovers, running]:
        path.mkdir()
        (path / "part-0.parquet").write_bytes(b"x")
    other.write_text("{")
    with atomic_path(tmp_path / "features", directory=True) as tmp:
        (tmp / "part-0.parquet").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["features", running.name, other.name])


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(tmp_path):
    left = tmp_path / f".score-rows.{_dead_pid()}-k2j4h5l6.tmp"
    left.mkdir()
    with temporary_directory("score-rows", tmp_path) as work:
        assert Path(work).name.startswith(f".score-rows.{os.getpid()}-")
        assert not left.exists()
    assert not list(tmp_path.iterdir())


@pytest.fixture
def read_only(tmp_path):
    """A folder no one can write in, root included (the immutable attribute)."""
    folder = tmp_path / "reports"
    folder.mkdir()
    write_json({"v": 1}, folder / "out.json")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_folder_is_named_and_nothing_changes(read_only):
    with pytest.raises(OutputError, match=rf"cannot write {read_only}/out\.json: Operation not "
                                          r"permitted .*the previous output is unchanged"):
        write_json({"v": 2}, read_only / "out.json")
    assert [p.name for p in read_only.iterdir()] == ["out.json"]
    assert '"v": 1' in (read_only / "out.json").read_text()
    with pytest.raises(OutputError, match=rf"cannot write {read_only}"):
        check_writable(read_only)


def test_a_full_disk_is_named_and_nothing_changes(tmp_path, monkeypatch):
    dest = tmp_path / "t.parquet"
    write_parquet(pa.table({"x": [1]}), dest)
    before = dest.read_bytes()

    def full(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device", str(where))

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OutputError, match=rf"cannot write {dest}: No space left on device"):
        write_parquet(pa.table({"x": [2]}), dest)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]
