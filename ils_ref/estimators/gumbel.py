r"""Gumbel-softmax, soft and straight-through, with its backward pass.

.. math::

    y = \mathrm{softmax}\!\Bigl(\frac{\theta + G}{T}\Bigr),\qquad
    G = -\log(-\log u),\ u \sim U[0, 1)

``argmax(θ + G)`` is an exact categorical draw (the Gumbel-max trick); the
softmax at temperature ``T`` relaxes it.  Small ``T`` makes ``y`` nearly
one-hot but its gradient large and erratic; large ``T`` makes ``y`` smooth but
far from a draw.  The straight-through ("hard") variant returns the one-hot
``argmax`` forward and the soft gradient backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops.sampling import gumbel_kernel, one_hot_kernel, uniform
from ..ops.softmax import softmax_backward_kernel
from ..validation import checked, finite, rows_of, shape_of


@dataclass(frozen=True)
class GumbelCache:
    """What :func:`gumbel_softmax_backward` needs.

    Attributes
    ----------
    y_soft : ndarray, shape (..., K)
        ``softmax((logits + G) / T)``.
    temperature : float or ndarray of shape (..., 1)
        A copy: the cache shares no memory with the caller's temperature.
    hard : bool
    index : ndarray of int, shape (...)
        ``argmax(logits + G)``, the Gumbel-max draw.
    gumbel : ndarray, shape (..., K)
        The noise ``G``.
    """

    y_soft: np.ndarray
    temperature: float
    hard: bool
    index: np.ndarray
    gumbel: np.ndarray

    def __post_init__(self):
        # A per-row temperature is the caller's array (a broadcast view of it): the cache keeps its
        # own copy, so that annealing it in place (T *= 10) cannot change a later backward pass.
        if isinstance(self.temperature, np.ndarray):
            object.__setattr__(self, "temperature", self.temperature.copy())


def gumbel_forward_kernel(logits, gumbel, temperature, hard: bool = False):
    """The forward pass on checked arrays, ``G`` given: ``(y, cache)``."""
    perturbed = logits + gumbel
    index = np.argmax(perturbed, axis=-1)  # the Gumbel-max draw
    # Shift by the row max *before* dividing by T: every entry is then <= 0,
    # so a tiny T sends entries to -inf (exp = 0), never to +inf.
    with np.errstate(over="ignore", under="ignore"):  # exp underflowing to 0 is exactly right
        y_soft = (perturbed - perturbed.max(axis=-1, keepdims=True)) / temperature
        np.exp(y_soft, out=y_soft)
        y_soft /= y_soft.sum(axis=-1, keepdims=True)
    cache = GumbelCache(y_soft=y_soft, temperature=temperature, hard=hard, index=index, gumbel=gumbel)
    y = one_hot_kernel(index, perturbed.shape[-1]) if hard else y_soft.copy()
    return y, cache


def gumbel_backward_kernel(dy, cache: GumbelCache):
    """The backward pass on checked arrays: the softmax VJP at ``y_soft``, divided by ``T``."""
    return softmax_backward_kernel(dy, cache.y_soft) / cache.temperature


def gumbel_softmax_forward(logits, temperature, *, u=None, rng=None, hard: bool = False):
    r"""Gumbel-softmax sample ``y = softmax((logits + G) / T)``, or its one-hot argmax if ``hard``.

    Parameters
    ----------
    logits : array_like, shape (..., K)
        Finite, or ``-inf`` to mask a category.
    temperature : float or array_like
        ``T > 0``, finite.  Any positive value works: the softmax is shifted
        before the division by ``T``, so ``T = 1e-3`` (or smaller) gives a
        finite, nearly one-hot ``y``.  An array broadcastable to the batch
        shape ``logits.shape[:-1]`` gives every row its own temperature.
    u : array_like, shape (..., K), optional
        Explicit uniform noise in ``[0, 1)``, one number per logit;
        ``G = -log(-log u)``.  ``u = 0`` gives ``G = -inf`` (that category
        cannot win).
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng``.
    hard : bool, default False
        Straight-through: return ``one_hot(argmax(logits + G))``; the backward
        pass still uses the soft ``y``.

    Returns
    -------
    y : ndarray, shape (..., K)
    cache : GumbelCache
    """
    logits = checked(logits=("logits", logits))
    temperature, hard = checked(temperature=("scale", temperature, rows_of(logits, "logits")), hard=("flag", hard))
    temperature = temperature if isinstance(temperature, float) else temperature[..., None]  # one T per row, against its K entries
    g = gumbel_kernel(uniform(u, rng, shape_of(logits, "logits")))  # one uniform per entry
    if np.any(np.all(logits + g == -np.inf, axis=-1)):
        raise ValueError("logits + G is -inf in a whole row (u = 0 on every unmasked category)")
    return gumbel_forward_kernel(logits, g, temperature, hard)


def gumbel_softmax_backward(dy, cache: GumbelCache) -> np.ndarray:
    r"""Logit gradient of the Gumbel-softmax (the same for soft and hard).

    .. math::

        d\theta = \frac{1}{T}\, y \odot \bigl(dy - \langle dy, y\rangle\bigr),
        \qquad y = \mathrm{softmax}\!\Bigl(\frac{\theta + G}{T}\Bigr)

    (the softmax VJP at ``(θ + G)/T``, times the inner derivative ``1/T``;
    ``G`` does not depend on ``θ``).  For ``hard=True`` this is the
    straight-through estimator: the forward output was one-hot, the gradient
    is the soft one.

    Parameters
    ----------
    dy : array_like, shape (..., K)
        Upstream gradient with respect to the forward output; finite.
    cache : GumbelCache

    Returns
    -------
    dlogits : ndarray, shape (..., K)
        Rows sum to zero.  Where ``y`` is exactly one-hot (tiny ``T``) the
        gradient is exactly 0, never ``0 · inf``.
    """
    cache = checked(cache=(GumbelCache, cache))
    dy = checked(dy=("upstream", dy, shape_of(cache.y_soft, "cache.y_soft (the forward output)")))
    with np.errstate(over="ignore", invalid="ignore"):  # reported by finite()
        return finite(gumbel_backward_kernel(dy, cache), "the Gumbel-softmax logit gradient (dy / temperature beyond float64)")
