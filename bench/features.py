"""Benchmark of the feature stage on generated clean tables.

Generates N events for C customers straight into the clean Parquet layout
(the validation stage is not part of this measurement), then, in the same
process and on the same files:

* a reference pass: a bare DuckDB ``GROUP BY customer_id`` count and sum over
  the transactions, written to Parquet;
* the feature build for 1 cutoff and for 12 cutoffs (``--cutoffs``);
* with ``--sql``, a hand-written DuckDB query for a similar feature set at one
  cutoff (what a single query costs for this much output);
* with ``--steps``, the CPU seconds of each step of a build at each cutoff count.

Each is repeated ``--repeat`` times; the medians of wall time and CPU time are
printed with events/s, the peak RSS of a run (each run in a fresh child
process, so peaks do not mask each other), the ratios to the reference and to
the build at 1 cutoff (in wall time and in CPU time: on shared cores, CPU time
is the steadier of the two).

    python bench/features.py --events 10_000_000 --customers 1_000_000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the `features` package: run as a script, its own folder
# would come first on sys.path and hide the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import duckdb  # noqa: E402

from features.engines.duckdb import build_features, connect  # noqa: E402
from features.schema import N_PARTITIONS  # noqa: E402
from features.spec import FeatureSpec  # noqa: E402
from pipeline.engine import partitions_per_chunk  # noqa: E402
from pipeline.params import FeaturesParams  # noqa: E402

KINDS = ("support_ticket", "complaint", "survey", "email_open", "web_visit", "call")


def generate(out: Path, *, events: int, customers: int, seed: int = 7) -> dict[str, Path]:
    """Write clean transactions (70% of events), interactions (30%) and customers."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    n_tx, n_ix = int(events * 0.7), events - int(events * 0.7)
    con.execute(f"""
        CREATE TABLE ids AS
        SELECT printf('C%09d', i) AS customer_id,
               (md5_number(printf('C%09d', i)) % {N_PARTITIONS})::INTEGER AS bucket
        FROM range({customers}) t(i)""")
    con.execute("""
        CREATE TABLE keys AS
        SELECT customer_id, bucket, row_number() OVER (ORDER BY bucket, customer_id) - 1
               AS customer_key
        FROM ids""")
    span = 1095 * 86400
    paths = {name: out / f"{name}.parquet"
             for name in ("transactions", "interactions", "customers", "customer_index")}
    con.execute(f"""COPY (SELECT customer_key, customer_id, bucket FROM keys ORDER BY customer_key)
                    TO '{paths['customer_index']}' (FORMAT parquet)""")
    con.execute(f"""
        COPY (
          SELECT k.customer_key, k.customer_id,
                 TIMESTAMP '2022-01-01' + to_seconds((random() * {span})::BIGINT) AS timestamp,
                 round(CASE WHEN random() < 0.02 THEN -random() * 50 ELSE random() * 120 END, 2)
                   AS amount,
                 NULL::VARCHAR AS transaction_id, NULL::DOUBLE AS quantity,
                 NULL::VARCHAR AS channel, NULL::VARCHAR AS category, NULL::DOUBLE AS discount,
                 k.bucket, 'bench'::VARCHAR AS source_file, t.i AS source_line
          FROM (SELECT i, (random() * {customers})::BIGINT % {customers} AS ck
                FROM range({n_tx}) r(i)) t
          JOIN keys k ON k.customer_key = t.ck
        ) TO '{paths['transactions']}.unsorted' (FORMAT parquet)""")
    unsorted = f"{paths['transactions']}.unsorted"
    con.execute(f"""
        COPY (SELECT *, amount < 0 AS is_refund FROM read_parquet('{unsorted}')
              ORDER BY bucket, customer_id, timestamp)
        TO '{paths['transactions']}' (FORMAT parquet, ROW_GROUP_SIZE 500000)""")
    kinds = "[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    con.execute(f"""
        COPY (
          SELECT k.customer_key, k.customer_id,
                 TIMESTAMP '2022-01-01' + to_seconds((random() * {span})::BIGINT) AS timestamp,
                 {kinds}[1 + (random() * 6)::INTEGER % 6] AS kind,
                 NULL::VARCHAR AS channel,
                 CASE WHEN random() < 0.1 THEN 1 + (random() * 4)::INTEGER END::DOUBLE
                   AS satisfaction,
                 CASE WHEN random() < 0.1 THEN random() < 0.7 END AS resolved,
                 CASE WHEN random() < 0.1 THEN random() * 72 END AS resolution_hours,
                 k.bucket, 'bench'::VARCHAR AS source_file, t.i AS source_line
          FROM (SELECT i, (random() * {customers})::BIGINT % {customers} AS ck
                FROM range({n_ix}) r(i)) t
          JOIN keys k ON k.customer_key = t.ck
          ORDER BY k.bucket, k.customer_id, timestamp
        ) TO '{paths['interactions']}' (FORMAT parquet, ROW_GROUP_SIZE 500000)""")
    con.execute(f"""
        COPY (SELECT customer_key, customer_id, NULL::TIMESTAMP AS signup_date,
                     NULL::VARCHAR AS segment, NULL::VARCHAR AS relationship_type,
                     bucket, 'bench'::VARCHAR AS source_file, customer_key AS source_line
              FROM keys WHERE false)
        TO '{paths['customers']}' (FORMAT parquet)""")
    os.unlink(unsorted)
    (out / "generated.json").write_text(json.dumps(
        {"events": events, "customers": customers, "seed": seed}))
    return paths


def reuse(out: Path, *, events: int, customers: int, seed: int = 7) -> dict[str, Path] | None:
    """The tables :func:`generate` left in ``out`` for the same arguments, if any."""
    marker = out / "generated.json"
    if not marker.exists() or json.loads(marker.read_text()) != {
            "events": events, "customers": customers, "seed": seed}:
        return None
    return {name: out / f"{name}.parquet"
            for name in ("transactions", "interactions", "customers", "customer_index")}


def _reference(clean: dict[str, Path], out: Path, threads: int | None) -> None:
    con = connect(threads=threads)
    con.execute(f"""COPY (SELECT customer_id, count(*) AS n, sum(amount) AS s
                    FROM read_parquet('{clean['transactions']}') GROUP BY customer_id)
                    TO '{out / 'reference.parquet'}' (FORMAT parquet)""")


def _sql_features(clean: dict[str, Path], out: Path, threads: int | None) -> None:
    """A hand-written DuckDB query for a feature set like the kernel's, at one cutoff.

    The same families (RFM over all time and the windows, gap mean, median,
    deviation and last gap, trends, refunds, counts and days since the last of
    each interaction kind, resolution rate, hours and unresolved count,
    satisfaction count, mean and last, RFM quintiles by ``ntile``), each as a
    plain SQL aggregate: a measure of what a single query costs, not a second
    implementation (it skips the prior gap median and the exact fixed-point sums).
    """
    spec, cutoff = FeatureSpec(), "DATE '2024-12-01'"
    T = spec.trend_days
    age = f"({cutoff} - timestamp::DATE)"
    buy = "NOT is_refund"
    tx = [f"count(*) FILTER ({buy}) AS frequency",
          f"sum(amount) FILTER ({buy}) AS monetary_sum",
          f"avg(amount) FILTER ({buy}) AS monetary_mean",
          f"min({age}) FILTER ({buy}) AS recency_days",
          f"max({age}) FILTER ({buy}) AS days_since_first_purchase",
          "count(*) FILTER (is_refund) AS refund_count",
          "-sum(amount) FILTER (is_refund) AS refund_amount",
          f"count(*) FILTER (is_refund AND {age} <= {T}) AS refund_count_{T}d",
          f"count(*) FILTER ({buy} AND {age} <= {T}) - count(*) FILTER ({buy} AND {age} > {T} "
          f"AND {age} <= {2 * T}) AS frequency_trend_{T}d",
          f"(sum(amount) FILTER ({buy} AND {age} <= {T}) - sum(amount) FILTER ({buy} AND {age} "
          f"> {T} AND {age} <= {2 * T})) / sum(amount) FILTER ({buy} AND {age} > {T} AND {age} "
          f"<= {2 * T}) AS monetary_trend_{T}d"]
    for w in spec.windows_days:
        tx += [f"count(*) FILTER ({buy} AND {age} <= {w}) AS frequency_{w}d",
               f"sum(amount) FILTER ({buy} AND {age} <= {w}) AS monetary_sum_{w}d",
               f"avg(amount) FILTER ({buy} AND {age} <= {w}) AS monetary_mean_{w}d"]
    ix = ["count(satisfaction) AS satisfaction_count",
          "avg(satisfaction) AS satisfaction_mean",
          "arg_max(satisfaction, timestamp) FILTER (satisfaction IS NOT NULL) "
          "AS satisfaction_last"]
    for k in spec.interaction_kinds:
        ix += [f"count(*) FILTER (kind = '{k}' AND {age} <= {w}) AS {k}_count_{w}d"
               for w in spec.windows_days]
        ix.append(f"min({age}) FILTER (kind = '{k}') AS {k}_days_since_last")
    done = (f"resolved AND timestamp + to_microseconds((coalesce(resolution_hours, 0) "
            f"* 3600e6)::BIGINT) < {cutoff}")
    for k in spec.resolution_kinds:
        ix += [f"count(*) FILTER (kind = '{k}' AND {done}) / count(*) FILTER (kind = '{k}') "
               f"AS {k}_resolved_rate",
               f"avg(resolution_hours) FILTER (kind = '{k}' AND {done}) "
               f"AS {k}_resolution_hours_mean",
               f"count(*) FILTER (kind = '{k}' AND {age} <= {T} AND NOT coalesce({done}, false)) "
               f"AS {k}_unresolved_{T}d"]
    con = connect(threads=threads)
    con.execute(f"""COPY (
        WITH t AS (SELECT customer_key, timestamp, amount, is_refund
                   FROM read_parquet('{clean['transactions']}') WHERE timestamp < {cutoff}),
        i AS (SELECT * FROM read_parquet('{clean['interactions']}') WHERE timestamp < {cutoff}),
        g AS (SELECT customer_key, timestamp, timestamp::DATE - lag(timestamp::DATE)
                     OVER (PARTITION BY customer_key ORDER BY timestamp) AS gap
              FROM t WHERE NOT is_refund),
        ta AS (SELECT customer_key, {', '.join(tx)} FROM t GROUP BY customer_key),
        ga AS (SELECT customer_key, avg(gap) AS gap_mean_days, median(gap) AS gap_median_days,
                      stddev_samp(gap) AS gap_std_days, arg_max(gap, timestamp) AS last_gap_days
               FROM g GROUP BY customer_key),
        ia AS (SELECT customer_key, {', '.join(ix)} FROM i GROUP BY customer_key),
        f AS (SELECT * FROM ta LEFT JOIN ga USING (customer_key)
              FULL OUTER JOIN ia USING (customer_key))
        SELECT c.customer_id, {cutoff} AS cutoff, f.*,
               f.recency_days / (1 + f.gap_median_days) AS recency_gap_ratio,
               CASE WHEN f.frequency > 0 THEN ntile(5) OVER (PARTITION BY f.frequency > 0
                    ORDER BY f.recency_days DESC) END AS rfm_recency_score,
               CASE WHEN f.frequency > 0 THEN ntile(5) OVER (PARTITION BY f.frequency > 0
                    ORDER BY f.frequency) END AS rfm_frequency_score,
               CASE WHEN f.frequency > 0 THEN ntile(5) OVER (PARTITION BY f.frequency > 0
                    ORDER BY f.monetary_mean) END AS rfm_monetary_score
        FROM f JOIN read_parquet('{clean['customer_index']}') c USING (customer_key)
    ) TO '{out / 'sql_features.parquet'}' (FORMAT parquet)""")


def _cutoffs(n_cutoffs: int) -> list[dt.date]:
    """The data spans 2022 to 2024; the cutoffs are the last ``n`` month starts of 2024."""
    return [dt.date(2024, m, 1) for m in range(13 - n_cutoffs, 13)]


def _features(clean: dict[str, Path], out: Path, threads: int | None, n_cutoffs: int,
              partitions_per_chunk: int, memory_limit: str | None, workers: int) -> None:
    con = connect(threads=threads, memory_limit=memory_limit)
    target = out / f"features_{n_cutoffs}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    build_features(con, clean=clean, cutoffs=_cutoffs(n_cutoffs), spec=FeatureSpec(),
                   out_dir=target, partitions_per_chunk=partitions_per_chunk, workers=workers)


def _steps(clean: dict[str, Path], out: Path, partitions_per_chunk: int,
           n_cutoffs: int) -> dict[str, float]:
    """CPU seconds of each step of a build at ``n_cutoffs``, chunk after chunk on one thread.

    Left out: the RFM pre-pass's staging files and quantiles (at 12 cutoffs of
    10 M events, about 1.3 CPU seconds of DuckDB quantiles) and the build's second
    read of the transactions (about half of "read" again). The RFM scores use each
    chunk's own edges."""
    import numpy as np
    import pyarrow.parquet as pq

    from features import build, partition
    from features.engines.duckdb import KERNEL_COLUMNS, PARQUET_OPTIONS, _read, chunks
    from features.rfm_scores import rfm_edges

    con = connect(threads=1)
    spec, cutoffs = FeatureSpec(), _cutoffs(n_cutoffs)
    schema = build.feature_table(spec).arrow_schema()
    took = dict.fromkeys(["numba start-up", "read", "rfm pass", "prepare", "kernel", "rows",
                          "write"], 0.0)

    def step(name, fn, *args):
        start = time.process_time()
        result = fn(*args)
        took[name] += time.process_time() - start
        return result

    step("numba start-up", build.warm_up)
    for lo, hi in chunks(partitions_per_chunk):
        t = step("read", lambda lo=lo, hi=hi: {
            n: _read(con, clean[n], n, lo, hi, spec.interaction_kinds) for n in KERNEL_COLUMNS})
        values = step("rfm pass", build.rfm_values, t["transactions"], t["customer_index"],
                      cutoffs)
        edges = rfm_edges(values)
        parts = dict(took)
        customers = step("prepare", partition.Customers, t["customer_index"])
        purchases = step("prepare", partition.Purchases, t["transactions"],
                         customers.codes(t["transactions"]), customers.n
                         ).walk(spec.windows_days, spec.trend_days)
        interactions = step("prepare", partition.Interactions, t["interactions"],
                            customers.codes(t["interactions"]), customers.n, spec
                            ).walk(spec.windows_days, spec.trend_days)
        everyone = np.arange(customers.n)
        for c in partition.cutoff_days(cutoffs):
            step("kernel", purchases.at, c, everyone)
            step("kernel", purchases.refunds_at, c, everyone)
            step("kernel", interactions.at, c, everyone)
        batches = build.iter_features(t["transactions"], t["interactions"], t["customers"],
                                      t["customer_index"], cutoffs, spec, edges)
        with pq.ParquetWriter(out / "steps.parquet", schema, **PARQUET_OPTIONS) as w:
            while (batch := step("rows", next, batches, None)) is not None:
                step("write", w.write_batch, batch)
        # The rows: the whole of iter_features but its preparing and its kernel.
        took["rows"] -= sum(took[k] - parts[k] for k in ("prepare", "kernel"))
    return took


def high_water_mb(pid: int | str = "self") -> float | None:
    """A process's own peak resident memory in MB (Linux ``VmHWM``); None where the
    system does not give it or the process is gone.

    Not ``ru_maxrss``, which Linux carries across ``exec``: a spawned child would
    report at least the memory its parent held when it started it."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _child(fn, args, queue) -> None:  # pragma: no cover - runs in a child process
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args)
    queue.put({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
               "peak_rss_mb": high_water_mb()
               or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "result": result})


def measure(fn, *args, start_method: str = "fork") -> dict[str, float]:
    """Run ``fn(*args)`` in a fresh process; wall, CPU seconds and peak RSS.

    ``start_method="spawn"`` where the parent has started LightGBM's OpenMP
    runtime, which does not survive a fork (the child hangs). A forked child's
    peak RSS counts the pages it shares with the parent: the tables a parent
    generated in the same run are in it.
    """
    ctx = mp.get_context(start_method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")),
                        default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--partitions-per-chunk", type=int, default=None,
                        help="default: as the features stage chooses for --events-per-chunk")
    parser.add_argument("--events-per-chunk", type=lambda s: int(s.replace("_", "")),
                        default=FeaturesParams().events_per_chunk)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--workers", type=int, default=2, help="chunks computed at once")
    parser.add_argument("--cutoffs", default="1,12", help="comma-separated cutoff counts")
    parser.add_argument("--sql", action="store_true", help="also time a hand-written DuckDB "
                        "query for a similar feature set at one cutoff")
    parser.add_argument("--steps", action="store_true", help="also print the CPU seconds of "
                        "each step of a build at each number of cutoffs, chunk after chunk "
                        "on one thread")
    parser.add_argument("--workdir", default=None, help="where to generate (default: a temp "
                        "dir); tables generated there before with the same sizes are reused")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="churn-bench-"))
    clean = reuse(work / "clean", events=args.events, customers=args.customers)
    if clean:
        print(f"reusing {args.events:,} events for {args.customers:,} customers under {work}")
    else:
        t0 = time.perf_counter()
        clean = generate(work / "clean", events=args.events, customers=args.customers)
        print(f"generated {args.events:,} events for {args.customers:,} customers in "
              f"{time.perf_counter() - t0:.1f} s under {work}")
    if args.partitions_per_chunk is None:
        args.partitions_per_chunk = partitions_per_chunk(duckdb.connect(), clean,
                                                         args.events_per_chunk, args.workers)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, duckdb {duckdb.__version__}; "
          f"{args.partitions_per_chunk} partitions per chunk, {args.workers} workers")

    runs: dict[str, list[dict[str, float]]] = {"reference": []}
    counts = [int(c) for c in args.cutoffs.split(",")]
    for k in counts:
        runs[f"{k} cutoff(s)"] = []
    if args.sql:
        runs["SQL, 1 cutoff"] = []
    for _ in range(args.repeat):  # interleaved, so a noisy minute hits all alike
        runs["reference"].append(measure(_reference, clean, work, args.threads))
        if args.sql:
            runs["SQL, 1 cutoff"].append(measure(_sql_features, clean, work, args.threads))
        for k in counts:
            runs[f"{k} cutoff(s)"].append(measure(
                _features, clean, work, args.threads, k, args.partitions_per_chunk,
                args.memory_limit, args.workers))

    ref = statistics.median(r["wall"] for r in runs["reference"])
    ref_cpu = statistics.median(r["cpu"] for r in runs["reference"])
    one = one_cpu = None
    print(f"\n{'pass':<16}{'wall s':>9}{'cpu s':>9}{'Mevents/s':>11}{'peak RSS MB':>13}"
          f"{'x ref wall':>12}{'x ref cpu':>11}{'x 1 wall':>10}{'x 1 cpu':>9}")
    summary = {}
    for name, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        rss = max(r["peak_rss_mb"] for r in rs)
        if name.startswith("1 "):
            one, one_cpu = wall, cpu
        vs_one = (f"{wall / one:>10.2f}{cpu / one_cpu:>9.2f}" if one and name != "reference"
                  else f"{'-':>10}{'-':>9}")
        print(f"{name:<16}{wall:>9.2f}{cpu:>9.2f}{args.events / wall / 1e6:>11.2f}{rss:>13.0f}"
              f"{wall / ref:>12.2f}{cpu / ref_cpu if ref_cpu else float('nan'):>11.2f}"
              f"{vs_one}")
        summary[name] = {"wall_median_s": wall, "cpu_median_s": cpu, "peak_rss_mb": rss,
                         "walls": [r["wall"] for r in rs], "cpus": [r["cpu"] for r in rs]}
    if args.steps:
        took = {k: measure(_steps, clean, work, args.partitions_per_chunk, k)["result"]
                for k in counts}
        summary["steps_cpu_s"] = {f"{k} cutoff(s)": t for k, t in took.items()}
        print(f"\n{'step (1 thread)':<18}"
              + "".join(f"{f'cpu s, {k} cut.':>16}{'share':>7}" for k in counts))
        for name in took[counts[0]]:
            print(f"{name:<18}" + "".join(
                f"{took[k][name]:>16.2f}{took[k][name] / sum(took[k].values()):>7.0%}"
                for k in counts))
        print(f"{'total':<18}" + "".join(f"{sum(took[k].values()):>16.2f}{'':7}" for k in counts))
    print("\n" + json.dumps({"events": args.events, "customers": args.customers,
                             "runs": summary}, indent=1))


if __name__ == "__main__":
    main()
