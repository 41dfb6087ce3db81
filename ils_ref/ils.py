r"""Intermediate Loss Sampling (Algorithm 1 of the post): forward and backward.

Forward: draw ``z ~ Categorical(softmax(logits))`` exactly, as a one-hot
vector.  Backward, given the upstream gradient ``g = dz = ∂L/∂z``:

1. ``Δ = g · ∂h/∂z``, the VJP of the normalisation ``h`` at ``z``;
2. ``π_D = h(z - αΔ)``, one SGD step on the sample mapped back by ``h``;
3. return ``∂L_I(π, π_D)/∂π`` with ``π_D`` fixed, chained through the
   softmax to the logits.

With the defaults (``h(z) = z/Σz``, ``L_I = KL(π_D ‖ π)``) and the drawn
category ``k``, step 1 is ``Δ_j = g_j - g_k`` (so ``Δ_k = 0``), step 2 puts
``w_k = 1`` and ``w_j = α(g_k - g_j)`` for ``j ≠ k``, and step 3 is
``∂L_I/∂θ = π - π_D``.  The backward exploits this: it never forms ``h``'s
Jacobian, and ``w`` differs from ``-αΔ`` only at the drawn entry.

Leaving the simplex
-------------------
``w_j = α(g_k - g_j)`` is negative whenever a category that was not drawn
has a larger gradient than the drawn one, which for a generic loss is half
the time; then ``π_D = h(w)`` is not a distribution and ``KL(π_D ‖ π)`` is
not defined.  The ``policy`` argument says what to do:

``"clip"`` (default)
    ``π_D = h(max(w, 0))``: the SGD step, projected back onto the
    non-negative orthant before normalising.  ``π_D`` is then always a
    distribution (``w_k = 1``, so the sum is at least 1), ``L_I`` is the KL
    divergence the algorithm names, and the logit gradient ``π - π_D`` is
    bounded by 1 in every entry.  Where ``w >= 0`` already, it changes
    nothing.
``"signed"``
    ``π_D = h(w)`` as it comes, negative entries included: what the
    original prototype computed.  ``KL(π_D ‖ π)`` is extended by its
    cross-entropy part (the ``π_D log π_D`` term is constant in ``π``), so the
    gradient keeps the form ``π - π_D``; it is unbounded as ``Σw → 0``, and a
    row with ``Σw <= 0`` raises ``ValueError`` (``h`` is undefined or flips
    the sign of every entry).
``"raise"``
    ``ValueError`` if any ``w`` entry is negative, for users who want to know.

Categories masked by a ``-inf`` logit have ``π_j = 0`` and cannot move;
``w_j`` is set to 0 there under every policy, so ``π_D`` stays on the support
of ``π`` (otherwise ``KL(π_D ‖ π)`` would be ``+inf``).

The original prototype
----------------------
The prototype returned ``-π_D / (π + 1e-7)`` — the gradient with respect to
``π`` — as if it were the gradient with respect to the logits (the softmax
Jacobian was skipped), with no guard on ``h``.  ``prototype=True`` reproduces
that (use it with ``policy="signed"`` for the full original behaviour);
``softmax_backward`` of the prototype's output with ``prototype_eps=0`` is
exactly the default gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import gradient_array, logits_and_mask, real_scalar, require_finite_result, scalar_or_per_row
from .intermediate import KL, SUM_NORMALIZATION, resolve_loss, resolve_normalization
from .sampling import _one_hot, _sample_categorical, check_index, uniform_noise
from .softmax import _softmax, _softmax_backward

POLICIES = ("clip", "signed", "raise")

#: The prototype's additive guard in ``-π_D / (π + 1e-7)``.
PROTOTYPE_EPS = 1e-7


@dataclass(frozen=True)
class ILSCache:
    """What the backward pass needs from the forward pass.

    Attributes
    ----------
    logits : ndarray, shape (..., K)
    probs : ndarray, shape (..., K)
        ``softmax(logits)``.
    index : ndarray of int, shape (...)
        The drawn category per row.
    z : ndarray, shape (..., K)
        The one-hot draw.
    masked : ndarray of bool, shape (..., K), or None
        Where ``logits == -inf`` (``None`` when no logit is ``-inf``).
    """

    logits: np.ndarray
    probs: np.ndarray
    index: np.ndarray
    z: np.ndarray
    masked: np.ndarray | None = None


def _cache(logits: np.ndarray, masked: np.ndarray | None, index: np.ndarray, probs: np.ndarray) -> ILSCache:
    z = _one_hot(index, logits.shape[-1])
    return ILSCache(logits=logits, probs=probs, index=index, z=z, masked=masked)


def ils_forward(logits, *, u=None, rng=None) -> tuple[np.ndarray, ILSCache]:
    r"""Forward pass of ILS: the exact one-hot draw ``z ~ Categorical(softmax(logits))``.

    Parameters
    ----------
    logits : array_like, shape (..., K)
        Finite, or ``-inf`` to mask a category.
    u : array_like, shape (...), optional
        Explicit uniform noise in ``[0, 1)``, one per row; the draw is the
        inverse CDF rule of :func:`ils_ref.sample_categorical`.
    rng : numpy.random.Generator, optional
        Exactly one of ``u``, ``rng``.

    Returns
    -------
    z : ndarray, shape (..., K)
        One-hot draws (nothing relaxed, no temperature).
    cache : ILSCache
        For :func:`ils_backward`.
    """
    logits, masked = logits_and_mask(logits, "logits")
    u = uniform_noise(logits.shape[:-1], u=u, rng=rng, like=f"the rows of logits of shape {logits.shape}")
    probs = _softmax(logits)
    cache = _cache(logits, masked, _sample_categorical(probs, u), probs)
    return cache.z, cache


def ils_cache(logits, index) -> ILSCache:
    """The cache of a draw given explicitly by its category ``index`` (shape ``logits.shape[:-1]``).

    This is how another implementation's draw is replayed: same logits, same
    drawn categories, then :func:`ils_backward`.
    """
    logits, masked = logits_and_mask(logits, "logits")
    index = check_index(index, logits.shape)
    if index.size and np.any(np.take_along_axis(logits, index[..., None], axis=-1) == -np.inf):
        raise ValueError("index selects a category whose entry in logits is -inf (probability 0)")
    return _cache(logits, masked, index, _softmax(logits))


@dataclass(frozen=True)
class ILSStep:
    """Every intermediate quantity of one ILS backward pass (all shape (..., K)).

    Attributes
    ----------
    dz : upstream gradient ``g``
    delta : ``Δ``, the VJP of ``h`` at ``z``
    w : ``z - αΔ`` (masked categories zeroed), before the policy
    pi_d : ``π_D``, the target distribution of the intermediate loss
    dprobs : ``∂L_I/∂π`` with ``π_D`` fixed (may be ``±inf`` where ``π = 0``)
    dlogits : what :func:`ils_backward` returns
    """

    dz: np.ndarray
    delta: np.ndarray
    w: np.ndarray
    pi_d: np.ndarray
    dprobs: np.ndarray
    dlogits: np.ndarray


def _check_args(dz, cache, alpha, policy):
    if not isinstance(cache, ILSCache):
        raise TypeError(f"cache must be the ILSCache returned by ils_forward, got {type(cache).__name__}")
    # The kernels below write the drawn entries through flat C-order offsets:
    # a Fortran-ordered or strided dz must be laid out in C order first.
    dz = np.ascontiguousarray(gradient_array(dz, "dz", cache.z.shape, "the shape of z"))
    alpha = scalar_or_per_row(alpha, "alpha", cache.z.shape[:-1], nonnegative=True)
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    return dz, alpha


def _negative_w_error(row, alpha):
    return ValueError(
        f"z - alpha*Delta has a negative entry in row {row}: pi_D = h(z - alpha*Delta) leaves the simplex "
        f"(policy='raise'); use policy='clip' or 'signed'"
    )


def _alpha_at(alpha, row) -> float:
    return float(alpha if np.ndim(alpha) == 0 else alpha[row][0])


def _nonpositive_sum_error(row, alpha):
    return ValueError(
        f"sum(z - alpha*Delta) <= 0 in row {row} (alpha={_alpha_at(alpha, row):g}): pi_D = h(z - alpha*Delta) is "
        f"undefined there; use policy='clip' or a smaller alpha"
    )


def _first_row(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _drawn(index: np.ndarray, k: int) -> np.ndarray:
    """Flat positions of the drawn entries in a C-contiguous ``(..., K)`` array (O(rows), for any size)."""
    return np.arange(index.size) * k + index.reshape(-1)


def _gather(arr: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """The drawn entry of every row, shape ``(..., 1)``."""
    return np.ascontiguousarray(arr).reshape(-1)[flat].reshape(arr.shape[:-1] + (1,))


def _sum_target(dz, cache, alpha, policy):
    """Steps 1-2 for ``h = z/Σz`` at a one-hot ``z``, in compact form.

    With ``v = g_k - g = -Δ`` (so ``v_k = 0``), ``z - αΔ`` is ``αv`` off the
    drawn entry and 1 on it; its sum is ``1 + αΣv``.  Hence
    ``π_D = v·(α/total)`` off the drawn entry and ``1/total`` on it.  Returns
    ``(v, scale, inv_total)`` with ``v`` already policy-treated (a fresh
    array the caller may overwrite) and the per-row scalars of shape
    ``(..., 1)``; no ``K``-sized array besides ``v`` is formed.
    """
    v = np.subtract(_gather(dz, _drawn(cache.index, dz.shape[-1])), dz)
    if cache.masked is not None:
        v[cache.masked] = 0.0
    if policy == "clip":
        np.maximum(v, 0.0, out=v)
    elif policy == "raise" and np.any((v < 0) & (alpha > 0)):
        raise _negative_w_error(_first_row(np.any((v < 0) & (alpha > 0), axis=-1)), alpha)
    if not np.isfinite(v).all():
        raise ValueError("dz is too large: g_k - g overflows float64 in some row; rescale the loss")
    with np.errstate(over="ignore"):
        s = v.sum(axis=-1, keepdims=True)
        total = 1.0 + alpha * s
    if np.any(total <= 0):
        raise _nonpositive_sum_error(_first_row(total[..., 0] <= 0), alpha)
    big = ~np.isfinite(total)
    if not big.any():
        inv_total = 1.0 / total
        return v, alpha * inv_total, inv_total
    # α·Σv overflowed (α or the gradient near 1e308). In those rows divide everything by
    # α·m, m = max|v|: with r = 1/(α m) and S' = Σ v/m <= K, π_D = (v/m) / (r + S') off the
    # draw and r / (r + S') on it -- the same numbers, every intermediate finite.
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        m = np.where(big, np.abs(v).max(axis=-1, keepdims=True), 1.0)
        r = 1.0 / (alpha * m)
        denom = r + (v / m).sum(axis=-1, keepdims=True)
        if np.any(big & (denom <= 0)):
            raise _nonpositive_sum_error(_first_row((big & (denom <= 0))[..., 0]), alpha)
        inv_total = np.where(big, r / denom, 1.0 / np.where(big, 1.0, total))
        scale = np.where(big, (1.0 / m) / denom, alpha / np.where(big, 1.0, total))
    return v, scale, inv_total


def _assemble(v, scale, inv_total, index):
    """``π_D`` from the compact form of :func:`_sum_target` (overwrites ``v``)."""
    v *= scale
    v.reshape(-1)[_drawn(index, v.shape[-1])] = np.broadcast_to(inv_total, index.shape + (1,)).reshape(-1)
    return v


def _generic_target(dz, cache, alpha, h, policy):
    """Steps 1-2 for any ``h``: ``(Δ, z - αΔ, π_D)``."""
    delta = h.backward(dz, cache.z)
    w = cache.z - alpha * delta
    if cache.masked is not None:
        w[cache.masked] = 0.0
    w_raw = w.copy()
    if policy == "clip":
        np.maximum(w, 0.0, out=w)
    elif policy == "raise" and np.any(w < 0):
        raise _negative_w_error(_first_row(np.any(w < 0, axis=-1)), alpha)
    return delta, w_raw, require_finite_result(h.forward(w), "pi_D = h(z - alpha*Delta)")


def _dlogits(probs, pi_d, loss, prototype, prototype_eps):
    if prototype:
        return loss.backward(probs, pi_d, prototype_eps)
    if loss.logits_backward is not None:
        return loss.logits_backward(probs, pi_d)
    return _softmax_backward(loss.backward(probs, pi_d), probs)


def _options(loss, h, prototype, prototype_eps):
    loss, h = resolve_loss(loss), resolve_normalization(h)
    if prototype not in (True, False):
        raise TypeError(f"prototype must be True or False, got {prototype!r}")
    return loss, h, real_scalar(prototype_eps, "prototype_eps", nonnegative=True)


def ils_backward(
    dz,
    cache: ILSCache,
    alpha,
    *,
    loss="kl",
    h=None,
    policy: str = "clip",
    prototype: bool = False,
    prototype_eps=PROTOTYPE_EPS,
) -> np.ndarray:
    r"""Backward pass of ILS: the logit gradient of ``L_I(π, π_D)``, ``π_D = h(z - αΔ)``.

    .. math::

        \Delta = \frac{\partial h}{\partial z}^{\!\top} g, \qquad
        \pi_D = h(z - \alpha\Delta), \qquad
        d\theta = J_{\mathrm{softmax}}^\top\,
                  \frac{\partial L_I(\pi, \pi_D)}{\partial \pi}\Big|_{\pi_D\ \text{fixed}}

    With the defaults, at a draw of category ``k``:
    ``Δ_j = g_j - g_k`` and ``dθ = π - π_D``.

    Parameters
    ----------
    dz : array_like, shape (..., K)
        Upstream gradient ``g = ∂L/∂z``; finite.
    cache : ILSCache
        From :func:`ils_forward` (or :func:`ils_cache`).
    alpha : float or array_like
        Step size ``α >= 0``.  ``α = 0`` gives ``π_D = z`` and ``dθ = π - z``.
        An array broadcastable to the batch shape ``dz.shape[:-1]`` gives
        every row its own step (one call for a whole sweep over α).
    loss : {"kl", "squared_error"} or IntermediateLoss, default "kl"
        ``L_I``; see :mod:`ils_ref.intermediate`.
    h : None, "sum" or Normalization
        The normalisation (default ``z / Σz``).
    policy : {"clip", "signed", "raise"}, default "clip"
        What to do when ``z - αΔ`` leaves the non-negative orthant (module
        docstring).
    prototype : bool, default False
        Return ``∂L_I/∂π`` (for KL: ``-π_D / (π + prototype_eps)``) as the
        logit gradient, as the original prototype did.  Not a gradient of
        anything with respect to the logits; for comparison only.
    prototype_eps : float, default 1e-7
        The prototype's guard in the denominator.

    Returns
    -------
    dlogits : ndarray, shape (..., K)
        Rows sum to zero (default variant).

    Raises
    ------
    ValueError
        Non-finite ``dz`` or ``alpha``, ``alpha < 0``, wrong shapes, an unknown
        policy/loss, ``Σ(z - αΔ) <= 0`` under ``policy="signed"``, a negative
        entry under ``policy="raise"``, or a result that overflows.

    Notes
    -----
    Cost: a handful of elementwise passes over ``(..., K)``; no Python loop
    over rows and no ``K×K`` Jacobian.  :func:`ils_step` returns the same
    result with ``Δ``, ``z - αΔ`` and ``π_D`` for inspection.
    """
    dz, alpha = _check_args(dz, cache, alpha, policy)
    loss, h, prototype_eps = _options(loss, h, prototype, prototype_eps)
    if h is SUM_NORMALIZATION:
        out = _sum_backward(dz, cache, alpha, policy, loss, prototype, prototype_eps)
        if policy == "clip" and loss is KL and not prototype:
            return out  # π - π_D with both on the simplex: every entry lies in [-1, 1]
    else:
        _, _, pi_d = _generic_target(dz, cache, alpha, h, policy)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # checked just below
            out = _dlogits(cache.probs, pi_d, loss, prototype, prototype_eps)
    return require_finite_result(out, "the ILS logit gradient")


def _sum_backward(dz, cache, alpha, policy, loss=KL, prototype=False, prototype_eps=PROTOTYPE_EPS):
    """The backward pass for ``h = z/Σz`` on checked arguments (the kernel of :func:`ils_backward`)."""
    v, scale, inv_total = _sum_target(dz, cache, alpha, policy)
    if loss is KL and not prototype:
        # The default, in place on v: dθ = π - π_D (Σπ_D = 1 by construction).
        v *= scale
        np.subtract(cache.probs, v, out=v)
        flat = _drawn(cache.index, v.shape[-1])
        v.reshape(-1)[flat] = (_gather(cache.probs, flat) - inv_total).reshape(-1)
        return v
    with np.errstate(over="ignore"):
        return _dlogits(cache.probs, _assemble(v, scale, inv_total, cache.index), loss, prototype, prototype_eps)


def ils_step(
    dz,
    cache: ILSCache,
    alpha,
    *,
    loss="kl",
    h=None,
    policy: str = "clip",
    prototype: bool = False,
    prototype_eps=PROTOTYPE_EPS,
) -> ILSStep:
    """:func:`ils_backward` with every intermediate quantity kept (same arguments).

    Returns
    -------
    ILSStep
        ``dz``, ``delta``, ``w``, ``pi_d``, ``dprobs``, ``dlogits``.
    """
    dz, alpha = _check_args(dz, cache, alpha, policy)
    loss, h, prototype_eps = _options(loss, h, prototype, prototype_eps)
    if h is SUM_NORMALIZATION:
        g_k = np.take_along_axis(dz, cache.index[..., None], axis=-1)
        delta = dz - g_k
        with np.errstate(over="ignore"):  # for inspection only: the stepped vector may really exceed 1e308
            w = cache.z - alpha * delta
        if cache.masked is not None:
            w[cache.masked] = 0.0
        pi_d = _assemble(*_sum_target(dz, cache, alpha, policy), cache.index)
    else:
        delta, w, pi_d = _generic_target(dz, cache, alpha, h, policy)
    with np.errstate(over="ignore"):
        dlogits = require_finite_result(
            _dlogits(cache.probs, pi_d, loss, prototype, prototype_eps), "the ILS logit gradient"
        )
    return ILSStep(
        dz=dz, delta=delta, w=w, pi_d=pi_d, dprobs=loss.backward(cache.probs, pi_d), dlogits=dlogits
    )
