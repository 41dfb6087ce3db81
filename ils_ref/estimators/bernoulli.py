r"""Bernoulli ILS: independent bits ``b ~ Bernoulli(σ(θ))``, with its pieces.

The post says ILS "can extend to non-categorical random variables assuming you
can find a loss function that is closed-form differentiable with respect to
the parameters".  For one bit the extension is exact: write ``b`` as the
one-hot pair ``z = (1 - b, b)`` over two categories with logits ``(0, θ)``
(so ``softmax = (1 - p, p)``, ``p = σ(θ)``) and the upstream gradient
``g = ∂L/∂b`` as ``dz = (0, g)``.  Categorical ILS with the sum normalisation
then gives, with ``g⁺ = max(g, 0)`` and ``g⁻ = max(-g, 0)`` (clip policy):

.. math::

    b = 1:\ \ p_D = \frac{1}{1 + \alpha g^+}, \qquad
    b = 0:\ \ p_D = \frac{\alpha g^-}{1 + \alpha g^-}

— the bit is stepped against its gradient and ``h`` maps the stepped pair back
to a Bernoulli parameter.  The intermediate loss is the Bernoulli KL
``KL(p_D ‖ p)`` (:func:`ils_ref.bernoulli_kl`), and through the sigmoid its
gradient is ``p - p_D``.  The
test suite checks that this equals categorical ILS at ``K = 2`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scipy.special import expit

from ..ops.sampling import uniform
from ..validation import checked, finite, shape_of


@dataclass(frozen=True)
class BernoulliCache:
    """``probs = σ(logits)`` and the drawn bits ``b`` (float 0/1), same shape."""

    logits: np.ndarray
    probs: np.ndarray
    b: np.ndarray


def bernoulli_ils_forward(logits, *, u=None, rng=None) -> tuple[np.ndarray, BernoulliCache]:
    r"""Draw ``b ~ Bernoulli(σ(logits))`` exactly, elementwise.

    ``b = 1`` iff ``u >= 1 - p``: the inverse-CDF rule of
    :func:`ils_ref.sample_categorical` for the pair ``(1 - p, p)``, so the
    same ``u`` gives the same draw as categorical ILS at ``K = 2``.

    Parameters
    ----------
    logits : array_like, any shape
        Finite (``±inf`` allowed: probability exactly 1 or 0).
    u : array_like, shape of ``logits``, optional
        Uniform noise in ``[0, 1)``.
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng``.

    Returns
    -------
    b : ndarray of float (0.0 or 1.0), shape of ``logits``
    cache : BernoulliCache
    """
    logits = checked(logits=("extended_real", logits))
    u = uniform(u, rng, shape_of(logits, "logits"))  # one uniform per entry
    probs = expit(logits)  # σ(θ), see ils_ref.sigmoid
    b = (u >= 1.0 - probs).astype(np.float64)
    return b.copy(), BernoulliCache(logits=logits.copy(), probs=probs, b=b)


def bernoulli_ils_backward(db, cache: BernoulliCache, alpha, *, policy: str = "clip") -> np.ndarray:
    r"""Backward pass of Bernoulli ILS: ``dθ = p - p_D``.

    .. math::

        p_D = \frac{w_1}{w_0 + w_1},\quad
        (w_0, w_1) = (1 - b, b) - \alpha\Delta,\quad
        \Delta = \bigl(-b\,g,\ (1 - b)\,g\bigr)

    (``Δ`` is the sum-normalisation VJP of categorical ILS at the pair; the
    drawn entry's ``Δ`` is 0).  ``policy="clip"`` clips ``w`` at 0 first, so
    ``p_D`` is always in [0, 1]; ``"signed"`` does not, and raises where
    ``w_0 + w_1 <= 0``.

    Parameters
    ----------
    db : array_like, shape of the draw
        Upstream gradient ``g = ∂L/∂b``.
    cache : BernoulliCache
    alpha : float or array_like
        Step size ``α >= 0`` (or one per element).
    policy : {"clip", "signed"}

    Returns
    -------
    dlogits : ndarray, shape of the draw
    """
    p_d = bernoulli_target(db, cache, alpha, policy=policy)  # checks every argument, the cache first
    return cache.probs - p_d


def bernoulli_target(db, cache: BernoulliCache, alpha, *, policy: str = "clip") -> np.ndarray:
    """``p_D`` of :func:`bernoulli_ils_backward` (same arguments), for inspection and reuse."""
    cache = checked(cache=(BernoulliCache, cache))
    g, alpha = checked(db=("upstream", db, shape_of(cache.b, "cache.b (the forward output)")),
                       alpha=("step", alpha, shape_of(cache.b, "cache.b")))
    if not isinstance(policy, str) or policy not in ("clip", "signed"):
        raise ValueError(f"policy must be one of ('clip', 'signed'), got {policy!r}")
    b = cache.b
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # α·g beyond float64: reported by finite()
        # the stepped pair: the drawn entry stays 1, the other is α·(g_drawn - g_other)
        other = np.where(b == 1, alpha * g, -alpha * g)  # b = 1: w_0 = α g ; b = 0: w_1 = -α g
        if policy == "clip":
            other = np.maximum(other, 0.0)
        if np.any(other == np.inf):  # as categorical ILS: α·g beyond float64 is an error, not a limit
            raise ValueError("the Bernoulli ILS target is not representable in float64: alpha * db overflows; "
                             "rescale the loss or alpha")
        total = 1.0 + other
        if np.any(total <= 0):
            raise ValueError("w_0 + w_1 <= 0 for some bit (policy='signed'): p_D is undefined; use policy='clip'")
        return finite(np.where(b == 1, 1.0 / total, other / total), "p_D of Bernoulli ILS (alpha * db beyond float64?)")
