r"""Projections: a cotangent against a displacement, the VJP's side against ``f``'s, and their tolerance.

For a cotangent ``dy`` and a displacement ``D``::

    analytic  ⟨vjp(dy), D⟩      against      numeric  ⟨dy, f(x + D) - f(x - D)⟩ / 2

**The numeric side** is extrapolated (:func:`richardson`): from ``D`` and
``D/2``, ``(8·Δ(D/2) - Δ(D)) / 3`` cancels the ``D³`` term of the central
difference.  :func:`extrapolations` gives two such estimates, from ``D, D/2``
and from ``D/4, D/8``, and what is left of their truncation.

**The tolerance** is what the two sides may legitimately differ by: rounding,
of ``f``'s values (``ρ_i ≤ 4·ε_f·(|f_i(x+D)| + |f_i(x-D)|)/2`` per output, plus
its measured error) and of the VJP's entries (``64·ε``), and the truncation
left.  The random signs of ``dy`` (drawn independently of ``f``'s rounding)
make their sum a random walk, so with probability above 98% it stays below
``Z·sqrt(Σ_i dy_i² ρ_i²)`` (Hoeffding, :data:`Z` = 3); the sums themselves
add ``2ε`` of their absolute terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calls import MAX_BATCH_ELEMENTS, Caller
from .core import EPS64, Resolution
from .steps import shrink_until_finite

#: The random walk's bound, in standard deviations (Hoeffding: P(``|S|`` > Z·σ) <= 2·exp(-Z²/2) ~ 2%).
Z = 3.0
#: Safety factor on one value's rounding in the random-walk model (the worst case is core.ROUNDING_FACTOR).
WALK_FACTOR = 4.0


def probe_vectors(rng: np.random.Generator, count: int, shape: tuple) -> np.ndarray:
    """Random signs times magnitudes in [0.5, 1.5]: no component near zero, so every entry shows in every projection."""
    t = rng.random((count,) + shape)
    t *= 2.0
    t -= 1.0  # uniform on [-1, 1): its sign is the probe's, |t| + 1/2 its magnitude
    t += 0.5 * np.sign(t)
    return t


def basis(rows: np.ndarray, m: int, y_shape: tuple) -> np.ndarray:
    """The cotangents ``e_i`` for the flat output indices ``rows``, shape ``(len(rows),) + y_shape``."""
    e = np.zeros((len(rows), m))
    e[np.arange(len(rows)), rows] = 1.0
    return e.reshape((len(rows),) + y_shape)


def row_norms(rows: np.ndarray) -> np.ndarray:
    """The Euclidean norm of every row, scaled first so that squares of values near 1e155 cannot overflow."""
    with np.errstate(over="ignore", under="ignore"):
        fast = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    if np.all(np.isfinite(fast) & (fast > 1e-150)):
        return fast
    top = np.abs(rows).max(axis=1, initial=0.0)
    safe = np.where(top > 0, top, 1.0)
    with np.errstate(under="ignore"):
        return top * np.linalg.norm(rows / safe[:, None], axis=1)


def l2_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sqrt((a²) @ (b²)ᵀ)``: the Euclidean norm of every row product ``a_i ⊙ b_k``, safe from over- and underflow."""
    sa = np.abs(a).max(axis=1, initial=0.0)
    sb = np.abs(b).max(axis=1, initial=0.0)
    sa, sb = np.where(sa > 0, sa, 1.0), np.where(sb > 0, sb, 1.0)
    with np.errstate(under="ignore", over="ignore"):
        return np.sqrt((a / sa[:, None]) ** 2 @ ((b / sb[:, None]) ** 2).T) * sa[:, None] * sb[None, :]


@dataclass(frozen=True)
class Projections:
    """Cotangents against displacements: ``analytic``, ``numeric`` and ``tol`` of shape ``(cotangents, probes)``."""

    analytic: np.ndarray
    numeric: np.ndarray
    tol: np.ndarray
    size: np.ndarray  # the sum of the absolute terms of each projection: what it measures

    @property
    def error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.error == 0, 0.0, self.error / self.tol)


def differences(plus, minus, resolution: Resolution):
    """``(f(x + D) - f(x - D)) / 2`` and the random-walk bound of its rounding, per output."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        delta = (plus - minus) / 2
        rho = (WALK_FACTOR * resolution.eps * (np.abs(plus) + np.abs(minus)) + 2 * resolution.floor) / 2
    return delta, rho


def extrapolations(fc, flat, y_shape, disp, fp, fm, resolution):
    """Two estimates of ``J·D_b`` per output, each ``(estimate, rounding, truncation)``, shape ``(probes, m)``.

    ``f`` at ``x ± D``, ``x ± D/2``, ``x ± D/4``, ``x ± D/8``: :func:`richardson`
    from the first pair (``R₁``, the least rounding) and, scaled by 4, from the
    second (``R₄``, the least truncation).  What is left of ``R₁``'s
    truncation (``O(D⁵)``) is about ``|R₁ - R₄|``, and of ``R₄``'s 256 times
    less: each projection uses the one with the smaller tolerance, a choice
    made without looking at the analytic side.
    """
    k = disp.shape[0]
    d = np.concatenate([disp / 2, disp / 4, disp / 8])
    pts = np.concatenate([flat + d, flat - d])
    values = fc.map(2 * len(d), lambda lo, hi: pts[lo:hi], y_shape,
                    lambda i: f"x ± D#{i % k}/{2 ** (1 + (i % len(d)) // k)}", finite=False).reshape(2, 3, k, -1)
    (p2, p4, p8), (m2, m4, m8) = values[0], values[1]
    r1, rho1 = richardson(fp, fm, p2, m2, resolution)
    r4, rho4 = richardson(p4, m4, p8, m8, resolution)
    with np.errstate(over="ignore", invalid="ignore"):
        r4, rho4 = 4 * r4, 4 * rho4
        left = np.abs(r1 - r4)
    return [(r1, rho1, 2 * left), (r4, rho4, 2 * left / 256)]


def richardson(plus, minus, plus_half, minus_half, resolution: Resolution):
    """``J·D`` from ``f(x ± D)`` and ``f(x ± D/2)``: ``(8·Δ(D/2) - Δ(D)) / 3`` cancels the ``D³`` term.

    Its rounding is ``(8·ρ(D/2) + ρ(D)) / 3``; what is left of the truncation is ``O(D⁵)``.
    """
    delta, rho = differences(plus, minus, resolution)
    delta_half, rho_half = differences(plus_half, minus_half, resolution)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return (8 * delta_half - delta) / 3, (8 * rho_half + rho) / 3


def project(dy, v, delta, rho, width, vjp_eps: float, atol: float) -> Projections:
    """``⟨v_a, width_b⟩`` against ``⟨dy_a, delta_b⟩`` with the tolerance of the module docstring.

    ``dy (c, m)``, ``v = vjp(dy) (c, n)``, ``delta`` the change of ``f`` along
    each displacement and ``rho`` its rounding bound ``(p, m)``, ``width`` the
    half-displacements taken ``(p, n)``.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        numeric = dy @ delta.T
        analytic = v @ width.T
        abs_num = np.abs(dy) @ np.abs(delta).T
        abs_ana = np.abs(v) @ np.abs(width).T
    tol = tolerance(l2_products(dy, rho), l2_products(v, width), abs_num, abs_ana,
                    np.outer(row_norms(dy), row_norms(width)), vjp_eps, atol)
    return Projections(analytic=analytic, numeric=numeric, tol=tol, size=np.maximum(abs_num, abs_ana))


def tolerance(walk_f, walk_v, abs_num, abs_ana, norms, vjp_eps: float, atol: float) -> np.ndarray:
    """What a projection's two sides may differ by (module docstring), from its parts, ``(cotangents, probes)``.

    ``walk_f``: the random-walk size of ``f``'s rounding (and truncation) under
    ``dy``; ``walk_v``: ``‖vjp(dy) ⊙ D‖``; ``abs_num``/``abs_ana``: the sums of
    the absolute terms of each side; ``norms``: ``‖dy‖·‖D‖``, which ``atol``
    scales.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return Z * (walk_f + 64 * vjp_eps * walk_v) + 2 * EPS64 * (abs_num + abs_ana) + atol * norms



def block_cotangent(dys, edges, c: int) -> np.ndarray:
    """Cotangent ``c = a·p + B``: probe ``dy_a`` on output block ``B`` (zero elsewhere), flat."""
    p = len(edges) - 1
    a, block = divmod(c, p)
    dy = np.zeros(dys.shape[1])
    dy[edges[block]:edges[block + 1]] = dys[a, edges[block]:edges[block + 1]]
    return dy


def project_blocks(vc, dys, edges, options, width, y_shape, x_shape, vjp_eps, atol):
    """:func:`project` for every block cotangent, without holding them: vjp a chunk at a time, sums by block.

    ``options`` are :func:`extrapolations`; each projection uses the one whose
    tolerance is smaller.
    """
    n_probes, p = dys.shape[0], len(edges) - 1
    count, n = n_probes * p, width.shape[1]
    starts = edges[:-1]
    top_dy = float(np.abs(dys).max(initial=0.0)) or 1.0

    def by_block(values, square=False):  # (probes, m) -> (cotangents, probes): Σ over each block of dy·values
        parts = []
        for a in range(n_probes):  # one step per probe cotangent
            weight = (dys[a] / top_dy) ** 2 if square else dys[a]
            parts.append(np.add.reduceat(weight[None, :] * values, starts, axis=1).T)
        return np.concatenate(parts)

    def walk(bound):  # the random-walk size of Σ dy_i·e_i with |e_i| <= bound_i, scaled against overflow
        top = float(np.max(bound, initial=0.0)) or 1.0
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            return np.sqrt(by_block((bound / top) ** 2, square=True)) * top_dy * top

    analytic, abs_ana, walk_v = np.empty((count, n_probes)), np.empty((count, n_probes)), np.empty((count, n_probes))
    top = np.empty(count)
    chunk = max(1, MAX_BATCH_ELEMENTS // max(n, 1))
    for lo in range(0, count, chunk):  # one step per chunk of cotangents
        hi = min(count, lo + chunk)
        v = vc.map(hi - lo, lambda a, b: np.stack([block_cotangent(dys, edges, c) for c in range(lo + a, lo + b)])
                   .reshape((b - a,) + y_shape), x_shape, lambda i: f"dy = probe #{(lo + i) // p} on output block {(lo + i) % p}")
        with np.errstate(over="ignore", under="ignore"):
            analytic[lo:hi] = v @ width.T
            abs_ana[lo:hi] = np.abs(v) @ np.abs(width).T
            walk_v[lo:hi] = l2_products(v, width)
        top[lo:hi] = np.abs(v).max(axis=1, initial=0.0)
    with np.errstate(under="ignore"):
        dy_norm = np.sqrt(by_block(np.ones((1, dys.shape[1])), square=True))[:, :1] * top_dy
    best = None
    for estimate, rounding, truncation in options:  # one step per extrapolation
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            numeric = by_block(estimate)
            abs_num = _abs_sums(dys, estimate, starts)
        tol = tolerance(walk(rounding + truncation), walk_v, abs_num, abs_ana, dy_norm * row_norms(width)[None, :],
                        vjp_eps, atol)
        if best is None:
            best = [numeric, tol, abs_num]
        else:
            use = tol < best[1]
            best = [np.where(use, numeric, best[0]), np.where(use, tol, best[1]), np.where(use, abs_num, best[2])]
    numeric, tol, abs_num = best
    scale_b = top.reshape(n_probes, p).max(axis=0) / 1.5  # about the block's largest entry (|dy| <= 1.5)
    return Projections(analytic=analytic, numeric=numeric, tol=tol, size=np.maximum(abs_num, abs_ana)), scale_b


def _abs_sums(dys, values, starts):
    """Σ over each block of ``|dy_a|·|values_b|``: ``(cotangents, probes)``."""
    return np.concatenate([np.add.reduceat(np.abs(dys[a])[None, :] * np.abs(values), starts, axis=1).T
                           for a in range(dys.shape[0])])


def probe_differences(fc: Caller, flat, y_shape, disp):
    """``f(x ± D_b)`` for the displacements ``disp`` (b, n), shrinking a probe by 10 when ``f`` leaves its domain."""

    def evaluate(todo, scale):
        d = disp[todo] * scale[todo, None]
        pts = np.concatenate([flat + d, flat - d])
        vals = fc.map(2 * len(todo), lambda lo, hi: pts[lo:hi], y_shape,
                      lambda i: f"x ± D#{int(todo[i % len(todo)])}", finite=False).reshape(2 * len(todo), -1)
        return vals[:len(todo)], vals[len(todo):]

    return shrink_until_finite(evaluate, disp.shape[0])


def extrapolated(fc, flat, y_shape, d, resolution):
    """:func:`richardson` along the displacements ``d`` (rows): ``f`` at ``x ± d`` and ``x ± d/2``."""
    both = np.concatenate([d, d / 2])
    plus, minus, _ = probe_differences(fc, flat, y_shape, both)
    k = d.shape[0]
    return richardson(plus[:k], minus[:k], plus[k:], minus[k:], resolution)
