"""The contacts section of the training report: what the contact policies return at the
budget (``profit`` of ``reports/evaluation.json``, ``reports/plots/profit_curves.csv``)
and the actions' effects, learned from past contacts or assumed (``effects``,
``reports/plots/qini_curves.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from pipeline.reports import html

#: Each contact policy of the evaluation, in the order of the table.
POLICY_NAMES: dict[str, str] = {
    "costed": "costed (expected net value)", "rules": "rule table",
    "top_p_defect": "top by p_defect", "top_value_at_risk": "top by value at risk",
    "oracle": "oracle (true effects)"}


def read_curves(plots: Path) -> dict[str, pd.DataFrame]:
    """The profit and Qini curve tables that exist (outputs of older runs may lack them)."""
    return {name: pd.read_csv(plots / f"{name}.csv")
            for name in ("profit_curves", "qini_curves") if (plots / f"{name}.csv").exists()}


def profit_figure(curves: pd.DataFrame) -> go.Figure:
    """Profit against the number of customers contacted, one line per policy."""
    fig = go.Figure()
    for name, label in POLICY_NAMES.items():
        if name in curves:
            fig.add_trace(go.Scatter(
                x=curves["contacts"], y=curves[name], mode="lines", name=label,
                line={"width": 2.5 if name == "costed" else 1.5},
                hovertemplate=f"{label}: %{{y:,.0f}} at %{{x:,}} contacts<extra></extra>"))
    fig.add_hline(y=0, line={"color": html.REFERENCE_COLOUR, "dash": "dash"})
    return html.layout(fig, title="Profit against customers contacted",
                       xaxis={"title": "customers contacted"}, yaxis={"title": "profit"})


def qini_figure(curves: pd.DataFrame) -> go.Figure:
    """Each learned action's Qini curve and its random line."""
    fig = go.Figure()
    for action, curve in curves.groupby("action", sort=True):
        fig.add_trace(go.Scatter(
            x=curve["share"], y=curve["qini"], mode="lines", name=f"{action}",
            hovertemplate=f"{action}: %{{y:.4f}} per customer at %{{x:.0%}}<extra></extra>"))
        fig.add_trace(go.Scatter(
            x=curve["share"], y=curve["random"], mode="lines", name=f"{action}, random order",
            line={"dash": "dash", "color": html.REFERENCE_COLOUR}, hoverinfo="skip"))
    return html.layout(fig, title="Qini curves of the learned effects (test snapshot)",
                       xaxis={"title": "share of the contacted and control customers",
                              "tickformat": ".0%"},
                       yaxis={"title": "incremental gain per customer"})


def contacts_context(metrics: dict[str, Any], curves: dict[str, pd.DataFrame]
                     ) -> tuple[dict[str, Any], dict[str, go.Figure]]:
    """The numbers of the section and its figures (``profit``, ``qini``); both empty when
    the evaluation has no profit."""
    profit = metrics.get("profit")
    if not profit:
        return {}, {}
    # As reports/metrics.json reads it: true profits where the oracle (the truth) exists.
    key = "true_profit" if "oracle_share" in profit else "expected_profit"
    rows = [{"name": POLICY_NAMES.get(name, name), "contacts": got.get("contacts"),
             "profit": got.get(key),
             "lead": (profit.get(f"costed_vs_{name}") or {}) if name != "costed" else {}}
            for name, got in sorted(profit.get("policies", {}).items(),
                                    key=lambda item: list(POLICY_NAMES).index(item[0])
                                    if item[0] in POLICY_NAMES else len(POLICY_NAMES))]
    charts = {}
    if "profit_curves" in curves:
        charts["profit"] = profit_figure(curves["profit_curves"])
    if len(curves.get("qini_curves", ())):
        charts["qini"] = qini_figure(curves["qini_curves"])
    effects = metrics.get("effects") or {}
    return {"measured": profit.get("measured"), "budget": profit.get("budget"),
            "oracle_share": profit.get("oracle_share"), "policies": rows,
            "effects": profit.get("effects"), "sources": effects.get("sources", {}),
            "validation": effects.get("actions", {})}, charts
