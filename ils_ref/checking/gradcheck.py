r"""Finite-difference gradient checking, for this package and for yours.

Everything here is framework-agnostic: ``f`` maps a float64 array to an
array, ``vjp(x, dy)`` returns ``dx = Jᵀ dy``.  To check a PyTorch or JAX
function, wrap it so that it takes and returns arrays (``numpy.asarray`` is
applied to whatever comes back, so a CPU tensor without grad works).

The parts, one module each:

:mod:`~ils_ref.checking.finite_differences`
    :func:`numerical_jacobian`, the full Jacobian by central differences.
:mod:`~ils_ref.checking.steps`
    Steps that fit the function; a second opinion at other steps.
:mod:`~ils_ref.checking.comparison`
    The screen: random projections.
:mod:`~ils_ref.checking.entries`
    The entry-by-entry comparison, columns grouped by sparsity.
:mod:`~ils_ref.checking.report`
    :class:`VJPReport`, what a check found, printable.
:mod:`~ils_ref.checking.calls`
    Calling the user's functions: counting, converting, batching when asked.

and this module's :func:`check_vjp`
    Compares a hand-written (or autodiff) VJP with finite differences.  By
    default it *screens* with a few seeded random projections, which costs a
    constant number of calls whatever the size of ``x``, and computes the full
    Jacobian only when the screen fails, so the report can name the wrong
    entries.  ``full=True`` forces the entry-by-entry comparison.

The tolerance model is in :mod:`ils_ref.checking.entries`, the step model
and what "inconclusive" means in :mod:`ils_ref.checking.steps`.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import checked
from .calls import BudgetExceeded, Caller, UserFunctionError, as_output
from .comparison import compare, flag_rows, screen
from .entries import analytic_nonzeros, compare_entries
from .entries import reason as explain_entry
from .finite_differences import DEFAULT_EPS, numerical_jacobian
from .report import Entry, VJPReport
from .steps import EPS_MACHINE, SWEEP, relative_steps, rounding

__all__ = ["numerical_jacobian", "check_vjp", "assert_vjp", "VJPReport", "Entry"]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0
#: The analytic Jacobian is held as its non-zeros (16-24 bytes each) up to this many; beyond,
#: rows are screened in blocks (:func:`ils_ref.checking.comparison.flag_rows`) and only the
#: failing rows are held.
MAX_NONZEROS = 1 << 24
#: Rows kept for the entry-by-entry comparison when the Jacobian is too large to hold.
MAX_FLAGGED_ROWS = 64


class _Inputs:
    """One array, or several (``wrt`` of them perturbed), as one flat vector and back."""

    def __init__(self, x, wrt):
        self.multi = isinstance(x, (tuple, list))
        arrays = list(x) if self.multi else [x]
        if self.multi and not arrays:
            raise ValueError("x is an empty tuple: give at least one input array")
        self.arrays = [checked(**{f"x[{k}]" if self.multi else "x": ("real", a)}) for k, a in enumerate(arrays)]
        if wrt is None:
            wrt = tuple(range(len(arrays)))
        elif not self.multi:
            raise ValueError("wrt names inputs of a tuple x; for a single array leave it out")
        else:
            if isinstance(wrt, (int, np.integer)) and not isinstance(wrt, bool):
                wrt = (wrt,)
            if not isinstance(wrt, (tuple, list)) or not wrt or len(set(wrt)) != len(wrt) or not all(
                    isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < len(arrays) for k in wrt):
                raise ValueError(f"wrt must name distinct inputs among 0..{len(arrays) - 1}, got {wrt!r}")
        self.wrt = tuple(int(k) for k in wrt)
        sizes = [self.arrays[k].size for k in self.wrt]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.flat = np.concatenate([self.arrays[k].reshape(-1) for k in self.wrt]) if sizes else np.zeros(0)
        self.shape = self.arrays[0].shape if not self.multi else (int(self.flat.size),)

    def unpack(self, z):
        lead = z.shape[:-1]
        args = list(self.arrays)
        for k, a in enumerate(self.arrays):
            if k not in self.wrt:  # held fixed: a fresh copy (with the leading axis when batched)
                args[k] = a.copy() if not lead else np.broadcast_to(a, lead + a.shape).copy()
        for pos, k in enumerate(self.wrt):
            args[k] = z[..., self.offsets[pos]:self.offsets[pos + 1]].reshape(lead + self.arrays[k].shape)
        return args

    def index_of(self, j: int) -> tuple:
        pos = int(np.searchsorted(self.offsets, j, side="right") - 1)
        k = self.wrt[pos]
        idx = tuple(int(i) for i in np.unravel_index(j - self.offsets[pos], self.arrays[k].shape))
        return (k,) + idx if self.multi else idx

    def f(self, fn):
        return lambda z: fn(*self.unpack(z))

    def vjp(self, fn, caller_box):
        def packed(dy):
            lead = dy.shape[:dy.ndim - len(self.y_shape)]
            out = fn(*(a.copy() for a in self.arrays), dy)
            if self.multi:
                if not isinstance(out, (tuple, list)) or len(out) not in (len(self.arrays), len(self.wrt)):
                    raise UserFunctionError(
                        f"vjp returned {type(out).__name__}; expected a tuple of {len(self.arrays)} arrays "
                        f"(one per input) or of {len(self.wrt)} (one per input in wrt)", "vjp")
                parts = [out[k] for k in self.wrt] if len(out) == len(self.arrays) else list(out)
            else:
                parts = [out]
            flat = []
            for pos, (k, part) in enumerate(zip(self.wrt, parts)):
                caller_box[0].note_precision(part)  # seen here, before the parts become one float64 array
                name = f"its part for input {k}" if self.multi else "it"
                arr = as_output(part, "vjp", lead + self.arrays[k].shape, f"({name})", finite=not lead, copy=False)
                flat.append(arr.reshape(lead + (-1,)))
            return flat[0] if len(flat) == 1 else np.concatenate(flat, axis=-1)
        return packed


def check_vjp(
    f,
    vjp,
    x,
    *,
    eps=DEFAULT_EPS,
    rtol=DEFAULT_RTOL,
    atol=DEFAULT_ATOL,
    full: bool = False,
    n_probes: int = 3,
    seed: int = 0,
    n_worst: int = 5,
    batched: bool = False,
    vjp_batched: bool = False,
    wrt=None,
    max_evaluations=None,
) -> VJPReport:
    r"""Check a vector-Jacobian product against central finite differences; a verdict and its reason.

    **Screen** (default): ``n_probes`` seeded random displacements ``D_b``
    and cotangents ``dy_a``; all pairs ``⟨vjp(x, dy_a), D_b⟩`` against
    ``⟨dy_a, f(x + D_b) - f(x - D_b)⟩ / 2``.  A constant number of calls
    whatever the size of ``x``.  If a pair disagrees — or with ``full=True`` —
    **every entry** is compared (:mod:`ils_ref.checking.entries`: one ``vjp``
    per output entry; ``f`` at two points per group of columns that share no
    row, so a sparse Jacobian costs few calls), failing entries are
    re-checked at other steps (:mod:`ils_ref.checking.steps`), and the report
    names them.

    **Steps**: ``h_j = eps·max(|x_j|, 1)``, shrunk by 10 where ``f`` is not
    finite at ``x ± h``.  **Tolerance** of entry ``(i, j)``:
    ``atol + rtol·R_i + rounding_ij + floor``, with ``R_i`` the size of row
    ``i`` (its largest entry on which both sides agree in size), the float64
    rounding of the central difference from ``|f|`` at the two points, and
    ``floor = 8ε·max|J|``: so a saturated gradient of 1e-13 in a row of its
    own is checked to ``rtol`` relative.

    **Verdict** (``report.verdict``): ``"pass"``; ``"fail"`` when an entry's
    error does not move with the step (or ``vjp`` itself fails); or
    ``"inconclusive"`` when some entry cannot be verified at any step (a
    kink, the domain's edge, rounding, truncation: the report says which),
    or ``max_evaluations`` stopped the work.  ``report.ok`` is True only for
    ``"pass"``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` (``f(*x)`` for a tuple ``x``); must be deterministic
        (checked: two calls at ``x`` must agree exactly).
    vjp : callable
        ``vjp(x, dy) -> dx`` with ``dx.shape == x.shape``; for a tuple ``x``,
        ``vjp(*x, dy)`` returns one array per input (or one per input in
        ``wrt``).
    x : array_like, or a tuple of them
        The point; float64, finite.  A tuple checks a function of several
        arrays.
    eps : float, default 1e-6
        Relative step: ``h_j = eps·max(|x_j|, 1)``.  Float32 implementations
        typically need ``eps≈1e-3``, ``rtol≈1e-2``.
    rtol, atol : float, default 1e-6, 0
        See the tolerance above.
    full : bool, default False
        Compare every entry even if the screen passes.
    n_probes : int, default 3
        Random displacements and cotangents of the screen.
    seed : int, default 0
        Seed of the probes and of the column weights (the report records it).
    n_worst : int, default 5
        How many entries the report lists.
    batched, vjp_batched : bool, default False
        Whether ``f`` (resp. ``vjp`` in its ``dy`` argument) broadcasts over a
        leading axis, so that many points go in one call.  For a tuple ``x``
        every input gets the leading axis.
    wrt : int or tuple of int, optional
        For a tuple ``x``: which inputs to check (default all); the others
        are held fixed.
    max_evaluations : int, optional
        At most this many points of ``f`` plus cotangents of ``vjp``, besides
        the two calls of ``f`` at ``x``; a check that needs more stops with
        verdict ``"inconclusive"``.

    Returns
    -------
    VJPReport
        Never raises because of ``vjp``: if it raises, returns ``None``, the
        wrong shape, a non-numeric value or NaN/inf, the verdict is
        ``"fail"`` with ``error`` saying so.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, or a problem with ``f`` at ``x`` (it raises, is not
        deterministic, or returns NaN/inf or the wrong shape): without a sound
        ``f`` there is nothing to check against.
    """
    eps, rtol, atol, full, n_probes, seed, n_worst = checked(
        eps=("positive", eps),
        rtol=("nonnegative_scalar", rtol),
        atol=("nonnegative_scalar", atol),
        full=("flag", full),
        n_probes=("int", n_probes, 1),
        seed=("int", seed, 0),
        n_worst=("int", n_worst, 0),
    )
    if eps < 8 * EPS_MACHINE:
        raise ValueError(f"eps={eps:g} is too small: x ± eps·max(|x|, 1) rounds to (almost) x; use about 1e-6")
    if eps > 0.1:
        raise ValueError(f"eps={eps:g} is too large: it is a relative step, h = eps·max(|x|, 1); use about 1e-6")
    if max_evaluations is not None:
        max_evaluations = checked(max_evaluations=("int", max_evaluations, 1))
    inputs = _Inputs(x, wrt)
    budget = None if max_evaluations is None else [int(max_evaluations)]
    fc = Caller(inputs.f(f), "f", batched=batched)
    box = [None]
    vc = Caller(inputs.vjp(vjp, box) if callable(vjp) else vjp, "vjp", batched=vjp_batched)
    box[0] = vc
    flat = inputs.flat
    y0 = fc.call(flat, None, "at x")
    y_again = fc.call(flat, y0.shape, "at x (second call)")
    if not np.array_equal(y0, y_again):
        diff = float(np.abs(y0 - y_again).max())
        raise ValueError(
            f"f is not deterministic: two calls at the same x differ by up to {diff:.3g}; "
            f"fix its randomness (e.g. pass explicit noise) before checking gradients"
        )
    inputs.y_shape = y0.shape
    fc.budget = vc.budget = budget
    y_shape = y0.shape
    base = dict(eps=eps, rtol=rtol, atol=atol, seed=int(seed), n_probes=int(n_probes), input_shape=inputs.shape,
                output_shape=y_shape)

    def finish(mode, result, verdict, reason, error=None, screen_ok=None, notes=()):
        result = dict(result or dict(max_abs_error=math.nan, max_rel_error=math.nan, worst=(), n_compared=0,
                                     n_failed=0))
        if mode != "screen":
            result.pop("resolution", None)
        return VJPReport(ok=verdict == "pass", mode=mode, error=error, screen_ok=screen_ok,
                         notes=tuple(fc.notes + vc.notes) + tuple(notes), f_calls=fc.calls, vjp_calls=vc.calls,
                         f_batched=fc.batched, vjp_batched=vc.batched, verdict=verdict, reason=reason,
                         **result, **base)

    if flat.size == 0 or y0.size == 0:
        empty = dict(max_abs_error=0.0, max_rel_error=0.0, worst=(), n_compared=0, n_failed=0)
        return finish("empty", empty, "pass", "nothing to compare (an empty input or output)")

    h = relative_steps(flat, eps)
    with np.errstate(over="ignore"):
        beyond = ~(np.isfinite(flat + SWEEP[0] * h) & np.isfinite(flat - SWEEP[0] * h))
    if beyond.any():
        j = int(np.argmax(beyond))
        raise ValueError(f"x = {flat[j]:.6g} at input index {inputs.index_of(j)} is too close to the largest float64: "
                         f"x ± eps·|x| overflows; rescale x")
    screen_ok, mode, notes = None, ("full" if full else "screen"), []
    try:
        if not full:
            sr = screen(fc, vc, flat, y_shape, h, rtol, atol, n_probes, seed, n_worst)
            notes += sr.pop("notes")
            screen_ok = "undecided" not in sr and sr["n_failed"] == 0
            if screen_ok:
                return finish("screen", sr, "pass", f"all {sr['n_compared']} random projections within tolerance",
                              screen_ok=True, notes=notes)
            mode = "screen+full"
        return _entry_by_entry(fc, vc, inputs, y0, h, rtol, atol, seed, n_worst, mode, screen_ok, notes, finish)
    except UserFunctionError as exc:
        if exc.source == "f":  # the reference side failed: nothing to check against
            raise
        return finish(mode, None, "fail", str(exc), error=str(exc), screen_ok=screen_ok, notes=notes)
    except BudgetExceeded:
        return finish(mode, None, "inconclusive",
                      f"stopped at max_evaluations={max_evaluations} before a verdict"
                      + (" (the screen had failed)" if screen_ok is False else ""), screen_ok=screen_ok, notes=notes)


def _entry_by_entry(fc, vc, inputs, y0, h, rtol, atol, seed, n_worst, mode, screen_ok, notes, finish):
    flat, y_shape = inputs.flat, y0.shape
    m, n = y0.size, flat.size
    rng = np.random.default_rng([seed, 1])
    rows = np.arange(m)
    nonzeros = analytic_nonzeros(vc, rows, m, flat, y_shape, MAX_NONZEROS)
    if nonzeros is None:  # too many to hold: screen the rows, compare the failing ones
        rows, n_flagged = flag_rows(fc, vc, flat, y_shape, h, rtol, atol, rng, MAX_FLAGGED_ROWS)
        notes.append(f"the analytic Jacobian has over {MAX_NONZEROS} non-zeros, too many to hold: every row was "
                     f"checked through 3 projections, {n_flagged} disagreed, and {len(rows)} of those were "
                     f"compared entry by entry")
        if rows.size == 0:
            return finish(mode, dict(max_abs_error=0.0, max_rel_error=0.0, worst=(), n_compared=m * 3, n_failed=0),
                          "pass", f"all {m} rows agree with f through 3 projections each", screen_ok=screen_ok,
                          notes=notes)
        nonzeros = analytic_nonzeros(vc, rows, m, flat, y_shape, MAX_NONZEROS)
    res = compare_entries(fc, nonzeros, rows, flat, y_shape, y0.reshape(-1), h, rtol, atol, rng)
    notes += res["notes"]
    first, entries = res["first"], res["entries"]

    def where(row, col):
        return dict(output_index=tuple(int(a) for a in np.unravel_index(row, y_shape)),
                    input_index=inputs.index_of(int(col)))

    def index_of(k):
        s, i = divmod(k, len(rows))
        return where(int(rows[i]), int(first["star"][s, i]))

    status = entries["status"]
    failed, unsure = np.flatnonzero(status == "fail"), np.flatnonzero(status == "inconclusive")
    rechecked = int(np.count_nonzero(status == "pass"))
    settled = ~first["failed"]
    err = np.where(settled, first["err"], 0.0)
    result = compare(np.where(settled, first["analytic"], 0.0), np.where(settled, first["numeric"], 0.0),
                     np.where(settled, first["tol"], 1.0), n_worst, index_of)
    # Wrong entries first (largest error first), then unverifiable ones, then the closest calls that passed.
    listed = np.concatenate([failed[np.argsort(-entries["abs_error"][failed], kind="stable")], unsure])
    if listed.size:
        shown = tuple(_entry(entries, int(k), where) for k in listed[:n_worst])
        result["worst"] = shown + result["worst"][:max(0, n_worst - len(shown))]
    result["max_abs_error"] = max(float(entries["abs_error"].max(initial=0.0)), float(err.max(initial=0.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(entries["abs_error"] == 0, 0.0, entries["abs_error"] / np.abs(entries["numeric"]))
    result["max_rel_error"] = max(float(rel.max(initial=0.0)), result["max_rel_error"])
    unfollowed = 0 if res["followed_all"] else int(first["failed"].sum()) - status.size
    result["n_failed"] = int(failed.size)
    result["n_inconclusive"] = int(unsure.size)
    result["n_entries"] = len(rows) * n
    what = f"{len(rows)} rows × {res['groups']} column groups"
    if failed.size:
        k = int(listed[0])
        loc = where(int(entries["row"][k]), int(entries["column"][k]))
        verdict = "fail"
        at_least = "" if res["followed_all"] else "at least "
        reason = (f"{at_least}{failed.size} entr{'y' if failed.size == 1 else 'ies'} wrong; worst output "
                  f"{loc['output_index']} input {loc['input_index']}: analytic {entries['analytic'][k]:.6g}, "
                  f"numeric {entries['numeric'][k]:.6g}")
        if m == n and len(rows) == m and m * n <= MAX_NONZEROS and _transposed(nonzeros, first, res):
            reason += "; the analytic Jacobian matches the transpose of f's: vjp computes J·dy, not Jᵀ·dy"
    elif unsure.size:
        verdict = "inconclusive"
        reason = (f"{unsure.size} entr{'y' if unsure.size == 1 else 'ies'} could not be verified at any step: "
                  f"{explain_entry(entries, int(unsure[0]))}")
    elif unfollowed > 0:
        verdict = "inconclusive"
        reason = f"{unfollowed} values failed at the first step and were not followed (only the worst groups are)"
    else:
        verdict = "pass"
        reason = f"every entry within tolerance ({what})"
        if rechecked:
            reason += f"; {rechecked} only at another step (the first did not fit f there)"
    return finish(mode, result, verdict, reason, screen_ok=screen_ok, notes=notes)


def _relative(error: float, numeric: float) -> float:
    if error == 0:
        return 0.0
    return error / abs(numeric) if numeric else math.inf


def _entry(entries, k, where) -> Entry:
    error, numeric = float(entries["abs_error"][k]), float(entries["numeric"][k])
    return Entry(analytic=float(entries["analytic"][k]), numeric=numeric, abs_error=error,
                 rel_error=_relative(error, numeric), tolerance=float(entries["tolerance"][k]),
                 status=str(entries["status"][k]), why=explain_entry(entries, k),
                 **where(int(entries["row"][k]), int(entries["column"][k])))


def _transposed(nonzeros, first, res) -> bool:
    """Whether ``Aᵀ`` agrees with the first pass's directional differences (a square, complete ``A``)."""
    cmp = res["cmp"]
    m = len(cmp.rows)
    A = np.zeros((m, m))
    A[nonzeros[0], nonzeros[1]] = nonzeros[2]
    if cmp.shrunk:
        return False
    groups = res["group_sets"]
    disp = np.zeros((len(groups), A.shape[1]))
    for k, cols in enumerate(groups):
        disp[k, cols] = cmp.d[cols]
    with np.errstate(all="ignore"):
        numeric = (first["plus"] - first["minus"]) / 2  # (groups, m): f's change along each group's step
        transposed = disp @ A  # (groups, m): (Aᵀ D_g)_i = Σ_j A_ji d_j
        scale = np.abs(disp) @ np.abs(A) + np.abs(numeric)
        tol = cmp.rtol * scale + rounding(first["plus"], first["minus"], 1.0) + cmp.atol
        return bool(np.all(np.abs(transposed - numeric) <= tol))


def assert_vjp(f, vjp, x, **kwargs) -> VJPReport:
    """:func:`check_vjp`, raising ``AssertionError(str(report))`` unless the verdict is ``"pass"``.

    For use in test suites; returns the report when the check passes.
    """
    report = check_vjp(f, vjp, x, **kwargs)
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report
