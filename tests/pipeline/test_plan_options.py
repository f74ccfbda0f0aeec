"""Every documented label and feature option either runs (features, labels, training)
or stops with a configuration error that names the parameter to change."""

from __future__ import annotations

import pytest

from pipeline import datasets, generate, train, validate
from pipeline import features as features_stage
from pipeline import labels as labels_stage
from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.paths import Paths

pytestmark = pytest.mark.slow


def _params(paths: Paths, size: str, **overrides):
    inputs = {f"data.{t}": str(paths.demo_input(t))
              for t in ("transactions", "interactions", "customers")}
    # Plans are under test, not models: a fast learner keeps each run to seconds.
    fast = {"train.lightgbm.learning_rate": 0.3, "train.lightgbm.num_boost_round": 60,
            "train.lightgbm.early_stopping_rounds": 10}
    return load_params(overrides={"generate.size": size, "generate.sizes.cohort.customers": 1500,
                                  **fast, **inputs, **overrides})


@pytest.fixture(scope="module", params=["tiny", "cohort"])
def history(request, tmp_path_factory):
    """Validated demo data: three years ("tiny") or one cohort over nine months."""
    paths = Paths(tmp_path_factory.mktemp(request.param))
    params = _params(paths, request.param)
    generate.main(params, paths)
    validate.main(params, paths)
    return request.param, paths


def _run(paths: Paths, size: str, tmp_path, **overrides) -> dict:
    params = _params(paths, size, **overrides)
    out = Paths(tmp_path)
    out.clean, out.customer_index = paths.clean, paths.customer_index
    features_stage.main(params, out)
    report = labels_stage.main(params, out)
    frame = datasets.load_training_frame(out)  # every labelled row has its features
    fitted, _ = train.fit(frame, params)
    assert fitted["transition"].best_iteration >= 1
    assert fitted["defection_choice"].candidate in params.train.defection_candidates
    return report["plan"]


RUNS = {
    "defaults": {},
    "no validation cutoff": {"labels.n_validation": 0},
    "two test cutoffs": {"labels.n_test": 2},
    "a 56-day horizon": {"labels.horizon_days": 56},
    "a short minimum history": {"labels.min_history_days": 30},
    "first_snapshot set": {"features.first_snapshot": "FIRST"},
    "an explicit plan without validation": {"labels.train_cutoffs": ["T1", "T2"],
                                            "labels.validation_cutoffs": [],
                                            "labels.test_cutoffs": ["TEST"]},
}

#: Explicit dates per history: (two training cutoffs, a test cutoff, a first snapshot).
DATES = {"tiny": (["2023-06-01", "2023-09-01"], "2024-06-01", "2023-03-01"),
         "cohort": (["2022-02-15", "2022-03-15"], "2022-06-15", "2022-02-01")}


def _dates(size: str, overrides: dict) -> dict:
    train_cutoffs, test, first = DATES[size]
    out = dict(overrides)
    if "labels.train_cutoffs" in out:
        out["labels.train_cutoffs"], out["labels.test_cutoffs"] = train_cutoffs, [test]
    if out.get("features.first_snapshot") == "FIRST":
        out["features.first_snapshot"] = first
    return out


#: The long history's default plan runs in every other test of the pipeline.
LONG = ("no validation cutoff", "first_snapshot set", "an explicit plan without validation")


@pytest.mark.parametrize("case", list(RUNS))
def test_a_documented_option_runs(history, case, tmp_path):
    size, paths = history
    if size == "tiny" and case not in LONG:
        pytest.skip("covered on the long history by the other pipeline tests")
    plan = _run(paths, size, tmp_path, **_dates(size, RUNS[case]))
    assert plan["train"] and plan["test"]
    if case in ("no validation cutoff", "an explicit plan without validation"):
        assert plan["validation"] == [] and plan["validation_share"] == 0.2
    if size == "cohort" and case != "an explicit plan without validation":
        assert plan["steps"]  # the short history degrades the plan, and says how


REFUSED = {
    "a horizon longer than the history allows": (
        {"labels.horizon_days": 200}, r"set labels\.horizon_days to at most \d+"),
    "a test window past the data": (
        {"labels.train_cutoffs": ["2022-02-15"], "labels.validation_cutoffs": [],
         "labels.test_cutoffs": ["2022-09-01"]},
        r"labels\.train_cutoffs / validation_cutoffs / test_cutoffs: test cutoffs 2022-09-01 "
        r"have label windows .* the latest observable cutoff is \d{4}-\d\d-\d\d"),
    "a first snapshot too late for any plan": (
        {"features.first_snapshot": "2022-08-01"},
        r"labels \(automatic split\): .*features\.first_snapshot earlier"),
    # The largest values the declaration allows reach the stages and are refused by
    # them in words, never with a traceback from dates past the calendar.
    "the longest horizon": ({"labels.horizon_days": 3650},
                            r"set labels\.horizon_days to at most \d+"),
    "the longest horizon on a yearly grid": (
        {"labels.horizon_days": 3650, "features.snapshot_frequency": "YS"},
        r"labels \(automatic split\): .*too short"),
    "the longest minimum history": ({"labels.min_history_days": 36500},
                                    r"set labels\.min_history_days to at most \d+"),
    "the most test cutoffs": ({"labels.n_test": 1000}, r"labels \(automatic split\): "
                                                        r".*1000 test cutoff\(s\)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_an_option_that_cannot_work_is_a_configuration_error(history, case, tmp_path):
    size, paths = history
    if size != "cohort":
        pytest.skip("the refusals are of the nine-month history")
    overrides, message = REFUSED[case]
    with pytest.raises(ConfigError, match=message):
        _run(paths, size, tmp_path, **overrides)
