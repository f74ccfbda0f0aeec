"""Pareto/NBD on feature-table rows: a defection baseline.

:class:`ParetoNBDBaseline` fits the Pareto/NBD model of repeat buying
(:class:`models.paretonbd.ParetoNBDModel`) on rows of the feature table and
predicts ``p_defect``, the probability of no purchase in the label window, like
:class:`models.bgnbd_features.BGNBDBaseline` does under BG/NBD; its expected
purchases in the window give a ranking by ``-E[X]`` as well. Rows without a
purchase (prospects) get NaN.

Data contract: the rows need ``frequency``, ``recency_days`` and
``days_since_first_purchase`` (see :func:`features.spec.feature_table`); they
become the model's inputs as in :class:`~models.bgnbd_features.BGNBDBaseline`,
through the shared :class:`~models.bgnbd_features.BTYDBaseline`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.bgnbd_features import BTYDBaseline
from models.paretonbd import ParetoNBDModel

__all__ = ["ParetoNBDBaseline"]


class ParetoNBDBaseline(BTYDBaseline):
    """Defection as "no purchase in the horizon" under a Pareto/NBD model.

    The inputs of a customer at a cutoff, in units of ``unit_days`` (weeks by
    default), are those of :class:`~models.bgnbd_features.BGNBDBaseline`:
    ``x = frequency - 1``, ``t_x = (days_since_first_purchase - recency_days) /
    unit_days`` and ``T = days_since_first_purchase / unit_days``.

    ``p_defect`` is
    :meth:`models.paretonbd.ParetoNBDModel.conditional_probability_no_purchase`
    over ``horizon_days / unit_days``: the event "no purchase in
    ``[t, t + horizon_days)``" of the defection label. Unlike BG/NBD, Pareto/NBD
    lets a customer drop out at any time, also before a first repeat purchase.

    Parameters
    ----------
    horizon_days : float, default=90
        Length of the label window, in days.
    unit_days : float, default=7.0
        Time unit of the model, in days.
    penalizer : float, default=0.0
        L2 penalty of :class:`~models.paretonbd.ParetoNBDModel`.
    max_iter : int, default=1000
        Iterations of :class:`~models.paretonbd.ParetoNBDModel`.

    Attributes
    ----------
    model_ : models.paretonbd.ParetoNBDModel
        The fitted Pareto/NBD model.
    n_train_ : int
        Number of rows (customer snapshots with a purchase) it was fitted on.

    Notes
    -----
    The approximations of :class:`~models.bgnbd_features.BGNBDBaseline` apply
    unchanged: purchases stand in for purchase days, so :meth:`expected_purchases`
    counts purchase days, and rows of several cutoffs make the fitted likelihood a
    composite one.
    """

    _model = ParetoNBDModel
    _no_purchase = "conditional_probability_no_purchase"

    def expected_purchases(self, X: pd.DataFrame) -> np.ndarray:
        """Expected purchase days in the next ``horizon_days`` days, ``E[X]``.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows.

        Returns
        -------
        numpy.ndarray of shape (n,)
            NaN for rows without a purchase; ``-E[X]`` ranks customers from the
            least to the most expected to buy.
        """
        return self._predict(X, "conditional_expected_number_of_purchases_up_to_time",
                             "ParetoNBDBaseline.expected_purchases")
