"""Assembling the frames: the loop's log turned into typed contract frames.

:func:`_transactions`, :func:`_interactions`, :func:`_customers` and
:func:`_ground_truth` draw what the loop left open (order contents, amounts,
discounts, channels, refunds, times of day) and build frames with exactly the
columns of :data:`features.schema.TRANSACTIONS`, :data:`~features.schema.INTERACTIONS`,
:data:`~features.schema.CUSTOMERS` and :data:`~features.schema.GROUND_TRUTH`
(:func:`_contract` checks them). The Arrow helpers at the end format columns as the
text of the input contract.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import (
    CUSTOMERS,
    GROUND_TRUTH,
    INTERACTIONS,
    RETENTION_CONTACT,
    TRANSACTIONS,
    Table,
)
from features.simulate.clock import _after_signup, _is_holiday_sale, _time_of_day
from features.simulate.loop import _Log
from features.simulate.population import _choice_rows, _Population
from features.simulate.story import (
    _CAMPAIGN_CHANNEL,
    _CATEGORY_WEIGHTS,
    _KIND_CHANNELS,
    _KIND_HOURS,
    _REFUND_FULL,
    _REFUND_OTHER,
    _REL_SALES_CHANNEL,
    _RESPONSE_ACTIONS,
    _SEG_DISCOUNT_USE,
    _SEGMENT_RECORDED_RIGHT,
    _SPEND_SHAPE,
    CATEGORIES,
    CONTACT_CHANNELS,
    RELATIONSHIP_TYPES,
    RESPONSE_TYPES,
    SALES_CHANNELS,
    SEGMENTS,
    STORY_KINDS,
)

# --------------------------------------------------------------------------
# Assembling the frames
# --------------------------------------------------------------------------


def _transactions(rng: np.random.Generator, pop: _Population, log: _Log, ids: pa.Array,
                  epoch: int, signup_tod: np.ndarray, n_days: int) -> pd.DataFrame:
    cust = np.concatenate(log.purchase_cust)
    day = np.concatenate(log.purchase_day)
    lift = np.concatenate(log.purchase_lift)  # an enhance contact's effect on spend
    m = cust.size
    extra = pop.extra_items[cust]
    quantity = 1 + rng.poisson(extra)
    # Gamma-Gamma: each item's price is gamma with the customer's scale, so that the
    # expected order value is the customer's mean spend.
    scale = pop.spend[cust] * lift / (_SPEND_SHAPE * (1.0 + extra))
    gross = np.maximum(np.round(rng.gamma(_SPEND_SHAPE * quantity, scale) * 100), 50)
    holiday = _is_holiday_sale(day, epoch)
    use = rng.random(m) < np.minimum(_SEG_DISCOUNT_USE[pop.segment[cust]] * (1 + holiday), 0.95)
    rate = rng.choice(np.array([0.05, 0.10, 0.15, 0.20, 0.30]), size=m)
    discount = np.where(use, np.round(gross * rate), 0)
    paid = gross - discount
    channel = np.where(rng.random(m) < 0.75, pop.channel[cust],
                       _choice_rows(rng, _REL_SALES_CHANNEL[pop.relationship[cust]]))
    category = np.where(rng.random(m) < 0.55, pop.category[cust],
                        rng.choice(len(CATEGORIES), size=m, p=_CATEGORY_WEIGHTS))
    tod = _time_of_day(rng, "shop", m)

    # Refunds: after some complaints (logged), and a small share of other orders.
    other = np.flatnonzero(rng.random(m) < _REFUND_OTHER)
    pid = np.concatenate([*log.refund_pid, other])
    rday = np.concatenate([*log.refund_day, day[other] + rng.integers(1, 31, other.size)])
    pid, first = np.unique(pid, return_index=True)  # one refund per order at most
    rday = rday[first]
    keep = rday < n_days
    pid, rday = pid[keep], rday[keep].astype(np.int32)
    full = rng.random(pid.size) < _REFUND_FULL
    returned = np.where(full, quantity[pid], rng.integers(1, quantity[pid] + 1))
    refund = -np.round(paid[pid] * returned / quantity[pid])

    cust_all = np.concatenate([cust, cust[pid]])
    day_all = np.concatenate([day, rday])
    tod_all = np.concatenate([tod, _time_of_day(rng, "service", pid.size)])
    tod_all = _after_signup(tod_all, day_all, pop.signup[cust_all], signup_tod[cust_all])
    seconds = epoch + day_all.astype(np.int64) * 86400 + tod_all
    amount = np.concatenate([paid, refund]) / 100
    quantity_all = np.concatenate([quantity, -returned]).astype(np.float64)
    discount_all = np.concatenate([discount, np.zeros(pid.size)]) / 100
    channel_all = np.concatenate([channel, channel[pid]])
    category_all = np.concatenate([category, category[pid]])
    order = np.lexsort((np.arange(seconds.size), cust_all, seconds))
    width = max(8, len(str(order.size)))
    tid = pc.utf8_lpad(pa.array(np.arange(1, order.size + 1)).cast(pa.string()), width, "0")
    table = _contract(TRANSACTIONS, {
        "customer_id": ids.take(pa.array(cust_all[order])),
        "timestamp": pa.array(seconds[order] * 1_000_000, pa.timestamp("us")),
        "amount": amount[order],
        "transaction_id": pc.binary_join_element_wise("T", tid, ""),
        "quantity": quantity_all[order],
        "channel": pa.array(np.asarray(SALES_CHANNELS)[channel_all[order]]),
        "category": pa.array(np.asarray(CATEGORIES)[category_all[order]]),
        "discount": discount_all[order],
    })
    return table.to_pandas()


def _interactions(rng: np.random.Generator, log: _Log, ids: pa.Array, epoch: int,
                  signup_tod: np.ndarray, signup: np.ndarray, kinds: list[str]) -> pd.DataFrame:
    parts = []
    for code, kind in enumerate(STORY_KINDS):
        rows = log.events[kind]
        if kind not in kinds or not rows:
            continue
        cols = [np.concatenate([r[i] for r in rows]) for i in range(5)]
        cust, day = cols[0], cols[1]
        tod = _time_of_day(rng, _KIND_HOURS[kind], cust.size)
        channel = rng.choice(len(CONTACT_CHANNELS), size=cust.size,
                             p=np.asarray(_KIND_CHANNELS[kind]) / sum(_KIND_CHANNELS[kind]))
        none = np.full(cust.size, -1, np.int8)
        parts.append((cust, day, tod, np.full(cust.size, code, np.int8), channel, *cols[2:],
                      none, none))
    if RETENTION_CONTACT in kinds and log.contacts:
        parts.append(_contact_rows(log))
    if parts:
        cust, day, tod, kind, channel, resolved, hours, score, action, control = (
            np.concatenate(c) for c in zip(*parts, strict=True))
    else:
        cust = day = tod = np.zeros(0, np.int32)
        kind = channel = resolved = action = control = np.zeros(0, np.int8)
        hours = score = np.zeros(0)
    tod = _after_signup(tod, day, signup[cust], signup_tod[cust])
    seconds = epoch + day.astype(np.int64) * 86400 + tod
    order = np.lexsort((kind, cust, seconds))
    resolved, action, control = resolved[order], action[order], control[order]
    actions = np.asarray(_RESPONSE_ACTIONS, dtype=object)[np.maximum(action, 0)]
    table = _contract(INTERACTIONS, {
        "customer_id": ids.take(pa.array(cust[order])),
        "timestamp": pa.array(seconds[order] * 1_000_000, pa.timestamp("us")),
        "kind": pa.array(np.asarray(STORY_KINDS)[kind[order]]),
        "channel": pa.array(np.asarray(CONTACT_CHANNELS)[channel[order]]),
        "satisfaction": pa.array(score[order], from_pandas=True),
        "resolved": pa.array(resolved == 1, mask=resolved < 0),
        "resolution_hours": pa.array(hours[order], from_pandas=True),
        "action": pa.array(actions, pa.string(), mask=action < 0),
        "control": pa.array(control == 1, mask=control < 0),
    })
    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def _contact_rows(log: _Log) -> tuple[np.ndarray, ...]:
    """The retention contacts as interaction columns: at 00:00 of the campaign's month
    start (the snapshot instant: features at that cutoff do not see them)."""
    days = sorted(log.contacts)
    cust = np.concatenate([log.contacts[d][0] for d in days])
    day = np.concatenate([np.full(log.contacts[d][0].size, d, np.int32) for d in days])
    action = np.concatenate([log.contacts[d][1] for d in days]).astype(np.int8)
    control = np.concatenate([log.contacts[d][2] for d in days]).astype(np.int8)
    channels = np.array([CONTACT_CHANNELS.index(_CAMPAIGN_CHANNEL.get(a, "email"))
                         for a in _RESPONSE_ACTIONS], np.int8)
    nan = np.full(cust.size, np.nan)
    return (cust, day, np.zeros(cust.size, np.int64),
            np.full(cust.size, STORY_KINDS.index(RETENTION_CONTACT), np.int8),
            channels[action], np.full(cust.size, -1, np.int8), nan, nan, action, control)


def _customers(rng: np.random.Generator, pop: _Population, ids: pa.Array, epoch: int,
               signup_tod: np.ndarray) -> pd.DataFrame:
    # The company's segmentation is an estimate: sometimes it names another type.
    wrong = rng.random(pop.n) >= _SEGMENT_RECORDED_RIGHT
    other = (pop.segment + rng.integers(1, len(SEGMENTS), pop.n)) % len(SEGMENTS)
    recorded = np.where(wrong, other, pop.segment)
    seconds = epoch + pop.signup.astype(np.int64) * 86400 + signup_tod
    table = _contract(CUSTOMERS, {
        "customer_id": ids,
        "signup_date": pa.array(seconds * 1_000_000, pa.timestamp("us")),
        "segment": pa.array(np.asarray(SEGMENTS)[recorded]),
        "relationship_type": pa.array(np.asarray(RELATIONSHIP_TYPES)[pop.relationship]),
    })
    return table.to_pandas()


def _ground_truth(log: _Log, ids: pa.Array, start_date: dt.date, response: np.ndarray,
                  effects: dict[str, np.ndarray]) -> pd.DataFrame:
    if log.truth:
        day = np.concatenate([np.full(t[1].size, t[0], np.int64) for t in log.truth])
        cust = np.concatenate([np.arange(t[1].size) for t in log.truth])
        alive, p, buyer, spend = (np.concatenate([t[i] for t in log.truth])
                                  for i in (1, 2, 3, 4))
    else:
        day = cust = np.zeros(0, np.int64)
        alive = buyer = np.zeros(0, bool)
        p = spend = np.zeros(0)
    # The campaign of each (month, customer): action code and control, -1 if not chosen.
    action = np.full(day.size, -1, np.int8)
    control = np.full(day.size, -1, np.int8)
    start = 0
    for t in log.truth:
        if t[0] in log.contacts:
            idx, code, held = log.contacts[t[0]]
            action[start + idx] = code
            control[start + idx] = held
        start += t[1].size
    month = np.datetime64(start_date, "us") + day * np.timedelta64(86_400_000_000, "us")
    order = np.lexsort((day, cust))
    who = cust[order]
    action, control = action[order], control[order]
    return _contract(GROUND_TRUTH, {
        "customer_id": ids.take(pa.array(who)),
        "month": pa.array(month[order], pa.timestamp("us")),
        "alive": alive[order],
        "p_defect": p[order],
        "is_buyer": buyer[order],
        "expected_spend": np.round(spend[order], 6),
        "response": pa.array(np.asarray(RESPONSE_TYPES, dtype=object)[response[who]],
                             pa.string()),
        **{f"effect_{a}": effects[a][who] for a in _RESPONSE_ACTIONS},
        "contact_action": pa.array(np.asarray(_RESPONSE_ACTIONS, dtype=object)[
            np.maximum(action, 0)], pa.string(), mask=action < 0),
        "contact_control": pa.array(control == 1, mask=control < 0),
    }).to_pandas()


# --------------------------------------------------------------------------
# Arrow helpers
# --------------------------------------------------------------------------


def _contract(table: Table, columns: dict[str, object]) -> pa.Table:
    """An Arrow table with exactly the columns of ``table``, in its order."""
    if sorted(columns) != sorted(table.names):
        raise RuntimeError(f"{table.name}: built columns {sorted(columns)} differ from the "
                           f"declared {table.names}")
    return pa.table({name: columns[name] for name in table.names})


def _customer_ids(n: int) -> pa.Array:
    width = max(7, len(str(n)))
    digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise("C", digits, "")


def _strings(values: pd.Series) -> pa.Array:
    return pa.array(values, pa.string(), from_pandas=True)


def _timestamps(values: pd.Series) -> pa.Array:
    return pa.array(values, pa.timestamp("us")).cast(pa.timestamp("s")).cast(pa.string())


def _fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Numbers as text with a fixed number of decimals; NaN becomes null."""
    missing = np.isnan(values)
    scaled = np.round(np.where(missing, 0.0, values) * 10**decimals).astype(np.int64)
    sign = pa.array(np.where(scaled < 0, "-", ""))
    whole = pa.array(np.abs(scaled) // 10**decimals).cast(pa.string())
    if decimals:
        frac = pc.utf8_lpad(pa.array(np.abs(scaled) % 10**decimals).cast(pa.string()),
                            decimals, "0")
        text = pc.binary_join_element_wise(sign, whole, ".", frac, "")
    else:
        text = pc.binary_join_element_wise(sign, whole, "")
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
