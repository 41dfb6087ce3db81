"""The normalisation ``h(z) = z / Σz`` of Algorithm 1, and its backward pass.

In ILS, ``h`` does two jobs: its VJP at the one-hot sample turns the upstream
gradient into the step direction ``Δ``, and ``h(z - αΔ)`` maps the stepped
sample back to (something that should be) a distribution.
"""

from __future__ import annotations

import numpy as np

from ._validation import category_array, linear_in_rows, require_finite, require_finite_result, require_same_shape


def _scaled(z: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``w = z / m``, ``m = max|z|`` and ``t = Σw`` per row, rejecting zero sums.

    ``h`` is scale-invariant, so dividing by the row's largest magnitude first
    changes nothing mathematically and keeps ``Σz`` from overflowing when the
    entries are near 1.8e308.
    """
    m = np.abs(z).max(axis=-1, keepdims=True)
    zero = m == 0  # an all-zero row: nothing to scale by, and its sum is zero anyway
    if not zero.any():
        w = z / m
        t = w.sum(axis=-1, keepdims=True)
        zero = t == 0
    if zero.any():
        idx = tuple(int(i) for i in np.argwhere(zero[..., 0])[0])
        raise ValueError(
            f"{name} has a row that sums to zero (batch index {idx}); "
            f"h(z) = z / sum(z) needs a non-zero sum"
        )
    return w, m, t


def _normalize(z: np.ndarray) -> np.ndarray:
    w, _, t = _scaled(z, "z")
    with np.errstate(over="ignore"):  # a sum that cancels to ~0; the caller reports the overflow
        return w / t


def normalize(z) -> np.ndarray:
    r"""Sum normalisation ``h(z) = z / Σ_k z_k`` over the last axis.

    .. math::

        h(z)_i = \frac{z_i}{s}, \qquad s = \sum_k z_k

    Parameters
    ----------
    z : array_like, shape (..., K)
        Finite, every row with a non-zero sum.  Negative entries are allowed
        (the result is then not a distribution; ILS decides what to do about
        that, see ``ils_ref.ils``).

    Returns
    -------
    y : ndarray, shape (..., K)
        Rows summing to one.

    Raises
    ------
    ValueError
        A row sums to exactly zero, ``z`` contains NaN/inf, or the result
        overflows (a sum that cancels to nearly zero).

    Notes
    -----
    Computed as ``(z/m) / Σ(z/m)`` with ``m = max|z|``: the same value, but
    the sum cannot overflow.
    """
    z = category_array(z, "z")
    require_finite(z, "z")
    return require_finite_result(_normalize(z), "normalize(z)")


def _normalize_backward(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    w, m, t = _scaled(z, "z")
    y = w / t
    # dz = (dy - <dy, y>) / s with s = m·t, divided in two steps so s cannot overflow.
    return (dy - np.sum(dy * y, axis=-1, keepdims=True)) / t / m


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
    z = category_array(z, "z")
    require_finite(z, "z")
    dy = category_array(dy, "dy")
    require_same_shape(dy, "dy", z, "z")
    require_finite(dy, "dy")
    return linear_in_rows(_normalize_backward, dy, z, what="normalize_backward(dy, z)")
