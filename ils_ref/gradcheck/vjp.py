r"""Finite-difference gradient checking, for this package and for yours: :func:`check_vjp`.

Everything here is framework-agnostic: ``f`` maps a float64 array to an
array, ``vjp(x, dy)`` returns ``dx = Jᵀ dy``.  To check a PyTorch or JAX
function, wrap it so that it takes and returns arrays (``numpy.asarray`` is
applied to whatever comes back, so a CPU tensor without grad works).

What is proved and how the verdict is decided is in one module,
:mod:`ils_ref.gradcheck.core`; this one runs the steps in order:

1. ``f`` at ``x``, twice: its resolution (float64, or float32 recognised; a
   few ulps of non-determinism measured and folded into the rounding term).
2. :func:`ils_ref.gradcheck.core.linearity`: ``vjp`` is linear in ``dy`` and
   repeatable.
3. The screen (:mod:`ils_ref.gradcheck.screen`), unless ``full=True``: random
   projections, a bounded number of calls.  It passes only with evidence and
   a single-entry resolution of ``rtol``.
4. Otherwise every entry (:mod:`ils_ref.gradcheck.entries`) when that is
   affordable, or bisection from a disagreeing projection to the wrong entry
   (:func:`ils_ref.gradcheck.screen.bisect`), and the many-step verdict on
   whatever one step could not settle.

:func:`numerical_jacobian` (:mod:`ils_ref.gradcheck.finite_differences`) gives
the full Jacobian by central differences.
"""

from __future__ import annotations

import numpy as np

from ..validation import checked
from .calls import BudgetExceeded, Caller, UserFunctionError
from .core import (
    EPS64,
    FAIL,
    INCONCLUSIVE,
    PASS,
    SCALES,
    Linearity,
    Resolution,
    decide,
    linearity,
)
from .drilldown import Check
from .finite_differences import DEFAULT_EPS, numerical_jacobian
from .inputs import Inputs
from .report import Entry, VJPReport
from .screen import screen
from .steps import relative_steps

__all__ = ["numerical_jacobian", "check_vjp", "assert_vjp", "VJPReport", "Entry"]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0
#: After a screen that did not pass, every entry is compared (one vjp per output) up to this
#: many outputs, or this many analytic values (outputs × inputs) when vjp takes a stack of
#: cotangents; beyond, bisection names one wrong entry.
FULL_AFTER_SCREEN_ROWS = 4096
FULL_AFTER_SCREEN_VALUES = 1 << 27
#: ... and as long as the columns fall into at most this many groups (two points of f each): a dense
#: row of 10⁵ inputs would take 2·10⁵ points.
FULL_AFTER_SCREEN_GROUPS = 4096
#: Most probes of the screen (each costs eight points of f and its cotangents).
MAX_PROBES = 64
#: Non-determinism of f accepted as rounding (MKL's lstsq at condition 1e3 differs between calls by
#: 100 ulps): two calls at x may differ by this much relative to f's largest value.  More is randomness.
JITTER = 1e-9


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

    **Linearity** first (both modes): ``vjp(λ·dy) = λ·vjp(dy)`` for powers
    of two, ``vjp(a·dy₁ + b·dy₂) = a·vjp(dy₁) + b·vjp(dy₂)`` and a repeated
    call agreeing; a VJP that is not linear in ``dy`` fails, with that reason.

    **Screen** (default): ``n_probes`` seeded random displacements ``D_b``
    and cotangents ``dy_a`` (each output weighted by its own change, in
    blocks of at most 256 outputs); ``⟨vjp(dy_aB), D_b⟩`` against
    ``⟨dy_aB, f(x + D_b) - f(x - D_b)⟩ / 2``, extrapolated from ``D_b`` and
    ``D_b / 2``.  It passes only when every projection agrees, and its
    single-entry resolution (``report.resolution``, relative:
    ``report.relative_resolution``) is at most ``rtol`` of each block's
    entries; a bounded number of calls whatever the size of ``x``.
    Otherwise **every entry** is compared (:mod:`ils_ref.gradcheck.entries`:
    one ``vjp`` per output entry; ``f`` at two points per group of columns
    that share no row), or, when that would take too many calls, bisection
    from a disagreeing projection names one wrong entry.  ``full=True`` always
    compares every entry.

    **Steps**: ``h_j = eps·max(|x_j|, 1)``, shrunk by 10 where ``f`` is not
    finite at ``x ± h``.  **Tolerance** of entry ``(i, j)``:
    ``atol + rtol·R_i + floor + rounding``, with ``R_i`` the size of row
    ``i`` (its largest analytic entry), ``floor = 8ε·max|J|`` and the rounding
    of the central difference from ``|f|`` at the two points.  One step
    settles an entry only when it is within tolerance **and** the tolerance is
    below its row's size; every other entry is re-checked at steps
    ``h·10^3 … h·10^-12`` (:mod:`ils_ref.gradcheck.core`).

    **Verdict** (``report.verdict``, decided by
    :func:`ils_ref.gradcheck.core.decide`): ``"pass"`` only with evidence;
    ``"fail"`` when ``vjp`` is not linear, or an entry's error is proven at
    two agreeing steps (or ``vjp`` itself fails); ``"inconclusive"`` when
    some entry cannot be verified at any step (rounding, truncation, a kink,
    the domain's edge: the reason says which), entries were not re-checked,
    or ``max_evaluations`` stopped the work.  ``report.ok`` is True only for
    ``"pass"``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` (``f(*x)`` for a tuple ``x``); must be deterministic
        (checked: two calls at ``x`` may differ by at most 1e-9 of its
        largest value, which then joins the rounding term).  A float32 result is
        recognised (by its dtype, or its values) and rounded as float32.
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
        Random displacements and cotangents of the screen (at most 64).
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
        the calls of ``f`` that measure it at ``x`` (two, and eight for its
        noise); a check that needs more stops with verdict ``"inconclusive"``.

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
    if rtol >= 1:
        raise ValueError(f"rtol={rtol:g} must be below 1: it is the relative error an entry may have")
    if eps > 0.1:
        raise ValueError(f"eps={eps:g} is too large: it is a relative step, h = eps·max(|x|, 1); use about 1e-6")
    if n_probes > MAX_PROBES:
        raise ValueError(f"n_probes={n_probes} is more than {MAX_PROBES}; a few (the default is 3) already catch "
                         f"what more would")
    if max_evaluations is not None:
        max_evaluations = checked(max_evaluations=("int", max_evaluations, 1))
    inputs = Inputs(x, wrt)
    fc = Caller(inputs.f(f), "f", batched=batched)
    vc = Caller(inputs.vjp(vjp) if callable(vjp) else vjp, "vjp", batched=vjp_batched)
    flat = inputs.flat
    h = relative_steps(flat, eps)
    with np.errstate(over="ignore"):
        beyond = ~(np.isfinite(flat + 1e3 * h) & np.isfinite(flat - 1e3 * h))
    if beyond.any():
        j = int(np.argmax(beyond))
        raise ValueError(f"x = {flat[j]:.6g} at input index {inputs.index_of(j)} is too close to the largest float64: "
                         f"x ± 1000·eps·|x| overflows; rescale x")
    y0, resolution, f_notes = _resolution_of_f(fc, flat, seed)
    inputs.y_shape = y0.shape
    fc.budget = vc.budget = None if max_evaluations is None else [int(max_evaluations)]
    run = Check(fc, vc, inputs, y0, rtol, atol, seed, n_worst, resolution, f_notes,
               dict(eps=eps, rtol=rtol, atol=atol, seed=int(seed), n_probes=int(n_probes), input_shape=inputs.shape,
                    output_shape=y0.shape))
    if flat.size == 0 or y0.size == 0:
        return run.report("empty", PASS, "nothing to compare (an empty input or output)",
                          dict(max_abs_error=0.0, max_rel_error=0.0))
    mode = "full" if full else "screen"
    try:
        run.linear = _linearity(vc, inputs, y0, seed, rtol)
        if not run.linear.ok:
            return run.report(mode, decide(run.linear, np.zeros(0)), run.linear.explain(inputs.index_of))
        if full:
            return run.entries(h, "full")
        scr = screen(fc, vc, flat, y0.shape, h, rtol, atol, n_probes, seed, n_worst, resolution, inputs.vjp_eps)
        run.screen = scr
        if scr.status == PASS and scr.hard_rows.size:  # the rows the screen left, entry by entry
            report = run.entries(h, "screen+rows", max_groups=FULL_AFTER_SCREEN_GROUPS, rows=scr.hard_rows)
            if report is not None:
                return report
            reason = (f"{scr.reason}; the {scr.hard_rows.size} output row(s) it cannot resolve to rtol need over "
                      f"{FULL_AFTER_SCREEN_GROUPS} column groups (2 points of f each) to compare entry by entry: "
                      f"not done (full=True does; or raise rtol)")
            return run.report("screen", decide(run.linear, np.zeros(0), not_rechecked=scr.hard_rows.size), reason,
                              scr.table)
        if scr.status == PASS:
            return run.report("screen", decide(run.linear, np.zeros(0)), scr.reason, scr.table)
        m, n = y0.size, flat.size
        if m <= FULL_AFTER_SCREEN_ROWS or (vjp_batched and m * n <= FULL_AFTER_SCREEN_VALUES):
            report = run.entries(h, "screen+full", max_groups=FULL_AFTER_SCREEN_GROUPS)
            if report is not None:
                return report
        if scr.status == FAIL:
            return run.bisection(h)
        reason = (f"{scr.reason}; comparing every entry would take {m} vjp calls and up to {2 * n} points of f "
                  f"(full=True does; or raise rtol, or pass vjp_batched=True so that more blocks are affordable)")
        return run.report("screen", decide(run.linear, np.zeros(0), not_rechecked=m * n), reason, scr.table)
    except UserFunctionError as exc:
        if exc.source == "f":  # the reference side failed: nothing to check against
            raise
        return run.report(mode, FAIL, str(exc), error=str(exc))
    except BudgetExceeded:
        return run.report(mode, INCONCLUSIVE, f"stopped at max_evaluations={max_evaluations} before a verdict")


def _resolution_of_f(fc: Caller, flat: np.ndarray, seed: int):
    """``f(x)``, and how finely ``f`` resolves its values: float32 recognised, call-to-call jitter measured.

    Two calls at ``x`` must agree to :data:`JITTER` of ``f``'s largest value
    (more is randomness, refused); what they differ by, measured over a
    third call, joins the rounding term, and so does what ``f`` is off a
    smooth function by (:func:`_measured_noise`).
    """
    y0 = fc.call(flat, None, "at x")
    y1 = fc.call(flat, y0.shape, "at x (second call)")
    notes, floor = [], np.zeros(y0.size)
    if not np.array_equal(y0, y1):
        diff = np.abs(y0 - y1)
        scale = float(np.maximum(np.abs(y0), np.abs(y1)).max())
        ulps = float(diff.max() / np.spacing(scale))
        if diff.max() > JITTER * scale:
            raise ValueError(
                f"f is not deterministic: two calls at the same x differ by up to {float(diff.max()):.3g} "
                f"({ulps:.3g} units in the last place of its largest value); fix its randomness (e.g. pass "
                f"explicit noise) before checking gradients")
        y2 = fc.call(flat, y0.shape, "at x (third call)")
        floor = np.maximum(diff, np.abs(y0 - y2)).reshape(-1)
        notes.append(f"f is not deterministic at its last digits: calls at x differ by up to {ulps:.3g} units in the "
                     f"last place of its largest value; that much is added to the rounding term")
    granularity = None
    if flat.size and y0.size:
        noise, granularity = _measured_noise(fc, flat, y0, seed)
        if np.any(noise > NOISY_ULPS * EPS64 * np.abs(y0.reshape(-1))):
            i = int(np.argmax(noise / np.maximum(np.abs(y0.reshape(-1)), np.finfo(float).tiny)))
            notes.append(f"f's values are off by more than float64's rounding of them (measured: {noise[i]:.2g} at "
                         f"flat output {i}, where f is {y0.reshape(-1)[i]:.3g}); that much is added to the rounding "
                         f"term")
        floor = np.maximum(floor, noise)
    eps, why = EPS64, None
    if fc.low_precision is not None:
        eps, why = float(np.finfo(np.dtype(fc.low_precision)).eps), f"f returned {fc.low_precision}"
    elif _float32_values(y0):
        eps, why = float(np.finfo(np.float32).eps), "every value of f(x) is a float32 number"
    if why:
        notes.append(f"{why}: differences are rounded to {eps:.1e} relative, so an entry can be resolved to about "
                     f"{eps:.0e}/eps of f's scale over its Jacobian's; below that the verdict is inconclusive "
                     f"(raise eps and rtol for a float32 function)")
    return y0, Resolution(eps=eps, floor=floor, granularity=granularity), notes


def _measured_noise(fc: Caller, flat: np.ndarray, y0: np.ndarray, seed: int) -> np.ndarray:
    r"""How far each value of ``f`` is off a smooth function near ``x``: the fourth difference at a tiny step.

    ``f`` at ``x + k·δ·u`` for ``k = ±1, ±2`` along two seeded directions ``u``,
    ``δ = 1e-13·max(|x|, 1)``: the fourth difference
    ``f(-2) - 4f(-1) + 6f(0) - 4f(1) + f(2)`` of a smooth ``f`` is ``δ⁴`` times
    its fourth derivative, nothing; what is there is ``f``'s own error, up to 16
    times its size.  A sum over thousands of terms (an ELBO) is off by far more
    than ``ε·|f|``.  Returns a quarter of the largest, per flat output (0 where
    ``f`` is not finite there), and the smallest change of each output seen
    (its granularity is no coarser; inf where it did not change).
    """
    rng = np.random.default_rng([seed, 3])
    u = rng.choice([-1.0, 1.0], size=(2,) + flat.shape) * rng.uniform(0.5, 1.5, size=(2,) + flat.shape)
    step = NOISE_STEP * np.maximum(np.abs(flat), 1.0)
    ks = np.array([-2.0, -1.0, 1.0, 2.0])
    pts = (flat[None, None, :] + ks[None, :, None] * step * u[:, None, :]).reshape(8, -1)
    values = fc.map(8, lambda lo, hi: pts[lo:hi], y0.shape, lambda i: f"x + {ks[i % 4]:g}·1e-13·u#{i // 4} (f's noise)",
                    finite=False).reshape(2, 4, -1)
    centre = y0.reshape(-1)
    with np.errstate(all="ignore"):
        fourth = values[:, 0] - 4 * values[:, 1] + 6 * centre - 4 * values[:, 2] + values[:, 3]
        fourth = np.where(np.isfinite(fourth), np.abs(fourth), 0.0)
        change = np.abs(values - centre).reshape(8, -1)
        finest = np.where(np.isfinite(change) & (change > 0), change, np.inf).min(axis=0)
    return fourth.max(axis=0) / 4, finest


#: The relative step of the noise probe (_measured_noise): 450 ulps or more of x, far below any curvature.
NOISE_STEP = 1e-13
#: Measured noise above this many ulps of ``|f|`` is worth a note.
NOISY_ULPS = 64


def _float32_values(y: np.ndarray) -> bool:
    """Whether ``y`` (float64) looks computed in float32: every value a float32 number, 4 or more of them not
    float16 numbers (0.5 or 0.25 are both; a float64 result is a float32 number by chance once in 2^29)."""
    values = y[np.isfinite(y)]
    with np.errstate(over="ignore"):
        if not np.all(values.astype(np.float32).astype(np.float64) == values):
            return False
        return int(np.count_nonzero(values.astype(np.float16).astype(np.float64) != values)) >= 4


def _linearity(vc: Caller, inputs, y0, seed: int, rtol: float) -> Linearity:
    """:func:`ils_ref.gradcheck.core.linearity` on seeded signed cotangents whose entries span six decades.

    Their entries are at most 4 in magnitude (with the scale -4), so that the
    VJP of a function whose Jacobian is near the largest float64 does not
    overflow on the checker's own cotangents.
    """
    rng = np.random.default_rng([seed, 2])
    m, y_shape = y0.size, y0.shape
    dy1, dy2 = (rng.choice([-1.0, 1.0], size=m) * 10.0 ** rng.uniform(-6, 0, size=m) for _ in range(2))
    for dy in (dy1, dy2):  # the largest entry in [0.5, 1]: scaled by -4 it is clipped by a clip at ±1
        k = int(np.argmax(np.abs(dy)))
        dy[k] = np.sign(dy[k]) * rng.uniform(0.5, 1.0)
    a, b = rng.choice([-1.0, 1.0], size=2) * rng.uniform(0.5, 2.0, size=2)
    mask = rng.permutation(m) < m // 2  # a random half of the outputs (none when m = 1: vjp(0) must be 0)
    cots = np.stack([dy1, dy2, a * dy1 + b * dy2, dy1 * mask, dy1 * ~mask] + [lam * dy1 for lam in SCALES])
    names = ("dy₁", "dy₂", "a·dy₁ + b·dy₂", "dy₁ on half the outputs", "dy₁ on the other half") + tuple(
        f"{lam:g}·dy₁" for lam in SCALES)
    v = vc.map(len(cots), lambda lo, hi: cots[lo:hi].reshape((hi - lo,) + y_shape), inputs.flat.shape,
               lambda i: f"{names[i]} (linearity check)")
    again = vc.map(1, lambda lo, hi: dy1.reshape((1,) + y_shape), inputs.flat.shape,  # a call of its own
                   lambda i: "dy₁ again (repeatability check)")[0]
    inputs.linearity_probe = (dy1, v[0])  # for the consistency of the full Jacobian with vjp(dy₁)
    return linearity(v[0], v[1], v[2], v[5:], (v[3], v[4]), again, float(a), float(b), float(np.abs(cots[2]).max()),
                     float(np.abs(y0).max(initial=0.0)), rtol, inputs.vjp_eps)


def assert_vjp(f, vjp, x, **kwargs) -> VJPReport:
    """:func:`check_vjp`, raising ``AssertionError(str(report))`` unless the verdict is ``"pass"``.

    For use in test suites; returns the report when the check passes.
    """
    report = check_vjp(f, vjp, x, **kwargs)
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report
