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
rescaled one.  With one ``σ`` per coordinate the scaling is per coordinate too,
``diag(α/σ²)·∇``: not one scalar times ``∇`` unless every ``σ`` is the same.

Its noise is ``α(g - E g)/σ² - ε/σ``; both terms move with the draw ``z``, so
the spread depends on the loss.  For ``L = (z - c)²/2`` (``g = z - c``) the
estimate is ``α(μ - c)/σ² + (α - 1)ε/σ``, of spread ``|α - 1|/σ``.  At
``α = σ²`` that is ``|σ² - 1|/σ`` against the reparameterisation estimator's
``σ``: noisier when ``σ² < 1/2``, quieter when ``σ² > 1/2``, noiseless at
``σ = 1`` (tutorial 07 measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops.sampling import normal
from ..validation import checked, finite, shape_of


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
    mu = checked(mu=("real", mu))
    s = checked(sigma=("scale", sigma, shape_of(mu, "mu")))
    eps = normal(u, rng, shape_of(mu, "mu"))  # rng.standard_normal, or ε = Φ⁻¹(u)
    with np.errstate(over="ignore", under="ignore"):
        z = finite(mu + s * eps, "the draw z = mu + sigma * eps (mu or sigma too large)")
    return z.copy(), GaussianCache(mu=mu.copy(), sigma=np.copy(s) if isinstance(s, np.ndarray) else s, eps=eps, z=z)


def gaussian_ils_backward(dz, cache: GaussianCache, alpha) -> np.ndarray:
    r"""Backward pass of Gaussian ILS: ``dμ = (μ - (z - α g)) / σ² = (α g - σ ε) / σ²``."""
    cache = checked(cache=(GaussianCache, cache))
    g, a = checked(dz=("upstream", dz, shape_of(cache.z, "cache.z (the forward output)")),
                   alpha=("step", alpha, shape_of(cache.z, "cache.z")))
    # (μ - m_D)/σ² with m_D = z - α g = μ + σ ε - α g: (α g/σ - ε)/σ, from ε itself (μ - z loses σ ε
    # to rounding where σ << |μ|: at μ = 1e6, σ = 1e-11 the noise term vanished), and divided by σ
    # twice so that σ² cannot underflow
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return finite((a * g / cache.sigma - cache.eps) / cache.sigma,
                      "the Gaussian ILS gradient (sigma too small or alpha * dz too large)")


def expected_ils_gradient(expected_dz, sigma, alpha):
    """The derived expectation ``(α/σ²) E[∂L/∂z]`` (see the module docstring)."""
    return alpha / (np.asarray(sigma, dtype=np.float64) ** 2) * np.asarray(expected_dz, dtype=np.float64)
