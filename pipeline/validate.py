"""DVC stage ``validate``: raw inputs -> clean tables, quarantine and report.

Run as ``python -m pipeline.validate``. Reads the ``data`` and ``validate``
sections of ``params.yaml``, validates the inputs with
:mod:`features.validation` in an in-memory DuckDB database that spills to a
temporary folder beside the outputs (so that memory stays near
``validate.memory_limit``), and writes, all or nothing:

* ``data/clean/{transactions,interactions,customers}.parquet``
* ``data/clean/quarantine.parquet``
* ``data/clean/customer_index.parquet`` (every customer once, with its dense key)
* ``reports/validation.json``
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb

from features.schema import CLEAN_TABLES
from features.validation import (
    check_written,
    validate_inputs,
    write_clean_table,
    write_customer_index,
    write_quarantine,
)
from pipeline.config import load_params
from pipeline.io import atomic_path, temporary_directory, write_json
from pipeline.params import Params, ValidateParams
from pipeline.paths import PATHS, Paths
from pipeline.runner import run_stage
from pipeline.wiring.inputs import checks, text_format

log = logging.getLogger("churn")


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Validate the inputs named in params and write the clean tables, quarantine and report.

    Parameters
    ----------
    params
        Parameters; default: ``params.yaml`` at the project root.
    paths
        Output locations; default: :data:`pipeline.config.PATHS`.

    Returns
    -------
    dict
        The validation report, as written to ``paths.validation_report``.

    Raises
    ------
    features.validation.InputError
        An input cannot be used as configured; the message names the params key to change.
        Nothing is written.
    features.validation.ReconciliationError
        Counts do not add up (a bug). Nothing is written.
    """
    params = params if params is not None else load_params()
    paths = paths if paths is not None else PATHS
    data, settings = params.data, params.validate_
    with _work_folder(paths.clean) as work, _connect(settings, work) as con:
        report = validate_inputs(
            con,
            inputs={name: data.path(name) for name in CLEAN_TABLES},
            text=text_format(params),
            checks=checks(params),
            now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            column_maps=data.columns.model_dump(),
        )
        # Every output goes to a temporary file first; they replace the old
        # outputs together, and only once the row counts are checked.
        with contextlib.ExitStack() as outputs:
            written = {}
            for name in CLEAN_TABLES:
                tmp = outputs.enter_context(atomic_path(paths.clean_table(name)))
                written[name] = write_clean_table(con, name, tmp)
            tmp = outputs.enter_context(atomic_path(paths.quarantine))
            written["quarantine"] = write_quarantine(con, tmp)
            tmp = outputs.enter_context(atomic_path(paths.customer_index))
            report["totals"]["customers"] = write_customer_index(con, tmp)
            check_written(report, written)
            write_json(report, outputs.enter_context(atomic_path(paths.validation_report)))
    for line in _summary(report).splitlines():
        log.info("validate: %s", line)
    return report


@contextlib.contextmanager
def _work_folder(clean: Path) -> Iterator[Path]:
    """A temporary folder in ``clean`` (created if needed, and removed again if left empty)."""
    created = not clean.exists()
    clean.mkdir(parents=True, exist_ok=True)
    try:
        with temporary_directory("validate", clean) as work:  # a killed run's: removed
            yield Path(work)
    finally:
        if created and not any(clean.iterdir()):
            clean.rmdir()


@contextlib.contextmanager
def _connect(settings: ValidateParams, work: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    config: dict[str, Any] = {"temp_directory": str(work / "spill")}
    if settings.memory_limit is not None:
        config["memory_limit"] = settings.memory_limit
    if settings.threads is not None:
        config["threads"] = settings.threads
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET enable_progress_bar = false").fetchall()
        yield con
    finally:
        con.close()


def _summary(report: Mapping[str, Any]) -> str:
    lines = []
    for name, t in report["tables"].items():
        if t["skipped"]:
            lines.append(f"{name:<13} skipped (data.{name} is null): empty clean table written")
            continue
        rules = ", ".join(f"{rule} {n}" for rule, n in t["quarantined_by_rule"].items())
        lines.append(f"{name:<13} {t['rows_read']:>10} read {t['rows_accepted']:>10} accepted "
                     f"{t['rows_quarantined']:>8} quarantined" + (f" ({rules})" if rules else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    run_stage(main)
