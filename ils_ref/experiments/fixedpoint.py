r"""Where each estimator goes: follow its *exact* expected gradient until the probabilities stop moving.

A stochastic estimator drives SGD, on average, along its expected gradient.
For the shipped problems that expectation is a finite sum over the ``K``
outcomes of every row (:func:`ils_ref.estimators.interface.ils_expected_gradient`
for ILS), so the deterministic path it defines can be followed without any
sampling noise, to the point where it stops: the estimator's fixed point.
Comparing that point with the problem's exact minimiser shows what an
estimator optimises, independently of its variance.

The problem's minimiser: ``E f = Σ_r Σ_k π_rk f_r(e_k)`` is linear in every
row of ``π``, so it is minimised by the one-hot on ``argmin_k f_r(e_k)`` (a
limit of the logits, never reached at finite values).

Estimators followed (all at logits 0 to start):

``exact``
    ``∂/∂θ E f``, by enumeration (:func:`ils_ref.models.problems.exact_gradient`).
``ils``, ``ils-signed``, ``ils-prototype``
    ILS's exact expectation with the clip policy (the default), the signed
    policy, and the original prototype's ``-π_D/(π + 1e-7)`` (signed policy).
``straight-through``
    The straight-through estimator with the softmax's own backward pass:
    ``dθ = softmax_backward(∂f/∂z, π)`` at a one-hot draw ``z``, whose
    expectation is ``softmax_backward(E[∂f/∂z], π)``.
"""

from __future__ import annotations

import numpy as np

from ..estimators.interface import ils_expected_gradient
from ..models.problems import exact_gradient, exact_objective, outcome_values, outcomes
from ..ops.softmax import softmax_backward_kernel, softmax_kernel
from ..validation import checked

ESTIMATORS = ("exact", "ils", "ils-signed", "ils-prototype", "straight-through")


def minimiser(problem) -> tuple[np.ndarray, float]:
    """The minimising probabilities (one-hot per row on the cheapest outcome) and the minimal ``E f``."""
    values = outcome_values(problem)  # F[..., k] = f_r(e_k)
    best = np.argmin(values, axis=-1)
    p = np.zeros(values.shape)
    np.put_along_axis(p, best[..., None], 1.0, axis=-1)
    return p, float(np.sum(np.take_along_axis(values, best[..., None], axis=-1)))


def expected_gradient(problem, estimator: str, alpha: float):
    """The function ``logits -> E[dθ]`` of one of :data:`ESTIMATORS`."""
    if estimator == "exact":
        return lambda logits: exact_gradient(problem, logits)
    if estimator in ("ils", "ils-signed", "ils-prototype"):
        options = {"policy": "clip"} if estimator == "ils" else {"policy": "signed", "prototype": estimator == "ils-prototype"}
        return lambda logits: ils_expected_gradient(problem, alpha, logits, **options)
    if estimator == "straight-through":
        grads = problem.grad(outcomes(problem.logits.shape))  # G[j] = ∂f/∂z at z = e_j, shape (K, ..., K): independent of the logits

        def straight_through(logits):
            probs = softmax_kernel(logits)
            mean_grad = np.sum(np.moveaxis(probs, -1, 0)[..., None] * grads, axis=0)  # E[∂f/∂z] = Σ_j π_j G[j]
            return softmax_backward_kernel(mean_grad, probs)

        return straight_through
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def follow(grad, logits, *, lr: float, max_steps: int, tol: float) -> tuple[np.ndarray, int, bool]:
    """SGD on ``logits`` along ``grad`` until no probability moves by more than ``tol`` in a step.

    Returns ``(logits, steps taken, converged)``; the probabilities, not the
    logits, decide (the prototype's gradient moves every logit of a row, which
    changes nothing).
    """
    theta = np.array(logits, dtype=np.float64)
    probs = softmax_kernel(theta)
    for step in range(1, max_steps + 1):
        theta = theta - lr * grad(theta)
        new = softmax_kernel(theta)
        moved = float(np.max(np.abs(new - probs)))
        probs = new
        if moved < tol:
            return theta, step, True
    return theta, max_steps, False


def report_p(problem, probs: np.ndarray) -> list:
    """Probabilities as reported: ``P(b = 1)`` per bit for the Bernoulli quadratic, else the category probabilities."""
    return np.atleast_1d(probs[..., 1]).tolist() if problem.name == "bernoulli-quadratic" else probs.tolist()


def fixed_points(problem, alpha: float, *, estimators=ESTIMATORS, lr: float = 1.0, max_steps: int = 20_000,
                 tol: float = 1e-12) -> dict:
    """Every estimator's fixed point from logits 0, and the problem's minimiser, as a JSON-ready document.

    Keys: ``minimiser`` (``p``, ``objective``) and ``estimators``, a list of
    ``{"name", "p", "objective", "steps", "converged"}`` (``"error"`` instead,
    with the message, where the estimator is undefined on the way, e.g. the
    signed policy at a large ``alpha``).
    """
    alpha, lr, max_steps, tol = checked(
        alpha=("nonnegative_scalar", alpha), lr=("positive", lr), max_steps=("int", max_steps, 1), tol=("positive", tol)
    )
    p_min, objective_min = minimiser(problem)
    start = np.zeros(problem.logits.shape)
    rows = []
    for name in estimators:
        try:
            theta, steps, converged = follow(expected_gradient(problem, name, alpha), start, lr=lr,
                                             max_steps=max_steps, tol=tol)
        except ValueError as exc:
            rows.append({"name": name, "error": str(exc)})
            continue
        rows.append({
            "name": name,
            "p": report_p(problem, softmax_kernel(theta)),
            "objective": exact_objective(problem, theta),
            "steps": steps,
            "converged": converged,
        })
    return {
        "problem": problem.name,
        "problem_params": problem.params(),
        "alpha": alpha,
        "lr": lr,
        "max_steps": max_steps,
        "tol": tol,
        "minimiser": {"p": report_p(problem, p_min), "objective": objective_min},
        "estimators": rows,
    }
