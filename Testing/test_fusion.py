"""Tests for MIDeepSegLib.core.fusion: information fusion, paper Eq. 3-7.

The reference below is a literal float64 transcription of the paper's
equations (including the background maps of Eq. 4 and 6, which the module
returns implicitly as 1 - R^f). Measured: max |R^f - reference| = 3.0e-8 on
200,000 random inputs (float32 output rounding); asserted 2e-7.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from MIDeepSegLib.core.fusion import information_fusion, soften

ATOL = 2e-7


def paper_fusion(p_f, d_f, d_b):
    """Eq. 3-7 as written, float64; returns (R^f, R^b)."""
    p_f, d_f, d_b = (np.asarray(v, dtype=np.float64) for v in (p_f, d_f, d_b))
    p_b = 1.0 - p_f
    e_f = np.exp(-d_f) / (np.exp(-d_f) + np.exp(-d_b))   # Eq. 3
    e_b = np.exp(-d_b) / (np.exp(-d_f) + np.exp(-d_b))   # Eq. 4
    alpha = np.exp(-np.minimum(d_f, d_b))                 # Eq. 7
    r_f = (1.0 - alpha) * p_f + alpha * e_f               # Eq. 5
    r_b = (1.0 - alpha) * p_b + alpha * e_b               # Eq. 6
    return r_f, r_b


@pytest.mark.parametrize("shape", [(1000,), (20, 30), (6, 7, 8)])
def test_matches_paper_equations(shape):
    rng = np.random.default_rng(0)
    p = rng.random(shape)
    d_f = rng.exponential(2.0, shape)
    d_b = rng.exponential(2.0, shape)
    d_f.flat[:5] = 0.0   # on foreground clicks
    d_b.flat[5:10] = 0.0  # on background clicks
    r = information_fusion(p, d_f, d_b)
    assert r.dtype == np.float32 and r.shape == shape
    r_f, r_b = paper_fusion(p, d_f, d_b)
    np.testing.assert_allclose(r, r_f, atol=ATOL, rtol=0)
    np.testing.assert_allclose(r_f + r_b, 1.0, atol=1e-12)  # R^b = 1 - R^f holds for the paper's maps
    assert r.min() >= 0.0 and r.max() <= 1.0


def test_far_from_clicks_r_is_p():
    p = np.linspace(0, 1, 11)
    for d in (20.0, 50.0, 700.0):
        r = information_fusion(p, np.full(11, d), np.full(11, d + 3.0))
        np.testing.assert_allclose(r, p, atol=np.exp(-d) + ATOL)


def test_on_foreground_click():
    """D^f = 0: alpha = 1, R^f = E^f = 1 / (1 + e^{-D^b}) -> 1 as the background recedes."""
    p = np.full(5, 0.05)
    d_b = np.array([0.0, 1.0, 3.0, 10.0, 40.0])
    r = information_fusion(p, np.zeros(5), d_b)
    np.testing.assert_allclose(r, 1.0 / (1.0 + np.exp(-d_b)), atol=ATOL)
    assert r[0] == pytest.approx(0.5)  # on both kinds of click at once: undecided
    assert np.all(np.diff(r) > 0) and r[-1] == pytest.approx(1.0, abs=1e-7)
    assert np.all(r >= 0.5)


def test_on_background_click():
    p = np.full(4, 0.97)
    d_f = np.array([1.0, 3.0, 10.0, 40.0])
    r = information_fusion(p, d_f, np.zeros(4))
    np.testing.assert_allclose(r, 1.0 / (1.0 + np.exp(d_f)), atol=ATOL)
    assert r[-1] == pytest.approx(0.0, abs=1e-7)
    assert np.all(r <= 0.5)


def test_no_clicks_of_one_kind_is_inf():
    rng = np.random.default_rng(1)
    p = rng.random((8, 9))
    d = rng.exponential(1.5, (8, 9))
    d[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid warnings
        only_fg = information_fusion(p, d, np.inf)
        only_bg = information_fusion(p, np.inf, d)
        none = information_fusion(p, np.inf, np.inf)
        none_arrays = information_fusion(p, np.full(p.shape, np.inf), np.full(p.shape, np.inf))
    alpha = np.exp(-d)
    # no background clicks: E^f = 1, R^f = (1 - alpha) P + alpha
    np.testing.assert_allclose(only_fg, (1 - alpha) * p + alpha, atol=ATOL)
    # no foreground clicks: E^f = 0, R^f = (1 - alpha) P
    np.testing.assert_allclose(only_bg, (1 - alpha) * p, atol=ATOL)
    assert only_fg[0, 0] == 1.0 and only_bg[0, 0] == 0.0
    # no clicks at all: alpha = 0, R^f = P
    np.testing.assert_array_equal(none, p.astype(np.float32))
    np.testing.assert_array_equal(none_arrays, p.astype(np.float32))
    # the paper's "large constant" (GeodisTK's 1e10) gives the same numbers
    np.testing.assert_allclose(information_fusion(p, d, 1e10), only_fg, atol=ATOL)


def test_large_finite_distances_do_not_underflow():
    """Both distances huge: the literal Eq. 3 is 0/0, the module's logistic form is not."""
    p = np.array([0.3, 0.6])
    r = information_fusion(p, np.array([800.0, 1000.0]), np.array([1000.0, 800.0]))
    np.testing.assert_allclose(r, p, atol=ATOL)
    assert np.isfinite(r).all()


def test_scalars_broadcast_and_inputs_untouched():
    p = np.array([[0.1, 0.9]])
    d_f = np.array([[0.5, 2.0]])
    p0, d0 = p.copy(), d_f.copy()
    r = information_fusion(p, d_f, 3.0)
    np.testing.assert_allclose(r, paper_fusion(p, d_f, np.full_like(d_f, 3.0))[0], atol=ATOL)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(d_f, d0)


@pytest.mark.parametrize("args,match", [
    ((np.array([0.5]), np.array([np.nan]), np.array([1.0])), "dist_fg must be >= 0"),
    ((np.array([0.5]), np.array([1.0]), np.array([np.nan])), "dist_bg must be >= 0"),
    ((np.array([0.5]), np.array([-1.0]), np.array([1.0])), "dist_fg must be >= 0"),
    ((np.array([0.5]), np.array([1.0]), np.array([-1e-9])), "dist_bg must be >= 0"),
    ((np.array([0.5]), np.array([-np.inf]), np.array([1.0])), "dist_fg must be >= 0"),
    ((np.array([1.5]), np.array([1.0]), np.array([1.0])), r"probability must be finite and in \[0, 1\]"),
    ((np.array([-0.1]), np.array([1.0]), np.array([1.0])), r"probability must be finite and in \[0, 1\]"),
    ((np.array([np.nan]), np.array([1.0]), np.array([1.0])), r"probability must be finite and in \[0, 1\]"),
])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        information_fusion(*args)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        information_fusion(np.zeros((3, 4)), np.zeros((4, 3)), 1.0)


# ---------------------------------------------------------------------------
# Properties (hypothesis)

_distances = st.one_of(st.floats(0.0, 60.0), st.just(0.0), st.just(np.inf))


@settings(max_examples=25, deadline=None)
@given(p=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0.0, 1.0)),
       d_f=_distances, d_b=_distances)
def test_range_dtype_and_matches_paper(p, d_f, d_b):
    r = information_fusion(p, d_f, d_b)
    assert r.dtype == np.float32 and r.shape == p.shape
    assert np.all((r >= 0.0) & (r <= 1.0))
    if np.isfinite(d_f) and np.isfinite(d_b) and min(d_f, d_b) < 700:
        expected = paper_fusion(p, np.full(p.shape, d_f), np.full(p.shape, d_b))[0]
        np.testing.assert_allclose(r, expected, atol=ATOL)


@settings(max_examples=25, deadline=None)
@given(p=hnp.arrays(np.float64, 20, elements=st.floats(0.0, 1.0)),
       d_f=hnp.arrays(np.float64, 20, elements=st.floats(0.0, 30.0)),
       d_b=hnp.arrays(np.float64, 20, elements=st.floats(0.0, 30.0)))
def test_monotonic_in_probability(p, d_f, d_b):
    """For fixed distances, R^f is non-decreasing in P^f (its weight 1 - alpha is >= 0)."""
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    r = information_fusion(p_sorted, d_f[0], d_b[0])
    assert np.all(np.diff(r) >= 0)
    # and elementwise: raising P never lowers R
    higher = np.minimum(p + 0.25, 1.0)
    assert np.all(information_fusion(higher, d_f, d_b) >= information_fusion(p, d_f, d_b))


# -- soften: the CNN probability after the user's clicks (Segmenter's click_temperature) --------------

def _tempered(p, t):
    """p^(1/t) / (p^(1/t) + (1 - p)^(1/t)), float64: the logit divided by t, written without logits."""
    p = np.asarray(p, dtype=np.float64)
    a, b = p ** (1.0 / t), (1.0 - p) ** (1.0 / t)
    return a / (a + b)


def test_soften_divides_the_logit_of_each_side():
    p = np.random.default_rng(0).random(5000).astype(np.float32)
    p[:4] = [0.0, 0.5, 1.0, 1e-7]
    below = soften(p, below=4.0)
    low = p < 0.5
    np.testing.assert_allclose(below[low], _tempered(p[low], 4.0), rtol=2e-5, atol=1e-7)
    assert np.array_equal(below[~low], p[~low])  # the other side exactly as it was
    both = soften(p, below=3.0, above=2.0)
    np.testing.assert_allclose(both[low], _tempered(p[low], 3.0), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(both[~low], _tempered(p[~low], 2.0), rtol=2e-5, atol=1e-7)
    assert both[0] == 0.0 and both[1] == 0.5 and both[2] == 1.0
    # Less confident, same order: a graph cut sees the same ranking of voxels.
    assert np.all(np.abs(both - 0.5) <= np.abs(p - 0.5) + 1e-7)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(both[order]) >= 0)
    assert both.dtype == np.float32 and both.shape == p.shape


def test_soften_leaves_its_input_and_temperature_one_alone():
    p = np.array([[0.1, 0.7], [0.3, 0.9]], np.float32)
    kept = p.copy()
    out = soften(p, 1.0, 1.0)
    assert np.array_equal(out, p) and out is not p
    soften(p, 4.0, 4.0)
    assert np.array_equal(p, kept)
    assert soften(0.2, 2.0).shape == ()


@pytest.mark.parametrize("args, match", [
    (([0.2, np.nan],), "finite"),
    (([0.2, 1.5],), r"\[0, 1\]"),
    (([-0.1],), r"\[0, 1\]"),
    (([0.2], 0.5), "below must be a temperature >= 1"),
    (([0.2], 2.0, np.inf), "above must be a temperature >= 1"),
    (([0.2], np.nan), "below"),
])
def test_soften_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        soften(*args)
