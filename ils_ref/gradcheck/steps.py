r"""Finite-difference steps that fit the function, and ``f`` evaluated along them.

**The step.**  Coordinate ``j`` moves by

.. math::

    h_j = \mathrm{eps}\cdot\max(|x_j|, 1),

relative where ``x_j`` is large (a fixed ``1e-6`` at ``|x_j| ~ 1e6`` is mostly
rounding) and absolute near zero.  The quotient divides by the displacement
actually taken, ``(x_j + h_j) - (x_j - h_j)``.  When ``f`` is NaN or inf at
``x ± h`` the step left ``f``'s domain (``log``, ``sqrt`` near 0): it is divided
by 10, up to :data:`SHRINK_TRIES` times, and the report says so.

**Along a direction** (:func:`sweep`): ``f`` at ``x ± s·D`` for every ``s``
of :data:`ils_ref.gradcheck.core.SWEEP`, for the many-step verdict of
:func:`ils_ref.gradcheck.core.judge`.  A direction is a set of columns that
share no row of the analytic Jacobian (one column, or a group of them), so one
sweep serves every entry of the group.
"""

from __future__ import annotations

import numpy as np

from .core import MIN_ULPS, SWEEP, Sweep

#: How many times a step that leaves f's domain is divided by 10.
SHRINK_TRIES = 6
#: Most values (points × outputs) one sweep evaluates at a time: 64 MiB.
SWEEP_VALUES = 1 << 23


def relative_steps(flat: np.ndarray, eps: float) -> np.ndarray:
    """``h_j = eps·max(|x_j|, 1)`` for every coordinate of the flattened input."""
    return eps * np.maximum(np.abs(flat), 1.0)


def taken(flat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The displacement actually taken, ``(x + h) - (x - h)``: ``2h`` up to rounding."""
    return (flat + h) - (flat - h)


def shrink_until_finite(evaluate, count: int, select=None):
    """``f`` at ``count`` displacements, each divided by 10 (up to :data:`SHRINK_TRIES` times) while ``f`` is not finite.

    ``evaluate(which, scale)`` returns ``f(x + D)`` and ``f(x - D)``, shape
    ``(len(which), m)``, for the displacements ``which`` scaled by
    ``scale[which]``.  Returns ``plus, minus`` (their columns ``select``, when
    given) and ``scale``; values still not finite after the last try are left
    as they are.
    """
    scale = np.ones(count)
    todo = np.arange(count)
    plus = minus = None
    for attempt in range(SHRINK_TRIES + 1):
        p, m = evaluate(todo, scale)
        if plus is None:
            width = p.shape[1] if select is None else len(select)
            plus, minus = np.empty((count, width)), np.empty((count, width))
        plus[todo], minus[todo] = (p, m) if select is None else (p[:, select], m[:, select])
        bad = ~(np.isfinite(p).all(axis=1) & np.isfinite(m).all(axis=1))
        if not bad.any() or attempt == SHRINK_TRIES:
            break
        todo = todo[bad]
        scale[todo] *= 0.1
    return plus, minus, scale


def sweep(fc, flat: np.ndarray, y_shape: tuple, sets: list, d: np.ndarray, entries, centre, resolution) -> Sweep:
    """``f`` at ``x ± s·D_g`` for the column sets ``sets`` (``D_g = Σ_{j∈g} d_j e_j``), read at ``entries``.

    ``entries = (set, row, column)`` arrays name the values wanted: output
    ``row`` along set ``set``, whose step is column ``column``'s.  Returns a
    :class:`~ils_ref.gradcheck.core.Sweep` over those entries (``centre`` is
    ``f(x)`` flattened, ``resolution`` f's :class:`~ils_ref.gradcheck.core.Resolution`).  Sets are
    evaluated a few at a time, so memory stays within :data:`SWEEP_VALUES`.
    """
    g_of, row, col = entries
    s_count = len(SWEEP)
    m = int(np.prod(y_shape, dtype=np.int64))
    plus, minus = np.full((g_of.size, s_count), np.nan), np.full((g_of.size, s_count), np.nan)
    per_set = 2 * s_count * max(m, flat.size)
    batch = max(1, SWEEP_VALUES // per_set)
    wanted = np.unique(g_of)
    for lo in range(0, wanted.size, batch):  # one step per batch of sets
        chosen = wanted[lo:lo + batch]

        def points(a, b, chosen=chosen):  # point p: set chosen[p // (2S)], step (p // 2) % S, sign p % 2
            p = np.arange(a, b)
            pts = np.repeat(flat[None, :], b - a, axis=0)
            for k, p_ in enumerate(p):  # one step per point (a point moves a whole set of columns)
                cols = sets[chosen[p_ // (2 * s_count)]]
                pts[k, cols] += (1.0 if p_ % 2 == 0 else -1.0) * SWEEP[(p_ // 2) % s_count] * d[cols]
            return pts

        def describe(p, chosen=chosen):
            return f"x ± {SWEEP[(p // 2) % s_count]:g}·h along column set #{int(chosen[p // (2 * s_count)])}"

        values = fc.map(2 * s_count * chosen.size, points, y_shape, describe, finite=False)
        values = values.reshape(chosen.size, s_count, 2, m)
        here = np.isin(g_of, chosen)
        k = np.searchsorted(chosen, g_of[here])
        plus[here], minus[here] = values[k, :, 0, row[here]], values[k, :, 1, row[here]]
    steps = d[col][:, None] * SWEEP[None, :]
    x = flat[col][:, None]
    usable = steps >= MIN_ULPS * np.spacing(np.abs(x))
    width = np.where(usable, (x + steps) - (x - steps), np.nan)
    granularity = np.full(row.size, np.inf) if resolution.granularity is None else resolution.granularity[row]
    return Sweep(plus=plus, minus=minus, centre=centre[row], width=width, floor=resolution.floor[row],
                 granularity=granularity)
