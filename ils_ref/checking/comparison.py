r"""The screen behind :func:`ils_ref.check_vjp`: random projections, a constant number of calls.

For seeded probes ``u_b`` (random signs, magnitudes in [0.5, 1.5]) scaled by
the steps ``h`` (:mod:`ils_ref.checking.steps`), ``D_b = h ⊙ u_b``, and
cotangents ``dy_a``, it compares, in units of a change of ``f``,

    analytic  ⟨vjp(dy_a), D_b⟩      against      numeric  ⟨dy_a, f(x + D_b) - f(x - D_b)⟩ / 2

with the tolerance ``atol·|dy||D| + rtol·|dy||J D| + rounding`` (the
Cauchy-Schwarz size of the inner product; rounding from ``|f|`` at the
points).  A screen that fails hands over to the entry-by-entry comparison
(:mod:`ils_ref.checking.entries`), which decides; so does
:func:`flag_rows`, the same test row by row, for Jacobians too large to hold.
"""

from __future__ import annotations

import numpy as np

from .calls import MAX_BATCH_ELEMENTS, Caller
from .report import Entry
from .steps import rounding, shrink_until_finite, taken


def compare(analytic, numeric, tol, n_worst, index_of) -> dict:
    """Entry-wise comparison; ``index_of(k)`` labels flat position ``k``."""
    analytic, numeric, tol = (np.ravel(a) for a in (analytic, numeric, tol))
    err = np.abs(analytic - numeric)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(err == 0, 0.0, err / np.abs(numeric))
        ratio = np.where(err == 0, 0.0, err / tol)
    # Only the n_worst largest violation ratios are needed: partition, then sort those few.
    k = min(n_worst, ratio.size)
    top = np.argpartition(-ratio, k - 1)[:k] if k else np.array([], dtype=int)
    order = top[np.argsort(-ratio[top], kind="stable")]
    worst = tuple(
        Entry(
            analytic=float(analytic[k]),
            numeric=float(numeric[k]),
            abs_error=float(err[k]),
            rel_error=float(rel[k]),
            tolerance=float(tol[k]),
            **index_of(int(k)),
        )
        for k in order
    )
    return dict(
        max_abs_error=float(err.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        worst=worst,
        n_compared=int(err.size),
        n_failed=int(np.count_nonzero(err > tol)),
    )


def row_norms(rows: np.ndarray) -> np.ndarray:
    """The Euclidean norm of every row, scaled first so that squares of values near 1e155 cannot overflow."""
    with np.errstate(over="ignore", under="ignore"):
        fast = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    if np.all(np.isfinite(fast) & (fast > 1e-150)):  # no square overflowed or underflowed away
        return fast
    m = np.abs(rows).max(axis=1, initial=0.0)
    safe = np.where(m > 0, m, 1.0)
    with np.errstate(under="ignore"):
        return m * np.linalg.norm(rows / safe[:, None], axis=1)


def probe_vectors(rng: np.random.Generator, count: int, shape: tuple) -> np.ndarray:
    # Random signs times magnitudes in [0.5, 1.5]: no component is ever near
    # zero, so an error in any single Jacobian entry shows up in every
    # projection instead of hiding behind a small random weight.
    t = rng.random((count,) + shape)
    t *= 2.0
    t -= 1.0  # uniform on [-1, 1): its sign is the probe's, |t| + 1/2 its magnitude
    t += 0.5 * np.sign(t)
    return t


def _probe_differences(fc: Caller, flat, y_shape, disp):
    """``f(x ± D_b)`` for the displacements ``disp`` (b, n), shrinking a probe by 10 when ``f`` leaves its domain."""

    def evaluate(todo, scale):
        d = disp[todo] * scale[todo, None]
        pts = np.concatenate([flat + d, flat - d])
        vals = fc.map(2 * len(todo), lambda lo, hi: pts[lo:hi], y_shape,
                      lambda i: f"x ± D#{int(todo[i % len(todo)])}", finite=False).reshape(2 * len(todo), -1)
        return vals[:len(todo)], vals[len(todo):]

    return shrink_until_finite(evaluate, disp.shape[0])


def screen(fc: Caller, vc: Caller, flat, y_shape, h, rtol, atol, n_probes, seed, n_worst) -> dict:
    """Compare ``⟨vjp(dy_a), D_b⟩`` with ``⟨dy_a, f(x + D_b) - f(x - D_b)⟩ / 2`` for all probe pairs."""
    rng = np.random.default_rng(seed)
    u = probe_vectors(rng, n_probes, flat.shape)
    dys = probe_vectors(rng, n_probes, y_shape)
    fp, fm, scale = _probe_differences(fc, flat, y_shape, u * h)
    disp = u * h * scale[:, None]
    width = taken(flat, disp) / 2  # the half-displacement actually taken, ≈ D_b
    dx = vc.map(n_probes, lambda lo, hi: dys[lo:hi], flat.shape, lambda i: f"dy = probe #{i}")
    dy = dys.reshape(n_probes, -1)
    notes = []
    if (scale < 1).any():
        notes.append(f"f was not finite at x ± D for {int((scale < 1).sum())} probe(s): their step was shrunk "
                     f"to {scale.min():g}·h")
    if not (np.isfinite(fp).all() and np.isfinite(fm).all()):
        return dict(undecided="f is not finite at x ± D even at the smallest probe step", notes=notes)
    with np.errstate(under="ignore", over="ignore"):
        numeric = dy @ (fp - fm).T / 2  # [a, b] = ⟨dy_a, (f(x + D_b) - f(x - D_b))⟩ / 2
        analytic = dx @ width.T  # [a, b] = ⟨vjp(dy_a), D_b⟩
        jd_norm = row_norms((fp - fm) / 2)
        noise = np.abs(dy) @ rounding(fp, fm, 2.0).T
    dy_norm = row_norms(dy)
    d_norm = row_norms(width)
    with np.errstate(over="ignore", under="ignore"):  # a tolerance beyond float64 (atol ~ 1e308) is simply +inf
        tol = atol * np.outer(dy_norm, d_norm) + rtol * np.outer(dy_norm, jd_norm) + noise
    result = compare(analytic, numeric, tol, n_worst, lambda k: {"probe": divmod(k, n_probes)})
    # Every |u| and |dy| component is >= 0.5, so an error e in Jacobian entry (i, j) moves every
    # projection by >= e·h_j/4: an error above 4·min(tol)/min(h) cannot pass.
    with np.errstate(over="ignore", divide="ignore"):
        result["resolution"] = 4.0 * float(tol.min()) / float((np.abs(width) / np.abs(u)).min())
    result["notes"] = notes
    return result


def flag_rows(fc: Caller, vc: Caller, flat, y_shape, h, rtol, atol, rng, keep: int, probes: int = 3):
    """Rows of a Jacobian too large to hold whose projections ``A_i·D_b`` disagree with ``f``; the worst ``keep``.

    The analytic rows are computed ``MAX_BATCH_ELEMENTS // n`` at a time and
    never stored; memory is ``O(m·probes + block·n)``.
    """
    m, n = int(np.prod(y_shape, dtype=np.int64)), flat.size
    u = probe_vectors(rng, probes, flat.shape)
    fp, fm, scale = _probe_differences(fc, flat, y_shape, u * h)
    width = taken(flat, u * h * scale[:, None]) / 2
    with np.errstate(all="ignore"):
        numeric = ((fp - fm) / 2).T  # (m, probes)
        noise = rounding(fp, fm, 2.0).T
    analytic = np.empty((m, probes))
    norms = np.empty(m)
    block = max(1, MAX_BATCH_ELEMENTS // max(n, 1))
    for lo in range(0, m, block):  # one step per block of rows
        hi = min(m, lo + block)
        rows = vc.map(hi - lo, lambda a, b: basis(np.arange(lo + a, lo + b), m, y_shape), flat.shape,
                      lambda i: f"dy = e at output {lo + i}")
        analytic[lo:hi] = rows @ width.T
        norms[lo:hi] = row_norms(rows)
    d_norm = row_norms(width)
    with np.errstate(all="ignore"):
        tol = (atol + rtol * norms[:, None]) * d_norm[None, :] + noise
        ratio = np.where(np.isfinite(numeric), np.abs(analytic - numeric) / tol, np.inf)
    worst = ratio.max(axis=1)
    bad = np.flatnonzero(worst > 1)
    return bad[np.argsort(-worst[bad], kind="stable")][:keep], int(bad.size)


def basis(rows: np.ndarray, m: int, y_shape: tuple) -> np.ndarray:
    """The cotangents ``e_i`` for the flat output indices ``rows``, shape ``(len(rows),) + y_shape``."""
    e = np.zeros((len(rows), m))
    e[np.arange(len(rows)), rows] = 1.0
    return e.reshape((len(rows),) + y_shape)
