"""The normalisation ``h(z) = z / Σz`` of Algorithm 1, and its backward pass.

In ILS, ``h`` does two jobs: its VJP at the one-hot sample turns the upstream
gradient into the step direction ``Δ``, and ``h(z - αΔ)`` maps the stepped
sample back to (something that should be) a distribution.
"""

from __future__ import annotations

import numpy as np

from ..validation import checked, finite, shape_of


def normalize_kernel(z: np.ndarray) -> np.ndarray:
    """``z / Σz`` on checked rows (finite, non-zero sums)."""
    return z / z.sum(axis=-1, keepdims=True)


def normalize(z) -> np.ndarray:
    r"""Sum normalisation ``h(z) = z / Σ_k z_k`` over the last axis.

    .. math::

        h(z)_i = \frac{z_i}{s}, \qquad s = \sum_k z_k

    Parameters
    ----------
    z : array_like, shape (..., K)
        Finite, every row with a non-zero sum.  Negative entries are allowed
        (the result is then not a distribution; ILS decides what to do about
        that, see :mod:`ils_ref.estimators.ils`).

    Returns
    -------
    y : ndarray, shape (..., K)
        Rows summing to one.

    Raises
    ------
    ValueError
        A row sums to exactly zero, ``z`` contains NaN/inf, or the result
        overflows (a sum that cancels to nearly zero, or entries near the
        float64 limit whose sum overflows).
    """
    z = checked(z=("summable", z))
    with np.errstate(over="ignore", invalid="ignore"):  # reported by finite()
        return finite(normalize_kernel(z), "normalize(z) (a row sum that cancels to almost 0, or overflows)")


def normalize_backward_kernel(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``normalize_backward`` on checked arrays: ``(dy - <dy, h(z)>) / s``."""
    s = z.sum(axis=-1, keepdims=True)
    return (dy - np.sum(dy * (z / s), axis=-1, keepdims=True)) / s


def normalize_backward(dy, z) -> np.ndarray:
    r"""Vector-Jacobian product of :func:`normalize`.

    .. math::

        \frac{\partial h_i}{\partial z_j} = \frac{\delta_{ij}}{s} - \frac{z_i}{s^2}
        \quad\Longrightarrow\quad
        dz_j = \frac{1}{s}\Bigl(dy_j - \sum_i dy_i\, h_i\Bigr)

    Parameters
    ----------
    dy : array_like, shape (..., K)
        Upstream gradient ``dL/dh``; finite.
    z : array_like, shape (..., K)
        The forward *input* (as for :func:`normalize`).

    Returns
    -------
    dz : ndarray, shape (..., K)
        ``dL/dz``.  ``Σ_j z_j dz_j = 0``: scaling ``z`` does not change ``h``.

    Notes
    -----
    At a one-hot ``z = e_k`` (so ``s = 1``, ``h = e_k``) this is
    ``dz_j = dy_j - dy_k``: the ``Δ`` of Algorithm 1.
    """
    z = checked(z=("summable", z))
    dy = checked(dy=("upstream", dy, shape_of(z, "z")))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):  # reported by finite()
        return finite(normalize_backward_kernel(dy, z), "normalize_backward(dy, z) (a row sum near 0 or beyond float64)")
