"""The company's past retention campaigns: who is chosen, who is held out, what a contact does.

At every month start from the 4th of the period on (:data:`_CAMPAIGN_FIRST_MONTH`), before
the day's events, the company runs one campaign under a fixed rule that uses only what it
can see in its own data: the days since a buyer's last purchase ``R`` and its number of
purchases ``F``, both over the days before the month start (what the features at that
cutoff see). Each action has a pool (:data:`_CAMPAIGN_POOL`) and a share of the month's
capacity (``capacity`` times the buyers known, :data:`_CAMPAIGN_SHARE`):

* ``protect``: repeat buyers lapsing (``60 <= R < 180``), the highest ``R x F`` first;
* ``regain``: long-lapsed buyers (``180 <= R < 720``), the highest ``R x F`` first;
* ``enhance``: recent repeat buyers (``R <= 30``), drawn at random.

A customer chosen (treated or held out) is not chosen again for a horizon, so that no two
contacts share a label window. A random ``control_share`` of the chosen customers is held
out: nothing is sent, nothing changes. For a treated customer, its true effect of the
action (:mod:`~features.simulate.response`) acts on its behaviour over the horizon ``[d, d
+ H)``, so that the ground truth's semantics hold:

* on defection (``protect``, ``regain``), ``e > 0``: with probability ``e`` the contact wins
  the customer: if it has not bought by a day drawn uniformly in the horizon, it buys that
  day (a lost customer comes back). No purchase in the horizon then has probability
  ``p (1 - e)``;
* on defection, ``e < 0`` (a sleeping dog): with probability ``min(1, |e| p / (1 - p))``
  the customer defects at once, so that no purchase has probability about ``p (1 + |e|)``;
* on spend (``enhance``): every purchase in the horizon is ``1 + e`` times as large.

``p`` is the ground truth's ``p_defect`` at the month start (the probability without the
contact). Every draw comes from ``default_rng((seed, _CAMPAIGN_STREAM))``; the story's own
stream is untouched, though the events after a contact follow the changed state.
"""

from __future__ import annotations

import numpy as np

from features.simulate.population import _State
from features.simulate.story import (
    _CAMPAIGN_FIRST_MONTH,
    _CAMPAIGN_POOL,
    _CAMPAIGN_SHARE,
    _CAMPAIGN_STREAM,
    _DEFECTION_ACTIONS,
    _RESPONSE_ACTIONS,
)

_NEVER = np.iinfo(np.int32).min // 2


class _Campaigns:
    """The campaigns' rule and their state over the daily loop.

    The loop calls :meth:`run` at every month start (after the ground truth's snapshot),
    :meth:`won_today` before the day's purchases and :meth:`bought` with them.
    """

    def __init__(self, *, seed: int, n: int, effects: dict[str, np.ndarray],
                 month_days: np.ndarray, horizon_days: int, capacity: float,
                 control_share: float) -> None:
        self.rng = np.random.default_rng((seed, _CAMPAIGN_STREAM))
        self.effects = effects
        self.days = frozenset(month_days[_CAMPAIGN_FIRST_MONTH:].tolist())
        self.horizon = horizon_days
        self.capacity = capacity
        self.control_share = control_share
        self.last_purchase = np.full(n, _NEVER, np.int32)  # observable: day of the last one
        self.chosen = np.full(n, _NEVER, np.int32)  # day last chosen
        self.contacted = np.full(n, _NEVER, np.int32)  # day of the last treated contact
        self.win_day = np.full(n, -1, np.int32)  # the purchase a won contact brings
        self.lift = np.ones(n)
        self.lift_end = np.zeros(n, np.int32)  # the lift holds on days before this one
        #: Per campaign day: (customers, action codes into _RESPONSE_ACTIONS, control).
        self.log: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.counts = {"contacts_made": 0, "contacts_held_out": 0, "contacts_won": 0,
                       "contact_defections": 0}

    def run(self, d: int, st: _State, k0: int, p_defect: np.ndarray) -> None:
        """Choose, hold out and contact at the month start ``d`` (customers ``[0, k0)``)."""
        if d not in self.days:
            return
        rng = self.rng
        purchases = st.purchases[:k0]
        buyer = purchases > 0
        recency = d - self.last_purchase[:k0]
        free = buyer & (d - self.chosen[:k0] >= self.horizon)
        slots = self.capacity * int(buyer.sum())
        picked, codes = [], []
        for action, share in _CAMPAIGN_SHARE.items():
            lo, hi, min_f = _CAMPAIGN_POOL[action]
            pool = np.flatnonzero(free & (recency >= lo) & (recency < hi) & (purchases >= min_f))
            n = min(int(round(slots * share)), pool.size)
            tie = rng.random(pool.size)
            if action == "enhance":
                order = np.argsort(tie, kind="stable")
            else:
                score = recency[pool].astype(np.float64) * purchases[pool]
                order = np.lexsort((tie, -score))
            chosen = pool[order[:n]]
            free[chosen] = False
            picked.append(chosen)
            codes.append(np.full(n, _RESPONSE_ACTIONS.index(action), np.int8))
        who = np.concatenate(picked).astype(np.int64)
        code = np.concatenate(codes)
        control = rng.random(who.size) < self.control_share
        u = rng.random(who.size)
        offset = rng.integers(0, self.horizon, who.size, dtype=np.int32)
        self.chosen[who] = d
        self.log[d] = (who.astype(np.int32), code, control)
        self.counts["contacts_made"] += int((~control).sum())
        self.counts["contacts_held_out"] += int(control.sum())
        for j, action in enumerate(_RESPONSE_ACTIONS):
            mine = (code == j) & ~control
            i = who[mine]
            if not i.size:
                continue
            e = self.effects[action][i]
            self.contacted[i] = d
            if action not in _DEFECTION_ACTIONS:
                self.lift[i] = 1.0 + e
                self.lift_end[i] = d + self.horizon
                continue
            won = (e > 0) & (u[mine] < e)
            self.win_day[i[won]] = d + offset[mine][won]
            self.counts["contacts_won"] += int(won.sum())
            p = p_defect[i]
            # A sleeping dog leaves now with the probability that raises its chance of no
            # purchase from p to p (1 - e): (1 - p) q = -e p.
            q = np.minimum(1.0, -e * p / np.maximum(1.0 - p, 1e-12))
            leave = i[(e < 0) & (u[mine] < q) & st.alive[i]]
            st.alive[leave] = False
            self.counts["contact_defections"] += int(leave.size)

    def won_today(self, d: int, k: int) -> np.ndarray:
        """Customers (of the first ``k``) a won contact makes buy on day ``d``: those who
        have not bought since it."""
        return ((self.win_day[:k] == d)
                & (self.last_purchase[:k] < self.contacted[:k]))

    def bought(self, idx: np.ndarray, d: int) -> np.ndarray:
        """Record the purchases of day ``d``; return the spend factor of each."""
        self.last_purchase[idx] = d
        return np.where(self.lift_end[idx] > d, self.lift[idx], 1.0)
