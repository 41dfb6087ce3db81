r"""Finite-difference gradient checking, for this package and for yours.

Everything here is framework-agnostic: ``f`` maps a float64 array to an
array, ``vjp(x, dy)`` returns ``dx = Jᵀ dy``.  To check a PyTorch or JAX
function, wrap it so that it takes and returns arrays (``numpy.asarray`` is
applied to whatever comes back, so a CPU tensor without grad works).

The parts, one module each:

:mod:`~ils_ref.checking.finite_differences`
    :func:`numerical_jacobian`, the full Jacobian by central differences.
:mod:`~ils_ref.checking.comparison`
    Random projections, entry-by-entry comparison, the tolerance rule.
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

See :mod:`ils_ref.checking.comparison` for the comparison rule.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import checked
from .calls import Caller, UserFunctionError
from .comparison import full as full_comparison
from .comparison import screen
from .finite_differences import DEFAULT_EPS, numerical_jacobian
from .report import Entry, VJPReport

__all__ = ["numerical_jacobian", "check_vjp", "assert_vjp", "VJPReport", "Entry"]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8


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
    batched, vjp_batched : bool, default False
        Whether ``f`` (resp. ``vjp`` in its ``dy`` argument) broadcasts over a
        leading axis, so that many points go in one call (see
        :func:`numerical_jacobian`).

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
    x, eps, rtol, atol, full, n_probes, seed, n_worst = checked(
        x=("real", x),
        eps=("positive", eps),
        rtol=("nonnegative_scalar", rtol),
        atol=("nonnegative_scalar", atol),
        full=("flag", full),
        n_probes=("int", n_probes, 1),
        seed=("int", seed, 0),
        n_worst=("int", n_worst, 0),
    )
    fc = Caller(f, "f", batched=batched)
    vc = Caller(vjp, "vjp", fixed=(x,), batched=vjp_batched)
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
            screen_result = screen(fc, vc, x, y0.shape, eps, rtol, atol, n_probes, seed, n_worst)
            screen_ok = screen_result["n_failed"] == 0
            if screen_ok:
                return finish(mode, screen_result, screen_ok=True)
            mode = "screen+full"
        result = full_comparison(fc, vc, x, y0.shape, eps, rtol, atol, n_worst)
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
