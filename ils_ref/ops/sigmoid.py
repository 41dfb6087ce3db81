r"""The logistic function ``σ(x) = 1 / (1 + e^{-x})`` and its backward pass.

``σ`` is the softmax of the pair ``(0, x)`` read off at the second entry: the
``K = 2`` case of :mod:`ils_ref.ops.softmax`, used by Bernoulli ILS.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..validation import checked, shape_of


def sigmoid(x) -> np.ndarray:
    r"""The logistic function ``σ(x) = 1 / (1 + e^{-x})``, elementwise.

    Parameters
    ----------
    x : array_like, any shape
        Finite, or ``±inf`` (giving exactly 1 or 0).

    Returns
    -------
    y : ndarray, shape of ``x``, in ``[0, 1]``

    Notes
    -----
    SciPy's :func:`scipy.special.expit` evaluates only ``exp(-|x|)``, so no
    input overflows and ``σ(x)`` keeps its relative accuracy for very
    negative ``x`` (where it is ``e^x / (1 + e^x)``).
    """
    return expit(checked(x=("extended_real", x)))


def sigmoid_backward(dy, y) -> np.ndarray:
    r"""VJP of :func:`sigmoid`: ``dx = dy · y (1 - y)`` with ``y = σ(x)``.

    .. math:: \frac{d\sigma}{dx} = \sigma(x)\,(1 - \sigma(x))

    Parameters
    ----------
    dy : array_like, shape of ``y``
        Upstream gradient; finite.
    y : array_like
        The forward output, in ``[0, 1]``.
    """
    y = checked(y=("unit_interval", y))
    dy = checked(dy=("upstream", dy, shape_of(y, "y")))
    with np.errstate(under="ignore"):  # a product below 1e-308 is 0 (or subnormal): exact enough
        return dy * y * (1.0 - y)
