"""Batch scoring on the tiny demo: the scored rows, the registered pyfunc, sinks, exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schema import CUSTOMER_SCORES
from features.spec import feature_table
from models.contacts import PLAN_COLUMNS, Budget, apply_budget
from models.contributions import BIAS_COLUMN
from models.defection import DefectionChoice, grouped_contributions
from models.economics import (
    BUDGET,
    NET_VALUE,
    NO_SPEND_PAYS,
    SPEND_ACTIONS,
    STAGE_ALLOWS_NO_SPEND,
    decide,
)
from models.feature_schema import SchemaMismatchError
from models.fitted import _design, predict_all
from models.policy_rules import ACTIONS
from models.risk import RISK_LABELS
from models.scorer import SCORE_COLUMNS, ChurnScorer, Scorer
from models.stages import STAGES, assign_stages
from models.uplift import ContactEffects
from models.value_tiers import VALUE_TIERS
from pipeline import cli, datasets, errors, score, train
from pipeline.model_source import LoadedModel
from pipeline.scoring import apply_contacts, score_features
from pipeline.tracking import scoring_example
from pipeline.wiring.features import feature_spec

pytestmark = pytest.mark.slow


def plain(values) -> list:
    """Values as Python objects, every kind of missing value as None."""
    return [None if pd.isna(v) else v for v in values]


def read_parquet_scores(paths) -> pd.DataFrame:
    return duckdb.sql(
        f"SELECT * FROM read_parquet('{paths.scores}/*/*.parquet', hive_partitioning=true)"
    ).df()


def read_duckdb_scores(paths) -> pd.DataFrame:
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        return con.sql("SELECT * FROM customer_scores").df()


@pytest.fixture
def project(trained_project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_project[4])
    monkeypatch.setattr(score, "PATHS", trained_project[1])
    return trained_project


@pytest.fixture(scope="module")
def first_run(trained_project):
    params, paths, *_, uri = trained_project
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        return params, paths, score.main(params, paths)


@pytest.fixture
def scored(project, first_run):
    return first_run


def feature_rows(paths, as_of: dt.date) -> pd.DataFrame:
    """The feature table as of a date, built the way the score stage builds it."""
    frame = pd.read_parquet(paths.features)
    return frame[pd.to_datetime(frame["cutoff"]).dt.date == as_of].reset_index(drop=True)


def test_every_customer_gets_one_complete_row(scored):
    params, paths, summary = scored
    rows = read_parquet_scores(paths)
    last = dt.date.fromisoformat(json.loads(paths.features_report.read_text())["last_event"])
    assert summary["as_of"] == (last + dt.timedelta(days=1)).isoformat()
    index = pd.read_parquet(paths.customer_index)
    assert len(rows) == summary["customers"] == len(index)  # everyone has an event before
    assert rows["customer_id"].is_unique
    assert set(rows.columns) == set(CUSTOMER_SCORES.names)
    assert set(rows["stage"]) <= set(STAGES) and set(rows["next_stage"]) <= set(STAGES)
    assert set(rows["action"]) <= set(ACTIONS)
    assert set(rows["value_tier"]) <= set(VALUE_TIERS)
    prospect = rows["stage"] == "prospect"
    assert prospect.any() and (~prospect).any()
    assert rows.loc[prospect, ["p_defect", "risk_label", "value_at_risk", "reason_1"]
                    ].isna().all().all()
    buyers = rows[~prospect]
    assert buyers["p_defect"].between(0, 1).all()
    assert set(buyers["risk_label"]) <= set(RISK_LABELS)
    np.testing.assert_allclose(buyers["value_at_risk"],
                               buyers["p_defect"] * buyers["predicted_value"])
    assert set(rows["action_rule"]) <= {NET_VALUE, NO_SPEND_PAYS, STAGE_ALLOWS_NO_SPEND, BUDGET}
    # The contacts: within the budget, ranked 1..k, the actions that spend; no spend costs 0.
    contacts = rows[rows["contact_rank"].notna()]
    assert 0 < len(contacts) <= params.score.budget.contacts
    assert sorted(contacts["contact_rank"]) == list(range(1, len(contacts) + 1))
    assert set(contacts["action"]) <= set(SPEND_ACTIONS)
    assert (contacts["expected_net_value"] > 0).all()
    rest = rows[rows["contact_rank"].isna()]
    assert set(rest["action"]) <= {"harvest", "end"}
    assert (rest[["expected_net_value", "action_cost"]] == 0).all().all()
    assert summary["contacts"]["contacts"] == len(contacts)
    assert summary["contacts"]["expected_cost"] == pytest.approx(
        contacts["action_cost"].sum(), abs=0.01)
    assert summary["contacts"]["effects"].startswith("assumed")
    # Every buyer whose risk is above the base rate has at least one reason.
    risky = buyers[buyers["risk_label"].isin(["high", "critical"])]
    assert len(risky) and risky["reason_1"].notna().any()
    # A risky customer without a reason is one whose every reason group lowers the risk
    # (its risk is the base rate's, README: reason codes): checked on the contributions.
    silent = risky.loc[risky["reason_1"].isna(), "customer_id"].astype(str)
    if len(silent):
        scorer = Scorer.load(paths.scorer)
        features = _features_as_of(params, paths, dt.date.fromisoformat(summary["as_of"]))
        features = features[features["customer_id"].astype(str).isin(silent)]
        features = features[list(scorer.feature_schema)].reset_index(drop=True)
        staged = features.assign(stage=assign_stages(features, scorer.decisions.stage_rules))
        with_bg, X = _design(scorer.fitted, staged, scorer.decisions.horizon_days)
        f = scorer.fitted
        sums = grouped_contributions(f["defection_choice"], f["defection_offset"],
                                     f["defection"], with_bg, X,
                                     method=scorer.decisions.reason_method)
        assert len(sums) == len(silent)
        assert (sums.drop(columns=BIAS_COLUMN).to_numpy() <= 0).all()
    assert (rows["model_version"] == "1").all() and rows["run_id"].notna().all()
    assert summary["value_at_risk"] == pytest.approx(buyers["value_at_risk"].sum(), rel=1e-6)
    assert sum(summary["by_stage"].values()) == len(rows)


def test_both_default_sinks_hold_the_same_rows(scored):
    _, paths, summary = scored
    a = read_parquet_scores(paths).sort_values("customer_id").reset_index(drop=True)
    b = read_duckdb_scores(paths).sort_values("customer_id").reset_index(drop=True)
    assert len(a) == len(b) == summary["customers"]
    for column in ("customer_id", "stage", "action", "risk_label", "reason_1"):
        assert plain(a[column]) == plain(b[column]), column
    np.testing.assert_allclose(a["p_defect"], b["p_defect"])
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        summary_rows = con.sql("SELECT sum(customers) FROM action_summary").fetchall()
        assert summary_rows[0][0] == summary["customers"]


def test_rescoring_a_date_replaces_its_rows_and_keeps_other_dates(scored):
    params, paths, first = scored
    again = score.main(params, paths)
    assert again["as_of"] == first["as_of"]
    earlier = dt.date.fromisoformat(first["as_of"]) - dt.timedelta(days=30)
    other = score.main(params.model_copy(update={"score": params.score.model_copy(
        update={"as_of": earlier})}), paths)
    for rows in (read_parquet_scores(paths), read_duckdb_scores(paths)):
        dates = pd.to_datetime(rows["as_of"]).dt.date
        counts = dates.value_counts()
        assert counts[dt.date.fromisoformat(first["as_of"])] == first["customers"]
        assert counts[earlier] == other["customers"]
        assert not rows.assign(as_of=dates).duplicated(["as_of", "customer_id"]).any()
    with duckdb.connect(str(paths.scores_db), read_only=True) as con:
        latest = con.sql("SELECT DISTINCT as_of FROM latest_scores").fetchall()
    assert [d for (d,) in latest] == [dt.date.fromisoformat(first["as_of"])]


def test_registered_pyfunc_gives_the_rows_of_in_process_scoring(scored):
    params, paths, summary = scored
    as_of = dt.date.fromisoformat(summary["as_of"])
    spec_columns = feature_table(feature_spec(params)).names
    frame = _features_as_of(params, paths, as_of)[spec_columns]
    model = mlflow.pyfunc.load_model(f"models:/{params.train.registered_model}@champion")
    served = model.predict(scoring_example(frame, model.metadata.get_input_schema()))
    scorer = Scorer.load(paths.scorer)
    direct = scorer.score(frame)
    written = read_parquet_scores(paths)
    written = written[pd.to_datetime(written["as_of"]).dt.date == as_of]
    written = written.set_index("customer_id").loc[direct["customer_id"]].reset_index()
    assert list(served.columns) == list(SCORE_COLUMNS)
    # The batch job applies the budget over the population after scoring each row.
    budgeted, _ = apply_budget(direct[list(PLAN_COLUMNS)], scorer.decisions.policy,
                               params.score.budget)
    for other, want in ((served, direct), (written, direct.assign(**budgeted))):
        for column in SCORE_COLUMNS:
            left, right = want[column], other[column]
            if column == "as_of":
                assert (pd.to_datetime(left) == pd.to_datetime(right)).all()
            elif pd.api.types.is_float_dtype(left):
                np.testing.assert_allclose(left.to_numpy(float), right.to_numpy(float),
                                           rtol=1e-9, err_msg=column)
            else:
                assert plain(left) == plain(right), column


def _features_as_of(params, paths, as_of):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        got, parts = score.features_as_of(
            params.model_copy(update={"score": params.score.model_copy(
                update={"as_of": as_of})}), paths, Path(tmp), None)
        assert got == as_of
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_a_bundle_of_the_blend_scores_like_its_two_parts(scored, tmp_path):
    """The blend (on a large log the choice may fall on it): mean log-odds of the
    logistic part and the booster, scored, explained and saved like any bundle."""
    params, paths, summary = scored
    blend = params.model_copy(update={"train": params.train.model_copy(
        update={"defection_candidates": ["blend"]})})
    frame = datasets.load_training_frame(paths)
    fitted, fit_summary = train.fit(frame, blend)
    assert fit_summary["defection_choice"]["chosen"] == "blend"
    deployed, _ = train.refit(frame, fitted, blend)
    assert deployed["defection"] is not None and deployed["defection_offset"] is not None

    base = Scorer.load(paths.scorer)
    scorer = Scorer(deployed, base.decisions, base.feature_schema, base.drift)
    rows = _features_as_of(params, paths, dt.date.fromisoformat(summary["as_of"]))
    rows = rows[list(scorer.feature_schema)]
    out = scorer.score(rows)
    buyer = (out["stage"] != "prospect").to_numpy()
    assert buyer.sum() > 100 and out.loc[buyer, "p_defect"].between(0, 1).all()

    staged = rows.assign(stage=out["stage"].astype(str).to_numpy())
    h = params.labels.horizon_days
    raw = {name: predict_all({**deployed, "defection_choice": DefectionChoice.of(name)},
                             staged, horizon_days=h)["p_defect_raw"].to_numpy()[buyer]
           for name in ("blend", "logistic_btyd", "lightgbm")}
    logit = {name: np.log(p / (1 - p)) for name, p in raw.items()}
    np.testing.assert_allclose(logit["blend"], (logit["logistic_btyd"] + logit["lightgbm"]) / 2,
                               rtol=1e-9, atol=1e-9)
    assert not np.allclose(logit["logistic_btyd"], logit["lightgbm"])
    # The scorer takes the buyers' probability from the reasons' contributions (they add
    # up to the log-odds) and predicts none for prospects: the same numbers as the
    # models' own predictions, for each way the parts combine.
    for name in ("blend", "logistic_btyd", "lightgbm"):
        parts = {**deployed, "defection_choice": DefectionChoice.of(name)}
        got = Scorer(parts, base.decisions, base.feature_schema, base.drift).score(rows)
        want = predict_all(parts, staged, horizon_days=h)["p_defect"].to_numpy()
        np.testing.assert_allclose(got.loc[buyer, "p_defect"].to_numpy(), want[buyer],
                                   rtol=0, atol=1e-12)
        assert got.loc[~buyer, "p_defect"].isna().all()
    assert out.loc[buyer, "reason_1"].notna().mean() > 0.5

    scorer.save(tmp_path / "blend")
    pd.testing.assert_frame_equal(Scorer.load(tmp_path / "blend").score(rows), out)


def _registered_and_rows(scored):
    """The registered scorer and the feature rows of the scoring date, in its columns."""
    params, paths, summary = scored
    scorer = Scorer.load(paths.scorer)
    rows = _features_as_of(params, paths, dt.date.fromisoformat(summary["as_of"]))
    return scorer, rows[list(scorer.feature_schema)]


class _FixedEffect:
    """A learned effect on defection that removes 90% of every customer's probability."""

    effect_on = "defection"

    def effect(self, X, effect_kind):
        assert effect_kind == "relative"
        return np.full(len(X), 0.9)


def test_learned_effects_decide_in_place_of_the_priors(scored):
    base, rows = _registered_and_rows(scored)
    prior = base.score(rows)
    learned = ContactEffects(learned={"protect": _FixedEffect()})
    scorer = Scorer({**base.fitted, "effects": learned}, base.decisions, base.feature_schema,
                    base.drift)
    got = scorer.score(rows)
    d = base.decisions
    want = decide(d.economics, d.policy, stage=got["stage"], risk=got["risk_label"],
                  value_tier=got["value_tier"], p_defect=got["p_defect"],
                  predicted_value=got["predicted_value"],
                  effects={"protect": np.full(len(rows), 0.9)})
    assert (got["action"].to_numpy() == want.action).all()
    np.testing.assert_allclose(got["expected_net_value"], want.expected_net_value)
    assert (got["action"] == "protect").sum() > (prior["action"] == "protect").sum()
    # Everything but the decisions is the same.
    pd.testing.assert_series_equal(got["p_defect"], prior["p_defect"])


def test_scoring_in_pieces_gives_the_same_rows_as_at_once(scored):
    scorer, frame = _registered_and_rows(scored)
    whole = scorer.score(frame)
    pieces = pd.concat([scorer.score(frame.iloc[i:i + 37]) for i in range(0, len(frame), 37)],
                       ignore_index=True)
    pd.testing.assert_frame_equal(whole, pieces)


def test_chunked_scoring_gives_the_contacts_of_whole_table_scoring(scored, tmp_path):
    scorer, frame = _registered_and_rows(scored)
    whole = scorer.score(frame)
    budget = Budget(contacts=int((whole["action"].isin(SPEND_ACTIONS)).sum() // 3))
    want, _ = apply_budget(whole[list(PLAN_COLUMNS)], scorer.decisions.policy, budget)
    assert (want["action_rule"] == BUDGET).sum() > 0  # the budget binds
    want = whole.assign(**want).set_index("customer_id")
    # Shuffled into parts, scored in chunks of 100 and spooled: the same contacts.
    parts = []
    shuffled = frame.sample(frac=1, random_state=1)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        parts.append(tmp_path / f"part-{i}.parquet")
        shuffled.iloc[rows].to_parquet(parts[-1])
    model = LoadedModel(scorer=scorer, uri="test", name="test", version="1", run_id=None)
    spooled, _ = score_features(model, parts, chunk_rows=100, scored_at=dt.datetime(2024, 1, 1),
                                threshold=0.2, spool=tmp_path)
    spooled, contacts = apply_contacts(spooled, scorer.decisions.policy, budget)
    got = pd.read_parquet(spooled.files()).set_index("customer_id").loc[want.index]
    for column in ("action", "action_rule", "contact_rank"):
        assert plain(got[column]) == plain(want[column]), column
    np.testing.assert_allclose(got["expected_net_value"], want["expected_net_value"])
    assert contacts["contacts"] == budget.contacts
    groups = spooled.groups()
    assert groups.groupby("action")["customers"].sum().to_dict() == (
        want["action"].value_counts().to_dict())
    spooled.close()


def test_a_scorer_refuses_features_of_another_schema(scored):
    params, paths, summary = scored
    scorer = Scorer.load(paths.scorer)
    frame = _features_as_of(params, paths, dt.date.fromisoformat(summary["as_of"]))
    frame = frame[list(scorer.feature_schema)].head(5)
    with pytest.raises(SchemaMismatchError, match=r"missing columns \['recency_days'\]"):
        scorer.score(frame.drop(columns="recency_days"))
    with pytest.raises(SchemaMismatchError, match=r"unexpected columns \['shoe_size'\]"):
        scorer.score(frame.assign(shoe_size=42.0))
    with pytest.raises(SchemaMismatchError, match=r"frequency \(int32 expected, got string\)"):
        scorer.score(frame.assign(frequency="many"))


def _save_pyfunc(scorer: Scorer, tmp_path) -> str:
    bundle, model_dir = tmp_path / "bundle", tmp_path / "model"
    scorer.save(bundle)
    mlflow.pyfunc.save_model(str(model_dir), python_model=ChurnScorer(),
                             artifacts={"scorer": str(bundle)})
    return str(model_dir)


def invoke(*args: str):
    result = CliRunner().invoke(cli.app, ["score", *args])
    result.text = " ".join(result.output.split())  # log lines wrap on a narrow terminal
    return result


def test_exit_code_ok_and_summary(project):
    result = invoke()
    assert result.exit_code == errors.EXIT_OK, result.output
    assert "scored" in result.text and "customers as of" in result.text


def test_exit_code_for_a_missing_model(project):
    result = invoke("--model-uri", "models:/no-such-model@champion")
    assert result.exit_code == errors.EXIT_MODEL
    assert "cannot load the model models:/no-such-model@champion" in result.text


def test_exit_code_for_a_model_of_another_feature_schema(project, tmp_path):
    scorer = Scorer.load(project[1].scorer)
    schema = dict(scorer.feature_schema)
    schema["shoe_size"] = "double"
    other = Scorer(scorer.fitted, scorer.decisions, schema, scorer.drift)
    result = invoke("--model-uri", _save_pyfunc(other, tmp_path))
    assert result.exit_code == errors.EXIT_MISMATCH, result.output
    assert "shoe_size" in result.text


def test_exit_code_for_a_model_of_other_stage_rules(project, tmp_path):
    scorer = Scorer.load(project[1].scorer)
    rules = scorer.decisions.stage_rules.model_copy(update={"lost_after_days": 400})
    other = Scorer(scorer.fitted, dataclasses.replace(scorer.decisions, stage_rules=rules),
                   scorer.feature_schema, scorer.drift)
    result = invoke("--model-uri", _save_pyfunc(other, tmp_path))
    assert result.exit_code == errors.EXIT_MISMATCH, result.output
    assert "stages.lost_after_days" in result.text


def test_exit_code_for_drift_publishes_nothing(project):
    paths = project[1]
    before = read_duckdb_scores(paths) if paths.scores_db.exists() else None
    result = invoke("--fail-on-drift", "--as-of", "2022-03-01",
                    "-S", "score.drift.threshold=0.05")
    assert result.exit_code == errors.EXIT_DRIFT, result.output
    assert "scores not published" in result.text
    report = json.loads(paths.score_report.read_text())
    assert report["published"] is False and report["drift"]["drifted"]
    after = read_duckdb_scores(paths) if paths.scores_db.exists() else None
    if before is None:
        assert after is None
    else:
        assert len(after) == len(before)
        assert dt.date(2022, 3, 1) not in set(pd.to_datetime(after["as_of"]).dt.date)


def test_exit_code_for_a_date_before_any_event(project):
    result = invoke("--as-of", "1990-01-01")
    assert result.exit_code == errors.EXIT_INPUT
    assert "not after the first event" in result.text


def test_exit_code_for_a_malformed_date(project):
    result = invoke("--as-of", "2024-13-45")
    assert result.exit_code == errors.EXIT_CONFIG
    assert "score.as_of" in result.text


def test_exit_code_for_a_sink_in_use(project):
    import subprocess
    import sys

    paths = project[1]
    # Another process holds the DuckDB file open for writing.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(paths.scores_db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        result = invoke("-S", "score.sinks.lock_timeout_seconds=2")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == errors.EXIT_SINK, result.output
    assert "in use by another process" in result.text and "waited 2 s" in result.text
    assert waited >= 2


def test_mlflow_models_predict_gives_the_same_rows(scored, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    params, paths, summary = scored
    scorer = Scorer.load(paths.scorer)
    frame = _features_as_of(params, paths, dt.date.fromisoformat(summary["as_of"]))
    frame = frame[list(scorer.feature_schema)].head(40)
    frame.to_csv(tmp_path / "features.csv", index=False)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    result = subprocess.run(
        [str(mlflow_cli), "models", "predict", "-m",
         f"models:/{params.train.registered_model}@champion", "-i",
         str(tmp_path / "features.csv"), "-t", "csv", "-o", str(tmp_path / "out.json"),
         "--env-manager", "local"],
        check=False, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    served = pd.DataFrame(json.loads((tmp_path / "out.json").read_text())["predictions"])
    direct = scorer.score(frame)
    assert served["customer_id"].tolist() == direct["customer_id"].tolist()
    for column in ("stage", "action", "action_rule", "risk_label", "reason_1"):
        assert plain(served[column]) == plain(direct[column]), column
    np.testing.assert_allclose(served["p_defect"].to_numpy(float),
                               direct["p_defect"].to_numpy(float), rtol=1e-9)


def test_scoring_into_postgresql_never_shows_the_password(project, postgres_url, monkeypatch,
                                                          caplog):
    import psycopg
    from sqlalchemy.engine import make_url

    params, paths = project[0], project[1]
    url = make_url(postgres_url)
    assert url.password, "the test server must use a password"
    monkeypatch.setenv("CHURN_POSTGRES_URL", postgres_url)
    with caplog.at_level("INFO", logger="churn"):
        summary = score.main(params, paths)
        score.main(params, paths)  # the same date again: replaced, not added
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as con:
        count, distinct = con.execute(
            "SELECT count(*), count(DISTINCT customer_id) FROM public.customer_scores "
            "WHERE as_of = %s", [dt.date.fromisoformat(summary["as_of"])]).fetchone()
        latest = con.execute("SELECT count(*) FROM public.latest_scores").fetchone()[0]
    assert count == distinct == latest == summary["customers"]
    assert "postgres" in summary["outputs"]
    report = paths.score_report.read_text()
    for text in (report, caplog.text, json.dumps(summary)):
        assert url.password not in text
    assert "***" in summary["outputs"]["postgres"]


def test_two_jobs_for_the_same_date_end_with_one_set_of_rows(project, postgres_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import psycopg
    from sqlalchemy.engine import make_url

    params, paths, *_, uri = project
    repo = Path(__file__).resolve().parents[2]
    as_of = "2024-06-01"
    env = {**os.environ, "CHURN_PROJECT_DIR": str(paths.root), "MLFLOW_TRACKING_URI": uri,
           "CHURN_POSTGRES_URL": postgres_url}
    command = [str(Path(sys.executable).with_name("churn")), "score", "--params",
               str(repo / "params.yaml"), "--as-of", as_of, "-S", "score.sinks.postgres.table="
               "concurrent_scores"]
    jobs = [subprocess.Popen(command, env=env, cwd=paths.root, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=600)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    day = dt.date.fromisoformat(as_of)
    customers = json.loads(paths.score_report.read_text())["customers"]
    parquet = read_parquet_scores(paths)
    parquet = parquet[pd.to_datetime(parquet["as_of"]).dt.date == day]
    duck = read_duckdb_scores(paths)
    duck = duck[pd.to_datetime(duck["as_of"]).dt.date == day]
    conninfo = make_url(postgres_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(conninfo) as con:
        pg = con.execute("SELECT customer_id FROM public.concurrent_scores WHERE as_of = %s",
                         [day]).fetchall()
    for ids in (parquet["customer_id"].tolist(), duck["customer_id"].tolist(),
                [r[0] for r in pg]):
        assert len(ids) == len(set(ids)) == customers
