"""Gumbel-softmax: forward against SciPy, backward against finite differences, temperature limits."""

import numpy as np
import pytest
import scipy.special
from conftest import float_arrays, shapes
from hypothesis import given
from hypothesis import strategies as st

from ils_ref import (
    assert_vjp,
    gumbel_softmax_backward,
    gumbel_softmax_forward,
    numerical_jacobian,
)

LOGITS = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 0.3]])
U = np.array([[0.3, 0.9, 0.2, 0.6], [0.5, 0.1, 0.95, 0.4]])
G = -np.log(-np.log(U))


@pytest.mark.parametrize("temperature", [0.1, 1.0, 10.0])
def test_soft_forward_matches_scipy(temperature):
    y, cache = gumbel_softmax_forward(LOGITS, temperature, u=U)
    np.testing.assert_allclose(y, scipy.special.softmax((LOGITS + G) / temperature, axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(cache.index, np.argmax(LOGITS + G, axis=-1))


def test_hard_forward_is_one_hot_and_its_gradient_is_the_soft_one():
    y_hard, c_hard = gumbel_softmax_forward(LOGITS, 0.5, u=U, hard=True)
    y_soft, c_soft = gumbel_softmax_forward(LOGITS, 0.5, u=U)
    np.testing.assert_array_equal(y_hard, np.eye(4)[np.argmax(LOGITS + G, axis=-1)])
    dy = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(gumbel_softmax_backward(dy, c_hard), gumbel_softmax_backward(dy, c_soft))


def test_backward_by_hand():
    # one row, T = 2: dθ = (1/2) y ⊙ (dy - <dy, y>)
    y, cache = gumbel_softmax_forward(LOGITS[0], 2.0, u=U[0])
    dy = np.array([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(gumbel_softmax_backward(dy, cache), 0.5 * y * (dy - y[0]), rtol=1e-14)


@given(
    float_arrays(shapes(max_batch=2, max_k=10), -3.0, 3.0),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.2, 0.5, 1.0, 5.0]),
    st.booleans(),
)
def test_backward_matches_finite_differences_of_the_soft_forward(logits, seed, temperature, hard):
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.001, 0.999, size=logits.shape)

    def soft(theta):
        return gumbel_softmax_forward(theta, temperature, u=u)[0]

    _, cache = gumbel_softmax_forward(logits, temperature, u=u, hard=hard)
    dy = rng.normal(size=logits.shape)
    numeric = numerical_jacobian(lambda t: float(np.sum(dy * soft(t))), logits)
    np.testing.assert_allclose(gumbel_softmax_backward(dy, cache), numeric, rtol=1e-5, atol=1e-8)


def test_backward_passes_check_vjp_full():
    for temperature in (0.3, 3.0):
        assert_vjp(
            lambda t: gumbel_softmax_forward(t, temperature, u=U)[0],
            lambda t, dy: gumbel_softmax_backward(dy, gumbel_softmax_forward(t, temperature, u=U)[1]),
            LOGITS,
            full=True,
        )


def test_small_temperature_tends_to_one_hot_and_stays_finite():
    one_hot = np.eye(4)[np.argmax(LOGITS + G, axis=-1)]
    gaps = []
    for temperature in (1.0, 0.1, 1e-2, 1e-3):
        y, cache = gumbel_softmax_forward(LOGITS, temperature, u=U)
        assert np.isfinite(y).all()
        gaps.append(np.abs(y - one_hot).max())
        assert np.isfinite(gumbel_softmax_backward(np.ones_like(y), cache)).all()
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-100
    y, cache = gumbel_softmax_forward(LOGITS, 1e-300, u=U)
    np.testing.assert_array_equal(y, one_hot)
    np.testing.assert_array_equal(gumbel_softmax_backward(np.arange(8.0).reshape(2, 4), cache), 0.0)


def test_large_temperature_tends_to_uniform():
    y, _ = gumbel_softmax_forward(LOGITS, 1e6, u=U)
    np.testing.assert_allclose(y, 0.25, atol=1e-5)


def test_gradient_rows_sum_to_zero():
    _, cache = gumbel_softmax_forward(LOGITS, 0.7, u=U)
    np.testing.assert_allclose(gumbel_softmax_backward(np.arange(8.0).reshape(2, 4), cache).sum(-1), 0, atol=1e-14)


@pytest.mark.parametrize(
    "temperature, kwargs, exc, match",
    [
        (0.0, {"u": U}, ValueError, "temperature must be > 0"),
        (-1.0, {"u": U}, ValueError, "temperature must be > 0"),
        (np.nan, {"u": U}, ValueError, "temperature must be finite"),
        (np.inf, {"u": U}, ValueError, "temperature must be finite"),
        ("1", {"u": U}, TypeError, "temperature must be a real number"),
        (1.0, {"u": U[0]}, ValueError, r"u has shape \(4,\) but must have shape \(2, 4\)"),
        (1.0, {"u": U + 0.5}, ValueError, r"u must lie in \[0, 1\)"),
        (1.0, {"u": U, "hard": "no"}, TypeError, "hard must be True or False"),
        (1.0, {"u": U, "rng": np.random.default_rng(0)}, TypeError, "got both"),
    ],
)
def test_forward_argument_errors(temperature, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gumbel_softmax_forward(LOGITS, temperature, **kwargs)


def test_backward_argument_errors():
    _, cache = gumbel_softmax_forward(LOGITS, 1.0, u=U)
    with pytest.raises(ValueError, match="dy has shape"):
        gumbel_softmax_backward(np.ones(4), cache)
    with pytest.raises(TypeError, match="cache must be the GumbelCache"):
        gumbel_softmax_backward(np.ones((2, 4)), None)
    with pytest.raises(ValueError, match="whole row"):
        gumbel_softmax_forward([0.0, -np.inf], 1.0, u=[0.0, 0.5])


def test_temperature_per_row_equals_separate_calls():
    temps = np.array([0.5, 3.0])
    y, cache = gumbel_softmax_forward(LOGITS, temps, u=U)
    dy = np.arange(8.0).reshape(2, 4)
    d = gumbel_softmax_backward(dy, cache)
    for i, t in enumerate(temps):
        yi, ci = gumbel_softmax_forward(LOGITS[i], t, u=U[i])
        np.testing.assert_allclose(y[i], yi, rtol=1e-15)
        np.testing.assert_allclose(d[i], gumbel_softmax_backward(dy[i], ci), rtol=1e-15)
