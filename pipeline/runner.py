"""Running a stage: params from the file and ``--set`` overrides, the stage's lock,
logging, exit codes.

Every stage ends with ``run_stage(main)`` under ``if __name__ == "__main__"`` (what
``python -m pipeline.<stage>`` and DVC run), and every ``churn`` sub-command calls it
too: an expected error (:data:`pipeline.errors.EXPECTED`) is printed on one line and
ends the process with its exit code; anything else is a bug and keeps its traceback.

Two runs of the same stage in one project never overlap: each holds the stage's
lock file (``data/.locks/<stage>.lock``, an OS lock released when the process ends,
however it ends) while it runs; a second run waits for the first to finish, up to
``CHURN_STAGE_LOCK_TIMEOUT`` seconds (default :data:`LOCK_TIMEOUT`), then stops
with :class:`pipeline.errors.StageBusyError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import filelock
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from pipeline.config import load_params
from pipeline.errors import EXPECTED, ConfigError, OutputError, StageBusyError
from pipeline.params import Params
from pipeline.paths import PATHS

err = Console(stderr=True)
log = logging.getLogger("churn")

#: Seconds a run waits for another run of the same stage (``CHURN_STAGE_LOCK_TIMEOUT``).
LOCK_TIMEOUT = 3600.0


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
    file or column name are not console markup; the line breaks of a driver's message
    joined), not wrapped, so paths stay whole."""
    text = re.sub(r"\s*\n\s*", " ", str(error).strip())
    err.print(f"[bold red]{what}:[/] {escape(text)}", highlight=False, soft_wrap=True)


def stage_name(stage: Callable[..., Any]) -> str:
    """The stage a ``main`` belongs to: ``score`` for ``pipeline.score.main`` (also when
    the module runs as ``__main__`` under ``python -m``)."""
    module = stage.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return module.rsplit(".", 1)[-1]


def lock_timeout() -> float:
    """``CHURN_STAGE_LOCK_TIMEOUT`` in seconds, else :data:`LOCK_TIMEOUT`."""
    text = os.environ.get("CHURN_STAGE_LOCK_TIMEOUT")
    if text is None or not text.strip():
        return LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"CHURN_STAGE_LOCK_TIMEOUT must be seconds (a number >= 0), "
                          f"got {text!r}")
    return value


@contextlib.contextmanager
def stage_lock(name: str, folder: Path, timeout: float) -> Iterator[None]:
    """Hold the lock of stage ``name`` (``<folder>/<name>.lock``) for the block, waiting up
    to ``timeout`` seconds for another process that holds it.

    Raises
    ------
    StageBusyError
        Naming the lock file and the run that holds it, after the wait.
    OutputError
        When the lock file cannot be made (the folder read-only).
    """
    lock_file = folder / f"{name}.lock"
    owner_file = folder / f"{name}.owner"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(lock_file)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log.warning("another `%s` run (%s) holds %s; waiting up to %g s for it to finish",
                        name, _owner(owner_file), lock_file, timeout)
            try:
                lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise StageBusyError(
                    f"another `{name}` run ({_owner(owner_file)}) still holds {lock_file} "
                    f"after {timeout:g} s: two runs of a stage never overlap. Let it finish "
                    f"(or stop it), then run again; CHURN_STAGE_LOCK_TIMEOUT sets the "
                    f"wait") from None
        owner_file.write_text(f"pid {os.getpid()}, started "
                              f"{dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    except OSError as error:
        raise OutputError(f"cannot take the lock of the `{name}` stage in {folder}: "
                          f"{error.strerror or error}. Make the folder writable") from None
    try:
        yield
    finally:
        lock.release()


def _owner(owner_file: Path) -> str:
    try:
        return owner_file.read_text().strip() or "process unknown"
    except OSError:
        return "process unknown"


def run_stage(stage: Callable[..., Any], params_path: Path | None = None,
              overrides: list[str] | None = None, **kwargs: Any) -> Any:
    """Run a stage's ``main`` under its lock, with logging and exit codes; used by
    ``python -m`` and the CLI."""
    setup_logging()
    try:
        params = params_from(params_path, overrides)
        # The lock of the project the stage writes to: its module's paths.
        paths = getattr(sys.modules.get(stage.__module__), "PATHS", PATHS)
        with stage_lock(stage_name(stage), paths.locks, lock_timeout()):
            return stage(params, **kwargs)
    except Exception as e:
        for kinds, what, code in EXPECTED:
            if isinstance(e, kinds):
                report(what, e)
                raise SystemExit(code) from None
        raise
