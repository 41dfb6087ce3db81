r"""The pluggable parts of Algorithm 1: the normalisation ``h`` and the intermediate loss ``L_I``.

Algorithm 1 is written for any ``h`` (mapping a stepped sample back to a
distribution) and any ``L_I(π, π_D)`` (pulling the model distribution ``π``
towards the SGD target ``π_D``).  Each is a small record of functions, every
forward with its backward:

:class:`Normalization`
    ``forward(z) -> h(z)`` and ``backward(dy, z) -> dz`` (the VJP of ``h``).
:class:`IntermediateLoss`
    ``forward(probs, pi_d) -> L_I`` per row, ``backward(probs, pi_d) -> ∂L_I/∂π``
    with ``π_D`` held fixed, and optionally ``logits_backward(probs, pi_d)``,
    the same gradient already chained through the softmax in a closed form
    that stays finite where ``π`` underflows.

The post's choices are the defaults: ``h = SUM_NORMALIZATION`` and
``L_I = KL`` (``KL(π_D ‖ π)``).  ``SQUARED_ERROR`` is shipped as an
alternative so that pluggability is real.  Build your own by instantiating
the records; the backward passes are checked by ``ils-ref selfcheck`` and the
test suite for the shipped ones, and :func:`ils_ref.check_vjp` checks yours.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from ..ops.normalization import normalize_backward_kernel, normalize_kernel
from ..ops.softmax import softmax_backward_kernel


class Normalization(NamedTuple):
    """``h`` of Algorithm 1: ``forward(z)`` over the last axis and its VJP ``backward(dy, z)``."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray]


class IntermediateLoss(NamedTuple):
    """``L_I(π, π_D)`` of Algorithm 1, differentiated in ``π`` with ``π_D`` fixed.

    ``forward(probs, pi_d)`` returns one value per row; ``backward(probs,
    pi_d, eps=0.0)`` returns ``∂L_I/∂π`` (``eps`` is the prototype's guard
    added to ``π`` in denominators; losses without one ignore it);
    ``logits_backward(probs, pi_d)``, if given, returns the gradient chained
    through the softmax, otherwise :func:`ils_ref.softmax_backward` of
    ``backward`` is used.
    """

    name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backward: Callable[..., np.ndarray]
    logits_backward: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None


#: ``h(z) = z / Σz``, the post's normalisation (see :mod:`ils_ref.ops.normalization`).
SUM_NORMALIZATION = Normalization("sum", normalize_kernel, normalize_backward_kernel)


# --------------------------------------------------------------------------
# KL(π_D ‖ π)


def _kl_forward(probs: np.ndarray, pi_d: np.ndarray) -> np.ndarray:
    # Σ π_D log π_D - Σ π_D log π, with 0·log 0 = 0.  For π_D on the simplex
    # this is KL(π_D ‖ π); for a π_D with negative entries (policy "signed")
    # the first sum runs over its positive entries only: a constant in π, so
    # the gradient is the same formula either way.
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy_part = np.where(pi_d > 0, pi_d * np.log(np.where(pi_d > 0, pi_d, 1.0)), 0.0)
        cross_part = np.where(pi_d != 0, -pi_d * np.log(probs), 0.0)
    return (entropy_part + cross_part).sum(axis=-1)


def _kl_backward(probs: np.ndarray, pi_d: np.ndarray, eps: float = 0.0) -> np.ndarray:
    # ∂/∂π_k of -π_D,k log π_k = -π_D,k / π_k (0 where π_D,k = 0, even if π_k = 0).
    # eps > 0 only for the prototype variant, which divided by π + 1e-7.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(pi_d == 0, 0.0, -pi_d / (probs + eps))


def _kl_logits_backward(probs: np.ndarray, pi_d: np.ndarray) -> np.ndarray:
    # Through the softmax: dθ = π ⊙ (g - <g, π>) with g = -π_D/π gives
    # dθ = -π_D + π Σπ_D.  The closed form never divides by π, so it stays
    # finite where π underflows to 0 (there dθ_k = -π_D,k, the right limit).
    return probs * pi_d.sum(axis=-1, keepdims=True) - pi_d


#: ``L_I = KL(π_D ‖ π)``, the post's intermediate loss; through the softmax its
#: gradient is ``π - π_D`` whenever ``Σπ_D = 1``.
KL = IntermediateLoss("kl", _kl_forward, _kl_backward, _kl_logits_backward)


# --------------------------------------------------------------------------
# ½‖π - π_D‖²


def _sq_forward(probs: np.ndarray, pi_d: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum((probs - pi_d) ** 2, axis=-1)


def _sq_backward(probs: np.ndarray, pi_d: np.ndarray, eps: float = 0.0) -> np.ndarray:
    return probs - pi_d


def _sq_logits_backward(probs: np.ndarray, pi_d: np.ndarray) -> np.ndarray:
    return softmax_backward_kernel(probs - pi_d, probs)


#: ``L_I = ½‖π - π_D‖²``: bounded gradients, defined for any real ``π_D``.
SQUARED_ERROR = IntermediateLoss("squared_error", _sq_forward, _sq_backward, _sq_logits_backward)

LOSSES = {loss.name: loss for loss in (KL, SQUARED_ERROR)}
NORMALIZATIONS = {SUM_NORMALIZATION.name: SUM_NORMALIZATION}


def resolve_loss(loss) -> IntermediateLoss:
    """An :class:`IntermediateLoss`, or the name of a shipped one (``"kl"``, ``"squared_error"``)."""
    if isinstance(loss, IntermediateLoss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or an IntermediateLoss, got {loss!r}")


def resolve_normalization(h) -> Normalization:
    """A :class:`Normalization`, ``None`` (the default, sum normalisation) or ``"sum"``."""
    if h is None:
        return SUM_NORMALIZATION
    if isinstance(h, Normalization):
        return h
    if isinstance(h, str) and h in NORMALIZATIONS:
        return NORMALIZATIONS[h]
    raise ValueError(f"h must be one of {sorted(NORMALIZATIONS)} or a Normalization, got {h!r}")
