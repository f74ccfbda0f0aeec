"""score.economics and score.budget in params.yaml: refused with the key and the reason
named exactly, and exit code 3 from the command line."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_params
from pipeline.errors import EXIT_CONFIG, ConfigError

CASES = [
    ("economics.margin", 0, "score.economics.margin: Input should be greater than 0, got 0"),
    ("economics.mode", "greedy", "score.economics.mode: Input should be 'net_value' or 'rules', "
                                 "got 'greedy'"),
    ("economics.actions.protect.effect", 1.5,
     "score.economics.actions.protect: a relative effect on defection is the share of the "
     "defection probability removed: at most 1 (all of it), got 1.5"),
    ("economics.actions.protect.cost", -4, "score.economics.actions.protect.cost: Input should "
                                           "be greater than or equal to 0, got -4"),
    ("economics.actions.harvest", {"cost": 1, "effect": 0, "effect_on": "spend"},
     "score.economics.actions: 'harvest' spends nothing by definition: leave it out of the "
     "economics"),
    ("economics.actions.protect.effect_on", "loyalty",
     "score.economics.actions.protect.effect_on: Input should be 'defection' or 'spend', got "
     "'loyalty'"),
    ("budget.contacts", -1, "score.budget.contacts: Input should be greater than or equal to 0, "
                            "got -1"),
    ("budget.money", "lots", "score.budget.money: Input should be a valid number, got 'lots'"),
    ("budget.per_action", {"regian": {"contacts": 10}},
     "score.budget.per_action: unknown action 'regian' (did you mean 'regain'?); the actions "
     "that spend are start, protect, re_engineer, enhance, regain"),
]


@pytest.mark.parametrize(("key", "value", "line"), CASES, ids=[c[0] for c in CASES])
def test_invalid_economics_and_budgets_are_refused_exactly(tmp_path, key, value, line):
    with open("params.yaml", encoding="utf-8") as f:
        tree = yaml.safe_load(f)
    node = tree["score"]
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(tree), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_params(file)
    # The one problem, key first (the file's name before it).
    assert str(raised.value).startswith(str(file)) and str(raised.value).endswith(f" {line}")


def test_invalid_economics_exit_with_the_config_code():
    result = CliRunner().invoke(app, ["score", "-S", "score.economics.margin=2"])
    assert result.exit_code == EXIT_CONFIG
    assert "score.economics.margin" in " ".join(result.output.split())
