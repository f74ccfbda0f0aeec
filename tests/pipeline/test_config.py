"""params.yaml is validated on load, with the offending key named."""

from __future__ import annotations

import re

import pytest
import yaml

from pipeline.config import ConfigError, load_params


def _write(tmp_path, tree) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


@pytest.fixture
def tree():
    with open("params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_the_project_params_load(tree):
    params = load_params()
    assert params.generate.size in params.generate.sizes
    assert params.data.transactions
    assert params.labels.horizon_days == tree["labels"]["horizon_days"]


def test_overrides_replace_dotted_keys():
    params = load_params(overrides={"generate.size": "tiny", "data.interactions": None})
    assert params.generate.size == "tiny" and params.data.interactions is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["features"].update(windwos_days=[30]),
         r"features\.windwos_days: Extra inputs"),
        (lambda t: t["generate"].update(size="huge"), r"generate.size is 'huge'"),
        (lambda t: t["data"].update(satisfaction_range=[5, 1]), r"low < high"),
        (lambda t: t["data"].update(interaction_kinds=["Web Visit"]), r"lower-case identifiers"),
        (lambda t: t["data"].update(timezone="Mars/Olympus"), r"not a known time zone"),
        (lambda t: t["data"].update(decimal=",", thousands=","), r"both ','"),
        (lambda t: t["features"].update(resolution_kinds=["refund"]), r"not in data.interaction"),
        (lambda t: t["features"].update(snapshot_frequency="fortnightly"), r"offset alias"),
        (lambda t: t["features"].update(windows_days=[30, 30]), r"distinct positive"),
        (lambda t: t["labels"].update(horizon_days=0), r"labels\.horizon_days"),
        (lambda t: t["features"].update(first_snapshot="2024-05-01", last_snapshot="2024-01-01"),
         r"is after"),
    ],
)
def test_invalid_params_are_refused_with_the_key_named(tmp_path, tree, change, message):
    change(tree)
    with pytest.raises(ConfigError, match=message):
        load_params(_write(tmp_path, tree))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("generate: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_the_policy_in_params_is_the_documented_default():
    from models.actions import DEFAULT_RULES

    params = load_params()
    assert [r.model_dump() for r in params.score.policy] == [dict(r) for r in DEFAULT_RULES]


def test_a_policy_with_a_gap_is_refused_naming_it(tmp_path, tree):
    tree["score"]["policy"] = [r for r in tree["score"]["policy"]
                               if r["name"] != "end_lost_low_value"]
    gap = re.escape("covered by no rule: stage=lost, risk=low|medium|high|critical, value=low")
    with pytest.raises(ConfigError, match=rf"(?s)score\.policy.*{gap}"):
        load_params(_write(tmp_path, tree))


def test_a_policy_with_an_overlap_is_refused_naming_both_rules(tmp_path, tree):
    extra = dict(tree["score"]["policy"][-1], name="end_everything_lost")
    tree["score"]["policy"].append(extra)
    with pytest.raises(ConfigError, match=r"(?s)end_lost_low_value.*end_everything_lost"):
        load_params(_write(tmp_path, tree))


def test_risk_bands_must_increase(tmp_path, tree):
    tree["score"]["risk_bands"]["high"] = 0.2
    with pytest.raises(ConfigError, match="must increase strictly"):
        load_params(_write(tmp_path, tree))
