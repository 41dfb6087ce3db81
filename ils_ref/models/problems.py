r"""Test problems: a loss per row ``f(z)`` and its gradient ``∂f/∂z``, with exact answers.

A problem has logits ``θ`` of shape ``(..., K)`` (its default evaluation
point) and a loss ``f`` that acts row by row: ``f(z)[r]`` depends only on
``z[r]``, and the total loss is ``L(z) = Σ_r f(z)[r]``.  ``f`` is defined on
the whole simplex, not just on one-hot vectors, so relaxed samples (Gumbel
soft) can be scored too.  Both ``f`` and ``grad`` accept extra leading sample
axes: ``z`` of shape ``(S, ..., K)``.

Because the rows are independent and each row has only ``K`` outcomes, the
objective ``E_{z ~ softmax(θ)} L(z)`` and its gradient are computed *exactly*
by enumeration (:func:`exact_gradient`):

.. math::

    \mathbb{E}\,L = \sum_r \sum_k \pi_{rk}\, f_r(e_k), \qquad
    \frac{\partial\, \mathbb{E} L}{\partial \theta_r}
      = \mathrm{softmax\_backward}\bigl(F_r, \pi_r\bigr),\quad F_{rk} = f_r(e_k).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..ops.softmax import softmax_backward_kernel, softmax_kernel
from ..validation import checked

#: The smoothing inside ``log(z + 1e-8)`` of the post's toy experiment.
TOY_SMOOTHING = 1e-8


@dataclass(frozen=True)
class Problem:
    """Base class: subclasses define :meth:`f` and :meth:`grad`."""

    name: str
    logits: np.ndarray

    @property
    def num_categories(self) -> int:
        return self.logits.shape[-1]

    def f(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        return {}

    def exact_gradient(self, logits=None) -> np.ndarray:
        """:func:`exact_gradient` of this problem (what :func:`ils_ref.estimators.interface.exact` asks for)."""
        return exact_gradient(self, logits)

    def point(self, logits=None) -> np.ndarray:
        """The logits to evaluate at: ``logits`` (checked, of the problem's shape) or the problem's own."""
        if logits is None:
            return self.logits
        logits = checked(logits=("logits", logits))
        if logits.shape != self.logits.shape:
            raise ValueError(f"logits has shape {logits.shape} but the problem has shape {self.logits.shape}")
        return logits


def toy_terms(z: np.ndarray, target: np.ndarray, smoothing: float = TOY_SMOOTHING) -> np.ndarray:
    """The post's per-entry loss ``-π_true (log(z + ε) - log(π_true + ε))``, elementwise.

    Its mean over one problem's ``N·K`` entries is the post's sampled loss
    (``z`` a draw) and its reported metric (``z = softmax(θ)``).
    """
    return -target * (np.log(z + smoothing) - np.log(target + smoothing))


@dataclass(frozen=True)
class Toy1(Problem):
    r"""The post's toy experiment 1: ``KL(π_true ‖ z)`` smoothed, as a mean over all entries.

    .. math::

        f_r(z) = \frac{1}{NK} \sum_k -\pi^{true}_{rk}
                 \bigl(\log(z_k + \varepsilon) - \log(\pi^{true}_{rk} + \varepsilon)\bigr),
        \qquad
        \frac{\partial f_r}{\partial z_k} = -\frac{\pi^{true}_{rk}}{NK\,(z_k + \varepsilon)}

    Summed over the ``N`` rows this is the post's per-step loss (the mean over
    all ``N·K`` entries).  ``ε = 1e-8`` as in the post.  ``target`` may stack
    several problems in front of its last two axes ``(N, K)`` (the training
    loop does); ``NK`` always counts the entries of one problem.
    """

    target: np.ndarray = None
    smoothing: float = TOY_SMOOTHING

    @property
    def entries(self) -> int:
        """``N·K``: the entries of one problem (the last two axes of ``target``)."""
        return int(np.prod(self.target.shape[-2:]))

    def f(self, z):
        return toy_terms(z, self.target, self.smoothing).sum(axis=-1) / self.entries

    def grad(self, z):
        return -self.target / (self.entries * (z + self.smoothing))

    def params(self):
        return {"smoothing": self.smoothing, "shape": list(self.target.shape)}


@dataclass(frozen=True)
class BernoulliQuadratic(Problem):
    r"""The Bernoulli quadratic of REBAR/RELAX as a two-category problem.

    Category 1 means ``b = 1``: ``f(z) = (z_1 - t)^2``,
    ``∂f/∂z = (0, 2(z_1 - t))``.  At logits ``(0, 0)`` the exact gradient is
    ``±(2t - 1)/4``, tiny for ``t`` near 1/2, which is what makes it hard.
    """

    t: float = 0.45

    def f(self, z):
        return (z[..., 1] - self.t) ** 2

    def grad(self, z):
        g = np.zeros_like(z)
        g[..., 1] = 2.0 * (z[..., 1] - self.t)
        return g

    def params(self):
        return {"t": self.t}


@dataclass(frozen=True)
class Linear(Problem):
    r"""A linear loss per row, ``f(z) = ⟨c, z⟩``, ``∂f/∂z = c``; exact gradient ``π ⊙ (c - ⟨c, π⟩)``."""

    c: np.ndarray = None

    def f(self, z):
        return np.sum(self.c * z, axis=-1)

    def grad(self, z):
        return np.broadcast_to(self.c, z.shape).copy()


@dataclass(frozen=True)
class Quadratic(Problem):
    r"""A quadratic loss per row, ``f(z) = ½ zᵀAz + bᵀz``, ``∂f/∂z = Az + b`` (``A`` symmetric).

    ``a`` has shape ``(..., K, K)`` (one matrix per row), ``b`` and the logits
    ``(..., K)``.  Unlike :class:`Linear`, ``∂f/∂z`` differs from vertex to
    vertex, so ILS's target depends on the draw; unlike :class:`Toy1` it is
    affine in ``z``, so ``E[∂f/∂z] = ∂f/∂z(π)``.
    """

    a: np.ndarray = None
    b: np.ndarray = None
    target: np.ndarray | None = None  # the relaxed minimiser, where the constructor knows it (:func:`convex_quadratic`)

    def grad(self, z):
        return np.matmul(self.a, z[..., None])[..., 0] + self.b  # A z + b, row by row (sample axes broadcast)

    def f(self, z):
        return np.sum(z * (0.5 * np.matmul(self.a, z[..., None])[..., 0] + self.b), axis=-1)


# --------------------------------------------------------------------------
# constructors


def toy1(*, seed: int = 0, rows: int = 5, categories: int = 5, smoothing: float = TOY_SMOOTHING) -> Toy1:
    """The post's setting: logits ``U[0, 1)`` and targets ``U[0, 1)`` normalised, seeded."""
    rng = np.random.default_rng(seed)
    logits = rng.random((rows, categories))
    target = rng.random((rows, categories))
    target /= target.sum(axis=-1, keepdims=True)
    return make_toy1(target, logits, smoothing=smoothing)


def make_toy1(target, logits, *, smoothing: float = TOY_SMOOTHING) -> Toy1:
    """Toy 1 with given target rows (probabilities) and logits of the same shape."""
    target, logits, smoothing = checked(
        target=("probs", target), logits=("logits", logits), smoothing=("positive", smoothing)
    )
    if target.shape != logits.shape:
        raise ValueError(f"target has shape {target.shape} but logits has shape {logits.shape}; they must match")
    return Toy1(name="toy1", logits=logits.copy(), target=target.copy(), smoothing=smoothing)


def bernoulli_quadratic(t: float = 0.45, logits=(0.0, 0.0)) -> BernoulliQuadratic:
    """``f = (b - t)²`` with ``b`` the indicator of category 1, at ``logits`` (default ``(0, 0)``)."""
    t, logits = checked(t=("scalar", t), logits=("logits", logits))
    if not 0.0 <= t <= 1.0:  # f = (b - t)² for a bit b: t = 1e308 overflowed to a table of NaN
        raise ValueError(f"t must lie in [0, 1] (the target of a bit), got {t:g}")
    if logits.shape[-1] != 2:
        raise ValueError(f"logits must have K = 2 categories (b = 0, b = 1), got K = {logits.shape[-1]}")
    return BernoulliQuadratic(name="bernoulli-quadratic", logits=logits.copy(), t=t)


def linear(*, seed: int = 0, rows: int = 4, categories: int = 6) -> Linear:
    """``f(z) = ⟨c, z⟩`` with seeded standard-normal ``c`` and logits."""
    rng = np.random.default_rng(seed)
    return make_linear(rng.normal(size=(rows, categories)), rng.normal(size=(rows, categories)))


def make_linear(c, logits) -> Linear:
    logits, c = checked(logits=("logits", logits), c=("real", c))
    if c.ndim == 0 or c.shape != logits.shape:
        raise ValueError(f"c has shape {c.shape} but logits has shape {logits.shape}; they must match")
    return Linear(name="linear", logits=logits.copy(), c=c.copy())


def quadratic(*, seed: int = 0, rows: int = 4, categories: int = 4) -> Quadratic:
    """A generic quadratic per row: ``A`` symmetric with standard-normal entries (indefinite), ``b`` and the logits standard normal, seeded."""
    seed, rows, categories = checked(seed=("int", seed, 0), rows=("int", rows, 1), categories=("int", categories, 2))
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, categories, categories))
    return make_quadratic(a + np.swapaxes(a, -1, -2), rng.normal(size=(rows, categories)), rng.normal(size=(rows, categories)))


def convex_quadratic(*, seed: int = 0, rows: int = 4, categories: int = 4) -> Quadratic:
    r"""A convex quadratic per row whose relaxed minimiser is a random interior point ``t`` of the simplex.

    .. math::

        f(z) = \tfrac12 (z - t)^\top A (z - t) - \tfrac12 t^\top A t
             = \tfrac12 z^\top A z - (At)^\top z,
        \qquad A = M M^\top / K,

    ``M`` standard normal ``(K, K)`` (so ``A`` is positive definite),
    ``t ~ Dirichlet(1, ..., 1)`` and the logits standard normal, seeded.  The
    relaxed objective ``f(π)`` is smallest at ``π = t`` (with the value
    ``-½ tᵀAt``), kept as ``problem.target``; ``E f`` is linear in ``π``,
    smallest at a vertex.
    """
    seed, rows, categories = checked(seed=("int", seed, 0), rows=("int", rows, 1), categories=("int", categories, 2))
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(rows, categories, categories))
    a = m @ np.swapaxes(m, -1, -2) / categories
    t = rng.dirichlet(np.ones(categories), size=rows)
    problem = make_quadratic(a, -np.matmul(a, t[..., None])[..., 0], rng.normal(size=(rows, categories)))
    return replace(problem, target=t)


def make_quadratic(a, b, logits) -> Quadratic:
    """``f(z) = ½ zᵀAz + bᵀz`` per row: ``a`` of shape ``logits.shape + (K,)``, ``b`` of ``logits.shape``.

    ``a`` is replaced by its symmetric part ``(A + Aᵀ)/2``, which gives the
    same ``f`` and makes ``Az + b`` its gradient.
    """
    logits, a, b = checked(logits=("logits", logits), a=("real", a), b=("real", b))
    if b.shape != logits.shape:
        raise ValueError(f"b has shape {b.shape} but logits has shape {logits.shape}; they must match")
    if a.shape != logits.shape + logits.shape[-1:]:
        raise ValueError(f"a has shape {a.shape} but must have shape {logits.shape + logits.shape[-1:]} "
                         f"(one K x K matrix per row of logits)")
    return Quadratic(name="quadratic", logits=logits.copy(), a=a / 2 + np.swapaxes(a, -1, -2) / 2, b=b.copy())  # halves first: no overflow


PROBLEMS = ("toy1", "bernoulli-quadratic", "linear")


def make_problem(name: str, *, target: float | None = None, seed: int = 0) -> Problem:
    """A shipped problem by name; ``target`` is ``t`` of the Bernoulli quadratic."""
    seed = checked(seed=("int", seed, 0))
    if name == "toy1":
        return toy1(seed=seed)
    if name == "bernoulli-quadratic":
        return bernoulli_quadratic(0.45 if target is None else checked(target=("scalar", target)))
    if name == "linear":
        return linear(seed=seed)
    raise ValueError(f"problem must be one of {PROBLEMS}, got {name!r}")


# --------------------------------------------------------------------------
# exact enumeration


def outcomes(shape: tuple) -> np.ndarray:
    """Every one-hot outcome of every row at once: ``O[j, ..., :] = e_j``, shape ``(K,) + shape`` (a read-only view)."""
    k = shape[-1]
    return np.broadcast_to(np.eye(k).reshape((k,) + (1,) * (len(shape) - 1) + (k,)), (k,) + tuple(shape))


def outcome_values(problem: Problem, logits=None) -> np.ndarray:
    """``F[..., k] = f_r(e_k)``: the loss of every row under every outcome, shape ``(..., K)``."""
    shape = problem.logits.shape if logits is None else np.shape(logits)
    return np.moveaxis(problem.f(outcomes(shape)), 0, -1)


def exact_objective(problem: Problem, logits=None) -> float:
    """``E_{z ~ softmax(logits)} Σ_r f_r(z)``, exactly."""
    logits = problem.point(logits)
    return float(np.sum(softmax_kernel(logits) * outcome_values(problem, logits)))


def exact_gradient(problem: Problem, logits=None) -> np.ndarray:
    r"""``∂/∂θ E_{z ~ softmax(θ)} Σ_r f_r(z)``, exactly, by enumerating the ``K`` outcomes per row.

    Returns
    -------
    ndarray, shape (..., K)
        ``softmax_backward(F, π)`` with ``F[..., k] = f_r(e_k)``.
    """
    logits = problem.point(logits)
    return softmax_backward_kernel(outcome_values(problem, logits), softmax_kernel(logits))


def relaxed_objective(problem: Problem, logits=None) -> float:
    """The *relaxed* objective ``Σ_r f_r(π_r)``, ``π = softmax(logits)``: ``f`` at the mean, not its mean."""
    return float(np.sum(problem.f(softmax_kernel(problem.point(logits)))))


def relaxed_gradient(problem: Problem, logits=None) -> np.ndarray:
    r"""``∂/∂θ Σ_r f_r(softmax(θ)_r)`` = ``softmax_backward(∂f/∂z at π, π)``.

    Zero at a stationary point of the relaxed objective; compare
    :func:`exact_gradient`, the gradient of ``E f``.
    """
    probs = softmax_kernel(problem.point(logits))
    return softmax_backward_kernel(problem.grad(probs), probs)
