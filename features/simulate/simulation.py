"""The simulator's public functions: :func:`simulate` and :func:`render_csv_tables`.

:func:`simulate` draws the population, runs the daily loop and assembles the typed
frames, all from one ``numpy.random.default_rng(seed)`` in a fixed order;
:func:`render_csv_tables` formats those frames as contract CSV text and injects the
data-quality warts. Neither reads files or parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import CUSTOMERS, INTERACTIONS, TRANSACTIONS
from features.simulate.campaigns import _Campaigns
from features.simulate.clock import _calendar, _month_starts, _signup_time_of_day
from features.simulate.frames import (
    _contract,
    _customer_ids,
    _customers,
    _fixed,
    _ground_truth,
    _interactions,
    _strings,
    _timestamps,
    _transactions,
)
from features.simulate.loop import _run
from features.simulate.population import _Population
from features.simulate.response import _responses
from features.simulate.story import _CAMPAIGN_CAPACITY, _CAMPAIGN_CONTROL, STORY_KINDS
from features.simulate.warts import _WART_STREAM, WART_RATES, _inject_warts


@dataclass(frozen=True, eq=False)
class Simulation:
    """What :func:`simulate` returns.

    Attributes
    ----------
    customers, transactions, interactions
        Typed frames with exactly the contract columns of
        :data:`features.schema.CUSTOMERS`, :data:`~features.schema.TRANSACTIONS` and
        :data:`~features.schema.INTERACTIONS`, in that order, sorted by time (customers by id).
    ground_truth
        One row per customer and month start after the customer became known:
        ``customer_id``, ``month``, ``alive``, ``p_defect``, ``is_buyer``,
        ``expected_spend``, the customer's ``response`` type and true ``effect_<action>``
        (:mod:`~features.simulate.response`), and the retention contact of that month
        (``contact_action``, ``contact_control``; null when not chosen). Latent: no
        feature may read it.
    latent
        Counts of latent events (conversions, defections, reactivations, ..., and the
        campaigns' contacts made, held out, won and the defections they caused).
    satisfaction_range
        The survey scale the scores were drawn on.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    interactions: pd.DataFrame
    ground_truth: pd.DataFrame
    latent: dict[str, int] = field(default_factory=dict)
    satisfaction_range: tuple[float, float] = (1.0, 5.0)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def simulate(
    *,
    n_customers: int,
    n_days: int,
    start_date: dt.date,
    seed: int,
    interaction_kinds: Sequence[str] = STORY_KINDS,
    satisfaction_range: tuple[float, float] = (1.0, 5.0),
    horizon_days: int = 90,
    acquisition_days: int | None = None,
    retention_campaigns: bool = True,
    campaign_capacity: float = _CAMPAIGN_CAPACITY,
    campaign_control_share: float = _CAMPAIGN_CONTROL,
) -> Simulation:
    """Simulate a customer base day by day.

    Parameters
    ----------
    n_customers
        Customers (prospects and buyers) acquired over the period.
    n_days
        Length of the simulated period in days, starting at ``start_date`` 00:00.
    start_date
        First simulated day.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frames.
    interaction_kinds
        Kinds written to the interactions frame; each must be one of :data:`STORY_KINDS`.
        Story kinds left out still happen (they drive the latent state) but are not recorded.
    satisfaction_range
        ``(low, high)`` of the survey scale; scores are ``low``, ``low + 1``, ... ``high``.
    horizon_days
        Horizon of the ground-truth defection probability ``p_defect``.
    acquisition_days
        None: customers are acquired over the whole period, at a rate that grows to
        twice its start. A number: one cohort, acquired evenly over the first
        ``acquisition_days`` days, that then ages (a real business's log of one
        acquisition campaign).
    retention_campaigns
        Whether the company runs a retention campaign at every month start from the 4th
        on (:mod:`~features.simulate.campaigns`): the chosen customers are recorded as
        ``retention_contact`` interactions, the treated ones answer with their true
        effect. False: no contact is ever made and the true effects change no event.
    campaign_capacity
        Customers chosen per campaign, as a share of the buyers known (0 to 1).
    campaign_control_share
        Share of the chosen customers held out at random (0 to 1).

    Returns
    -------
    Simulation
        customers (customer_id, signup_date, segment, relationship_type); transactions
        (customer_id, timestamp, amount, transaction_id, quantity, channel, category,
        discount; refunds have negative amount and quantity); interactions (customer_id,
        timestamp, kind, channel, satisfaction, resolved, resolution_hours, action,
        control); ground_truth (customer_id, month, alive, p_defect, is_buyer,
        expected_spend, response, effect_<action>, contact_action, contact_control).

    Raises
    ------
    ValueError
        If a size is not positive, a kind is not part of the story, or the survey
        range is empty.
    """
    kinds = list(interaction_kinds)
    unknown = sorted(set(kinds) - set(STORY_KINDS))
    if unknown:
        raise ValueError(f"interaction kinds {unknown} are not part of the simulator's story; "
                         f"it can generate {list(STORY_KINDS)}")
    if acquisition_days is not None and acquisition_days <= 0:
        raise ValueError(f"acquisition_days must be positive, got {acquisition_days}")
    if n_customers <= 0 or n_days <= 0 or horizon_days <= 0:
        raise ValueError(f"n_customers, n_days and horizon_days must be positive, got "
                         f"{n_customers}, {n_days}, {horizon_days}")
    for name, share, low in (("campaign_capacity", campaign_capacity, 0.0),
                             ("campaign_control_share", campaign_control_share, -1.0)):
        if not low < share <= 1.0:
            raise ValueError(f"{name} must be a share in {'(0' if low == 0 else '[0'}, 1], "
                             f"got {share}")
    lo, hi = (float(v) for v in satisfaction_range)
    if not lo < hi:
        raise ValueError(f"satisfaction_range must be (low, high) with low < high, "
                         f"got {satisfaction_range}")

    rng = np.random.default_rng(seed)
    season = _calendar(start_date, n_days + horizon_days)
    pop = _Population.draw(rng, n_customers, n_days, acquisition_days)
    # The true responses come from their own stream: drawn first, they change no draw
    # of the story's; the campaigns make them act on the treated customers.
    response, effects = _responses(seed, pop)
    month_days = _month_starts(start_date, n_days)
    campaigns = (_Campaigns(seed=seed, n=n_customers, effects=effects, month_days=month_days,
                            horizon_days=horizon_days, capacity=campaign_capacity,
                            control_share=campaign_control_share)
                 if retention_campaigns else None)
    log = _run(rng, pop, n_days=n_days, season=season, horizon_days=horizon_days,
               month_days=month_days, satisfaction=(lo, hi), campaigns=campaigns)

    epoch = int(np.datetime64(start_date, "s").astype(np.int64))
    ids = _customer_ids(n_customers)
    signup_tod = _signup_time_of_day(rng, pop)
    transactions = _transactions(rng, pop, log, ids, epoch, signup_tod, n_days)
    interactions = _interactions(rng, log, ids, epoch, signup_tod, pop.signup, kinds)
    customers = _customers(rng, pop, ids, epoch, signup_tod)
    ground_truth = _ground_truth(log, ids, start_date, response, effects)
    latent = dict(log.counts)
    latent["buyers"] = int(log.ever_bought.sum())
    latent["prospects"] = int(n_customers - latent["buyers"])
    return Simulation(customers=customers, transactions=transactions,
                      interactions=interactions, ground_truth=ground_truth,
                      latent=latent, satisfaction_range=(lo, hi))


def render_csv_tables(
    sim: Simulation,
    *,
    seed: int,
    wart_rates: dict[str, dict[str, float]] | None = None,
) -> tuple[dict[str, pa.Table], dict[str, dict[str, int]]]:
    """Format the simulated frames as contract CSV text and inject data-quality warts.

    Every column becomes text: timestamps as ISO 8601 ``YYYY-MM-DD HH:MM:SS`` without
    offset, amounts and discounts with two decimals, quantities and scores as integers,
    ``resolved`` as ``true``/``false``, nulls as empty strings. Then, at rows chosen with
    ``numpy.random.default_rng((seed, ...))`` (disjoint, so every wart is countable):
    exact duplicate rows (placed right after the original), nulls in optional columns,
    unparseable timestamps and amounts, and empty customer ids.

    Parameters
    ----------
    sim
        The output of :func:`simulate`.
    seed
        Seed of the warts (use the simulation's seed).
    wart_rates
        Share of rows per table and wart (at least one row each); default
        :data:`WART_RATES`. A wart set to 0 is not injected.

    Returns
    -------
    tables
        ``{"transactions", "interactions", "customers"}`` to Arrow tables of strings
        with the contract columns in contract order.
    warts
        Per table: the number of rows of each wart injected, the number of refund rows
        (transactions) and the number of rows written (``rows``).
    """
    rates = WART_RATES if wart_rates is None else wart_rates
    rng = np.random.default_rng((seed, _WART_STREAM))
    lo, hi = sim.satisfaction_range
    score_decimals = 0 if float(lo).is_integer() and float(hi).is_integer() else 1
    tx, it, cu = sim.transactions, sim.interactions, sim.customers
    text = {
        "transactions": _contract(TRANSACTIONS, {
            "customer_id": _strings(tx["customer_id"]),
            "timestamp": _timestamps(tx["timestamp"]),
            "amount": _fixed(tx["amount"].to_numpy(), 2),
            "transaction_id": _strings(tx["transaction_id"]),
            "quantity": _fixed(tx["quantity"].to_numpy(), 0),
            "channel": _strings(tx["channel"]),
            "category": _strings(tx["category"]),
            "discount": _fixed(tx["discount"].to_numpy(), 2),
        }),
        "interactions": _contract(INTERACTIONS, {
            "customer_id": _strings(it["customer_id"]),
            "timestamp": _timestamps(it["timestamp"]),
            "kind": _strings(it["kind"]),
            "channel": _strings(it["channel"]),
            "satisfaction": _fixed(it["satisfaction"].to_numpy(np.float64, na_value=np.nan),
                                   score_decimals),
            "resolved": pa.array(it["resolved"], pa.bool_()).cast(pa.string()),
            "resolution_hours": _fixed(
                it["resolution_hours"].to_numpy(np.float64, na_value=np.nan), 1),
            "action": _strings(it["action"]),
            "control": pa.array(it["control"], pa.bool_()).cast(pa.string()),
        }),
        "customers": _contract(CUSTOMERS, {
            "customer_id": _strings(cu["customer_id"]),
            "signup_date": _timestamps(cu["signup_date"]),
            "segment": _strings(cu["segment"]),
            "relationship_type": _strings(cu["relationship_type"]),
        }),
    }
    out: dict[str, pa.Table] = {}
    counts: dict[str, dict[str, int]] = {}
    for name in ("transactions", "interactions", "customers"):
        out[name], counts[name] = _inject_warts(text[name], rates.get(name, {}), rng)
    counts["transactions"]["refund_rows"] = int((tx["amount"] < 0).sum())
    return out, counts
