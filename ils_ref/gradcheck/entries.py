r"""Every Jacobian entry with few calls of ``f``: the comparison behind ``check_vjp(full=True)``.

**Analytic side.**  One ``vjp`` per output entry ``i`` (``dy = e_i``) gives the
row ``A_i`` of the analytic Jacobian, held as its non-zeros.

**Numerical side, compressed.**  Columns that never share a row of ``A``'s
sparsity pattern are put in one group (greedy colouring), and each group is
perturbed at once: ``f(x ± D_g)`` with ``D_g = Σ_{j∈g} w_j h_j e_j`` (seeded
weights ``w_j ∈ [0.5, 1.5]``).  In every row at most one column of a group is
non-zero in ``A``, so

.. math::

    \frac{f_i(x + D_g) - f_i(x - D_g)}{2\,w_{j} h_{j}} \approx \sum_{j' \in g} J_{i j'} \frac{w_{j'} h_{j'}}{w_j h_j}

is the central difference of entry ``(i, j)`` when ``A`` has the right
pattern, and differs from ``A_{ij}`` (or from 0 where the row has no
non-zero in ``g``) when ``A`` misses a true non-zero: the random weights keep
a misrouted term from cancelling.  Softmax over ``(64, 100)`` needs 100 groups:
200 points of ``f`` instead of 12,800.  A dense ``A`` gives one column a
group: the classic full Jacobian.

**What one step settles, and the rest** (the rules are
:mod:`ils_ref.gradcheck.core`'s): an entry within its tolerance, with a
tolerance below its row's size, is settled at the first step.  Every other
entry gets the many-step verdict, its group swept as a whole (``f`` at
``x ± s·D_g``), up to :data:`MAX_SWEPT_GROUPS` groups (beyond, a seeded
random sample of them; the rest are reported as not re-checked).  Groups with
an entry proven wrong are halved down to single columns, so the report names
the wrong entry even where ``A`` has the wrong pattern.

**Tolerance** of entry ``(i, j)``, with ``n`` the numerical and ``a`` the
analytic value::

    atol + rtol·R_i + floor + rounding_ij
    R_i   = max over row i of |a|        (the row's size; a wrong entry that inflates it fails itself)
    floor = 8·ε·max |a|                  (float64 rounding of the largest entry)
    rounding_ij = (4·ε_f·(|f_i(x+D)| + |f_i(x-D)|) + 4·r_i) / width      (core.Resolution)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calls import MAX_BATCH_ELEMENTS, Caller
from .core import EPS64, FAIL, Judgement, Resolution, first_look, judge, row_sizes
from .projections import basis, probe_differences, probe_vectors, row_norms
from .steps import shrink_until_finite, sweep, taken

#: Most column groups; a sparsity pattern that needs more is compared column by column.
MAX_GROUPS = 512
#: Most column groups given the many-step verdict; beyond, a seeded random sample of this many.
MAX_SWEPT_GROUPS = 256
#: Groups with an entry proven wrong that are halved down to single columns to name it.
MAX_LOCALISED = 16


def colour_columns(rows_nz: np.ndarray, cols_nz: np.ndarray, n: int) -> list[np.ndarray]:
    """Groups of the ``n`` columns, no two of which share a row, from the non-zeros ``(rows_nz, cols_nz)``.

    Greedy, widest columns first.  Columns that are zero everywhere join the
    first group.  Falls back to one column a group when a row has more than
    :data:`MAX_GROUPS` non-zeros (then no grouping can help much).
    """
    if n == 0:
        return []
    per_row = np.bincount(rows_nz)
    widest = int(per_row.max(initial=0))
    if widest > MAX_GROUPS:
        return [np.array([j]) for j in range(n)]
    # First try columns j ≡ g (mod widest): right for elementwise, banded and block-diagonal
    # patterns (the usual ones), checked in one pass: no row may meet a group twice.
    keys = np.sort(rows_nz * widest + cols_nz % widest) if widest else None
    if widest and not np.any(keys[1:] == keys[:-1]):
        group = np.arange(n) % widest
        order = np.argsort(group, kind="stable")
        return np.split(order, np.cumsum(np.bincount(group, minlength=min(widest, n)))[:-1])
    order = np.argsort(cols_nz, kind="stable")
    rows_by_col = np.split(rows_nz[order], np.cumsum(np.bincount(cols_nz, minlength=n))[:-1])
    r = int(rows_nz.max(initial=-1)) + 1
    used = np.zeros((MAX_GROUPS, r), dtype=bool)
    group = np.zeros(n, dtype=np.int64)
    count = 1
    for j in np.argsort(-np.bincount(cols_nz, minlength=n), kind="stable"):  # one step per column
        rows = rows_by_col[j]
        if rows.size == 0:
            break  # widest first: the rest are zero columns
        free = np.flatnonzero(~used[:count, rows].any(axis=1))
        g = int(free[0]) if free.size else count
        if g == count:
            if count == MAX_GROUPS:
                return [np.array([k]) for k in range(n)]
            count += 1
        used[g, rows] = True
        group[j] = g
    order = np.argsort(group, kind="stable")
    return [s for s in np.split(order, np.cumsum(np.bincount(group, minlength=count))[:-1]) if s.size]


@dataclass(frozen=True)
class Look:
    """Every row against every column set at the first step: arrays ``(sets, rows)``."""

    analytic: np.ndarray
    numeric: np.ndarray
    tol: np.ndarray  # atol + rtol·R_i + floor + rounding
    base: np.ndarray  # the tolerance without its rounding term (the many-step verdict adds its own)
    rounding: np.ndarray
    star: np.ndarray  # the column each value belongs to
    plus: np.ndarray  # f at x + D_set, rows only
    minus: np.ndarray
    settled: np.ndarray  # core.first_look

    @property
    def error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    def worst_ratio(self, k: int) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(np.isfinite(self.numeric[k]), self.error[k] / self.tol[k], np.inf)
        return float(np.nanmax(np.where(self.settled[k], 0.0, ratio), initial=0.0))


class Comparison:
    """The analytic rows, the point, and the state shared by every evaluation of column sets."""

    def __init__(self, fc, nonzeros, rows, flat, y_shape, h, rtol, atol, rng, resolution: Resolution):
        self.fc, self.rows, self.flat, self.y_shape = fc, rows, flat, y_shape
        self.rows_nz, self.cols_nz, self.values_nz = nonzeros  # the analytic Jacobian (rows ``rows``) as its non-zeros
        self.rtol, self.atol, self.resolution = rtol, atol, resolution
        self.d = h * rng.uniform(0.5, 1.5, size=flat.size)  # the weighted displacement of every column
        self.row_scale = np.zeros(len(rows))
        self.row_size = None  # fixed by the first evaluation (all groups)
        self.floor = 0.0
        self.shrunk: dict[int, float] = {}  # column -> factor its step was shrunk by (left the domain)

    def evaluate(self, sets: list[np.ndarray]) -> Look:
        """Compare every row against every column set at the first step."""
        s_count, r = len(sets), len(self.rows)
        plus, minus, scale = shrink_until_finite(lambda todo, scale: self._points(sets, todo, scale), s_count,
                                                 select=self.rows)
        for k in np.flatnonzero(scale < 1):
            for j in sets[k]:
                self.shrunk[int(j)] = float(scale[k])
        # At most one non-zero of A per (set, row): scatter each to its place.  Where a row has none
        # in the set, the entry compared is 0 at the set's column with the largest step.
        set_of = np.full(self.flat.size, -1)
        members = np.concatenate(sets)
        owner = np.repeat(np.arange(s_count), [c.size for c in sets])
        set_of[members] = owner
        by_step = np.lexsort((-self.d[members], owner))  # within each set, the largest step first
        widest = members[by_step[np.searchsorted(owner[by_step], np.arange(s_count))]]
        analytic = np.zeros((s_count, r))
        star = np.repeat(widest[:, None], r, axis=1)
        k_nz = set_of[self.cols_nz]
        inside = k_nz >= 0
        analytic[k_nz[inside], self.rows_nz[inside]] = self.values_nz[inside]
        star[k_nz[inside], self.rows_nz[inside]] = self.cols_nz[inside]
        step = scale[:, None] * self.d[star]
        x_star = self.flat[star]
        width = (x_star + step) - (x_star - step)
        with np.errstate(all="ignore"):
            numeric = (plus - minus) / width
        rounding = self.resolution.rounding(plus, minus, width, self.rows)
        if self.row_size is None:  # the first evaluation (all groups) fixes the row scales and the floor
            # From the analytic side: finite differences may be garbage at the first step.  A wrong
            # entry that inflates its row's scale cannot pass itself (|a - n| ~ |a| >> rtol·|a|).
            self.row_scale = np.abs(analytic).max(axis=0, initial=0.0)
            self.floor = 8 * EPS64 * float(self.row_scale.max(initial=0.0))
        base = np.broadcast_to(self.atol + self.rtol * self.row_scale[None, :] + self.floor, analytic.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            tol = np.where(np.isfinite(rounding), base + rounding, np.inf)
        if self.row_size is None:
            self.row_size = row_sizes(analytic, numeric, tol)
        with np.errstate(invalid="ignore"):
            settled = first_look(analytic, numeric, tol, rounding, self.row_size[None, :])
        return Look(analytic=analytic, numeric=numeric, tol=tol, base=base, rounding=rounding, star=star,
                    plus=plus, minus=minus, settled=settled)

    @property
    def size(self) -> np.ndarray:
        """Each row's size: its largest value, analytic or agreed on at the first step."""
        return np.maximum(self.row_size, self.row_scale)

    def steps(self) -> np.ndarray:
        """Every column's first step, shrunk where ``f`` left its domain."""
        d = self.d.copy()
        for j, factor in self.shrunk.items():  # one step per shrunk column
            d[j] *= factor
        return d

    def _points(self, sets, which, scale):
        count = len(which)
        sizes = np.array([c.size for c in sets])
        members = np.concatenate(sets)
        offsets = np.concatenate([[0], np.cumsum(sizes)])

        def points(lo, hi):  # point i: x + D of set which[i] for i < count, x - D of set which[i - count] after
            pts = np.repeat(self.flat[None, :], hi - lo, axis=0)
            i = np.arange(lo, hi)
            ks = which[i % count]
            at = np.repeat(np.arange(hi - lo), sizes[ks])  # the point each perturbed entry belongs to
            cols = members[np.arange(at.size) - np.repeat(np.cumsum(sizes[ks]) - sizes[ks], sizes[ks]) + offsets[ks][at]]
            sign = np.where(i < count, 1.0, -1.0)[at]
            pts[at, cols] += sign * scale[ks][at] * self.d[cols]
            return pts

        def describe(i):
            return f"x {'+' if i < count else '-'} a step along column set #{int(which[i % count])}"

        values = self.fc.map(2 * count, points, self.y_shape, describe, finite=False).reshape(2 * count, -1)
        return values[:count], values[count:]


def analytic_nonzeros(vc, rows, m, flat, y_shape, limit: int):
    """The analytic Jacobian's rows ``rows`` as non-zeros ``(row position, column, value)``, a block at a time.

    One ``vjp`` per row (``dy = e_i``).  Returns ``None`` if there are more
    than ``limit`` non-zeros: the caller then screens rows instead.
    """
    n = flat.size
    block = max(1, MAX_BATCH_ELEMENTS // max(n, m, 1))
    parts, total = [], 0
    for lo in range(0, len(rows), block):  # one step per block of rows
        sel = rows[lo:lo + block]
        A = vc.map(len(sel), lambda a, b: basis(sel[a:b], m, y_shape), (n,),
                   lambda i: f"dy = e at output index {tuple(int(k) for k in np.unravel_index(sel[i], y_shape))}",
                   borrow=True)
        where = np.flatnonzero(A != 0)  # (faster than np.nonzero on floats)
        total += where.size
        if total > limit:
            return None
        r, c = np.divmod(where, n)
        parts.append((r + lo, c, A.reshape(-1)[where]))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate(p) for p in zip(*parts))


@dataclass(frozen=True)
class Entries:
    """What the entry-by-entry comparison found: the first look, and every entry it could not settle."""

    first: Look
    groups: list  # the column groups
    row: np.ndarray  # flat output index of each unsettled entry
    column: np.ndarray  # flat input index
    analytic: np.ndarray
    judgement: Judgement | None  # the many-step verdict on each (None: nothing unsettled)
    not_rechecked: int  # unsettled entries beyond the sample of MAX_SWEPT_GROUPS groups
    notes: list
    comparison: Comparison

    @property
    def status(self) -> np.ndarray:
        return self.judgement.status if self.judgement is not None else np.zeros(0, dtype=object)


def compare_entries(fc, nonzeros, rows, flat, y_shape, centre, h, rtol, atol, rng, resolution,
                    max_groups=None) -> Entries | None:
    """Every entry of the rows ``rows`` of the Jacobian: the analytic ``nonzeros`` against ``f``.

    ``None`` if the columns need more than ``max_groups`` groups (two points of ``f`` each).
    """
    cmp = Comparison(fc, nonzeros, rows, flat, y_shape, h, rtol, atol, rng, resolution)
    groups = colour_columns(cmp.rows_nz, cmp.cols_nz, flat.size)
    if max_groups is not None and len(groups) > max_groups:
        return None
    first = cmp.evaluate(groups)
    notes = []
    if len(groups) < flat.size:
        notes.append(f"compressed: {len(groups)} group{'s' if len(groups) > 1 else ''} of columns that share no row "
                     f"of the analytic Jacobian, {2 * len(groups)} points of f instead of {2 * flat.size}")
    unsettled = ~first.settled
    flagged = np.flatnonzero(unsettled.any(axis=1))
    swept = flagged
    if flagged.size > MAX_SWEPT_GROUPS:
        swept = np.sort(rng.choice(flagged, MAX_SWEPT_GROUPS, replace=False))
        notes.append(f"{flagged.size} column groups had entries one step could not settle; a random sample of "
                     f"{MAX_SWEPT_GROUPS} was re-checked at other steps")
    not_rechecked = int(unsettled[np.setdiff1d(flagged, swept)].sum())
    g, r = np.nonzero(unsettled[swept])
    g = swept[g]
    d = cmp.steps()
    judgement, row, column, analytic = None, rows[r], first.star[g, r], first.analytic[g, r]
    if g.size:
        swept_f = sweep(fc, flat, y_shape, groups, d, (g, row, column), centre, resolution)
        judgement = judge(analytic, first.base[g, r], cmp.size[r], swept_f, resolution.eps)
        row, column, analytic, judgement = _localise(cmp, groups, g, row, column, analytic, judgement, centre)
    if cmp.shrunk:
        j, factor = min(cmp.shrunk.items(), key=lambda t: t[1])
        notes.append(f"f was not finite at x ± h for {len(cmp.shrunk)} input(s): their step was shrunk "
                     f"(down to {factor:g}·h at flat input {j})")
    return Entries(first=first, groups=groups, row=row, column=column, analytic=analytic, judgement=judgement,
                   not_rechecked=not_rechecked, notes=notes, comparison=cmp)


def _localise(cmp, groups, g, row, column, analytic, judgement, centre):
    """Name the wrong entries of the worst groups with a proven failure: halve them to single columns.

    A group's sweep reads each row at the column ``A`` says is non-zero there;
    where ``A`` misses a true non-zero, the error is in another column of the
    group.  Halving finds it.  Returns the entries with the localised groups'
    replaced by their single columns'.
    """
    failing = np.unique(g[judgement.status == FAIL])
    multi = [k for k in failing if groups[k].size > 1]
    if not multi:
        return row, column, analytic, judgement
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = judgement.error / judgement.tol
    worst = sorted(multi, key=lambda k: -float(np.nanmax(ratio[g == k], initial=0.0)))
    chosen = worst[:MAX_LOCALISED]
    singles = _follow(cmp, [groups[k] for k in chosen])
    if not singles:
        return row, column, analytic, judgement
    cols = np.array(sorted(singles))
    look = cmp.evaluate([np.array([j]) for j in cols])
    s, r = np.nonzero(~look.settled)
    if s.size == 0:
        return row, column, analytic, judgement
    sets = [np.array([j]) for j in cols]
    new_row, new_col, new_a = cmp.rows[r], cols[s], look.analytic[s, r]
    swept = sweep(cmp.fc, cmp.flat, cmp.y_shape, sets, cmp.steps(), (s, new_row, new_col), centre, cmp.resolution)
    new = judge(new_a, look.base[s, r], cmp.size[r], swept, cmp.resolution.eps)
    if not np.any(new.status == FAIL):
        return row, column, analytic, judgement
    keep = ~np.isin(g, chosen)
    merged = Judgement(**{f: np.concatenate([getattr(judgement, f)[keep], getattr(new, f)])
                          for f in Judgement.__dataclass_fields__})
    return (np.concatenate([row[keep], new_row]), np.concatenate([column[keep], new_col]),
            np.concatenate([analytic[keep], new_a]), merged)


def _follow(cmp, pending: list) -> set:
    """Halve the column sets ``pending`` while a half has an unsettled value: the single columns reached."""
    singles = set()
    while pending:
        singles.update(int(c[0]) for c in pending if c.size == 1)
        halves = [part for c in pending if c.size > 1 for part in np.array_split(c, 2)]
        if not halves:
            break
        look = cmp.evaluate(halves)
        ranked = sorted(((look.worst_ratio(k), k) for k in range(len(halves)) if not look.settled[k].all()), reverse=True)
        pending = [halves[k] for _, k in ranked[:MAX_LOCALISED]]
    return singles


def flag_rows(fc: Caller, vc: Caller, flat, y_shape, h, rtol, atol, rng, keep: int, resolution, vjp_eps,
              probes: int = 3):
    """Rows of a Jacobian too large to hold whose projections ``A_i·D_b`` disagree with ``f``; the worst ``keep``.

    The analytic rows are computed ``MAX_BATCH_ELEMENTS // n`` at a time and
    never stored; memory is ``O(m·probes + block·n)``.
    """
    m, n = int(np.prod(y_shape, dtype=np.int64)), flat.size
    u = probe_vectors(rng, probes, flat.shape)
    fp, fm, scale = probe_differences(fc, flat, y_shape, u * h)
    width = taken(flat, u * h * scale[:, None]) / 2
    with np.errstate(all="ignore"):
        numeric = ((fp - fm) / 2).T  # (m, probes)
        noise = resolution.rounding(fp, fm, 2.0).T
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
