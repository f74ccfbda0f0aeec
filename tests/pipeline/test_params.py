"""params.yaml against its declaration (:mod:`pipeline.params`).

The file spells out every key of the declaration, and each value in it equals the
declared default unless it is one of the project's deliberate settings below: a
default changed on one side only (the declaration or the file) fails here.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from models.lgbm_params import LightGBMParams
from models.promotion import PromotionRule
from models.risk import RiskBands
from models.stages import StageRules
from pipeline.config import load_params
from pipeline.params import Params
from pipeline.paths import PARAMS_FILE, ROOT

#: Keys whose value in params.yaml is the project's own, not the declared default.
PROJECT_SETTINGS = {
    # The demo data has all three tables; the default is a business with transactions only.
    "data.interactions",
    "data.customers",
}


@pytest.fixture(scope="module")
def tree() -> dict[str, Any]:
    return yaml.safe_load((ROOT / PARAMS_FILE).read_text(encoding="utf-8"))


def _section(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (``X`` or ``X | None``), None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) not in (Union, types.UnionType):
        return None  # a value: list[...], dict[...], a Literal, a number ...
    args = [a for a in get_args(annotation) if a is not type(None)]
    return _section(args[0]) if len(args) == 1 else None


def _fields(model: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """Key in the file (the alias, if any) -> (field name, field)."""
    return {field.alias or name: (name, field) for name, field in model.model_fields.items()}


def _declared_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every dotted key the declaration allows, nested sections walked."""
    for key, (_, field) in _fields(model).items():
        section = _section(field.annotation)
        if section is None:
            yield prefix + key
        else:
            yield from _declared_keys(section, f"{prefix}{key}.")


def _file_values(loaded: BaseModel, node: Mapping[str, Any],
                 prefix: str = "") -> Iterator[tuple[str, FieldInfo, Any]]:
    """Every dotted key of the file with its field and its value as loaded."""
    fields = _fields(type(loaded))
    for key, raw in node.items():
        assert key in fields, f"{prefix}{key} is in params.yaml but not declared"
        name, field = fields[key]
        value = getattr(loaded, name)
        if _section(field.annotation) is not None and isinstance(raw, Mapping):
            yield from _file_values(value, raw, f"{prefix}{key}.")
        else:
            yield prefix + key, field, value


def test_params_yaml_spells_out_every_declared_key(tree):
    declared = set(_declared_keys(Params))
    in_file = {key for key, _, _ in _file_values(load_params(), tree)}
    assert sorted(declared - in_file) == [], "declared keys missing from params.yaml"
    assert sorted(in_file - declared) == [], "keys of params.yaml that are not declared"


def test_params_yaml_restates_the_declared_defaults(tree):
    differing = {}
    for key, field, value in _file_values(load_params(), tree):
        if field.is_required():
            continue  # no default to restate (generate.sizes, data.transactions ...)
        default = field.get_default(call_default_factory=True)
        if value != default:
            differing[key] = f"params.yaml {value!r}, declared default {default!r}"
    unexpected = {k: v for k, v in differing.items() if k not in PROJECT_SETTINGS}
    assert unexpected == {}, "params.yaml and the declared defaults disagree"
    assert sorted(PROJECT_SETTINGS - set(differing)) == [], \
        "listed as project settings but equal to the declared default"


def test_the_walk_reaches_the_sections_of_the_library():
    # The sections declared in models/ are walked like the others.
    declared = set(_declared_keys(Params))
    for section, model in (("stages", StageRules), ("train.lightgbm", LightGBMParams),
                           ("evaluate.promotion", PromotionRule),
                           ("score.risk_bands", RiskBands)):
        assert {f"{section}.{name}" for name in model.model_fields} <= declared


def test_the_sections_are_the_library_value_objects():
    params = load_params()
    assert type(params.stages) is StageRules
    assert type(params.train.lightgbm) is LightGBMParams
    assert type(params.evaluate.promotion) is PromotionRule
    assert type(params.score.risk_bands) is RiskBands
    # Whole days stay whole: the scorer bundle writes the rules to JSON as they are.
    assert all(type(v) is int for k, v in params.stages.model_dump().items()
               if k != "at_risk_gap_factor")
    assert type(params.stages.at_risk_gap_factor) is float


@pytest.mark.parametrize(("key", "value", "message"), [
    ("stages.lost_after_days", True, "stages.lost_after_days: Input should be a valid integer"),
    ("train.lightgbm.bagging_freq", False, "train.lightgbm.bagging_freq: Input should be a "
                                           "valid integer"),
    ("evaluate.promotion.guard_tolerance", True, "evaluate.promotion.guard_tolerance: Input "
                                                 "should be a valid number"),
    ("score.risk_bands.high", True, "score.risk_bands.high: Input should be a valid number"),
])
def test_a_yaml_boolean_is_not_a_number(key, value, message):
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_params(overrides={key: value})
