"""The data dictionary is generated from the declarations and kept in sync."""

from __future__ import annotations

import re

from features.schema import (
    CLEAN_TABLES,
    CUSTOMER_INDEX,
    CUSTOMER_SCORES,
    GROUND_TRUTH,
    INPUT_TABLES,
    QUARANTINE,
)
from features.spec import feature_table
from features.validation import RULES
from models.labels import LABELS
from pipeline.config import load_params
from pipeline.docs import DICTIONARY, render_dictionary
from pipeline.wiring.features import feature_spec


def test_committed_dictionary_is_up_to_date():
    assert DICTIONARY.read_text(encoding="utf-8") == render_dictionary(load_params()), (
        "docs/data_dictionary.md is out of date: run `churn dictionary`")


def test_every_declared_column_is_documented_and_nothing_else():
    text = DICTIONARY.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    declared = {c.name for t in (*INPUT_TABLES.values(), *CLEAN_TABLES.values()) for c in t.columns}
    declared |= set(feature_table(feature_spec(load_params())).names)
    declared |= set(CUSTOMER_SCORES.names)
    assert declared - documented == set(), "declared but undocumented"
    declared |= {c.name for c in (*QUARANTINE.columns, *CUSTOMER_INDEX.columns,
                                  *GROUND_TRUTH.columns, *LABELS.columns)}
    assert documented - declared - set(RULES) == set(), (
        "documented but no longer declared")


def test_readme_states_the_input_contract():
    with open("README.md", encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Input contract", 1)[1].split("\n## ", 1)[0]
    for table in INPUT_TABLES.values():
        for column in table.columns:
            assert f"`{column.name}`" in section, (table.name, column.name)
