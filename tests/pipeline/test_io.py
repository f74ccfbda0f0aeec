"""Atomic writes: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pytest

from pipeline.io import atomic_path, write_json, write_parquet


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
