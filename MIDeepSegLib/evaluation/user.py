"""The simulated user's figures: the number of clicks to reach a Dice (NoC), and per-click values.

Used by ``mideepseg validate`` (:mod:`.validation`), ``mideepseg benchmark``
(:mod:`.benchmark`) and ``scripts/tune_refinement.py``. A Dice curve holds
Dice after interaction 0 (the interior margin points), 1, 2, ... refinement
clicks.
"""

import numpy as np

#: Click counts reported in the validation tables.
REPORTED_CLICKS = (0, 1, 3, 5)


def click_label(k):
    """Column label of interaction `k`: "initial" for 0, "+k" after k refinement clicks."""
    return "initial" if k == 0 else "+{}".format(k)


def value_at(values, k):
    """Entry k of a per-click list; a session that stopped earlier kept its last value."""
    return values[min(k, len(values) - 1)]


def clicks_to_reach(dices, threshold):
    """Refinement clicks after which Dice first reaches `threshold`.

    Parameters
    ----------
    dices : sequence of float
        Dice after interaction 0 (the interior margin points), 1, 2, ...
    threshold : float

    Returns
    -------
    int or None (never reached).

    Examples
    --------
    >>> clicks_to_reach([0.80, 0.86, 0.91], 0.85), clicks_to_reach([0.80, 0.86, 0.91], 0.95)
    (1, None)
    """
    for k, value in enumerate(dices):
        if value >= threshold:
            return k
    return None


def mean_noc(curves, threshold, max_clicks):
    """Mean number of clicks to reach `threshold` (NoC), and how many curves reach it.

    Parameters
    ----------
    curves : sequence of sequence of float
        One Dice curve per case (see :func:`clicks_to_reach`).
    threshold : float
    max_clicks : int
        The click budget; a curve that never reaches the threshold counts as
        ``max_clicks + 1``.

    Returns
    -------
    (float, int): the mean (NaN without curves) and the number of curves that reach the threshold.

    Examples
    --------
    >>> mean_noc([[0.9], [0.5, 0.88], [0.5, 0.6, 0.7]], 0.85, 2)
    (1.3333333333333333, 2)
    """
    counts = [clicks_to_reach(c, threshold) for c in curves]
    if not counts:
        return float("nan"), 0
    values = [max_clicks + 1 if n is None else n for n in counts]
    return float(np.mean(values)), int(sum(n is not None for n in counts))
