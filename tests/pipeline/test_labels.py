"""The labels stage on the tiny demo: the parquet, the report, the plan and the params."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.labels import LABELS
from models.split_plan import SPLITS
from models.stages import STAGES, assign_stages
from pipeline import features as features_stage
from pipeline import generate, validate
from pipeline import labels as labels_stage
from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.paths import Paths

D = dt.date


def _tiny_params(paths: Paths, **overrides):
    inputs = {f"data.{t}": str(paths.demo_input(t))
              for t in ("transactions", "interactions", "customers")}
    return load_params(overrides={"generate.size": "tiny", **inputs, **overrides})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny demo, generated, validated and labelled under a temporary project folder."""
    root = tmp_path_factory.mktemp("tiny")
    paths = Paths(root)
    params = _tiny_params(paths)
    generate.main(params, paths)
    validate.main(params, paths)
    report = labels_stage.main(params, paths)
    labels = pq.read_table(paths.labels_table).to_pandas()
    return params, paths, report, labels


def test_outputs_exist_with_the_declared_schema(tiny):
    _, paths, report, _ = tiny
    assert pq.read_schema(paths.labels_table).remove_metadata() == LABELS.arrow_schema()
    assert json.loads(paths.labels_report.read_text()) == json.loads(json.dumps(report))
    assert sorted(p.name for p in paths.labels.iterdir()) == ["labels.parquet"]
    assert not list(paths.labels.parent.glob(".labels-features.*"))


def test_report_reconciles_with_the_parquet(tiny):
    _, _, report, labels = tiny
    assert report["rows"]["total"] == len(labels) > 0
    for split in SPLITS:
        part = labels[labels["split"] == split]
        assert report["rows"][split] == len(part) > 0, split
        counts = part["stage"].value_counts()
        assert report["stage_counts"][split] == {s: int(counts.get(s, 0)) for s in STAGES}
        buyers = part["defected"].dropna()
        assert report["defection_rate"][split]["all"] == pytest.approx(buyers.mean(), abs=1e-6)
        assert sorted(part["cutoff"].unique()) == [D.fromisoformat(d)
                                                   for d in report["plan"][split]]
    matrix = report["transitions_train"]
    assert sum(sum(row.values()) for row in matrix.values()) == report["rows"]["train"]
    assert labels.duplicated(["customer_id", "cutoff"]).sum() == 0


def test_every_stage_appears_in_training_and_rates_are_rates(tiny):
    _, _, report, labels = tiny
    train = labels[labels["split"] == "train"]
    assert set(train["stage"]) == set(STAGES) and set(train["next_stage"]) == set(STAGES)
    for split in SPLITS:
        rates = report["defection_rate"][split]
        assert 0 < rates["all"] < 1, split
        assert rates["by_stage"]["prospect"] is None
        assert all(0 <= r <= 1 for s, r in rates["by_stage"].items() if s != "prospect")
    # Defection is defined exactly for customers who bought before t.
    assert (labels["defected"].isna() == (labels["stage"] == "prospect")).all()
    assert (labels["defected"].fillna(False) == (labels["future_purchases"] == 0)
            ).where(labels["stage"] != "prospect", True).all()


def test_automatic_plan_on_the_demo_is_out_of_time(tiny):
    params, _, report, _ = tiny
    plan = report["plan"]
    h = dt.timedelta(days=params.labels.horizon_days)
    last = D.fromisoformat(report["last_event"])
    train, val, test = ([D.fromisoformat(d) for d in plan[s]] for s in SPLITS)
    assert plan["source"] == "automatic" and len(val) == len(test) == 1
    assert max(train) + h <= val[0] and val[0] + h <= test[0]
    assert test[0] + h <= last + dt.timedelta(days=1) < test[0] + h + dt.timedelta(days=31)
    assert plan["steps"] == [] and plan["validation_share"] is None  # the plan as asked


def test_stages_agree_with_the_feature_table(tiny):
    params, paths, _, labels = tiny
    features_stage.main(params, paths)
    feats = pq.read_table(paths.features).to_pandas()
    feats = feats[feats["cutoff"].isin(set(labels["cutoff"]))]
    assert feats["cutoff"].nunique() == labels["cutoff"].nunique()
    expected = pd.DataFrame({"customer_id": feats["customer_id"], "cutoff": feats["cutoff"],
                             "expected": assign_stages(feats, labels_stage.stage_rules(params))
                             .astype(str)})
    both = labels.merge(expected, on=["customer_id", "cutoff"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all()
    assert (both["stage"] == both["expected"]).all()


def test_explicit_plan_from_params(tmp_path, tiny):
    _, paths, _, _ = tiny
    params = _tiny_params(paths, **{"labels.train_cutoffs": ["2023-06-01", "2023-03-01"],
                                    "labels.validation_cutoffs": [],
                                    "labels.test_cutoffs": ["2024-01-01"],
                                    "stages.core_min_purchases": 3})
    out = Paths(tmp_path)
    out.clean = paths.clean
    out.customer_index = paths.customer_index
    report = labels_stage.main(params, out)
    labels = pq.read_table(out.labels_table).to_pandas()
    assert report["plan"] == {"horizon_days": 90, "train": ["2023-03-01", "2023-06-01"],
                              "validation": [], "test": ["2024-01-01"], "source": "params",
                              "validation_share": 0.2, "steps": []}
    assert report["rules"]["core_min_purchases"] == 3
    assert sorted(labels["cutoff"].unique()) == [D(2023, 3, 1), D(2023, 6, 1), D(2024, 1, 1)]
    # No validation cutoff: a fifth of the customers validate on the training cutoffs,
    # and none of them trains.
    validating = labels[labels["split"] == "validation"]
    training = labels[labels["split"] == "train"]
    assert set(validating["cutoff"]) == {D(2023, 3, 1), D(2023, 6, 1)}
    assert not set(validating["customer_id"]) & set(training["customer_id"])
    share = validating["customer_id"].nunique() / labels.loc[
        labels["split"] != "test", "customer_id"].nunique()
    assert 0.15 < share < 0.25


def test_leaking_explicit_plan_is_a_config_error(tmp_path, tiny):
    _, paths, _, _ = tiny
    params = _tiny_params(paths, **{"labels.train_cutoffs": ["2023-06-01", "2023-12-01"],
                                    "labels.validation_cutoffs": ["2024-01-01"],
                                    "labels.test_cutoffs": ["2024-06-01"]})
    out = Paths(tmp_path)
    out.clean = paths.clean
    out.customer_index = paths.customer_index
    with pytest.raises(ConfigError, match=r"labels\.train_cutoffs .*training cutoffs 2023-12-01 "
                                          r"leak into the validation period"):
        labels_stage.main(params, out)
    assert not out.labels.exists() and not out.labels_report.exists()


def test_too_short_data_is_a_config_error(tiny):
    _, paths, _, _ = tiny
    params = _tiny_params(paths, **{"labels.horizon_days": 600})
    with pytest.raises(ConfigError, match=r"labels \(automatic split\): the events span "
                                          r"1094 days .* need 1228 days; set "
                                          r"labels\.horizon_days to at most 533"):
        labels_stage.split_plan(params, D(2022, 1, 2), D(2024, 12, 30))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"stages.dormant_after_days": 400}, r"dormant_after_days \(400\) must be below"),
    ({"stages.at_risk_gap_factor": 0.5}, r"stages\.at_risk_gap_factor"),
    ({"stages.core_min_purchases": 1}, r"stages\.core_min_purchases"),
    ({"stages.lost_days": 3}, r"stages\.lost_days: unknown key \(did you mean "
                               r"'stages\.lost_after_days'\?\)"),
    ({"labels.train_cutoffs": ["2023-01-01"]}, r"missing: \['labels\.validation_cutoffs', "
                                               r"'labels\.test_cutoffs'\]"),
    ({"labels.n_test": 0}, r"labels\.n_test"),
])
def test_invalid_stage_and_label_params_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(overrides=overrides)


def test_params_build_the_rules():
    params = load_params(overrides={"stages.lost_after_days": 500})
    rules = labels_stage.stage_rules(params)
    assert rules.lost_after_days == 500 and rules.dormant_after_days == 120


def test_a_sparse_log_whose_splits_hold_too_few_of_an_outcome_is_refused(tmp_path):
    """Twenty customers: validate and the features pass, but the validation and test
    splits hold a handful of labelled rows; the stage stops naming the settings, writes
    nothing, and the training (which would fail to calibrate) is never reached."""
    paths = Paths(tmp_path)
    params = _tiny_params(paths, **{"generate.sizes.tiny.customers": 20})
    generate.main(params, paths)
    validate.main(params, paths)

    with pytest.raises(ConfigError, match=(
            r"^labels \(automatic split\): the validation split holds \d+ labelled rows, .*: "
            r"the defection model needs at least 20 labelled rows of each outcome \(defected, "
            r"retained\) in every split to train, validate and test; try a larger "
            r"labels\.n_validation \(or 0: labels\.validation_share of the customers validate "
            r"on the training cutoffs\), .*labels\.horizon_days .*, or a longer history$")):
        labels_stage.main(params, paths)
    assert not paths.labels.exists() and not paths.labels_report.exists()


def _plan_labels(validation: tuple[int, int]) -> pd.DataFrame:
    """Labels with 30 rows of each outcome in training and test, ``validation`` =
    (defected, retained) rows in validation."""
    rows = [("train", True)] * 30 + [("train", False)] * 30 + [("test", True)] * 30 \
        + [("test", False)] * 30 + [("validation", True)] * validation[0] \
        + [("validation", False)] * validation[1]
    return pd.DataFrame({"split": [s for s, _ in rows],
                         "defected": pd.array([d for _, d in rows], dtype="boolean")})


@pytest.mark.parametrize(("overrides", "validation", "advice"), [
    ({}, (14, 0), "the validation split holds 14 labelled rows, all defected: .*; try a larger "
                  r"labels\.n_validation .*, a longer labels\.horizon_days \(fewer buyers defect "
                  r"within it\)"),
    ({}, (2, 50), r"50 retained: .*; try a larger labels\.n_validation .*, a shorter "
                  r"labels\.horizon_days \(more buyers defect within it\)"),
    ({"labels.train_cutoffs": ["2023-03-01"], "labels.validation_cutoffs": ["2023-06-01"],
      "labels.test_cutoffs": ["2024-01-01"]}, (14, 0),
     r"^labels\.train_cutoffs / validation_cutoffs / test_cutoffs: .*; try more dates in "
     r"labels\.validation_cutoffs, "),
    ({"labels.train_cutoffs": ["2023-03-01"], "labels.validation_cutoffs": [],
      "labels.test_cutoffs": ["2024-01-01"]}, (14, 0),
     r"; try a larger labels\.validation_share, "),
])
def test_the_refusal_names_the_settings_of_the_plan(overrides, validation, advice):
    from models.split_plan import SplitPlan

    params = load_params(overrides=overrides)
    share = params.labels.validation_share if overrides.get("labels.validation_cutoffs") == [] \
        else None
    plan = SplitPlan(train=[D(2023, 3, 1)], validation=[] if share else [D(2023, 6, 1)],
                     test=[D(2024, 1, 1)], horizon_days=90, validation_share=share)
    with pytest.raises(ConfigError, match=advice):
        labels_stage._refuse_thin_splits(_plan_labels(validation), params, plan)


def test_a_plan_with_enough_of_each_outcome_passes():
    from models.split_plan import SplitPlan

    plan = SplitPlan(train=[D(2023, 3, 1)], validation=[D(2023, 6, 1)], test=[D(2024, 1, 1)],
                     horizon_days=90)
    assert labels_stage._refuse_thin_splits(_plan_labels((20, 20)), load_params(), plan) is None
