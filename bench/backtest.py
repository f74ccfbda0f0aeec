"""Backtest on a real transaction log: the deployed model against the classic baselines.

For each scoring date ``D`` and horizon ``H``: a fresh project sees only the
transactions before ``D`` (transactions only, every parameter at its default but
the data paths, ``labels.horizon_days = H`` and ``score.as_of = D``), and runs the
pipeline's stages as a user would (``validate``, ``features``, ``labels``,
``train``, ``evaluate``, ``score``, each ``python -m pipeline.<stage>``, MLflow in
the project). The scored ``p_defect`` of every customer who bought before ``D`` is
then compared with what happened: no purchase on the days ``[D, D + H)``.

Baselines, fitted on the same history (the events before ``D``):

* ``recency``: days since the last purchase (a ranking only, no probability);
* ``bgnbd``: BG/NBD (:class:`models.bgnbd.BetaGeoModel`, weeks), P(no purchase in H);
* ``paretonbd``: Pareto/NBD, P(no purchase in H), when :mod:`models.paretonbd` exists.

Printed per date and horizon: buyers, defection rate, and for the model and each
baseline ROC-AUC with a bootstrap interval, ECE (10 equal-frequency bins) and the
lift in the top decile; the model's mean probability against the observed rate, with
the ECE it would have at the observed level (its log-odds shifted by one constant:
what knowing the window's rate would leave); then the paired bootstrap AUC
difference of the model to the best baseline. The defaults use the CDNOW 1/10 sample
(2,357 customers, 1997-01 to 1998-06), read from the ``lifetimes`` wheel of the package index,
downloaded once into ``--workdir`` (it is not part of this project)::

    python bench/backtest.py                       # CDNOW sample, 4 dates, 56 and 91 days
    python bench/backtest.py --transactions my.csv --dates 2024-03-01,2024-06-01
    python bench/backtest.py --reuse               # evaluate the runs in --workdir again

A ``--transactions`` file is a CSV with ``customer_id``, ``timestamp``, ``amount``
(and optionally ``quantity``). The full CDNOW master log is kept for an independent
check of what is tuned here: ``--cdnow master`` reads it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import brentq
from scipy.special import expit

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path and its features.py
# would hide the `features` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))

from models.bgnbd import BetaGeoModel  # noqa: E402
from models.btyd_data import summary_from_events  # noqa: E402
from models.calibration import expected_calibration_error  # noqa: E402
from models.comparison import paired_bootstrap_auc_diff  # noqa: E402
from models.metrics import defection_metrics  # noqa: E402

WHEEL = "lifetimes==0.11.3"
STAGES = ("validate", "features", "labels", "train", "evaluate", "score")
DEFAULT_DATES = "1997-10-01,1997-12-01,1998-02-01,1998-04-01"


def cdnow(workdir: Path, which: str = "sample") -> pd.DataFrame:
    """The CDNOW log (``sample`` or ``master``) as customer_id, timestamp, amount, quantity,
    from the lifetimes wheel (downloaded with pip into ``workdir`` once)."""
    wheels = workdir / "wheels"
    found = sorted(wheels.glob("[Ll]ifetimes-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "-d", str(wheels), WHEEL], check=True)
        found = sorted(wheels.glob("[Ll]ifetimes-*.whl"))
    with zipfile.ZipFile(found[0]) as wheel:
        text = wheel.read(f"lifetimes/datasets/CDNOW_{which}.txt").decode()
    rows = [line.split() for line in text.splitlines() if line.strip()]
    # sample: original id, sample id, date, quantity, amount; master: id, date, quantity, amount
    frame = (pd.DataFrame(rows, columns=["original_id", "customer_id", "date", "quantity",
                                         "amount"]) if which == "sample" else
             pd.DataFrame(rows, columns=["customer_id", "date", "quantity", "amount"]))
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype(int).astype(str),
        "timestamp": pd.to_datetime(frame["date"], format="%Y%m%d"),
        "amount": frame["amount"].astype(float),
        "quantity": frame["quantity"].astype(int),
    })


def read_log(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def run_pipeline(log: pd.DataFrame, date: dt.date, horizon: int, folder: Path,
                 overrides: dict) -> tuple[pd.DataFrame, float]:
    """The pipeline on the events before ``date`` in a new project; the scored rows and
    the CPU seconds of the stages."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data" / "raw").mkdir(parents=True)
    before = log[log["timestamp"] < pd.Timestamp(date)]
    before.to_csv(folder / "data" / "raw" / "transactions.csv", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    values = {"data.transactions": "data/raw/transactions.csv", "data.interactions": None,
              "data.customers": None, "labels.horizon_days": horizon,
              "score.as_of": date.isoformat(), **overrides}
    for dotted, value in values.items():
        node = params
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "CHURN_PROJECT_DIR": str(folder),
           "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cpu = 0.0
    for stage in STAGES:
        before_cpu = os.times()
        result = subprocess.run([sys.executable, "-m", f"pipeline.{stage}"], cwd=folder,
                                env=env, capture_output=True, text=True)
        after_cpu = os.times()
        cpu += (after_cpu.children_user - before_cpu.children_user
                + after_cpu.children_system - before_cpu.children_system)
        if result.returncode:
            raise SystemExit(f"{stage} failed on {date} (H={horizon}), exit "
                             f"{result.returncode}:\n{result.stderr[-3000:]}")
    scores = pd.read_parquet(folder / "data" / "scores" / f"as_of={date.isoformat()}")
    return scores, cpu


def baselines(log: pd.DataFrame, date: dt.date, horizon: int,
              customers: pd.Index) -> dict[str, np.ndarray]:
    """Each baseline's defection score for ``customers``, fitted on the events before
    ``date``."""
    before = log[log["timestamp"] < pd.Timestamp(date)]
    summary = summary_from_events(before["customer_id"], before["timestamp"], date,
                                  unit_days=7.0).reindex(customers)
    last = before.groupby("customer_id")["timestamp"].max().reindex(customers)
    out = {"recency": ((pd.Timestamp(date) - last).dt.days).to_numpy(dtype=float)}
    x, t_x, big_t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    bg = BetaGeoModel().fit(x, t_x, big_t)
    out["bgnbd"] = np.asarray(bg.p_no_purchase(horizon / 7.0, x, t_x, big_t))
    try:
        from models.paretonbd import ParetoNBDModel
    except ImportError:
        return out
    pnbd = ParetoNBDModel().fit(x, t_x, big_t)
    out["paretonbd"] = np.asarray(pnbd.conditional_probability_no_purchase(
        horizon / 7.0, x, t_x, big_t))
    return out


def evaluate_date(log: pd.DataFrame, date: dt.date, horizon: int, scores: pd.DataFrame,
                  *, n_boot: int, seed: int) -> dict:
    buyers = scores[scores["stage"] != "prospect"].set_index("customer_id")
    end = pd.Timestamp(date) + pd.Timedelta(days=horizon)
    window = log[(log["timestamp"] >= pd.Timestamp(date)) & (log["timestamp"] < end)]
    y = ~buyers.index.isin(window["customer_id"].unique())
    p_model = buyers["p_defect"].to_numpy(dtype=float)
    rows = {"model": p_model, **baselines(log, date, horizon, buyers.index)}
    out = {"date": date.isoformat(), "horizon_days": horizon, "buyers": int(len(buyers)),
           "defection_rate": round(float(y.mean()), 4), "methods": {}}
    for name, p in rows.items():
        m = defection_metrics(y, p if name != "recency" else _ranks(p))
        ci = paired_bootstrap_auc_diff(y, p, np.full(len(p), 0.5), n_boot=n_boot, seed=seed)
        out["methods"][name] = {
            "roc_auc": m["roc_auc"], "auc_low": 0.5 + ci["ci_low"], "auc_high": 0.5 + ci["ci_high"],
            "ece": (float(expected_calibration_error(y, p, n_bins=10))
                    if name != "recency" else None),
            "mean_p": float(p.mean()) if name != "recency" else None,
            "lift_top_decile": m["lift_top_decile"]}
    out["methods"]["model"]["ece_floor"] = ece_floor(p_model, seed=seed)
    out["methods"]["model"]["ece_at_level"] = float(expected_calibration_error(
        y, at_level(p_model, float(y.mean())), n_bins=10))
    base = {k: v for k, v in out["methods"].items() if k != "model"}
    best = max(base, key=lambda k: base[k]["roc_auc"])
    diff = paired_bootstrap_auc_diff(y, p_model, rows[best], n_boot=n_boot, seed=seed)
    out["vs_best_baseline"] = {"baseline": best, **diff}
    return out


def ece_floor(p: np.ndarray, *, draws: int = 200, seed: int = 0) -> float:
    """The median ECE of a perfectly calibrated forecast ``p``: outcomes drawn with the
    probabilities ``p`` themselves, on as many customers. What sampling noise alone
    gives; a model's ECE near it is as good as this sample can tell."""
    rng = np.random.default_rng(seed)
    return float(np.median([expected_calibration_error(rng.random(p.size) < p, p, n_bins=10)
                            for _ in range(draws)]))


def at_level(p: np.ndarray, level: float) -> np.ndarray:
    """``p`` with its log-odds shifted by the one constant that makes its mean ``level``.

    The ECE of the shifted forecast is the part of the calibration error a known
    population rate would not remove: the shape of the map, not its level."""
    z = np.log(np.clip(p, 1e-6, 1 - 1e-6)) - np.log1p(-np.clip(p, 1e-6, 1 - 1e-6))
    shift = brentq(lambda c: float(expit(z + c).mean()) - level, -20.0, 20.0)
    return expit(z + shift)


def chosen_candidate(folder: Path) -> str | None:
    """The defection candidate the run's ``train`` chose (``reports/train.json``)."""
    report = folder / "reports" / "train.json"
    if not report.exists():
        return None
    return json.loads(report.read_text()).get("defection_choice", {}).get("chosen")


def _ranks(values: np.ndarray) -> np.ndarray:
    """A score in [0, 1] that orders like ``values`` (for the metrics that need one)."""
    return pd.Series(values).rank(pct=True).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=Path, help="CSV log (default: CDNOW sample)")
    parser.add_argument("--cdnow", choices=("sample", "master"), default="sample")
    parser.add_argument("--dates", default=DEFAULT_DATES, help="scoring dates, comma-separated")
    parser.add_argument("--horizons", default="56,91", help="horizons in days, comma-separated")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "backtest")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("-S", "--set", action="append", default=[], dest="set_",
                        help="a param of every run, e.g. -S train.bgnbd_features=always")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate the scores already in --workdir instead of running the "
                             "pipeline again (same log, dates, horizons and overrides)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = read_log(args.transactions) if args.transactions else cdnow(args.workdir, args.cdnow)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set_)}
    print(f"log: {len(log):,} transactions of {log['customer_id'].nunique():,} customers, "
          f"{log['timestamp'].min():%Y-%m-%d} to {log['timestamp'].max():%Y-%m-%d}; "
          f"overrides {overrides or 'none'}", flush=True)
    results = []
    for horizon in (int(h) for h in args.horizons.split(",")):
        for date in (dt.date.fromisoformat(d) for d in args.dates.split(",")):
            if pd.Timestamp(date) + pd.Timedelta(days=horizon) > log["timestamp"].max() + \
                    pd.Timedelta(days=1):
                print(f"{date} H={horizon}: the window runs past the log, skipped")
                continue
            started = time.perf_counter()
            folder = args.workdir / f"run-{date}-{horizon}"
            scored = folder / "data" / "scores" / f"as_of={date.isoformat()}"
            if args.reuse and scored.exists():
                scores, cpu = pd.read_parquet(scored), float("nan")
            else:
                scores, cpu = run_pipeline(log, date, horizon, folder, overrides)
            result = evaluate_date(log, date, horizon, scores, n_boot=args.bootstrap, seed=0)
            result["candidate"] = chosen_candidate(folder)
            result["seconds"], result["cpu_seconds"] = (round(time.perf_counter() - started, 1),
                                                        round(cpu, 1))
            results.append(result)
            _print(result)
    _summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _print(r: dict) -> None:
    print(f"\n{r['date']}  H={r['horizon_days']}d  buyers {r['buyers']:,}  defection rate "
          f"{r['defection_rate']:.3f}  ({r['seconds']} s, {r['cpu_seconds']} CPU-s)  "
          f"defection model: {r.get('candidate') or '?'}")
    print(f"  {'method':<10} {'ROC-AUC':>8} {'95% interval':>16} {'ECE':>7} {'lift@10%':>9}")
    for name, m in r["methods"].items():
        ece = f"{m['ece']:.4f}" if m["ece"] is not None else "-"
        print(f"  {name:<10} {m['roc_auc']:8.4f} [{m['auc_low']:.4f}, {m['auc_high']:.4f}] "
              f"{ece:>7} {m['lift_top_decile']:9.3f}")
    model = r["methods"]["model"]
    print(f"  ECE of a perfectly calibrated forecast on these customers: "
          f"{model['ece_floor']:.4f} (median of 200 draws)")
    print(f"  level: model's mean p_defect {model['mean_p']:.4f} against {r['defection_rate']:.4f} "
          f"observed; at the observed level the model's ECE is {model['ece_at_level']:.4f}")
    v = r["vs_best_baseline"]
    print(f"  model - {v['baseline']}: {v['diff']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]")


def _summary(results: list[dict]) -> None:
    if not results:
        return
    print("\nper horizon, averaged over the dates:")
    for horizon in sorted({r["horizon_days"] for r in results}):
        mine = [r for r in results if r["horizon_days"] == horizon]
        diffs = [r["vs_best_baseline"]["diff"] for r in mine]
        eces = [r["methods"]["model"]["ece"] for r in mine]
        floors = [r["methods"]["model"]["ece_floor"] for r in mine]
        print(f"  H={horizon}d: {len(mine)} dates, model - best baseline {np.mean(diffs):+.4f} "
              f"(min {min(diffs):+.4f}), model ECE mean {np.mean(eces):.4f} "
              f"(max {max(eces):.4f}; a calibrated forecast's {np.mean(floors):.4f})")


if __name__ == "__main__":
    main()
