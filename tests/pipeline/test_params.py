"""params.yaml against its declaration (:mod:`pipeline.params`).

The file spells out every key of the declaration, and each value in it equals the
declared default unless it is one of the project's deliberate settings below: a
default changed on one side only (the declaration or the file) fails here.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
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


#: A key of this name is a count of days, or a duration: it needs an upper bound.
DURATION = re.compile(r"(^|_)(days|hours|seconds)$")


def test_every_count_of_days_and_every_duration_has_an_upper_bound():
    # Without one, 3000000 or 1e20 passes the declaration and then overflows the
    # calendar in a stage, with a traceback (exit 1) instead of exit 3 naming the key.
    tree = yaml.safe_load((ROOT / PARAMS_FILE).read_text(encoding="utf-8"))
    durations, unbounded = [], []
    for path, field, _ in _walk(Params, tree):
        if not DURATION.search(str(path[-1])):
            continue
        durations.append(_dotted(path))
        rules = [*_metadata(field), *_item_metadata(field)[1]]
        if not any(isinstance(r, (annotated_types.Le, annotated_types.Lt)) for r in rules):
            unbounded.append(_dotted(path))
    assert {"labels.horizon_days", "labels.min_history_days", "validate.max_future_days",
            "features.windows_days", "stages.lost_after_days",
            "score.sinks.lock_timeout_seconds"} <= set(durations)
    assert unbounded == []


@pytest.mark.parametrize(("key", "value", "message"), [
    ("labels.horizon_days", 3651, "labels.horizon_days: Input should be less than or equal "
                                  "to 3650, got 3651"),
    ("labels.horizon_days", 10**20, "labels.horizon_days: Input should be less than or equal "
                                    "to 3650"),
    ("labels.min_history_days", 3_000_000, "labels.min_history_days: Input should be less "
                                           "than or equal to 36500, got 3000000"),
    ("validate.max_future_days", 3_000_000, "validate.max_future_days: Input should be less "
                                            "than or equal to 36500, got 3000000"),
    ("features.windows_days", [30, 36501], "features.windows_days.1: Input should be less "
                                           "than or equal to 36500, got 36501"),
    ("labels.n_test", 10**6, "labels.n_test: Input should be less than or equal to 1000"),
    ("labels.horizon_days", True, "labels.horizon_days: Input should be a valid integer, "
                                  "got True"),
    ("validate.max_future_days", False, "validate.max_future_days: Input should be a valid "
                                        "integer, got False"),
])
def test_days_beyond_the_calendar_stop_with_the_key_named_on_set(key, value, message):
    from pipeline.errors import EXIT_CONFIG, ConfigError
    from pipeline.runner import params_from

    with pytest.raises(ConfigError) as raised:
        params_from(None, [f"{key}={_text(value)}"])

    assert _exit_code(raised.value) == EXIT_CONFIG
    assert f"--set {message}" in str(raised.value)


# --------------------------------------------------------------------------
# Every key of the declaration: a wrong type and an out-of-range value each,
# generated from the declaration, through the real reading path
# --------------------------------------------------------------------------

#: Values of every YAML kind; a key's wrong types are the first three its declared type
#: does not accept. The order puts first what a lax reader would take: the YAML boolean
#: for a number (``horizon_days: true`` is not one day), 0 for a boolean or a date (not
#: the epoch), text for a number or a boolean.
POOL: tuple[Any, ...] = (True, 0, "7", "yes", 7.5, "text", [7], {"k": 7})


def _plain(annotation: Any) -> Any:
    """The declared type without ``Annotated[...]`` and ``| None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(
                annotation) and len(get_args(annotation)) == 2:
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _metadata(field: FieldInfo) -> list[Any]:
    """The constraints of a field: its own and those of ``Annotated`` types it names."""
    found, stack = list(field.metadata), [field.annotation]
    while stack:
        annotation = stack.pop()
        if get_origin(annotation) is Annotated:
            found.extend(get_args(annotation)[1:])
            stack.append(get_args(annotation)[0])
        elif get_origin(annotation) in (Union, types.UnionType):
            stack.extend(get_args(annotation))
    return found


def _item_metadata(field: FieldInfo) -> tuple[Any, list[Any]]:
    """The item type of a list field and the constraints of each item (``list[Days]``)."""
    kind = _plain(field.annotation)
    if get_origin(kind) is not list:
        return None, []
    item = get_args(kind)[0]
    found = []
    while get_origin(item) is Annotated:
        args = get_args(item)
        found.extend(m for a in args[1:] for m in (getattr(a, "metadata", None) or [a]))
        item = args[0]
    return item, found


def _bounds(rules: list[Any], number: type) -> Iterator[Any]:
    """A value just past each bound of ``rules``."""
    for rule in rules:
        if isinstance(rule, annotated_types.Gt):
            yield number(rule.gt)
        elif isinstance(rule, annotated_types.Ge):
            yield number(rule.ge) - 1
        elif isinstance(rule, annotated_types.Lt):
            yield number(rule.lt)
        elif isinstance(rule, annotated_types.Le):
            yield number(rule.le) + 1


def _accepts(kind: Any, value: Any) -> bool:
    """Whether a YAML value is of the declared type, as the contract states it: a
    boolean is no number, an integer no boolean, a date a date or ``YYYY-MM-DD`` text."""
    kind = _plain(kind)
    origin, args = get_origin(kind), get_args(kind)
    if value is None:
        return False
    if origin in (Union, types.UnionType):
        return any(_accepts(a, value) for a in args if a is not type(None))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is list or origin is tuple:
        items = args[:1] if origin is list or args[-1] is Ellipsis else args
        return isinstance(value, list) and all(
            _accepts(items[0] if len(items) == 1 else kind_, v)
            for kind_, v in zip(items * len(value) if len(items) == 1 else items, value,
                                strict=False))
    if origin is dict:
        return isinstance(value, dict) and all(
            _accepts(args[0], k) and _accepts(args[1], v) for k, v in value.items())
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return isinstance(value, dict)
    if kind is bool:
        return type(value) is bool
    if kind is int:
        return type(value) is int
    if kind is float:
        return type(value) in (int, float)
    if kind is str:
        return type(value) is str
    if kind is dt.date:
        return isinstance(value, dt.date) or (
            isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)))
    raise AssertionError(f"the walk does not know the declared type {kind!r}: teach _accepts")


def _beyond(field: FieldInfo) -> Iterator[Any]:
    """Values just outside the declared range: each bound, each length limit, the
    choices of a Literal, and no float is NaN or infinite."""
    kind = _plain(field.annotation)
    number = float if kind is float else int
    yield from _bounds(_metadata(field), number)
    item, rules = _item_metadata(field)
    yield from ([value] for value in _bounds(rules, float if item is float else int))
    for rule in _metadata(field):
        if isinstance(rule, annotated_types.MinLen) and rule.min_length > 0:
            yield "" if kind is str else []
        elif isinstance(rule, annotated_types.MaxLen):
            yield "x" * (rule.max_length + 1) if kind is str else [None] * (rule.max_length + 1)
    if get_origin(kind) is Literal:
        yield "not-one-of-" + "-".join(str(a) for a in get_args(kind))
    if kind is float:
        yield from (float("nan"), float("inf"), float("-inf"))


def _section_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """``("model", M)``, ``("dict", M)`` or ``("list", M)`` for a field holding a section,
    a mapping of names to sections or a list of sections; None otherwise."""
    kind = _plain(annotation)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return "model", kind
    if get_origin(kind) in (dict, list):
        item = _plain(get_args(kind)[-1])
        if isinstance(item, type) and issubclass(item, BaseModel):
            return get_origin(kind).__name__, item
    return None


Path_ = tuple[str | int, ...]


def _walk(model: type[BaseModel], node: Any,
          path: Path_ = ()) -> Iterator[tuple[Path_, FieldInfo, type[BaseModel]]]:
    """Every key of the declaration (sections included) with its field and the section
    declaring it; mappings of sections are entered at the file's first name, lists of
    sections at their first item."""
    node = node if isinstance(node, Mapping) else {}
    for key, (_, field) in _fields(model).items():
        yield (*path, key), field, model
        held, sub = _section_of(field.annotation), node.get(key)
        if held is None:
            continue
        how, section = held
        if how == "model":
            yield from _walk(section, sub, (*path, key))
        elif how == "dict" and isinstance(sub, Mapping) and sub:
            name = next(iter(sub))
            yield from _walk(section, sub[name], (*path, key, name))
        elif how == "list" and isinstance(sub, list) and sub:
            yield from _walk(section, sub[0], (*path, key, 0))


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _generated_cases() -> list[tuple[str, Path_, Any, str]]:
    """(what, path, value, text the message must hold) for every key of the declaration."""
    tree = yaml.safe_load((ROOT / PARAMS_FILE).read_text(encoding="utf-8"))
    cases = []
    for path, field, _ in _walk(Params, tree):
        key = _dotted(path)
        wrong = [v for v in POOL if not _accepts(field.annotation, v)]
        assert wrong, f"{key}: no value of the pool is of another type"
        cases += [("wrong type", path, value, key) for value in wrong[:3]]
        cases += [("out of range", path, value, key) for value in _beyond(field)]
        misspelt = (*path[:-1], f"{path[-1]}z")
        cases.append(("unknown key", misspelt, 7, f"{_dotted(misspelt)}: unknown key (did you "
                                                  f"mean '{key}'?)"))
    return cases


GENERATED = _generated_cases()


def _put(tree: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = tree
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value


def _exit_code(error: BaseException) -> int:
    from pipeline.errors import EXIT_BUG, EXPECTED

    return next((code for kinds, _, code in EXPECTED if isinstance(error, kinds)), EXIT_BUG)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("generated") / "params.yaml"


@pytest.mark.parametrize(("what", "path", "value", "named"), GENERATED,
                         ids=[f"{w}:{_dotted(p)}={v!r}" for w, p, v, _ in GENERATED])
def test_every_key_refuses_a_wrong_type_and_an_out_of_range_value(tree, scratch, what, path,
                                                                  value, named):
    import copy

    from pipeline.errors import EXIT_CONFIG, ConfigError

    changed = copy.deepcopy(tree)
    _put(changed, path, value)
    scratch.write_text(yaml.dump(changed, Dumper=yaml.CSafeDumper, allow_unicode=True),
                       encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_params(scratch)

    assert _exit_code(raised.value) == EXIT_CONFIG
    lines = str(raised.value).splitlines()
    assert all(line.startswith(f"{scratch}: ") for line in lines), lines
    assert any(named in line for line in lines), lines


def _text(value: Any) -> str:
    """A value as it is written after ``-S key=``: YAML flow text."""
    return yaml.safe_dump([value], default_flow_style=True).strip()[1:-1]


def _override_cases() -> list[tuple[Path_, Any, str]]:
    """The first wrong type and the misspelling of every key that ``-S`` can reach (not
    the keys of a list item)."""
    first: dict[tuple[str, Path_], tuple[Path_, Any, str]] = {}
    for what, path, value, named in GENERATED:
        if what != "out of range" and not any(isinstance(p, int) for p in path):
            first.setdefault((what, path), (path, value, named))
    return list(first.values())


OVERRIDES = _override_cases()


@pytest.mark.parametrize(("path", "value", "named"), OVERRIDES,
                         ids=[f"-S {_dotted(p)}={_text(v)}" for p, v, _ in OVERRIDES])
def test_every_key_refuses_a_wrong_type_given_with_set(path, value, named):
    from pipeline.errors import ConfigError
    from pipeline.runner import params_from

    with pytest.raises(ConfigError) as raised:
        params_from(None, [f"{_dotted(path)}={_text(value)}"])

    lines = str(raised.value).splitlines()
    assert any(line.startswith(f"--set {named}") for line in lines), lines
