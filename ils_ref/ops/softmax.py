"""Softmax and log-softmax over the last axis, each with its backward pass.

Read this file top to bottom: every forward function is followed by its
vector-Jacobian product (VJP).  A backward function ``op_backward(dy, y)``
takes the upstream gradient ``dy = dL/dy`` and the forward *output* ``y`` and
returns ``dx = dL/dx`` with ``x.shape``.

Each public function checks its arguments (:func:`ils_ref.validation.checked`)
and then applies the formula.  The formulas that other modules of the package reuse on arrays they
have already checked are the ``*_kernel`` functions.
"""

from __future__ import annotations

import numpy as np

from ..validation import PROB_SUM_ATOL, checked, finite, shape_of

# --------------------------------------------------------------------------
# softmax


def softmax_kernel(logits: np.ndarray) -> np.ndarray:
    """``softmax`` of checked logits (finite or ``-inf``, no all ``-inf`` row)."""
    # Shift by the row maximum: softmax is shift-invariant and afterwards every
    # entry is <= 0, so exp() cannot overflow (logits of ±700 and beyond are fine).
    # x - m overflows to -inf only for logits ~1.8e308 apart, where exp gives the exact 0;
    # exp underflows to 0 below -745, also exactly right (whatever np.seterr says).
    with np.errstate(over="ignore", under="ignore"):
        e = logits - logits.max(axis=-1, keepdims=True)
        np.exp(e, out=e)  # the max entry gives exp(0) = 1, so each row sums to >= 1
        e /= e.sum(axis=-1, keepdims=True)
    return e


def softmax(x) -> np.ndarray:
    r"""Softmax over the last axis.

    .. math::

        y_i = \frac{e^{x_i}}{\sum_j e^{x_j}}
            = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad m = \max_j x_j

    Parameters
    ----------
    x : array_like, shape (..., K)
        Logits.  Finite values, or ``-inf`` to mask a category (its
        probability is exactly 0).  Integers and float32 are converted to
        float64.

    Returns
    -------
    y : ndarray, shape (..., K)
        Probabilities; every row sums to one.

    Raises
    ------
    TypeError
        ``x`` is ``None``, complex, boolean or not numeric.
    ValueError
        ``x`` is 0-d, has ``K = 0``, contains NaN or ``+inf``, or has a row
        that is entirely ``-inf``.

    Notes
    -----
    Shifting by the row maximum leaves the result unchanged and keeps every
    exponent ``<= 0``, so logits as large as ``±1e300`` give finite output.
    """
    return softmax_kernel(checked(x=("logits", x)))


def softmax_backward_kernel(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``softmax_backward`` on checked arrays: ``y ⊙ (dy - <dy, y>)``."""
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def softmax_backward(dy, y) -> np.ndarray:
    r"""Vector-Jacobian product of :func:`softmax`.

    .. math::

        \frac{\partial y_i}{\partial x_j} = y_i(\delta_{ij} - y_j)
        \quad\Longrightarrow\quad
        dx_j = \sum_i dy_i\, y_i(\delta_{ij} - y_j)
             = y_j\Bigl(dy_j - \sum_i dy_i\, y_i\Bigr)

    Parameters
    ----------
    dy : array_like, shape (..., K)
        Upstream gradient ``dL/dy``; finite.
    y : array_like, shape (..., K)
        The forward output ``softmax(x)``: finite, non-negative, rows summing
        to one (within ``PROB_SUM_ATOL = 1e-6``).

    Returns
    -------
    dx : ndarray, shape (..., K)
        ``dL/dx``.  Every row sums to zero, because adding a constant to all
        logits does not change ``y``.

    Notes
    -----
    The full Jacobian ``diag(y) - y yᵀ`` is never formed: the VJP costs
    ``O(K)`` per row.  Masked categories (``y_j = 0``) get ``dx_j = 0``.
    """
    y = checked(y=("probs", y))
    dy = checked(dy=("upstream", dy, shape_of(y, "y")))
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # |dy| near 1e308: reported by finite()
        return finite(softmax_backward_kernel(dy, y), "softmax_backward(dy, y) (|dy| near the float64 limit)")


# --------------------------------------------------------------------------
# log-softmax


def log_softmax(x) -> np.ndarray:
    r"""Log of :func:`softmax`, computed without forming the probabilities.

    .. math::

        y_i = x_i - \log\sum_j e^{x_j} = (x_i - m) - \log\sum_j e^{x_j - m},
        \qquad m = \max_j x_j

    Parameters
    ----------
    x : array_like, shape (..., K)
        Logits, as for :func:`softmax` (``-inf`` masks a category).

    Returns
    -------
    y : ndarray, shape (..., K)
        Log-probabilities, ``<= 0``; ``-inf`` exactly where ``x`` is ``-inf``.

    Notes
    -----
    ``log(softmax(x))`` would turn probabilities below ``1e-308`` into
    ``-inf``; here the shifted logits are used directly, so ``x = (0, -1000)``
    gives ``(0, -1000)`` to rounding, not ``(0, -inf)``.  The sum inside the
    log is at least 1 (the maximum contributes ``e^0``), so the log is safe.
    """
    return log_softmax_kernel(checked(x=("logits", x)))


def log_softmax_kernel(x: np.ndarray) -> np.ndarray:
    """:func:`log_softmax` on checked logits."""
    with np.errstate(over="ignore", under="ignore"):  # as in softmax
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(dy, y) -> np.ndarray:
    r"""Vector-Jacobian product of :func:`log_softmax`.

    .. math::

        \frac{\partial y_i}{\partial x_j} = \delta_{ij} - p_j,\quad p = e^{y}
        \quad\Longrightarrow\quad
        dx_j = dy_j - p_j \sum_i dy_i

    Parameters
    ----------
    dy : array_like, shape (..., K)
        Upstream gradient ``dL/dy``; finite.
    y : array_like, shape (..., K)
        The forward output ``log_softmax(x)``: entries ``<= 0`` or ``-inf``,
        with ``exp(y)`` summing to one per row.

    Returns
    -------
    dx : ndarray, shape (..., K)
        ``dL/dx``; rows sum to zero.

    Notes
    -----
    A masked category (``y_j = -inf``) has ``p_j = 0``; its ``dx_j = dy_j``
    is what the formula gives, but no finite change of a ``-inf`` logit
    moves anything.  Pass ``dy_j = 0`` there if that matters to you.
    """
    y = checked(y=("extended_real", y))  # log-probabilities: no NaN, entries <= 0 or -inf, exp(y) in the simplex
    above = y > PROB_SUM_ATOL  # +inf among them
    if above.any():
        raise ValueError(f"y must hold log-probabilities (entries <= 0 or -inf), got {float(y[above].flat[0]):.3g} "
                         f"at index {tuple(int(i) for i in np.argwhere(above)[0])}")
    with np.errstate(under="ignore"):
        checked(**{"exp(y)": ("probs", np.exp(y))})
    dy = checked(dy=("upstream", dy, shape_of(y, "y")))
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # |dy| near 1e308: reported by finite()
        return finite(dy - np.exp(y) * dy.sum(axis=-1, keepdims=True), "log_softmax_backward(dy, y) (|dy| near the float64 limit)")
