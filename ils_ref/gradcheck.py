r"""Finite-difference gradient checking, for this package and for yours.

Everything here is framework-agnostic: ``f`` maps a float64 array to an
array, ``vjp(x, dy)`` returns ``dx = Jᵀ dy``.  To check a PyTorch or JAX
function, wrap it so that it takes and returns arrays (``numpy.asarray`` is
applied to whatever comes back, so a CPU tensor without grad works).

Two tools:

:func:`numerical_jacobian`
    The full Jacobian by central differences.
:func:`check_vjp`
    Compares a hand-written (or autodiff) VJP with finite differences.  By
    default it *screens* with a few seeded random projections, which costs a
    constant number of calls whatever the size of ``x``, and computes the full
    Jacobian only when the screen fails, so the report can name the wrong
    entries.  ``full=True`` forces the entry-by-entry comparison.

The comparison rule, for analytic value ``a`` and numerical value ``n``::

    |a - n| <= atol + rtol·|n| + rounding

where ``rounding`` is the float64 rounding error of the central difference
itself, ``16·ε·(|f(x+h)| + |f(x-h)|) / (2h)`` with ``ε = 2.2e-16`` — large
only when ``f``'s values are large compared with its derivatives.  For a
projection ``⟨dy, J u⟩`` the same rule is applied with ``atol`` scaled by
``‖dy‖‖u‖`` and ``rtol`` by ``‖dy‖‖J u‖`` (the Cauchy-Schwarz size of the
inner product).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validation import as_real_array, int_arg, real_scalar, require_finite

__all__ = ["numerical_jacobian", "check_vjp", "assert_vjp", "VJPReport", "Entry"]

#: Default central-difference step.  With float64 the truncation error
#: (``~h²·f'''``) and the rounding error (``~ε·|f|/h``) are both ``~1e-10``
#: relative for well-scaled functions.
DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8
#: Safety factor on the float64 rounding error of a central difference.
ROUNDING_FACTOR = 16.0
#: At most this many float64 values per batched call (inputs or outputs): 32 MiB.
MAX_BATCH_ELEMENTS = 1 << 22
#: Points in the trial batch that decides whether a function broadcasts.
_TRIAL_BATCH = 8

_EPS_MACHINE = np.finfo(np.float64).eps


class UserFunctionError(ValueError):
    """A user function raised, or returned something unusable.

    ``source`` names the function (``"f"`` or ``"vjp"``).
    """

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


# --------------------------------------------------------------------------
# Calling user functions: counting, converting, batching


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_output(value, name: str, shape: tuple | None, context: str) -> np.ndarray:
    if value is None:
        raise UserFunctionError(f"{name} returned None {context}", name)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        hint = " (for a torch tensor, return t.detach().numpy())" if hasattr(value, "detach") else ""
        raise UserFunctionError(
            f"{name} returned a {type(value).__name__} that NumPy cannot convert {context}: {exc}{hint}", name
        ) from None
    if arr.dtype.kind not in "iuf":
        raise UserFunctionError(f"{name} returned dtype {arr.dtype} {context}; need real numbers", name)
    if shape is not None and arr.shape != shape:
        raise UserFunctionError(f"{name} returned shape {arr.shape} {context}; expected {shape}", name)
    out = arr.astype(np.float64, copy=True)
    bad = ~np.isfinite(out)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(out[idx]) else "inf"
        raise UserFunctionError(f"{name} returned {kind} at index {idx} {context}", name)
    return out


@dataclass
class _Caller:
    """A user function with a call counter and (possibly) batched evaluation.

    ``call(arg)`` evaluates at one point (``fn(*fixed, arg)``); ``map``
    evaluates at many points, in one call per chunk when the function
    broadcasts over a leading axis, else one call per point.
    """

    fn: Callable
    name: str
    fixed: tuple = ()
    batched: bool | None = None
    calls: int = 0
    points: int = 0
    notes: list = field(default_factory=list)
    low_precision: str | None = None

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"{self.name} must be callable, got {type(self.fn).__name__}")

    def _raw(self, arg):
        self.calls += 1
        try:
            out = self.fn(*self.fixed, arg.copy())
        except Exception as exc:
            raise UserFunctionError(f"{self.name} raised {type(exc).__name__}: {exc}", self.name) from exc
        dtype = getattr(out, "dtype", None)
        if dtype is not None and getattr(dtype, "itemsize", 8) < 8 and self.low_precision is None:
            self.low_precision = str(dtype)
            self.notes.append(
                f"{self.name} returned {dtype}: finite differences and comparisons are limited to "
                f"that precision; compute in float64 (or raise eps and rtol)"
            )
        return out

    def call(self, arg: np.ndarray, shape: tuple | None, context: str) -> np.ndarray:
        self.points += 1
        return _as_output(self._raw(arg), self.name, shape, context)

    def map(self, count: int, make: Callable, shape: tuple, describe: Callable) -> np.ndarray:
        """Evaluate at ``make(start, stop)`` for all points in ``[0, count)``."""
        out = np.empty((count,) + shape)
        if count == 0:
            return out
        one = int(np.prod(make(0, 1).shape[1:], dtype=np.int64))
        chunk = max(1, MAX_BATCH_ELEMENTS // max(1, one, int(np.prod(shape, dtype=np.int64))))
        start = 0
        if self.batched is None:
            start = self._probe(count, chunk, make, shape, describe, out)
        if self.batched:
            for lo in range(start, count, chunk):
                hi = min(count, lo + chunk)
                self.points += hi - lo
                out[lo:hi] = _as_output(
                    self._raw(make(lo, hi)), self.name, (hi - lo,) + shape, f"for a batch of {describe(lo)} ..."
                )
        else:
            for i in range(start, count):
                out[i] = self.call(make(i, i + 1)[0], shape, f"for {describe(i)}")
        return out

    def _probe(self, count, chunk, make, shape, describe, out) -> int:
        """Decide whether the function broadcasts; return how many points are done."""
        if count < 2 or chunk < 2:
            self.batched = False
            return 0
        singles = np.stack([self.call(make(i, i + 1)[0], shape, f"for {describe(i)}") for i in (0, 1)])
        hi = min(count, chunk, _TRIAL_BATCH)  # small: a function that does not broadcast wastes little
        reason = None
        try:
            trial = self._raw(make(0, hi))
            trial = np.asarray(trial, dtype=np.float64)
            if trial.shape != (hi,) + shape:
                reason = f"a batch of {hi} points gave shape {trial.shape}, not {(hi,) + shape}"
            else:
                scale = max(1.0, float(np.abs(singles).max()))
                if not np.allclose(trial[:2], singles, rtol=1e-10, atol=1e-10 * scale):
                    reason = "a batched call disagreed with single calls"
        except Exception as exc:  # any failure on a batch just means "does not broadcast"
            cause = exc.__cause__ if isinstance(exc, UserFunctionError) and exc.__cause__ else exc
            reason = f"a batched call raised {type(cause).__name__}: {_shorten(str(cause), 80)}"
        if reason is None:
            self.batched = True
            self.points += hi
            out[:hi] = _as_output(trial, self.name, (hi,) + shape, f"for a batch of {describe(0)} ...")
            return hi
        self.batched = False
        self.notes.append(f"{self.name} does not broadcast over a leading axis ({reason}); one point per call")
        out[:2] = singles
        return 2


# --------------------------------------------------------------------------
# The numerical Jacobian


def _fd_jacobian(fc: _Caller, x: np.ndarray, eps: float, y_shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Central differences: ``J`` of shape ``(m, n)`` and the rounding allowance per entry."""
    n = x.size
    flat = x.reshape(-1)

    def make(lo, hi):
        rows = np.arange(lo, hi)
        pts = np.repeat(flat[None, :], hi - lo, axis=0)
        pts[np.arange(hi - lo), rows % n] += np.where(rows < n, eps, -eps)
        return pts.reshape((hi - lo,) + x.shape)

    def describe(i):
        j = np.unravel_index(i % n, x.shape)
        return f"x {'+' if i < n else '-'} eps at input index {tuple(int(k) for k in j)}"

    # Divide by the step actually taken: (x+eps) - (x-eps) is not exactly 2·eps in floating point.
    h = _steps_taken(flat, eps, x.shape)
    vals = fc.map(2 * n, make, y_shape, describe).reshape(2 * n, -1)
    plus, minus = vals[:n], vals[n:]
    jac = ((plus - minus) / h[:, None]).T
    rounding = (ROUNDING_FACTOR * _EPS_MACHINE * (np.abs(plus) + np.abs(minus)) / h[:, None]).T
    return jac, rounding


def _steps_taken(flat: np.ndarray, eps: float, shape: tuple) -> np.ndarray:
    """``(x + eps) - (x - eps)`` per entry; refuse a step that vanishes in floating point."""
    h = (flat + eps) - (flat - eps)
    small = h <= np.abs(flat) * (4 * _EPS_MACHINE)  # the step is lost in rounding (or entirely zero)
    if small.any():
        j = int(np.argmax(small))
        idx = tuple(int(i) for i in np.unravel_index(j, shape))
        raise ValueError(
            f"eps={eps:g} is too small for x at input index {idx} (x = {flat[j]:.3g}): x ± eps rounds to "
            f"(almost) x; use a step of about 1e-6 * max(1, |x|)"
        )
    return h


def _check_x_eps(x, eps) -> tuple[np.ndarray, float]:
    x = as_real_array(x, "x")
    require_finite(x, "x")
    return x, real_scalar(eps, "eps", positive=True)


def numerical_jacobian(f, x, eps=DEFAULT_EPS, *, batched: bool | None = None) -> np.ndarray:
    r"""Jacobian of ``f`` at ``x`` by central differences in float64.

    .. math::

        J_{i j} \approx \frac{f_i(x + h e_j) - f_i(x - h e_j)}{(x_j + h) - (x_j - h)}

    Parameters
    ----------
    f : callable
        ``f(x) -> array``; any output shape (a scalar gives ``J`` of
        ``x.shape``).  Whatever it returns is converted with ``numpy.asarray``.
    x : array_like, any shape
        The point; converted to float64, must be finite.
    eps : float, default 1e-6
        The absolute step ``h``.  Truncation error grows like ``h²``, rounding
        error like ``ε|f|/h``; 1e-6 balances them for float64 functions of
        order one.  Raise it (and the tolerances) for float32 functions.
    batched : bool or None, default None
        How ``f`` is called.  ``True``: ``f`` broadcasts over a leading axis
        (``f(X)`` with ``X`` of shape ``(B,) + x.shape`` returns
        ``(B,) + f(x).shape``), so all ``2·x.size`` perturbed points are
        evaluated in one call (chunked to 32 MiB of input or output).
        ``False``: one call per point.  ``None`` (default) decides: two
        single calls and one trial batch of 8 points; batched evaluation is
        used only if the batch has the right shape and agrees with the single
        calls (to 1e-10 relative), and the remaining points then take one
        call per chunk; otherwise one call per point.  ``f`` is also called
        once at ``x`` itself.  So with a broadcasting ``f`` the whole Jacobian
        costs 5 calls up to 32 MiB, whatever the size of ``x``.

    Returns
    -------
    J : ndarray, shape ``f(x).shape + x.shape``

    Raises
    ------
    TypeError, ValueError
        Bad ``x``/``eps``; ``f`` not callable; ``f`` raises, returns ``None``,
        a non-numeric value, the wrong shape, or NaN/inf at some point (the
        message says which point).

    Notes
    -----
    The denominator is the step actually taken, ``(x_j + h) - (x_j - h)``,
    which differs from ``2h`` by rounding when ``|x_j| >> h``.
    """
    x, eps = _check_x_eps(x, eps)
    fc = _Caller(f, "f", batched=batched)
    y0 = fc.call(x, None, "at x")
    jac, _ = _fd_jacobian(fc, x, eps, y0.shape)
    return jac.reshape(y0.shape + x.shape)


# --------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Entry:
    """One compared value: a Jacobian entry, or a screening projection.

    For a Jacobian entry ``output_index`` and ``input_index`` are
    multi-indices into ``f(x)`` and ``x``; for a projection ``⟨dy_a, J u_b⟩``
    they are ``None`` and ``probe = (a, b)``.
    """

    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    tolerance: float
    output_index: tuple | None = None
    input_index: tuple | None = None
    probe: tuple | None = None

    @property
    def ok(self) -> bool:
        return self.abs_error <= self.tolerance

    def where(self) -> tuple[str, str]:
        if self.probe is not None:
            return f"dy#{self.probe[0]}", f"u#{self.probe[1]}"
        return str(self.output_index), str(self.input_index)


@dataclass(frozen=True)
class VJPReport:
    """What :func:`check_vjp` found.  ``str(report)`` is a compact table.

    Attributes
    ----------
    ok : bool
        The verdict.
    mode : str
        ``"screen"`` (projections only, passed), ``"screen+full"`` (screen
        failed, full Jacobian compared), ``"full"`` (forced), or ``"empty"``.
    max_abs_error, max_rel_error : float
        Over the values compared in the deciding stage (projections in
        ``"screen"`` mode, Jacobian entries otherwise).  The relative error is
        ``|a - n| / |n|`` (``inf`` where ``n = 0 != a``).
    worst : tuple of Entry
        The entries with the largest ``abs_error / tolerance``, worst first.
    n_compared, n_failed : int
        How many values the deciding stage compared, and how many failed.
    error : str or None
        Set when ``vjp`` raised or returned something unusable (``ok`` is then
        False).
    resolution : float or None
        In ``"screen"`` mode: an error larger than this in any single Jacobian
        entry is guaranteed to fail the screen.  Smaller single-entry errors
        may pass; ``full=True`` compares every entry with its own tolerance.
    """

    ok: bool
    mode: str
    max_abs_error: float
    max_rel_error: float
    worst: tuple
    n_compared: int
    n_failed: int
    eps: float
    rtol: float
    atol: float
    seed: int
    n_probes: int
    input_shape: tuple
    output_shape: tuple
    f_calls: int
    vjp_calls: int
    f_batched: bool | None
    vjp_batched: bool | None
    error: str | None = None
    screen_ok: bool | None = None
    resolution: float | None = None
    notes: tuple = ()

    def __repr__(self) -> str:
        return (
            f"<VJPReport ok={self.ok} mode={self.mode!r} max_abs_error={self.max_abs_error:.3g} "
            f"max_rel_error={self.max_rel_error:.3g} n_failed={self.n_failed}/{self.n_compared}>"
        )

    def __str__(self) -> str:
        what = "projections" if self.mode == "screen" else "Jacobian entries"
        if self.error is not None:
            head = f"check_vjp FAILED: {self.error}"
        elif self.ok:
            head = f"check_vjp passed: {self.n_compared} {what} within tolerance"
        else:
            head = f"check_vjp FAILED: {self.n_failed} of {self.n_compared} {what} outside tolerance"
        stage = {
            "screen": "random projections",
            "screen+full": "random projections failed -> full Jacobian",
            "full": "full Jacobian (forced)",
            "empty": "nothing to compare",
        }.get(self.mode, self.mode)

        def how(batched):
            return {True: "batched", False: "one point per call", None: "-"}[batched]

        lines = [
            f"{head}  [{stage}]",
            f"  x {self.input_shape} -> f(x) {self.output_shape}; eps={self.eps:g} rtol={self.rtol:g} "
            f"atol={self.atol:g} seed={self.seed} probes={self.n_probes}",
            f"  calls: f {self.f_calls} ({how(self.f_batched)}), vjp {self.vjp_calls} ({how(self.vjp_batched)})",
        ]
        if self.n_compared:
            lines.append(f"  max abs error {self.max_abs_error:.2e}, max rel error {self.max_rel_error:.2e}")
        if self.mode == "screen" and self.resolution is not None:
            lines.append(
                f"  screen resolution: any single Jacobian entry off by more than {self.resolution:.1e} "
                f"would have failed (full=True checks each entry)"
            )
        if self.worst:
            if self.mode == "screen":
                lines.append("  worst projections <dy_a, J u_b> (tolerance = atol*|dy||u| + rtol*|dy||Ju| + rounding):")
            else:
                lines.append("  worst entries (tolerance = atol + rtol*|numeric| + rounding):")
            rows = [("output", "input", "analytic", "numeric", "abs err", "rel err", "tolerance", "")]
            for e in self.worst:
                out_i, in_i = e.where()
                rows.append(
                    (
                        out_i,
                        in_i,
                        f"{e.analytic:.6g}",
                        f"{e.numeric:.6g}",
                        f"{e.abs_error:.2e}",
                        f"{e.rel_error:.2e}",
                        f"{e.tolerance:.2e}",
                        "" if e.ok else "FAIL",
                    )
                )
            widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
            for r in rows:
                lines.append("    " + "  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip())
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _compare(analytic, numeric, tol, n_worst, index_of) -> dict:
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


def _probe_vectors(rng: np.random.Generator, count: int, shape: tuple) -> np.ndarray:
    # Random signs times magnitudes in [0.5, 1.5]: no component is ever near
    # zero, so an error in any single Jacobian entry shows up in every
    # projection instead of hiding behind a small random weight.
    signs = rng.choice(np.array([-1.0, 1.0]), size=(count,) + shape)
    return signs * rng.uniform(0.5, 1.5, size=(count,) + shape)


def _screen(fc, vc, x, y_shape, eps, rtol, atol, n_probes, seed, n_worst) -> dict:
    rng = np.random.default_rng(seed)
    u = _probe_vectors(rng, n_probes, x.shape)
    dys = _probe_vectors(rng, n_probes, y_shape)
    plus_pts, minus_pts = x + eps * u, x - eps * u
    _steps_taken(np.broadcast_to(x, u.shape).reshape(-1), eps * 0.5, (n_probes,) + x.shape)  # |u| >= 0.5
    pts = np.concatenate([plus_pts, minus_pts])
    vals = fc.map(2 * n_probes, lambda lo, hi: pts[lo:hi], y_shape, lambda i: f"x ± eps·u#{i % n_probes}")
    fp = vals[:n_probes].reshape(n_probes, -1)
    fm = vals[n_probes:].reshape(n_probes, -1)
    disp = (plus_pts - minus_pts).reshape(n_probes, -1)  # the displacement actually taken, ≈ 2·eps·u
    dx = vc.map(n_probes, lambda lo, hi: dys[lo:hi], x.shape, lambda i: f"dy = probe #{i}")
    dy = dys.reshape(n_probes, -1)
    dx = dx.reshape(n_probes, -1)
    # Both sides in units of ⟨dy, J u⟩: divide by 2·eps.
    numeric = dy @ (fp - fm).T / (2 * eps)  # [a, b] = ⟨dy_a, (f(x+eps u_b) - f(x-eps u_b))⟩ / 2eps
    analytic = dx @ disp.T / (2 * eps)  # [a, b] = ⟨vjp(dy_a), u_b⟩
    ju_norm = np.linalg.norm((fp - fm) / (2 * eps), axis=1)
    dy_norm = np.linalg.norm(dy, axis=1)
    u_norm = np.linalg.norm(u.reshape(n_probes, -1), axis=1)
    with np.errstate(over="ignore"):  # a tolerance beyond float64 (atol ~ 1e308) is simply +inf
        rounding = ROUNDING_FACTOR * _EPS_MACHINE * (np.abs(dy) @ (np.abs(fp) + np.abs(fm)).T) / (2 * eps)
        tol = atol * np.outer(dy_norm, u_norm) + rtol * np.outer(dy_norm, ju_norm) + rounding
    result = _compare(analytic, numeric, tol, n_worst, lambda k: {"probe": divmod(k, n_probes)})
    # Every probe component has magnitude >= 0.5, so an error d in one Jacobian
    # entry moves every projection by >= d/4: errors above 4·min(tol) cannot pass.
    result["resolution"] = 4.0 * float(tol.min())
    return result


def _full(fc, vc, x, y_shape, eps, rtol, atol, n_worst) -> dict:
    m, n = int(np.prod(y_shape, dtype=np.int64)), x.size
    numeric, rounding = _fd_jacobian(fc, x, eps, y_shape)

    def basis(lo, hi):
        e = np.zeros((hi - lo, m))
        e[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
        return e.reshape((hi - lo,) + y_shape)

    def describe(i):
        return f"dy = e at output index {tuple(int(k) for k in np.unravel_index(i, y_shape))}"

    analytic = vc.map(m, basis, x.shape, describe).reshape(m, n)
    with np.errstate(over="ignore"):
        tol = atol + rtol * np.abs(numeric) + rounding

    def index_of(k):
        i, j = divmod(k, n)
        return {
            "output_index": tuple(int(a) for a in np.unravel_index(i, y_shape)),
            "input_index": tuple(int(a) for a in np.unravel_index(j, x.shape)),
        }

    return _compare(analytic, numeric, tol, n_worst, index_of)


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
    batched: bool | None = None,
    vjp_batched: bool | None = None,
) -> VJPReport:
    r"""Check a vector-Jacobian product against central finite differences.

    Default (``full=False``): draw ``n_probes`` seeded random directions
    ``u_b`` (shape of ``x``) and cotangents ``dy_a`` (shape of ``f(x)``), and
    compare all ``n_probes²`` pairs

    .. math::

        \langle \mathrm{vjp}(x, dy_a),\, u_b\rangle
        \quad\text{vs}\quad
        \Bigl\langle dy_a,\, \frac{f(x + h u_b) - f(x - h u_b)}{2h}\Bigr\rangle .

    This costs a constant number of calls (``f``: 2 at ``x``, plus
    ``2·n_probes`` points; ``vjp``: ``n_probes``; each batched into one call
    when the function broadcasts) whatever the size of ``x``.  If any pair
    disagrees, the full Jacobian is computed both ways (``2·x.size``
    perturbed points of ``f``, one ``vjp`` per output entry) and compared
    entry by entry, so the report names the wrong entries.  With
    ``full=True`` the entry-by-entry comparison is always made.

    Parameters
    ----------
    f : callable
        ``f(x) -> array``; must be deterministic (checked: two calls at ``x``
        must agree exactly).
    vjp : callable
        ``vjp(x, dy) -> dx`` with ``dx.shape == x.shape``.
    x : array_like
        The point; float64, finite.
    eps : float, default 1e-6
        Central-difference step (see :func:`numerical_jacobian`).
    rtol, atol : float, default 1e-6, 1e-8
        A value passes when ``|a - n| <= atol + rtol·|n| + rounding`` (module
        docstring).  Float32 implementations typically need ``eps≈1e-3``,
        ``rtol≈1e-2``.
    full : bool, default False
        Force the full Jacobian comparison.
    n_probes : int, default 3
        Number of random directions and cotangents in the screen.
    seed : int, default 0
        Seed of the probe vectors (the report records it).
    n_worst : int, default 5
        How many entries the report lists.
    batched, vjp_batched : bool or None
        Whether ``f`` (resp. ``vjp`` in its ``dy`` argument) broadcasts over a
        leading axis; ``None`` probes, as in :func:`numerical_jacobian`.

    Returns
    -------
    VJPReport
        Never raises because of ``vjp``: if it raises, returns ``None``, the
        wrong shape, a non-numeric value or NaN/inf, the report fails with
        ``error`` saying so.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, or a problem with ``f`` (it raises, is not
        deterministic, or returns NaN/inf or the wrong shape): without a sound
        ``f`` there is nothing to check against.
    """
    x, eps = _check_x_eps(x, eps)
    rtol = real_scalar(rtol, "rtol", nonnegative=True)
    atol = real_scalar(atol, "atol", nonnegative=True)
    n_probes, n_worst, seed = int_arg(n_probes, "n_probes", 1), int_arg(n_worst, "n_worst", 0), int_arg(seed, "seed", 0)
    if full not in (True, False):
        raise TypeError(f"full must be True or False, got {full!r}")

    fc = _Caller(f, "f", batched=batched)
    vc = _Caller(vjp, "vjp", fixed=(x.copy(),), batched=vjp_batched)
    y0 = fc.call(x, None, "at x")
    y_again = fc.call(x, y0.shape, "at x (second call)")
    if not np.array_equal(y0, y_again):
        diff = float(np.abs(y0 - y_again).max())
        raise ValueError(
            f"f is not deterministic: two calls at the same x differ by up to {diff:.3g}; "
            f"fix its randomness (e.g. pass explicit noise) before checking gradients"
        )

    base = dict(
        eps=eps,
        rtol=rtol,
        atol=atol,
        seed=int(seed),
        n_probes=int(n_probes),
        input_shape=x.shape,
        output_shape=y0.shape,
    )

    def finish(mode, result, error=None, screen_ok=None):
        notes = tuple(fc.notes + vc.notes)
        if mode == "screen+full" and result is not None and result["n_failed"] == 0:
            notes += (
                "the random projections disagreed beyond tolerance but every Jacobian entry is within it; "
                "the entry-wise verdict stands",
            )
        if result is None:
            result = dict(max_abs_error=math.nan, max_rel_error=math.nan, worst=(), n_compared=0, n_failed=0)
        if mode != "screen":
            result = {k: v for k, v in result.items() if k != "resolution"}
        ok = error is None and result["n_failed"] == 0
        return VJPReport(
            ok=ok,
            mode=mode,
            error=error,
            screen_ok=screen_ok,
            notes=notes,
            f_calls=fc.calls,
            vjp_calls=vc.calls,
            f_batched=fc.batched,
            vjp_batched=vc.batched,
            **result,
            **base,
        )

    if x.size == 0 or y0.size == 0:
        empty = dict(max_abs_error=0.0, max_rel_error=0.0, worst=(), n_compared=0, n_failed=0)
        return finish("empty", empty)

    screen_ok = None
    mode = "full" if full else "screen"
    try:
        if not full:
            screen = _screen(fc, vc, x, y0.shape, eps, rtol, atol, n_probes, seed, n_worst)
            screen_ok = screen["n_failed"] == 0
            if screen_ok:
                return finish(mode, screen, screen_ok=True)
            mode = "screen+full"
        result = _full(fc, vc, x, y0.shape, eps, rtol, atol, n_worst)
    except UserFunctionError as exc:
        if exc.source == "f":  # the reference side failed: nothing to check against
            raise
        return finish(mode, None, error=str(exc), screen_ok=screen_ok)
    return finish(mode, result, screen_ok=screen_ok)


def assert_vjp(f, vjp, x, **kwargs) -> VJPReport:
    """:func:`check_vjp`, raising ``AssertionError(str(report))`` on failure.

    For use in test suites; returns the report when the check passes.
    """
    report = check_vjp(f, vjp, x, **kwargs)
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report
