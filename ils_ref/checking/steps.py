r"""Finite-difference steps that fit the function, and what several steps say about one entry.

**The step.**  Coordinate ``j`` moves by

.. math::

    h_j = \mathrm{eps}\cdot\max(|x_j|, 1),

relative where ``x_j`` is large (a fixed ``1e-6`` at ``|x_j| ~ 1e6`` is mostly
rounding) and absolute near zero.  The quotient divides by the displacement
actually taken, ``(x_j + h_j) - (x_j - h_j)``.  When ``f`` is NaN or inf at
``x ± h`` the step left ``f``'s domain (``log``, ``sqrt`` near 0): it is divided
by 10, up to :data:`SHRINK_TRIES` times, and the report says so.

**A second opinion.**  An entry that fails at the first step is recomputed at
the steps ``h·10^k``, ``k = 1, 0, …, -4`` (:func:`sweep`), and :func:`classify`
reads the estimates ``n_k``.  Two neighbouring estimates that agree to within
the tolerance have *converged*:

* converged, and the analytic value agrees with them: **pass** — the first step
  did not fit this function;
* converged (or all far from the analytic value compared with how much they
  move): **fail** — the error does not move with the step, it is in the gradient;
* never converged: **inconclusive**, with the cause: *domain* (``f`` is not
  finite at the larger steps and the rest do not settle), *kink* (the one-sided
  slopes ``(f(x+h) - f(x))/h`` and ``(f(x) - f(x-h))/h`` differ by about the
  same amount at every step: ``f`` is not differentiable there), *rounding*
  (the estimates scatter more as ``h`` shrinks) or *truncation* (more as it
  grows).
"""

from __future__ import annotations

import numpy as np

EPS_MACHINE = np.finfo(np.float64).eps
#: Safety factor on the float64 rounding error of a central difference, ``16·ε·(|f(x+h)| + |f(x-h)|) / 2h``.
ROUNDING_FACTOR = 16.0
#: How many times a step that leaves f's domain is divided by 10.
SHRINK_TRIES = 6
#: The steps of the second opinion, as multiples of the first step: 10 down to 1e-12, each
#: used only while it is at least :data:`MIN_ULPS` units in the last place of ``x_j``.
SWEEP = 10.0 ** np.arange(1, -13, -1)
MIN_ULPS = 8


def relative_steps(flat: np.ndarray, eps: float) -> np.ndarray:
    """``h_j = eps·max(|x_j|, 1)`` for every coordinate of the flattened input."""
    return eps * np.maximum(np.abs(flat), 1.0)


def taken(flat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The displacement actually taken, ``(x + h) - (x - h)``: ``2h`` up to rounding."""
    return (flat + h) - (flat - h)


def rounding(plus: np.ndarray, minus: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The float64 rounding error of ``(plus - minus) / width``, with a safety factor."""
    with np.errstate(over="ignore", under="ignore"):
        return ROUNDING_FACTOR * EPS_MACHINE * (np.abs(plus) + np.abs(minus)) / width


def sweep(fc, flat: np.ndarray, y_shape: tuple, columns: np.ndarray, h: np.ndarray):
    """``f`` at ``x ± s·h_j e_j`` for every column ``j`` and every ``s`` of :data:`SWEEP`.

    Returns ``plus, minus`` of shape ``(columns, steps, m)`` (NaN/inf kept) and
    the displacements taken, ``(columns, steps)`` (NaN for steps too small
    for ``x_j``'s floating-point spacing).
    """
    c, s, n = len(columns), len(SWEEP), flat.size
    steps = h[columns][:, None] * SWEEP[None, :]  # (c, s)
    usable = steps >= MIN_ULPS * np.spacing(np.abs(flat[columns]))[:, None]
    steps = np.where(usable, steps, 0.0)  # an unusable step is evaluated at x itself and never read
    widths = np.where(usable, (flat[columns][:, None] + steps) - (flat[columns][:, None] - steps), np.nan)

    def points(lo, hi):  # point p: column p // (2s), step (p // 2) % s, sign p % 2
        p = np.arange(lo, hi)
        col, step, sign = p // (2 * s), (p // 2) % s, np.where(p % 2 == 0, 1.0, -1.0)
        pts = np.repeat(flat[None, :], hi - lo, axis=0)
        pts[np.arange(hi - lo), columns[col]] += sign * steps[col, step]
        return pts

    def describe(p):
        return f"x ± {SWEEP[(p // 2) % s]:g}·h at flat input {int(columns[p // (2 * s)])}"

    values = fc.map(2 * c * s, points, y_shape, describe, finite=False).reshape(c, s, 2, -1)
    return values[:, :, 0], values[:, :, 1], widths


def classify(analytic: float, plus: np.ndarray, minus: np.ndarray, centre: float, widths: np.ndarray,
             tol: float) -> tuple[str, float, str]:
    """The verdict on one entry from its sweep: ``(status, best numeric estimate, why)``.

    ``plus``/``minus``: ``f_i`` at ``x ± s·h e_j`` for each step (NaN where not
    finite); ``widths``: the displacements taken (NaN for an unusable step);
    ``centre``: ``f_i(x)``; ``tol``: the entry's tolerance without its
    rounding term (added here per step).  Besides the central differences
    ``n_k`` it reads their Richardson extrapolations
    ``n_{k+1} + (n_{k+1} - n_k)·w_{k+1}²/(w_k² - w_{k+1}²)``, which cancel the
    ``h²`` truncation term.
    """
    usable = np.isfinite(widths)
    ok = usable & np.isfinite(plus) & np.isfinite(minus)
    idx = np.flatnonzero(ok)
    with np.errstate(all="ignore"):
        est = (plus - minus) / widths
        noise = rounding(plus, minus, widths) * (2 / ROUNDING_FACTOR)  # float64's 2ε·|f| at each point
    if idx.size < 2:
        return "inconclusive", float(est[idx[0]]) if idx.size else float("nan"), \
            "domain: f is not finite at x ± h for all but the smallest steps"
    a, b = idx[:-1], idx[1:]  # neighbouring pairs of finite estimates, largest step first
    with np.errstate(all="ignore"):
        w2a, w2b = widths[a] ** 2, widths[b] ** 2
        rich = est[b] + (est[b] - est[a]) * w2b / (w2a - w2b)
        rich_noise = noise[b] * (1 + w2b / (w2a - w2b)) + noise[a] * w2b / (w2a - w2b)
    # Candidates: three neighbouring raw estimates, or three neighbouring extrapolations, that agree
    # (two pairs: a chance agreement of noisy estimates is far less likely than with one pair).
    values, spread, where = _triples(est[b], np.abs(np.diff(est[idx])) + noise[a] + noise[b], b)
    r_values, r_spread, r_where = _triples(rich[1:], np.abs(np.diff(rich)) + rich_noise[:-1] + rich_noise[1:], b[1:])
    values, spread, where = (np.concatenate(p) for p in ((values, r_values), (spread, r_spread), (where, r_where)))
    if not values.size:
        return "inconclusive", float(est[idx[-1]]), "too few usable steps to compare (x's float64 spacing)"
    # The agreeing candidate at the smallest step (truncation vanishes as h -> 0; at large steps
    # an oscillating f can agree with itself by accident), else the steadiest one.
    settled = np.flatnonzero(spread <= tol)
    best = int(settled[np.argmax(where[settled])]) if settled.size else int(np.nanargmin(spread))
    numeric, e = float(values[best]), float(spread[best])
    err = abs(analytic - numeric)
    step = float(widths[where[best]] / 2)
    with np.errstate(all="ignore"):
        jump = np.abs((plus - centre) - (centre - minus)) / (widths / 2)  # one-sided slopes, forward - backward
    # A kink: the one-sided slopes differ by about the same (within 3x) at the last three usable steps.
    # A smooth f's differ by ~h·|f''| (100x less over two decades), rounding's by ~1/h (100x more).
    # And the central estimates must be steadier than the jump: under rounding both scatter alike.
    last, earlier = idx[-1], idx[max(0, idx.size - 3)]
    scatter = np.abs(est[idx[-1]] - est[idx[-2]])
    if (jump[last] > 10 * (noise[last] + tol + scatter)
            and 0.3 * jump[earlier] < jump[last] < 3 * jump[earlier]):
        return "inconclusive", numeric, (f"kink: the one-sided slopes differ by {jump[last]:.2g} even at step "
                                         f"{widths[last] / 2:.1e} (f is not differentiable here)")
    if e <= tol:
        if err <= tol + e:
            return "pass", numeric, f"verified at step {step:.1e} (estimates agree to {e:.1e})"
        return "fail", numeric, (f"the error does not move with the step: estimates agree to {e:.1e} at "
                                 f"step {step:.1e} and differ from the analytic value by {err:.2e}")
    if err > 10 * e + tol:
        return "fail", numeric, (f"the error ({err:.2e}) is over 10x what the estimates move by ({e:.1e}) "
                                 f"across steps")
    if not ok[usable].all():
        return "inconclusive", numeric, "domain: f is not finite at x ± h for the larger steps, and the rest do not settle"
    pair_spread = np.abs(np.diff(est[idx])) + noise[a] + noise[b]
    if pair_spread[-1] > pair_spread[0]:
        return "inconclusive", numeric, (f"rounding: the estimates scatter more as the step shrinks "
                                         f"(best agreement {e:.1e}, tolerance {tol:.1e})")
    return "inconclusive", numeric, (f"truncation: the estimates move with the step "
                                     f"(best agreement {e:.1e}, tolerance {tol:.1e})")


def _triples(values, pair_spread, where):
    """Every run of three neighbouring values: its last value, its spread (the larger pair's), where it ends.

    ``values[k]`` ends pair ``k`` (spread ``pair_spread[k]``, position ``where[k]``).
    """
    if values.size < 2:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    return values[1:], np.maximum(pair_spread[:-1], pair_spread[1:]), where[1:]
