r"""Gumbel-Rao (Paulus, Maddison and Krause, 2020): straight-through Gumbel-softmax, Rao-Blackwellised.

Forward: the Gumbel-max draw ``z = one_hot(argmax(θ + G))``, an exact
categorical draw, as straight-through returns.  Backward: instead of the
soft gradient at the one ``G`` that produced ``z``, its *conditional
expectation given* ``z``, estimated with ``M`` fresh perturbations that all
produce the same ``z``:

.. math::

    d\theta = \frac1M \sum_{s=1}^{M} \frac1T\, J_{y_s}^\top g, \qquad
    y_s = \mathrm{softmax}\Bigl(\frac{\theta + G_s}{T}\Bigr),\quad
    G_s \sim \bigl(G \mid \arg\max(\theta + G) = k\bigr).

Its mean is the straight-through estimator's mean (conditioning does not move
an expectation), its variance is never larger, and it costs one evaluation of
the loss whatever ``M``: only the softmax is repeated.

Sampling the perturbations given the argmax ``k`` (the "top-down" construction):
the maximum ``max_j (θ_j + G_j)`` is a Gumbel variable located at
``log Σ_j e^{θ_j}`` and independent of which ``j`` attains it; the other
entries are Gumbel variables located at ``θ_j`` and truncated below that
maximum.  With ``E ~ Exp(1)`` (``E = -log(1 - v)``, ``v`` uniform):

.. math::

    t = \log\sum_j e^{\theta_j} - \log E_k, \qquad
    (\theta + G)_j = -\log\bigl(e^{-t} + e^{-\theta_j} E_j\bigr)\ (j \ne k),\qquad (\theta + G)_k = t,

computed with :func:`numpy.logaddexp`.  (Inverting the truncated CDF
``exp(-e^{θ-x} + e^{θ-t})`` gives the second formula.)

Reference: M. B. Paulus, C. J. Maddison, A. Krause, "Rao-Blackwellizing the
Straight-Through Gumbel-Softmax Gradient Estimator", ICLR 2021.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..ops.sampling import gumbel_kernel, one_hot_kernel, uniform
from ..validation import Like, checked, finite, rows_of, shape_of
from .gumbel import GumbelCache, gumbel_backward_kernel


def gumbel_rao_forward(logits, temperature, samples: int = 10, *, u=None, rng=None):
    r"""The Gumbel-max draw ``z`` and ``M = samples`` conditional perturbations for the backward pass.

    Parameters
    ----------
    logits : array_like, shape (..., K)
        Finite.
    temperature : float or array_like
        ``T > 0``; one per row allowed.
    samples : int, default 10
        ``M >= 1``, the perturbations averaged by the backward pass.
    u : array_like, shape (samples + 1, ..., K), optional
        Uniform noise: ``u[0]`` in ``[0, 1)`` draws ``z`` (``G = -log(-log u[0])``),
        ``u[1:]`` in ``(0, 1)`` the conditional perturbations (``E = -log(1 - u)``).
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng``.

    Returns
    -------
    z : ndarray, shape (..., K), one-hot
    cache : GumbelCache
        ``y_soft`` holds the ``M`` relaxed samples, shape ``(M, ..., K)``;
        :func:`gumbel_rao_backward` averages over them.
    """
    logits = checked(logits=("real", logits))
    temperature, samples = checked(temperature=("scale", temperature, rows_of(logits, "logits")), samples=("int", samples, 1))
    temperature = temperature if isinstance(temperature, float) else temperature[..., None]  # one T per row, against its K entries
    # the draw's noise, then one set per perturbation, each of the shape of logits
    u = uniform(u, rng, Like((samples + 1,) + logits.shape, "samples + 1 stacked copies of logits"))
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a category axis with K >= 1, shape (..., K); got shape {logits.shape}")
    if np.any(u[1:] == 0):  # E = -log(1 - 0) = 0 would put the maximum at +inf
        raise ValueError("u[1:] (the perturbations' noise) must lie in (0, 1): a 0 there is an exponential draw of 0")
    return gumbel_rao_forward_kernel(logits, temperature, u)


def gumbel_rao_forward_kernel(logits, temperature, u):
    """:func:`gumbel_rao_forward` on checked arrays."""
    index = np.argmax(logits + gumbel_kernel(u[0]), axis=-1)  # the Gumbel-max draw
    log_e = np.log(-np.log1p(-u[1:]))  # log E, E ~ Exp(1)
    drawn = np.broadcast_to(index[None, ..., None], log_e.shape[:-1] + (1,))
    # exp underflowing to 0 is exactly right, here and below; so is (perturbed - t)/T overflowing to -inf (tiny T)
    with np.errstate(under="ignore", over="ignore"):
        top = logsumexp(logits, axis=-1, keepdims=True) - np.take_along_axis(log_e, drawn, axis=-1)  # the maximum t
        perturbed = -np.logaddexp(-top, log_e - logits)  # truncated below t
        np.put_along_axis(perturbed, drawn, top, axis=-1)
        y_soft = np.exp((perturbed - top) / temperature)  # shifted by the maximum: entries <= 0 before exp
        y_soft /= y_soft.sum(axis=-1, keepdims=True)
        noise = perturbed - logits  # the perturbations' Gumbel noise (inf where logits near -1.7e308 meet it)
    cache = GumbelCache(y_soft=y_soft, temperature=temperature, hard=True, index=index, gumbel=noise)
    return one_hot_kernel(index, logits.shape[-1]), cache


def gumbel_rao_backward(dz, cache: GumbelCache) -> np.ndarray:
    r"""Logit gradient of Gumbel-Rao: the Gumbel-softmax VJP averaged over the ``M`` perturbations.

    .. math:: d\theta = \frac1M \sum_s \frac1T\, y_s \odot \bigl(dz - \langle dz, y_s\rangle\bigr)

    Parameters
    ----------
    dz : array_like, shape (..., K)
        Upstream gradient at the one-hot draw; finite.
    cache : GumbelCache
        From :func:`gumbel_rao_forward` (``y_soft`` of shape ``(M, ..., K)``).

    Returns
    -------
    dlogits : ndarray, shape (..., K); rows sum to zero.
    """
    if not isinstance(cache, GumbelCache):
        raise TypeError(f"cache must be the GumbelCache from gumbel_rao_forward, got {type(cache).__name__}")
    dz = checked(dz=("upstream", dz, shape_of(cache.y_soft[0], "cache.y_soft[0] (the forward output)")))
    return finite(gumbel_rao_backward_kernel(dz, cache), "the Gumbel-Rao logit gradient")


def gumbel_rao_backward_kernel(dz, cache: GumbelCache) -> np.ndarray:
    """:func:`gumbel_rao_backward` on checked arrays."""
    return gumbel_backward_kernel(dz, cache).mean(axis=0)
