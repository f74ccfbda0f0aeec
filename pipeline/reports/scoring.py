"""The scoring report: one HTML page per scoring date, from the stored scores.

Reads the scored customers of a date and of the scoring date before it from
``data/scores.duckdb`` (or, without the DuckDB sink, the Parquet dataset
``data/scores/``) and the drift table ``data/drift/as_of=<date>/drift.parquet``.
Every figure is an aggregate computed in DuckDB, so the page costs about the same
for a thousand customers as for a million.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from models.policy_rules import ACTIONS
from models.risk import RISK_LABELS
from models.stages import STAGES
from pipeline.paths import Paths
from pipeline.reports import html
from pipeline.reports.html import ReportInputError

#: Actions that mean contacting the customer to keep it: the "to call" list.
CONTACT_ACTIONS: tuple[str, ...] = ("protect", "regain")
#: Rows of the "to call" list.
TOP_CUSTOMERS = 25
#: Rows of the drift table besides the drifted ones.
DRIFT_ROWS = 15
#: The seven strategies in a manager's words (DOMAIN.md).
ACTION_MEANINGS: dict[str, str] = {
    "start": "begin the relationship: diagnose needs first, then offer",
    "protect": "proactive contact, priority service, dedicated follow-up",
    "re_engineer": "serve through low-cost automated or self-service channels",
    "enhance": "cross-sell and up-sell",
    "harvest": "keep service lean, no extra spend",
    "end": "stop active spending on the relationship",
    "regain": "win back: find out why they left, contact them with a strong offer",
}
NEW, GONE = "new", "not scored"


@dataclass(frozen=True)
class StoredScores:
    """The aggregates of one scoring date (and of the date before it) the report shows."""

    as_of: dt.date
    previous: dt.date | None
    dates: list[dt.date]
    source: str
    header: dict[str, Any]
    by_stage: pd.DataFrame  # stage, customers, value_at_risk, mean_p_defect
    by_risk: pd.DataFrame  # risk_label, customers, value_at_risk
    stage_action: pd.DataFrame  # stage, action, customers, value_at_risk
    top: pd.DataFrame  # the customers to contact first
    flows: pd.DataFrame | None  # before, after, customers
    previous_by_stage: pd.DataFrame | None  # stage, customers, value_at_risk
    drift: pd.DataFrame | None  # the drift table of the date
    drift_threshold: float | None


def _quote(path: Any) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _open(paths: Paths, lock_timeout: float) -> tuple[duckdb.DuckDBPyConnection, str]:
    """An in-memory connection with a view ``scores`` over the stored scores (waiting up
    to ``lock_timeout`` seconds for a DuckDB file another process writes)."""
    from pipeline.sinks.duckdb_sink import open_waiting

    con = duckdb.connect()
    if paths.scores_db.exists():
        try:
            open_waiting(lambda: con.execute(
                f"ATTACH {_quote(paths.scores_db)} AS store (READ_ONLY)"), paths.scores_db,
                lock_timeout)
        except BaseException:
            con.close()
            raise
        con.execute("CREATE TEMP VIEW scores AS SELECT * FROM store.customer_scores")
        return con, str(paths.scores_db)
    if any(paths.scores.glob("as_of=*/*.parquet")):
        files = _quote(paths.scores / "as_of=*" / "*.parquet")
        con.execute(f"CREATE TEMP VIEW scores AS SELECT * FROM read_parquet({files}, "
                    "hive_partitioning = true, hive_types = {'as_of': DATE})")
        return con, str(paths.scores)
    con.close()
    raise ReportInputError(f"no stored scores: neither {paths.scores_db} nor {paths.scores} "
                           "exists. Score first (`churn score`) with the DuckDB or Parquet sink")


def load_scores(paths: Paths, as_of: dt.date | None = None, *,
                drift_threshold: float | None = None, top: int = TOP_CUSTOMERS,
                lock_timeout: float = 60.0) -> StoredScores:
    """Read what the scoring report of ``as_of`` (default: the latest date) shows.

    Raises
    ------
    ReportInputError
        When there are no stored scores, or none for ``as_of`` (the message lists
        the dates there are).
    SinkError
        When ``data/scores.duckdb`` is not a DuckDB file, or another process still
        holds it after ``lock_timeout`` seconds.
    """
    con, source = _open(paths, lock_timeout)
    try:
        dates = [d for (d,) in con.execute(
            "SELECT DISTINCT as_of FROM scores ORDER BY as_of").fetchall()]
        if not dates:
            raise ReportInputError(f"{source} holds no scores yet: score first (`churn score`)")
        as_of = as_of or dates[-1]
        if as_of not in dates:
            listed = ", ".join(d.isoformat() for d in dates[-10:])
            raise ReportInputError(f"no scores as of {as_of} in {source}; scored dates: "
                                   f"{'..., ' if len(dates) > 10 else ''}{listed}")
        earlier = [d for d in dates if d < as_of]
        previous = earlier[-1] if earlier else None

        def frame(sql: str, *args: Any) -> pd.DataFrame:
            return con.execute(sql, list(args)).df()

        header = frame("""
            SELECT count(*) AS customers, count(p_defect) AS buyers,
                   coalesce(sum(value_at_risk), 0) AS value_at_risk,
                   avg(p_defect) AS mean_p_defect,
                   count(*) FILTER (WHERE risk_label IN ('high', 'critical')) AS high_risk,
                   coalesce(sum(value_at_risk) FILTER (WHERE risk_label IN ('high', 'critical')),
                            0) AS high_risk_value,
                   count(*) FILTER (WHERE action IN (SELECT unnest(?))) AS to_contact,
                   any_value(model_name) AS model_name, any_value(model_version) AS model_version,
                   any_value(run_id) AS run_id, max(scored_at) AS scored_at
            FROM scores WHERE as_of = ?""", list(CONTACT_ACTIONS), as_of).iloc[0].to_dict()
        by_stage = frame("""
            SELECT stage, count(*) AS customers, coalesce(sum(value_at_risk), 0) AS value_at_risk,
                   avg(p_defect) AS mean_p_defect
            FROM scores WHERE as_of = ? GROUP BY stage""", as_of)
        by_risk = frame(f"""
            SELECT coalesce(risk_label, '{html.NO_RISK}') AS risk_label, count(*) AS customers,
                   coalesce(sum(value_at_risk), 0) AS value_at_risk
            FROM scores WHERE as_of = ? GROUP BY ALL""", as_of)
        stage_action = frame("""
            SELECT stage, action, count(*) AS customers,
                   coalesce(sum(value_at_risk), 0) AS value_at_risk
            FROM scores WHERE as_of = ? GROUP BY ALL""", as_of)
        top_rows = frame("""
            SELECT customer_id, stage, risk_label, p_defect, predicted_value, value_at_risk,
                   value_tier, action, reason_1, reason_2, reason_3
            FROM scores
            WHERE as_of = ? AND action IN (SELECT unnest(?)) AND value_at_risk IS NOT NULL
            ORDER BY value_at_risk DESC, customer_id LIMIT ?""", as_of, list(CONTACT_ACTIONS),
                         top)
        flows = previous_by_stage = None
        if previous is not None:
            flows = frame(f"""
                SELECT coalesce(p.stage, '{NEW}') AS before, coalesce(c.stage, '{GONE}') AS after,
                       count(*) AS customers
                FROM (SELECT customer_id, stage FROM scores WHERE as_of = ?) AS c
                FULL JOIN (SELECT customer_id, stage FROM scores WHERE as_of = ?) AS p
                  USING (customer_id)
                GROUP BY ALL""", as_of, previous)
            previous_by_stage = frame("""
                SELECT stage, count(*) AS customers,
                       coalesce(sum(value_at_risk), 0) AS value_at_risk
                FROM scores WHERE as_of = ? GROUP BY stage""", previous)
    finally:
        con.close()
    drift_file = paths.drift / f"as_of={as_of.isoformat()}" / "drift.parquet"
    drift = pd.read_parquet(drift_file) if drift_file.exists() else None
    return StoredScores(as_of=as_of, previous=previous, dates=dates, source=source,
                        header=header, by_stage=by_stage, by_risk=by_risk,
                        stage_action=stage_action, top=top_rows, flows=flows,
                        previous_by_stage=previous_by_stage, drift=drift,
                        drift_threshold=drift_threshold)


# --------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------


def _ordered(values: Any, order: tuple[str, ...] | list[str]) -> list[str]:
    """``order`` restricted to ``values``, then any value it does not know."""
    present = [str(v) for v in values]
    return [v for v in order if v in present] + sorted(set(present) - set(order))


def _customer_bars(counts: pd.DataFrame, key: str, order: list[str],
                   colours: dict[str, str], title: str) -> go.Figure:
    """Customers per value of ``key`` (columns ``customers``, ``value_at_risk``), one
    coloured bar each, the value at risk on hover."""
    rows = counts.set_index(key).reindex(_ordered(counts[key], order))
    fig = go.Figure(go.Bar(
        x=[html.label(v) for v in rows.index], y=rows["customers"],
        marker_color=[colours.get(v, html.BASELINE_COLOUR) for v in rows.index],
        text=[f"{int(v):,}" for v in rows["customers"]], textposition="outside",
        customdata=rows[["value_at_risk"]].to_numpy(),
        hovertemplate="%{x}: %{y:,} customers<br>value at risk %{customdata[0]:,.0f}"
                      "<extra></extra>"))
    top = float(rows["customers"].max()) if len(rows) else 1.0
    return html.layout(fig, title=title, showlegend=False,
                       yaxis={"title": "customers", "range": [0, top * 1.15]})


def stage_figure(by_stage: pd.DataFrame) -> go.Figure:
    """Customers by lifecycle stage, with their value at risk on hover."""
    return _customer_bars(by_stage, "stage", list(STAGES), html.STAGE_COLOURS,
                          "Customers by lifecycle stage")


def risk_figure(by_risk: pd.DataFrame) -> go.Figure:
    """Customers by risk label (prospects, who have none, apart)."""
    return _customer_bars(by_risk, "risk_label", [*RISK_LABELS, html.NO_RISK],
                          html.RISK_COLOURS, "Customers by risk of defection")


def stage_action_figure(stage_action: pd.DataFrame) -> go.Figure:
    """Value at risk by stage (rows) and suggested action (columns), customers written in."""
    stages = _ordered(stage_action["stage"], STAGES)
    actions = _ordered(stage_action["action"], ACTIONS)
    value = stage_action.pivot_table(index="stage", columns="action", values="value_at_risk",
                                     aggfunc="sum").reindex(index=stages, columns=actions)
    count = stage_action.pivot_table(index="stage", columns="action", values="customers",
                                     aggfunc="sum").reindex(index=stages, columns=actions)
    text = [[f"{int(n):,}" if n == n else "" for n in row] for row in count.to_numpy()]
    fig = go.Figure(go.Heatmap(
        z=value.to_numpy(dtype=float), x=[html.label(a) for a in actions],
        y=[html.label(s) for s in stages], text=text, texttemplate="%{text}",
        customdata=count.fillna(0).to_numpy(), colorscale=html.HEAT_SCALE, xgap=1, ygap=1,
        colorbar={"title": {"text": "value at risk"}},
        hovertemplate="%{y} → %{x}<br>%{customdata:,} customers<br>value at risk %{z:,.0f}"
                      "<extra></extra>"))
    return html.layout(fig, title="Suggested actions by stage (colour: value at risk; "
                       "number: customers)", height=400,
                       xaxis={"title": "suggested action", "side": "bottom"},
                       yaxis={"title": "stage", "autorange": "reversed"},
                       margin={"l": 120, "r": 20, "t": 50, "b": 60})


def flow_figure(flows: pd.DataFrame, previous: dt.date, as_of: dt.date) -> go.Figure:
    """Customers by stage at the previous date (rows) and now (columns)."""
    before = _ordered(flows["before"], [*STAGES, NEW])
    after = _ordered(flows["after"], [*STAGES, GONE])
    matrix = flows.pivot_table(index="before", columns="after", values="customers",
                               aggfunc="sum", fill_value=0).reindex(
        index=before, columns=after, fill_value=0)
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    text = [[f"{int(c):,}" if c else "" for c in row] for row in counts]
    fig = go.Figure(go.Heatmap(
        z=shares, x=[html.label(s) for s in after], y=[html.label(s) for s in before],
        text=text, texttemplate="%{text}", customdata=counts, colorscale=html.HEAT_SCALE,
        zmin=0, zmax=1, xgap=1, ygap=1,
        colorbar={"title": {"text": "share of row"}, "tickformat": ".0%"},
        hovertemplate=f"{previous}: %{{y}}<br>{as_of}: %{{x}}<br>%{{customdata:,}} customers "
                      "(%{z:.1%} of the row)<extra></extra>"))
    return html.layout(fig, title=f"Stage flows: {previous} (rows) → {as_of} (columns)",
                       height=420,
                       xaxis={"title": f"stage on {as_of}", "side": "bottom", "tickangle": -30},
                       yaxis={"title": f"stage on {previous}", "autorange": "reversed"},
                       margin={"l": 120, "r": 20, "t": 50, "b": 100})


def drift_figure(drift: pd.DataFrame, threshold: float | None, top: int = 20) -> go.Figure:
    """The columns of largest population stability index, drifted ones in red."""
    rows = drift.sort_values("psi", ascending=False).head(top).iloc[::-1]
    fig = go.Figure(go.Bar(
        x=rows["psi"], y=rows["column"], orientation="h",
        marker_color=["#e15759" if d else html.MODEL_COLOUR for d in rows["drifted"]],
        hovertemplate="%{y}: PSI %{x:.3f}<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line={"color": "#e15759", "dash": "dash"},
                      annotation_text=f"threshold {threshold:g}", annotation_position="top")
    return html.layout(fig, title=f"Population stability index, top {len(rows)} columns",
                       height=max(320, 22 * len(rows) + 110), xaxis_title="PSI vs training",
                       margin={"l": 230, "r": 20, "t": 60, "b": 50})


# --------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------


def _stage_table(s: StoredScores) -> list[dict[str, Any]]:
    now = s.by_stage.set_index("stage")
    before = (s.previous_by_stage.set_index("stage") if s.previous_by_stage is not None
              else None)
    names = _ordered(set(now.index) | set(before.index if before is not None else []), STAGES)
    total = float(now["customers"].sum()) or 1.0
    rows = []
    for stage in names:
        n = int(now["customers"].get(stage, 0))
        row = {"stage": stage, "customers": n, "share": n / total,
               "value_at_risk": float(now["value_at_risk"].get(stage, 0.0)),
               "mean_p_defect": now["mean_p_defect"].get(stage, np.nan)}
        if before is not None:
            row["before"] = int(before["customers"].get(stage, 0))
            row["change"] = n - row["before"]
        rows.append(row)
    return rows


def _stage_action_matrix(stage_action: pd.DataFrame) -> dict[str, Any]:
    """Stage x action cells (customers, value at risk; None where empty), with row totals."""
    actions = _ordered(stage_action["action"], ACTIONS)
    cells = {(r.stage, r.action): {"customers": int(r.customers),
                                   "value_at_risk": float(r.value_at_risk)}
             for r in stage_action.itertuples()}
    rows = []
    for stage in _ordered(stage_action["stage"], STAGES):
        row = [cells.get((stage, a)) for a in actions]
        rows.append({"stage": stage, "cells": row,
                     "customers": sum(c["customers"] for c in row if c),
                     "value_at_risk": sum(c["value_at_risk"] for c in row if c)})
    return {"actions": actions, "rows": rows}


def _flow_summary(flows: pd.DataFrame) -> dict[str, int]:
    """Customers who stayed in their stage, moved, are new, or were not scored again."""
    known = flows[(flows["before"] != NEW) & (flows["after"] != GONE)]
    same = known["before"] == known["after"]
    worse = known["after"].isin(["at_risk", "lost"]) & ~known["before"].isin(["at_risk", "lost"])
    better = (known["before"].isin(["at_risk", "lost"])
              & known["after"].isin(["reactivated", "core", "early_repeat"]))
    return {"stayed": int(known.loc[same, "customers"].sum()),
            "moved": int(known.loc[~same, "customers"].sum()),
            "slipped": int(known.loc[worse, "customers"].sum()),
            "came_back": int(known.loc[better, "customers"].sum()),
            "new": int(flows.loc[flows["before"] == NEW, "customers"].sum()),
            "gone": int(flows.loc[flows["after"] == GONE, "customers"].sum())}


def scoring_context(s: StoredScores) -> dict[str, Any]:
    """Everything the template shows: figures under ``charts``, numbers as numbers."""
    charts = {"stages": stage_figure(s.by_stage), "risk": risk_figure(s.by_risk),
              "actions": stage_action_figure(s.stage_action)}
    if s.flows is not None and s.previous is not None:
        charts["flows"] = flow_figure(s.flows, s.previous, s.as_of)
    drift_rows, drifted = [], []
    if s.drift is not None and len(s.drift):
        table = s.drift.sort_values("psi", ascending=False)
        drifted = table.loc[table["drifted"], "column"].tolist()
        # Sorted by PSI, the drifted columns come first: all of them, then the next ones.
        drift_rows = table.head(max(DRIFT_ROWS, len(drifted))).to_dict("records")
        charts["drift"] = drift_figure(table, s.drift_threshold)
    actions = (s.stage_action.groupby("action")[["customers", "value_at_risk"]].sum()
               .reindex(_ordered(s.stage_action["action"], ACTIONS)))
    header = s.header
    scored_at = header.get("scored_at")
    return {
        "title": f"Customer scoring as of {s.as_of}",
        "as_of": s.as_of, "previous": s.previous, "dates": s.dates, "source": s.source,
        "header": header,
        "scored_at": (pd.Timestamp(scored_at).strftime("%Y-%m-%d %H:%M UTC")
                      if scored_at is not None and not pd.isna(scored_at) else "–"),
        "stage_rows": _stage_table(s),
        "action_rows": [{"action": a, "meaning": ACTION_MEANINGS.get(a, ""),
                         "customers": int(r.customers), "value_at_risk": float(r.value_at_risk)}
                        for a, r in actions.iterrows()],
        "matrix": _stage_action_matrix(s.stage_action),
        "contact_actions": CONTACT_ACTIONS,
        "top": s.top.to_dict("records"),
        "flow_summary": _flow_summary(s.flows) if s.flows is not None else None,
        "drift_rows": drift_rows, "drifted": drifted,
        "drift_columns": 0 if s.drift is None else len(s.drift),
        "drift_threshold": s.drift_threshold,
        "charts": charts,
    }


def render_scoring_report(scores: StoredScores, *,
                          generated_at: dt.datetime | None = None) -> str:
    """The scoring report as one self-contained HTML page."""
    return html.render("scoring.html.j2", scoring_context(scores), generated_at=generated_at)
