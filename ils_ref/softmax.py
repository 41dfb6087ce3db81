"""Softmax and log-softmax over the last axis, each with its backward pass.

Read this file top to bottom: every forward function is followed by its
vector-Jacobian product (VJP).  A backward function ``op_backward(dy, y)``
takes the upstream gradient ``dy = dL/dy`` and the forward *output* ``y`` and
returns ``dx = dL/dx`` with ``x.shape``.

The public functions validate their arguments; the underscore kernels below
them do the arithmetic only and are what the rest of the package calls on
arrays it has already checked.
"""

from __future__ import annotations

import numpy as np

from ._validation import (
    PROB_SUM_ATOL,
    as_real_array,
    category_array,
    linear_in_rows,
    logits_array,
    probs_array,
    require_finite,
    require_no_nan,
    require_rows_sum_to_one,
    require_same_shape,
)

# --------------------------------------------------------------------------
# softmax


def _shifted(logits: np.ndarray) -> np.ndarray:
    # Subtract the row maximum: softmax is shift-invariant and afterwards every
    # entry is <= 0, so exp() cannot overflow.  The maximum is finite because
    # a row of all -inf was rejected; x - max can only overflow (to -inf) when
    # x and max are ~1.8e308 apart, and exp(-inf) = 0 is then exactly right.
    with np.errstate(over="ignore"):
        return logits - logits.max(axis=-1, keepdims=True)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = _shifted(logits)  # a fresh array: exponentiate and normalise it in place
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
    return _softmax(logits_array(x, "x"))


def _softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
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
    y = probs_array(y, "y")
    dy = category_array(dy, "dy")
    require_same_shape(dy, "dy", y, "y")
    require_finite(dy, "dy")
    return linear_in_rows(_softmax_backward, dy, y, what="softmax_backward(dy, y)")


# --------------------------------------------------------------------------
# log-softmax


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = _shifted(logits)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


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
    return _log_softmax(logits_array(x, "x"))


def _log_softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


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
    y = category_array(y, "y")
    require_no_nan(y, "y")
    if np.any(y > PROB_SUM_ATOL):
        raise ValueError(f"y must hold log-probabilities (entries <= 0 or -inf); got {float(y.max()):.3g}")
    require_rows_sum_to_one(np.exp(y), "exp(y)")
    dy = as_real_array(dy, "dy")
    require_same_shape(dy, "dy", y, "y")
    require_finite(dy, "dy")
    return linear_in_rows(_log_softmax_backward, dy, y, what="log_softmax_backward(dy, y)")
