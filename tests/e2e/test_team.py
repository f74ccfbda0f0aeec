"""A team's set-up, for real: a shared MLflow tracking server (SQLite, and PostgreSQL
where it can be started, as its backend store) that training, evaluation and scoring
talk to; bounded, precise failures when the server or the model is not there; a DVC
remote that carries the pipeline's outputs from one clone to another."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from pipeline import cli, errors, evaluate, features, generate, labels, score, train, validate
from pipeline.config import load_params
from pipeline.paths import Paths
from pipeline.tracking import HTTP_DEFAULTS
from tests.e2e.project_copy import GIT, ROOT, commit_all, copy_repo, dvc, env, set_params

pytestmark = pytest.mark.slow

MLFLOW = Path(sys.executable).with_name("mlflow")
PARAMS_FILE = ROOT / "params.yaml"
# One LightGBM thread: on a busy 2-core machine, two threads per model spin against
# the other processes and train ten times slower.
TINY = {"generate.size": "tiny", "train.lightgbm.num_threads": 1}


@dataclass(frozen=True)
class Server:
    backend: str
    url: str
    artifacts: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(backend_store: str, home: Path, backend: str) -> Iterator[Server]:
    """``mlflow server`` on a free loopback port with ``backend_store`` as its backend
    store and the artifacts in ``home/artifacts``, uploaded and downloaded through the
    server; stopped (its process group) on exit."""
    port, artifacts, log = free_port(), home / "artifacts", home / "server.log"
    command = [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", backend_store,
               "--artifacts-destination", artifacts.as_uri(), "--workers", "1"]
    # The job runner (workers for GenAI evaluation jobs) is not needed here.
    server_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=home, env=server_env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {server.returncode}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server on {url} not healthy after 180 s:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield Server(backend, url, artifacts)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def postgres_database(url: str, name: str) -> str:
    """A new database ``name`` on the server of ``url`` (the sink tests use theirs); its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("mlflow-sqlite")
    with mlflow_server(f"sqlite:///{home / 'mlflow.db'}", home, "sqlite") as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory) -> Iterator[Server]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_server")
        return
    store = postgres_database(request.getfixturevalue("postgres_url"), "mlflow_team")
    with mlflow_server(store, tmp_path_factory.mktemp("mlflow-postgresql"),
                       "postgresql") as running:
        yield running


def tiny_params(paths: Paths):
    return load_params(PARAMS_FILE, overrides={
        **TINY, **{f"data.{t}": str(paths.demo_input(t))
                   for t in ("transactions", "interactions", "customers")}})


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    """generate -> labels on the tiny size (no MLflow): the inputs of each team project."""
    root = tmp_path_factory.mktemp("demo")
    paths = Paths(root)
    params = tiny_params(paths)
    for stage in (generate, validate, features, labels):
        stage.main(params, paths)
    return root


@dataclass(frozen=True)
class TeamRun:
    server: Server
    root: Path
    name: str
    train: dict
    score: dict
    seconds: float


@pytest.fixture(scope="module")
def team(server, demo_data, tmp_path_factory) -> TeamRun:
    """train -> evaluate -> score against the server, run from the project directory
    (where the default store, mlflow.db, would appear)."""
    root = tmp_path_factory.mktemp(f"team-{server.backend}")
    shutil.copytree(demo_data, root, dirs_exist_ok=True)
    paths = Paths(root)
    params = tiny_params(paths)
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", server.url)
        mp.chdir(root)
        trained = train.main(params, paths)
        evaluate.main(params, paths)
        scored = score.main(params, paths)
    return TeamRun(server, root, params.train.registered_model, trained, scored,
                   time.perf_counter() - started)


def test_training_run_is_on_the_server_with_its_datasets(team):
    client = MlflowClient(team.server.url)
    run = client.get_run(team.train["mlflow"]["run_id"])
    assert run.info.run_name == "train"
    inputs = {(i.dataset.name, {t.key: t.value for t in i.tags}["mlflow.data.context"])
              for i in run.inputs.dataset_inputs}
    assert inputs == {(f"labelled snapshots ({split})", split)
                      for split in ("train", "validation", "test")}
    assert "test_defection_roc_auc" in run.data.metrics  # evaluate continued the run
    assert [f.path for f in client.list_artifacts(run.info.run_id, "model_files")]
    # Uploaded through the server, into its artifact destination.
    assert any(p.name == "transition.txt" for p in team.server.artifacts.rglob("*"))


def test_registered_version_has_champion_and_challenger(team):
    client = MlflowClient(team.server.url)
    model = client.get_registered_model(team.name)
    assert model.aliases == {"champion": "1", "challenger": "1"}
    version = client.get_model_version(team.name, "1")
    assert version.run_id == team.train["mlflow"]["run_id"]


def test_scoring_loaded_the_champion_from_the_server(team):
    client = MlflowClient(team.server.url)
    champion = client.get_model_version_by_alias(team.name, "champion")
    model = team.score["model"]
    assert (model["version"], model["run_id"]) == (champion.version, champion.run_id)
    experiment = client.get_experiment(team.train["mlflow"]["experiment_id"])
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="attributes.run_name LIKE 'score%'")
    assert [r.info.run_id for r in runs] == [team.score["mlflow_run_id"]]
    assert runs[0].data.tags["model_version"] == champion.version
    assert runs[0].data.metrics["customers"] == team.score["customers"] > 0


def test_nothing_is_tracked_in_the_project_directory(team):
    for local_store in ("mlflow.db", "mlruns", "mlartifacts"):
        assert not (team.root / local_store).exists(), local_store
    print(f"{team.server.backend}: train, evaluate and score took {team.seconds:.0f} s")


# --------------------------------------------------------------------------
# Failures: bounded in time, with the exit code and a message that says what to do
# --------------------------------------------------------------------------


def invoke(*args: str):
    result = CliRunner().invoke(cli.app, [*args, "--params", str(PARAMS_FILE)])
    result.text = " ".join(result.output.split())  # log lines wrap on a narrow terminal
    return result


@pytest.fixture
def mlflow_defaults(monkeypatch):
    """The environment without MLflow's HTTP settings: the pipeline's defaults apply."""
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("command, code", [("score", errors.EXIT_MODEL),
                                           ("train", errors.EXIT_TRACKING)])
def test_an_unreachable_server_fails_within_seconds(mlflow_defaults, command, code):
    port = free_port()  # closed again: connections are refused
    mlflow_defaults.setenv("MLFLOW_TRACKING_URI", f"http://team:s3cret@127.0.0.1:{port}")
    started = time.perf_counter()
    result = invoke(command)
    seconds = time.perf_counter() - started
    assert result.exit_code == code, result.output
    assert seconds < 30, seconds
    assert f"cannot reach the MLflow tracking store http://team:***@127.0.0.1:{port}" in result.text
    assert "Connection refused" in result.text
    assert "s3cret" not in result.output
    print(f"{command}: exit {result.exit_code} after {seconds:.1f} s")


def test_a_server_that_never_answers_times_out_as_the_environment_says(mlflow_defaults):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are accepted by the kernel, never answered
        port = silent.getsockname()[1]
        mlflow_defaults.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        mlflow_defaults.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
        mlflow_defaults.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        started = time.perf_counter()
        result = invoke("score")
        seconds = time.perf_counter() - started
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert "Read timed out. (read timeout=2)" in result.text
    assert 4 <= seconds < 20, seconds  # two tries of 2 s: the user's settings, not ours


def test_a_missing_registered_model_exits_5(sqlite_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_server.url)
    result = invoke("score", "--model-uri", "models:/no-such-model@champion")
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert (f"cannot load the model models:/no-such-model@champion from the tracking store "
            f"{sqlite_server.url}: ") in result.text
    assert "Registered Model with name=no-such-model not found" in result.text
    assert "dvc repro evaluate" in result.text


def test_a_missing_alias_exits_5_naming_the_aliases_there_are(sqlite_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_server.url)
    MlflowClient(sqlite_server.url).create_registered_model("never-promoted")
    result = invoke("score", "-S", "train.registered_model=never-promoted")
    assert result.exit_code == errors.EXIT_MODEL, result.output
    assert ("the registered model never-promoted has no alias 'champion' (it has no alias)"
            in result.text)
    assert "--model-uri models:/never-promoted/<version>" in result.text


def test_configure_sets_bounded_http_defaults_and_keeps_the_users(mlflow_defaults,
                                                                  sqlite_server):
    from pipeline import tracking

    mlflow_defaults.setenv("MLFLOW_TRACKING_URI", sqlite_server.url)
    mlflow_defaults.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    tracking.configure(load_params(PARAMS_FILE))
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"


# --------------------------------------------------------------------------
# A DVC remote shared by two clones
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Clones:
    first: Path
    second: Path
    remote: Path
    env: dict[str, str]
    name: str


def digests(folder: Path) -> dict[str, str]:
    """Digests of the files under ``folder``, without the stage locks (``data/.locks``:
    the state of the runs on one machine, not an output)."""
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and ".locks" not in p.relative_to(folder).parts}


@pytest.fixture(scope="module")
def clones(sqlite_server, tmp_path_factory) -> Clones:
    """The first clone reproduces the pipeline against the shared tracking server,
    commits dvc.lock and the reports and pushes the data to a folder remote; the
    second is a git clone of it that pulls the data."""
    base = tmp_path_factory.mktemp("dvc-team")
    first, second, remote = base / "first", base / "second", base / "remote"
    first.mkdir()
    copy_repo(first)
    name = "dvc-team"  # its own registered model and experiment on the shared server
    set_params(first, {**TINY, "train.experiment": name, "train.registered_model": name})
    extra = {"MLFLOW_TRACKING_URI": sqlite_server.url}
    for step in (["remote", "add", "-d", "shared", str(remote)], ["repro"]):
        done = dvc(first, *step, extra_env=extra)
        assert done.returncode == 0, done.stdout + done.stderr
    commit_all(first, "pipeline run")
    done = dvc(first, "push")
    assert done.returncode == 0, done.stdout + done.stderr
    subprocess.run([*GIT, "clone", "-q", str(first), str(second)], check=True)
    done = dvc(second, "pull")
    assert done.returncode == 0, done.stdout + done.stderr
    return Clones(first, second, remote, extra, name)


def test_the_pulled_clone_has_nothing_to_reproduce(clones):
    status = dvc(clones.second, "status", extra_env=clones.env)
    assert status.returncode == 0, status.stderr
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


def test_the_pulled_outputs_are_the_pushed_ones(clones):
    assert list((clones.remote / "files" / "md5").iterdir())
    # Whether DVC or git carries it, every output of the first clone is in the second.
    for folder in ("data", "reports"):
        assert digests(clones.first / folder) == digests(clones.second / folder), folder
    data = digests(clones.first / "data")
    for output in ("scores.duckdb", "scorer/scorer.json", "raw/demo/transactions.csv"):
        assert output in data, output
    assert any(p.startswith("scores/as_of=") for p in data)
    assert any(p.startswith("drift/as_of=") for p in data)


def test_the_second_clone_scores_with_the_shared_champion(clones):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline.score"], cwd=clones.second,
                          env=env(clones.env), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((clones.second / "reports" / "score.json").read_text())
    champion = MlflowClient(clones.env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(
        clones.name, "champion")
    assert (report["model"]["version"], report["model"]["run_id"]) == (
        champion.version, champion.run_id)
    with duckdb.connect(str(clones.second / "data" / "scores.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM customer_scores WHERE as_of = ?",
                           [report["as_of"]]).fetchone()[0]
    assert rows == report["customers"] > 0
    assert not (clones.second / "mlflow.db").exists()
    print(f"scoring in the second clone took {time.perf_counter() - started:.0f} s")
