"""The training report: one HTML page per training run, from the outputs of ``evaluate``.

Reads ``reports/evaluation.json``, ``reports/plots/*.csv``, ``reports/promotion.json``,
``reports/train.json``, ``reports/labels.json`` and ``reports/features.json``
(whichever exist: only the metrics and plots are required) and writes
``reports/training_report.html``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from models.stages import STAGES
from pipeline.paths import Paths
from pipeline.reports import html
from pipeline.reports.contacts import contacts_context, read_curves
from pipeline.reports.html import ReportInputError

#: The plot tables of ``evaluate`` the report draws.
PLOTS = ("roc", "pr", "calibration", "lift", "confusion", "feature_importance", "ablation")

#: Each scored contender of the defection comparison, in the order of the table.
CONTENDERS: dict[str, str] = {
    "model": "Model (LightGBM, calibrated)",
    "recency": "Recency heuristic",
    "rfm_logistic": "Logistic regression on RFM",
    "bgnbd": "BG/NBD",
    "paretonbd": "Pareto/NBD",
    "oracle": "Oracle (true probability, simulator only)",
}
#: Metric columns of the comparison: key, heading, whether higher is better.
COMPARED: tuple[tuple[str, str, bool], ...] = (
    ("roc_auc", "ROC-AUC", True), ("pr_auc", "PR-AUC", True), ("log_loss", "log loss", False),
    ("brier", "Brier", False), ("ece", "ECE", False), ("lift_top_decile", "lift top 10%", True),
    ("capture_top_decile", "capture top 10%", True),
)
#: Points kept of a curve: enough for its shape, few enough for a small page.
CURVE_POINTS = 400


@dataclass(frozen=True)
class TrainingOutputs:
    """What ``evaluate`` and the stages before it wrote, as read from ``reports/``."""

    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame]
    promotion: dict[str, Any] | None
    train: dict[str, Any] | None
    labels: dict[str, Any] | None
    features: dict[str, Any] | None


def _json(path: Path, *, required: bool, stage: str) -> dict[str, Any] | None:
    if not path.exists():
        if required:
            raise ReportInputError(f"{path} is missing: run the {stage} stage first "
                                   f"(`churn {stage}` or `dvc repro {stage}`)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ReportInputError(f"{path} cannot be read ({err}): run the {stage} stage "
                               "again") from None


def load_outputs(paths: Paths) -> TrainingOutputs:
    """Read the outputs the training report shows.

    Raises
    ------
    ReportInputError
        When ``reports/evaluation.json`` or a plot table is missing or unreadable.
    """
    metrics = _json(paths.evaluation, required=True, stage="evaluate")
    plots = {}
    for name in PLOTS:
        file = paths.plots / f"{name}.csv"
        if not file.exists():
            raise ReportInputError(f"{file} is missing: run the evaluate stage first "
                                   "(`churn evaluate` or `dvc repro evaluate`)")
        plots[name] = pd.read_csv(file)
    plots |= read_curves(paths.plots)
    return TrainingOutputs(
        metrics=metrics or {}, plots=plots,
        promotion=_json(paths.reports / "promotion.json", required=False, stage="evaluate"),
        train=_json(paths.train_report, required=False, stage="train"),
        labels=_json(paths.labels_report, required=False, stage="labels"),
        features=_json(paths.features_report, required=False, stage="features"))


# --------------------------------------------------------------------------
# Charts: plot tables in, figures out
# --------------------------------------------------------------------------


def thin(frame: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most about ``points`` rows of a curve, evenly spaced, the first and last kept."""
    if len(frame) <= points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep]


def _diagonal(fig: go.Figure, name: str) -> None:
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=name, hoverinfo="skip",
                             line={"color": html.REFERENCE_COLOUR, "dash": "dash"}))


def _model_curve(curve: pd.DataFrame, x: str, y: str, hover: str) -> go.Figure:
    """The model's curve ``y`` against ``x``, thinned to :data:`CURVE_POINTS`."""
    curve = thin(curve)
    return go.Figure(go.Scatter(
        x=curve[x], y=curve[y], mode="lines", name="model",
        line={"color": html.MODEL_COLOUR, "width": 2.5},
        hovertemplate=hover + "<extra></extra>"))


def roc_figure(roc: pd.DataFrame, auc: float | None) -> go.Figure:
    """ROC curve of the model (columns ``fpr``, ``tpr``) with the chance diagonal."""
    fig = _model_curve(roc, "fpr", "tpr",
                       "%{x:.1%} of stayers flagged<br>%{y:.1%} of defectors caught")
    _diagonal(fig, "chance")
    title = "ROC curve" + (f" (AUC {auc:.3f})" if auc is not None else "")
    return html.layout(fig, title=title, xaxis_title="false positive rate (stayers flagged)",
                       yaxis_title="true positive rate (defectors caught)",
                       xaxis={"range": [0, 1], "tickformat": ".0%"},
                       yaxis={"range": [0, 1.02], "tickformat": ".0%"})


def pr_figure(pr: pd.DataFrame, base_rate: float | None, auc: float | None) -> go.Figure:
    """Precision against recall (columns ``recall``, ``precision``), the base rate as a line."""
    fig = _model_curve(pr, "recall", "precision",
                       "%{x:.1%} of defectors caught<br>%{y:.1%} of those flagged defect")
    if base_rate is not None:
        fig.add_trace(go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines",
                                 name="base rate", hoverinfo="skip",
                                 line={"color": html.REFERENCE_COLOUR, "dash": "dash"}))
    title = "Precision-recall curve" + (f" (AUC {auc:.3f})" if auc is not None else "")
    return html.layout(fig, title=title, xaxis_title="recall (defectors caught)",
                       yaxis_title="precision (flagged who defect)",
                       xaxis={"range": [0, 1], "tickformat": ".0%"},
                       yaxis={"range": [0, 1.02], "tickformat": ".0%"})


def calibration_figure(cal: pd.DataFrame) -> go.Figure:
    """Observed defection rate against the mean predicted probability, per bin."""
    fig = go.Figure(go.Scatter(
        x=cal["mean_p"], y=cal["observed"], mode="lines+markers", name="model",
        line={"color": html.MODEL_COLOUR, "width": 2}, marker={"size": 9},
        customdata=cal[["count"]].to_numpy(),
        hovertemplate="predicted %{x:.1%}<br>observed %{y:.1%}<br>%{customdata[0]:,} customers"
                      "<extra></extra>"))
    _diagonal(fig, "perfect calibration")
    return html.layout(fig, title="Calibration: predicted vs observed defection",
                       xaxis_title="mean predicted probability (10 equal-size groups)",
                       yaxis_title="observed defection rate",
                       xaxis={"range": [0, 1], "tickformat": ".0%"},
                       yaxis={"range": [0, 1.02], "tickformat": ".0%"})


def lift_figure(lift: pd.DataFrame) -> go.Figure:
    """Lift per decile of predicted risk (bars) and the cumulative share of defectors (line)."""
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=lift["decile"], y=lift["lift"], name="lift", marker_color=html.MODEL_COLOUR,
        text=[f"{v:.2f}" for v in lift["lift"]], textposition="outside",
        hovertemplate="decile %{x}: defection rate %{y:.2f}× the average<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=lift["decile"], y=lift["cumulative_capture"], name="defectors caught (cumulative)",
        yaxis="y2", mode="lines+markers", line={"color": "#e15759"},
        hovertemplate="top %{x}0%: %{y:.1%} of all defectors<extra></extra>"))
    fig.add_hline(y=1, line={"color": html.REFERENCE_COLOUR, "dash": "dash"})
    top = float(np.nanmax(lift["lift"])) if len(lift) else 1.0
    return html.layout(
        fig, title="Lift by decile of predicted risk",
        xaxis={"title": "decile (1 = the 10% most at risk)", "dtick": 1},
        yaxis={"title": "lift (× average defection rate)", "range": [0, top * 1.2]},
        yaxis2={"title": "defectors caught", "overlaying": "y", "side": "right",
                "range": [0, 1.05], "tickvals": [0, 0.25, 0.5, 0.75, 1], "tickformat": ".0%",
                "showgrid": False},
        margin={"l": 60, "r": 60, "t": 50, "b": 50})


def _heatmap(matrix: pd.DataFrame, *, title: str, x_title: str, y_title: str,
             what: str) -> go.Figure:
    """Counts as a heatmap coloured by the share of each row, annotated with counts."""
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    rows = [html.label(s) for s in matrix.index]
    cols = [html.label(s) for s in matrix.columns]
    text = [[f"{int(c):,}" if c else "" for c in row] for row in counts]
    fig = go.Figure(go.Heatmap(
        z=shares, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale=html.HEAT_SCALE,
        zmin=0, zmax=1, customdata=counts, xgap=1, ygap=1,
        colorbar={"title": {"text": "share of row"}, "tickformat": ".0%"},
        hovertemplate=f"{y_title} %{{y}} → {x_title} %{{x}}<br>%{{customdata:,}} {what} "
                      "(%{z:.1%} of the row)<extra></extra>"))
    return html.layout(fig, title=title, height=420,
                       xaxis={"title": x_title, "side": "bottom", "tickangle": -30},
                       yaxis={"title": y_title, "autorange": "reversed"},
                       margin={"l": 120, "r": 20, "t": 50, "b": 100})


def confusion_figure(confusion: pd.DataFrame) -> go.Figure:
    """The transition model's confusion (long table ``actual``, ``predicted``, ``count``)."""
    matrix = (confusion.pivot_table(index="actual", columns="predicted", values="count",
                                    aggfunc="sum", fill_value=0)
              .reindex(index=list(STAGES), columns=list(STAGES), fill_value=0))
    return _heatmap(matrix, title="Next stage: observed (rows) vs predicted (columns)",
                    x_title="predicted", y_title="observed", what="customers")


def transition_figure(transitions: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """The stage-to-stage transition counts of the training snapshots (``labels.json``)."""
    matrix = (pd.DataFrame(transitions).T
              .reindex(index=list(STAGES), columns=list(STAGES), fill_value=0).fillna(0))
    return _heatmap(matrix, title="Stage transitions over the horizon (training snapshots)",
                    x_title="stage after the horizon", y_title="stage at the snapshot",
                    what="customer snapshots")


def importance_figure(importance: pd.DataFrame, top: int = 20) -> go.Figure:
    """The defection model's features by total gain, the largest = 100."""
    rows = importance.sort_values("gain", ascending=False).head(top).iloc[::-1]
    scale = float(rows["gain"].max()) if len(rows) and rows["gain"].max() > 0 else 1.0
    fig = go.Figure(go.Bar(
        x=rows["gain"] / scale * 100, y=rows["feature"], orientation="h",
        marker_color=html.MODEL_COLOUR,
        hovertemplate="%{y}: %{x:.1f}<extra></extra>"))
    return html.layout(fig, title=f"What drives the defection model (top {len(rows)} features)",
                       height=max(320, 22 * len(rows) + 100),
                       xaxis_title="importance (total gain, the first feature = 100)",
                       margin={"l": 230, "r": 20, "t": 50, "b": 50})


def ablation_figure(ablation: pd.DataFrame) -> go.Figure:
    """ROC-AUC on purchase features only against all features."""
    names = {"rfm_only": "purchase features only (RFM)",
             "rfm_and_interactions": "purchases + interactions (all)"}
    y = [names.get(m, m) for m in ablation["model"]]
    auc = ablation["roc_auc"].to_numpy(dtype=float)
    low = max(0.0, float(np.nanmin(auc)) - 0.05) if len(auc) else 0.0
    fig = go.Figure(go.Bar(
        x=auc, y=y, orientation="h", text=[f"{v:.3f}" for v in auc], textposition="outside",
        marker_color=[html.BASELINE_COLOUR, html.MODEL_COLOUR][:len(auc)],
        hovertemplate="%{y}: ROC-AUC %{x:.4f}<extra></extra>"))
    return html.layout(fig, title="Do interaction features help? (ROC-AUC, test snapshot)",
                       height=240, xaxis={"title": "ROC-AUC", "range": [low, 1.0]},
                       margin={"l": 230, "r": 40, "t": 50, "b": 50})


# --------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------


def _span(dates: list[str]) -> dict[str, Any]:
    return {"count": len(dates), "first": dates[0] if dates else None,
            "last": dates[-1] if dates else None}


def comparison_rows(defection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per contender that was scored, with the best value of each metric among
    the model and the baselines marked (the oracle is out of reach, not a contender)."""
    present = [k for k in CONTENDERS if k in defection]
    fair = [k for k in present if k != "oracle"]
    best = {}
    for key, _, higher in COMPARED:
        values = {k: defection[k].get(key) for k in fair}
        values = {k: v for k, v in values.items() if v is not None and not np.isnan(v)}
        if values:
            best[key] = (max if higher else min)(values, key=values.__getitem__)
    return [{"key": k, "name": CONTENDERS[k],
             "values": [(defection[k].get(key), best.get(key) == k) for key, _, _ in COMPARED]}
            for k in present]


def training_context(out: TrainingOutputs) -> dict[str, Any]:
    """Everything the template shows: figures under ``charts``, numbers as numbers."""
    d = out.metrics.get("defection", {})
    model = d.get("model", {})
    labels = out.labels or {}
    plan = labels.get("plan", {})
    promotion = out.promotion or {}
    plots = out.plots
    charts = {
        "roc": roc_figure(plots["roc"], model.get("roc_auc")),
        "pr": pr_figure(plots["pr"], model.get("base_rate"), model.get("pr_auc")),
        "calibration": calibration_figure(plots["calibration"]),
        "lift": lift_figure(plots["lift"]),
        "confusion": confusion_figure(plots["confusion"]),
        "importance": importance_figure(plots["feature_importance"]),
        "ablation": ablation_figure(plots["ablation"]),
    }
    if labels.get("transitions_train"):
        charts["transitions"] = transition_figure(labels["transitions_train"])
    contacts, contact_charts = contacts_context(out.metrics, plots)
    charts |= {f"contacts_{name}": fig for name, fig in contact_charts.items()}
    by_stage = [{"stage": s, **d["by_stage"][s]} for s in STAGES if s in d.get("by_stage", {})]
    splits = [{"name": name, **_span(plan.get(name, [])),
               "rows": labels.get("rows", {}).get(name),
               "defection_rate": labels.get("defection_rate", {}).get(name, {}).get("all"),
               "stages": labels.get("stage_counts", {}).get(name, {})}
              for name in ("train", "validation", "test")]
    return {
        "title": "Churn model: training report",
        "run_id": promotion.get("run_id") or (out.train or {}).get("mlflow", {}).get("run_id"),
        "model_name": promotion.get("registered_model"),
        "version": promotion.get("version"),
        "window": {"first_event": labels.get("first_event"),
                   "last_event": labels.get("last_event"),
                   "horizon_days": plan.get("horizon_days"),
                   "plan_source": plan.get("source"),
                   "plan_steps": plan.get("steps") or [],
                   "validation_share": plan.get("validation_share"),
                   "features": out.features},
        "refit": (out.train or {}).get("refit"),
        "choice": (out.train or {}).get("defection_choice"),
        "splits": splits,
        "stages": STAGES,
        "model": model,
        "compared": COMPARED,
        "comparison": comparison_rows(d),
        "vs_best": d.get("vs_best_baseline"),
        "best_name": CONTENDERS.get((d.get("vs_best_baseline") or {}).get("baseline"), "–"),
        "gap_closed": d.get("gap_closed"),
        "has_oracle": "oracle" in d,
        "by_stage": by_stage,
        "transition": out.metrics.get("transition", {}),
        "value": out.metrics.get("value", {}).get("model"),
        "ablation": out.metrics.get("ablation"),
        "promotion": out.promotion,
        "contacts": contacts,
        "train": out.train,
        "charts": charts,
    }


def render_training_report(out: TrainingOutputs, *,
                           generated_at: dt.datetime | None = None) -> str:
    """The training report as one self-contained HTML page."""
    return html.render("training.html.j2", training_context(out), generated_at=generated_at)
