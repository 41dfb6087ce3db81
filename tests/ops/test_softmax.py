"""softmax / log_softmax: hand cases, SciPy references, invariants, finite differences."""

import numpy as np
import pytest
import scipy.special
from conftest import float_arrays, shapes
from helpers import assert_backward_matches_fd
from hypothesis import given

from ils_ref import assert_vjp, check_vjp, log_softmax, log_softmax_backward, softmax, softmax_backward

# ---------------------------------------------------------------- by hand


def test_softmax_by_hand():
    np.testing.assert_allclose(softmax([0.0, 0.0]), [0.5, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(softmax([[1.0, 1.0, 1.0, 1.0]]), [[0.25] * 4], rtol=1e-15)


def test_log_softmax_by_hand():
    np.testing.assert_allclose(log_softmax([0.0, 0.0]), [-np.log(2.0)] * 2, rtol=1e-15)
    np.testing.assert_allclose(log_softmax([0.0, np.log(3.0)]), np.log([0.25, 0.75]), rtol=1e-15)


def test_softmax_backward_by_hand():
    # y = (1/4, 3/4), dy = (1, 0): <dy, y> = 1/4, dx = y * (dy - 1/4) = (3/16, -3/16)
    np.testing.assert_allclose(softmax_backward([1.0, 0.0], [0.25, 0.75]), [0.1875, -0.1875], rtol=1e-15)


def test_log_softmax_backward_by_hand():
    # p = (1/4, 3/4), dy = (1, 0): dx = dy - p * sum(dy) = (3/4, -3/4)
    np.testing.assert_allclose(
        log_softmax_backward([1.0, 0.0], np.log([0.25, 0.75])), [0.75, -0.75], rtol=1e-15
    )


def test_masked_categories_get_exactly_zero():
    y = softmax([0.0, -np.inf, 0.0])
    assert y[1] == 0.0
    np.testing.assert_allclose(y, [0.5, 0.0, 0.5], rtol=1e-15)
    ly = log_softmax([0.0, -np.inf, 0.0])
    assert ly[1] == -np.inf
    np.testing.assert_allclose(ly[[0, 2]], [-np.log(2.0)] * 2, rtol=1e-15)
    assert softmax_backward([1.0, 5.0, -2.0], y)[1] == 0.0


@pytest.mark.parametrize(
    "x, expected",
    [
        ([1e300, -1e300], [1.0, 0.0]),
        ([1e300, 1e300], [0.5, 0.5]),
        ([-1e300, -1e300, -1e300], [1 / 3] * 3),
        ([-1.7e308, 1.7e308], [0.0, 1.0]),  # x - max overflows to -inf: exp gives exactly 0
        ([700.0, 0.0], [1.0, np.exp(-700.0)]),
    ],
)
def test_softmax_extreme_logits_are_finite_and_right(x, expected):
    y = softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=0)


def test_log_softmax_keeps_tiny_probabilities():
    # log(softmax) would give -inf for the second entry; the shifted form keeps -1000.
    np.testing.assert_allclose(log_softmax([0.0, -1000.0]), [0.0, -1000.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(log_softmax([1e300, -1e300]), [0.0, -2e300], rtol=1e-15)


# ---------------------------------------------------------------- SciPy references


@given(float_arrays(shapes(), -50.0, 50.0))
def test_softmax_matches_scipy(x):
    np.testing.assert_allclose(softmax(x), scipy.special.softmax(x, axis=-1), rtol=1e-12, atol=1e-300)


@given(float_arrays(shapes(), -50.0, 50.0))
def test_log_softmax_matches_scipy(x):
    np.testing.assert_allclose(log_softmax(x), scipy.special.log_softmax(x, axis=-1), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- invariants


@given(float_arrays(shapes(), -1e3, 1e3))
def test_softmax_rows_sum_to_one_and_are_probabilities(x):
    y = softmax(x)
    assert np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-13)


@given(float_arrays(shapes(), -30.0, 30.0), float_arrays(shapes(max_k=1), -100.0, 100.0))
def test_softmax_is_shift_invariant(x, c):
    shift = np.resize(c, x.shape[:-1])[..., None]  # one constant per row
    np.testing.assert_allclose(softmax(x + shift), softmax(x), rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(log_softmax(x + shift), log_softmax(x), rtol=1e-11, atol=1e-11)


@given(float_arrays(shapes(), -20.0, 20.0), float_arrays(shapes(), -5.0, 5.0))
def test_logit_gradient_rows_sum_to_zero(x, dy):
    dy = np.resize(dy, x.shape)
    np.testing.assert_allclose(softmax_backward(dy, softmax(x)).sum(axis=-1), 0.0, atol=1e-13)
    np.testing.assert_allclose(log_softmax_backward(dy, log_softmax(x)).sum(axis=-1), 0.0, atol=1e-12)


# ---------------------------------------------------------------- finite differences


def _softmax_vjp(x, dy):
    return softmax_backward(dy, softmax(x))


def _log_softmax_vjp(x, dy):
    return log_softmax_backward(dy, log_softmax(x))


def _softmax_vjp_stacked(x, dy):  # dy: (m, *x.shape), one cotangent per output entry
    return softmax_backward(dy, np.broadcast_to(softmax(x), dy.shape))


def _log_softmax_vjp_stacked(x, dy):
    return log_softmax_backward(dy, np.broadcast_to(log_softmax(x), dy.shape))


@given(float_arrays(shapes(max_batch=2), -8.0, 8.0))
def test_softmax_backward_matches_numerical_jacobian(x):
    assert_backward_matches_fd(softmax, _softmax_vjp_stacked, x)
    assert_backward_matches_fd(log_softmax, _log_softmax_vjp_stacked, x)


@given(float_arrays(shapes(max_batch_axes=2, max_k=12), -20.0, 20.0))
def test_softmax_backward_is_never_failed_by_check_vjp(x):
    # Logits up to ±20 give entries down to 1e-17 in rows whose values are about 1: float64 cannot
    # verify those to rtol, and check_vjp says "inconclusive" rather than pass them unearned.
    for f, vjp in ((softmax, _softmax_vjp), (log_softmax, _log_softmax_vjp)):
        report = check_vjp(f, vjp, x)
        assert report.verdict != "fail", report


@given(float_arrays(shapes(min_k=2), -4.0, 4.0))  # one category: a constant output, "inconclusive"
def test_softmax_backward_passes_check_vjp(x):
    assert_vjp(softmax, _softmax_vjp, x)
    assert_vjp(log_softmax, _log_softmax_vjp, x)


def test_softmax_backward_full_check_on_a_fixed_case():
    x = np.random.default_rng(1).normal(size=(2, 3, 9))
    assert assert_vjp(softmax, _softmax_vjp, x, full=True).mode == "full"
    assert assert_vjp(log_softmax, _log_softmax_vjp, x, full=True).n_entries == x.size**2
