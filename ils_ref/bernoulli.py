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
``KL(p_D ‖ p)``, and through the sigmoid its gradient is ``p - p_D``.  The
test suite checks that this equals categorical ILS at ``K = 2`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import (
    as_real_array,
    gradient_array,
    require_finite,
    require_finite_result,
    require_no_nan,
    require_same_shape,
    scalar_or_array,
)
from .sampling import uniform_noise

# --------------------------------------------------------------------------
# sigmoid


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x) -> np.ndarray:
    r"""The logistic function ``σ(x) = 1 / (1 + e^{-x})``, elementwise.

    Parameters
    ----------
    x : array_like, any shape
        Finite, or ``±inf`` (giving exactly 1 or 0).

    Notes
    -----
    Only ``exp(-|x|)`` is evaluated, so no input overflows; ``σ(x)`` for very
    negative ``x`` keeps its relative accuracy (``e^x / (1 + e^x)``).
    """
    x = as_real_array(x, "x")
    require_no_nan(x, "x")
    return _sigmoid(x)


def sigmoid_backward(dy, y) -> np.ndarray:
    r"""VJP of :func:`sigmoid`: ``dx = dy · y (1 - y)`` with ``y = σ(x)``.

    .. math:: \frac{d\sigma}{dx} = \sigma(x)\,(1 - \sigma(x))
    """
    y = as_real_array(y, "y")
    require_finite(y, "y")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("y must be a sigmoid output, in [0, 1]")
    dy = as_real_array(dy, "dy")
    require_same_shape(dy, "dy", y, "y")
    require_finite(dy, "dy")
    return dy * y * (1.0 - y)


# --------------------------------------------------------------------------
# Bernoulli KL


def _xlogy_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a log(a/b)`` with ``0 log 0 = 0`` and ``+inf`` where ``b = 0 < a``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a > 0, a * (np.log(np.where(a > 0, a, 1.0)) - np.log(b)), 0.0)
    return out


def bernoulli_kl(p, q) -> np.ndarray:
    r"""``KL(Bernoulli(p) ‖ Bernoulli(q))``, elementwise.

    .. math::

        p \log\frac{p}{q} + (1 - p)\log\frac{1 - p}{1 - q}

    ``0 log 0 = 0``; ``+inf`` where ``q`` gives zero probability to an
    outcome that ``p`` does not.
    """
    p, q = _pq(p, q)
    return _xlogy_ratio(p, q) + _xlogy_ratio(1.0 - p, 1.0 - q)


def _pq(p, q):
    p, q = as_real_array(p, "p"), as_real_array(q, "q")
    require_same_shape(p, "p", q, "q")
    for arr, name in ((p, "p"), (q, "q")):
        require_finite(arr, name)
        if np.any((arr < 0) | (arr > 1)):
            raise ValueError(f"{name} must hold Bernoulli parameters in [0, 1]")
    return p, q


def bernoulli_kl_backward(dout, p, q) -> tuple[np.ndarray, np.ndarray]:
    r"""VJP of :func:`bernoulli_kl`: returns ``(dp, dq)``.

    .. math::

        \frac{\partial}{\partial p} = \log\frac{p(1-q)}{q(1-p)}, \qquad
        \frac{\partial}{\partial q} = \frac{q - p}{q(1 - q)}

    For ``0 < p, q < 1``; ILS only needs ``dq``, at ``q = σ(θ)`` strictly
    inside (0, 1).  Outside the open interval the one-sided limits are
    returned (``±inf``, or 0 where ``dout = 0``), never NaN.
    """
    p, q = _pq(p, q)
    dout = as_real_array(dout, "dout")
    require_same_shape(dout, "dout", p, "p")
    require_finite(dout, "dout")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # overflow is caught below
        dp = np.log(p) - np.log(q) - np.log1p(-p) + np.log1p(-q)
        dq = (q - p) / (q * (1.0 - q))
    dp = np.where(np.isnan(dp), 0.0, dp)  # p = q at the boundary: inf - inf; the term is flat there
    dq = np.where(np.isnan(dq), 0.0, dq)
    with np.errstate(invalid="ignore", over="ignore"):
        dp, dq = np.where(dout == 0, 0.0, dout * dp), np.where(dout == 0, 0.0, dout * dq)
    interior = (p > 0) & (p < 1) & (q > 0) & (q < 1)
    if not (np.isfinite(dp[interior]).all() and np.isfinite(dq[interior]).all()):
        raise ValueError(
            "bernoulli_kl_backward: the gradient overflows float64 (q or p within ~1e-308 of 0 or 1, "
            "or dout too large); rescale dout or move p, q away from the boundary"
        )
    return dp, dq


# --------------------------------------------------------------------------
# Bernoulli ILS


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
    logits = as_real_array(logits, "logits")
    require_no_nan(logits, "logits")
    probs = _sigmoid(logits)
    u = uniform_noise(logits.shape, u=u, rng=rng, like=f"logits of shape {logits.shape}")
    b = (u >= 1.0 - probs).astype(np.float64)
    return b, BernoulliCache(logits=logits, probs=probs, b=b)


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
    return require_finite_result(cache.probs - p_d, "the Bernoulli ILS gradient")


def bernoulli_target(db, cache: BernoulliCache, alpha, *, policy: str = "clip") -> np.ndarray:
    """``p_D`` of :func:`bernoulli_ils_backward` (same arguments), for inspection and reuse."""
    if not isinstance(cache, BernoulliCache):
        raise TypeError(f"cache must be the BernoulliCache from bernoulli_ils_forward, got {type(cache).__name__}")
    if policy not in ("clip", "signed"):
        raise ValueError(f"policy must be 'clip' or 'signed', got {policy!r}")
    g = gradient_array(db, "db", cache.b.shape, "the shape of b")
    a = scalar_or_array(alpha, "alpha", cache.b.shape, nonnegative=True)
    b = cache.b
    # the stepped pair: the drawn entry stays 1, the other is α·(g_drawn - g_other)
    other = np.where(b == 1, a * g, -a * g)  # b = 1: w_0 = α g ; b = 0: w_1 = -α g
    if policy == "clip":
        other = np.maximum(other, 0.0)
    total = 1.0 + other
    if np.any(total <= 0):
        raise ValueError("w_0 + w_1 <= 0 for some bit (policy='signed'): p_D is undefined; use policy='clip'")
    return np.where(b == 1, 1.0 / total, other / total)
