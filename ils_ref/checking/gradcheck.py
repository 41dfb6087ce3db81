r"""Finite-difference gradient checking, for this package and for yours: :func:`check_vjp`.

Everything here is framework-agnostic: ``f`` maps a float64 array to an
array, ``vjp(x, dy)`` returns ``dx = Jᵀ dy``.  To check a PyTorch or JAX
function, wrap it so that it takes and returns arrays (``numpy.asarray`` is
applied to whatever comes back, so a CPU tensor without grad works).

What is proved and how the verdict is decided is in one module,
:mod:`ils_ref.checking.core`; this one runs the steps in order:

1. ``f`` at ``x``, twice: its resolution (float64, or float32 recognised; a
   few ulps of non-determinism measured and folded into the rounding term).
2. :func:`ils_ref.checking.core.linearity`: ``vjp`` is linear in ``dy`` and
   repeatable.
3. The screen (:mod:`ils_ref.checking.screen`), unless ``full=True``: random
   projections, a bounded number of calls.  It passes only with evidence and
   a single-entry resolution of ``rtol``.
4. Otherwise every entry (:mod:`ils_ref.checking.entries`) when that is
   affordable, or bisection from a disagreeing projection to the wrong entry
   (:func:`ils_ref.checking.screen.bisect`), and the many-step verdict on
   whatever one step could not settle.

:func:`numerical_jacobian` (:mod:`ils_ref.checking.finite_differences`) gives
the full Jacobian by central differences.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import checked
from .calls import BudgetExceeded, Caller, UserFunctionError, as_output
from .core import EPS64, FAIL, INCONCLUSIVE, PASS, SCALES, Linearity, Resolution, agreement, decide, judge, linearity
from .entries import analytic_nonzeros, compare_entries
from .finite_differences import DEFAULT_EPS, numerical_jacobian
from .report import Entry, VJPReport
from .screen import basis, bisect, compare, flag_rows, screen
from .steps import relative_steps, sweep

__all__ = ["numerical_jacobian", "check_vjp", "assert_vjp", "VJPReport", "Entry"]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0
#: The analytic Jacobian is held as its non-zeros (16-24 bytes each) up to this many; beyond,
#: rows are screened in blocks (:func:`ils_ref.checking.screen.flag_rows`) and only the
#: failing rows are held.
MAX_NONZEROS = 1 << 24
#: Rows kept for the entry-by-entry comparison when the Jacobian is too large to hold.
MAX_FLAGGED_ROWS = 64
#: After a screen that did not pass, every entry is compared (one vjp per output) up to this
#: many outputs, or this many analytic values (outputs × inputs) when vjp takes a stack of
#: cotangents; beyond, bisection names one wrong entry.
FULL_AFTER_SCREEN_ROWS = 4096
FULL_AFTER_SCREEN_VALUES = 1 << 27
#: The transpose diagnosis builds the dense analytic Jacobian: up to this many entries (32 MiB).
TRANSPOSE_LIMIT = 1 << 22
#: Non-determinism of f accepted as rounding: two calls at x may differ by this many ulps.
JITTER_ULPS = 64


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
        self.vjp_dtype = None  # the lowest precision vjp returned, if below float64

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

    def vjp(self, fn):
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
                dtype = getattr(part, "dtype", None)  # seen here, before the parts become one float64 array
                if dtype is not None and getattr(dtype, "itemsize", 8) < 8 and getattr(dtype, "kind", "") == "f":
                    self.vjp_dtype = dtype
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
    if eps < 8 * EPS64:
        raise ValueError(f"eps={eps:g} is too small: x ± eps·max(|x|, 1) rounds to (almost) x; use about 1e-6")
    if eps > 0.1:
        raise ValueError(f"eps={eps:g} is too large: it is a relative step, h = eps·max(|x|, 1); use about 1e-6")
    if n_probes > MAX_PROBES:
        raise ValueError(f"n_probes={n_probes} is more than {MAX_PROBES}; a few (the default is 3) already catch "
                         f"what more would")
    if max_evaluations is not None:
        max_evaluations = checked(max_evaluations=("int", max_evaluations, 1))
    inputs = _Inputs(x, wrt)
    fc = Caller(inputs.f(f), "f", batched=batched)
    vc = Caller(inputs.vjp(vjp) if callable(vjp) else vjp, "vjp", batched=vjp_batched)
    flat = inputs.flat
    y0, resolution, f_notes = _resolution_of_f(fc, flat)
    inputs.y_shape = y0.shape
    fc.budget = vc.budget = None if max_evaluations is None else [int(max_evaluations)]
    run = _Run(fc, vc, inputs, y0, rtol, atol, seed, n_worst, resolution, f_notes,
               dict(eps=eps, rtol=rtol, atol=atol, seed=int(seed), n_probes=int(n_probes), input_shape=inputs.shape,
                    output_shape=y0.shape))
    if flat.size == 0 or y0.size == 0:
        return run.report("empty", PASS, "nothing to compare (an empty input or output)",
                          dict(max_abs_error=0.0, max_rel_error=0.0))
    h = relative_steps(flat, eps)
    with np.errstate(over="ignore"):
        beyond = ~(np.isfinite(flat + 1e3 * h) & np.isfinite(flat - 1e3 * h))
    if beyond.any():
        j = int(np.argmax(beyond))
        raise ValueError(f"x = {flat[j]:.6g} at input index {inputs.index_of(j)} is too close to the largest float64: "
                         f"x ± 1000·eps·|x| overflows; rescale x")
    mode = "full" if full else "screen"
    try:
        run.linear = _linearity(vc, inputs, y0, seed, rtol)
        if not run.linear.ok:
            return run.report(mode, decide(run.linear, np.zeros(0)), _linearity_reason(run.linear, inputs))
        if full:
            return run.entries(h, "full")
        scr = screen(fc, vc, flat, y0.shape, h, rtol, atol, n_probes, seed, n_worst, resolution, run.vjp_eps())
        run.screen = scr
        if scr.status == PASS:
            return run.report("screen", decide(run.linear, np.zeros(0)), scr.reason, scr.table)
        m, n = y0.size, flat.size
        if m <= FULL_AFTER_SCREEN_ROWS or (vjp_batched and m * n <= FULL_AFTER_SCREEN_VALUES):
            return run.entries(h, "screen+full")
        if scr.status == FAIL:
            return run.bisection(h)
        reason = (f"{scr.reason}; comparing every entry would take {m} vjp calls (full=True does; or raise rtol, "
                  f"or pass vjp_batched=True so that more blocks are affordable)")
        return run.report("screen", decide(run.linear, np.zeros(0), not_rechecked=m * n), reason, scr.table)
    except UserFunctionError as exc:
        if exc.source == "f":  # the reference side failed: nothing to check against
            raise
        return run.report(mode, FAIL, str(exc), error=str(exc))
    except BudgetExceeded:
        return run.report(mode, INCONCLUSIVE, f"stopped at max_evaluations={max_evaluations} before a verdict")


#: Most probes of the screen (each costs two points of f and its cotangents).
MAX_PROBES = 64


def _resolution_of_f(fc: Caller, flat: np.ndarray):
    """``f(x)``, and how finely ``f`` resolves its values: float32 recognised, call-to-call jitter measured.

    Two calls at ``x`` must agree to :data:`JITTER_ULPS` units in the last
    place (more is randomness, refused); what they differ by, measured over a
    third call, joins the rounding term.
    """
    y0 = fc.call(flat, None, "at x")
    y1 = fc.call(flat, y0.shape, "at x (second call)")
    notes, floor = [], np.zeros(y0.size)
    if not np.array_equal(y0, y1):
        diff = np.abs(y0 - y1)
        ulps = float((diff / np.spacing(np.maximum(np.abs(y0), np.abs(y1)))).max())
        if ulps > JITTER_ULPS:
            raise ValueError(
                f"f is not deterministic: two calls at the same x differ by up to {float(diff.max()):.3g} "
                f"({ulps:.3g} units in the last place); fix its randomness (e.g. pass explicit noise) before "
                f"checking gradients")
        y2 = fc.call(flat, y0.shape, "at x (third call)")
        floor = np.maximum(diff, np.abs(y0 - y2)).reshape(-1)
        notes.append(f"f is not deterministic at its last digits: calls at x differ by up to {ulps:.3g} units in the "
                     f"last place; that much is added to the rounding term")
    eps, why = EPS64, None
    if fc.low_precision is not None:
        eps, why = float(np.finfo(np.dtype(fc.low_precision)).eps), f"f returned {fc.low_precision}"
    elif _float32_values(y0):
        eps, why = float(np.finfo(np.float32).eps), "every value of f(x) is a float32 number"
    if why:
        notes.append(f"{why}: differences are rounded to {eps:.1e} relative, so an entry can be resolved to about "
                     f"{eps:.0e}/eps of f's scale over its Jacobian's; below that the verdict is inconclusive "
                     f"(raise eps and rtol for a float32 function)")
    return y0, Resolution(eps=eps, floor=floor), notes


def _float32_values(y: np.ndarray) -> bool:
    """Whether ``y`` (float64) looks computed in float32: every value a float32 number, 4 or more of them not
    float16 numbers (0.5 or 0.25 are both; a float64 result is a float32 number by chance once in 2^29)."""
    values = y[np.isfinite(y)]
    with np.errstate(over="ignore"):
        if not np.all(values.astype(np.float32).astype(np.float64) == values):
            return False
        return int(np.count_nonzero(values.astype(np.float16).astype(np.float64) != values)) >= 4


def _linearity(vc: Caller, inputs, y0, seed: int, rtol: float) -> Linearity:
    """:func:`ils_ref.checking.core.linearity` on seeded signed cotangents whose entries span six decades."""
    rng = np.random.default_rng([seed, 2])
    m, y_shape = y0.size, y0.shape
    dy1, dy2 = (rng.choice([-1.0, 1.0], size=m) * 10.0 ** rng.uniform(-3, 3, size=m) for _ in range(2))
    a, b = rng.choice([-1.0, 1.0], size=2) * rng.uniform(0.5, 2.0, size=2)
    cots = np.stack([dy1, dy2, a * dy1 + b * dy2] + [lam * dy1 for lam in SCALES])
    names = ("dy₁", "dy₂", "a·dy₁ + b·dy₂") + tuple(f"{lam:g}·dy₁" for lam in SCALES)
    v = vc.map(len(cots), lambda lo, hi: cots[lo:hi].reshape((hi - lo,) + y_shape), inputs.flat.shape,
               lambda i: f"{names[i]} (linearity check)")
    again = vc.call(dy1.reshape(y_shape), inputs.flat.shape, "for dy₁ again (repeatability check)")
    inputs.linearity_probe = (dy1, v[0])  # for the consistency of the full Jacobian with vjp(dy₁)
    return linearity(v[0], v[1], v[2], v[3:], again, float(a), float(b), float(np.abs(cots[2]).max()),
                     float(np.abs(y0).max(initial=0.0)), rtol, _eps_of(inputs))


def _eps_of(inputs) -> float:
    return float(np.finfo(inputs.vjp_dtype).eps) if inputs.vjp_dtype is not None else EPS64


def _linearity_reason(found: Linearity, inputs) -> str:
    where = inputs.index_of(found.index)
    return {
        "scale": (f"vjp is not linear in dy: vjp(λ·dy) differs from λ·vjp(dy) for a power of two λ by {found.error:.3g} "
                  f"at input index {where} (tolerance {found.tolerance:.2g}); a VJP is Jᵀdy, so it may not clip, "
                  f"normalise, threshold, take the sign of or raise dy to a power"),
        "repeat": (f"vjp is not repeatable: two calls with the same dy differ by {found.error:.3g} at input index "
                   f"{where} (tolerance {found.tolerance:.2g}); it must not depend on earlier calls"),
        "linear": (f"vjp is not linear in dy: vjp(a·dy₁ + b·dy₂) differs from a·vjp(dy₁) + b·vjp(dy₂) by "
                   f"{found.error:.3g} at input index {where} (tolerance {found.tolerance:.2g}); a VJP is Jᵀdy, "
                   f"so it may not clip, normalise, threshold or raise dy to a power"),
        "consistent": (f"vjp(dy) differs from Σ_i dy_i·vjp(e_i) by {found.error:.3g} at input index {where} "
                       f"(tolerance {found.tolerance:.2g}): the VJP of a random cotangent is not the one its rows "
                       f"give, so it depends on dy in a way basis cotangents do not show"),
    }[found.problem]


class _Run:
    """One check's callers, point and findings, and the report at the end."""

    def __init__(self, fc, vc, inputs, y0, rtol, atol, seed, n_worst, resolution, notes, base):
        self.fc, self.vc, self.inputs, self.y0 = fc, vc, inputs, y0
        self.rtol, self.atol, self.seed, self.n_worst = rtol, atol, seed, n_worst
        self.resolution, self.notes, self.base = resolution, list(notes), base
        self.linear, self.screen = None, None

    def vjp_eps(self) -> float:
        return _eps_of(self.inputs)

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
        found, levels = bisect(fc, vc, flat, y_shape, self.screen, self.resolution, self.vjp_eps(), self.atol)
        table = self.screen.table
        if found is None:
            reason = (f"{self.screen.reason}, but the disagreement does not narrow to one entry (after {levels} "
                      f"halvings neither half disagreed): it is spread over many entries, or differences at step h "
                      f"do not fit f; full=True compares every entry")
            return self.report("screen+bisection", decide(self.linear, np.zeros(0), 1), reason, table)
        i, j = found
        row = vc.call(basis(np.array([i]), self.y0.size, y_shape)[0], flat.shape, f"for dy = e at output {i}")
        scale = float(np.abs(row).max(initial=0.0))
        tol = np.array([self.atol + self.rtol * scale + 8 * EPS64 * scale])
        swept = sweep(fc, flat, y_shape, [np.array([j])], h, (np.zeros(1, np.int64), np.array([i]), np.array([j])),
                      self.y0.reshape(-1), self.resolution.floor)
        verdict_of = judge(row[j:j + 1], tol, swept, self.resolution.eps)
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

    def entries(self, h, mode) -> VJPReport:
        """Every entry: the analytic Jacobian row by row, grouped differences, the many-step verdict."""
        fc, vc, inputs, y0 = self.fc, self.vc, self.inputs, self.y0
        flat, y_shape = inputs.flat, y0.shape
        m, n = y0.size, flat.size
        rng = np.random.default_rng([self.seed, 1])
        rows = np.arange(m)
        nonzeros = analytic_nonzeros(vc, rows, m, flat, y_shape, MAX_NONZEROS)
        if nonzeros is None:  # too many to hold: screen the rows, compare the failing ones
            rows, n_flagged = flag_rows(fc, vc, flat, y_shape, h, self.rtol, self.atol, rng, MAX_FLAGGED_ROWS,
                                        self.resolution, self.vjp_eps())
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
            floor = 64 * self.vjp_eps() * float(np.abs(dy1).max()) * float(np.abs(y0).max(initial=0.0))
            linear = agreement((("consistent", v1, at_dy),), size, self.rtol, self.vjp_eps(), floor)
            if not linear.ok:
                return self.report(mode, decide(linear, np.zeros(0)), _linearity_reason(linear, inputs))
        res = compare_entries(fc, nonzeros, rows, flat, y_shape, y0.reshape(-1), h, self.rtol, self.atol, rng,
                              resolution)
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


def assert_vjp(f, vjp, x, **kwargs) -> VJPReport:
    """:func:`check_vjp`, raising ``AssertionError(str(report))`` unless the verdict is ``"pass"``.

    For use in test suites; returns the report when the check passes.
    """
    report = check_vjp(f, vjp, x, **kwargs)
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report
