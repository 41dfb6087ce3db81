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
``∂L_I/∂θ = π - π_D``.  :func:`ils_kernel` is exactly these three lines;
the backward never forms ``h``'s Jacobian.

Leaving the simplex
-------------------
``w_j = α(g_k - g_j)`` is negative whenever a category that was not drawn
has a larger gradient than the drawn one: for a generic loss, on most draws
(61-93% on tutorial 08's quadratics); then ``π_D = h(w)`` is not a
distribution and ``KL(π_D ‖ π)`` is not defined.  ``policy`` says what to do:

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

from ..ops.sampling import one_hot_kernel, sample_categorical_kernel, uniform
from ..ops.softmax import softmax_backward_kernel, softmax_kernel
from ..validation import all_finite, checked, finite, rows_of, shape_of
from .ils_training import nonpositive_sum_error
from .intermediate import KL, LOSSES, SUM_NORMALIZATION, IntermediateLoss, Normalization

POLICIES = ("clip", "signed", "raise")

#: The prototype's additive guard in ``-π_D / (π + 1e-7)``.
PROTOTYPE_EPS = 1e-7


@dataclass(frozen=True)
class ILSCache:
    """What the backward pass needs from the forward pass (its own arrays, shared with nobody).

    Attributes
    ----------
    probs : ndarray, shape (..., K)
        ``π = softmax(logits)``.
    index : ndarray of int, shape (...)
        The drawn category ``k`` per row.
    masked : ndarray of bool, shape (..., K), or None
        Where ``logits == -inf`` (``None`` when no logit is ``-inf``).
    z : ndarray, shape (..., K)
        The one-hot draw ``e_k`` (a property: a fresh array built from ``index``).

    The logits themselves are not kept: the backward pass needs only ``π``,
    ``k`` and the mask.
    """

    probs: np.ndarray
    index: np.ndarray
    masked: np.ndarray | None = None

    @property
    def z(self) -> np.ndarray:
        return one_hot_kernel(self.index, self.probs.shape[-1])


def make_cache(logits: np.ndarray, index: np.ndarray, probs: np.ndarray) -> ILSCache:
    """An :class:`ILSCache` from checked logits, drawn categories and ``π = softmax(logits)``.

    ``probs`` is the kernel's fresh array (nobody else holds it); the drawn
    categories are kept as ``intp`` (any integer dtype is accepted: a
    ``uint64`` index once made flat positions float64).
    """
    masked = None if all_finite(logits) else np.isneginf(logits)  # -inf logits are rare: one cheap pass
    return ILSCache(probs=probs, index=index.astype(np.intp), masked=masked)


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
    logits = checked(logits=("logits", logits))
    u = uniform(u, rng, rows_of(logits, "logits"))  # one uniform per row: checked u, or drawn from rng
    probs = softmax_kernel(logits)
    cache = make_cache(logits, sample_categorical_kernel(probs, u), probs)
    return cache.z, cache


def ils_cache(logits, index) -> ILSCache:
    """The cache of a draw given explicitly by its category ``index`` (shape ``logits.shape[:-1]``).

    This is how another implementation's draw is replayed: same logits, same
    drawn categories, then :func:`ils_backward`.
    """
    logits = checked(logits=("logits", logits))
    index = checked(index=("index", index, rows_of(logits, "logits")))
    if index.size and np.any(np.take_along_axis(logits, index[..., None], axis=-1) == -np.inf):
        raise ValueError("index selects a category whose entry in logits is -inf (probability 0)")
    return make_cache(logits, index, softmax_kernel(logits))


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


# --------------------------------------------------------------------------
# The kernels: Algorithm 1 on checked arguments


def ils_kernel(dz, cache: ILSCache, alpha, policy: str = "clip"):
    """Steps 1-3 with the post's ``h = z/Σz`` and ``L_I = KL(π_D ‖ π)``: ``(Δ, z - αΔ, π_D, dθ)``.

    What :func:`ils_backward` runs by default; ``alpha`` is a float or one per
    row (shape ``(..., 1)``).  It computes and checks nothing: the policies'
    errors are raised from its result (:func:`check_step`).
    """
    z = cache.z  # the one-hot draw, e_k
    g_k = np.take_along_axis(dz, cache.index[..., None], axis=-1)  # the drawn category's gradient
    delta = dz - g_k  # 1. Δ = g·∂h/∂z at z = e_k:  Δ_j = g_j - g_k
    w = z - alpha * delta  # 2. one SGD step on the sample, z - αΔ ...
    if cache.masked is not None:
        w[cache.masked] = 0.0  # (a category of probability 0 stays there)
    stepped = np.maximum(w, 0.0) if policy == "clip" else w
    pi_d = stepped / stepped.sum(axis=-1, keepdims=True)  # ... mapped back by h: π_D = h(z - αΔ)
    return delta, w, pi_d, cache.probs - pi_d  # 3. ∂KL(π_D ‖ π)/∂θ = π - π_D  (Σπ_D = 1)


def generic_kernel(dz, cache: ILSCache, alpha, policy: str, loss: IntermediateLoss, h: Normalization, prototype_eps):
    """Steps 1-3 for any ``h`` and ``L_I`` (``prototype_eps`` not None: the prototype's output)."""
    z = cache.z
    delta = h.backward(dz, z)  # 1. Δ = g·∂h/∂z
    w = z - alpha * delta  # 2. the SGD step on the sample ...
    if cache.masked is not None:
        w[cache.masked] = 0.0
    pi_d = h.forward(np.maximum(w, 0.0) if policy == "clip" else w)  # ... mapped back by h
    if prototype_eps is not None:  # 3. the prototype: ∂L_I/∂π returned as if it were ∂L_I/∂θ
        return delta, w, pi_d, loss.backward(cache.probs, pi_d, prototype_eps)
    if loss.logits_backward is not None:  # 3. ∂L_I/∂θ in closed form
        return delta, w, pi_d, loss.logits_backward(cache.probs, pi_d)
    return delta, w, pi_d, softmax_backward_kernel(loss.backward(cache.probs, pi_d), cache.probs)


def check_step(w: np.ndarray, pi_d: np.ndarray, policy: str, h: Normalization, alpha) -> None:
    """The errors a step can meet, read off the kernel's ``w = z - αΔ`` and ``π_D``.

    A negative entry of ``w`` under ``"raise"``; ``Σw <= 0`` under ``"signed"``
    (where ``h = z/Σz`` is undefined or flips every sign); and, for
    ``h = z/Σz``, a ``π_D`` whose row does not sum to one: ``Σw`` overflowed
    float64, and ``π_D`` collapsed to 0 (``dθ`` would be a finite ``π``).
    """
    if policy == "raise" and np.any(w < 0):
        raise ValueError(
            f"z - alpha*Delta has a negative entry in row {_first_row(np.any(w < 0, axis=-1))}: pi_D = "
            f"h(z - alpha*Delta) leaves the simplex (policy='raise'); use policy='clip' or 'signed'"
        )
    if policy == "signed" and h is SUM_NORMALIZATION:
        nonpositive = w.sum(axis=-1) <= 0
        if np.any(nonpositive):
            raise nonpositive_sum_error(nonpositive, alpha)
    if h is SUM_NORMALIZATION and not np.all(np.abs(pi_d.sum(axis=-1) - 1.0) < 0.5):  # NaN fails too
        raise ValueError("the ILS logit gradient is not representable in float64: alpha * dz (its g_k - g) "
                         "overflows in some row; rescale dz (the loss) or alpha")


def _first_row(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _run(dz, cache, alpha, loss, h, policy, prototype, prototype_eps):
    """:func:`ils_backward` and :func:`ils_step`: the arguments checked, the kernel for these options,
    its result checked.  Returns ``(Δ, z - αΔ, π_D, dθ)`` and the intermediate loss ``L_I``."""
    cache = checked(cache=(ILSCache, cache))
    dz, alpha = checked(dz=("upstream", dz, shape_of(cache.probs, "cache.probs (the forward output)")),
                        alpha=("step", alpha, rows_of(cache.probs, "cache.probs")))
    alpha = alpha if isinstance(alpha, float) else alpha[..., None]  # one α per row, against the K entries of the row
    loss, h, prototype_eps = _options(loss, h, policy, prototype, prototype_eps)
    with np.errstate(all="ignore"):  # α·g beyond float64 gives inf/NaN: reported by finite(), never returned
        if loss is KL and h is SUM_NORMALIZATION and prototype_eps is None:
            step = ils_kernel(dz, cache, alpha, policy)
        else:
            step = generic_kernel(dz, cache, alpha, policy, loss, h, prototype_eps)
        check_step(step[1], step[2], policy, h, alpha)
    finite(step[3], "the ILS logit gradient (alpha * dz beyond float64?)")
    return step, loss


def _options(loss, h, policy, prototype, prototype_eps):
    """The options of :func:`ils_backward`, checked: ``(loss, h, prototype_eps or None)``."""
    loss = LOSSES.get(loss, loss) if isinstance(loss, str) else loss
    if not isinstance(loss, IntermediateLoss):
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or an IntermediateLoss, got {loss!r:.60}")
    h = SUM_NORMALIZATION if h is None or h == SUM_NORMALIZATION.name else h
    if not isinstance(h, Normalization):
        raise ValueError(f"h must be one of {[SUM_NORMALIZATION.name]} or a Normalization, got {h!r:.60}")
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r:.60}")
    if not isinstance(prototype, (bool, np.bool_)):
        raise TypeError(f"prototype must be True or False, got {prototype!r:.60}")
    if prototype_eps is not PROTOTYPE_EPS:  # the default needs no check
        prototype_eps = checked(prototype_eps=("nonnegative_scalar", prototype_eps))
    return loss, h, prototype_eps if prototype else None


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
        ``L_I``; see :mod:`ils_ref.estimators.intermediate`.
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
    With the post's ``h`` and ``L_I`` this runs :func:`ils_kernel`, the three
    steps above line by line; other ``h``, ``L_I`` and the prototype run
    :func:`generic_kernel`.  Cost: a handful of elementwise passes over
    ``(..., K)``; no Python loop over rows and no ``K×K`` Jacobian.
    :func:`ils_step` returns the same result with ``Δ``, ``z - αΔ`` and ``π_D``
    for inspection.
    """
    (_, _, _, dlogits), _ = _run(dz, cache, alpha, loss, h, policy, prototype, prototype_eps)
    return dlogits


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
    (delta, w, pi_d, dlogits), loss = _run(dz, cache, alpha, loss, h, policy, prototype, prototype_eps)
    with np.errstate(divide="ignore"):  # ∂L_I/∂π is ±inf where π = 0 < π_D: documented
        dprobs = loss.backward(cache.probs, pi_d)
    return ILSStep(dz=np.array(dz, dtype=np.float64), delta=delta, w=w, pi_d=pi_d, dprobs=dprobs, dlogits=dlogits)
