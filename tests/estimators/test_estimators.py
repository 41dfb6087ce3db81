"""Problems, exact enumeration, estimators and the statistical check."""

import numpy as np
import pytest

from ils_ref import ils_backward, ils_cache, numerical_jacobian, softmax
from ils_ref.checking.statcheck import check_unbiased, estimate_statistics
from ils_ref.estimators.interface import (
    Estimator,
    gumbel,
    ils,
    ils_expected_gradient,
    ils_rescaled,
    reinforce,
    reinforce_loo,
    standard_estimators,
)
from ils_ref.models.problems import (
    bernoulli_quadratic,
    exact_gradient,
    exact_objective,
    linear,
    make_linear,
    make_problem,
    make_toy1,
    toy1,
)

PROBLEMS = [toy1(), bernoulli_quadratic(), linear()]


# ---------------------------------------------------------------- problems


def test_toy1_loss_by_hand():
    target = np.array([[0.25, 0.75]])
    problem = make_toy1(target, np.zeros((1, 2)), smoothing=1e-8)
    z = np.array([0.5, 0.5])
    eps = 1e-8
    expected = (-0.25 * (np.log(0.5 + eps) - np.log(0.25 + eps)) - 0.75 * (np.log(0.5 + eps) - np.log(0.75 + eps))) / 2
    np.testing.assert_allclose(problem.f(z[None]), [expected], rtol=1e-14)
    np.testing.assert_allclose(problem.grad(z[None]), -target / (2 * (0.5 + eps)), rtol=1e-14)


def test_toy1_is_the_posts_setting():
    p = toy1(seed=3)
    assert p.logits.shape == (5, 5) and (p.logits >= 0).all() and (p.logits < 1).all()
    np.testing.assert_allclose(p.target.sum(axis=-1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(toy1(seed=3).target, p.target)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_grad_is_the_derivative_of_f(problem):
    z = softmax(np.random.default_rng(0).normal(size=problem.logits.shape))
    numeric = numerical_jacobian(lambda v: float(np.sum(problem.f(v))), z)
    np.testing.assert_allclose(problem.grad(z), numeric, rtol=1e-6, atol=1e-9)
    stacked = np.stack([z, z])  # a leading sample axis
    assert problem.f(stacked).shape == (2,) + problem.logits.shape[:-1]
    assert problem.grad(stacked).shape == stacked.shape


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_exact_gradient_matches_finite_differences_of_the_exact_objective(problem):
    numeric = numerical_jacobian(lambda theta: exact_objective(problem, theta), problem.logits)
    np.testing.assert_allclose(exact_gradient(problem), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("t", [0.45, 0.499, 0.8])
def test_bernoulli_quadratic_exact_gradient_by_hand(t):
    # E f = (t² + (1 - t)²)/2 at logits (0, 0); ∂/∂θ_1 = π_0 π_1 ((1-t)² - t²) = (1 - 2t)/4
    np.testing.assert_allclose(exact_gradient(bernoulli_quadratic(t)), [(2 * t - 1) / 4, (1 - 2 * t) / 4], atol=1e-16)


def test_linear_exact_gradient_by_hand():
    problem = make_linear([[1.0, 2.0, 4.0]], np.log([[0.5, 0.25, 0.25]]))
    # <π, c> = 0.5 + 0.5 + 1 = 2, so the gradient π ⊙ (c - 2) = (-0.5, 0, 0.5)
    np.testing.assert_allclose(exact_gradient(problem), [[-0.5, 0.0, 0.5]], rtol=1e-14, atol=1e-16)


def test_problem_errors():
    with pytest.raises(ValueError, match="problem must be one of"):
        make_problem("toy2")
    with pytest.raises(ValueError, match="K = 2"):
        bernoulli_quadratic(0.45, logits=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="target has shape"):
        make_toy1(np.full((2, 3), 1 / 3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="t must be finite"):
        bernoulli_quadratic(np.nan)


# ---------------------------------------------------------------- estimators


def test_estimators_return_one_estimate_per_sample_and_reproduce():
    problem = linear()
    for est in standard_estimators():
        a = est(problem.logits, problem, np.random.default_rng(1), 7)
        b = est(problem.logits, problem, np.random.default_rng(1), 7)
        assert a.shape == (7,) + problem.logits.shape, est.label
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(a).all()


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("est", [reinforce(), reinforce_loo()], ids=lambda e: e.label)
def test_reinforce_mean_within_four_standard_errors_of_exact(problem, est):
    n = 20000
    estimates = est(problem.logits, problem, np.random.default_rng(11), n)
    stats = estimate_statistics(estimates, exact_gradient(problem))
    assert np.max(np.abs(stats["z"])) < 4.0


def test_ils_expected_gradient_by_explicit_enumeration():
    problem = linear(rows=2, categories=4)
    pi = softmax(problem.logits)
    expected = np.zeros_like(problem.logits)
    for k in range(4):  # row by row, draw by draw: an independent, loop-based computation
        cache = ils_cache(problem.logits, np.full(2, k))
        expected += pi[:, k : k + 1] * ils_backward(problem.grad(cache.z), cache, 0.05)
    np.testing.assert_allclose(ils_expected_gradient(problem, 0.05), expected, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_ils_monte_carlo_mean_is_consistent_with_its_exact_expectation(problem):
    reference = ils_expected_gradient(problem, 0.1)
    report = check_unbiased(ils(0.1), problem, n_samples=20000, seed=2, reference=reference)
    assert report.max_abs_z < report.threshold


def test_ils_is_biased_on_the_bernoulli_quadratic_exactly():
    # E[ILS] ≈ 4α · exact for small α on this problem: the leading term π - z has mean zero.
    problem = bernoulli_quadratic(0.45)
    exact = exact_gradient(problem)
    for alpha in (1e-2, 1e-3):
        np.testing.assert_allclose(ils_expected_gradient(problem, alpha), 4 * alpha * exact, rtol=0.05)


def test_rescaled_ils_is_ils_divided_by_alpha_on_the_same_draws():
    problem = toy1()
    for alpha in (0.1, 0.01):
        scaled = ils_rescaled(alpha)(problem.logits, problem, np.random.default_rng(5), 3)
        plain = ils(alpha)(problem.logits, problem, np.random.default_rng(5), 3)
        np.testing.assert_array_equal(scaled, plain / alpha)
        assert ils_rescaled(alpha).label == f"ils/alpha(alpha={alpha})"
    # on a smooth loss ILS's mean is O(alpha): divided by alpha it stays of order 1 as alpha -> 0
    smooth = bernoulli_quadratic(0.3)
    means = [np.linalg.norm(ils_expected_gradient(smooth, a)) / a for a in (1e-2, 1e-3, 1e-4)]
    assert max(means) / min(means) < 1.2 and min(means) > 0
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="alpha"):
            ils_rescaled(bad)
    with pytest.raises(ValueError, match="ILS divided by alpha"):  # 1/alpha beyond float64: an error, not inf
        ils_rescaled(1e-320)(problem.logits, problem, np.random.default_rng(5), 1)


def test_loo_group_errors():
    with pytest.raises(ValueError, match="group must be >= 2"):
        reinforce_loo(1)
    with pytest.raises(TypeError, match="group must be an int"):
        reinforce_loo(2.5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        gumbel(0.0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        ils(-1.0)


# ---------------------------------------------------------------- the statistical check


def test_statistics_by_hand():
    est = np.array([[1.0, 0.0], [3.0, 0.0]])
    stats = estimate_statistics(est, np.array([1.0, 0.0]))
    np.testing.assert_allclose(stats["mean"], [2.0, 0.0])
    np.testing.assert_allclose(stats["stderr"], [np.sqrt(2.0) / np.sqrt(2.0), 0.0])
    np.testing.assert_allclose(stats["z"], [1.0, 0.0])
    assert stats["bias_norm"] == 1.0 and stats["cosine"] == 1.0
    np.testing.assert_allclose(stats["variance"], 2.0, rtol=1e-15)
    # zero spread but wrong value: an infinite z-score, not NaN
    assert estimate_statistics(np.zeros((3, 1)), np.array([1.0]))["z"][0] == np.inf


def test_bonferroni_threshold():
    # d = 2 components at family-wise level 1e-3: the two-sided normal quantile at 2.5e-4 is 3.4808
    report = check_unbiased(reinforce(), bernoulli_quadratic(0.45), n_samples=100)
    np.testing.assert_allclose(report.threshold, 3.4808, atol=1e-4)
    # d = 25 for toy 1: quantile at 2e-5 is 4.1075
    np.testing.assert_allclose(check_unbiased(reinforce(), toy1(), n_samples=100).threshold, 4.1075, atol=1e-4)


def test_check_passes_reinforce_and_flags_straight_through():
    problem = bernoulli_quadratic(0.45)
    assert check_unbiased(reinforce(), problem, n_samples=20000).verdict == "consistent with unbiased"
    st = check_unbiased(gumbel(1.0, hard=True), problem, n_samples=20000)
    assert st.verdict == "biased" and st.max_abs_z > st.threshold
    assert "BIASED" in str(st)


def test_check_fails_a_planted_biased_estimator():
    base = reinforce_loo()
    planted = Estimator("reinforce-loo, 10% too large", {}, lambda *a: 1.1 * base(*a))
    problem = linear()
    assert check_unbiased(base, problem, n_samples=20000).verdict == "consistent with unbiased"
    assert check_unbiased(planted, problem, n_samples=20000).verdict == "biased"


def test_check_is_inconclusive_when_too_noisy():
    report = check_unbiased(reinforce(), bernoulli_quadratic(0.45), n_samples=50)
    assert report.verdict == "inconclusive"
    assert report.detectable_bias > report.resolution * np.max(np.abs(report.exact))


def test_check_argument_errors():
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        check_unbiased(reinforce(), linear(), n_samples=1)
    with pytest.raises(ValueError, match="level must lie in"):
        check_unbiased(reinforce(), linear(), level=1.5)
    with pytest.raises(ValueError, match="reference has shape"):
        check_unbiased(reinforce(), linear(), reference=np.zeros(3))


def test_the_stated_power_is_the_measured_power():
    # statcheck used to call c·se the bias that "would certainly have been flagged": a bias of
    # exactly c·se is flagged about half the time. detectable_bias is now the 90%-power size.
    from ils_ref.checking.statcheck import POWER, detectable_bias, verdict

    rng = np.random.default_rng(0)
    exact = np.array([1.0, -0.5])
    n, trials = 400, 400
    se = 1.0 / np.sqrt(n)  # unit-variance estimates
    threshold = verdict(np.zeros(2), np.full(2, se), exact, 1e-3, 0.25)[1]
    for bias, low, high in ((detectable_bias(threshold, [se]), POWER - 0.05, POWER + 0.05),
                            (threshold * se, 0.40, 0.60)):
        estimates = exact + np.array([bias, 0.0]) + rng.standard_normal((trials, n, 2))
        mean = estimates.mean(axis=1)
        z = (mean - exact) / (estimates.std(axis=1, ddof=1) / np.sqrt(n))
        flagged = np.mean(np.abs(z).max(axis=1) > threshold)
        assert low <= flagged <= high, (bias, flagged)


def test_the_exact_estimator_repeats_the_problems_exact_gradient_without_drawing():
    from ils_ref.estimators.interface import exact

    problem = toy1(seed=3)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = exact()(problem.logits, problem, rng, 4)
    assert out.shape == (4,) + problem.logits.shape
    np.testing.assert_array_equal(out, np.broadcast_to(exact_gradient(problem), out.shape))
    assert rng.bit_generator.state == state  # no draw
