"""The Kullback-Leibler divergence over the last axis, and its backward pass.

ILS uses ``KL(π_D ‖ π)`` as its default intermediate loss, with the target
``π_D`` held fixed, so ``dq`` is the half of the backward pass that the
algorithm needs; ``dp`` is provided (and checked) all the same.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_real_array, category_array, require_finite, require_nonnegative, require_same_shape

_TINY = np.finfo(np.float64).tiny


def _pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    p = category_array(p, "p")
    q = category_array(q, "q")
    require_same_shape(p, "p", q, "q")
    for arr, name in ((p, "p"), (q, "q")):
        require_finite(arr, name)
        require_nonnegative(arr, name)
    return p, q


def _log_ratio(p: np.ndarray, q: np.ndarray, both: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(p/q)`` and ``p/q`` where ``both`` (p > 0 and q > 0); 0 and 1 elsewhere.

    ``log(p / q)`` is accurate to an ulp of the ratio, whereas
    ``log p - log q`` loses absolute accuracy ``~ eps·|log p|`` when p and q
    are close and tiny.  The difference of logs is used only where the ratio
    overflows or underflows.
    """
    ps = np.where(both, p, 1.0)
    qs = np.where(both, q, 1.0)
    with np.errstate(over="ignore", under="ignore"):
        ratio = ps / qs
    ok = np.isfinite(ratio) & (ratio >= _TINY)
    log_ratio = np.where(ok, np.log(np.where(ok, ratio, 1.0)), np.log(ps) - np.log(qs))
    return log_ratio, ratio


def _times(dout: np.ndarray, local: np.ndarray) -> np.ndarray:
    """``dout * local`` with ``0 · inf = 0``: an entry with zero upstream gradient does not move the loss."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(dout == 0, 0.0, dout * local)


def _kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    both = (p > 0) & (q > 0)
    log_ratio, _ = _log_ratio(p, q, both)
    terms = np.where(both, p * log_ratio, np.where(p > 0, np.inf, 0.0))
    return terms.sum(axis=-1)


def kl_divergence(p, q) -> np.ndarray:
    r"""Kullback-Leibler divergence ``KL(p ‖ q)`` over the last axis.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \sum_k p_k \log\frac{p_k}{q_k},
        \qquad 0 \log\frac{0}{q} = 0,\quad p\log\frac{p}{0} = +\infty\ (p > 0)

    Parameters
    ----------
    p, q : array_like, shape (..., K)
        Non-negative, finite.  For rows that sum to one this is the KL
        divergence (``>= 0``, zero iff ``p = q``); other rows get the same
        formula, which can then be negative.

    Returns
    -------
    kl : ndarray, shape (...)
        One value per row; ``+inf`` (never NaN) where some ``q_k = 0 < p_k``.

    Notes
    -----
    Each term is computed as ``p·log(p/q)``, which is accurate to rounding
    even for probabilities near ``1e-300``; ``log p - log q`` is the fallback
    only where ``p/q`` leaves the float64 range.
    """
    p, q = _pair(p, q)
    with np.errstate(over="ignore"):
        kl = _kl_divergence(p, q)
    genuine = np.any((p > 0) & (q == 0), axis=-1)  # +inf is the right answer only there
    if not np.isfinite(kl[~genuine]).all():
        raise ValueError(
            "kl_divergence(p, q) overflows float64 for a row without q = 0 < p (p or q is huge: "
            "rows need not sum to 1, but must stay within float64)"
        )
    return kl


def _kl_divergence_backward(dout: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos_p, pos_q = p > 0, q > 0
    both = pos_p & pos_q
    log_ratio, ratio = _log_ratio(p, q, both)
    # Local derivatives of one term p·log(p/q); see the table in the docstring.
    dlocal_p = np.where(both, log_ratio + 1.0, np.where(pos_q, -np.inf, np.inf))
    dlocal_q = np.where(both, -ratio, np.where(pos_p, -np.inf, 0.0))
    d = dout[..., None]
    return _times(d, dlocal_p), _times(d, dlocal_q)


def kl_divergence_backward(dout, p, q) -> tuple[np.ndarray, np.ndarray]:
    r"""Vector-Jacobian product of :func:`kl_divergence`.

    .. math::

        \frac{\partial\,\mathrm{KL}}{\partial p_k} = \log\frac{p_k}{q_k} + 1,
        \qquad
        \frac{\partial\,\mathrm{KL}}{\partial q_k} = -\frac{p_k}{q_k},

    each multiplied by the row's upstream gradient ``dout``.

    Parameters
    ----------
    dout : array_like, shape (...)
        Upstream gradient, one value per row (``p.shape[:-1]``); finite.
    p, q : array_like, shape (..., K)
        As for :func:`kl_divergence`.

    Returns
    -------
    dp, dq : ndarray, shape (..., K)

    Notes
    -----
    On the boundary of the domain one-sided limits are returned, signed by
    ``dout`` (and 0 wherever ``dout = 0``); NaN is never returned:

    ========  ========  =====================  ===============
    ``p_k``   ``q_k``   ``dp_k / dout``        ``dq_k / dout``
    ========  ========  =====================  ===============
    ``> 0``   ``> 0``   ``log(p/q) + 1``       ``-p/q``
    ``0``     ``> 0``   ``-inf``               ``0``
    ``> 0``   ``0``     ``+inf``               ``-inf``
    ``0``     ``0``     ``+inf``               ``0``
    ========  ========  =====================  ===============

    ``dq_k = 0`` where ``p_k = 0`` because that term is identically zero in
    ``q``.  With ``π_D`` in the role of ``p``, this is why a category that the
    SGD step moved to probability zero contributes nothing to ILS.
    """
    p, q = _pair(p, q)
    dout = as_real_array(dout, "dout")
    if dout.shape != p.shape[:-1]:
        raise ValueError(
            f"dout has shape {dout.shape} but must have shape {p.shape[:-1]} (one value per row of p)"
        )
    require_finite(dout, "dout")
    dp, dq = _kl_divergence_backward(dout, p, q)
    interior = (p > 0) & (q > 0)
    if not (np.isfinite(dp[interior]).all() and np.isfinite(dq[interior]).all()):
        raise ValueError(
            "kl_divergence_backward: dout * log(p/q) or dout * p/q overflows float64 where p, q > 0; "
            "rescale dout (infinities are returned only where p or q is 0)"
        )
    return dp, dq
