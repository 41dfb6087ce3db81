"""Bernoulli and Gaussian ILS: references, finite differences, the K = 2 agreement, the Gaussian expectation."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
from conftest import float_arrays, shapes
from helpers import assert_backward_matches_fd
from hypothesis import given
from hypothesis import strategies as st

from ils_ref import (
    bernoulli_ils_backward,
    bernoulli_ils_forward,
    bernoulli_kl,
    bernoulli_kl_backward,
    gaussian_ils_backward,
    gaussian_ils_forward,
    gaussian_kl,
    gaussian_kl_backward,
    ils_backward,
    ils_forward,
    numerical_jacobian,
    sigmoid,
    sigmoid_backward,
)
from ils_ref.estimators.bernoulli import BernoulliCache, bernoulli_target
from ils_ref.estimators.gaussian import expected_ils_gradient
from ils_ref.experiments.compare import compare
from ils_ref.models.problems import bernoulli_quadratic

# ---------------------------------------------------------------- sigmoid and the Bernoulli KL


def test_sigmoid_against_scipy_and_at_extremes():
    x = np.array([-1000.0, -40.0, -1.0, 0.0, 2.5, 40.0, 1000.0, -np.inf, np.inf])
    np.testing.assert_allclose(sigmoid(x), scipy.special.expit(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(sigmoid(-40.0), np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-15)


@given(float_arrays(shapes(max_batch=2, max_k=8), -10.0, 10.0))
def test_sigmoid_backward_matches_fd(x):
    assert_backward_matches_fd(sigmoid, lambda v, dy: sigmoid_backward(dy, np.broadcast_to(sigmoid(v), dy.shape)), x)


def test_bernoulli_kl_by_hand_and_against_scipy():
    p, q = np.array([0.2, 0.0, 1.0, 0.5]), np.array([0.6, 0.3, 0.3, 0.5])
    expected = scipy.special.rel_entr(p, q) + scipy.special.rel_entr(1 - p, 1 - q)
    np.testing.assert_allclose(bernoulli_kl(p, q), expected, rtol=1e-14)
    assert bernoulli_kl(0.5, 0.0) == np.inf


@given(float_arrays(shapes(max_batch=2, max_k=8), 0.05, 0.95), float_arrays(shapes(), 0.05, 0.95))
def test_bernoulli_kl_backward_matches_fd(p, q):
    q = np.resize(q, p.shape)
    assert_backward_matches_fd(lambda v: bernoulli_kl(v, np.broadcast_to(q, v.shape)),
                               lambda v, d: bernoulli_kl_backward(d, np.broadcast_to(v, d.shape), np.broadcast_to(q, d.shape))[0], p)
    assert_backward_matches_fd(lambda v: bernoulli_kl(np.broadcast_to(p, v.shape), v),
                               lambda v, d: bernoulli_kl_backward(d, np.broadcast_to(p, d.shape), np.broadcast_to(v, d.shape))[1], q)


def test_bernoulli_kl_backward_boundaries_are_never_nan():
    dp, dq = bernoulli_kl_backward(np.ones(4), [0.0, 1.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.5])
    assert not np.isnan(dp).any() and not np.isnan(dq).any()
    assert dq[2] == -np.inf  # KL is +inf there and falls as q moves in


# ---------------------------------------------------------------- Bernoulli ILS


@given(float_arrays(shapes(max_batch=3, max_k=6), -4.0, 4.0), st.integers(0, 2**32 - 1),
       st.sampled_from([1.0, 0.1, 0.01]), st.sampled_from(["clip", "signed"]))
def test_one_bit_agrees_with_categorical_ils_at_k2(theta, seed, alpha, policy):
    rng = np.random.default_rng(seed)
    u = rng.random(theta.shape)
    g = rng.normal(size=theta.shape) * (0.5 if policy == "signed" else 3.0)
    b, cache = bernoulli_ils_forward(theta, u=u)
    z, cat_cache = ils_forward(np.stack([np.zeros_like(theta), theta], axis=-1), u=u)
    np.testing.assert_array_equal(z[..., 1], b)
    try:
        categorical = ils_backward(np.stack([np.zeros_like(g), g], axis=-1), cat_cache, alpha, policy=policy)
    except ValueError:  # the same undefined step must be refused by both
        with pytest.raises(ValueError, match="<= 0"):
            bernoulli_ils_backward(g, cache, alpha, policy=policy)
        return
    ours = bernoulli_ils_backward(g, cache, alpha, policy=policy)
    np.testing.assert_allclose(ours, categorical[..., 1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(-ours, categorical[..., 0], rtol=1e-13, atol=1e-15)


@given(float_arrays(shapes(max_batch=2, max_k=6), -4.0, 4.0), st.integers(0, 2**32 - 1), st.sampled_from([0.5, 0.05]))
def test_bernoulli_ils_backward_is_the_gradient_with_p_d_fixed(theta, seed, alpha):
    rng = np.random.default_rng(seed)
    b, cache = bernoulli_ils_forward(theta, rng=rng)
    g = rng.normal(size=theta.shape)
    p_d = bernoulli_target(g, cache, alpha)
    numeric = numerical_jacobian(lambda t: float(np.sum(bernoulli_kl(p_d, sigmoid(t)))), theta)
    np.testing.assert_allclose(bernoulli_ils_backward(g, cache, alpha), numeric, rtol=1e-6, atol=1e-8)


def test_bernoulli_forward_rule_and_frequencies():
    b, _ = bernoulli_ils_forward(np.zeros(4), u=np.array([0.0, 0.4999, 0.5, 0.9]))
    np.testing.assert_array_equal(b, [0.0, 0.0, 1.0, 1.0])  # b = 1 iff u >= 1 - p
    p = sigmoid(0.7)
    n = 100_000
    b, _ = bernoulli_ils_forward(np.full(n, 0.7), rng=np.random.default_rng(1))
    assert scipy.stats.binomtest(int(b.sum()), n, p).pvalue > 1e-3


def test_bernoulli_hand_example():
    cache = BernoulliCache(np.zeros(2), np.full(2, 0.5), np.array([1.0, 0.0]))
    # b = 1, g = 2: p_D = 1/(1 + 0.1*2); b = 0, g = -3: p_D = 0.3/1.3
    np.testing.assert_allclose(bernoulli_ils_backward([2.0, -3.0], cache, 0.1), [0.5 - 1 / 1.2, 0.5 - 0.3 / 1.3], rtol=1e-15)


def test_bernoulli_is_in_compare_on_the_quadratic():
    for t in (0.45, 0.499):
        labels = [r["label"] for r in compare(bernoulli_quadratic(t), n_samples=200)]
        assert [x for x in labels if x.startswith("bernoulli-ils")] == [f"bernoulli-ils(alpha={a})" for a in (0.1, 0.01, 0.001)]


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda c: bernoulli_ils_backward([1.0], c, 0.1), ValueError, "db has shape"),
        (lambda c: bernoulli_ils_backward([1.0, np.nan], c, 0.1), ValueError, "db contains NaN"),
        (lambda c: bernoulli_ils_backward([1.0, 1.0], c, -0.1), ValueError, "alpha must be >= 0"),
        (lambda c: bernoulli_ils_backward([1.0, 1.0], c, 0.1, policy="raise"), ValueError, "policy must be"),
        (lambda c: bernoulli_ils_backward([1.0, 1.0], None, 0.1), TypeError, "BernoulliCache"),
        (lambda c: bernoulli_ils_backward([50.0, 0.0], c, 0.1, policy="signed"), ValueError, "w_0 \\+ w_1 <= 0"),
        (lambda c: bernoulli_ils_forward([0.0, np.nan], u=[0.1, 0.2]), ValueError, "logits contains NaN"),
        (lambda c: bernoulli_ils_forward([0.0, 1.0], u=[0.1]), ValueError, "u has shape"),
        (lambda c: bernoulli_kl([1.2], [0.5]), ValueError, "p must hold Bernoulli parameters"),
    ],
)
def test_bernoulli_bad_input(call, exc, match):
    _, cache = bernoulli_ils_forward(np.zeros(2), u=np.array([0.2, 0.7]))  # b = (0, 1)
    with pytest.raises(exc, match=match):
        call(cache)


# ---------------------------------------------------------------- Gaussian ILS


def test_gaussian_kl_by_hand_and_fd():
    np.testing.assert_allclose(gaussian_kl([1.0], [0.0], 2.0), [1 / 8], rtol=1e-15)
    m = np.array([0.3, -1.2, 2.0])
    assert_backward_matches_fd(lambda v: gaussian_kl(np.broadcast_to(m, v.shape), v, 0.7),
                               lambda v, d: gaussian_kl_backward(d, np.broadcast_to(m, d.shape), np.broadcast_to(v, d.shape), 0.7)[1],
                               np.array([1.0, 0.5, -0.4]))


def test_gaussian_backward_is_the_gradient_with_the_target_fixed():
    rng = np.random.default_rng(2)
    mu, sigma, alpha = rng.normal(size=(3, 4)), 0.6, 0.2
    z, cache = gaussian_ils_forward(mu, sigma, rng=rng)
    g = rng.normal(size=mu.shape)
    target_mean = z - alpha * g
    numeric = numerical_jacobian(lambda m: float(np.sum(gaussian_kl(target_mean, m, sigma))), mu)
    np.testing.assert_allclose(gaussian_ils_backward(g, cache, alpha), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.36, 0.05, 1.0])
def test_gaussian_expectation_is_the_derived_value(alpha):
    # L(z) = (z - c)^2 / 2: E[dL/dz] = mu - c, so E[ILS] = (alpha / sigma^2)(mu - c)
    mu, sigma, c, n = np.array([0.3, -1.0, 2.0]), 0.6, np.array([1.0, 2.0, 2.5]), 100_000
    z, cache = gaussian_ils_forward(np.broadcast_to(mu, (n, 3)), sigma, rng=np.random.default_rng(3))
    est = gaussian_ils_backward(z - c, cache, alpha)
    se = est.std(axis=0, ddof=1) / np.sqrt(n)
    derived = expected_ils_gradient(mu - c, sigma, alpha)
    # at alpha = 1 the noise cancels exactly on this loss (alpha*g - sigma*eps = mu - c), so se ~ 1e-14 and the
    # comparison needs the rounding floor of the mean itself: summing n rows costs up to n*eps relative
    floor = n * np.finfo(np.float64).eps * np.abs(derived)
    assert np.all(np.abs(est.mean(axis=0) - derived) < 4 * se + floor)
    if alpha == 0.36:  # alpha = sigma^2: the reparameterisation gradient itself
        np.testing.assert_allclose(derived, mu - c, rtol=1e-15)


def test_gaussian_explicit_noise():
    z, cache = gaussian_ils_forward([1.0, 1.0], 2.0, u=[0.5, scipy.stats.norm.cdf(1.0)])
    np.testing.assert_allclose(z, [1.0, 3.0], rtol=1e-12)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: gaussian_ils_forward([0.0], 0.0, u=[0.5]), ValueError, "sigma must be > 0"),
        (lambda: gaussian_ils_forward([0.0], -1.0, u=[0.5]), ValueError, "sigma must be > 0"),
        (lambda: gaussian_ils_forward([np.nan], 1.0, u=[0.5]), ValueError, "mu contains NaN"),
        (lambda: gaussian_ils_forward([0.0], 1.0, u=[0.0]), ValueError, "open interval"),
        (lambda: gaussian_ils_forward([0.0, 1.0], 1.0, u=[0.5]), ValueError, "u has shape"),
        (lambda: gaussian_ils_forward([0.0], 1.0), TypeError, "exactly one of"),
        (lambda: gaussian_ils_forward([0.0], [1.0, 2.0], u=[0.5]), ValueError, "does not broadcast"),
        (lambda: gaussian_ils_backward([1.0], None, 0.1), TypeError, "GaussianCache"),
        (lambda: gaussian_ils_backward([1.0, 2.0], gaussian_ils_forward([0.0], 1.0, u=[0.5])[1], 0.1), ValueError, "dz has shape"),
    ],
)
def test_gaussian_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
