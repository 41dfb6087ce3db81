"""ReinMax and Gumbel-Rao: their defining properties, computed exactly where possible, and bad input."""

import numpy as np
import pytest

from ils_ref import (
    GumbelCache,
    ReinMaxCache,
    check_vjp,
    gumbel_rao_backward,
    gumbel_rao_forward,
    gumbel_softmax_backward,
    gumbel_softmax_forward,
    reinmax_backward,
    reinmax_forward,
    softmax,
    softmax_backward,
)
from ils_ref.checking import selfcheck

K = 5
RNG = np.random.default_rng(11)
THETA = RNG.normal(size=K)
A = RNG.normal(size=(K, K))
A = A + A.T
B = RNG.normal(size=K)


def quadratic(z):
    return np.einsum("...i,ij,...j->...", z, A, z) + z @ B


def quadratic_grad(z):
    return 2 * z @ A + B


def exact_gradient():
    """∂/∂θ Σ_k π_k f(e_k): the softmax VJP of the outcome values."""
    return softmax_backward(quadratic(np.eye(K)), softmax(THETA))


def reinmax_expectation(temperature):
    """Σ_k π_k dθ(e_k): ReinMax's backward is deterministic given the draw, so its mean is a finite sum."""
    probs = softmax(THETA)
    total = np.zeros(K)
    for k in range(K):
        z = np.eye(K)[k]
        cache = ReinMaxCache(probs, 0.5 * (z + softmax(THETA / temperature)), np.array(k))
        total += probs[k] * reinmax_backward(quadratic_grad(z), cache)
    return total


def test_reinmax_at_t1_is_unbiased_for_a_quadratic_and_straight_through_is_not():
    exact = exact_gradient()
    np.testing.assert_allclose(reinmax_expectation(1.0), exact, atol=1e-14)
    straight_through = sum(softmax(THETA)[k] * softmax_backward(quadratic_grad(np.eye(K)[k]), softmax(THETA)) for k in range(K))
    assert np.abs(straight_through - exact).max() > 0.05
    assert np.abs(reinmax_expectation(2.0) - exact).max() > 0.05  # the property is T = 1's alone


def test_reinmax_forward_draws_by_inverse_cdf_and_builds_the_midpoint():
    logits = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    u = np.array([0.99, 0.01])
    z, cache = reinmax_forward(logits, 2.0, u=u)
    probs = softmax(logits)
    expected = [int(np.searchsorted(np.cumsum(p), v, side="right")) for p, v in zip(probs, u)]
    np.testing.assert_array_equal(cache.index, expected)
    np.testing.assert_array_equal(z, np.eye(3)[expected])
    np.testing.assert_allclose(cache.midpoint, 0.5 * (z + softmax(logits / 2.0)), rtol=1e-15)


def test_gumbel_rao_perturbations_all_reproduce_the_draw():
    logits = RNG.normal(size=(200, 6)) * 3
    z, cache = gumbel_rao_forward(logits, 0.5, 7, rng=np.random.default_rng(0))
    perturbed = logits + cache.gumbel  # (7, 200, 6)
    assert perturbed.shape == (7, 200, 6)
    np.testing.assert_array_equal(np.argmax(perturbed, axis=-1), np.broadcast_to(cache.index, (7, 200)))
    np.testing.assert_array_equal(z, np.eye(6)[cache.index])
    np.testing.assert_allclose(cache.y_soft, softmax(perturbed / 0.5), rtol=1e-12, atol=1e-300)


def test_gumbel_rao_conditional_noise_has_the_distribution_of_rejection_sampling():
    """E[softmax((θ+G)/T) | argmax = k] from the top-down construction and from unconditional G kept when argmax = k."""
    theta, temperature, n = np.array([0.3, -0.4, 0.9]), 0.7, 200_000
    rng = np.random.default_rng(5)
    y, cache = gumbel_softmax_forward(np.broadcast_to(theta, (n, 3)), temperature, rng=rng)
    for k in range(3):
        kept = cache.y_soft[cache.index == k]  # rejection sampling: unconditional draws that landed on k
        u = rng.random((2, n // 4, 3))
        u[0] = np.where(np.arange(3) == k, 0.999999, 1e-9)  # a u[0] that makes the Gumbel-max draw k
        _, rao = gumbel_rao_forward(np.broadcast_to(theta, (n // 4, 3)), temperature, 1, u=u)
        assert np.all(rao.index == k)
        top_down = rao.y_soft[0]
        diff = kept.mean(axis=0) - top_down.mean(axis=0)
        stderr = np.sqrt(kept.var(axis=0) / len(kept) + top_down.var(axis=0) / len(top_down))
        assert np.all(np.abs(diff) < 5 * stderr), (k, diff, stderr)


def test_gumbel_rao_has_straight_throughs_mean_and_less_variance():
    theta = np.array([0.5, -1.0, 0.2, 1.1])
    dz_of = quadratic_grad_4 = (lambda z: z @ (A[:4, :4]) * 2 + B[:4])  # noqa: E731
    n = 40_000
    logits = np.broadcast_to(theta, (n, 4))
    y, st_cache = gumbel_softmax_forward(logits, 0.5, rng=np.random.default_rng(1), hard=True)
    st = gumbel_softmax_backward(dz_of(y), st_cache)
    z, rao_cache = gumbel_rao_forward(logits, 0.5, 10, rng=np.random.default_rng(2))
    rao = gumbel_rao_backward(quadratic_grad_4(z), rao_cache)
    stderr = np.sqrt(st.var(axis=0) / n + rao.var(axis=0) / n)
    assert np.all(np.abs(st.mean(axis=0) - rao.mean(axis=0)) < 5 * stderr)
    assert rao.var(axis=0).sum() < 0.8 * st.var(axis=0).sum()


@pytest.mark.parametrize("name", ["reinmax (T=1.5)", "gumbel_rao (T=0.7, 4 samples)"])
def test_the_selfcheck_catches_a_wrong_factor(monkeypatch, name):
    cases = {case[0]: case for case in selfcheck.backward_cases(seed=2)}
    _, backward, f, vjp, x = cases[name]
    assert check_vjp(f, vjp, x, full=True).verdict == "pass"
    report = check_vjp(f, lambda x, dy: 1.01 * vjp(x, dy), x, full=True)
    assert report.verdict == "fail"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="temperature"):
        reinmax_forward(THETA, 0.0, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="exactly one of u"):
        reinmax_forward(THETA, 1.0)
    with pytest.raises(TypeError, match="cache"):
        reinmax_backward(np.ones(K), "cache")
    with pytest.raises(ValueError, match="dz"):
        reinmax_backward(np.ones(K + 1), reinmax_forward(THETA, 1.0, rng=np.random.default_rng(0))[1])
    with pytest.raises(ValueError, match="samples"):
        gumbel_rao_forward(THETA, 1.0, 0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="u"):
        gumbel_rao_forward(THETA, 1.0, 3, u=np.full((3, K), 0.5))  # needs samples + 1 = 4 rows of noise
    with pytest.raises(ValueError, match="logits"):
        gumbel_rao_forward([0.0, np.nan], 1.0, 3, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="GumbelCache"):
        gumbel_rao_backward(np.ones(K), ReinMaxCache(THETA, THETA, np.array(0)))
    cache = gumbel_rao_forward(THETA, 1.0, 2, rng=np.random.default_rng(0))[1]
    assert isinstance(cache, GumbelCache)
    with pytest.raises(ValueError, match="dz"):
        gumbel_rao_backward(np.ones(K + 1), cache)


@pytest.mark.parametrize("temperature", [0.5, 1e-300, 1e300])
def test_gumbel_rao_at_extreme_logits_and_temperatures_stays_finite_and_silent(temperature):
    """Found by the fuzzer: (perturbed - t)/T overflowing to -inf at logits near 1e308 warned (its exp, 0, is right)."""
    u = np.random.default_rng(0).random((3, 2, 3))
    for logits in ([[8.98846567e307, 0, 0], [0, 0, 0]], [[-8.9e307, 0, 0], [0, 0, 0]], [[1e308, -1e308, 0], [0, 0, 0]]):
        z, cache = gumbel_rao_forward(np.array(logits), temperature, 2, u=u)  # warnings are errors in this suite
        assert np.isfinite(cache.y_soft).all() and np.allclose(cache.y_soft.sum(axis=-1), 1.0)


@pytest.mark.parametrize("logits, temperature", [([1e300, 0.0], 1e-10), ([200.0, 0.0], 1e-307), ([0.0, -1e300], 1e-300)])
def test_reinmax_at_extreme_logits_and_temperatures_has_a_one_hot_midpoint(logits, temperature):
    # Issue 24: logits / T overflowed to inf before the softmax's shift: two RuntimeWarnings, a NaN
    # midpoint, then "not representable".  The tempered softmax of these rows is one-hot.
    z, cache = reinmax_forward(np.array(logits), temperature, u=np.array(0.3))
    np.testing.assert_array_equal(cache.midpoint, 0.5 * (z + np.array([1.0, 0.0])))
    assert np.all(np.isfinite(reinmax_backward(np.array([1.0, -2.0]), cache)))
