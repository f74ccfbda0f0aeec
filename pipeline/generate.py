"""DVC stage ``generate``: write the seeded demo data set.

``python -m pipeline.generate`` reads ``generate`` (size, seed, start date, campaigns),
``data.interaction_kinds``, ``data.satisfaction_range`` and ``labels.horizon_days``
from ``params.yaml``, runs the lifecycle simulator (:mod:`features.simulate`, story in
``docs/simulator.md``) and writes, atomically, the three input files of the contract
(``data/raw/demo/{transactions,interactions,customers}.csv``) and the latent ground
truth ``data/truth/ground_truth.parquet``, kept out of ``data/raw`` so that nothing
reading inputs can see it: only evaluation reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from features.simulate import GROUND_TRUTH, render_csv_tables, simulate
from pipeline.config import load_params
from pipeline.io import atomic_path, write_parquet
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.runner import run_stage

#: The contract tables written as CSV, in this order.
TABLES: tuple[str, ...] = ("transactions", "interactions", "customers")


def output_files(out_dir: str | os.PathLike[str],
                 truth_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """The files :func:`write_demo` writes, by table (and ``ground_truth``).

    The file names are those of :data:`pipeline.config.PATHS`, so that with
    ``out_dir = PATHS.demo`` and ``truth_dir = PATHS.truth`` they are exactly the
    stage's outputs. The ground truth goes to ``truth_dir`` (default ``out_dir``).
    """
    out = Path(out_dir)
    files = {name: out / PATHS.demo_input(name).name for name in TABLES}
    files["ground_truth"] = Path(truth_dir or out) / PATHS.ground_truth.name
    return files


def write_csv(table: pa.Table, dest: str | os.PathLike[str]) -> Path:
    """Write a table of strings as comma-separated text, atomically.

    The header is written unquoted and values are never quoted (the simulator's values
    contain no comma, quote or line break); nulls are empty fields.

    Parameters
    ----------
    table
        Arrow table, typically of strings, whose column names make the header.
    dest
        Destination file; written beside it first, then moved into place.

    Returns
    -------
    Path
        ``dest``.
    """
    header = ",".join(table.column_names) + "\n"
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with atomic_path(dest) as tmp, open(tmp, "wb") as handle:
        handle.write(header.encode("utf-8"))
        pacsv.write_csv(table, handle, options)
    return Path(dest)


def write_demo(
    out_dir: str | os.PathLike[str],
    *,
    n_customers: int,
    n_days: int,
    start_date: dt.date,
    seed: int,
    interaction_kinds: Sequence[str],
    satisfaction_range: tuple[float, float],
    horizon_days: int,
    truth_dir: str | os.PathLike[str] | None = None,
    acquisition_days: int | None = None,
    retention_campaigns: bool = True,
    campaign_capacity: float = 0.03,
    campaign_control_share: float = 0.2,
) -> dict[str, Any]:
    """Simulate the demo data set and write its four files.

    Parameters
    ----------
    out_dir
        Target folder of the input files; see :func:`output_files` for the file names.
    truth_dir
        Target folder of the ground truth (default ``out_dir``).
    n_customers, n_days, start_date, seed, interaction_kinds, satisfaction_range, horizon_days,
    acquisition_days, retention_campaigns, campaign_capacity, campaign_control_share
        Passed to :func:`features.simulate.simulate`; ``seed`` also seeds the warts.

    Returns
    -------
    dict
        A summary: customers, buyers, rows written per file, the latent event counts
        (``latent``), the data-quality warts injected per table (``warts``), the files
        and the elapsed seconds.
    """
    started = time.perf_counter()
    sim = simulate(n_customers=n_customers, n_days=n_days, start_date=start_date, seed=seed,
                   interaction_kinds=interaction_kinds, satisfaction_range=satisfaction_range,
                   horizon_days=horizon_days, acquisition_days=acquisition_days,
                   retention_campaigns=retention_campaigns, campaign_capacity=campaign_capacity,
                   campaign_control_share=campaign_control_share)
    tables, warts = render_csv_tables(sim, seed=seed)
    files = output_files(out_dir, truth_dir)
    for name in TABLES:
        write_csv(tables[name], files[name])
    truth = pa.Table.from_pandas(sim.ground_truth, schema=GROUND_TRUTH.arrow_schema(),
                                 preserve_index=False).replace_schema_metadata(None)
    write_parquet(truth, files["ground_truth"])
    return {
        "customers": n_customers,
        "days": n_days,
        "start_date": start_date.isoformat(),
        "seed": seed,
        "buyers": sim.latent["buyers"],
        "prospects": sim.latent["prospects"],
        "rows": {**{name: tables[name].num_rows for name in TABLES},
                 "ground_truth": truth.num_rows},
        "events": tables["transactions"].num_rows + tables["interactions"].num_rows,
        "latent": sim.latent,
        "warts": warts,
        "files": {name: str(path) for name, path in files.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Run the stage: simulate the chosen size and write it to ``PATHS.demo``.

    Parameters
    ----------
    params
        Validated parameters; default :func:`pipeline.config.load_params`.

    Returns
    -------
    dict
        The summary of :func:`write_demo` with the size name (``size``); it is also
        printed as JSON. The files are ``PATHS.demo_input(table)`` for each table and
        ``PATHS.ground_truth``.
    """
    params = load_params() if params is None else params
    paths = paths or PATHS
    gen = params.generate
    summary = write_demo(
        paths.demo,
        truth_dir=paths.truth,
        n_customers=gen.chosen.customers,
        n_days=gen.chosen.days,
        start_date=gen.start_date,
        seed=gen.seed,
        interaction_kinds=params.data.interaction_kinds,
        satisfaction_range=params.data.satisfaction_range,
        horizon_days=params.labels.horizon_days,
        acquisition_days=gen.chosen.acquisition_days,
        retention_campaigns=gen.campaigns.enabled,
        campaign_capacity=gen.campaigns.capacity,
        campaign_control_share=gen.campaigns.control_share,
    )
    summary = {"size": gen.size, **summary}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    run_stage(main)
