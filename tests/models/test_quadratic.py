"""Quadratic problems, the relaxed objective, and ILS's expected first-order coefficient."""

import numpy as np
import pytest

from ils_ref import softmax
from ils_ref.estimators.interface import ils_expected_first_order, ils_expected_gradient
from ils_ref.models.problems import (
    convex_quadratic,
    exact_gradient,
    exact_objective,
    make_quadratic,
    quadratic,
    relaxed_gradient,
    relaxed_objective,
)

A = np.array([[[2.0, 1.0], [1.0, 4.0]]])  # one row, K = 2
B = np.array([[-1.0, 0.5]])


def test_quadratic_by_hand():
    problem = make_quadratic(A, B, np.zeros((1, 2)))
    z = np.array([[0.25, 0.75]])
    # ½ zᵀAz + bᵀz = ½ (2/16 + 2·3/16 + 4·9/16) + (-0.25 + 0.375)
    assert problem.f(z)[0] == pytest.approx(0.5 * (2 + 6 + 36) / 16 + 0.125, rel=1e-15)
    np.testing.assert_allclose(problem.grad(z), [[0.5 + 0.75 - 1.0, 0.25 + 3.0 + 0.5]], rtol=1e-15)
    # E f over the two vertices: f(e_0) = 1 - 1, f(e_1) = 2 + 0.5, each with probability 1/2
    assert exact_objective(problem) == pytest.approx(0.5 * 0.0 + 0.5 * 2.5, rel=1e-15)


def test_a_is_symmetrised_and_sample_axes_broadcast():
    problem = make_quadratic([[[2.0, 0.0], [2.0, 4.0]]], B, np.zeros((1, 2)))
    np.testing.assert_array_equal(problem.a, A)
    z = np.random.default_rng(0).random((5, 1, 2))  # a sample axis in front
    np.testing.assert_allclose(problem.grad(z), np.stack([problem.grad(zi) for zi in z]), rtol=1e-15)
    np.testing.assert_allclose(problem.f(z), np.stack([problem.f(zi) for zi in z]), rtol=1e-15)


def test_grad_is_the_gradient_of_f():
    problem = quadratic(seed=1, rows=3, categories=5)
    z = np.random.default_rng(2).random((3, 5))
    eps = 1e-6
    numeric = np.zeros_like(z)
    for j in range(5):
        step = np.zeros_like(z)
        step[:, j] = eps
        numeric[:, j] = (problem.f(z + step) - problem.f(z - step)) / (2 * eps)
    np.testing.assert_allclose(problem.grad(z), numeric, rtol=1e-8, atol=1e-9)


def test_relaxed_gradient_is_the_gradient_of_the_relaxed_objective():
    problem = quadratic(seed=3, rows=2, categories=4)
    theta = problem.logits
    eps = 1e-6
    numeric = np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[i] = eps
        numeric[i] = (relaxed_objective(problem, theta + step) - relaxed_objective(problem, theta - step)) / (2 * eps)
    np.testing.assert_allclose(relaxed_gradient(problem, theta), numeric, rtol=1e-7, atol=1e-9)
    assert relaxed_objective(problem) == pytest.approx(float(np.sum(problem.f(softmax(theta)))), rel=1e-15)


def test_the_convex_quadratics_relaxed_minimiser_is_its_target():
    problem = convex_quadratic(seed=0, rows=3, categories=4)
    assert np.all(problem.target > 0)
    np.testing.assert_allclose(problem.target.sum(axis=-1), 1.0, rtol=1e-15)
    at_target = np.log(problem.target)
    assert np.abs(relaxed_gradient(problem, at_target)).max() < 1e-14
    assert np.all(np.linalg.eigvalsh(problem.a) > 0)  # convex: a minimum, not a saddle
    assert relaxed_objective(problem, at_target) < relaxed_objective(problem)
    assert np.abs(exact_gradient(problem, at_target)).max() > 1e-3  # E f is not stationary there


def test_constructors_are_seeded():
    np.testing.assert_array_equal(quadratic(seed=4).a, quadratic(seed=4).a)
    assert not np.array_equal(quadratic(seed=4).a, quadratic(seed=5).a)
    np.testing.assert_array_equal(convex_quadratic(seed=4).target, convex_quadratic(seed=4).target)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((A, B, np.zeros((1, 3))), ValueError, r"b has shape \(1, 2\) but logits has shape \(1, 3\)"),
        ((A[0], B, np.zeros((1, 2))), ValueError, r"a has shape \(2, 2\) but must have shape \(1, 2, 2\)"),
        ((A, [[np.nan, 0.0]], np.zeros((1, 2))), ValueError, "b contains NaN"),
        ((None, B, np.zeros((1, 2))), TypeError, "a must be an array"),
    ],
)
def test_make_quadratic_refuses_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        make_quadratic(*args)


@pytest.mark.parametrize("policy", ["clip", "signed"])
def test_expected_first_order_is_the_slope_of_the_expected_gradient(policy):
    problem = quadratic(seed=0, rows=3, categories=4)
    first = ils_expected_first_order(problem, policy=policy)
    errors = [np.abs(ils_expected_gradient(problem, a, policy=policy) / a - first).max() for a in (1e-3, 1e-4)]
    assert 8 < errors[0] / errors[1] < 12 and errors[1] < 1e-2


def test_expected_first_order_refuses_masked_categories():
    problem = quadratic(seed=0, rows=1, categories=3)
    with pytest.raises(ValueError, match="logits must be finite"):
        ils_expected_first_order(problem, [[0.0, -np.inf, 1.0]])
