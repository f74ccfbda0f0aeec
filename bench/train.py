"""Benchmark of model training on a pipeline's labelled data.

Times :func:`pipeline.train.fit` (the three LightGBM models, the
BG/NBD trial, calibration and the ablation model; no MLflow, no writing) on the
labels and features of a project directory, ``--repeat`` times, and prints the
median wall and CPU seconds and the peak RSS.

    make run                       # produces data/labels and data/features
    python bench/train.py --project .
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

# bench/features.py is named like the `features` package: keep this folder off sys.path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from pipeline import datasets, train  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.paths import Paths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".", help="project directory with data/labels")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(args.project)
    params = load_params(root / "params.yaml")
    frame = datasets.load_training_frame(Paths(root))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}; {len(frame):,} labelled rows, "
          f"{params.train.lightgbm.num_threads} LightGBM threads")
    walls, cpus = [], []
    for i in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        train.fit(frame, params)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        print(f"run {i + 1}: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} CPU s", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median: {statistics.median(walls):.1f} s wall, {statistics.median(cpus):.1f} CPU s; "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
