r"""Central finite differences: the Jacobian of any function, column by column.

.. math::

    J_{:, j} \approx \frac{f(x + h e_j) - f(x - h e_j)}{(x_j + h) - (x_j - h)}

The denominator is the step actually taken, which differs from ``2h`` by
rounding when ``|x_j| >> h``.  (:func:`ils_ref.check_vjp` chooses its own
steps: :mod:`ils_ref.gradcheck.steps`.)
"""

from __future__ import annotations

import numpy as np

from ..validation import checked
from .calls import Caller
from .core import EPS64 as EPS_MACHINE
from .steps import taken

#: Default central-difference step.  With float64 the truncation error
#: (``~h²`` times the third derivative) and the rounding error (``~ε·|f|/h``)
#: are both ``~1e-10`` relative for well-scaled functions.
DEFAULT_EPS = 1e-6


def fd_jacobian(fc: Caller, x: np.ndarray, eps: float, y_shape: tuple) -> np.ndarray:
    """Central differences: ``J`` of shape ``(m, n)`` (outputs by inputs)."""
    n = x.size
    flat = x.reshape(-1)
    h = steps_taken(x, eps)

    def points(lo, hi):  # points lo..hi-1 of the 2n: x + eps·e_j for j < n, then x - eps·e_j
        j = np.arange(lo, hi)
        pts = np.repeat(flat[None, :], hi - lo, axis=0)
        pts[np.arange(hi - lo), j % n] += np.where(j < n, eps, -eps)
        return pts.reshape((hi - lo,) + x.shape)

    def describe(i):
        where = tuple(int(k) for k in np.unravel_index(i % n, x.shape))
        return f"x {'+' if i < n else '-'} eps at input index {where}"

    values = fc.map(2 * n, points, y_shape, describe).reshape(2 * n, -1)
    plus, minus = values[:n], values[n:]
    with np.errstate(under="ignore"):  # tiny values and derivatives round to 0: fine
        return ((plus - minus) / h[:, None]).T


def steps_taken(x: np.ndarray, eps: float) -> np.ndarray:
    """``(x + eps) - (x - eps)`` per entry (flattened); refuse a step that vanishes in floating point."""
    flat = x.reshape(-1)
    h = taken(flat, eps)
    with np.errstate(under="ignore"):
        small = h <= np.abs(flat) * (4 * EPS_MACHINE)  # the step is lost in rounding (or entirely zero)
    if small.any():
        j = int(np.argmax(small))
        idx = tuple(int(i) for i in np.unravel_index(j, x.shape))
        raise ValueError(
            f"eps={eps:g} is too small for x at input index {idx} (x = {flat[j]:.3g}): x ± eps rounds to "
            f"(almost) x; use a step of about 1e-6 * max(1, |x|)"
        )
    return h


def numerical_jacobian(f, x, eps=DEFAULT_EPS, *, batched: bool = False) -> np.ndarray:
    r"""Jacobian of ``f`` at ``x`` by central differences in float64.

    .. math::

        J_{i j} \approx \frac{f_i(x + h e_j) - f_i(x - h e_j)}{(x_j + h) - (x_j - h)}

    Parameters
    ----------
    f : callable
        ``f(x) -> array``; any output shape (a scalar gives ``J`` of
        ``x.shape``).  Whatever it returns is converted with ``numpy.asarray``.
    x : array_like, any shape
        The point; converted to float64, must be finite.
    eps : float, default 1e-6
        The absolute step ``h``.  Truncation error grows like ``h²``, rounding
        error like ``ε|f|/h``; 1e-6 balances them for float64 functions of
        order one.  Raise it (and the tolerances) for float32 functions.
    batched : bool, default False
        How ``f`` is called.  ``False``: once per perturbed point (``2·x.size``
        calls, plus one at ``x``).  ``True``: ``f`` broadcasts over a leading
        axis (``f(X)`` with ``X`` of shape ``(B,) + x.shape`` returns
        ``(B,) + f(x).shape``), so all perturbed points are evaluated in one
        call (chunked to 32 MiB of input or output).

    Returns
    -------
    J : ndarray, shape ``f(x).shape + x.shape``

    Raises
    ------
    TypeError, ValueError
        Bad ``x``/``eps``; ``f`` not callable; ``f`` raises, returns ``None``,
        a non-numeric value, the wrong shape, or NaN/inf at some point (the
        message says which point).

    Notes
    -----
    The denominator is the step actually taken, ``(x_j + h) - (x_j - h)``,
    which differs from ``2h`` by rounding when ``|x_j| >> h``.
    """
    x, eps = checked(x=("real", x), eps=("positive", eps))
    fc = Caller(f, "f", batched=batched)
    y0 = fc.call(x, None, "at x")
    if x.size == 0:
        return np.zeros(y0.shape + x.shape)
    return fd_jacobian(fc, x, eps, y0.shape).reshape(y0.shape + x.shape)
