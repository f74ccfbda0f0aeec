"""DVC stage and batch job ``score``: every customer as of a date, into the analysts' tables.

1. Load the scorer from the MLflow registry (``models:/<name>@champion`` unless
   ``score.model_uri`` or ``--model-uri`` says otherwise) and check that it was
   trained on the feature schema and stage rules of these params.
2. Build the features as of the date (events on days before it) for every
   customer seen before it, prospects included, bucket by bucket.
3. Score them chunk by chunk (:meth:`models.scorer.Scorer.score`): stage, next
   stage, calibrated defection probability, risk label, predicted value, value
   at risk, value tier, action, the policy rule that chose it, three reasons.
4. Compare the scored population with the training reference (population
   stability index of every feature and of ``p_defect``).
5. Write the rows to the sinks (Parquet dataset, DuckDB file, PostgreSQL when a
   URL is given), replacing that date's rows, and the drift table beside them;
   log the run to MLflow; write ``reports/score.json`` and print a summary.

With ``fail_on_drift`` a drifted population is not published: the drift table
and the report are written, the sinks are left as they were, and the job ends
with :class:`DriftError` (exit code 7).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.engines.duckdb import build_features
from features.schema import CUSTOMER_SCORES
from features.spec import feature_table
from models.feature_schema import schema_difference
from models.scorer import Scorer
from pipeline import tracking
from pipeline.config import PATHS, ConfigError, Params, Paths, load_params
from pipeline.features import feature_spec, open_clean, partitions_per_chunk
from pipeline.io import write_json, write_parquet
from pipeline.labels import stage_rules
from pipeline.progress import steps
from pipeline.sinks import PARQUET_FILE, validate_scores

log = logging.getLogger("churn")


class ModelUnavailableError(RuntimeError):
    """The model to score with cannot be loaded (no such model, version or alias;
    tracking server unreachable)."""


class ModelMismatchError(ValueError):
    """The model was trained on other features or other stage rules than params say."""


class DriftError(RuntimeError):
    """The scored population drifted from the training reference (``--fail-on-drift``)."""


@dataclass(frozen=True)
class LoadedModel:
    """A scorer with where it came from."""

    scorer: Scorer
    uri: str
    name: str
    version: str | None
    run_id: str | None


def log_event(event: str, **fields: Any) -> None:
    """One structured log line: ``event key=value ...`` (values with spaces quoted)."""
    def text(value: Any) -> str:
        value = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f'"{value}"' if re.search(r"\s", value) or not value else value
    log.info("%s %s", event, " ".join(f"{k}={text(v)}" for k, v in fields.items()))


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def model_uri(params: Params) -> str:
    """The model to score with: ``score.model_uri``, else the registered champion."""
    return params.score.model_uri or f"models:/{params.train.registered_model}@{tracking.CHAMPION}"


def load_model(params: Params) -> LoadedModel:
    """Load the scorer behind :func:`model_uri`.

    Raises
    ------
    ModelUnavailableError
        Naming the URI and the tracking store, when the model, version or alias
        does not exist or the store cannot be reached.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = model_uri(params)
    try:
        tracking.configure(params)
        name, version, run_id = tracking.describe_model_uri(uri)
        pyfunc = mlflow.pyfunc.load_model(uri)
    except tracking.TrackingStoreError as err:
        raise ModelUnavailableError(f"cannot load the model {uri}: {err}") from None
    except (MlflowException, OSError) as err:
        raise ModelUnavailableError(_unavailable(uri, err)) from None
    try:
        python_model = pyfunc.unwrap_python_model()
    except MlflowException:
        python_model = None  # another flavour (a bare sklearn model, ...)
    scorer = getattr(python_model, "scorer", None)
    if not isinstance(scorer, Scorer):
        raise ModelUnavailableError(
            f"{uri} is not a scorer of this pipeline (a pyfunc model of "
            f"models.scorer.ChurnScorer, as `evaluate` registers); got "
            f"{type(python_model).__name__ if python_model is not None else 'another flavour'}")
    run_id = run_id or pyfunc.metadata.run_id
    return LoadedModel(scorer=scorer, uri=uri, name=name, version=version, run_id=run_id)


def _unavailable(uri: str, err: BaseException) -> str:
    """Why the model behind ``uri`` cannot be loaded, and what to do about it."""
    reason = tracking.error_reason(err)
    hint = ("Train and register one (`dvc repro evaluate`), point MLFLOW_TRACKING_URI at the "
            "store that has it, or pass --model-uri")
    by_alias = re.fullmatch(r"models:/([^/@]+)@(.+)", uri)
    if tracking.request_failed(err):
        hint = "Start the tracking server, or point MLFLOW_TRACKING_URI at a running one"
    elif by_alias:
        name, alias = by_alias.groups()
        aliases = tracking.model_aliases(name)
        if aliases is not None and alias not in aliases:
            have = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items()))
            reason = (f"the registered model {name} has no alias {alias!r} "
                      f"({'its aliases: ' + have if have else 'it has no alias'})")
            hint = ("Set the alias (README, 'Working as a team') or pass "
                    f"--model-uri models:/{name}/<version>")
    return (f"cannot load the model {uri} from the tracking store "
            f"{tracking.masked_tracking_uri()}: {reason}. {hint}")


def check_compatible(scorer: Scorer, params: Params) -> None:
    """Refuse a scorer trained on other features or other stage rules than params say.

    Raises
    ------
    ModelMismatchError
        Naming every difference.
    """
    spec = feature_spec(params)
    expected = feature_table(spec).dtypes
    problems = [f"features: {p}" for p in schema_difference(scorer.feature_schema, expected)]
    bundled = scorer.decisions.stage_rules
    wanted = stage_rules(params)
    problems += [f"stages.{k}: the model has {v!r}, params say {getattr(wanted, k)!r}"
                 for k, v in vars(bundled).items() if getattr(wanted, k) != v]
    if problems:
        raise ModelMismatchError(
            "the model does not fit these params (" + "; ".join(problems) + "). Score with the "
            "params the model was trained with, or retrain (`dvc repro`)")


# --------------------------------------------------------------------------
# Features and scores
# --------------------------------------------------------------------------


def scoring_time() -> dt.datetime:
    """Now in UTC (naive, whole seconds), or the time ``SOURCE_DATE_EPOCH`` gives (seconds
    since 1970, the reproducible-builds convention): with it set, two runs on the same
    data with the same model write byte-identical files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC).replace(tzinfo=None)
        except ValueError:
            raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01, "
                              f"got {epoch!r}") from None
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def default_as_of(span: tuple[dt.date, dt.date]) -> dt.date:
    """The day after the last event: every event counts."""
    return span[1] + dt.timedelta(days=1)


def _feature_parts(params: Params, paths: Paths, out_dir: Path,
                   progress: Any) -> tuple[dt.date, list[Path]]:
    """Build the features as of the scoring date into ``out_dir``; return the date
    and the Parquet parts."""
    con, clean, span = open_clean(params, paths)
    as_of = params.score.as_of or default_as_of(span)
    if as_of <= span[0]:
        from pipeline.features import NoEventsError

        raise NoEventsError(f"score.as_of {as_of} is not after the first event ({span[0]}): "
                            "no customer has any event before it; pick a later date")
    f = params.features
    build_features(con, clean=clean, cutoffs=[as_of], spec=feature_spec(params),
                   out_dir=out_dir, partitions_per_chunk=partitions_per_chunk(
                       con, clean, f.events_per_chunk, f.workers),
                   workers=f.workers, progress=progress)
    con.close()
    return as_of, sorted(out_dir.glob("*.parquet"))


def _chunks(parts: list[Path], rows: int) -> Iterator[pd.DataFrame]:
    for part in parts:
        file = pq.ParquetFile(part)
        for batch in file.iter_batches(batch_size=rows):
            yield batch.to_pandas()


class SpooledScores:
    """Scored rows of one date on disk: Parquet files of every column but ``as_of``
    (the Parquet sink's layout), with the counts the summary needs.

    What :func:`main` needs of the scored rows without holding them in memory:
    ``len``, :meth:`groups` and :meth:`write` to a sink. The folder is a
    temporary one, removed by :meth:`close` (or when the object is collected).
    """

    def __init__(self, folder: tempfile.TemporaryDirectory,
                 groups: pd.DataFrame | None = None) -> None:
        self._folder = folder
        self.path = Path(folder.name) / "scores"
        self._groups = groups

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.parquet"))

    def __len__(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.files())

    def groups(self) -> pd.DataFrame:
        """:func:`score_groups` of the rows."""
        return self._groups

    def write(self, sink: Any, as_of: dt.date) -> str:
        """Write the rows to ``sink``: the Parquet sink's partition is replaced by these
        files (hard links), the DuckDB sink loads them in one transaction; another sink
        gets them in memory."""
        from pipeline import sinks as sink_lib

        files = self.files()
        if isinstance(sink, sink_lib.ParquetSink):
            where = sink_lib.replace_partition(sink, as_of, self.path)
            return str(Path(where) / files[0].name) if len(files) == 1 else where
        if isinstance(sink, sink_lib.DuckDBSink):
            return sink.write_files(files, as_of)
        table = pq.read_table(files)
        table = table.append_column("as_of", pa.array([as_of] * table.num_rows, pa.date32()))
        return sink.write(table.select(list(CUSTOMER_SCORES.names)).to_pandas(), as_of)

    def close(self) -> None:
        self._folder.cleanup()


def score_features(model: LoadedModel, parts: list[Path], *, chunk_rows: int,
                   scored_at: dt.datetime, threshold: float, workers: int = 2,
                   progress: Any = None,
                   spool: Path | None = None) -> tuple[pd.DataFrame | SpooledScores,
                                                        pd.DataFrame]:
    """Score the feature parts chunk by chunk, and compare them with the drift reference.

    ``workers`` chunks are scored at once (threads: LightGBM releases the GIL
    while it predicts, so one chunk's trees run while another's reasons are
    written). Drift is counted per chunk (:meth:`models.drift.DriftReference.counts`),
    so no more than the chunks in flight are held in memory as features. With
    ``spool`` (a folder), the scored chunks are written to a temporary folder in
    it as they come, so no more than the chunks in flight are held as scores either.

    Returns
    -------
    scores : pandas.DataFrame or SpooledScores
        Every column of ``CUSTOMER_SCORES``, sorted by ``customer_id``; with
        ``spool``, the same rows on disk in the order of the feature parts.
    drift : pandas.DataFrame
        The drift table (one row per feature and ``p_defect``; empty when the
        scorer has no drift reference).
    """
    scorer = model.scorer
    reference = scorer.drift
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)

    def one(chunk: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray] | None]:
        out = scorer.score(chunk)
        if reference is None:
            return out, None
        rows = chunk.reset_index(drop=True).assign(p_defect=out["p_defect"].to_numpy())
        return out, reference.counts(rows)

    stamp = {"model_name": model.name, "model_version": model.version, "run_id": model.run_id,
             "scored_at": pd.Timestamp(scored_at)}
    scored: list[pd.DataFrame] = []
    groups: list[pd.DataFrame] = []
    counts: dict[str, np.ndarray] = {}
    done = 0
    writer: pq.ParquetWriter | None = None
    folder = (tempfile.TemporaryDirectory(prefix=".score-rows-", dir=spool)
              if spool is not None else None)

    def take(out: pd.DataFrame) -> None:
        nonlocal writer
        if folder is None:
            scored.append(out)
            return
        groups.append(score_groups(out))
        rows = out.assign(**stamp)[CUSTOMER_SCORES.names]
        table = validate_scores(rows, rows["as_of"].iloc[0]).drop_columns(["as_of"])
        if writer is None:
            (Path(folder.name) / "scores").mkdir()
            writer = pq.ParquetWriter(Path(folder.name) / "scores" / PARQUET_FILE,
                                      table.schema, compression="zstd")
        writer.write_table(table)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # At most `workers` chunks in flight: memory stays bounded by the chunk size.
        pending: deque[Future] = deque()
        chunks = _chunks(parts, chunk_rows)
        for chunk in itertools.chain(chunks, [None]):
            if chunk is not None:
                pending.append(pool.submit(one, chunk))
            while pending and (chunk is None or len(pending) >= max(1, workers)):
                out, part = pending.popleft().result()
                take(out)
                for name, bins in (part or {}).items():
                    counts[name] = counts[name] + bins if name in counts else bins
                done += len(out)
                if progress is not None:
                    progress("score", done, total)
    if writer is not None:
        writer.close()
    if not done:
        raise ValueError("no customer to score")
    drift = (reference.compare_counts(counts, threshold=threshold)
             if reference is not None else pd.DataFrame())
    if folder is not None:
        summed = (pd.concat(groups, ignore_index=True)
                  .groupby(["stage", "risk_label", "action"], dropna=False, observed=True)
                  .sum(min_count=1).reset_index())
        return SpooledScores(folder, summed), drift
    rows = pd.concat(scored, ignore_index=True)
    rows["model_name"] = model.name
    rows["model_version"] = model.version
    rows["run_id"] = model.run_id
    rows["scored_at"] = pd.Timestamp(scored_at)
    order = rows["customer_id"].argsort(kind="stable")
    rows = rows.iloc[order].reset_index(drop=True)[CUSTOMER_SCORES.names]
    return rows, drift


def score_groups(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers and value at risk by (stage, risk label, action): what the summary needs."""
    return (scores.groupby(["stage", "risk_label", "action"], dropna=False, observed=True)
            .agg(customers=("customer_id", "size"), value_at_risk=("value_at_risk", "sum"))
            .reset_index())


def summarize(scores: Any) -> dict[str, Any]:
    """Counts and value at risk by stage, risk label and action.

    ``scores``: the scored rows, or anything with a ``groups()`` method that
    returns :func:`score_groups` of them (the Spark engine's rows, aggregated by Spark).
    """
    groups = score_groups(scores) if isinstance(scores, pd.DataFrame) else scores.groups()

    def counts(column: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, n in zip(groups[column].astype(object), groups["customers"], strict=True):
            key = "None" if pd.isna(key) else str(key)
            totals[key] = totals.get(key, 0) + int(n)
        return dict(sorted(totals.items(), key=lambda kv: (kv[0] == "None", kv[0])))

    by = (groups.groupby(["stage", "action"], observed=True)
          .agg(customers=("customers", "sum"), value_at_risk=("value_at_risk", "sum"))
          .reset_index())
    return {
        "customers": int(groups["customers"].sum()),
        "by_stage": counts("stage"),
        "by_risk": {("none (prospect)" if k in ("None", "nan") else k): v
                    for k, v in counts("risk_label").items()},
        "by_action": counts("action"),
        "value_at_risk": round(float(groups["value_at_risk"].sum()), 2),
        "stage_x_action": [
            {"stage": r.stage, "action": r.action, "customers": int(r.customers),
             "value_at_risk": round(float(r.value_at_risk), 2)}
            for r in by.itertuples()],
    }


# --------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------


def open_sinks(params: Params, paths: Paths) -> list[Any]:
    """The sinks params ask for."""
    from pipeline import sinks as sink_lib

    s = params.score.sinks
    url = s.postgres.resolved_url
    names = [name for name, wanted in (("parquet", s.parquet), ("duckdb", s.duckdb),
                                       ("postgres", bool(url))) if wanted]
    return sink_lib.open_sinks(
        names, parquet_root=paths.scores, duckdb_path=paths.scores_db, postgres_url=url,
        postgres_schema=s.postgres.db_schema, postgres_table=s.postgres.table,
        lock_timeout=s.lock_timeout_seconds)


def main(params: Params | None = None, paths: Paths | None = None, *,
         fail_on_drift: bool = False) -> dict[str, Any]:
    """Score every customer as of ``score.as_of``; return the summary of ``reports/score.json``.

    Raises
    ------
    ModelUnavailableError, ModelMismatchError
        Before any work, when the model cannot be loaded or does not fit params.
    DriftError
        With ``fail_on_drift``, when a feature or ``p_defect`` drifted; nothing is
        written to the sinks then.
    """
    params = params or load_params()
    paths = paths or PATHS
    started = time.perf_counter()
    scored_at = scoring_time()
    model = load_model(params)
    check_compatible(model.scorer, params)
    log_event("score.model", uri=model.uri, name=model.name, version=model.version,
              run_id=model.run_id)
    sinks = open_sinks(params, paths)

    with steps("score") as progress, tempfile.TemporaryDirectory(
            prefix=".score-features-", dir=paths.root) as tmp:
        t0 = time.perf_counter()
        threshold = params.score.drift.threshold
        if params.features.engine == "spark":
            # Features, scores, drift counts and summary computed by Spark; the rows
            # stay in its output folder until the sinks take them.
            from pipeline import spark as spark_engine

            as_of, scores, drift = spark_engine.score(model, params, paths,
                                                      scored_at=scored_at)
        else:
            as_of, parts = _feature_parts(params, paths, Path(tmp), progress)
            log_event("score.features", as_of=as_of,
                      seconds=round(time.perf_counter() - t0, 1))
            t0 = time.perf_counter()
            # The rows go to a folder as they are scored: memory holds the chunks in
            # flight, not the population.
            scores, drift = score_features(model, parts, chunk_rows=params.score.chunk_rows,
                                           scored_at=scored_at, threshold=threshold,
                                           workers=params.score.workers, progress=progress,
                                           spool=paths.root)
    log_event("score.scored", customers=len(scores), seconds=round(time.perf_counter() - t0, 1))
    drift_file = paths.drift / f"as_of={as_of.isoformat()}" / "drift.parquet"
    if len(drift):
        write_parquet(pa.Table.from_pandas(drift.assign(as_of=as_of), preserve_index=False),
                      drift_file)
    drifted = drift[drift["drifted"]] if len(drift) else drift
    if len(drifted):
        top = ", ".join(f"{r.column} {r.psi:.2f}" for r in drifted.head(10).itertuples())
        log.warning("drift: %d of %d columns above PSI %.2f: %s%s (table: %s)", len(drifted),
                    len(drift), threshold, top, ", ..." if len(drifted) > 10 else "", drift_file)

    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "scored_at": scored_at.isoformat(),
        "model": {"uri": model.uri, "name": model.name, "version": model.version,
                  "run_id": model.run_id},
        **summarize(scores),
        "drift": {
            "threshold": threshold,
            "drifted": drifted["column"].tolist() if len(drifted) else [],
            "max_psi": float(drift["psi"].max()) if len(drift) else None,
            "p_defect_psi": (float(drift.loc[drift["column"] == "p_defect", "psi"].iloc[0])
                             if len(drift) and (drift["column"] == "p_defect").any() else None),
            "table": str(drift_file) if len(drift) else None,
        },
        "published": not (fail_on_drift and len(drifted)),
        "outputs": {},
    }
    if summary["published"]:
        for sink in sinks:
            t0 = time.perf_counter()
            where = (sink.write(scores, as_of) if isinstance(scores, pd.DataFrame)
                     else scores.write(sink, as_of))
            summary["outputs"][sink.name] = where
            log_event("score.write", sink=sink.name, rows=len(scores), where=where,
                      seconds=round(time.perf_counter() - t0, 1))
    if not isinstance(scores, pd.DataFrame):
        scores.close()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["mlflow_run_id"] = tracking.log_scoring(params, summary, drift)
    if summary["published"] and {"duckdb", "parquet"} & set(summary["outputs"]):
        from pipeline.reports import write_scoring_report  # the report reads what was written

        summary["report"] = str(write_scoring_report(
            paths, as_of, drift_threshold=threshold, mlflow_run_id=summary["mlflow_run_id"]))
    write_json(summary, paths.score_report)
    print_summary(summary)
    if not summary["published"]:
        raise DriftError(
            f"{len(drifted)} columns drifted above PSI {threshold} "
            f"({', '.join(drifted['column'].head(5))}{', ...' if len(drifted) > 5 else ''}); "
            f"scores not published. Drift table: {drift_file}")
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """The end-of-job summary, as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = (f"scored {summary['customers']:,} customers as of {summary['as_of']} with "
            f"{summary['model']['name']} v{summary['model']['version']}; value at risk "
            f"{summary['value_at_risk']:,.2f}")
    console.print(head, highlight=False)
    table = Table("stage", "action", "customers", "value at risk", box=None,
                  header_style="bold")
    for row in summary["stage_x_action"]:
        table.add_row(row["stage"], row["action"], f"{row['customers']:,}",
                      f"{row['value_at_risk']:,.2f}")
    console.print(table)
    drift = summary["drift"]
    console.print(f"drift: {len(drift['drifted'])} columns above PSI {drift['threshold']}"
                  + (f" ({', '.join(drift['drifted'][:5])})" if drift["drifted"] else ""),
                  highlight=False)
    for name, where in summary["outputs"].items():
        console.print(f"{name}: {where}", highlight=False)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)
