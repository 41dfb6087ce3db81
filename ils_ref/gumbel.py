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

from ._validation import gradient_array, logits_array, require_finite_result, scalar_or_per_row
from .sampling import _gumbel, _one_hot, uniform_noise
from .softmax import _softmax_backward


@dataclass(frozen=True)
class GumbelCache:
    """What :func:`gumbel_softmax_backward` needs.

    Attributes
    ----------
    y_soft : ndarray, shape (..., K)
        ``softmax((logits + G) / T)``.
    temperature : float or ndarray of shape (..., 1)
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


def _tempered_softmax(perturbed: np.ndarray, temperature: float) -> np.ndarray:
    # Shift by the row max *before* dividing by T: every entry is then <= 0,
    # so a tiny T sends entries to -inf (exp = 0), never to +inf.
    with np.errstate(over="ignore"):
        shifted = perturbed - perturbed.max(axis=-1, keepdims=True)
        shifted /= temperature
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


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
    logits = logits_array(logits, "logits")
    temperature = scalar_or_per_row(temperature, "temperature", logits.shape[:-1], positive=True)
    if hard not in (True, False):
        raise TypeError(f"hard must be True or False, got {hard!r}")
    g = _gumbel(uniform_noise(logits.shape, u=u, rng=rng, like=f"logits of shape {logits.shape}"))
    perturbed = logits + g
    if np.any(np.all(perturbed == -np.inf, axis=-1)):
        raise ValueError("logits + G is -inf in a whole row (u = 0 on every unmasked category)")
    return _forward(perturbed, g, temperature, bool(hard))


def _forward(perturbed, g, temperature, hard):
    """The forward pass on checked arguments: ``perturbed = logits + G``."""
    index = np.argmax(perturbed, axis=-1)
    y_soft = _tempered_softmax(perturbed, temperature)
    cache = GumbelCache(y_soft=y_soft, temperature=temperature, hard=hard, index=index, gumbel=g)
    y = _one_hot(index, perturbed.shape[-1]) if hard else y_soft
    return y, cache


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
    if not isinstance(cache, GumbelCache):
        raise TypeError(
            f"cache must be the GumbelCache returned by gumbel_softmax_forward, got {type(cache).__name__}"
        )
    dy = gradient_array(dy, "dy", cache.y_soft.shape, "the shape of y")
    return require_finite_result(_backward(dy, cache), "the Gumbel-softmax logit gradient")


def _backward(dy, cache):
    """The backward pass on checked arguments."""
    with np.errstate(over="ignore"):
        return _softmax_backward(dy, cache.y_soft) / cache.temperature
