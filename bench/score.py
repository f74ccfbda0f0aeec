"""Benchmark of batch scoring, end to end: features as of a date, scorer, both default sinks.

Set-up (not measured): the scorer is the bundle folder given by ``--scorer`` (for
instance ``data/scorer/`` after ``make run``), or else one trained on the
``default`` demo, the size ``make run`` registers (generate -> labels -> train ->
the bundle of the evaluate stage, without MLflow, in a temporary project), trained
once and kept in the work folder for later runs. It is wrapped as a pyfunc folder;
the tree count of each model is printed. Clean tables for C customers and N events
are generated (the generator of ``bench/features.py``).

Measured, each run in a fresh child process: ``pipeline.score.main`` with the
model loaded from that folder, a local MLflow store, the Parquet and the DuckDB
sinks, i.e. the whole ``churn score`` job. In the same process tree, a
reference pass: a bare DuckDB ``GROUP BY customer_id`` count and sum over the
transactions written to Parquet. Prints medians of wall and CPU seconds,
customers/s, the peak RSS, and the ratio to the reference; then each step of the
job (wall and CPU seconds, median and range over the runs): load the model, check
the date, features as of the date, the chunks scored (models, reasons, actions,
drift counts, rows spooled), the budget, each sink staged, the publish, the drift
table, the MLflow run, the report.

Then, unless ``--profile-rows 0``, a profile of :meth:`models.scorer.Scorer.score`
in a fresh process on the feature rows of the first customers (as of the date,
built once, not measured), chunk by chunk on one Python thread as the job's chunks
are cut: each model's ``predict``, the reasons (their path contributions and the
sentences) and the actions, timed inside the whole ``Scorer.score`` of the same rows.

    python bench/score.py --customers 1_000_000 --events 10_000_000
    python bench/score.py --scorer data/scorer --customers 300_000 --events 3_000_000
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
from typing import Any

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


def train_scorer(work: Path, size: str = "default") -> Path:
    """A scorer bundle trained on the demo of ``size`` in ``work/<size>``; returns
    its folder, ``work/scorer-<size>``."""
    from pipeline import datasets, features, generate, labels, train, validate
    from pipeline.config import load_params
    from pipeline.paths import Paths
    from pipeline.wiring.scorer import scorer as build_scorer

    paths = Paths(work / size)
    params = load_params(overrides={
        "generate.size": size,
        **{f"data.{t}": str(paths.demo_input(t))
           for t in ("transactions", "interactions", "customers")}})
    for stage in (generate, validate, features, labels):
        stage.main(params, paths)
    frame = datasets.load_training_frame(paths)
    fitted, _ = train.fit(frame, params)
    test = frame[frame["split"] == "test"]
    scorer = build_scorer(fitted, params, test)
    bundle = work / f"scorer-{size}"
    partial = bundle.with_name(bundle.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    scorer.save(partial)
    partial.rename(bundle)  # only a whole bundle is reused by a later run
    shutil.rmtree(paths.root, ignore_errors=True)
    return bundle


def pyfunc_model(bundle: Path, out: Path) -> Path:
    """The scorer bundle ``bundle`` as an MLflow pyfunc folder ``out`` (rewritten)."""
    import mlflow.pyfunc

    from models.scorer import ChurnScorer

    shutil.rmtree(out, ignore_errors=True)
    mlflow.pyfunc.save_model(str(out), python_model=ChurnScorer(),
                             artifacts={"scorer": str(bundle)})
    return out


def describe_scorer(bundle: Path) -> str:
    """The tree count of each model of the bundle (LightGBM ``num_trees``)."""
    from models.scorer import Scorer

    fitted = Scorer.load(bundle).fitted
    parts = [f"defection candidate {fitted['defection_choice'].candidate}"]
    for name in ("defection", "transition", "value"):
        model = fitted[name]
        if model is None:
            parts.append(f"{name}: no booster")
            continue
        booster = model.booster
        per_round = booster.num_model_per_iteration()
        rounds = f" ({booster.num_trees() // per_round} rounds x {per_round} classes)" \
            if per_round > 1 else ""
        parts.append(f"{name}: {booster.num_trees():,} trees{rounds}")
    return "; ".join(parts)


class _Steps:
    """Wall and CPU seconds of named steps of one process (summed over calls)."""

    def __init__(self) -> None:
        self.took: dict[str, dict[str, float]] = {}

    def add(self, name: str, wall: float, cpu: float) -> None:
        step = self.took.setdefault(name, {"wall": 0.0, "cpu": 0.0})
        step["wall"] += wall
        step["cpu"] += cpu

    def wrap(self, owner: Any, attribute: str, name: Any) -> None:
        """Time every call of ``owner.attribute`` as the step ``name`` (a string, or
        a function of the call's arguments that returns one)."""
        fn = getattr(owner, attribute)

        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name if isinstance(name, str) else name(*args, **kwargs),
                         time.perf_counter() - t0, time.process_time() - c0)

        setattr(owner, attribute, timed)


def _params(root: Path, model: Path, as_of: str, workers: int,
            overrides: dict | None = None) -> Any:
    from pipeline.config import load_params

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return load_params(overrides={"score.model_uri": str(model), "score.as_of": as_of,
                                  "features.workers": workers, **(overrides or {})})


def _score(root: Path, model: Path, as_of: str, workers: int,
           overrides: dict | None = None) -> dict[str, dict[str, float]]:
    """The whole scoring job on ``root`` (``overrides``: more params, e.g. the engine);
    returns the wall and CPU seconds of its steps."""
    from pipeline import score, scoring, tracking
    from pipeline.paths import Paths

    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    params = _params(root, model, as_of, workers, overrides)
    steps = _Steps()
    # The job's steps, as pipeline.score.main calls them.
    for attribute, name in (("load_model", "load the model"),
                            ("checked_date", "check the date"),
                            ("features_as_of", "features as of the date"),
                            ("score_features", "score the chunks"),
                            ("apply_contacts", "budget (contacts)"),
                            ("write_parquet", "drift table"),
                            ("publish_scores", "publish (all sinks)"),
                            ("write_scoring_report", "scoring report")):
        steps.wrap(score, attribute, name)
    steps.wrap(tracking, "log_scoring", "MLflow run")
    steps.wrap(scoring.SpooledScores, "stage",
               lambda self, sink, *a, **k: f"  stage sink {sink.name}")
    score.main(params, Paths(root))
    return steps.took


def _features(root: Path, model: Path, as_of: str, workers: int, out: Path) -> None:
    """The feature rows of the job as of the date, written to ``out`` (set-up of the
    profile)."""
    from pipeline import score
    from pipeline.paths import Paths

    params = _params(root, model, as_of, workers)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    score.features_as_of(params, Paths(root), out, None)


def _profile(bundle: Path, features: Path, rows: int,
             chunk_rows: int) -> dict[str, dict[str, float]]:
    """:meth:`Scorer.score` on the first ``rows`` feature rows in chunks of
    ``chunk_rows``, one chunk after another, with the functions it calls timed where
    it looks them up (so the steps are those of the scorer, not a copy of it)."""
    import pyarrow.parquet as pq

    from models import fitted as fitted_module
    from models import scorer as scorer_module

    scorer = scorer_module.Scorer.load(bundle)
    table = pq.read_table(sorted(features.glob("*.parquet"))).slice(0, rows)
    chunks = [table.slice(i, chunk_rows).to_pandas() for i in range(0, len(table), chunk_rows)]
    scorer.score(chunks[0].head(1000))  # the path tables of the reasons, built once
    steps = _Steps()
    for attribute, name in (("assign_stages", "stages"), ("_design", "design matrix"),
                            ("risk_label", "actions"), ("decide", "actions"),
                            ("grouped_contributions", "reasons: contributions"),
                            ("top_reasons", "reasons: sentences")):
        steps.wrap(scorer_module, attribute, name)
    for attribute, name in (("defection_probability", "predict defection"),
                            ("predict_transition", "predict transition"),
                            ("predict_value", "predict value")):
        steps.wrap(fitted_module, attribute, name)
    steps.wrap(scorer.fitted["calibrator"], "predict", "calibration")
    steps.wrap(scorer_module.Scorer, "score", "Scorer.score (whole)")
    for chunk in chunks:
        scorer.score(chunk)
    return steps.took


def _reference(root: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT customer_id, count(*) AS n, sum(amount) AS s
                    FROM read_parquet('{root / 'data' / 'clean' / 'transactions.parquet'}')
                    GROUP BY customer_id)
                    TO '{root / 'reference.parquet'}' (FORMAT parquet)""")


def _step_table(title: str, runs: list[dict[str, dict[str, float]]], rows: int) -> None:
    """Median and range of each step's wall and CPU seconds over ``runs``."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    print(f"\n{title}\n{'step':<32}{'wall s':>8}{'(range)':>14}{'cpu s':>8}{'(range)':>14}"
          f"{'cpu s/1M rows':>15}")
    for name in names:
        walls = [run.get(name, {}).get("wall", 0.0) for run in runs]
        cpus = [run.get(name, {}).get("cpu", 0.0) for run in runs]
        cpu = statistics.median(cpus)
        print(f"{name:<32}{statistics.median(walls):>8.2f}"
              f"{f'{min(walls):.2f}-{max(walls):.2f}':>14}{cpu:>8.2f}"
              f"{f'{min(cpus):.2f}-{max(cpus):.2f}':>14}{cpu * 1e6 / rows:>15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")),
                        default=1_000_000)
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")),
                        default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="feature chunks at once")
    parser.add_argument("--as-of", default="2025-01-01")
    parser.add_argument("--workdir", default=None, help="where to work (default: a temp dir); "
                        "a scorer trained there by an earlier run is reused")
    parser.add_argument("--scorer", type=Path, default=None,
                        help="a scorer bundle folder (Scorer.save, e.g. data/scorer) to score "
                        "with instead of one trained on the default demo")
    parser.add_argument("--profile-rows", type=lambda s: int(s.replace("_", "")),
                        default=300_000, help="feature rows of the profile of Scorer.score "
                        "(0: no profile)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="churn-bench-score-"))
    t0 = time.perf_counter()
    bundle = args.scorer.resolve() if args.scorer else work / "scorer-default"
    if args.scorer:
        print(f"scorer: {bundle}")
    elif (bundle / "scorer.json").exists():
        print(f"scorer trained on the default demo by an earlier run: {bundle}")
    else:
        measure(train_scorer, work, "default")
        print(f"trained the scorer on the default demo in {time.perf_counter() - t0:.0f} s: "
              f"{bundle}")
    print(describe_scorer(bundle))
    model = pyfunc_model(bundle, work / "model")
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

    profile_rows = min(args.profile_rows, args.customers)
    if profile_rows:
        features = work / "features-as-of"
        measure(_features, root, model, args.as_of, args.workers, features)
        from pipeline.config import load_params

        chunk_rows = load_params().score.chunk_rows
    runs: dict[str, list[dict[str, float]]] = {"reference": [], "score": []}
    profiles: list[dict[str, dict[str, float]]] = []
    for _ in range(args.repeat):  # interleaved, so a noisy minute hits all alike
        runs["reference"].append(measure(_reference, root))
        runs["score"].append(measure(_score, root, model, args.as_of, args.workers))
        if profile_rows:
            profiles.append(measure(_profile, bundle, features, profile_rows,
                                    chunk_rows)["result"])

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
    cpus = ", ".join(f"{r['cpu']:.1f}" for r in runs["score"])
    print(f"score runs: walls {walls} s, CPU {cpus} s")
    _step_table(f"steps of the score job ({args.repeat} runs; a sink's staging is part of "
                "the publish)", [r["result"] for r in runs["score"]], args.customers)
    if profiles:
        _step_table(f"Scorer.score on {profile_rows:,} feature rows, chunks of "
                    f"{chunk_rows:,} one after another ({args.repeat} runs)", profiles,
                    profile_rows)


if __name__ == "__main__":
    main()
