"""The parts of a batch-scoring job: the scoring date, feature rows scored chunk by
chunk with the drift counts, the scored rows spooled to disk, the budget applied to
them over the whole population, and their summary.

Used by the ``score`` stage (DuckDB engine) and :mod:`pipeline.spark_scoring`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import CUSTOMER_SCORES
from models.actions import ActionPolicy
from models.contacts import PLAN_COLUMNS, Budget, apply_budget, contact_summary
from pipeline import sinks
from pipeline.errors import ConfigError, NoEventsError
from pipeline.io import temporary_directory
from pipeline.model_source import LoadedModel
from pipeline.sinks import PARQUET_FILE, validate_scores


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


def scoring_date(as_of: dt.date | None, span: tuple[dt.date, dt.date], *,
                 horizon_days: int | None = None, force: bool = False) -> dt.date:
    """The date to score as of: ``as_of`` (``score.as_of``), else the day after the last
    event of ``span`` (first and last event of the clean tables).

    With ``horizon_days``, a date beyond the data's reach (:func:`beyond_reach`) is
    refused unless ``force``: every customer would be scored lost or a prospect.

    Raises
    ------
    NoEventsError
        When the date is not after the first event: no customer has any event before it.
    ConfigError
        When the date is beyond the data's reach and not forced.
    """
    as_of = as_of or default_as_of(span)
    if as_of <= span[0]:
        raise NoEventsError(f"score.as_of {as_of} is not after the first event ({span[0]}): "
                            "no customer has any event before it; pick a later date")
    if horizon_days is not None and not force and beyond_reach(as_of, span, horizon_days):
        latest = span[1] + dt.timedelta(days=horizon_days)
        raise ConfigError(
            f"score.as_of {as_of} is {(as_of - span[1]).days} days after the last event "
            f"({span[1]}), more than the horizon (labels.horizon_days: {horizon_days}): the "
            f"data cannot say what customers do then, and every one would be scored lost or "
            f"a prospect. Score as of {latest} or earlier, or set score.force_as_of: true "
            f"(`churn score --force-as-of`) to score it anyway (such a date is kept out of "
            f"the latest_scores view)")
    return as_of


def beyond_reach(as_of: dt.date, span: tuple[dt.date, dt.date], horizon_days: int) -> bool:
    """Whether ``as_of`` is more than a horizon after the last event of ``span``."""
    return (as_of - span[1]).days > horizon_days


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

    def stage(self, sink: Any, as_of: dt.date, *, beyond_data: bool = False) -> Any:
        """Stage the rows in ``sink`` (:meth:`pipeline.sinks.Sink.stage`): the Parquet
        sink's partition is staged from these files (hard links), the DuckDB sink loads
        them in one transaction; another sink gets them in memory."""
        files = self.files()
        if isinstance(sink, sinks.ParquetSink):
            staged = sink.stage_folder(self.path, as_of)
            if len(files) == 1:
                staged.where = str(Path(staged.where) / files[0].name)
            return staged
        if isinstance(sink, sinks.DuckDBSink):
            return sink.stage_files(files, as_of, beyond_data=beyond_data)
        table = pq.read_table(files)
        table = table.append_column("as_of", pa.array([as_of] * table.num_rows, pa.date32()))
        return sink.stage(table.select(list(CUSTOMER_SCORES.names)).to_pandas(), as_of,
                          beyond_data=beyond_data)

    def close(self) -> None:
        self._folder.cleanup()

    def replace_columns(self, columns: pd.DataFrame) -> None:
        """Replace some columns of every row (``columns``: one row per spooled row, in
        the order of :meth:`files`), file by file, batch by batch: each file is
        rewritten beside itself and moved into place."""
        start = 0
        for file in self.files():
            source = pq.ParquetFile(file)
            schema = source.schema_arrow
            tmp = file.with_name(f".{file.name}.tmp")
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for batch in source.iter_batches():
                    part = columns.iloc[start:start + batch.num_rows]
                    start += batch.num_rows
                    table = pa.Table.from_batches([batch], schema=schema)
                    for name in part.columns:
                        i = schema.get_field_index(name)
                        table = table.set_column(i, schema.field(i), pa.array(
                            part[name], type=schema.field(i).type, from_pandas=True))
                    writer.write_table(table)
            os.replace(tmp, file)
        if start != len(columns):
            raise ValueError(f"replace_columns: {len(columns)} rows given for {start} "
                             "spooled rows")

    def read_columns(self, names: list[str]) -> pd.DataFrame:
        """Some columns of every row, in the order of :meth:`files`."""
        return pq.read_table(self.files(), columns=names).to_pandas()


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
    folder = temporary_directory("score-rows", spool) if spool is not None else None

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


def apply_contacts(scores: pd.DataFrame | SpooledScores, policy: ActionPolicy,
                   budget: Budget) -> tuple[pd.DataFrame | SpooledScores, dict[str, Any]]:
    """The budget over the whole population of one date: rank the contacts, keep those the
    budget pays for (:func:`models.contacts.apply_budget`), rewrite ``action``,
    ``action_rule``, ``expected_net_value``, ``action_cost`` and ``contact_rank``.

    The rows were scored each from its own features; the ranking needs them all, so it
    runs once every chunk (or Spark partition) is scored: on the scored frame, or on
    the spooled files (which it rewrites; their summary counts are recomputed).
    Chunked, Spark and whole-table scoring give the same contacts (ties are broken by
    ``customer_id``).

    Returns
    -------
    scores
        The same rows (a frame: a new one; spooled: the same object, rewritten).
    contacts : dict
        :func:`models.contacts.contact_summary` of the decided rows.
    """
    columns = [*PLAN_COLUMNS, "value_at_risk"]
    decided = (scores[columns] if isinstance(scores, pd.DataFrame)
               else scores.read_columns(columns))
    after, _ = apply_budget(decided, policy, budget)
    summary = contact_summary(decided, budget)
    if isinstance(scores, pd.DataFrame):
        out = scores.copy()
        for name in after.columns:
            out[name] = after[name].to_numpy() if name != "contact_rank" else after[name]
        return out, summary
    scores.replace_columns(after)
    if scores._groups is not None:  # Spark's rows are counted by Spark, from the files
        scores._groups = score_groups(decided.assign(action=after["action"].to_numpy()))
    return scores, summary


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
