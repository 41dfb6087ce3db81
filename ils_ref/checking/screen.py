r"""The screen behind :func:`ils_ref.check_vjp`: random projections, and bisection to a wrong entry.

For seeded probes ``u_b`` (random signs, magnitudes in [0.5, 1.5]) scaled by
the steps ``h``, ``D_b = h ⊙ u_b``, and cotangents ``dy_a`` of the same kind,
each output weighted by the inverse of its own change along the probes
(:func:`row_weights`, so that every row counts alike) and restricted to a
block ``B`` of at most :data:`BLOCK` outputs, it compares

    analytic  ⟨vjp(dy_aB), D_b⟩      against      numeric  ⟨dy_aB, f(x + D_b) - f(x - D_b)⟩ / 2.

**Tolerance.**  The legitimate difference of the two is rounding: of ``f``'s
values, ``ρ_i ≤ 4·ε_f·(|f_i(x+D)| + |f_i(x-D)|)/2`` per output, and of the
VJP's entries (``64·ε``).  The random signs of ``dy`` (drawn independently of
``f``'s rounding) make their sum a random walk, so with probability above
99.7% it stays below ``Z·sqrt(Σ_i dy_i² ρ_i²)`` (Hoeffding, :data:`Z` = 3); the
sums themselves add ``2ε`` of their absolute terms.

**Resolution.**  An error ``e`` in one Jacobian entry ``(i, j)`` moves every
projection of ``i``'s block by ``e·dy_ai·D_bj``, at least ``e·h_j/4``, so the
screen is guaranteed (with that probability) to catch it when

    e > resolution_B = 8 · min over (a, b) of tol_abB / min_j h_j

(in units of the weighted rows).  Relative to the rows' own Jacobian entries
(the largest ``|vjp(dy_aB)|`` of the block, over ``max |dy|``), and because
blocks have at most :data:`BLOCK` outputs, this relative resolution does not
grow with the size of ``x``.  The screen *passes* only when every projection
agrees, every tolerance is below the size of its projection, and every block
resolves single-entry errors of ``rtol`` of its rows' entries; otherwise it
hands over.

**Bisection** (:func:`bisect`).  When a projection disagrees, halving its
displacement (two points of ``f`` per half) finds the column, and halving its
cotangent (one ``vjp`` per half) the row: a wrong entry among ``10⁶`` in about
40 points of ``f`` and 40 cotangents, not one ``vjp`` per output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calls import MAX_BATCH_ELEMENTS, Caller
from .core import EPS64, Resolution
from .report import compare
from .steps import shrink_until_finite, taken

#: Outputs per block of the screen's cotangents: the resolution is that of this many outputs.
BLOCK = 256
#: Cotangents per probe the screen may spend on blocks when vjp is called once per cotangent.
MAX_BLOCKS = 16
#: Values (cotangents × inputs) the screen may spend on blocks when vjp takes a stack of them.
MAX_BLOCK_VALUES = 1 << 25
#: The random walk's bound, in standard deviations (Hoeffding: P(|S| > Z·σ) <= 2·exp(-Z²/2) ~ 2%).
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


def _projections(dy, v, delta, rho, width, vjp_eps: float, atol: float) -> Projections:
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
        walk = l2_products(dy, rho) + 64 * vjp_eps * l2_products(v, width)
        tol = Z * walk + 2 * EPS64 * (abs_num + abs_ana) + atol * np.outer(row_norms(dy), row_norms(width))
    return Projections(analytic=analytic, numeric=numeric, tol=tol, size=np.maximum(abs_num, abs_ana))


@dataclass(frozen=True)
class Screen:
    """What the screen found.  ``status``: ``"pass"``, ``"fail"`` (a projection disagrees) or ``"unresolved"``."""

    status: str
    reason: str
    table: dict  # compare()'s worst-projection table
    resolution: float  # absolute: a single entry off by more than this fails the screen
    relative_resolution: float  # the worst block's resolution over its largest entry
    notes: list
    cotangents: tuple  # (dys, edges): cotangent a·p + B is dy_a on output block B (block_cotangent)
    displacements: np.ndarray  # (p, n)
    projections: Projections


def screen_steps(flat, h) -> np.ndarray:
    """The screen's steps: :data:`SCREEN_STEP` times the first step ``h``, at most 1% of ``max(|x_j|, 1)``.

    Larger than ``h`` because Richardson extrapolation cancels their ``D³``
    error, and the rounding of a difference falls as the step grows: a row
    whose derivative is small against its value is still resolved to ``rtol``.
    """
    return np.minimum(SCREEN_STEP * h, 1e-2 * np.maximum(np.abs(flat), 1.0))


#: The screen's step over the first step ``h`` of the entry-by-entry comparison.
SCREEN_STEP = 1000.0


def row_weights(delta) -> np.ndarray:
    """One weight per output: the largest change of any output over its own (``f``'s change along the probes).

    Weighting the cotangents so makes every output row count alike: a single
    wrong entry is judged relative to its own row, so a saturated row (a
    softmax at logits ±30) is not hidden behind the large rows of its block.
    Outputs that do not change get weight 1.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        change = np.abs(delta).max(axis=0, initial=0.0)
        change = np.where(np.isfinite(change), change, 0.0)
        weight = np.where(change > 0, change.max(initial=0.0) / change, 1.0)
    return np.minimum(weight, MAX_WEIGHT)


#: The largest row weight (a row 1e150 times smaller than the largest is judged as if 1e150 smaller).
MAX_WEIGHT = 1e150


def blocks_for(m: int, n: int, n_probes: int, vjp_batched: bool) -> int:
    """How many output blocks the screen can afford: enough for :data:`BLOCK` outputs each, within budget."""
    wanted = max(1, math.ceil(m / BLOCK))
    if vjp_batched:
        return int(min(wanted, max(MAX_BLOCKS, MAX_BLOCK_VALUES // max(1, n_probes * max(n, m)))))
    return int(min(wanted, MAX_BLOCKS))


def screen(fc: Caller, vc: Caller, flat, y_shape, h, rtol, atol, n_probes, seed, n_worst, resolution,
           vjp_eps) -> Screen:
    """Compare ``⟨vjp(dy_aB), D_b⟩`` with ``⟨dy_aB, f(x + D_b) - f(x - D_b)⟩ / 2`` for every block and probe pair."""
    rng = np.random.default_rng(seed)
    m, n = int(np.prod(y_shape, dtype=np.int64)), flat.size
    u = probe_vectors(rng, n_probes, flat.shape)
    dys = probe_vectors(rng, n_probes, (m,))
    step = screen_steps(flat, h)
    fp, fm, scale = probe_differences(fc, flat, y_shape, u * step)
    disp = u * step * scale[:, None]
    options = extrapolations(fc, flat, y_shape, disp, fp, fm, resolution)
    delta = options[0][0]
    dys *= row_weights(delta)
    width = taken(flat, disp) / 2
    p = blocks_for(m, n, n_probes, vc.batched)
    edges = np.linspace(0, m, p + 1).astype(np.int64)
    proj, scale_b = _block_projections(vc, dys, edges, options, width, y_shape, flat.shape, vjp_eps, atol)
    notes = []
    if (scale < 1).any():
        notes.append(f"f was not finite at x ± D for {int((scale < 1).sum())} probe(s): their step was shrunk "
                     f"to {scale.min():g}·h")
    if p > 1:
        notes.append(f"the screen's cotangents cover {p} blocks of about {-(-m // p)} outputs each")
    table = compare(proj.analytic, proj.numeric, proj.tol, n_worst,
                    lambda k: {"probe": (int(k // n_probes), int(k % n_probes))})
    # resolution of every block: the best probe pair's tolerance over the smallest step it took
    least_h = float(np.min(np.abs(width) / np.abs(u)))  # = min_j step_j · scale_b, up to rounding
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        res = 8 * proj.tol.reshape(n_probes, p, n_probes).min(axis=(0, 2)) / least_h
        relative = np.where(res == 0, 0.0, res / scale_b)
    target = np.maximum(rtol * scale_b, atol)
    finite = bool(np.isfinite(delta).all() and np.isfinite(options[1][0]).all())
    hidden = np.all(delta == 0, axis=0) & np.any(fp != 0, axis=0)  # f_i moved by nothing, yet is not 0
    evidence = (proj.tol < proj.size) | ((proj.tol == 0) & (proj.error == 0))
    if not finite:
        status, reason = "unresolved", "f is not finite at x ± D even at the smallest probe step"
    elif np.any(hidden):
        status, reason = "unresolved", (f"{int(hidden.sum())} output(s) of f do not change at all along the probes "
                                        f"(first: flat output {int(np.argmax(hidden))}): their derivatives, if any, are "
                                        f"below f's rounding")
    elif table["n_failed"]:
        status, reason = "fail", f"{table['n_failed']} of {table['n_compared']} random projections disagree"
    elif not evidence.all():
        status, reason = "unresolved", ("f's rounding exceeds what a projection measures (the Jacobian is too "
                                        "small against f's values for differences at this step)")
    elif np.any(res > target):
        status, reason = "unresolved", (f"the screen resolves single-entry errors down to {float(relative.max()):.1e} "
                                        f"of a block's largest entry, above rtol={rtol:g}")
    else:
        status, reason = "pass", (f"all {table['n_compared']} random projections agree; any single entry off by "
                                  f"more than {float(relative.max()):.1e} of its block's largest entry would have failed")
    return Screen(status=status, reason=reason, table=table, resolution=float(res.max(initial=0.0)),
                  relative_resolution=float(relative.max(initial=0.0)), notes=notes, cotangents=(dys, edges),
                  displacements=disp, projections=proj)


def block_cotangent(dys, edges, c: int) -> np.ndarray:
    """Cotangent ``c = a·p + B``: probe ``dy_a`` on output block ``B`` (zero elsewhere), flat."""
    p = len(edges) - 1
    a, block = divmod(c, p)
    dy = np.zeros(dys.shape[1])
    dy[edges[block]:edges[block + 1]] = dys[a, edges[block]:edges[block + 1]]
    return dy


def _block_projections(vc, dys, edges, options, width, y_shape, x_shape, vjp_eps, atol):
    """:func:`_projections` for every block cotangent, without holding them: vjp a chunk at a time, sums by block.

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
            tol = (Z * (walk(rounding + truncation) + 64 * vjp_eps * walk_v) + 2 * EPS64 * (abs_num + abs_ana)
                   + atol * dy_norm * row_norms(width)[None, :])
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


def bisect(fc: Caller, vc: Caller, flat, y_shape, scr: Screen, resolution, vjp_eps, atol):
    """Follow the worst disagreeing projection down to one entry: ``(row, column)`` flat indices, or ``None``.

    Columns first (the displacement halved: ``f`` at ``x ± D_C`` and
    ``x ± D_C/2`` for each half ``C``, extrapolated as in the screen), then
    rows (the cotangent halved, one ``vjp`` per half), each time into the half
    whose disagreement is larger relative to its tolerance.  ``None`` when
    neither half disagrees: the error is spread, not in one entry.  Returns
    also the number of halvings.
    """
    c, b = np.unravel_index(int(np.argmax(scr.projections.ratio)), scr.projections.ratio.shape)
    dy, disp = block_cotangent(*scr.cotangents, int(c)), scr.displacements[b]
    v = vc.map(1, lambda lo, hi: dy.reshape((1,) + y_shape), flat.shape, lambda k: "the disagreeing probe's cotangent")[0]
    cols, levels = np.arange(flat.size), 0
    delta = rho = None
    while cols.size > 1:
        halves = np.array_split(cols, 2)
        d = np.zeros((2, flat.size))
        for k, half in enumerate(halves):
            d[k, half] = disp[half]
        delta_k, rho_k = _extrapolated(fc, flat, y_shape, d, resolution)
        proj = _projections(dy[None, :], v[None, :], delta_k, rho_k, taken(flat, d) / 2, vjp_eps, atol)
        ratio = proj.ratio[0]
        levels += 1
        if ratio.max() <= 1:
            return None, levels
        k = int(np.argmax(ratio))
        cols, delta, rho = halves[k], delta_k[k:k + 1], rho_k[k:k + 1]
    j = int(cols[0])
    if delta is None:  # a single input: its displacement is the probe's
        delta, rho = _extrapolated(fc, flat, y_shape, disp[None, :], resolution)
    width = np.zeros((1, flat.size))
    width[0, j] = taken(flat[j:j + 1], disp[j:j + 1])[0] / 2
    rows = np.flatnonzero(dy)
    while rows.size > 1:
        halves = np.array_split(rows, 2)
        cot = np.zeros((2, dy.size))
        for k, half in enumerate(halves):
            cot[k, half] = dy[half]
        vs = vc.map(2, lambda lo, hi: cot[lo:hi].reshape((hi - lo,) + y_shape), flat.shape,
                    lambda i: f"dy = half #{i} of a disagreeing probe's cotangent")
        ratio = _projections(cot, vs, delta, rho, width, vjp_eps, atol).ratio[:, 0]
        levels += 1
        if ratio.max() <= 1:
            return None, levels
        rows = halves[int(np.argmax(ratio))]
    return (int(rows[0]), j), levels


def _extrapolated(fc, flat, y_shape, d, resolution):
    """:func:`richardson` along the displacements ``d`` (rows): ``f`` at ``x ± d`` and ``x ± d/2``."""
    both = np.concatenate([d, d / 2])
    plus, minus, _ = probe_differences(fc, flat, y_shape, both)
    k = d.shape[0]
    return richardson(plus[:k], minus[:k], plus[k:], minus[k:], resolution)
