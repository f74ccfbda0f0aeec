"""The ``churn`` command: one sub-command per pipeline stage, plus helpers.

Each stage sub-command runs the stage's ``main`` through :func:`pipeline.runner.run_stage`
(params, logging, exit codes: :mod:`pipeline.errors` and the README).
"""

from __future__ import annotations

import os
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.paths import PATHS
from pipeline.runner import params_from, run_stage

app = typer.Typer(help="Customer lifecycle and churn pipeline.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)

ParamsOption = Annotated[Path | None, typer.Option(
    "--params", help="Params file (default: params.yaml in the project directory).")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", "-S", help="Override a param, e.g. -S generate.size=tiny (repeatable).")]
EngineOption = Annotated[str | None, typer.Option(
    "--engine", help="Feature engine: duckdb (one machine, bucket by bucket) or spark "
    "(SPARK_MASTER or features.spark.master; default: features.engine).")]
MemoryLimitOption = Annotated[str | None, typer.Option(
    "--memory-limit", help="Cap of DuckDB's memory, e.g. 2GB (default: "
    "features.memory_limit).")]


def _engine_overrides(set_: list[str] | None, engine: str | None,
                      memory_limit: str | None) -> list[str]:
    overrides = list(set_ or [])
    if engine is not None:
        overrides.append(f"features.engine={engine}")
    if memory_limit is not None:
        overrides.append(f"features.memory_limit={memory_limit}")
    return overrides


@app.command()
def generate(params: ParamsOption = None, set_: SetOption = None) -> None:
    """Generate the demo data (the seeded lifecycle simulator) into data/raw/."""
    from pipeline import generate as stage

    run_stage(stage.main, params, set_)


@app.command()
def validate(params: ParamsOption = None, set_: SetOption = None) -> None:
    """Validate the raw inputs into clean Parquet, a quarantine and a report."""
    from pipeline import validate as stage

    run_stage(stage.main, params, set_)


@app.command()
def features(params: ParamsOption = None, set_: SetOption = None,
             engine: EngineOption = None, memory_limit: MemoryLimitOption = None) -> None:
    """Build point-in-time features for every snapshot cutoff."""
    from pipeline import features as stage

    run_stage(stage.main, params, _engine_overrides(set_, engine, memory_limit))


@app.command()
def labels(params: ParamsOption = None, set_: SetOption = None) -> None:
    """Label lifecycle stages and defection per snapshot, split out of time."""
    from pipeline import labels as stage

    run_stage(stage.main, params, set_)


@app.command()
def train(params: ParamsOption = None, set_: SetOption = None) -> None:
    """Train the defection, transition and value models (logged to MLflow)."""
    from pipeline import train as stage

    run_stage(stage.main, params, set_)


@app.command()
def evaluate(params: ParamsOption = None, set_: SetOption = None) -> None:
    """Evaluate on the test snapshot; register the model and apply the promotion rule."""
    from pipeline import evaluate as stage

    run_stage(stage.main, params, set_)


@app.command()
def score(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Scoring date YYYY-MM-DD (default: score.as_of, else the day after "
        "the last event).")] = None,
    model_uri: Annotated[str | None, typer.Option(
        "--model-uri", help="Model to score with (default: models:/<name>@champion).")] = None,
    fail_on_drift: Annotated[bool, typer.Option(
        "--fail-on-drift", help="Exit with code 7, publishing nothing, when a feature or "
        "p_defect drifted above score.drift.threshold.")] = False,
    force_as_of: Annotated[bool, typer.Option(
        "--force-as-of", help="Score a date more than a horizon after the last event "
        "(score.force_as_of); it is kept out of the latest_scores view.")] = False,
    params: ParamsOption = None,
    set_: SetOption = None,
    engine: EngineOption = None,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Score every customer as of a date into the analysts' tables (exit codes: README)."""
    from pipeline import score as stage

    overrides = _engine_overrides(set_, engine, memory_limit)
    if as_of is not None:
        overrides.append(f"score.as_of={as_of}")
    if model_uri is not None:
        overrides.append(f"score.model_uri={model_uri}")
    if force_as_of:
        overrides.append("score.force_as_of=true")
    run_stage(stage.main, params, overrides, fail_on_drift=fail_on_drift)


@app.command()
def repro(force: Annotated[bool, typer.Option(help="Re-run every stage.")] = False) -> None:
    """Run the whole pipeline with DVC (``dvc repro``), then list the outputs."""
    cmd = [sys.executable, "-m", "dvc", "repro", *(["--force"] if force else [])]
    # Stages run `python -m pipeline.<stage>`: make that `python` this environment's.
    env = {**os.environ,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    code = subprocess.call(cmd, env=env)
    if code:
        raise typer.Exit(code)
    outputs()


@app.command()
def outputs() -> None:
    """Print where the pipeline's outputs are."""
    rows = [
        ("raw demo inputs", PATHS.raw),
        ("clean tables", PATHS.clean),
        ("quarantine", PATHS.quarantine),
        ("validation report", PATHS.validation_report),
        ("feature table", PATHS.features),
        ("features report", PATHS.features_report),
        ("labels", PATHS.labels_table),
        ("labels report", PATHS.labels_report),
        ("models", PATHS.models),
        ("test metrics", PATHS.metrics),
        ("plots", PATHS.plots),
        ("scorer bundle", PATHS.scorer),
        ("scores (Parquet, by as_of)", PATHS.scores),
        ("scores (DuckDB)", PATHS.scores_db),
        ("drift tables", PATHS.drift),
        ("scoring summary", PATHS.score_report),
        ("training report (HTML)", PATHS.training_report),
        ("scoring report (HTML, latest)", PATHS.scoring_report),
        ("scoring reports (HTML, by date)", PATHS.scoring_reports),
    ]
    table = Table("output", "path", "state", box=None, header_style="bold")
    for name, path in rows:
        table.add_row(name, str(path),
                      "[green]ok[/]" if Path(path).exists() else "[yellow]missing[/]")
    Console().print(table)


class ReportKind(StrEnum):
    training = "training"
    scoring = "scoring"


@app.command()
def report(
    kind: Annotated[ReportKind, typer.Argument(
        help="training: the last evaluate run; scoring: one scoring date.")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Scoring date YYYY-MM-DD (default: the latest scored date).")] = None,
    params: ParamsOption = None,
    set_: SetOption = None,
) -> None:
    """Regenerate the HTML training or scoring report from the stored outputs."""
    import datetime as dt

    from pipeline import reports as stage

    date = None
    if as_of is not None:
        if kind is ReportKind.training:
            raise typer.BadParameter("applies to the scoring report only", param_hint="--as-of")
        try:
            date = dt.date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date YYYY-MM-DD",
                                     param_hint="--as-of") from None
    path = run_stage(stage.main, params, set_, kind=kind.value, as_of=date)
    Console().print(f"wrote {path}", highlight=False)


@app.command()
def dictionary(
    check: Annotated[bool, typer.Option(help="Fail if the file is out of date.")] = False,
    params: ParamsOption = None,
) -> None:
    """Write docs/data_dictionary.md from the declared schemas."""
    from pipeline.docs import DICTIONARY, render_dictionary

    text = render_dictionary(params_from(params, None))
    if check:
        current = DICTIONARY.read_text(encoding="utf-8") if DICTIONARY.exists() else ""
        if current != text:
            err.print(f"{DICTIONARY} is out of date: run `churn dictionary`")
            raise typer.Exit(1)
        return
    from pipeline.io import write_text

    write_text(text, DICTIONARY)
    Console().print(f"wrote {DICTIONARY}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
