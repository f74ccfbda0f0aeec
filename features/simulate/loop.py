"""The daily loop: the simulation stepped one day at a time over the whole population.

:func:`_run` draws, day after day and in a fixed order, the state transitions,
purchases, interactions, service outcomes, refunds after complaints, scheduled
follow-ups and competitor offers, and records them in a :class:`_Log` (lists of
per-day arrays), with the ground truth at every month start; the company's retention
campaigns (:mod:`~features.simulate.campaigns`) run right after that snapshot. The
order of the draws is part of the output: the same seed gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.simulate.campaigns import _Campaigns
from features.simulate.population import _horizon_truth, _Population, _rates, _State
from features.simulate.story import (
    _AFTER_PURCHASE,
    _CARE_HALF_LIFE,
    _CHECKIN_STATE,
    _COMPLAINT_HOURS,
    _COMPLAINT_RESOLVED,
    _COMPLAINT_SLOW,
    _COMPLAINT_STATE,
    _EMAIL_STATE,
    _ENGAGEMENT_COMPLAINT,
    _ENGAGEMENT_REVERSION,
    _ENGAGEMENT_SD,
    _GRIEVANCE_COMPLAINT,
    _GRIEVANCE_HALF_LIFE,
    _GRIEVANCE_TICKET,
    _REACTIVATION_GRIEVANCE_KEPT,
    _REFUND_AFTER_COMPLAINT,
    _REL_CHECKIN_PER_DAY,
    _REL_FOLLOWUP,
    _REL_SERVICE,
    _REL_THANKS,
    _SAT_PER_CARE,
    _SAT_PER_GRIEVANCE,
    _SHOCK_DAYS,
    _SHOCK_HAZARD,
    _SHOCK_PURCHASE,
    _SURVEY_AFTER_SERVICE,
    _SURVEY_CENTER,
    _SURVEY_NOISE,
    _SURVEY_SCALE,
    _THANKS_DELAY,
    _TICKET_HOURS,
    _TICKET_RESOLVED,
    _TICKET_SLOW,
    _TICKET_STATE,
    _WEB_STATE,
    STORY_KINDS,
)

# --------------------------------------------------------------------------
# The daily loop
# --------------------------------------------------------------------------


@dataclass(eq=False)
class _Log:
    """Events recorded by the loop, as lists of per-day arrays."""

    purchase_cust: list[np.ndarray] = field(default_factory=list)
    purchase_day: list[np.ndarray] = field(default_factory=list)
    purchase_lift: list[np.ndarray] = field(default_factory=list)  # spend factor, 1 mostly
    refund_pid: list[np.ndarray] = field(default_factory=list)
    refund_day: list[np.ndarray] = field(default_factory=list)
    events: dict[str, list[tuple[np.ndarray, ...]]] = field(
        default_factory=lambda: {k: [] for k in STORY_KINDS})
    # (day, alive, p_defect, is_buyer, expected_spend) at every month start.
    truth: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {
        "conversions": 0, "defections": 0, "reactivations": 0, "prospect_lapses": 0,
        "prospect_returns": 0, "competitor_offers": 0})
    ever_bought: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # Per campaign day: the chosen customers, their action codes and control flags.
    contacts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def _run(rng: np.random.Generator, pop: _Population, *, n_days: int, season: np.ndarray,
         horizon_days: int, month_days: np.ndarray, satisfaction: tuple[float, float],
         campaigns: _Campaigns | None = None) -> _Log:
    n = pop.n
    st = _State.empty(n)
    log = _Log()
    due = {kind: np.full(n, -1, np.int32) for kind in ("complaint", "ticket", "survey", "call")}
    complaint_pid = np.full(n, -1, np.int64)  # the purchase a scheduled complaint is about
    last_pid = np.full(n, -1, np.int64)
    next_pid = 0
    g_decay = 0.5 ** (1 / _GRIEVANCE_HALF_LIFE)
    c_decay = 0.5 ** (1 / _CARE_HALF_LIFE)
    e_keep = 1.0 - _ENGAGEMENT_REVERSION
    e_sd = _ENGAGEMENT_SD * np.sqrt(2 * _ENGAGEMENT_REVERSION)
    checkin = _REL_CHECKIN_PER_DAY[pop.relationship]
    months = set(month_days.tolist())
    lo, hi = satisfaction
    k = 0
    for d in range(n_days):
        k0, k = k, int(np.searchsorted(pop.signup, d, side="right"))
        if d in months and k0 > 0:
            purchase, hazard, comeback, buyer, _ = _rates(pop, st, k0)
            left = np.maximum(st.shock_end[:k0] - d, 0) * buyer
            p, buys = _horizon_truth(st.alive[:k0], purchase, hazard, comeback, left,
                                     season[d:d + horizon_days])
            log.truth.append((d, st.alive[:k0].copy(), p, buyer, buys * pop.spend[:k0]))
            if campaigns is not None:
                campaigns.run(d, st, k0, p)
        if k == 0:
            continue
        st.alive[k0:k] = True  # newly known customers start as prospects in the market
        s = season[d]
        purchase, hazard, comeback, buyer, _ = _rates(pop, st, k)
        shocked = st.shock_end[:k] > d
        purchase = purchase * s * np.where(shocked, _SHOCK_PURCHASE, 1.0)
        hazard = np.where(shocked, hazard * _SHOCK_HAZARD, hazard)
        u = rng.random((9, k), dtype=np.float32)

        # State transitions and purchases.
        was_alive = st.alive[:k].copy()
        die = was_alive & (u[0] < -np.expm1(-hazard))
        buy = was_alive & ~die & (u[1] < -np.expm1(-purchase))
        back = ~was_alive & (u[2] < -np.expm1(-comeback * s))
        if campaigns is not None:
            # A won contact brings its purchase (a lost customer comes back with it).
            won = campaigns.won_today(d, k)
            die &= ~won
            buy |= won & was_alive
            back |= won & ~was_alive
        new = np.zeros(k, bool)
        new[k0:] = True
        instant = new & pop.instant[:k]
        die &= ~instant
        buy |= instant
        st.alive[:k] = (was_alive & ~die) | back
        log.counts["defections"] += int((die & buyer).sum())
        log.counts["prospect_lapses"] += int((die & ~buyer).sum())
        log.counts["reactivations"] += int((back & buyer).sum())
        log.counts["prospect_returns"] += int((back & ~buyer).sum())
        log.counts["conversions"] += int(((buy | back) & ~buyer).sum())
        back_idx = np.flatnonzero(back & buyer)
        st.grievance[back_idx] *= _REACTIVATION_GRIEVANCE_KEPT
        st.engagement[back_idx] = 0.0
        st.since_return[back_idx] = 0
        pidx = np.flatnonzero(buy | back)
        st.purchases[pidx] += 1
        st.since_return[pidx] += 1
        pids = next_pid + np.arange(pidx.size, dtype=np.int64)
        next_pid += pidx.size
        last_pid[pidx] = pids
        log.purchase_cust.append(pidx.astype(np.int32))
        log.purchase_day.append(np.full(pidx.size, d, np.int32))
        log.purchase_lift.append(np.ones(pidx.size) if campaigns is None
                                 else campaigns.bought(pidx, d))

        # Interactions of the day (at most one of each kind per customer and day).
        alive_now = st.alive[:k]
        code = alive_now.astype(np.int8) * 2 + (st.purchases[:k] > 0)
        boost = np.exp(st.engagement[:k])
        browse = np.where(code == 2, pop.prospect_browse[:k], _WEB_STATE[code])
        web = u[3] < -np.expm1(-pop.web[:k] * boost * browse)
        web |= new & ~instant & (pop.first_touch[:k] == 1)
        email = u[4] < -np.expm1(-pop.email[:k] * boost * _EMAIL_STATE[code])
        email |= new & ~instant & (pop.first_touch[:k] == 3)
        ticket = (u[5] < _TICKET_STATE[code]) | (due["ticket"][:k] == d)
        ticket |= new & ~instant & (pop.first_touch[:k] == 2)
        from_purchase = due["complaint"][:k] == d
        complaint = (u[6] < _COMPLAINT_STATE[code]) | from_purchase
        survey = due["survey"][:k] == d
        call = (u[7] < checkin[:k] * _CHECKIN_STATE[code]) | (due["call"][:k] == d)

        _record(log, "web_visit", np.flatnonzero(web), d)
        _record(log, "email_open", np.flatnonzero(email), d)
        ti = np.flatnonzero(ticket)
        resolved, hours = _service(rng, ti, pop, _TICKET_RESOLVED, _TICKET_HOURS)
        st.grievance[ti] += _grievance(resolved, hours, _TICKET_SLOW, _GRIEVANCE_TICKET)
        _record(log, "support_ticket", ti, d, resolved, hours)
        ci = np.flatnonzero(complaint)
        c_resolved, c_hours = _service(rng, ci, pop, _COMPLAINT_RESOLVED, _COMPLAINT_HOURS)
        st.grievance[ci] += _grievance(c_resolved, c_hours, _COMPLAINT_SLOW, _GRIEVANCE_COMPLAINT)
        unresolved_drop, resolved_drop = _ENGAGEMENT_COMPLAINT
        st.engagement[ci] -= np.where(c_resolved, resolved_drop, unresolved_drop)
        _record(log, "complaint", ci, d, c_resolved, c_hours)
        # A complaint about an order may end in a refund of that order.
        about = ci[from_purchase[ci] & (complaint_pid[ci] >= 0)]
        refund = about[rng.random(about.size) < _REFUND_AFTER_COMPLAINT]
        log.refund_pid.append(complaint_pid[refund])
        log.refund_day.append(d + rng.integers(1, 5, refund.size, dtype=np.int32))
        complaint_pid[ci] = -1
        # Follow-up calls after complaints, surveys after resolved service contacts.
        followup = ci[rng.random(ci.size) < _REL_FOLLOWUP[pop.relationship[ci]]]
        _schedule(due["call"], followup, d, rng, _THANKS_DELAY)
        served = np.concatenate([ti[resolved], ci[c_resolved]])
        _schedule(due["survey"], served[rng.random(served.size) < _SURVEY_AFTER_SERVICE],
                  d, rng, (1, 4))
        si = np.flatnonzero(survey)
        score = _survey_scores(rng, pop, st, si, lo, hi)
        _record(log, "survey", si, d, None, None, score)
        li = np.flatnonzero(call)
        st.care[li] += 1.0
        _record(log, "call", li, d)

        # After-purchase schedule: complaints, tickets, surveys, thank-you calls.
        r = rng.random((4, pidx.size))
        for j, (kind, (prob, lo_d, hi_d)) in enumerate(_AFTER_PURCHASE.items()):
            chosen = pidx[r[j] < prob]
            chosen = _schedule(due[kind], chosen, d, rng, (lo_d, hi_d))
            if kind == "complaint":
                complaint_pid[chosen] = last_pid[chosen]
        thanks = pidx[r[3] < _REL_THANKS[pop.relationship[pidx]]]
        _schedule(due["call"], thanks, d, rng, _THANKS_DELAY)

        # Competitor offers reach active buyers.
        active_buyer = alive_now & (st.purchases[:k] > 0) & ~shocked
        hit = np.flatnonzero(active_buyer & (u[8] < pop.offer[:k]))
        st.shock_end[hit] = d + rng.integers(*_SHOCK_DAYS, hit.size, dtype=np.int32)
        log.counts["competitor_offers"] += int(hit.size)

        # Memory fades; engagement drifts (Ornstein-Uhlenbeck).
        st.grievance[:k] *= g_decay
        st.care[:k] *= c_decay
        st.engagement[:k] = (st.engagement[:k] * e_keep
                             + e_sd * rng.standard_normal(k, dtype=np.float32))
    log.ever_bought = st.purchases > 0
    if campaigns is not None:
        log.contacts = campaigns.log
        log.counts.update(campaigns.counts)
    return log


def _record(log: _Log, kind: str, idx: np.ndarray, day: int, resolved: np.ndarray | None = None,
            hours: np.ndarray | None = None, score: np.ndarray | None = None) -> None:
    nan = np.full(idx.size, np.nan)
    log.events[kind].append((
        idx.astype(np.int32), np.full(idx.size, day, np.int32),
        np.full(idx.size, -1, np.int8) if resolved is None else resolved.astype(np.int8),
        nan if hours is None else hours,
        nan if score is None else score,
    ))


def _schedule(due: np.ndarray, idx: np.ndarray, day: int, rng: np.random.Generator,
              delay: tuple[int, int]) -> np.ndarray:
    """Schedule one event per customer after ``day``, unless one is already pending."""
    free = idx[due[idx] <= day]
    due[free] = day + rng.integers(delay[0], delay[1], free.size, dtype=np.int32)
    return free


def _service(rng: np.random.Generator, idx: np.ndarray, pop: _Population, log_odds: float,
             hours: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Outcome of tickets or complaints: resolved or not, and hours until resolution."""
    quality = _REL_SERVICE[pop.relationship[idx]]
    resolved = rng.random(idx.size) < 1.0 / (1.0 + np.exp(-(log_odds + quality)))
    median, sigma = hours
    spent = median * np.exp(-0.5 * quality + sigma * rng.standard_normal(idx.size))
    return resolved, np.where(resolved, np.round(np.maximum(spent, 0.1), 1), np.nan)


def _grievance(resolved: np.ndarray, hours: np.ndarray, slow: float,
               weights: tuple[float, float, float]) -> np.ndarray:
    unresolved, slow_w, fast_w = weights
    return np.where(~resolved, unresolved, np.where(hours > slow, slow_w, fast_w))


def _survey_scores(rng: np.random.Generator, pop: _Population, st: _State, idx: np.ndarray,
                   lo: float, hi: float) -> np.ndarray:
    """A noisy reading of the latent satisfaction on the survey scale."""
    care = -np.expm1(-st.care[idx])
    z = pop.satisfaction[idx] - _SAT_PER_GRIEVANCE * st.grievance[idx] + _SAT_PER_CARE * care
    frac = _SURVEY_CENTER + _SURVEY_SCALE * (z + _SURVEY_NOISE * rng.standard_normal(idx.size))
    return lo + np.round(np.clip(frac, 0.0, 1.0) * np.floor(hi - lo))
