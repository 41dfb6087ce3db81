"""ils-ref fixedpoint: each estimator's exact expected gradient followed to its end, against closed forms."""

import json

import numpy as np
import pytest

from ils_ref.cli import main
from ils_ref.experiments.fixedpoint import expected_gradient, fixed_points, minimiser
from ils_ref.models.problems import bernoulli_quadratic, linear


def ils_fixed_point(t, alpha):
    r"""ILS (clip or signed, h = z/Σz, KL) on f(b) = (b - t)², by hand.

    Draw b = 1 (prob. p): g = (0, 2(1-t)), Δ = (-2(1-t), 0), z - αΔ = (a, 1) with a = 2α(1-t):
    dθ₁ = p - 1/(1+a).  Draw b = 0: g = (0, -2t), Δ = (0, -2t), z - αΔ = (1, 2αt): dθ₁ = p - c,
    c = 2αt/(1+2αt).  E dθ₁ = p·a/(1+a) - (1-p)·c = 0 at p* = c / (a/(1+a) + c).
    """
    a, c = 2 * alpha * (1 - t), 2 * alpha * t / (1 + 2 * alpha * t)
    return c / (a / (1 + a) + c)


@pytest.mark.parametrize("t", [0.3, 0.45])
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_the_bernoulli_quadratic_against_closed_forms(t, alpha):
    doc = fixed_points(bernoulli_quadratic(t), alpha, max_steps=3000, tol=1e-13)
    rows = {r["name"]: r for r in doc["estimators"]}
    assert doc["minimiser"] == {"p": [0.0], "objective": pytest.approx(t * t, rel=1e-15)}
    for name in ("ils", "ils-signed"):  # the stepped pair stays non-negative here: the policies agree
        assert rows[name]["converged"]
        assert rows[name]["p"][0] == pytest.approx(ils_fixed_point(t, alpha), abs=1e-9)
    # straight-through: E dθ₁ = 2p(1-p)(p - t), stable at p = t
    assert rows["straight-through"]["p"][0] == pytest.approx(t, abs=1e-9)
    # the exact gradient p(1-p)(1-2t) > 0 keeps pushing p towards the minimiser p = 0
    assert not rows["exact"]["converged"] and rows["exact"]["p"][0] < 0.01
    assert rows["exact"]["objective"] < rows["ils"]["objective"]


def test_ils_stops_near_t_not_at_the_minimiser():
    # the numbers: p* = 0.4505, 0.4545, 0.4749 for alpha = 0.01, 0.1, 1 at t = 0.45
    for alpha, expected in ((0.01, 0.4505), (0.1, 0.4545), (1.0, 0.4749)):
        assert ils_fixed_point(0.45, alpha) == pytest.approx(expected, abs=5e-5)


def test_expected_gradients_are_the_enumerated_means():
    problem = linear(rows=2, categories=3)
    logits = np.random.default_rng(1).normal(size=(2, 3))
    st = expected_gradient(problem, "straight-through", 0.1)(logits)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # linear loss: ∂f/∂z = c whatever the draw, so straight-through is softmax_backward(c, π) = the exact gradient
    np.testing.assert_allclose(st, probs * (problem.c - np.sum(problem.c * probs, -1, keepdims=True)), rtol=1e-13)
    np.testing.assert_allclose(st, expected_gradient(problem, "exact", 0.1)(logits), rtol=1e-12)
    with pytest.raises(ValueError, match="estimator must be one of"):
        expected_gradient(problem, "gumbel", 0.1)


def test_the_minimiser_of_a_linear_problem():
    problem = linear(rows=3, categories=4)
    p, objective = minimiser(problem)
    np.testing.assert_array_equal(p.argmax(-1), problem.c.argmin(-1))
    assert objective == pytest.approx(problem.c.min(-1).sum())


def test_the_command_line_and_its_json_contract(tmp_path, capsys):
    path = tmp_path / "fp.json"
    assert main(["fixedpoint", "--problem", "bernoulli-quadratic", "--alpha", "0.1", "--steps", "500",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ils-prototype" in out and "minimiser" in out and "still moving" in out
    doc = json.loads(path.read_text())
    assert set(doc["minimiser"]) == {"p", "objective"} and isinstance(doc["minimiser"]["p"], list)
    for row in doc["estimators"]:
        assert {"name", "p", "objective", "steps"} <= set(row)
    assert [r["name"] for r in doc["estimators"]] == ["exact", "ils", "ils-signed", "ils-prototype", "straight-through"]


@pytest.mark.parametrize("argv", [
    ["fixedpoint", "--problem", "linear"],
    ["fixedpoint", "--problem", "linear", "--alpha", "-1"],
    ["fixedpoint", "--problem", "toy1", "--alpha", "0.1", "--target", "0.3"],
    ["fixedpoint", "--problem", "linear", "--alpha", "0.1", "--steps", "0"],
])
def test_bad_fixedpoint_arguments_exit_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


