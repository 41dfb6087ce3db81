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
the steps ``h·10^k``, ``k = 1, 0, …, -12`` (:func:`sweep`; a step under
:data:`MIN_ULPS` units in the last place of ``x_j`` is skipped), and
:func:`classify` reads the estimates ``n_k`` and their Richardson
extrapolations.  Three neighbouring estimates (or extrapolations) that agree to
within the tolerance have *converged*:

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


PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def classify(analytic, plus, minus, centre, widths, tol) -> dict:
    """The verdict on every entry from its sweep, vectorised over entries.

    ``analytic``, ``centre`` (``f_i(x)``) and ``tol`` (the tolerance without its
    rounding term, added here per step) have shape ``(E,)``; ``plus``/``minus``
    (``f_i`` at ``x ± s·h e_j``, NaN where not finite) and ``widths`` (the
    displacements taken, NaN for an unusable step) ``(E, S)``.  Besides the
    central differences ``n_k`` it reads their Richardson extrapolations
    ``n_{k+1} + (n_{k+1} - n_k)·w_{k+1}²/(w_k² - w_{k+1}²)``, which cancel the
    ``h²`` truncation term.  Returns arrays: ``status``, ``numeric`` (the best
    estimate), ``agreement``, ``step``, ``cause`` and ``jump``; :func:`explain`
    turns one entry into a sentence.
    """
    e_count, s_count = plus.shape
    rows = np.arange(e_count)
    ok = np.isfinite(widths) & np.isfinite(plus) & np.isfinite(minus)
    with np.errstate(all="ignore"):
        est = (plus - minus) / widths
        noise = rounding(plus, minus, widths) * (2 / ROUNDING_FACTOR)  # float64's 2ε·|f| at each point
        # neighbouring pairs (k, k+1), both usable
        pair_ok = ok[:, :-1] & ok[:, 1:]
        pair = np.abs(est[:, 1:] - est[:, :-1]) + noise[:, :-1] + noise[:, 1:]
        w2a, w2b = widths[:, :-1] ** 2, widths[:, 1:] ** 2
        weight = w2b / (w2a - w2b)
        rich = est[:, 1:] + (est[:, 1:] - est[:, :-1]) * weight
        rich_noise = noise[:, 1:] * (1 + weight) + noise[:, :-1] * weight
        rich_pair_ok = pair_ok[:, :-1] & pair_ok[:, 1:]
        rich_pair = np.abs(rich[:, 1:] - rich[:, :-1]) + rich_noise[:, :-1] + rich_noise[:, 1:]
    # Candidates: three neighbouring raw estimates, or three neighbouring extrapolations, that agree
    # (two pairs: a chance agreement of noisy estimates is far less likely than with one pair).
    values = np.concatenate([est[:, 2:], rich[:, 2:]], axis=1)
    spread = np.concatenate([np.maximum(pair[:, :-1], pair[:, 1:]), np.maximum(rich_pair[:, :-1], rich_pair[:, 1:])], axis=1)
    valid = np.concatenate([pair_ok[:, :-1] & pair_ok[:, 1:], rich_pair_ok[:, :-1] & rich_pair_ok[:, 1:]], axis=1)
    where = np.concatenate([np.arange(2, s_count), np.arange(3, s_count)])
    spread = np.where(valid, spread, np.inf)
    # The agreeing candidate at the smallest step (truncation vanishes as h -> 0; at large steps an
    # oscillating f can agree with itself by accident), else the steadiest one.
    settled = spread <= tol[:, None]
    best = np.where(settled.any(axis=1), np.argmax(np.where(settled, where[None, :], -1), axis=1), np.argmin(spread, axis=1))
    numeric = values[rows, best]
    agreement = spread[rows, best]
    step = widths[rows, where[best]] / 2
    have = np.isfinite(agreement)
    with np.errstate(all="ignore"):
        err = np.abs(analytic - numeric)
        jump = np.abs((plus - centre[:, None]) - (centre[:, None] - minus)) / (widths / 2)  # forward - backward slope
    # A kink: the one-sided slopes differ by about the same (within 3x) at the last three usable steps.
    # A smooth f's differ by ~h·|f''| (100x less over two decades), rounding's by ~1/h (100x more).
    # And the central estimates must be steadier than the jump: under rounding both scatter alike.
    last = s_count - 1 - np.argmax(ok[:, ::-1], axis=1)
    prev, earlier = np.maximum(last - 1, 0), np.maximum(last - 2, 0)
    with np.errstate(all="ignore"):
        j_last, j_earlier = jump[rows, last], jump[rows, earlier]
        scatter = np.abs(est[rows, last] - est[rows, prev])
        kink = (ok.sum(axis=1) >= 3) & (j_last > 10 * (noise[rows, last] + tol + scatter)) \
            & (0.3 * j_earlier < j_last) & (j_last < 3 * j_earlier)
    converged = have & (agreement <= tol)
    status = np.full(e_count, INCONCLUSIVE, dtype=object)
    status[converged & (err <= tol + agreement)] = PASS
    status[converged & (err > tol + agreement)] = FAIL
    status[have & ~converged & (err > 10 * agreement + tol)] = FAIL
    status[kink] = INCONCLUSIVE
    first_pair = np.argmax(pair_ok, axis=1)
    last_pair = pair_ok.shape[1] - 1 - np.argmax(pair_ok[:, ::-1], axis=1)
    cause = np.where(~have, "few", np.where(kink, "kink", np.where((~ok & np.isfinite(widths)).any(axis=1), "domain",
                     np.where(pair[rows, last_pair] > pair[rows, first_pair], "rounding", "truncation"))))
    cause = np.where(status == INCONCLUSIVE, cause, np.where(status == FAIL, np.where(converged, "stable", "far"), "verified"))
    return dict(status=status, numeric=np.where(np.isfinite(numeric), numeric, est[rows, last]), agreement=agreement,
                step=step, cause=cause, jump=j_last, jump_step=widths[rows, last] / 2, err=err, tol=tol)


def explain(result: dict, k: int) -> str:
    """The reason for entry ``k`` of a :func:`classify` result, in one sentence."""
    cause, e, step, err, tol = (result[key][k] for key in ("cause", "agreement", "step", "err", "tol"))
    return {
        "verified": lambda: f"verified at step {step:.1e} (estimates agree to {e:.1e})",
        "stable": lambda: (f"the error does not move with the step: estimates agree to {e:.1e} at step {step:.1e} "
                           f"and differ from the analytic value by {err:.2e}"),
        "far": lambda: f"the error ({err:.2e}) is over 10x what the estimates move by ({e:.1e}) across steps",
        "kink": lambda: (f"kink: the one-sided slopes differ by {result['jump'][k]:.2g} even at step "
                         f"{result['jump_step'][k]:.1e} (f is not differentiable here)"),
        "domain": lambda: "domain: f is not finite at x ± h for the larger steps, and the rest do not settle",
        "rounding": lambda: (f"rounding: the estimates scatter more as the step shrinks "
                             f"(best agreement {e:.1e}, tolerance {tol:.1e})"),
        "truncation": lambda: f"truncation: the estimates move with the step (best agreement {e:.1e}, tolerance {tol:.1e})",
        "few": lambda: "too few usable steps to compare (f not finite, or x's float64 spacing)",
    }[cause]()
