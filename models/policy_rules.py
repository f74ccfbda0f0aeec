"""The rules of the action policy: what a rule says, and how one is checked.

A rule (:class:`PolicyRule`) names one of the seven :data:`ACTIONS` for the
(stage, risk label, value tier) combinations it matches; each of its three
fields is :data:`ANY` (``"*"``) or a list of names. The combinations form a
grid: the stages x the risk labels and NA (prospects have no risk label) x the
value tiers. This module holds the axes of that grid, the check of one rule as
it comes from ``params.yaml`` (every problem named, with the valid names and a
close match), and the compact writing of grid cells that the messages of
:meth:`models.actions.ActionPolicy.from_rules` use.

Data contract: a rule, as params data, is a mapping with the keys ``name``,
``stage``, ``risk``, ``value``, ``action`` and ``why`` (:meth:`PolicyRule.to_dict`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.risk import RISK_LABELS
from models.stages import STAGES
from models.value_tiers import VALUE_TIERS

__all__ = [
    "ACTIONS",
    "ANY",
    "PolicyRule",
]

#: The seven customer-management strategies of the domain model.
ACTIONS: tuple[str, ...] = (
    "start", "protect", "re_engineer", "enhance", "harvest", "end", "regain",
)

#: A rule field that matches every value.
ANY = "*"

# The risk axis of the policy grid: the four labels, then "no risk label"
# (prospects). Displayed as NA in messages and tables.
_RISK_AXIS: tuple[str | None, ...] = (*RISK_LABELS, None)
_NA = len(RISK_LABELS)
_PROSPECT = STAGES.index("prospect")


_FIELDS: dict[str, tuple[str, ...]] = {
    "stage": STAGES,
    "risk": RISK_LABELS,
    "value": VALUE_TIERS,
}
_RULE_KEYS = ("name", "stage", "risk", "value", "action", "why")


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the action policy.

    Parameters
    ----------
    name
        Unique identifier, written with every row the rule decides (``action_rule``).
    stage, risk, value
        What the rule matches: ``"*"`` (anything) or a tuple of stage names,
        risk labels or value tiers. ``risk="*"`` also matches the missing risk
        label of prospects; a tuple of risk labels does not.
    action
        One of :data:`ACTIONS`.
    why
        The reason in a sentence, shown in the scoring report.
    """

    name: str
    stage: str | tuple[str, ...]
    risk: str | tuple[str, ...]
    value: str | tuple[str, ...]
    action: str
    why: str

    def mask(self) -> np.ndarray:
        """Boolean array over (stage, risk incl. NA, value tier): the combinations matched."""
        stage = _axis_mask(self.stage, STAGES)
        risk = _axis_mask(self.risk, _RISK_AXIS)
        value = _axis_mask(self.value, VALUE_TIERS)
        return stage[:, None, None] & risk[None, :, None] & value[None, None, :]

    def to_dict(self) -> dict[str, Any]:
        """The rule as params data (lists for tuples), as ``from_rules`` takes it."""
        def plain(spec: str | tuple[str, ...]) -> str | list[str]:
            return spec if isinstance(spec, str) else list(spec)
        return {"name": self.name, "stage": plain(self.stage), "risk": plain(self.risk),
                "value": plain(self.value), "action": self.action, "why": self.why}


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def _axis_mask(spec: str | tuple[str, ...], axis: Sequence[str | None]) -> np.ndarray:
    if spec == ANY:
        return np.ones(len(axis), dtype=bool)
    if isinstance(spec, str):
        spec = (spec,)
    return np.array([a in spec for a in axis], dtype=bool)


def _valid_combinations() -> np.ndarray:
    """(stage, risk incl. NA, value) cells that exist: NA risk for prospects only."""
    valid = np.ones((len(STAGES), len(_RISK_AXIS), len(VALUE_TIERS)), dtype=bool)
    valid[_PROSPECT, :_NA, :] = False
    valid[np.arange(len(STAGES)) != _PROSPECT, _NA, :] = False
    return valid


def _parse_rule(raw: Mapping[str, Any] | PolicyRule, i: int,
                problems: list[str]) -> PolicyRule | None:
    """A checked rule, or None after appending what is wrong with it to ``problems``."""
    if isinstance(raw, PolicyRule):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        problems.append(f"rule #{i + 1}: expected a mapping with keys {', '.join(_RULE_KEYS)}, "
                        f"got {type(raw).__name__}")
        return None
    name = raw.get("name")
    label = f"rule {name!r}" if isinstance(name, str) and name.strip() else f"rule #{i + 1}"
    before = len(problems)
    unknown = sorted(str(k) for k in raw if k not in _RULE_KEYS)
    if unknown:
        problems.append(f"{label}: unknown keys {unknown}; a rule has the keys "
                        f"{', '.join(_RULE_KEYS)}")
    missing = [k for k in _RULE_KEYS if k not in raw]
    if missing:
        problems.append(f"{label}: missing keys {missing}")
    for key in ("name", "why"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            problems.append(f"{label}: {key} must be a non-empty text, got {raw[key]!r}")
    specs: dict[str, str | tuple[str, ...]] = {}
    for key, valid in _FIELDS.items():
        if key in raw:
            spec = _parse_spec(raw[key], valid, f"{label}: {key}", problems)
            if spec is not None:
                specs[key] = spec
    action = raw.get("action")
    if "action" in raw and action not in ACTIONS:
        problems.append(f"{label}: unknown action {action!r}{_suggest(action, ACTIONS)}; "
                        f"valid actions: {', '.join(ACTIONS)}")
    if len(problems) > before:
        return None
    return PolicyRule(name=name.strip(), stage=specs["stage"], risk=specs["risk"],
                      value=specs["value"], action=action, why=raw["why"].strip())


def _parse_spec(spec: Any, valid: Sequence[str], label: str,
                problems: list[str]) -> str | tuple[str, ...] | None:
    """``"*"``, or a tuple of known names in the order of ``valid``."""
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list | tuple) or not items:
        problems.append(f"{label} must be '*', a name or a non-empty list of names, "
                        f"got {spec!r}")
        return None
    if ANY in items:
        if len(items) > 1:
            problems.append(f"{label}: '*' matches anything and cannot be listed with "
                            f"names, got {list(items)!r}")
            return None
        return ANY
    bad = [x for x in items if x not in valid]
    if bad:
        hint = "".join(_suggest(x, valid) for x in bad[:1])
        problems.append(f"{label}: unknown {', '.join(repr(x) for x in bad)}{hint}; "
                        f"valid: {', '.join(valid)} or '*'")
        return None
    return tuple(v for v in valid if v in items)


def _suggest(word: Any, valid: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _compact(cells: Iterable[tuple[int, ...]]) -> list[str]:
    """Grid cells written as few products: ``stage=a|b, risk=c, value=d|e`` each."""
    by_stage_risk: dict[tuple[int, int], set[int]] = {}
    for s, r, v in cells:
        by_stage_risk.setdefault((int(s), int(r)), set()).add(int(v))
    by_stage: dict[tuple[int, frozenset[int]], set[int]] = {}
    for (s, r), values in by_stage_risk.items():
        by_stage.setdefault((s, frozenset(values)), set()).add(r)
    blocks: dict[tuple[frozenset[int], frozenset[int]], set[int]] = {}
    for (s, values), risks in by_stage.items():
        blocks.setdefault((frozenset(risks), values), set()).add(s)

    def names(codes: Iterable[int], axis: Sequence[str | None]) -> str:
        return "|".join("NA" if axis[c] is None else str(axis[c]) for c in sorted(codes))

    ordered = sorted(blocks.items(), key=lambda kv: (min(kv[1]), min(kv[0][0]), min(kv[0][1])))
    return [f"stage={names(stages, STAGES)}, risk={names(risks, _RISK_AXIS)}, "
            f"value={names(values, VALUE_TIERS)}"
            for (risks, values), stages in ordered]


def _listing(title: str, problems: list[str]) -> str:
    return f"{title}:\n" + "\n".join(f"  - {p}" for p in problems)
