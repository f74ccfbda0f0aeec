"""Running a stage: params from the file and ``--set`` overrides, logging, exit codes.

Every stage ends with ``run_stage(main)`` under ``if __name__ == "__main__"`` (what
``python -m pipeline.<stage>`` and DVC run), and every ``churn`` sub-command calls it
too: an expected error (:data:`pipeline.errors.EXPECTED`) is printed on one line and
ends the process with its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from pipeline.config import load_params
from pipeline.errors import EXPECTED, ConfigError
from pipeline.params import Params

err = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False)], force=True)


def _override_value(text: str) -> Any:
    """A ``-S`` value read as YAML (numbers, lists, null...), else kept as the text itself
    (``-S data.decimal=,`` is the one-character string, not a YAML syntax error)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: a date-shaped impossible date
        return text


def params_from(path: Path | None, overrides: list[str] | None) -> Params:
    """Params from ``path`` (default: the project's ``params.yaml``) with ``KEY=VALUE``
    overrides applied."""
    values: dict[str, Any] = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. generate.size=tiny")
        values[key.strip()] = _override_value(value)
    return load_params(path, overrides=values)


def report(what: str, error: BaseException) -> None:
    """Print an expected error on one logical line: the message as it is (brackets in a
    file or column name are not console markup), not wrapped, so paths stay whole."""
    err.print(f"[bold red]{what}:[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def run_stage(stage: Callable[..., Any], params_path: Path | None = None,
              overrides: list[str] | None = None, **kwargs: Any) -> Any:
    """Run a stage's ``main`` with logging and exit codes; used by ``python -m`` and the CLI."""
    setup_logging()
    try:
        params = params_from(params_path, overrides)
        return stage(params, **kwargs)
    except Exception as e:
        for kinds, what, code in EXPECTED:
            if isinstance(e, kinds):
                report(what, e)
                raise SystemExit(code) from None
        raise
