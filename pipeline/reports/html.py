"""Self-contained HTML pages: Jinja2 templates and Plotly charts, plotly.js inlined once.

A page opens offline (no CDN, no network): the page's ``<head>`` carries
plotly.js (from the ``plotly`` package), each chart is a ``<div>`` with the
figure's JSON and one ``Plotly.newPlot`` call. Numbers are formatted by the
template filters below, so every page writes them the same way.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from features.validation import InputError
from models.risk import RISK_LABELS
from models.stages import STAGES


class ReportInputError(InputError):
    """An output a report reads is missing or unreadable; the message says which stage
    writes it. (An input error: ``churn report`` exits with code 4.)"""


#: The colour of each lifecycle stage, the same on every chart.
STAGE_COLOURS: dict[str, str] = dict(zip(STAGES, (
    "#9aa5b1", "#4e79a7", "#76b7b2", "#59a14f", "#f28e2b", "#e15759", "#b07aa1"), strict=True))
#: Risk labels from green to red; prospects (no risk label) grey.
RISK_COLOURS: dict[str, str] = dict(zip(RISK_LABELS, (
    "#59a14f", "#edc948", "#f28e2b", "#e15759"), strict=True))
NO_RISK = "none (prospect)"
RISK_COLOURS[NO_RISK] = "#9aa5b1"
MODEL_COLOUR, BASELINE_COLOUR, REFERENCE_COLOUR = "#4e79a7", "#9aa5b1", "#bab0ac"
#: Sequential colour scale of the heatmaps (white to the model's blue).
HEAT_SCALE = [[0.0, "#f7fbff"], [0.5, "#9ecae1"], [1.0, "#08519c"]]

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"
# No mode bar: it covers the titles, and a reader zooms by dragging (double-click resets).
_CONFIG = {"displayModeBar": False, "responsive": True}


def layout(fig: go.Figure, *, title: str, height: int = 360, **kwargs: Any) -> go.Figure:
    """The common look: white background, light grid, the page's font, a left title."""
    settings: dict[str, Any] = {
        "template": "plotly_white", "height": height, "font": {"family": _FONT, "size": 12},
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "hoverlabel": {"font_family": _FONT},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1,
                   "xanchor": "right"},
    }
    fig.update_layout(**(settings | kwargs))
    return fig


def chart(fig: go.Figure, chart_id: str) -> Markup:
    """The figure as an HTML fragment (a div and its script); plotly.js comes from the page."""
    height = fig.layout.height or 360
    html = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=chart_id,
                       config=_CONFIG, default_height=f"{height}px", validate=False)
    return Markup(f'<figure class="chart" data-chart="{chart_id}">{html}</figure>')


# --------------------------------------------------------------------------
# Number formats (template filters)
# --------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def integer(value: Any) -> str:
    """``12,345``; a dash when missing."""
    return "–" if _missing(value) else f"{float(value):,.0f}"


def number(value: Any, digits: int = 3) -> str:
    """``0.894``; a dash when missing."""
    return "–" if _missing(value) else f"{float(value):,.{digits}f}"


def signed(value: Any, digits: int = 3) -> str:
    """``+0.012``; a dash when missing."""
    return "–" if _missing(value) else f"{float(value):+,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """A share as ``61.4%``; a dash when missing."""
    return "–" if _missing(value) else f"{100 * float(value):,.{digits}f}%"


def amount(value: Any, digits: int | None = None) -> str:
    """A sum of money, without currency (the data does not say which): ``1,234``, or
    ``12.50`` below 100 (or always ``digits`` decimals, for a column of one customer's
    amounts); a dash when missing."""
    if _missing(value):
        return "–"
    if digits is None:
        digits = 2 if abs(float(value)) < 100 else 0
    return f"{float(value):,.{digits}f}"


def label(value: Any) -> str:
    """A code as words: ``first_time_buyer`` -> ``first time buyer``."""
    return "–" if _missing(value) else str(value).replace("_", " ")


#: Metric keys as a reader knows them.
METRIC_NAMES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "log_loss": "log loss",
                "brier": "Brier score", "ece": "ECE"}


def metric(key: Any) -> str:
    """A metric key as words: ``test_defection_roc_auc`` -> ``ROC-AUC``."""
    name = str(key).removeprefix("test_defection_")
    return METRIC_NAMES.get(name, label(name))


FILTERS = {"integer": integer, "number": number, "signed": signed, "percent": percent,
           "amount": amount, "label": label, "metric": metric}


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.reports", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env


@cache
def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())


def generated_time() -> dt.datetime:
    """Now (UTC), or the time ``SOURCE_DATE_EPOCH`` gives (seconds since 1970, the
    reproducible-builds convention): the same outputs then give the same page."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def render(template: str, context: Mapping[str, Any], *,
           generated_at: dt.datetime | None = None) -> str:
    """Render a page template: the figures of ``context["charts"]`` as HTML fragments
    (ids ``chart-<name>``), plotly.js inlined once, and when it was generated
    (default :func:`generated_time`)."""
    generated_at = generated_at or generated_time()
    charts = {name: chart(fig, f"chart-{name}") for name, fig in context["charts"].items()}
    return _environment().get_template(template).render(
        **{**context, "charts": charts}, plotly_js=_plotly_js(),
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"))


def chart_ids(page: str) -> list[str]:
    """The ids of the charts of a rendered page (what a browser must draw)."""
    return re.findall(r'<figure class="chart" data-chart="([^"]+)"', page)
