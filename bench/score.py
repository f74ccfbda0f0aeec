"""Benchmark of batch scoring, end to end: features as of a date, scorer, both default sinks.

Set-up (not measured): trains a scorer on the ``tiny`` demo in a temporary
project (generate -> labels -> train -> the bundle of the evaluate stage,
without MLflow), saves it as a pyfunc folder, and generates clean tables for
C customers and N events (the generator of ``bench/features.py``).

Measured, each run in a fresh child process: ``pipeline.score.main`` with the
model loaded from that folder, a local MLflow store, the Parquet and the DuckDB
sinks, i.e. the whole ``churn score`` job. In the same process tree, a
reference pass: a bare DuckDB ``GROUP BY customer_id`` count and sum over the
transactions written to Parquet. Prints medians of wall and CPU seconds,
customers/s, the peak RSS, and the ratio to the reference; then the time of
each step of the last run (from the job's own log lines).

    python bench/score.py --customers 1_000_000 --events 10_000_000
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder would come first on sys.path and its features.py
# would hide the `features` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _bench_features():
    """bench/features.py as the module ``bench_features`` (its generator and timer).

    Loaded when this file is imported, so that a spawned child, which imports this
    file first, finds the timer's child function under the same name."""
    if "bench_features" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_features", _HERE / "features.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_features"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_features"]


bench = _bench_features()


def measure(fn, *args) -> dict[str, float]:
    """Time ``fn(*args)`` in a spawned process: LightGBM's OpenMP runtime, started
    here by the training, does not survive a fork."""
    return bench.measure(fn, *args, start_method="spawn")


def train_scorer(work: Path) -> Path:
    """A scorer trained on the tiny demo, saved as an MLflow pyfunc folder."""
    import mlflow.pyfunc

    from models.scorer import ChurnScorer
    from pipeline import datasets, features, generate, labels, train, validate
    from pipeline.config import load_params
    from pipeline.paths import Paths
    from pipeline.wiring.scorer import scorer as build_scorer

    paths = Paths(work / "tiny")
    params = load_params(overrides={
        "generate.size": "tiny",
        **{f"data.{t}": str(paths.demo_input(t))
           for t in ("transactions", "interactions", "customers")}})
    for stage in (generate, validate, features, labels):
        stage.main(params, paths)
    frame = datasets.load_training_frame(paths)
    fitted, _ = train.fit(frame, params)
    test = frame[frame["split"] == "test"]
    scorer = build_scorer(fitted, params, test)
    scorer.save(work / "bundle")
    model = work / "model"
    mlflow.pyfunc.save_model(str(model), python_model=ChurnScorer(),
                             artifacts={"scorer": str(work / "bundle")})
    return model


def _score(root: Path, model: Path, as_of: str, workers: int,
           overrides: dict | None = None) -> None:
    """The whole scoring job on ``root`` (``overrides``: more params, e.g. the engine)."""
    from pipeline import score
    from pipeline.config import load_params
    from pipeline.paths import Paths

    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    params = load_params(overrides={"score.model_uri": str(model), "score.as_of": as_of,
                                    "features.workers": workers, **(overrides or {})})
    score.main(params, Paths(root))


def _reference(root: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT customer_id, count(*) AS n, sum(amount) AS s
                    FROM read_parquet('{root / 'data' / 'clean' / 'transactions.parquet'}')
                    GROUP BY customer_id)
                    TO '{root / 'reference.parquet'}' (FORMAT parquet)""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")),
                        default=1_000_000)
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")),
                        default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="feature chunks at once")
    parser.add_argument("--as-of", default="2025-01-01")
    parser.add_argument("--workdir", default=None, help="where to work (default: a temp dir)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="churn-bench-score-"))
    t0 = time.perf_counter()
    model = work / "model"
    if (model / "MLmodel").exists():
        print(f"scorer from an earlier run: {model}")
    else:
        measure(train_scorer, work)
        print(f"trained the scorer on the tiny demo in {time.perf_counter() - t0:.0f} s")
    root = work / "project"
    t0 = time.perf_counter()
    if (root / "data" / "clean").exists():
        shutil.rmtree(root / "data" / "clean")
    bench.generate(root / "data" / "clean", events=args.events, customers=args.customers)
    print(f"generated {args.events:,} events for {args.customers:,} customers in "
          f"{time.perf_counter() - t0:.1f} s under {root}")
    import duckdb

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, duckdb {duckdb.__version__}; {args.workers} workers")

    runs: dict[str, list[dict[str, float]]] = {"reference": [], "score": []}
    for _ in range(args.repeat):  # interleaved, so a noisy minute hits both alike
        runs["reference"].append(measure(_reference, root))
        runs["score"].append(measure(_score, root, model, args.as_of, args.workers))

    ref = statistics.median(r["wall"] for r in runs["reference"])
    ref_cpu = statistics.median(r["cpu"] for r in runs["reference"])
    print(f"\n{'pass':<12}{'wall s':>9}{'cpu s':>9}{'customers/s':>13}{'peak RSS MB':>13}"
          f"{'x ref wall':>12}{'x ref cpu':>11}")
    for name, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        rss = max(r["peak_rss_mb"] for r in rs)
        print(f"{name:<12}{wall:>9.2f}{cpu:>9.2f}{args.customers / wall:>13,.0f}{rss:>13.0f}"
              f"{wall / ref:>12.2f}{cpu / ref_cpu if ref_cpu else float('nan'):>11.2f}")
    walls = ", ".join(f"{r['wall']:.1f}" for r in runs["score"])
    print(f"walls of score runs: {walls} s")


if __name__ == "__main__":
    main()
