r"""Gaussian ILS: ``z ~ N(μ, σ²)`` by reparameterisation, learning the mean ``μ``.

Forward: ``z = μ + σ ε`` with ``ε = Φ⁻¹(u)`` (standard normal noise from
uniforms, so another implementation can replay the draw) or drawn from a
generator.  Backward, given ``g = ∂L/∂z``: the SGD step on the sample is
``z - α g`` (for a location family the map back to a distribution is just
"the Gaussian centred there", so ``h`` is the identity on the mean), the
target is ``π_D = N(z - α g, σ²)``, and the intermediate loss is

.. math::

    \mathrm{KL}\bigl(N(m_D, \sigma^2)\,\|\,N(\mu, \sigma^2)\bigr) = \frac{(m_D - \mu)^2}{2\sigma^2},
    \qquad
    \frac{\partial}{\partial \mu} = \frac{\mu - m_D}{\sigma^2} = \frac{\alpha g - \sigma\varepsilon}{\sigma^2}.

``σ`` is a fixed, known scale here (not learned).

The expected ILS gradient
-------------------------
Since ``E ε = 0``,

.. math::

    \mathbb{E}\Bigl[\frac{\partial \mathrm{KL}}{\partial\mu}\Bigr]
      = \frac{\alpha}{\sigma^2}\,\mathbb{E}\bigl[g(z)\bigr]
      = \frac{\alpha}{\sigma^2}\,\frac{\partial}{\partial\mu}\mathbb{E}\,L(z),

the reparameterisation gradient ``E[∂L/∂z]`` scaled by ``α/σ²``: with
``α = σ²`` Gaussian ILS is an *unbiased* estimator of it, at any other ``α`` a
rescaled one.  The price is the term ``-ε/σ``, zero-mean noise of variance
``1/σ²`` that does not shrink with ``α``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ._validation import (
    as_real_array,
    gradient_array,
    require_finite,
    require_finite_result,
    require_same_shape,
    scalar_or_array,
)
from .sampling import normal_noise


def gaussian_kl(mean_p, mean_q, sigma) -> np.ndarray:
    r"""``KL(N(m_p, σ²) ‖ N(m_q, σ²)) = (m_p - m_q)² / (2σ²)``, elementwise (equal variances)."""
    mp, mq, s = _means(mean_p, mean_q, sigma)
    with np.errstate(over="ignore"):  # an overflow is reported below, not returned as inf
        out = 0.5 * ((mp - mq) / s) ** 2
    return require_finite_result(out, "gaussian_kl: ((mean_p - mean_q) / sigma)^2")


def gaussian_kl_backward(dout, mean_p, mean_q, sigma) -> tuple[np.ndarray, np.ndarray]:
    r"""VJP of :func:`gaussian_kl`: ``(dm_p, dm_q) = dout · ((m_p - m_q)/σ², (m_q - m_p)/σ²)``."""
    mp, mq, s = _means(mean_p, mean_q, sigma)
    dout = as_real_array(dout, "dout")
    require_same_shape(dout, "dout", mp, "mean_p")
    require_finite(dout, "dout")
    with np.errstate(over="ignore"):
        d = require_finite_result(dout * ((mp - mq) / s) / s, "gaussian_kl_backward: dout * (mean_p - mean_q) / sigma^2")
    return d, -d


def _means(mean_p, mean_q, sigma):
    mp, mq = as_real_array(mean_p, "mean_p"), as_real_array(mean_q, "mean_q")
    require_same_shape(mp, "mean_p", mq, "mean_q")
    require_finite(mp, "mean_p")
    require_finite(mq, "mean_q")
    return mp, mq, scalar_or_array(sigma, "sigma", mp.shape, positive=True)


@dataclass(frozen=True)
class GaussianCache:
    """``mu``, ``sigma`` (float or array of ``mu``'s shape), the noise ``eps`` and the draw ``z``."""

    mu: np.ndarray
    sigma: object
    eps: np.ndarray
    z: np.ndarray


def gaussian_ils_forward(mu, sigma, *, u=None, rng=None) -> tuple[np.ndarray, GaussianCache]:
    r"""Draw ``z = μ + σ ε``, elementwise.

    Parameters
    ----------
    mu : array_like, any shape
        Finite means.
    sigma : float or array_like broadcastable to ``mu``
        Standard deviations, ``> 0``.
    u : array_like, shape of ``mu``, optional
        Uniform noise in the *open* interval (0, 1); ``ε = Φ⁻¹(u)``.
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng`` (``ε = rng.standard_normal``).
    """
    mu = as_real_array(mu, "mu")
    require_finite(mu, "mu")
    s = scalar_or_array(sigma, "sigma", mu.shape, positive=True)
    eps = normal_noise(mu.shape, u=u, rng=rng, like=f"mu of shape {mu.shape}")
    with np.errstate(over="ignore"):
        z = require_finite_result(mu + s * eps, "the draw z = mu + sigma * eps (mu or sigma too large)")
    return z, GaussianCache(mu=mu, sigma=s, eps=eps, z=z)


def gaussian_ils_backward(dz, cache: GaussianCache, alpha) -> np.ndarray:
    r"""Backward pass of Gaussian ILS: ``dμ = (μ - (z - α g)) / σ² = (α g - σ ε) / σ²``."""
    if not isinstance(cache, GaussianCache):
        raise TypeError(f"cache must be the GaussianCache from gaussian_ils_forward, got {type(cache).__name__}")
    g = gradient_array(dz, "dz", cache.z.shape, "the shape of z")
    a = scalar_or_array(alpha, "alpha", cache.z.shape, nonnegative=True)
    target_mean = cache.z - a * g  # one SGD step on the sample
    return (cache.mu - target_mean) / (cache.sigma * cache.sigma)


def expected_ils_gradient(expected_dz, sigma, alpha):
    """The derived expectation ``(α/σ²) E[∂L/∂z]`` (see the module docstring)."""
    return alpha / (np.asarray(sigma, dtype=np.float64) ** 2) * np.asarray(expected_dz, dtype=np.float64)
