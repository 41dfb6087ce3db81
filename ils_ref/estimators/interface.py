r"""Gradient estimators for ``∂/∂θ E_{z ~ softmax(θ)} L(z)``, behind one interface.

An :class:`Estimator` maps ``(logits, problem, rng, n)`` to ``n`` independent
per-sample estimates of the logit gradient, shape ``(n, ..., K)``, computed
for all samples at once (the sample axis is just one more batch axis).

=====================  ========================================================  ==========
estimator              one estimate                                              unbiased?
=====================  ========================================================  ==========
ILS                    ``ils_backward(∂L/∂z, cache, α)`` at a draw ``z``          no
Gumbel-softmax         ``gumbel_softmax_backward(∂L/∂y)`` at a relaxed ``y``      no
straight-through       the same with the one-hot ``y`` (``hard=True``)            no
REINFORCE              ``f_r(z) (e_k - π_r)`` per row                              yes
REINFORCE + LOO        ``(1/m) Σ_s (f_s - b_s)(e_{k_s} - π)``, ``b_s`` the        yes
                       mean of the other ``m-1`` draws' losses
Gumbel-Rao             straight-through's soft gradient averaged over ``M``       no
                       perturbations that give the same draw
ReinMax                ``2 J_{π_1}ᵀ g - ½ J_πᵀ g`` at a draw, ``π_1 =``            no
                       ``(z + softmax(θ/T))/2``
exact                  the problem's exact gradient (no draw)                     yes
=====================  ========================================================  ==========

REINFORCE weights each row's score by that row's own loss ``f_r`` (the rows
are independent problems, so the other rows' losses would only add noise).
The leave-one-out version spends ``m`` draws on one estimate, so its
estimates stay independent of each other.

A *problem* is any object with ``logits`` (its default point), ``f(z)`` and
``grad(z)`` row by row, ``num_categories``, ``point(logits)`` and (for
:func:`exact` only) ``exact_gradient(logits)``; the shipped ones, with exact
gradients by enumeration, are in :mod:`ils_ref.models.problems`, and the
categorical VAE's decoder loss is :class:`ils_ref.models.vae.LatentProblem`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..ops.sampling import one_hot_kernel, sample_categorical_kernel
from ..ops.softmax import softmax_kernel
from ..validation import checked, finite
from .bernoulli import bernoulli_ils_backward, bernoulli_ils_forward
from .gumbel import gumbel_softmax_backward, gumbel_softmax_forward
from .gumbel_rao import gumbel_rao_backward_kernel, gumbel_rao_forward_kernel
from .ils import ils_backward, ils_cache, ils_forward
from .ils_expansion import ils_first_order
from .reinmax import reinmax_backward_kernel, reinmax_forward_kernel


class Estimator(NamedTuple):
    """A named gradient estimator: ``fn(logits, problem, rng, n) -> (n, ..., K)``."""

    name: str
    params: dict
    fn: Callable

    def __call__(self, logits, problem, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.fn(logits, problem, rng, n)

    @property
    def label(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({inner})" if inner else self.name


def _stack(logits, n: int) -> np.ndarray:
    return np.broadcast_to(logits, (n,) + np.shape(logits))


def ils(alpha: float, **options) -> Estimator:
    """ILS with step size ``alpha``; ``options`` go to :func:`ils_ref.ils_backward`."""
    alpha = checked(alpha=("nonnegative_scalar", alpha))

    def fn(logits, problem, rng, n):
        z, cache = ils_forward(_stack(logits, n), rng=rng)
        return ils_backward(problem.grad(z), cache, alpha, **options)

    name = "ils-prototype" if options.get("prototype") else "ils"
    return Estimator(name, {"alpha": alpha, **options}, fn)


def ils_rescaled(alpha: float, **options) -> Estimator:
    r"""ILS's estimate divided by ``alpha``: the estimator at its natural scale.

    ILS's mean is :math:`\alpha\,\mathbb{E}[\Delta^- - z\,\Sigma\Delta^-] + O(\alpha^2)`
    (tutorial 08): of order ``alpha``, while the gradient it stands in for is
    of order 1.  Where the estimate is one term of a larger gradient (a VAE's
    reconstruction term beside its exact KL term), that shortness acts as a
    weight ``alpha`` on the term; dividing by ``alpha`` removes it.  Named
    ``ils/alpha``; ``options`` go to :func:`ils_ref.ils_backward`.
    """
    alpha = checked(alpha=("positive", alpha))
    inner = ils(alpha, **options)

    def fn(logits, problem, rng, n):
        with np.errstate(over="ignore"):  # reported by finite(), never returned
            return finite(inner.fn(logits, problem, rng, n) / alpha, "ILS divided by alpha (alpha too small?)")

    return Estimator("ils/alpha", {"alpha": alpha, **options}, fn)


def gumbel(temperature: float, *, hard: bool = False) -> Estimator:
    """Gumbel-softmax at ``temperature``; ``hard=True`` is straight-through."""
    temperature = checked(temperature=("positive", temperature))

    def fn(logits, problem, rng, n):
        y, cache = gumbel_softmax_forward(_stack(logits, n), temperature, rng=rng, hard=hard)
        return gumbel_softmax_backward(problem.grad(y), cache)

    return Estimator("straight-through" if hard else "gumbel", {"temperature": temperature}, fn)


def _draws(logits, rng, shape):
    probs = softmax_kernel(np.asarray(logits, dtype=np.float64))
    index = sample_categorical_kernel(np.broadcast_to(probs, shape + probs.shape), rng.random(shape + probs.shape[:-1]))
    return probs, one_hot_kernel(index, probs.shape[-1])


def reinforce() -> Estimator:
    """Score function: ``f_r(z) · ∇_θ log π_k = f_r(z) (e_k - π)`` per row."""

    def fn(logits, problem, rng, n):
        probs, z = _draws(logits, rng, (n,))
        return problem.f(z)[..., None] * (z - probs)

    return Estimator("reinforce", {}, fn)


def reinforce_loo(group: int = 4) -> Estimator:
    """Score function with a leave-one-out baseline over ``group`` draws per estimate."""
    group = checked(group=("int", group, 2))  # a leave-one-out baseline needs another draw

    def fn(logits, problem, rng, n):
        probs, z = _draws(logits, rng, (n, group))
        f = problem.f(z)  # (n, group, ...)
        baseline = (f.sum(axis=1, keepdims=True) - f) / (group - 1)
        return np.mean((f - baseline)[..., None] * (z - probs), axis=1)

    return Estimator("reinforce-loo", {"group": int(group)}, fn)


def gumbel_rao(temperature: float, samples: int = 10) -> Estimator:
    """Gumbel-Rao at ``temperature`` with ``samples`` conditional perturbations (one draw, one loss gradient)."""
    temperature, samples = checked(temperature=("positive", temperature), samples=("int", samples, 1))

    def fn(logits, problem, rng, n):
        logits = np.asarray(logits, dtype=np.float64)
        z, cache = gumbel_rao_forward_kernel(_stack(logits, n), temperature, rng.random((samples + 1, n) + logits.shape))
        return gumbel_rao_backward_kernel(problem.grad(z), cache)

    return Estimator("gumbel-rao", {"temperature": temperature, "samples": samples}, fn)


def reinmax(temperature: float = 1.0) -> Estimator:
    """ReinMax at ``temperature`` (one draw, one loss gradient)."""
    temperature = checked(temperature=("positive", temperature))

    def fn(logits, problem, rng, n):
        logits = np.asarray(logits, dtype=np.float64)
        z, cache = reinmax_forward_kernel(_stack(logits, n), temperature, rng.random((n,) + logits.shape[:-1]))
        return reinmax_backward_kernel(problem.grad(z), cache)

    return Estimator("reinmax", {"temperature": temperature}, fn)


def exact() -> Estimator:
    """The problem's exact gradient (``problem.exact_gradient(logits)``), repeated ``n`` times: no draws, no noise."""

    def fn(logits, problem, rng, n):
        return _stack(problem.exact_gradient(logits), n)

    return Estimator("exact", {}, fn)


def bernoulli_ils(alpha: float) -> Estimator:
    """Bernoulli ILS on a two-category problem, as a logit gradient ``(-dθ, dθ)``.

    The bit is ``b = [category 1]``, ``p = σ(θ_1 - θ_0)`` and ``∂L/∂b = ∂L/∂z_1 - ∂L/∂z_0``.
    """
    alpha = checked(alpha=("nonnegative_scalar", alpha))

    def fn(logits, problem, rng, n):
        logits = _stack(logits, n)
        if logits.shape[-1] != 2:
            raise ValueError("bernoulli-ils needs a problem with K = 2 categories")
        b, cache = bernoulli_ils_forward(logits[..., 1] - logits[..., 0], rng=rng)
        z = np.stack([1.0 - b, b], axis=-1)
        dz = problem.grad(z)
        d = bernoulli_ils_backward(dz[..., 1] - dz[..., 0], cache, alpha)
        return np.stack([-d, d], axis=-1)

    return Estimator("bernoulli-ils", {"alpha": alpha}, fn)


def outside(fn: Callable, name: str, alpha: float = 0.1) -> Estimator:
    """An outside ILS-style estimator ``fn(logits, dz_of, rng, alpha=...) -> dlogits`` (one draw per call).

    ``fn`` draws its own sample with ``rng`` and asks ``dz_of(z)`` for the
    upstream gradient at its one-hot draw; ``n`` estimates are ``n`` calls.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    alpha = checked(alpha=("nonnegative_scalar", alpha))

    def estimate(logits, problem, rng, n):
        return np.stack([np.asarray(fn(np.array(logits), problem.grad, rng, alpha=alpha), dtype=np.float64)
                         for _ in range(n)])

    return Estimator(name, {"alpha": alpha}, estimate)


#: ILS's step sizes in ``ils-ref compare`` unless ``--alpha`` says otherwise: the post's.
ILS_ALPHAS = (0.1, 0.01, 0.001)


def standard_estimators(problem=None, alphas=ILS_ALPHAS) -> list[Estimator]:
    """The settings of ``ils-ref compare``: ILS at each of ``alphas``, the post's T, the unbiased references.

    ILS runs as the default (clip) and as the prototype, each at every α of
    ``alphas`` (default :data:`ILS_ALPHAS`, the post's).  Two-category problems
    (the Bernoulli quadratic) also get Bernoulli ILS at the same α.
    """
    out = [ils(a) for a in alphas]
    out += [ils(a, prototype=True, policy="signed") for a in alphas]
    out += [gumbel(t) for t in (0.1, 1.0, 10.0)]
    if problem is not None and problem.num_categories == 2:
        out += [bernoulli_ils(a) for a in alphas]
    out += [gumbel(1.0, hard=True), reinforce(), reinforce_loo()]
    return out


def _every_draw(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row's ``K`` draws at once: the category ``index`` ``(K, ...)`` and its probability ``π_k`` ``(K, ..., 1)``."""
    k = logits.shape[-1]
    index = np.broadcast_to(np.arange(k).reshape((k,) + (1,) * (logits.ndim - 1)), (k,) + logits.shape[:-1])
    return index, np.moveaxis(softmax_kernel(logits), -1, 0)[..., None]


def ils_expected_gradient(problem, alpha: float, logits=None, **options) -> np.ndarray:
    r"""The exact expectation of the ILS estimate, by enumerating the ``K`` draws of every row.

    Given the drawn category the ILS backward pass is deterministic, so

    .. math::

        \mathbb{E}[d\theta] = \sum_k \pi_k\, d\theta(z = e_k)

    row by row, with no Monte-Carlo noise.  Compare with
    :func:`ils_ref.models.problems.exact_gradient` for the exact bias.

    ``options`` go to :func:`ils_ref.ils_backward`.
    """
    logits = problem.point(logits)
    index, weights = _every_draw(logits)
    stacked = np.broadcast_to(logits, index.shape + logits.shape[-1:])
    # masked categories (logit -inf) cannot be drawn; give them a valid index and zero weight
    safe_index = np.where(weights[..., 0] > 0, index, np.argmax(logits, axis=-1))
    cache = ils_cache(stacked, safe_index)
    grads = ils_backward(problem.grad(cache.z), cache, alpha, **options)
    return np.sum(weights * grads, axis=0)


def ils_expected_first_order(problem, logits=None, policy: str = "clip") -> np.ndarray:
    r"""``E[c]``, ILS's expected logit gradient divided by ``α`` as ``α → 0``, by enumerating the draws.

    .. math::

        \mathbb{E}[d\theta] = \alpha \sum_k \pi_k\, c(e_k) + O(\alpha^2),

    ``c`` from :func:`ils_ref.ils_first_order` at ``dz = ∂f/∂z (e_k)``
    (``E[π - z] = 0``).  Compare with :func:`ils_expected_gradient` divided by
    a small ``α``.  The logits must be finite: a masked category would need
    the ``w_j = 0`` rule that :func:`ils_ref.ils_first_order` does not see.
    """
    logits = problem.point(logits)
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite for the first-order expectation (a -inf logit masks a category)")
    index, weights = _every_draw(logits)
    coefficients = ils_first_order(problem.grad(one_hot_kernel(index, logits.shape[-1])), index, policy=policy)
    return np.sum(weights * coefficients, axis=0)
