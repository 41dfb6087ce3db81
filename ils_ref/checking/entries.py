r"""The entry-by-entry comparison behind ``check_vjp(full=True)``: every Jacobian entry, few calls of ``f``.

**Analytic side.**  One ``vjp`` per output entry ``i`` (``dy = e_i``) gives the
row ``A_i`` of the analytic Jacobian.

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

A group that fails is split in halves until single columns name the wrong
entries (as many groups at a time as :data:`MAX_SWEEP_VALUES` allows, at least
:data:`MIN_FOLLOWED`); failing single entries get a
second opinion at other steps (:mod:`ils_ref.checking.steps`).

**Tolerance** of entry ``(i, j)``, with ``n`` the numerical and ``a`` the
analytic value::

    atol + rtol·R_i + rounding_ij + floor
    R_i   = max over row i of |a|                (the row's size; a wrong entry that inflates it fails itself)
    rounding_ij = 16·ε·(|f_i(x+D)| + |f_i(x-D)|) / width
    floor = 8·ε·max |a|                           (float64 rounding of the largest entry)
"""

from __future__ import annotations

import numpy as np

from .calls import MAX_BATCH_ELEMENTS
from .comparison import basis
from .steps import EPS_MACHINE, SWEEP, classify, explain, rounding, shrink_until_finite, sweep

#: Most column groups; a sparsity pattern that needs more is compared column by column.
MAX_GROUPS = 512
#: Failing groups (and halves of them) followed down to single columns at a time: at least this
#: many, more while their points stay within :data:`MAX_SWEEP_VALUES`.
MIN_FOLLOWED = 16
#: Most values (points × (inputs + outputs)) the second opinion may evaluate.
MAX_SWEEP_VALUES = 1 << 23


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


class Comparison:
    """The analytic rows, the point, and the state shared by every evaluation of column sets."""

    def __init__(self, fc, nonzeros, rows, flat, y_shape, h, rtol, atol, rng):
        self.fc, self.rows, self.flat, self.y_shape = fc, rows, flat, y_shape
        self.rows_nz, self.cols_nz, self.values_nz = nonzeros  # the analytic Jacobian (rows ``rows``) as its non-zeros
        self.h, self.rtol, self.atol = h, rtol, atol
        self.d = h * rng.uniform(0.5, 1.5, size=flat.size)  # the weighted displacement of every column
        self.row_scale = None
        self.floor = 0.0
        self.shrunk: dict[int, float] = {}  # column -> factor its step was shrunk by (left the domain)
        self.domain_left = []  # sets whose outputs stayed non-finite at the smallest step

    def evaluate(self, sets: list[np.ndarray]) -> dict:
        """Compare every row against every column set; arrays ``(sets, rows)``."""
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
            noise = rounding(plus, minus, width)
        finite = np.isfinite(numeric)
        if self.row_scale is None:  # the first evaluation (all groups) fixes the row scales and the floor
            # From the analytic side: finite differences may be garbage at the first step.  A wrong
            # entry that inflates its row's scale cannot pass itself (|a - n| ~ |a| >> rtol·|a|).
            self.row_scale = np.abs(analytic).max(axis=0, initial=0.0)
            self.floor = 8 * EPS_MACHINE * float(self.row_scale.max(initial=0.0))
        base = self.atol + self.rtol * self.row_scale[None, :] + self.floor
        with np.errstate(over="ignore"):
            tol = base + noise
        err = np.abs(analytic - numeric)
        return dict(numeric=numeric, analytic=analytic, tol=tol, base=np.broadcast_to(base, tol.shape), err=err,
                    star=star, finite=finite, plus=plus, minus=minus, width=width,
                    failed=~finite | (err > tol))

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


def compare_entries(fc, nonzeros, rows, flat, y_shape, centre, h, rtol, atol, rng) -> dict:
    """Every entry of the rows ``rows`` of the Jacobian: the analytic ``nonzeros`` against ``f``.

    Returns the first pass's arrays for the worst-entry table, the failing
    entries after localisation and a second opinion, each with a status, and
    notes.
    """
    cmp = Comparison(fc, nonzeros, rows, flat, y_shape, h, rtol, atol, rng)
    groups = colour_columns(cmp.rows_nz, cmp.cols_nz, flat.size)
    first = cmp.evaluate(groups)
    notes = []
    if len(groups) < flat.size:
        notes.append(f"compressed: {len(groups)} group{'s' if len(groups) > 1 else ''} of columns that share no row "
                     f"of the analytic Jacobian, "
                     f"{2 * len(groups)} points of f instead of {2 * flat.size}")
    # Follow failing groups down to single columns and re-check those at other steps: the worst
    # MIN_FOLLOWED first; once an entry is confirmed wrong the verdict is settled and the rest is
    # left, otherwise the next groups in turn, as many as the work budget allows.
    current = [(k, groups[k]) for k in range(len(groups)) if first["failed"][k].any()]
    worst = {k: _worst_ratio(first, k) for k, _ in current}
    ranked = [cols for _, cols in sorted(current, key=lambda t: -worst[t[0]])]
    per_point = flat.size + int(np.prod(y_shape, dtype=np.int64))
    most = max(MIN_FOLLOWED, MAX_SWEEP_VALUES // (2 * per_point))
    rounds, start, size, followed_all = [], 0, MIN_FOLLOWED, True
    while start < len(ranked):
        if start >= most:
            followed_all = False
            break
        batch = ranked[start:start + size]
        singles, complete = _follow(cmp, batch, most)
        followed_all &= complete
        rounds.append(_second_opinion(fc, cmp, singles, flat, y_shape, centre, h))
        start += len(batch)
        size = most
        if np.any(rounds[-1]["status"] == "fail"):
            followed_all &= start >= len(ranked)
            break
    entries = _merge(rounds)
    if not followed_all:
        notes.append(f"{len(ranked)} column groups failed at the first step; the worst {min(start, len(ranked))} "
                     f"were followed down to single entries")
    if cmp.shrunk:
        j, factor = min(cmp.shrunk.items(), key=lambda t: t[1])
        notes.append(f"f was not finite at x ± h for {len(cmp.shrunk)} input(s): their step was shrunk "
                     f"(down to {factor:g}·h at flat input {j})")
    return dict(first=first, entries=entries, notes=notes, groups=len(groups), group_sets=groups, cmp=cmp,
                followed_all=followed_all)


def _follow(cmp, pending, most) -> tuple[dict, bool]:
    """Halve the failing column sets ``pending`` until single columns: their evaluations, and whether all were followed."""
    singles: dict[int, dict] = {}  # column -> its evaluation as a one-column set
    complete = True
    while pending:
        done = [c for c in pending if c.size == 1]
        if done:
            ev = cmp.evaluate(done)
            for k, c in enumerate(done):
                singles[int(c[0])] = {key: v[k] for key, v in ev.items()}
        halves = [part for c in pending if c.size > 1 for part in np.array_split(c, 2)]
        if not halves:
            break
        ev = cmp.evaluate(halves)
        ranked = sorted(((_worst_ratio(ev, k), k) for k in range(len(halves)) if ev["failed"][k].any()), reverse=True)
        complete &= len(ranked) <= most
        pending = [halves[k] for _, k in ranked[:most]]
    return singles, complete


def _worst_ratio(ev, k) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ev["finite"][k], ev["err"][k] / ev["tol"][k], np.inf)
    return float(np.nanmax(ratio, initial=0.0))


def _second_opinion(fc, cmp, singles, flat, y_shape, centre, h) -> dict:
    """Every failing single entry, re-checked at the steps of :data:`SWEEP` (vectorised over entries).

    Returns arrays over the failing entries: ``row`` (output), ``column``,
    ``analytic``, ``numeric``, ``abs_error``, ``tolerance``, ``status`` and
    the :func:`~ils_ref.checking.steps.classify` result for :func:`why`.
    """
    cols, rows_at, analytic, numeric, err, tol, base = ([] for _ in range(7))
    for j, ev in singles.items():  # one step per followed column
        i = np.flatnonzero(ev["failed"])
        cols.append(np.full(i.size, j))
        rows_at.append(i)
        for out, key in ((analytic, "analytic"), (numeric, "numeric"), (err, "err"), (tol, "tol"), (base, "base")):
            out.append(np.asarray(ev[key])[i])
    if not cols:
        return _merge([])
    column, at = np.concatenate(cols), np.concatenate(rows_at)
    analytic, numeric, err, tol, base = (np.concatenate(v) for v in (analytic, numeric, err, tol, base))
    row = cmp.rows[at]
    swept = np.unique(column)
    per_point = flat.size + int(np.prod(y_shape, dtype=np.int64))
    swept = swept[:max(1, MAX_SWEEP_VALUES // (2 * len(SWEEP) * per_point))]
    status = np.full(column.size, "fail", dtype=object)
    result = None
    inside = np.isin(column, swept)
    if swept.size:
        steps_h = h.copy()
        for j in swept:  # one step per swept column
            steps_h[j] *= cmp.shrunk.get(int(j), 1.0)
        plus, minus, widths = sweep(fc, flat, y_shape, swept, steps_h)
        k = np.searchsorted(swept, column[inside])
        result = classify(analytic[inside], plus[k, :, row[inside]], minus[k, :, row[inside]], centre[row[inside]],
                          widths[k], base[inside])
        status[inside] = result["status"]
        better = np.isfinite(result["numeric"])
        numeric[np.flatnonzero(inside)[better]] = result["numeric"][better]
        err = np.abs(analytic - numeric)
    return dict(row=row, column=column, analytic=analytic, numeric=numeric, abs_error=err, tolerance=tol,
                status=status, inside=np.flatnonzero(inside), result=result)


def why(entries: dict, k: int) -> str:
    """The reason for failing entry ``k`` of :func:`_second_opinion`'s result."""
    position = np.searchsorted(entries["inside"], k)
    if position < entries["inside"].size and entries["inside"][position] == k:
        return explain(entries["result"], int(position))
    return "not re-checked at other steps (too many failing columns)"


def _merge(rounds: list[dict]) -> dict:
    """The failing entries of several rounds of :func:`_second_opinion`, as one."""
    empty = dict(row=np.zeros(0, np.int64), column=np.zeros(0, np.int64), status=np.zeros(0, dtype=object),
                 analytic=np.zeros(0), numeric=np.zeros(0), abs_error=np.zeros(0), tolerance=np.zeros(0))
    rounds = [r for r in rounds if r["row"].size]
    merged = {key: np.concatenate([r[key] for r in rounds]) if rounds else value for key, value in empty.items()}
    offsets = np.cumsum([0] + [r["row"].size for r in rounds])
    merged["reasons"] = [(offset, r) for offset, r in zip(offsets, rounds)]
    return merged


def reason(entries: dict, k: int) -> str:
    """Why failing entry ``k`` of a merged result got its status, in one sentence."""
    for offset, r in reversed(entries["reasons"]):
        if k >= offset:
            return why(r, k - offset)
    raise IndexError(k)
