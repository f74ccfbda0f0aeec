"""One publish per scoring date: every sink staged first, then all published.

A date's rows go to several stores (the Parquet dataset, the DuckDB file,
PostgreSQL). :func:`publish` stages them all (each out of its readers' sight:
a hidden file, an open transaction) and only then publishes them, each in one
step. A sink that fails to stage (PostgreSQL down, a read-only folder, a DuckDB
file in use) leaves every store as it was: none shows the new date. Publishing
commits the databases first (a commit can fail) and moves the Parquet files in
last (a rename); should a publish fail all the same, :class:`PublishError` says
exactly which stores hold the new date and which do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.errors import SinkError
from pipeline.sinks.base import Staged


class PublishError(SinkError):
    """Some sinks do not hold the new date: ``published`` (sink: where) do, ``failed``
    (sink: why not) do not."""

    def __init__(self, message: str, published: dict[str, str], failed: dict[str, str]) -> None:
        super().__init__(message)
        self.published = published
        self.failed = failed


#: Publish order: the commits that can fail first, the renames last.
_ORDER = {"postgres": 0, "duckdb": 1, "parquet": 2}


def publish(stages: Sequence[tuple[str, Callable[[], Staged]]]) -> dict[str, str]:
    """Stage every sink (``(name, stage)``: ``stage()`` stages the date's rows in that
    sink), then publish them all; return ``{name: where}``.

    Raises
    ------
    PublishError
        When a sink could not be staged (every staged one discarded: no store shows
        the new date) or published (the message names the stores that hold it).
    """
    staged: list[tuple[str, Staged]] = []
    try:
        for name, stage in stages:
            staged.append((name, stage()))
    except SinkError as err:
        for _, done in staged:
            done.discard()
        names = [name for name, _ in stages]
        failed = names[len(staged)]
        raise PublishError(
            f"{err} (nothing published: no store of {', '.join(names)} shows the new date)",
            {}, {failed: str(err)}) from err
    except BaseException:
        for _, done in staged:
            done.discard()
        raise
    published: dict[str, str] = {}
    ordered = sorted(staged, key=lambda item: _ORDER.get(item[0], -1))
    for i, (name, done) in enumerate(ordered):
        try:
            done.publish()
        except BaseException as err:
            rest = ordered[i + 1:]
            for _, other in rest:
                other.discard()
            if not isinstance(err, SinkError):
                raise
            failed = {name: str(err), **{n: "not published after the failure of "
                                         f"{name}" for n, _ in rest}}
            held = ", ".join(published) or "none"
            raise PublishError(
                f"{err} (the new date is in {held}; not in {', '.join(failed)}: score the "
                f"date again to publish it everywhere)", published, failed) from err
        published[name] = done.where
    return published
