"""Scale benchmark: the feature stage and the scoring job at growing data sizes.

For each size (default 10 M, 50 M and 100 M events, 10 events per customer),
generates clean tables with ``bench/features.py``'s generator, then measures,
each in a fresh process:

* ``features``: the feature stage (``pipeline.features.main``) at 12 monthly
  cutoffs of 2024;
* ``score``: the whole scoring job (``bench/score.py``'s runner: features as of
  the date, the scorer trained on the tiny demo, drift, the Parquet and DuckDB
  sinks, the MLflow run).

Both on the DuckDB engine, and on the Spark engine in local mode for the sizes
given by ``--spark-events`` (default 10 M). Prints wall and CPU seconds, events
per second, customers per second and the peak resident memory of the whole
process tree (sampled every 0.2 s: for Spark, the JVM and its Python workers
count too; see :func:`measure_tree`), then a table for the README.

    python bench/scale.py --events 10M,50M,100M --spark-events 10M
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _bench_score():
    """bench/score.py as the module ``bench_score`` (it loads bench/features.py as
    ``bench_features``): the scorer's training, the generator, the scoring runner."""
    if "bench_score" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_score", _HERE / "score.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_score"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_score"]


bench_score = _bench_score()
bench_features = bench_score.bench


def _count(text: str) -> int:
    text = text.strip().upper().replace("_", "")
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def _features(root: Path, overrides: dict) -> None:
    from pipeline import features
    from pipeline.config import load_params
    from pipeline.paths import Paths

    params = load_params(overrides={"features.first_snapshot": "2024-01-01",
                                    "features.last_snapshot": "2024-12-01", **overrides})
    features.main(params, Paths(root))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def measure_tree(fn, *args) -> dict[str, float]:
    """``bench/features.py``'s timer (its child function, in a spawned process), with
    the peak memory of the child and all its descendants, sampled every 0.2 s.

    The child's own figure leaves out its descendants (a Spark JVM). Each process's
    own high-water mark (``VmHWM``) starts afresh with it: the peak is
    the largest sum of RSS seen at one time, or the largest single ``VmHWM`` seen if
    higher (a peak shorter than a sampling interval, in a one-process run).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=bench_features._child, args=(fn, args, queue))
    proc.start()
    peak = hwm = 0.0
    while queue.empty() and proc.is_alive():
        total = 0.0
        for p in _tree(proc.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss / 2**20
            hwm = max(hwm, bench_features.high_water_mb(p.pid) or 0.0)
        peak = max(peak, total)
        time.sleep(0.2)
    result = queue.get()
    proc.join()
    result.pop("peak_rss_mb", None)  # the child alone, see above
    result["tree_peak_rss_mb"] = max(peak, hwm)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="10M,50M,100M", help="sizes, e.g. 10M,50M,100M")
    parser.add_argument("--spark-events", default="10M", help="sizes run on Spark too")
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--memory-limit", default=None, help="DuckDB's cap (--memory-limit)")
    parser.add_argument("--as-of", default="2025-01-01")
    parser.add_argument("--passes", default="features,score")
    parser.add_argument("--workdir", default=None, help="where to work (default: a temp dir)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="churn-bench-scale-"))
    model = work / "model"
    if not (model / "MLmodel").exists():
        t0 = time.perf_counter()
        bench_features.measure(bench_score.train_scorer, work, start_method="spawn")
        print(f"trained the scorer on the tiny demo in {time.perf_counter() - t0:.0f} s")
    import duckdb

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python "
          f"{platform.python_version()}, duckdb {duckdb.__version__}")
    sizes = [_count(s) for s in args.events.split(",")]
    spark_sizes = {_count(s) for s in args.spark_events.split(",") if s}
    passes = args.passes.split(",")
    base = {} if args.memory_limit is None else {"features.memory_limit": args.memory_limit}
    rows = []
    for events in sizes:
        customers = events // args.events_per_customer
        root = work / "project"
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        bench_features.generate(root / "data" / "clean", events=events, customers=customers)
        print(f"generated {events:,} events for {customers:,} customers in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        for engine in ["duckdb", *(["spark"] if events in spark_sizes else [])]:
            overrides = {**base, "features.engine": engine}
            for name in passes:
                if name == "features":
                    r = measure_tree(_features, root, overrides)
                else:
                    r = measure_tree(bench_score._score, root, model, args.as_of, 2, overrides)
                row = {"events": events, "customers": customers, "engine": engine,
                       "pass": name, **r}
                rows.append(row)
                print(json.dumps(row), flush=True)
        shutil.rmtree(root, ignore_errors=True)

    print(f"\n{'events':>12}{'customers':>12}  {'engine':<8}{'pass':<10}{'wall s':>9}"
          f"{'cpu s':>9}{'Mevents/s':>11}{'customers/s':>13}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{r['events']:>12,}{r['customers']:>12,}  {r['engine']:<8}{r['pass']:<10}"
              f"{r['wall']:>9.1f}{r['cpu']:>9.1f}{r['events'] / r['wall'] / 1e6:>11.2f}"
              f"{r['customers'] / r['wall']:>13,.0f}{r['tree_peak_rss_mb']:>13.0f}")
    print("\ncpu s: the measured process only (not Spark's JVM and Python workers); "
          "peak RSS: the process and all its descendants")


if __name__ == "__main__":
    main()
