"""Information fusion of the CNN probability and the refinement clicks (paper Eq. 3-7)."""

import math

import numpy as np


def information_fusion(probability, dist_fg, dist_bg):
    """User-calibrated foreground probability R^f (paper Eq. 3-7).

    ``E^f = e^{-D^f} / (e^{-D^f} + e^{-D^b})`` (Eq. 3),
    ``alpha = e^{-min(D^f, D^b)}`` (Eq. 7) and
    ``R^f = (1 - alpha) P^f + alpha E^f`` (Eq. 5). The background maps of
    Eq. 4 and 6 are the complements, ``E^b = 1 - E^f`` and ``R^b = 1 - R^f``,
    so only R^f is returned.

    Parameters
    ----------
    probability : float array_like
        The CNN's foreground probability P^f, values in [0, 1].
    dist_fg, dist_bg : float array_like or float, same shape (or scalars)
        Geodesic distances D^f, D^b to the foreground / background clicks.
        ``np.inf`` means "no clicks of that kind" (then its EGD is 0): with no
        background clicks R^f rises towards 1 near foreground clicks; with no
        clicks at all alpha = 0 and R^f = P^f.

    Returns
    -------
    float32 ndarray, the shape of `probability`, values in [0, 1].
    On a foreground click (D^f = 0) R^f = E^f >= 0.5, and R^f -> 1 as D^b grows;
    far from every click (alpha -> 0) R^f -> P^f.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.2, 0.2, 0.9])
    >>> information_fusion(p, np.array([0.0, 50.0, np.inf]), np.array([np.inf, 50.0, np.inf]))
    array([1. , 0.2, 0.9], dtype=float32)
    """
    p_in = np.asarray(probability)
    d_f_in, d_b_in = np.asarray(dist_fg), np.asarray(dist_bg)
    if not np.isfinite(p_in).all() or p_in.min() < 0 or p_in.max() > 1:
        raise ValueError("probability must be finite and in [0, 1]")
    for name, d in (("dist_fg", d_f_in), ("dist_bg", d_b_in)):
        if np.isnan(d).any() or (d < 0).any():
            raise ValueError("{} must be >= 0 (np.inf for no clicks), got NaN or negative values".format(name))
    d_f_in = np.broadcast_to(d_f_in, p_in.shape)
    d_b_in = np.broadcast_to(d_b_in, p_in.shape)
    out = np.empty(p_in.shape, np.float32)
    if p_in.ndim == 0:
        out[...] = _fuse(p_in.reshape(1), d_f_in.reshape(1), d_b_in.reshape(1))[0]
        return out
    # Slab by slab: the temporaries stay small on a large region.
    step = max(1, _SLAB_VOXELS // max(1, p_in[0].size))
    for start in range(0, p_in.shape[0], step):
        part = slice(start, start + step)
        out[part] = _fuse(p_in[part], d_f_in[part], d_b_in[part])
    return out


def soften(probability, below=1.0, above=1.0):
    """The probability made less confident on one or both sides of 0.5 (temperature scaling).

    Its logit ``log(p / (1 - p))`` is divided by `below` where p < 0.5 and by
    `above` where p > 0.5: with a temperature T > 1, that side's values move
    towards 0.5 (p = 0.01 becomes 0.24 with T = 4), the order of the values
    stays, and 0, 0.5 and 1 stay where they are.

    Parameters
    ----------
    probability : float array_like, values in [0, 1]
    below, above : float >= 1
        The temperatures of the two sides; 1 leaves that side as it is.

    Returns
    -------
    float32 ndarray, the shape of `probability` (a new array).

    Examples
    --------
    >>> np.round(soften([0.0, 0.01, 0.5, 0.99, 1.0], below=4.0), 2)
    array([0.  , 0.24, 0.5 , 0.99, 1.  ], dtype=float32)
    """
    p = np.asarray(probability, dtype=np.float32)
    if not np.isfinite(p).all() or (p.size and (p.min() < 0 or p.max() > 1)):
        raise ValueError("probability must be finite and in [0, 1]")
    for name, t in (("below", below), ("above", above)):
        if not (math.isfinite(t) and t >= 1):
            raise ValueError("{} must be a temperature >= 1 (1: unchanged), got {}".format(name, t))
    if below == above == 1:
        return p.copy()
    # Whole-array passes (no boolean indexing): 0.07 s on a 12.5 M-voxel region.
    with np.errstate(divide="ignore"):  # 0 and 1 have infinite logits, and stay 0 and 1
        logit = np.log(p, out=np.empty(p.shape, np.float32))
        logit -= np.log1p(-p)
    if below == above:
        logit *= np.float32(1.0 / below)
    else:
        logit *= np.where(p < 0.5, np.float32(1.0 / below), np.float32(1.0 / above))
    logit *= np.float32(0.5)  # the logistic function as 0.5 (1 + tanh(x / 2)): no overflow
    np.tanh(logit, out=logit)
    logit += np.float32(1.0)
    logit *= np.float32(0.5)
    # A side at temperature 1 keeps its values exactly (not their float32 round trip through the logit):
    # the graph cut's reuse of its last cut relies on probabilities that did not move (reduced_cut).
    if above == 1:
        np.copyto(logit, p, where=p >= 0.5)
    elif below == 1:
        np.copyto(logit, p, where=p < 0.5)
    return logit


#: Voxels per slab (about 4 MB per float32 temporary array).
_SLAB_VOXELS = 1 << 20


def _fuse(p, d_f, d_b):
    """Eq. 3-7 in float32 (R^f is float32; float32's 1e-7 relative error is far below what the graph cut
    resolves, and it halves the time and the temporaries on millions of voxels)."""
    p = np.asarray(p, dtype=np.float32)
    d_f = np.asarray(d_f, dtype=np.float32)
    d_b = np.asarray(d_b, dtype=np.float32)
    # Eq. 3 written as a logistic function of D^b - D^f: the same value, but it
    # neither underflows to 0/0 when both distances are large nor needs a
    # special case for one infinite distance. Where both are infinite
    # alpha = 0, so E^f's value (0.5 here) does not matter.
    with np.errstate(invalid="ignore", over="ignore"):
        e_fg = np.subtract(d_b, d_f)
    e_fg[np.isnan(e_fg)] = 0.0
    e_fg *= np.float32(0.5)
    np.tanh(e_fg, out=e_fg)
    e_fg += np.float32(1.0)
    e_fg *= np.float32(0.5)  # = 1 / (1 + exp(-(D^b - D^f))), overflow-free
    alpha = np.minimum(d_f, d_b)
    np.negative(alpha, out=alpha)
    np.exp(alpha, out=alpha)  # Eq. 7
    e_fg *= alpha
    np.subtract(np.float32(1.0), alpha, out=alpha)
    alpha *= p
    # Eq. 5, (1 - alpha) P + alpha E^f, in this form (not P + alpha (E^f - P)) so that rounding keeps
    # R^f non-decreasing in P^f.
    e_fg += alpha
    return np.clip(e_fg, 0.0, 1.0, out=e_fg)
