"""Values at the edges of what a field can hold, and values that cannot be real.

Dates at the ends of the calendar, dates that do not exist, local times that
daylight saving skips or repeats, numbers a parser reads but no ledger holds,
ids that differ only by invisible characters, case or width. Each has one
documented outcome (README, "Validation").
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from features.validation import Checks, TextFormat
from tests.features.test_validation import CHECKS, GOOD_TX, TX_HEADER, validate


@pytest.mark.parametrize(("value", "rule"), [
    ("0001-01-01", "timestamp_too_old"),
    ("1989-12-31T23:59:59Z", "timestamp_too_old"),
    ("9999-12-31 23:59:59", "timestamp_in_future"),
    ("2023-02-29", "timestamp_unparseable"),
    ("2023-02-30", "timestamp_unparseable"),
    ("0000-00-00", "timestamp_unparseable"),
    ("2024-13-01", "timestamp_unparseable"),
    ("2024-01-01T24:00:01", "timestamp_unparseable"),
    ("10000-01-01", "timestamp_unparseable"),
])
def test_dates_that_cannot_be_an_event(tmp_path, value, rule):
    run = validate(tmp_path, f"{GOOD_TX}C3,{value},1\n")

    assert run.one_quarantined()["rule"] == rule


@pytest.mark.parametrize("value", [
    "2023-06-01T24:00:00", "2023-06-01 24:00:00", "2023-06-01T24:00", "2023-06-01T24:00:00Z",
    "2023-06-01T24:00:00+05:30", "2023-12-31 24:00:00", "2023-06-01T24:30:00",
])
def test_hour_24_is_not_a_time_of_day(tmp_path, value):
    # ISO 8601's 24:00 (the end of a day) would make a timestamp name two days.
    run = validate(tmp_path, f"{GOOD_TX}C3,{value},1\n")

    row = run.one_quarantined()
    assert row["rule"] == "timestamp_unparseable"
    assert "hour 24 is not read: the hours of a day run 00 to 23" in row["reason"]


# A UTC offset is at most 14:00 either way, its minutes 00 to 59, in every form
# (+HH:MM, +HHMM, +HH), through ISO 8601 and through a data.timestamp_format with %z.
BAD_OFFSETS = ["+24:00", "+99:00", "+23:60", "-25:00", "+99:99", "+00:99", "+14:01", "-1430",
               "+15"]
GOOD_OFFSETS = {"+14:00": "2023-05-31 20:00:00", "-12:00": "2023-06-01 22:00:00",
                "-00:00": "2023-06-01 10:00:00", "+0530": "2023-06-01 04:30:00",
                "+05": "2023-06-01 05:00:00", "Z": "2023-06-01 10:00:00"}


@pytest.mark.parametrize("strptime", [False, True], ids=["iso", "format_with_z"])
def test_utc_offsets_that_cannot_be_are_quarantined_never_applied(tmp_path, strptime):
    rows = [(o, f"2023-06-01T10:00:00{o}") for o in [*BAD_OFFSETS, *GOOD_OFFSETS]
            if not (strptime and o == "Z")]
    content = TX_HEADER + "\n" + "".join(f"C{i},{v},1\n" for i, (_, v) in enumerate(rows))
    text = TextFormat(timestamp_format="%Y-%m-%dT%H:%M:%S%z") if strptime else None
    run = validate(tmp_path, content, text=text)

    q = run.quarantine().set_index("source_line")
    assert set(q["rule"]) == {"timestamp_unparseable"}
    assert sorted(q.index) == list(range(2, 2 + len(BAD_OFFSETS)))
    for line, offset in zip(range(2, 2 + len(BAD_OFFSETS)), BAD_OFFSETS, strict=True):
        assert (f"its UTC offset {offset} cannot be: offsets run from -14:00 to +14:00, "
                f"their minutes from 00 to 59") in q.loc[line, "reason"]
    got = run.clean().sort_values("source_line")["timestamp"].astype(str).tolist()
    assert got == [t for o, t in GOOD_OFFSETS.items() if not (strptime and o == "Z")]


def test_a_leap_day_is_a_day(tmp_path):
    run = validate(tmp_path, f"{TX_HEADER}\nC1,2024-02-29,1\nC1,2000-02-29T23:59:59,1\n")

    assert sorted(run.clean()["timestamp"]) == [pd.Timestamp("2000-02-29 23:59:59"),
                                                pd.Timestamp("2024-02-29")]


def test_local_times_that_daylight_saving_skips_or_repeats(tmp_path):
    # Europe/Paris: 02:00-03:00 does not exist on 2024-03-31 and happens twice on
    # 2024-10-27. A skipped time is read with the offset before the change (02:30 is
    # 01:30 UTC, as 03:30 summer time); a repeated one as its second occurrence,
    # in standard time (02:30 is 01:30 UTC). An explicit offset always wins.
    content = (f"{TX_HEADER}\n"
               "C1,2024-03-31 01:59:59,1\nC2,2024-03-31 02:30:00,1\nC3,2024-03-31 03:00:00,1\n"
               "C4,2024-10-27 01:59:59,1\nC5,2024-10-27 02:30:00,1\nC6,2024-10-27 03:00:00,1\n"
               "C7,2024-10-27T02:30:00+02:00,1\n")
    run = validate(tmp_path, content, text=TextFormat(timezone="Europe/Paris"))

    got = run.clean().set_index("customer_id")["timestamp"].astype(str).to_dict()
    assert got == {"C1": "2024-03-31 00:59:59", "C2": "2024-03-31 01:30:00",
                   "C3": "2024-03-31 01:00:00", "C4": "2024-10-26 23:59:59",
                   "C5": "2024-10-27 01:30:00", "C6": "2024-10-27 02:00:00",
                   "C7": "2024-10-27 00:30:00"}


@pytest.mark.parametrize(("value", "rule"), [
    ("1e309", "amount_unparseable"), ("-1e309", "amount_unparseable"),
    ("inf", "amount_unparseable"), ("-Infinity", "amount_unparseable"),
    ("nan", "amount_unparseable"), ("NaN", "amount_unparseable"),
    ("0x1F", "amount_unparseable"), ("1_000", "amount_unparseable"),
    ("1e308", "amount_out_of_range"), ("-1e26", "amount_out_of_range"),
    ("1000000.01", "amount_out_of_range"),
])
def test_amounts_no_ledger_holds_are_quarantined(tmp_path, value, rule):
    run = validate(tmp_path, f"{GOOD_TX}C3,2024-01-03,{value}\n")

    assert run.one_quarantined()["rule"] == rule


# Amounts that do not parse as configured, and the number formats a file may use.
HINTED = ["1e400", "-1e400", "1,5e400", "12,50", "1,234.50", "1.234,50", "1 000", "1'000.5",
          "1.2.3", "12-", "1e", "٣"]
FORMATS = [(".", None), (",", None), (".", ","), (",", "."), (",", " "), (".", " "),
           (".", "'")]


@pytest.mark.parametrize(("decimal", "thousands"), FORMATS)
def test_an_amount_hint_names_only_a_setting_that_reads_it(tmp_path, decimal, thousands):
    # The hint is true: with the settings it names, the value reads as a number; a
    # value no setting reads (1e400: infinite under all of them) names none.
    text = TextFormat(decimal=decimal, thousands=thousands, delimiter=";")
    content = "customer_id;timestamp;amount\n" + "".join(
        f"C{i};2024-01-02;{v}\n" for i, v in enumerate(["1", *HINTED]))
    q = validate(tmp_path, content, text=text).quarantine().set_index("source_line")
    for line, value in enumerate(HINTED, start=3):
        if line not in q.index:
            continue  # read with these settings
        reason = q.loc[line, "reason"]
        named = re.search(r"with (data\.\S+: '.*?'|data\.\S+: null)"
                          r"(?: and (data\.\S+: '.*?'|data\.\S+: null))? in params.yaml", reason)
        if value.endswith("e400"):
            assert named is None, reason
            written = value.replace(",", ".") if decimal == "," else value
            if re.fullmatch(r"-?\d+(\.\d+)?e400", written):  # a number, but infinite
                assert "it reads as a number too large to hold" in reason, reason
            continue
        if named is None:
            continue
        settings = {"decimal": decimal, "thousands": thousands}
        for change in filter(None, named.groups()):
            key, given = change.removeprefix("data.").split(": ")
            settings[key] = None if given == "null" else given.strip("'")
        again = validate(tmp_path, f"customer_id;timestamp;amount\nC1;2024-01-02;{value}\n",
                         text=TextFormat(delimiter=";", **settings))
        assert again.report["tables"]["transactions"]["rows_accepted"] == 1, (value, reason)


def test_the_plausible_ranges_are_inclusive_and_configurable(tmp_path):
    content = (f"{TX_HEADER},quantity,discount\n"
               "C1,2024-01-02,1000000,1000000,1000000\nC1,2024-01-02,-1000000,-3,-2\n"
               "C1,2024-01-03,5e6,1,0\n")
    run = validate(tmp_path, content)
    assert sorted(run.clean()["amount"]) == [-1_000_000.0, 1_000_000.0]
    assert run.one_quarantined()["rule"] == "amount_out_of_range"

    checks = Checks(interaction_kinds=CHECKS.interaction_kinds,
                    amount_range=(-1e7, 1e7), quantity_range=(1.0, 10.0))
    run = validate(tmp_path, content, checks=checks)
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {2: "quantity_out_of_range"}
    assert "validate.quantity_range [1, 10]" in q.loc[2, "reason"]


def test_ids_differ_by_case_and_width_but_not_by_invisible_characters(tmp_path):
    # Ids are text: trimmed, in Unicode NFC, without zero-width characters; case and
    # width are kept (C1, c1 and the full-width Ｃ１ are three customers).
    content = (f"{TX_HEADER}\nC1,2024-01-02,1\nc1,2024-01-02,1\n\uff23\uff11,2024-01-02,1\n"
               "\u200bC1\u200d,2024-01-03,1\nC\u00ad1,2024-01-04,1\n\ufeffC1,2024-01-05,1\n")
    run = validate(tmp_path, content)

    ids = run.clean()["customer_id"].value_counts().to_dict()
    assert ids == {"C1": 4, "c1": 1, "\uff23\uff11": 1}
    # Each row whose id lost a character: the byte-order mark trimmed counts too.
    assert run.report["tables"]["transactions"]["ids_cleaned"] == 3


# Every Unicode space (Zs), line and paragraph separator is trimmed around an id, and
# every format character (Cf: direction marks such as the Arabic letter mark U+061C,
# isolates, joiners, the word joiner) is removed from it, whichever the code point.
SPACES = ["\u00a0", "\u1680", *map(chr, range(0x2000, 0x200b)), "\u2028", "\u2029", "\u202f",
          "\u205f", "\u3000", "\ufeff"]
MARKS = ["\u00ad", "\u061c", "\u180e", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f",
         *map(chr, range(0x202a, 0x202f)), "\u2060", *map(chr, range(0x2066, 0x206a)),
         "\ufeff"]


def test_every_unicode_space_is_trimmed_and_every_format_character_removed(tmp_path):
    ids = ([f"{s}42{s}" for s in SPACES] + [f"{m}42" for m in MARKS] + ["4\u061c2"]
           + ["  42 ", "42", "\u3000\u3000"])
    content = TX_HEADER + "\n" + "".join(f'"{i}",2024-01-02,1\n' for i in ids)
    run = validate(tmp_path, content)

    assert run.clean()["customer_id"].tolist() == ["42"] * (len(ids) - 1)
    row = run.one_quarantined()
    assert (row["rule"], row["source_line"]) == ("customer_id_missing", len(ids) + 1)
    # Every accepted row but the plain "42" lost a character.
    assert run.report["tables"]["transactions"]["ids_cleaned"] == len(ids) - 2


def test_a_control_character_is_not_whitespace_in_an_id(tmp_path):
    # NEL (U+0085) is a line break to str.isspace, but a control character (C1).
    run = validate(tmp_path, f"{GOOD_TX}\"C3\u0085\",2024-01-03,1\n")

    assert run.one_quarantined()["rule"] == "customer_id_invalid"


def test_optional_numbers_that_are_not_finite_are_nulled_and_counted(tmp_path):
    content = (f"{TX_HEADER},quantity,discount\n"
               "C1,2024-01-02,1,inf,nan\nC1,2024-01-02,2,1e309,\n")
    run = validate(tmp_path, content)

    clean = run.clean()
    assert clean["quantity"].isna().all() and clean["discount"].isna().all()
    assert run.report["tables"]["transactions"]["optional_values_nulled"] == {
        "quantity": 2, "discount": 1}
