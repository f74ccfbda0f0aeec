"""The validation rules (:data:`RULES`) and the per-table rules of each input.

Each input table has a function that registers its parsed columns, outputs and
rules on a :class:`~features.validation.parsing._Parse`; :func:`_parse` turns
them into ``_v_parsed_<table>``: one row per raw row with ``__rid``,
``__line``, ``__file``, ``__hash`` (of the raw fields), the contract columns
typed as declared, ``__rule`` and ``__reason`` (the first rule broken, in the
order of :data:`RULES`) and the flags of optional values set to null.
"""

from __future__ import annotations

import duckdb

from features.schema import CONTACT_ACTIONS, INPUT_TABLES, RETENTION_CONTACT
from features.validation.load import _lined_sql
from features.validation.options import Checks, TextFormat
from features.validation.parsing import (
    _INTEGER_TYPES,
    _expected_timestamp,
    _number,
    _number_hint,
    _number_words,
    _Parse,
    _timestamp,
    _timestamp_hint,
)
from features.validation.sources import _Source
from features.validation.sql import _Params, _q, _run

#: Validation rules, by stable id, in the order they are checked: a row that
#: breaks several rules is quarantined under the first one.
RULES: dict[str, str] = {
    "malformed_line": "CSV line that cannot be split into the header's fields (wrong number "
                      "of fields, unterminated quote, either half of a record split by a "
                      "quoted line break in a contract value, invalid UTF-8).",
    "customer_id_missing": "customer_id empty, only whitespace, or a null marker written as "
                           "text (NULL, null, None, NaN, N/A, NA, nil, \\N, #N/A).",
    "customer_id_invalid": "customer_id holding a control character (U+0000 to U+001F, "
                           "U+007F to U+009F) after trimming, or a binary id whose bytes are "
                           "not UTF-8 text; invisible format characters (Unicode category "
                           "Cf: zero-width spaces and joiners, word joiner, soft hyphen, "
                           "byte-order mark, direction marks) are removed from ids instead.",
    "timestamp_missing": "timestamp empty.",
    "timestamp_unparseable": "timestamp not in data.timestamp_format (ISO 8601 when null).",
    "timestamp_too_old": "timestamp (or customers.signup_date) before validate.min_timestamp.",
    "amount_missing": "amount empty.",
    "amount_unparseable": "amount not a finite number with data.decimal and data.thousands.",
    "amount_out_of_range": "amount outside validate.amount_range (inclusive).",
    "quantity_out_of_range": "quantity outside validate.quantity_range (inclusive; on a refund, "
                             "a negative quantity is compared by its magnitude).",
    "discount_out_of_range": "discount outside validate.discount_range (inclusive; on a refund, "
                             "a negative discount is compared by its magnitude).",
    "kind_unknown": "interaction kind empty or not in data.interaction_kinds "
                    "(compared trimmed and lower-cased).",
    "satisfaction_unparseable": "satisfaction given but not a number.",
    "satisfaction_out_of_range": "satisfaction outside data.satisfaction_range (inclusive).",
    "resolved_not_boolean": "resolved given but not one of true/false, 1/0, yes/no, t/f.",
    "resolution_hours_unparseable": "resolution_hours given but not a number.",
    "resolution_hours_negative": "resolution_hours below zero.",
    "action_invalid": f"{RETENTION_CONTACT} row whose action is empty or not one of the "
                      f"actions that spend ({', '.join(CONTACT_ACTIONS)}; compared trimmed and "
                      f"lower-cased).",
    "control_not_boolean": f"{RETENTION_CONTACT} row whose control is given but not one of "
                           f"true/false, 1/0, yes/no, t/f (empty means false).",
    "signup_date_unparseable": "signup_date given but neither in data.timestamp_format (or its "
                               "date part) nor ISO 8601.",
    "timestamp_in_future": "timestamp (or signup_date) after the last valid event plus "
                           "validate.max_future_days; events after the time of the run never "
                           "count as the last valid event.",
    "exact_duplicate": "all raw fields equal to an earlier row, which is kept.",
    "transaction_id_conflict": "transactions row whose transaction_id is already used by an "
                               "earlier valid row with other values and an amount of the same "
                               "sign (a purchase and its refund may share an id); the earlier "
                               "row is kept.",
    "duplicate_customer_id": "customers row whose customer_id already appears on an earlier "
                             "valid row, which is kept.",
}

#: What happens to action and control: they belong to retention contacts.
CONTACT_FIELDS_POLICY = (
    f"interactions.action and interactions.control are kept on {RETENTION_CONTACT} rows "
    f"(an empty control is false) and set to null on rows of other kinds, whatever they "
    f"hold; the count per column is in optional_values_nulled"
)

#: What happens to an optional numeric column that does not parse.
OPTIONAL_NUMBER_POLICY = (
    "transactions.quantity and transactions.discount values that are not numbers are set to "
    "null and the row is kept; the count per column is in optional_values_nulled"
)

_NULL_MARKERS = ("null", "none", "nan", "n/a", "na", "nil", "\\n", "#n/a")
# Invisible format characters a copy or an export adds to ids, removed: the Unicode
# category Cf (soft hyphen, zero-width spaces and joiners, word joiner, byte-order
# mark, every direction mark and isolate: LRM, RLM, ALM U+061C, U+202A-U+202E, ...).
_INVISIBLE = r"\p{Cf}"
_CONTROL = "[\x00-\x1f\x7f-\x9f]"
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")


def _customer_id_rule(parse: _Parse) -> None:
    p = parse.p
    cid = parse.text_of("customer_id")
    # A null written as text by a database export would otherwise gather every
    # customer-less row under one made-up customer "NULL". Ids are compared as
    # NFC text, so that "Zoë" typed with a combining diaeresis is the same
    # customer as "Zoë" with a precomposed one; ASCII ids (strlen = length) are
    # already normal and skip the work.
    # Invisible characters are removed (an id typed "C1" and copied with a zero-width
    # space is customer C1); an id left empty by that is missing.
    visible = f"nullif(regexp_replace({cid}, {p(_INVISIBLE)}, '', 'g'), '')"
    parse.values["v_customer_id"] = (
        f"CASE WHEN length({cid}) <= 4 AND lower({cid}) IN {_in_list(_NULL_MARKERS)} THEN NULL "
        f"WHEN strlen({cid}) = length({cid}) THEN {cid} ELSE nfc_normalize({visible}) END")
    parse.outputs["customer_id"] = "v_customer_id"
    # Rows whose id lost a character: padding trimmed or an invisible one removed (not
    # a change of Unicode normal form).
    written = parse.untrimmed("customer_id")
    parse.flags["__id_cleaned"] = "false" if written is None else (
        f"CASE WHEN strlen({written}) = length({written}) THEN {written} <> {cid} "
        f"ELSE nfc_normalize({written}) <> nfc_normalize(coalesce({visible}, '')) END")
    not_utf8 = parse.not_utf8("customer_id")
    if "customer_id" in parse.source.positions:
        raw = parse.raw_of("customer_id")
        why = (f"CASE WHEN {raw} IS NULL THEN {p('customer_id is empty')} "
               f"ELSE {p('customer_id ')} || {parse.shown(f'CAST({raw} AS VARCHAR)')} "
               f"|| CASE WHEN {cid} IS NULL THEN {p(' is only whitespace')} "
               f"WHEN {visible} IS NULL THEN {p(' holds only invisible characters')} "
               f"ELSE {p(' is a null marker, not an id')} END END")
    else:
        why = p("customer_id is empty")
    parse.rules += [
        ("customer_id_missing", "v_customer_id IS NULL", why),
        ("customer_id_invalid", f"({not_utf8} OR regexp_matches(v_customer_id, {p(_CONTROL)}))",
         f"{p('customer_id ')} || {parse.shown('v_customer_id')} || CASE WHEN {not_utf8} "
         f"THEN {p(' is binary data that is not UTF-8 text; an id is text (the file may be ')}"
         f" || {p('damaged, or the column not an id)')} "
         f"ELSE {p(' holds a control character; an id is printable text (the file may be ')}"
         f" || {p('damaged)')} END"),
    ]


def _timestamp_rules(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    t, v = _timestamp(parse, "timestamp")
    parse.outputs["timestamp"] = v
    parse.rules += [
        ("timestamp_missing", f"{t} IS NULL", p("timestamp is empty")),
        ("timestamp_unparseable", f"{v} IS NULL",
         f"{p('timestamp ')} || {parse.shown(t)} || {p(' ' + _expected_timestamp(parse.text))}"
         f" || {_timestamp_hint(parse, t)}"),
        ("timestamp_too_old", f"{v} < {p(checks.min_timestamp)}",
         f"{p('timestamp ')} || {parse.shown(t)} || "
         f"{p(f' is before validate.min_timestamp {checks.min_timestamp:%Y-%m-%d %H:%M:%S}')}"),
    ]


def _transactions(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    _timestamp_rules(parse, checks)
    t, amount = _number(parse, "amount")
    parse.outputs["amount"] = amount
    parse.rules += [
        ("amount_missing", f"{t} IS NULL", p("amount is empty")),
        ("amount_unparseable", f"{amount} IS NULL",
         f"{p('amount ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
        _range_rule(parse, "amount", t, amount, checks.amount_range),
    ]
    for column in ("transaction_id", "channel", "category"):
        parse.outputs[column] = parse.text_of(column)
    for column, bounds in (("quantity", checks.quantity_range),
                           ("discount", checks.discount_range)):
        t, v = _number(parse, column)
        parse.outputs[column] = v
        parse.flags[f"__nulled_{column}"] = f"({t} IS NOT NULL AND {v} IS NULL)"
        # A refund of 5 items is written -5 by many systems: compared by its magnitude.
        signed = f"(CASE WHEN {amount} < 0 THEN abs({v}) ELSE {v} END)"
        parse.rules.append(_range_rule(parse, column, t, signed, bounds))


def _interactions(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    _timestamp_rules(parse, checks)
    kind = parse.text_of("kind")
    parse.values["v_kind"] = f"lower({kind})"
    parse.outputs["kind"] = "v_kind"
    vocabulary = ", ".join(checks.interaction_kinds)
    parse.rules.append((
        "kind_unknown", f"v_kind IS NULL OR NOT list_contains({p(list(checks.interaction_kinds))}, "
                        f"v_kind)",
        f"CASE WHEN {kind} IS NULL "
        f"THEN {p('kind is empty; expected one of data.interaction_kinds ')} "
        f"ELSE {p('kind ')} || {parse.shown(kind)} || {p(' is not in data.interaction_kinds ')} "
        f"END || {p(f'[{vocabulary}]')}",
    ))
    parse.outputs["channel"] = parse.text_of("channel")
    low, high = checks.satisfaction_range
    t, v = _number(parse, "satisfaction")
    parse.outputs["satisfaction"] = v
    parse.rules += [
        ("satisfaction_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('satisfaction ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
        ("satisfaction_out_of_range", f"{v} < {p(float(low))} OR {v} > {p(float(high))}",
         f"{p('satisfaction ')} || {parse.shown(t)} || "
         f"{p(f' is outside data.satisfaction_range [{low:g}, {high:g}]')}"),
    ]
    t = _boolean(parse, "resolved")
    parse.outputs["resolved"] = "v_resolved"
    parse.rules.append((
        "resolved_not_boolean", f"{t} IS NOT NULL AND v_resolved IS NULL",
        f"{p('resolved ')} || {parse.shown(t)} || "
        f"{p(' is not a boolean (true/false, 1/0, yes/no, t/f)')}",
    ))
    t, v = _number(parse, "resolution_hours")
    parse.outputs["resolution_hours"] = v
    parse.rules += [
        ("resolution_hours_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('resolution_hours ')} || {parse.shown(t)} || "
         f"{p(' is not a number ' + _number_words(parse.text))} || {_number_hint(parse, t)}"),
        ("resolution_hours_negative", f"{v} < 0",
         f"{p('resolution_hours ')} || {parse.shown(t)} || {p(' is negative')}"),
    ]
    _contact_rules(parse)


def _contact_rules(parse: _Parse) -> None:
    """action and control: checked and kept on retention contacts, null on other kinds."""
    p = parse.p
    contact = f"(v_kind = {p(RETENTION_CONTACT)})"
    action = parse.text_of("action")
    parse.values["v_action"] = f"lower({action})"
    parse.outputs["action"] = f"CASE WHEN {contact} THEN v_action END"
    control = _boolean(parse, "control")
    parse.outputs["control"] = f"CASE WHEN {contact} THEN coalesce(v_control, false) END"
    for column, text in (("action", action), ("control", control)):
        parse.flags[f"__nulled_{column}"] = (f"(NOT coalesce({contact}, false) "
                                             f"AND {text} IS NOT NULL)")
    allowed = f"[{', '.join(CONTACT_ACTIONS)}]"
    parse.rules += [
        ("action_invalid",
         f"{contact} AND (v_action IS NULL OR NOT list_contains({p(list(CONTACT_ACTIONS))}, "
         f"v_action))",
         f"CASE WHEN {action} IS NULL THEN {p(f'action is empty; a {RETENTION_CONTACT} names ')}"
         f" ELSE {p('action ')} || {parse.shown(action)} || {p(' is not ')} END "
         f"|| {p(f'one of the actions that spend {allowed}')}"),
        ("control_not_boolean", f"{contact} AND {control} IS NOT NULL AND v_control IS NULL",
         f"{p('control ')} || {parse.shown(control)} || "
         f"{p(' is not a boolean (true/false, 1/0, yes/no, t/f; empty means false)')}"),
    ]


def _boolean(parse: _Parse, column: str) -> str:
    """Register ``v_<column>``, a boolean read from text, a BOOLEAN or 1/0; return the text."""
    t = parse.text_of(column)
    raw_type = parse.raw_type(column)
    if raw_type == "BOOLEAN":
        value = parse.raw_of(column)
    elif raw_type is not None and _INTEGER_TYPES.match(raw_type):
        r = parse.raw_of(column)
        value = f"CASE {r} WHEN 1 THEN true WHEN 0 THEN false END"
    else:
        value = (f"CASE WHEN lower({t}) IN {_in_list(_TRUE)} THEN true "
                 f"WHEN lower({t}) IN {_in_list(_FALSE)} THEN false END")
    parse.values[f"v_{column}"] = value
    return t


def _customers(parse: _Parse, checks: Checks) -> None:
    p = parse.p
    _customer_id_rule(parse)
    t, v = _timestamp(parse, "signup_date", lenient=True)
    parse.outputs["signup_date"] = v
    parse.rules += [
        ("signup_date_unparseable", f"{t} IS NOT NULL AND {v} IS NULL",
         f"{p('signup_date ')} || {parse.shown(t)} || "
         f"{p(' ' + _expected_timestamp(parse.text, lenient=True))} || "
         f"{_timestamp_hint(parse, t)}"),
        ("timestamp_too_old", f"{v} < {p(checks.min_timestamp)}",
         f"{p('signup_date ')} || {parse.shown(t)} || "
         f"{p(f' is before validate.min_timestamp {checks.min_timestamp:%Y-%m-%d %H:%M:%S}')}"),
    ]
    for column in ("segment", "relationship_type"):
        parse.outputs[column] = parse.text_of(column)


def _range_rule(parse: _Parse, column: str, t: str, value: str,
                bounds: tuple[float, float]) -> tuple[str, str, str]:
    """The rule quarantining a number outside the plausible ``bounds`` of validate params."""
    p = parse.p
    low, high = bounds
    why = (f" is outside validate.{column}_range [{low:.15g}, {high:.15g}]: not a plausible "
           f"{column} of one transaction")
    return (f"{column}_out_of_range", f"{value} < {p(float(low))} OR {value} > {p(float(high))}",
            f"{p(column + ' ')} || {parse.shown(t)} || {p(why)}")


def _in_list(words: tuple[str, ...]) -> str:
    # Constant vocabularies of this module, not user input (no quote in them).
    return "(" + ", ".join(f"'{w}'" for w in words) + ")"


_TABLE_RULES = {"transactions": _transactions, "interactions": _interactions,
                "customers": _customers}


def _parse(con: duckdb.DuckDBPyConnection, source: _Source, text: TextFormat,
           checks: Checks) -> None:
    """Create ``_v_parsed_<table>``: one row per raw row, typed values, first rule broken."""
    parse = _Parse(_Params(), source, text)
    _TABLE_RULES[source.table](parse, checks)
    contract = INPUT_TABLES[source.table]
    lined = _lined_sql(con, source, parse.p)
    raw_columns = ", ".join(f"c{i}" for i in range(len(source.keys)))
    layer1 = ", ".join(f"{expr} AS {name}" for name, expr in parse.texts.items())
    layer2 = ", ".join(f"{expr} AS {name}" for name, expr in parse.values.items())
    outputs = ", ".join(
        f"CAST({parse.outputs[c.name]} AS {c.duckdb_type}) AS {_q(c.name)}"
        for c in contract.columns
    )
    rule = " ".join(f"WHEN {cond} THEN {parse.p(rid)}" for rid, cond, _ in parse.rules)
    reason = " ".join(f"WHEN {cond} THEN {why}" for _, cond, why in parse.rules)
    flags = "".join(f", coalesce({expr}, false) AS {name}" for name, expr in parse.flags.items())
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.parsed} AS
        SELECT __rid, __line, __file, __hash, {outputs},
               CAST(CASE {rule} END AS VARCHAR) AS __rule,
               CAST(CASE {reason} END AS VARCHAR) AS __reason{flags}
        FROM (
            SELECT *, {layer2} FROM (
                SELECT __rid, __line, __file, hash({raw_columns}) AS __hash, {layer1}
                FROM ({lined}) l
            ) l1
        ) l2
    """, parse.p)
