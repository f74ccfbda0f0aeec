"""Progress display for long steps: a rich bar on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = logging.getLogger("churn")


@contextlib.contextmanager
def steps(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """Yield ``update(step, done, total)``; draws a bar per step name on a terminal."""
    if not sys.stderr.isatty():
        def update(step: str, done: int, total: int) -> None:
            if done == total:
                log.info("%s: %s %d/%d", description, step, done, total)
        yield update
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(f"{description}: {step}", total=total)
            bar.update(tasks[step], completed=done)
        yield update
