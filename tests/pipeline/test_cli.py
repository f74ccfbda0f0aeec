"""The churn command: sub-commands and their exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import EXIT_CONFIG, EXIT_INPUT

runner = CliRunner()


def test_help_lists_the_stages():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "validate", "features", "labels", "repro", "outputs",
                    "dictionary"):
        assert command in result.output


def test_invalid_param_exits_with_the_config_code():
    result = runner.invoke(app, ["validate", "-S", "features.windows_days=[0]"])
    assert result.exit_code == EXIT_CONFIG
    assert "features.windows_days" in result.output


def test_malformed_override_exits_with_the_config_code():
    result = runner.invoke(app, ["features", "-S", "features.windows_days"])
    assert result.exit_code == EXIT_CONFIG
    assert "expected KEY=VALUE" in result.output


def test_override_values_are_yaml_or_plain_text():
    from pipeline.runner import params_from as _params

    params = _params(None, ["data.decimal=,", "data.thousands=.", "data.interactions=null",
                            "features.windows_days=[30, 60]", "data.delimiter=;"])
    assert params.data.decimal == "," and params.data.thousands == "."
    assert params.data.interactions is None and params.features.windows_days == [30, 60]
    assert params.data.delimiter == ";"


def test_missing_input_file_exits_with_the_input_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(_project_params(), encoding="utf-8")
    result = runner.invoke(app, ["validate", "-S", "data.transactions=nowhere/orders.csv"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "nowhere/orders.csv" in result.output


def test_stage_modules_run_as_scripts_with_exit_codes(tmp_path):
    """`python -m pipeline.<stage>` (what DVC runs) maps errors to the same codes."""
    params = tmp_path / "params.yaml"
    params.write_text(_project_params().replace("size: default", "size: enormous"),
                      encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pipeline.generate"], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={"PYTHONPATH": _root(), "PATH": "/usr/bin:/bin"})
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "generate.size is 'enormous'" in result.stderr


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _project_params() -> str:
    return (Path(_root()) / "params.yaml").read_text(encoding="utf-8")
