r"""Divergences and their backward passes: categorical, Bernoulli and Gaussian KL.

ILS uses ``KL(π_D ‖ π)`` as its default intermediate loss, with the target
``π_D`` held fixed, so ``dq`` is the half of each backward pass that the
algorithm needs; ``dp`` is provided (and checked) all the same.  The Bernoulli
and Gaussian divergences are the intermediate losses of Bernoulli and
Gaussian ILS (:mod:`ils_ref.estimators.bernoulli`, :mod:`ils_ref.estimators.gaussian`).

The forward terms ``p log(p/q)`` with ``0·log 0 = 0`` are SciPy's
:func:`scipy.special.rel_entr`, which stays accurate for probabilities near
1e-300 and where ``p/q`` leaves the float64 range; every backward pass is
written out here.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from ..validation import checked, finite, rows_of, shape_of

# --------------------------------------------------------------------------
# KL(p ‖ q) over the last axis


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
    """
    p = checked(p=("nonnegative", p))
    q = checked(q=("nonnegative", q, shape_of(p, "p")))
    kl = rel_entr(p, q).sum(axis=-1)
    genuine = np.any((p > 0) & (q == 0), axis=-1)  # +inf is the right answer only there
    finite(kl[~genuine], "kl_divergence(p, q) for a row without q = 0 < p (p or q beyond float64 in sum)")
    return kl


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
    p = checked(p=("nonnegative", p))
    q, dout = checked(q=("nonnegative", q, shape_of(p, "p")), dout=("real", dout, rows_of(p, "p")))
    both = (p > 0) & (q > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):  # boundary: np.where
        ratio = p / q
        # log(p/q) is exact to an ulp of the ratio (log p - log q would cancel for p ≈ q ≈ 1e-300);
        # only where the ratio leaves the normal range (|log| > 708) is the difference of logs used.
        in_range = (ratio >= np.finfo(np.float64).tiny) & (ratio < np.inf)
        log_ratio = np.where(in_range, np.log(ratio), np.log(p) - np.log(q))
        dlocal_p = np.where(both, log_ratio + 1.0, np.where(q > 0, -np.inf, np.inf))
        dlocal_q = np.where(both, -ratio, np.where(p > 0, -np.inf, 0.0))
        d = dout[..., None]
        dp = np.where(d == 0, 0.0, d * dlocal_p)  # 0 · inf = 0: no upstream gradient, no change
        dq = np.where(d == 0, 0.0, d * dlocal_q)
    finite(dp[both], "kl_divergence_backward: dout * log(p/q) where p, q > 0 (rescale dout)")
    finite(dq[both], "kl_divergence_backward: dout * p/q where p, q > 0 (rescale dout)")
    return dp, dq


# --------------------------------------------------------------------------
# Bernoulli KL, elementwise


def bernoulli_kl(p, q) -> np.ndarray:
    r"""``KL(Bernoulli(p) ‖ Bernoulli(q))``, elementwise.

    .. math::

        p \log\frac{p}{q} + (1 - p)\log\frac{1 - p}{1 - q}

    ``0 log 0 = 0``; ``+inf`` where ``q`` gives zero probability to an
    outcome that ``p`` does not.
    """
    p = checked(p=("unit_interval", p))
    q = checked(q=("unit_interval", q, shape_of(p, "p")))
    return rel_entr(p, q) + rel_entr(1.0 - p, 1.0 - q)


def bernoulli_kl_backward(dout, p, q) -> tuple[np.ndarray, np.ndarray]:
    r"""VJP of :func:`bernoulli_kl`: returns ``(dp, dq)``.

    .. math::

        \frac{\partial}{\partial p} = \log\frac{p(1-q)}{q(1-p)}, \qquad
        \frac{\partial}{\partial q} = \frac{q - p}{q(1 - q)}

    For ``0 < p, q < 1``; ILS only needs ``dq``, at ``q = σ(θ)`` strictly
    inside (0, 1).  Outside the open interval the one-sided limits are
    returned (``±inf``, or 0 where ``dout = 0`` or where ``p = q`` on the
    boundary, where the term is flat), never NaN.
    """
    p = checked(p=("unit_interval", p))
    q, dout = checked(q=("unit_interval", q, shape_of(p, "p")), dout=("real", dout, shape_of(p, "p")))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # boundaries resolved just below
        dp = np.log(p) - np.log(q) - np.log1p(-p) + np.log1p(-q)
        dq = (q - p) / (q * (1.0 - q))
        dp, dq = np.nan_to_num(dp, nan=0.0, posinf=np.inf, neginf=-np.inf), np.nan_to_num(dq, nan=0.0, posinf=np.inf, neginf=-np.inf)
        dp, dq = np.where(dout == 0, 0.0, dout * dp), np.where(dout == 0, 0.0, dout * dq)
    interior = (p > 0) & (p < 1) & (q > 0) & (q < 1)
    finite(dp[interior], "bernoulli_kl_backward: dout * log(p(1-q)/(q(1-p))) (rescale dout, or p, q within 1e-308 of 0 or 1)")
    finite(dq[interior], "bernoulli_kl_backward: dout * (q-p)/(q(1-q)) (rescale dout, or q within 1e-308 of 0 or 1)")
    return dp, dq


# --------------------------------------------------------------------------
# Gaussian KL at equal variances, elementwise


def gaussian_kl(mean_p, mean_q, sigma) -> np.ndarray:
    r"""``KL(N(m_p, σ²) ‖ N(m_q, σ²)) = (m_p - m_q)² / (2σ²)``, elementwise (equal variances)."""
    mp = checked(mean_p=("real", mean_p))
    mq, s = checked(mean_q=("real", mean_q, shape_of(mp, "mean_p")), sigma=("scale", sigma, shape_of(mp, "mean_p")))
    with np.errstate(over="ignore", under="ignore"):  # an overflow is reported, not returned
        return finite(0.5 * ((mp - mq) / s) ** 2, "gaussian_kl: ((mean_p - mean_q) / sigma)^2")


def gaussian_kl_backward(dout, mean_p, mean_q, sigma) -> tuple[np.ndarray, np.ndarray]:
    r"""VJP of :func:`gaussian_kl`: ``(dm_p, dm_q) = dout · ((m_p - m_q)/σ², (m_q - m_p)/σ²)``."""
    mp = checked(mean_p=("real", mean_p))
    like = shape_of(mp, "mean_p")
    mq, s, dout = checked(mean_q=("real", mean_q, like), sigma=("scale", sigma, like), dout=("real", dout, like))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # dout = 0 is 0, whatever the rest
        d = finite(np.where(dout == 0, 0.0, dout * ((mp - mq) / s) / s),
                   "gaussian_kl_backward: dout * (mean_p - mean_q) / sigma^2")
    return d, -d
