"""kl_divergence: hand cases, SciPy's rel_entr, invariants, boundary table, finite differences."""

import numpy as np
import pytest
import scipy.special
from conftest import float_arrays, shapes
from helpers import assert_backward_matches_fd
from hypothesis import given

from ils_ref import assert_vjp, kl_divergence, kl_divergence_backward, normalize

LOG2 = np.log(2.0)


def test_kl_by_hand():
    # 1/2 log(1/2 / 1/4) + 1/2 log(1/2 / 3/4) = 1/2 log 2 + 1/2 log(2/3)
    expected = 0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)
    np.testing.assert_allclose(kl_divergence([0.5, 0.5], [0.25, 0.75]), expected, rtol=1e-15)
    assert kl_divergence([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_kl_zero_log_zero_is_zero_and_inf_where_q_vanishes():
    np.testing.assert_allclose(kl_divergence([1.0, 0.0], [0.5, 0.5]), LOG2, rtol=1e-15)
    assert kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0  # p = q = 0 contributes 0
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    out = kl_divergence([[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]])
    assert out[0] == np.inf and out[1] == 0.0


def test_kl_shape_is_batch_shape():
    p = normalize(np.ones((2, 3, 4)))
    assert kl_divergence(p, p).shape == (2, 3)
    assert np.shape(kl_divergence([1.0], [1.0])) == ()


def test_kl_backward_by_hand():
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    dp, dq = kl_divergence_backward(2.0, p, q)
    np.testing.assert_allclose(dp, 2.0 * (np.log(p / q) + 1.0), rtol=1e-15)
    np.testing.assert_allclose(dq, 2.0 * (-p / q), rtol=1e-15)


def test_kl_backward_boundary_table():
    # rows: (p, q) = (>0, >0), (0, >0), (>0, 0), (0, 0) in the four categories
    p = np.array([0.5, 0.0, 0.5, 0.0])
    q = np.array([0.5, 0.5, 0.0, 0.0])
    dp, dq = kl_divergence_backward(3.0, p, q)
    np.testing.assert_allclose(dp[0], 3.0 * 1.0, rtol=1e-15)
    assert (dp[1], dp[2], dp[3]) == (-np.inf, np.inf, np.inf)
    np.testing.assert_allclose(dq[0], -3.0, rtol=1e-15)
    assert (dq[1], dq[2], dq[3]) == (0.0, -np.inf, 0.0)
    dp, dq = kl_divergence_backward(-1.0, p, q)  # the sign follows dout
    assert (dp[1], dp[2], dq[2]) == (np.inf, -np.inf, np.inf)
    dp, dq = kl_divergence_backward(0.0, p, q)  # 0 * inf is 0 here: the row does not move the loss
    assert np.all(dp == 0.0) and np.all(dq == 0.0)


@given(float_arrays(shapes(), 0.0, 1.0), float_arrays(shapes(), 1e-3, 1.0))
def test_kl_matches_scipy_rel_entr(p, q):
    q = np.resize(q, p.shape)
    expected = scipy.special.rel_entr(p, q).sum(axis=-1)
    np.testing.assert_allclose(kl_divergence(p, q), expected, rtol=1e-12, atol=1e-14)


@given(float_arrays(shapes(), 0.0, 1.0), float_arrays(shapes(), 0.0, 1.0))
def test_kl_is_nonnegative_and_zero_on_the_diagonal(a, b):
    b = np.resize(b, a.shape)
    p, q = normalize(a + 1e-3), normalize(b + 1e-3)
    assert np.all(kl_divergence(p, q) >= -1e-15)
    assert np.all(kl_divergence(p, p) == 0.0)


def _kl_p(q):
    return (lambda x: kl_divergence(x, q)), (lambda x, dy: kl_divergence_backward(dy, x, q)[0])


def _kl_q(p):
    return (lambda x: kl_divergence(p, x)), (lambda x, dy: kl_divergence_backward(dy, p, x)[1])


# p and q stay >= 0.05 so that x ± eps stays in the domain and the third
# derivative (2p/q³ <= 1.6e4) keeps the central difference accurate.
@given(float_arrays(shapes(max_batch=2), 0.05, 1.0), float_arrays(shapes(), 0.05, 1.0))
def test_kl_backward_matches_numerical_jacobian(p, q):
    q = np.resize(q, p.shape)

    def stacked(a, dout):  # a (..., K) broadcast against a stack of cotangents dout (m, ...)
        return np.broadcast_to(a, dout.shape + a.shape[-1:])

    def vjp_p(x, dout):
        return kl_divergence_backward(dout, stacked(x, dout), stacked(q, dout))[0]

    def vjp_q(x, dout):
        return kl_divergence_backward(dout, stacked(p, dout), stacked(x, dout))[1]

    # forwards that broadcast over a leading axis of x, as the batched Jacobian needs
    assert_backward_matches_fd(lambda x: kl_divergence(x, np.broadcast_to(q, x.shape)), vjp_p, p)
    assert_backward_matches_fd(lambda x: kl_divergence(np.broadcast_to(p, x.shape), x), vjp_q, q)


@given(float_arrays(shapes(), 0.05, 1.0), float_arrays(shapes(), 0.05, 1.0))
def test_kl_backward_passes_check_vjp(p, q):
    q = np.resize(q, p.shape)
    assert_vjp(*_kl_p(q), p)
    assert_vjp(*_kl_q(p), q)


@pytest.mark.parametrize("which", [0, 1])
def test_kl_backward_full_check_on_a_fixed_case(which):
    rng = np.random.default_rng(2)
    p, q = normalize(rng.uniform(0.1, 1, (3, 6))), normalize(rng.uniform(0.1, 1, (3, 6)))
    f, vjp = _kl_p(q) if which == 0 else _kl_q(p)
    assert assert_vjp(f, vjp, p if which == 0 else q, full=True).n_entries == 3 * 18
