"""After the screen: every entry, or bisection to the wrong one; and the report of a check.

:class:`Check` holds one check's callers, point and findings.  When the
screen (:mod:`ils_ref.gradcheck.screen`) does not pass, :meth:`Check.entries`
compares every Jacobian entry (:mod:`ils_ref.gradcheck.entries`), and
:meth:`Check.bisection` follows a disagreeing projection to one entry when
every entry would take too many calls.  Either way the entries one step could
not settle get the many-step verdict, and :func:`ils_ref.gradcheck.core.decide`
the verdict; :meth:`Check.report` writes the :class:`VJPReport`.
"""

from __future__ import annotations

import math

import numpy as np

from .core import EPS64, FAIL, INCONCLUSIVE, PASS, agreement, decide, judge
from .entries import analytic_nonzeros, compare_entries, flag_rows
from .projections import basis
from .report import Entry, VJPReport, compare
from .screen import bisect
from .steps import sweep

#: The analytic Jacobian is held as its non-zeros (16-24 bytes each) up to this many; beyond,
#: rows are screened in blocks (:func:`ils_ref.gradcheck.entries.flag_rows`) and only the
#: failing rows are held.
MAX_NONZEROS = 1 << 24
#: Rows kept for the entry-by-entry comparison when the Jacobian is too large to hold.
MAX_FLAGGED_ROWS = 64
#: The transpose diagnosis builds the dense analytic Jacobian: up to this many entries (32 MiB).
TRANSPOSE_LIMIT = 1 << 22


class Check:
    """One check's callers, point and findings; what follows a screen that did not pass; the report."""

    def __init__(self, fc, vc, inputs, y0, rtol, atol, seed, n_worst, resolution, notes, base):
        self.fc, self.vc, self.inputs, self.y0 = fc, vc, inputs, y0
        self.rtol, self.atol, self.seed, self.n_worst = rtol, atol, seed, n_worst
        self.resolution, self.notes, self.base = resolution, list(notes), base
        self.linear, self.screen = None, None

    def where(self, row, col) -> dict:
        return dict(output_index=tuple(int(a) for a in np.unravel_index(int(row), self.y0.shape)),
                    input_index=self.inputs.index_of(int(col)))

    def report(self, mode, verdict, reason, result=None, error=None, **extra) -> VJPReport:
        result = {**dict(max_abs_error=math.nan, max_rel_error=math.nan, worst=(), n_compared=0, n_failed=0),
                  **(result or {})}
        if self.inputs.vjp_dtype is not None:
            self.vc.note_precision(np.zeros(0, self.inputs.vjp_dtype))
        scr = self.screen
        notes = tuple(self.notes + self.fc.notes + self.vc.notes + (scr.notes if scr is not None else []))
        return VJPReport(ok=verdict == PASS, mode=mode, error=error, screen_ok=None if scr is None else scr.status == PASS,
                         notes=notes, f_calls=self.fc.calls, vjp_calls=self.vc.calls, f_batched=self.fc.batched,
                         vjp_batched=self.vc.batched, verdict=verdict, reason=reason,
                         resolution=None if scr is None else scr.resolution,
                         relative_resolution=None if scr is None else scr.relative_resolution,
                         **{k: v for k, v in result.items() if k in _RESULT_FIELDS}, **extra, **self.base)

    def bisection(self, h) -> VJPReport:
        """The screen failed and every entry is too many: bisect to one entry, then re-check it at many steps."""
        fc, vc, flat, y_shape = self.fc, self.vc, self.inputs.flat, self.y0.shape
        found, levels = bisect(fc, vc, flat, y_shape, self.screen, self.resolution, self.inputs.vjp_eps, self.atol)
        table = self.screen.table
        if found is None:
            reason = (f"{self.screen.reason}, but the disagreement does not narrow to one entry (after {levels} "
                      f"halvings neither half disagreed): it is spread over many entries, or differences at step h "
                      f"do not fit f; full=True compares every entry")
            return self.report("screen+bisection", decide(self.linear, np.zeros(0), 1), reason, table)
        i, j = found
        row = vc.map(1, lambda lo, hi: basis(np.array([i]), self.y0.size, y_shape), flat.shape,
                     lambda k: f"dy = e at output {i}")[0]
        scale = float(np.abs(row).max(initial=0.0))
        tol = np.array([self.atol + self.rtol * scale + 8 * EPS64 * scale])
        swept = sweep(fc, flat, y_shape, [np.array([j])], h, (np.zeros(1, np.int64), np.array([i]), np.array([j])),
                      self.y0.reshape(-1), self.resolution)
        verdict_of = judge(row[j:j + 1], tol, np.array([scale]), swept, self.resolution.eps)
        where = self.where(i, j)
        entry = Entry(analytic=float(row[j]), numeric=float(verdict_of.numeric[0]), abs_error=float(verdict_of.error[0]),
                      rel_error=_relative(float(verdict_of.error[0]), float(verdict_of.numeric[0])),
                      tolerance=float(tol[0]), status=str(verdict_of.status[0]), why=verdict_of.explain(0), **where)
        verdict = decide(self.linear, verdict_of.status, not_rechecked=0 if verdict_of.status[0] == FAIL else 1)
        if verdict == FAIL:
            reason = (f"entry wrong (found by bisection in {levels} halvings): output {where['output_index']} input "
                      f"{where['input_index']}: analytic {entry.analytic:.6g}, numeric {entry.numeric:.6g}; other "
                      f"entries were not examined")
        else:
            reason = (f"{self.screen.reason}; bisection led to output {where['output_index']} input "
                      f"{where['input_index']}, where {entry.why}; other entries were not examined (full=True does)")
        result = dict(table, worst=(entry,), max_abs_error=entry.abs_error, max_rel_error=entry.rel_error,
                      n_failed=int(verdict == FAIL))
        return self.report("screen+bisection", verdict, reason, result, n_not_rechecked=int(verdict != FAIL))

    def entries(self, h, mode, max_groups=None, rows=None) -> VJPReport | None:
        """Every entry (of the output ``rows``, default all): the analytic Jacobian row by row, grouped
        differences, the many-step verdict.

        ``None`` when the columns need more than ``max_groups`` groups (points of ``f``: two each).
        """
        fc, vc, inputs, y0 = self.fc, self.vc, self.inputs, self.y0
        flat, y_shape = inputs.flat, y0.shape
        m, n = y0.size, flat.size
        rng = np.random.default_rng([self.seed, 1])
        rows = np.arange(m) if rows is None else np.asarray(rows)
        nonzeros = analytic_nonzeros(vc, rows, m, flat, y_shape, MAX_NONZEROS)
        if nonzeros is None:  # too many to hold: screen the rows, compare the failing ones
            rows, n_flagged = flag_rows(fc, vc, flat, y_shape, h, self.rtol, self.atol, rng, MAX_FLAGGED_ROWS,
                                        self.resolution, self.inputs.vjp_eps)
            self.notes.append(f"the analytic Jacobian has over {MAX_NONZEROS} non-zeros, too many to hold: every row "
                              f"was checked through 3 projections, {n_flagged} disagreed, and {len(rows)} of those "
                              f"were compared entry by entry")
            if rows.size == 0:
                return self.report(mode, decide(self.linear, np.zeros(0), not_rechecked=0),
                                   f"all {m} rows agree with f through 3 projections each",
                                   dict(max_abs_error=0.0, max_rel_error=0.0, n_compared=m * 3))
            nonzeros = analytic_nonzeros(vc, rows, m, flat, y_shape, MAX_NONZEROS)
        rows_nz, cols_nz, values_nz = nonzeros
        resolution = self.resolution
        linear = self.linear
        if len(rows) == m:  # the whole Jacobian: vjp(dy₁) must be Aᵀdy₁
            dy1, v1 = inputs.linearity_probe
            at_dy = np.bincount(cols_nz, values_nz * dy1[rows_nz], minlength=n)
            size = np.bincount(cols_nz, np.abs(values_nz * dy1[rows_nz]), minlength=n) + np.abs(v1)
            floor = 64 * self.inputs.vjp_eps * float(np.abs(dy1).max()) * float(np.abs(y0).max(initial=0.0))
            linear = agreement((("consistent", v1, at_dy),), size, self.rtol, self.inputs.vjp_eps, floor)
            if not linear.ok:
                return self.report(mode, decide(linear, np.zeros(0)), linear.explain(inputs.index_of))
        res = compare_entries(fc, nonzeros, rows, flat, y_shape, y0.reshape(-1), h, self.rtol, self.atol, rng,
                              resolution, max_groups)
        if res is None:
            return None
        self.notes += res.notes
        first, status = res.first, res.status
        verdict = decide(linear, status, res.not_rechecked)
        failed, unsure = np.flatnonzero(status == FAIL), np.flatnonzero(status == INCONCLUSIVE)
        judged = res.judgement
        settled = np.flatnonzero(first.settled)  # the values one step settled: the closest calls among them
        result = compare(first.analytic.flat[settled], first.numeric.flat[settled], first.tol.flat[settled],
                         self.n_worst, lambda k: self.where(rows[settled[k] % len(rows)], first.star.flat[settled[k]]))
        result["n_compared"] = int(first.analytic.size)
        listed = np.concatenate([failed[np.argsort(-judged.error[failed], kind="stable")], unsure]) if judged else []
        shown = tuple(self._entry(res, int(k)) for k in listed[:self.n_worst])
        result["worst"] = shown + result["worst"][:max(0, self.n_worst - len(shown))]
        if judged is not None and judged.error.size:
            result["max_abs_error"] = max(result["max_abs_error"], float(np.nanmax(judged.error, initial=0.0)))
            result["max_rel_error"] = max(result["max_rel_error"], max((e.rel_error for e in shown), default=0.0))
        rechecked = int(np.count_nonzero(status == PASS))
        what = f"{len(rows)} rows × {len(res.groups)} column groups"
        if verdict == FAIL:
            k = int(listed[0])
            loc = self.where(res.row[k], res.column[k])
            reason = (f"{failed.size} entr{'y' if failed.size == 1 else 'ies'} wrong; worst output {loc['output_index']} "
                      f"input {loc['input_index']}: analytic {res.analytic[k]:.6g}, numeric {judged.numeric[k]:.6g}")
            if m == n and len(rows) == m and m * n <= TRANSPOSE_LIMIT and _transposed(nonzeros, res):
                reason += "; the analytic Jacobian matches the transpose of f's: vjp computes J·dy, not Jᵀ·dy"
        elif unsure.size:
            reason = (f"{unsure.size} entr{'y' if unsure.size == 1 else 'ies'} could not be verified at any step: "
                      f"{judged.explain(int(unsure[0]))}")
        elif res.not_rechecked:
            reason = (f"{res.not_rechecked} entries one step could not settle were not re-checked at other steps "
                      f"(only a sample of the groups is); none of those re-checked is wrong")
        else:
            reason = f"every entry verified ({what})"
            if rechecked:
                reason += f"; {rechecked} at other steps (one step could not settle them)"
        if mode == "screen+rows":
            reason = (f"{self.screen.reason}; the {len(rows)} row(s) it left: "
                      + (reason if verdict != PASS else f"every entry verified at steps that fit them ({what})"))
        result.update(n_failed=int(failed.size))
        return self.report(mode, verdict, reason, result, n_inconclusive=int(unsure.size), n_entries=len(rows) * n,
                           n_not_rechecked=res.not_rechecked)

    def _entry(self, res, k: int) -> Entry:
        j = res.judgement
        error, numeric = float(j.error[k]), float(j.numeric[k])
        return Entry(analytic=float(res.analytic[k]), numeric=numeric, abs_error=error,
                     rel_error=_relative(error, numeric), tolerance=float(j.tol[k]), status=str(j.status[k]),
                     why=j.explain(k), **self.where(res.row[k], res.column[k]))


_RESULT_FIELDS = ("max_abs_error", "max_rel_error", "worst", "n_compared", "n_failed")


def _relative(error: float, numeric: float) -> float:
    if error == 0:
        return 0.0
    return error / abs(numeric) if numeric else math.inf


def _transposed(nonzeros, res) -> bool:
    """Whether ``Aᵀ`` agrees with the first step's differences (a square, complete ``A``, no step shrunk)."""
    cmp, first = res.comparison, res.first
    m = len(cmp.rows)
    if cmp.shrunk:
        return False
    A = np.zeros((m, m))
    A[nonzeros[0], nonzeros[1]] = nonzeros[2]
    disp = np.zeros((len(res.groups), A.shape[1]))
    for k, cols in enumerate(res.groups):  # one step per group
        disp[k, cols] = cmp.d[cols]
    with np.errstate(all="ignore"):
        numeric = (first.plus - first.minus) / 2  # (groups, m): f's change along each group's step
        transposed = disp @ A  # (groups, m): (Aᵀ D_g)_i = Σ_j A_ji d_j
        scale = np.abs(disp) @ np.abs(A) + np.abs(numeric)
        tol = cmp.rtol * scale + cmp.resolution.rounding(first.plus, first.minus, 1.0, cmp.rows) + cmp.atol
        return bool(np.all(np.abs(transposed - numeric) <= tol))


