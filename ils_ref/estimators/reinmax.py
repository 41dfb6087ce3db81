r"""ReinMax (Liu et al., 2023): straight-through with a second-order correction.

Forward: an exact draw ``z ~ Categorical(π)``, ``π = softmax(θ)``, one-hot,
as in ILS.  Backward, given ``g = ∂L/∂z``:

.. math::

    \pi_1 = \tfrac12\bigl(z + \mathrm{softmax}(\theta / T)\bigr), \qquad
    d\theta = 2\, J_{\pi_1}^\top g - \tfrac12\, J_{\pi}^\top g, \qquad
    J_p^\top g = p \odot (g - \langle g, p\rangle),

the softmax VJP at ``π_1`` counted twice, minus half the softmax VJP at ``π``.

Where it comes from.  Straight-through returns ``J_π^⊤ g``: a forward-Euler
step of the integral ``f(e_k) - f(e_j) = ∫ ∇f`` along the segment between two
vertices, with the derivative taken at one end.  ReinMax replaces it by
Heun's method (the trapezoid rule), which evaluates ``∇f`` at the drawn
vertex ``z`` and weights the midpoint ``(z + π)/2``.  At ``T = 1`` its
expectation is the exact gradient for every quadratic ``f`` (the tests check
this by enumerating the draws; straight-through is biased there).  ``T``
only enters ``π_1``; the authors recommend ``T >= 1``.

Reference: L. Liu, C. Dong, X. Liu, B. Yu, J. Gao, "Bridging Discrete and
Backpropagation: Straight-Through and Beyond", NeurIPS 2023.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops.sampling import one_hot_kernel, sample_categorical_kernel, uniform
from ..ops.softmax import softmax_backward_kernel, softmax_kernel
from ..validation import checked, finite, rows_of, shape_of


@dataclass(frozen=True)
class ReinMaxCache:
    """What :func:`reinmax_backward` needs: ``probs`` ``π``, ``midpoint`` ``π_1`` (both ``(..., K)``), ``index`` ``(...)``."""

    probs: np.ndarray
    midpoint: np.ndarray
    index: np.ndarray


def reinmax_forward(logits, temperature=1.0, *, u=None, rng=None):
    r"""An exact one-hot draw ``z ~ softmax(logits)`` (inverse CDF of ``u``) and the cache for the backward pass.

    Parameters
    ----------
    logits : array_like, shape (..., K)
    temperature : float or array_like
        ``T > 0`` in ``π_1 = (z + softmax(θ/T)) / 2``; one per row allowed.
    u : array_like, shape (...), optional
        One uniform number per row (as :func:`ils_ref.sample_categorical`).
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng``.

    Returns
    -------
    z : ndarray, shape (..., K), one-hot
    cache : ReinMaxCache
    """
    logits = checked(logits=("logits", logits))
    temperature = checked(temperature=("scale", temperature, rows_of(logits, "logits")))
    temperature = temperature if isinstance(temperature, float) else temperature[..., None]  # one T per row, against its K entries
    return reinmax_forward_kernel(logits, temperature, uniform(u, rng, rows_of(logits, "logits")))


def reinmax_forward_kernel(logits, temperature, u):
    """:func:`reinmax_forward` on checked arrays."""
    probs = softmax_kernel(logits)
    index = sample_categorical_kernel(probs, u)
    z = one_hot_kernel(index, logits.shape[-1])
    # Shift by the row max *before* dividing by T: every entry is then <= 0, so a tiny T (or logits of
    # 1e300) sends entries to -inf (probability 0), never to +inf (NaN).
    with np.errstate(over="ignore"):
        tempered = (logits - logits.max(axis=-1, keepdims=True)) / temperature
    midpoint = 0.5 * (z + softmax_kernel(tempered))
    return z, ReinMaxCache(probs=probs, midpoint=midpoint, index=index)


def reinmax_backward(dz, cache: ReinMaxCache) -> np.ndarray:
    r"""Logit gradient of ReinMax: ``dθ = 2 J_{π_1}^⊤ dz - ½ J_π^⊤ dz`` (module docstring).

    Parameters
    ----------
    dz : array_like, shape (..., K)
        Upstream gradient at the one-hot draw; finite.
    cache : ReinMaxCache

    Returns
    -------
    dlogits : ndarray, shape (..., K); rows sum to zero.
    """
    cache = checked(cache=(ReinMaxCache, cache))
    dz = checked(dz=("upstream", dz, shape_of(cache.probs, "cache.probs (the forward output)")))
    return finite(reinmax_backward_kernel(dz, cache), "the ReinMax logit gradient")


def reinmax_backward_kernel(dz, cache: ReinMaxCache) -> np.ndarray:
    """:func:`reinmax_backward` on checked arrays."""
    return 2.0 * softmax_backward_kernel(dz, cache.midpoint) - 0.5 * softmax_backward_kernel(dz, cache.probs)
