r"""The screen behind :func:`ils_ref.check_vjp`: random projections, and bisection to a wrong entry.

For seeded probes ``u_b`` (random signs, magnitudes in [0.5, 1.5]) scaled by
the steps ``h``, ``D_b = h ⊙ u_b``, and cotangents ``dy_a`` of the same kind,
each output weighted by the inverse of its own change along the probes
(:func:`row_weights`, so that every row counts alike) and restricted to a
block ``B`` of at most :data:`BLOCK` outputs, it compares

    analytic  ⟨vjp(dy_aB), D_b⟩      against      numeric  ⟨dy_aB, f(x + D_b) - f(x - D_b)⟩ / 2.

The numeric side is extrapolated from four scales of ``D`` and the
tolerance is a random-walk bound on rounding and on the truncation left
(:mod:`ils_ref.gradcheck.projections`).

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
displacement (four points of ``f`` per half: ``x ± D_C`` and ``x ± D_C/2``)
finds the column, and halving its cotangent (one ``vjp`` per half) the row: a
wrong entry among ``10⁶`` in about 160 points of ``f`` and 40 cotangents, not
one ``vjp`` per output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calls import Caller
from .projections import (
    Projections,
    Z,
    block_cotangent,
    extrapolated,
    extrapolations,
    probe_differences,
    probe_vectors,
    project,
    project_blocks,
)
from .report import compare
from .steps import taken

#: Outputs per block of the screen's cotangents: the resolution is that of this many outputs.
BLOCK = 256
#: Blocks per probe the screen affords whatever the size.
MAX_BLOCKS = 16
#: Values (cotangents × inputs) the screen may spend on blocks.
MAX_BLOCK_VALUES = 1 << 27
#: Calls the screen may spend on blocks when vjp takes one cotangent at a time.
MAX_BLOCK_CALLS = 3000


@dataclass(frozen=True)
class Screen:
    """What the screen found.  ``status``: ``"pass"``, ``"fail"`` (a projection disagrees) or ``"unresolved"``."""

    status: str
    reason: str
    table: dict  # compare()'s worst-projection table
    resolution: float | None  # absolute: a single entry off by more than this fails the screen (None: no row screened)
    relative_resolution: float | None  # the worst block's resolution over its largest entry
    notes: list
    cotangents: tuple  # (dys, edges): cotangent a·p + B is dy_a on output block B (block_cotangent)
    displacements: np.ndarray  # (p, n)
    projections: Projections
    hard_rows: np.ndarray  # flat outputs left to the entry-by-entry comparison


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
    """How many output blocks the screen can afford: enough for :data:`BLOCK` outputs each, within budget.

    The budget is :data:`MAX_BLOCK_VALUES` values of cotangents and their VJPs (at least
    :data:`MAX_BLOCKS` blocks), and :data:`MAX_BLOCK_CALLS` calls of a vjp that takes one at a time.
    """
    wanted = max(1, math.ceil(m / BLOCK))
    affordable = max(MAX_BLOCKS, MAX_BLOCK_VALUES // max(1, n_probes * max(n, m)))
    if not vjp_batched:
        affordable = min(affordable, MAX_BLOCK_CALLS // n_probes)
    return int(min(wanted, affordable))


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
    hard = hard_rows(fp, delta, options, rtol)
    if hard.size <= MAX_HARD_ROWS:  # left to the entry-by-entry comparison (else the blocks say what they can)
        dys[:, hard] = 0.0
    width = taken(flat, disp) / 2
    p = blocks_for(m, n, n_probes, vc.batched)
    edges = np.linspace(0, m, p + 1).astype(np.int64)
    proj, scale_b = project_blocks(vc, dys, edges, options, width, y_shape, flat.shape, vjp_eps, atol)
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
    hidden = np.zeros(m, bool)
    if hard.size > MAX_HARD_ROWS:  # outputs that moved by nothing, yet are not 0
        hidden = np.all(delta == 0, axis=0) & np.any(fp != 0, axis=0)
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
    elif hard.size == m:
        status, reason = "pass", "no output row is one the screen resolves to rtol"
    else:
        status, reason = "pass", (f"all {table['n_compared']} random projections agree; any single entry off by "
                                  f"more than {float(relative.max()):.1e} of its block's largest entry would have failed")
    if hard.size and hard.size <= MAX_HARD_ROWS:
        notes.append(f"{hard.size} output row(s) whose rounding the screen cannot resolve to rtol (first: flat output "
                     f"{int(hard[0])}) are left to the entry-by-entry comparison")
    screened = hard.size < m  # a resolution only where some row was screened
    return Screen(status=status, reason=reason, table=table, resolution=float(res.max(initial=0.0)) if screened else None,
                  relative_resolution=float(relative.max(initial=0.0)) if screened else None, notes=notes,
                  cotangents=(dys, edges),
                  displacements=disp, projections=proj,
                  hard_rows=hard if hard.size <= MAX_HARD_ROWS else np.zeros(0, np.int64))


def hard_rows(fp, delta, options, rtol) -> np.ndarray:
    """Outputs the screen cannot resolve to ``rtol`` of their own entries: flat indices.

    A row whose rounding (and truncation left) is more than ``rtol / (8·Z·√BLOCK)`` of
    its own change along the probes would, alone, make its block's resolution worse than
    ``rtol`` (``sin`` where ``cos`` is 1e-3, a saturated softmax row); so would a row that
    does not move at all while not 0.  Weighting rows alike cannot help those: they are
    compared entry by entry instead, at steps that fit them.
    """
    rounding, truncation = options[0][1], options[0][2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = np.abs(delta).max(axis=0, initial=0.0)
        noise = (rounding + truncation).max(axis=0, initial=0.0)
        hard = ~(noise <= rtol / (8 * Z * math.sqrt(BLOCK)) * change)
    hidden = (change == 0) & ~np.any(fp != 0, axis=0)  # exactly 0 everywhere: nothing hard about it
    return np.flatnonzero(hard & ~hidden)


#: Output rows the screen may leave to the entry-by-entry comparison (each costs a vjp call).
MAX_HARD_ROWS = 2048


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
        delta_k, rho_k = extrapolated(fc, flat, y_shape, d, resolution)
        proj = project(dy[None, :], v[None, :], delta_k, rho_k, taken(flat, d) / 2, vjp_eps, atol)
        ratio = proj.ratio[0]
        levels += 1
        if ratio.max() <= 1:
            return None, levels
        k = int(np.argmax(ratio))
        cols, delta, rho = halves[k], delta_k[k:k + 1], rho_k[k:k + 1]
    j = int(cols[0])
    if delta is None:  # a single input: its displacement is the probe's
        delta, rho = extrapolated(fc, flat, y_shape, disp[None, :], resolution)
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
        ratio = project(cot, vs, delta, rho, width, vjp_eps, atol).ratio[:, 0]
        levels += 1
        if ratio.max() <= 1:
            return None, levels
        rows = halves[int(np.argmax(ratio))]
    return (int(rows[0]), j), levels


