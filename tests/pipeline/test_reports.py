"""HTML reports: what they say, the CLI that regenerates them, and how a real browser draws them.

The browser tests open both reports in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) and save a screenshot of each to
``test-output/reports/`` at the repository root.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from markupsafe import escape
from typer.testing import CliRunner

import pipeline.reports
from models.stages import STAGES
from pipeline import cli, errors, score
from pipeline.reports import contacts, html, scoring, training

ROOT = Path(__file__).resolve().parents[2]
TEST_OUTPUT = ROOT / "test-output" / "reports"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

# --------------------------------------------------------------------------
# Pure parts: formats, curves, tables
# --------------------------------------------------------------------------


def test_number_formats_and_missing_values():
    assert html.integer(1234567) == "1,234,567"
    assert html.percent(0.6145) == "61.5%" and html.percent(0.5, 0) == "50%"
    assert html.number(0.89847) == "0.898" and html.signed(0.0093, 4) == "+0.0093"
    assert html.amount(14579.4) == "14,579" and html.amount(85.857) == "85.86"
    assert html.amount(182.4, 2) == "182.40"
    assert html.label("first_time_buyer") == "first time buyer"
    assert html.metric("test_defection_roc_auc") == "ROC-AUC" and html.metric("ece") == "ECE"
    for f in (html.integer, html.number, html.signed, html.percent, html.amount, html.label):
        assert f(None) == "–" and f(math.nan) == "–"


def test_thin_keeps_the_ends_and_at_most_the_points_asked():
    curve = pd.DataFrame({"x": range(10_001), "y": range(10_001)})
    thinned = training.thin(curve, points=400)
    assert len(thinned) <= 400
    assert thinned["x"].iloc[0] == 0 and thinned["x"].iloc[-1] == 10_000
    assert thinned["x"].is_monotonic_increasing
    assert training.thin(curve.head(50), points=400).equals(curve.head(50))


def test_the_best_of_each_metric_is_marked_among_model_and_baselines_not_the_oracle():
    defection = {
        "model": {"roc_auc": 0.90, "log_loss": 0.40, "ece": 0.05},
        "recency": {"roc_auc": 0.80, "log_loss": 0.50, "ece": 0.03},
        "oracle": {"roc_auc": 0.95, "log_loss": 0.30, "ece": 0.01},
    }
    rows = {r["key"]: dict(zip([k for k, _, _ in training.COMPARED], r["values"], strict=True))
            for r in training.comparison_rows(defection)}
    assert list(rows) == ["model", "recency", "oracle"]  # absent baselines are left out
    assert rows["model"]["roc_auc"] == (0.90, True)  # higher is better
    assert rows["model"]["log_loss"] == (0.40, True)  # lower is better
    assert rows["recency"]["ece"] == (0.03, True)
    assert not any(best for _, best in rows["oracle"].values())
    assert rows["model"]["pr_auc"] == (None, False)


def test_flow_summary_counts_stayers_movers_and_newcomers():
    flows = pd.DataFrame([
        ("core", "core", 10), ("core", "at_risk", 3), ("lost", "reactivated", 2),
        ("prospect", "first_time_buyer", 4), (scoring.NEW, "prospect", 5),
        ("lost", scoring.GONE, 1)], columns=["before", "after", "customers"])
    assert scoring._flow_summary(flows) == {"stayed": 10, "moved": 9, "slipped": 3,
                                            "came_back": 2, "new": 5, "gone": 1}


def test_a_missing_evaluate_output_names_the_stage_to_run(tmp_path):
    from pipeline.paths import Paths

    with pytest.raises(html.ReportInputError, match=r"evaluation\.json is missing: run the "
                       r"evaluate stage"):
        training.load_outputs(Paths(tmp_path))
    with pytest.raises(html.ReportInputError, match="no stored scores"):
        scoring.load_scores(Paths(tmp_path))


# --------------------------------------------------------------------------
# Reports of a trained and twice scored project
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored_twice(trained_project, tmp_path_factory):
    """The trained project scored as of two dates 30 days apart, into outputs of its own
    (the shared project's scores stay as other tests expect them)."""
    params, paths, *_, uri = trained_project
    out = copy.copy(paths)  # the same clean data and registry, its own outputs
    root = tmp_path_factory.mktemp("reports")
    out.reports = root / "reports"
    out.scores, out.scores_db = root / "scores", root / "scores.duckdb"
    out.drift, out.score_report = root / "drift", out.reports / "score.json"
    out.scoring_report = out.reports / "scoring_report.html"
    out.scoring_reports = out.reports / "scoring"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        last = score.main(params, out)
        as_of = dt.date.fromisoformat(last["as_of"])
        previous = as_of - dt.timedelta(days=30)
        first = score.main(params.model_copy(update={"score": params.score.model_copy(
            update={"as_of": previous})}), out)
        # The later date again, now with a date before it to compare with.
        pipeline.reports.write_scoring_report(out, as_of, drift_threshold=0.2)
    return {"params": params, "paths": out, "uri": uri, "as_of": as_of, "previous": previous,
            "summaries": (first, last)}


def test_evaluate_writes_the_training_report_and_logs_it_to_the_run(trained_project):
    from mlflow import MlflowClient

    params, paths, train_summary, metrics, uri = trained_project
    page = paths.training_report.read_text(encoding="utf-8")
    d = metrics["defection"]
    assert f"{d['model']['roc_auc']:.3f}" in page
    for key, name in training.CONTENDERS.items():
        assert (name in page) == (key in d), name
    labels = json.loads(paths.labels_report.read_text())
    learned = any(v.get("qini") is not None for v in metrics["effects"]["actions"].values())
    assert labels["plan"]["test"][0] in page and labels["first_event"] in page
    assert set(html.chart_ids(page)) == {f"chart-{n}" for n in (
        "roc", "pr", "calibration", "lift", "confusion", "importance", "ablation",
        "transitions", "contacts_profit", *(["contacts_qini"] if learned else []))}
    assert "Version 1 was promoted to champion" in page
    # The contacts section: every policy's profit at the budget, where the effects come from.
    profit = metrics["profit"]
    assert "Contacts: what they cost and return" in page
    assert f"Effects: {profit['effects']}" in page
    for name in profit["policies"]:
        assert contacts.POLICY_NAMES[name] in page
    refit = train_summary["refit"]
    assert "The models that score</strong> are trained again on every labelled cutoff" in page
    assert f"{refit['cutoffs'][0]} to {refit['cutoffs'][-1]}" in page
    # Self-contained: plotly.js inlined, nothing fetched from elsewhere.
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?https?:", page)
    assert len(page) > 3_000_000  # plotly.js itself
    run_id = train_summary["mlflow"]["run_id"]
    names = [a.path for a in MlflowClient(uri).list_artifacts(run_id)]
    assert "training_report.html" in names


def test_training_report_regenerates_from_the_stage_outputs_alone(trained_project, tmp_path):
    paths = copy.copy(trained_project[1])
    paths.training_report = tmp_path / "training_report.html"
    pipeline.reports.write_training_report(paths)
    assert paths.training_report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_scoring_report_of_each_date_is_kept_and_the_latest_is_the_last_written(scored_twice):
    paths, as_of, previous = scored_twice["paths"], scored_twice["as_of"], scored_twice["previous"]
    dated = {p.name for p in paths.scoring_reports.glob("*.html")}
    assert dated == {f"{as_of}.html", f"{previous}.html"}
    latest = paths.scoring_report.read_text(encoding="utf-8")
    assert latest == (paths.scoring_reports / f"{as_of}.html").read_text(encoding="utf-8")
    last = scored_twice["summaries"][1]
    assert last["report"] == str(paths.scoring_reports / f"{as_of}.html")
    from mlflow import MlflowClient

    logged = MlflowClient(scored_twice["uri"]).list_artifacts(last["mlflow_run_id"], "scoring")
    assert "scoring/scoring_report.html" in [a.path for a in logged]


def test_scoring_report_shows_stages_actions_contacts_change_and_drift(scored_twice):
    paths, as_of, previous = scored_twice["paths"], scored_twice["as_of"], scored_twice["previous"]
    page = (paths.scoring_reports / f"{as_of}.html").read_text(encoding="utf-8")
    last = scored_twice["summaries"][1]
    assert f"Customer scoring as of {as_of}" in page
    assert f"{last['customers']:,}" in page
    assert html.amount(last["value_at_risk"]) in page
    assert set(html.chart_ids(page)) == {f"chart-{n}" for n in (
        "stages", "risk", "actions", "flows", "drift")}
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        # The list: the largest values at risk among protect and regain (a contact chosen
        # by net value may have a low risk and no reason).
        listed = con.execute(
            "SELECT customer_id, reason_1 FROM customer_scores WHERE as_of = ? "
            "AND action IN ('protect', 'regain') ORDER BY value_at_risk DESC, customer_id "
            "LIMIT 25", [as_of]).fetchall()
        moved = con.execute(
            "SELECT count(*) FROM customer_scores c JOIN customer_scores p USING (customer_id) "
            "WHERE c.as_of = ? AND p.as_of = ? AND c.stage <> p.stage",
            [as_of, previous]).fetchone()[0]
    contacts = page[page.index('id="contact"'):page.index('id="change"')]
    assert f"<td>{listed[0][0]}</td>" in contacts
    reasons = [reason for _, reason in listed if reason]
    assert reasons and all(str(escape(reason)) in contacts for reason in reasons)
    change = page[page.index('id="change"'):page.index('id="drift"')]
    assert f"Between <strong>{previous}</strong> and <strong>{as_of}</strong>" in change
    assert f"{moved:,} changed stage" in change
    drift = pd.read_parquet(paths.drift / f"as_of={as_of}" / "drift.parquet")
    top_column = drift.sort_values("psi", ascending=False)["column"].iloc[0]
    assert f"<td>{top_column}</td>" in page[page.index('id="drift"'):]
    for stage in STAGES:
        assert html.label(stage) in page


def test_the_first_scoring_date_has_nothing_to_compare_with(scored_twice):
    paths, previous = scored_twice["paths"], scored_twice["previous"]
    page = (paths.scoring_reports / f"{previous}.html").read_text(encoding="utf-8")
    assert "No earlier scoring date" in page
    assert "chart-flows" not in html.chart_ids(page)


def test_drifted_columns_are_highlighted(scored_twice, tmp_path):
    paths, as_of = copy.copy(scored_twice["paths"]), scored_twice["as_of"]
    # The same date, with a drift table where one column is over the threshold.
    paths.drift = tmp_path / "drift"
    source = scored_twice["paths"].drift / f"as_of={as_of}" / "drift.parquet"
    drift = pd.read_parquet(source)
    drift.loc[drift["column"] == "recency_days", ["psi", "drifted"]] = [0.9, True]
    (paths.drift / f"as_of={as_of}").mkdir(parents=True)
    drift.to_parquet(paths.drift / f"as_of={as_of}" / "drift.parquet")
    page = scoring.render_scoring_report(scoring.load_scores(paths, as_of, drift_threshold=0.2))
    assert re.search(r'<tr class="alert"><td>recency_days</td>\s*<td class="n">0\.900</td>', page)
    assert page.count('<tr class="alert">') == 1
    assert "1 of " in page and "columns are flagged" in page


def invoke(*args: str):
    result = CliRunner().invoke(cli.app, ["report", *args])
    result.text = " ".join(result.output.split())
    return result


def test_churn_report_regenerates_either_report(scored_twice, trained_project, monkeypatch,
                                                tmp_path):
    paths, previous = copy.copy(scored_twice["paths"]), scored_twice["previous"]
    paths.training_report = tmp_path / "training_report.html"
    monkeypatch.setattr(pipeline.reports, "PATHS", paths)
    dated = paths.scoring_reports / f"{previous}.html"
    dated.unlink()
    result = invoke("scoring", "--as-of", previous.isoformat())
    assert result.exit_code == errors.EXIT_OK, result.output
    assert dated.exists() and f"wrote {dated}" in result.text
    assert f"as of {previous}" in paths.scoring_report.read_text(encoding="utf-8")
    result = invoke("training")
    assert result.exit_code == errors.EXIT_OK, result.output
    assert paths.training_report.exists()


def test_churn_report_exit_codes(scored_twice, monkeypatch):
    monkeypatch.setattr(pipeline.reports, "PATHS", scored_twice["paths"])
    result = invoke("scoring", "--as-of", "2020-01-01")
    assert result.exit_code == errors.EXIT_INPUT
    assert "no scores as of 2020-01-01" in result.text
    assert scored_twice["as_of"].isoformat() in result.text  # the dates there are
    assert invoke("scoring", "--as-of", "2024-13-45").exit_code == errors.EXIT_USAGE
    assert invoke("training", "--as-of", "2024-01-01").exit_code == errors.EXIT_USAGE
    assert invoke("weekly").exit_code == errors.EXIT_USAGE


# --------------------------------------------------------------------------
# A real browser
# --------------------------------------------------------------------------

# What plotly.js drew in each chart: its SVG, the paths of its traces (lines, bars,
# markers) and the pictures of its heatmaps (a PNG data URL per heatmap).
_DRAWN = """
var XLINK = 'http://www.w3.org/1999/xlink';
return Array.from(document.querySelectorAll('figure.chart')).map(function (figure) {
  var svg = figure.querySelector('svg.main-svg');
  var paths = Array.from(figure.querySelectorAll('.cartesianlayer .trace path'))
    .filter(function (p) { return (p.getAttribute('d') || '').length > 8; });
  var images = Array.from(figure.querySelectorAll('.cartesianlayer image'))
    .filter(function (i) {
      return (i.getAttribute('href') || i.getAttributeNS(XLINK, 'href') || '').length > 100; });
  var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {id: figure.dataset.chart, plot: !!figure.querySelector('.js-plotly-plot'),
          svg: !!svg, paths: paths.length, images: images.length,
          heatmap: !!figure.querySelector('.heatmaplayer .trace, .hm'),
          width: box.width, height: box.height};
});
"""


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Selenium; skipped only when it cannot start."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            pytest.skip(f"{binary} is missing: apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium fetch a driver or a browser
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as err:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium cannot start here: {err.msg}")
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open_and_check(driver, page: Path, screenshot: Path) -> list[dict]:
    from selenium.webdriver.support.ui import WebDriverWait

    expected = html.chart_ids(page.read_text(encoding="utf-8"))
    driver.set_window_size(1400, 1000)
    driver.get(page.resolve().as_uri())
    # Plotly draws each chart on load; wait until every figure has its SVG.
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.querySelectorAll('figure.chart svg.main-svg').length") >= len(expected))
    charts = driver.execute_script(_DRAWN)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 20, 16_000))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
    assert [c["id"] for c in charts] == expected and expected
    return charts


@pytest.mark.parametrize("which", ["training", "scoring"])
def test_a_browser_draws_every_chart_without_console_errors(browser, scored_twice,
                                                            trained_project, which):
    scored = scored_twice["paths"].scoring_reports / f"{scored_twice['as_of']}.html"
    page = trained_project[1].training_report if which == "training" else scored
    charts = _open_and_check(browser, page, TEST_OUTPUT / f"{which}_report.png")
    for chart in charts:
        assert chart["plot"] and chart["svg"], chart
        assert chart["width"] > 200 and chart["height"] > 150, chart
        # A heatmap is one picture; other charts are paths (a line, bars, markers).
        assert (chart["images"] > 0) if chart["heatmap"] else (chart["paths"] > 0), chart
