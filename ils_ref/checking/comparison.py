r"""The comparison behind :func:`ils_ref.check_vjp`: random projections, the full Jacobian, a verdict.

The rule, for analytic value ``a`` and numerical value ``n``::

    |a - n| <= atol + rtol·|n| + rounding

where ``rounding`` is the float64 rounding error of the central difference
itself (:mod:`ils_ref.checking.finite_differences`).  For a projection
``⟨dy, J u⟩`` the same rule is applied with ``atol`` scaled by ``‖dy‖‖u‖`` and
``rtol`` by ``‖dy‖‖J u‖`` (the Cauchy-Schwarz size of the inner product).
"""

from __future__ import annotations

import numpy as np

from .calls import Caller
from .finite_differences import EPS_MACHINE, ROUNDING_FACTOR, fd_jacobian, steps_taken
from .report import Entry


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
    m = np.abs(rows).max(axis=1, initial=0.0)
    safe = np.where(m > 0, m, 1.0)
    with np.errstate(under="ignore"):
        return m * np.linalg.norm(rows / safe[:, None], axis=1)


def probe_vectors(rng: np.random.Generator, count: int, shape: tuple) -> np.ndarray:
    # Random signs times magnitudes in [0.5, 1.5]: no component is ever near
    # zero, so an error in any single Jacobian entry shows up in every
    # projection instead of hiding behind a small random weight.
    signs = rng.choice(np.array([-1.0, 1.0]), size=(count,) + shape)
    return signs * rng.uniform(0.5, 1.5, size=(count,) + shape)


def screen(fc: Caller, vc: Caller, x, y_shape, eps, rtol, atol, n_probes, seed, n_worst) -> dict:
    """Compare ``⟨vjp(dy_a), u_b⟩`` with ``⟨dy_a, (f(x + h u_b) - f(x - h u_b)) / 2h⟩`` for all probe pairs."""
    rng = np.random.default_rng(seed)
    u = probe_vectors(rng, n_probes, x.shape)
    dys = probe_vectors(rng, n_probes, y_shape)
    plus_pts, minus_pts = x + eps * u, x - eps * u
    steps_taken(x, eps * 0.5, eps)  # every |u| >= 0.5: refuse a step lost in rounding
    pts = np.concatenate([plus_pts, minus_pts])
    vals = fc.map(2 * n_probes, lambda lo, hi: pts[lo:hi], y_shape, lambda i: f"x ± eps·u#{i % n_probes}")
    fp = vals[:n_probes].reshape(n_probes, -1)
    fm = vals[n_probes:].reshape(n_probes, -1)
    disp = (plus_pts - minus_pts).reshape(n_probes, -1)  # the displacement actually taken, ≈ 2·eps·u
    dx = vc.map(n_probes, lambda lo, hi: dys[lo:hi], x.shape, lambda i: f"dy = probe #{i}")
    dy = dys.reshape(n_probes, -1)
    dx = dx.reshape(n_probes, -1)
    # Both sides in units of ⟨dy, J u⟩: divide by 2·eps.  (Values that underflow to 0 are fine.)
    with np.errstate(under="ignore"):
        numeric = dy @ (fp - fm).T / (2 * eps)  # [a, b] = ⟨dy_a, (f(x+eps u_b) - f(x-eps u_b))⟩ / 2eps
        analytic = dx @ disp.T / (2 * eps)  # [a, b] = ⟨vjp(dy_a), u_b⟩
        ju_norm = row_norms((fp - fm) / (2 * eps))
    dy_norm = row_norms(dy)
    u_norm = row_norms(u.reshape(n_probes, -1))
    with np.errstate(over="ignore", under="ignore"):  # a tolerance beyond float64 (atol ~ 1e308) is simply +inf
        rounding = ROUNDING_FACTOR * EPS_MACHINE * (np.abs(dy) @ (np.abs(fp) + np.abs(fm)).T) / (2 * eps)
        tol = atol * np.outer(dy_norm, u_norm) + rtol * np.outer(dy_norm, ju_norm) + rounding
    result = compare(analytic, numeric, tol, n_worst, lambda k: {"probe": divmod(k, n_probes)})
    # Every probe component has magnitude >= 0.5, so an error d in one Jacobian
    # entry moves every projection by >= d/4: errors above 4·min(tol) cannot pass.
    result["resolution"] = 4.0 * float(tol.min())
    return result


def full(fc: Caller, vc: Caller, x, y_shape, eps, rtol, atol, n_worst) -> dict:
    """Compare every Jacobian entry: finite differences against one ``vjp`` per output entry."""
    m, n = int(np.prod(y_shape, dtype=np.int64)), x.size
    numeric, rounding = fd_jacobian(fc, x, eps, y_shape)

    def basis(lo, hi):
        e = np.zeros((hi - lo, m))
        e[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
        return e.reshape((hi - lo,) + y_shape)

    def describe(i):
        return f"dy = e at output index {tuple(int(k) for k in np.unravel_index(i, y_shape))}"

    analytic = vc.map(m, basis, x.shape, describe).reshape(m, n)
    with np.errstate(over="ignore", under="ignore"):
        tol = atol + rtol * np.abs(numeric) + rounding

    def index_of(k):
        i, j = divmod(k, n)
        return {
            "output_index": tuple(int(a) for a in np.unravel_index(i, y_shape)),
            "input_index": tuple(int(a) for a in np.unravel_index(j, x.shape)),
        }

    return compare(analytic, numeric, tol, n_worst, index_of)


