"""Running a stage: one run of a stage at a time, and one line with its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import errors, runner

REPO = Path(__file__).resolve().parents[2]

#: Holds the lock of stage ``score`` in the folder argv[1], says so, then waits on stdin.
HOLDER = """
import sys, filelock
lock = filelock.FileLock(f"{sys.argv[1]}/score.lock")
lock.acquire()
open(f"{sys.argv[1]}/score.owner", "w").write("pid 4242, started 2024-01-01T06:00:00")
print("held", flush=True)
sys.stdin.readline()
"""


def main(params, **kwargs):  # a stage's main, for run_stage
    return "ran"


@pytest.fixture
def locks(tmp_path, monkeypatch):
    folder = tmp_path / "data" / ".locks"
    monkeypatch.setattr(runner.PATHS, "locks", folder)
    monkeypatch.setattr(runner, "params_from", lambda path, overrides: None)  # not the point
    return folder


def hold(folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_stage_of_a_main_is_its_module():
    assert runner.stage_name(main) == "test_runner"
    from pipeline import score

    assert runner.stage_name(score.main) == "score"


def test_the_lock_is_in_the_project_the_stage_writes_to(tmp_path, monkeypatch):
    from pipeline import score
    from pipeline.paths import Paths

    monkeypatch.setattr(score, "PATHS", Paths(tmp_path))
    monkeypatch.setattr(runner, "params_from", lambda path, overrides: None)
    monkeypatch.setattr(main, "__module__", "pipeline.score")
    assert runner.run_stage(main) == "ran"
    assert (tmp_path / "data" / ".locks" / "score.lock").exists()


def test_a_second_run_waits_then_says_who_holds_the_lock(locks, monkeypatch, capsys):
    monkeypatch.setattr(main, "__module__", "pipeline.score")
    monkeypatch.setenv("CHURN_STAGE_LOCK_TIMEOUT", "0.5")
    holder = hold(locks)
    try:
        started = time.monotonic()
        with pytest.raises(SystemExit) as stopped:
            runner.run_stage(main)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert stopped.value.code == errors.EXIT_BUSY
    line = " ".join(capsys.readouterr().err.split())
    assert (f"stage busy: another `score` run (pid 4242, started 2024-01-01T06:00:00) still "
            f"holds {locks}/score.lock after 0.5 s") in line
    assert waited >= 0.5


def test_a_second_run_goes_on_once_the_first_ends_however_it_ends(locks, monkeypatch):
    monkeypatch.setattr(main, "__module__", "pipeline.score")
    monkeypatch.setenv("CHURN_STAGE_LOCK_TIMEOUT", "60")
    holder = hold(locks)
    killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1); "
                               f"os.kill({holder.pid}, 9)"])
    started = time.monotonic()
    try:
        assert runner.run_stage(main) == "ran"  # after the kill -9 of the holder
    finally:
        killer.wait()
        holder.wait()
    assert 0.8 < time.monotonic() - started < 30
    assert runner.run_stage(main) == "ran"  # and the lock is released after a run


def test_two_runs_of_a_stage_never_overlap(tmp_path):
    """Two `python -m pipeline.generate` at once on one project: one after the other."""
    script = ("import sys, time\n"
              "from pipeline import runner\n"
              "def main(params):\n"
              "    start = time.monotonic(); time.sleep(1.5)\n"
              "    print(f'{start:.3f} {time.monotonic():.3f}', flush=True)\n"
              "main.__module__ = 'pipeline.generate'\n"
              "runner.params_from = lambda path, overrides: None\n"
              "runner.run_stage(main)\n")
    env = {**os.environ, "CHURN_PROJECT_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    (a0, a1), (b0, b1) = sorted(tuple(map(float, out.split())) for out, _ in outputs)
    assert a1 <= b0  # the second started after the first ended
    assert "waiting up to 3600 s for it to finish" in " ".join(
        "".join(err for _, err in outputs).split())


def test_a_lock_timeout_that_is_no_number_is_refused(monkeypatch):
    monkeypatch.setenv("CHURN_STAGE_LOCK_TIMEOUT", "soon")
    with pytest.raises(errors.ConfigError, match="CHURN_STAGE_LOCK_TIMEOUT must be seconds"):
        runner.lock_timeout()
