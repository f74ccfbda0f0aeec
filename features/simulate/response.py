"""Each customer's true response to each action: the truth of a contact's effect.

Drawn once per customer from its own random stream (``default_rng((seed,
_RESPONSE_STREAM))``, after the story), so the events of the simulation do not change.
A customer is one of three types, with shares that depend on its (true) segment
(:data:`features.simulate.story._SEG_RESPONSE`):

* ``persuadable``: a contact lowers its defection probability, or lifts its spend;
* ``unmoved``: a contact changes nothing; the customer buys anyway ("sure thing",
  when its defection probability is low) or leaves anyway ("lost cause", when it is
  high), and every contact is wasted;
* ``sleeping_dog``: a contact drives it away (negative effect).

The effect of each action (:data:`features.simulate.story._RESPONSE_EFFECT`) is the
type's mean times a lognormal spread per customer and action: on the defection
probability of the horizon (``protect``, ``regain``, ``re_engineer``: the share of it
removed, negative raises it) or on the expected spend of the horizon (``start``,
``enhance``: its relative lift). The ground-truth table carries them; nothing else of
the pipeline may read them (docs/simulator.md).
"""

from __future__ import annotations

import numpy as np

from features.simulate.population import _choice_rows, _Population
from features.simulate.story import (
    _RESPONSE_ACTIONS,
    _RESPONSE_EFFECT,
    _RESPONSE_SPREAD,
    _RESPONSE_STREAM,
    _SEG_RESPONSE,
    RESPONSE_TYPES,
)


def _responses(seed: int, pop: _Population) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The response type of every customer (index into :data:`RESPONSE_TYPES`) and, per
    action of :data:`_RESPONSE_ACTIONS`, its true effect."""
    rng = np.random.default_rng((seed, _RESPONSE_STREAM))
    kind = _choice_rows(rng, _SEG_RESPONSE[pop.segment])
    spread = rng.lognormal(-0.5 * _RESPONSE_SPREAD ** 2, _RESPONSE_SPREAD,
                           (len(_RESPONSE_ACTIONS), pop.n))
    effects = {}
    for j, action in enumerate(_RESPONSE_ACTIONS):
        effect = _RESPONSE_EFFECT[action][kind] * spread[j]
        # A share of the defection probability removed cannot pass 1.
        effects[action] = np.minimum(effect, 0.95)
    return kind, effects


__all__ = ["RESPONSE_TYPES"]
