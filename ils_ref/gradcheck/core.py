r"""The algorithm of :func:`ils_ref.check_vjp` in one place: what a comparison proves, and the verdict.

A VJP is compared with central differences of ``f``.  A difference quotient
at step ``h`` is only an *estimate* of a Jacobian entry; this module says when
the estimates are evidence, and decides the verdict from the evidence.

**1. Linearity** (:func:`linearity`).  Before any finite difference:
``vjp(λ·dy) = λ·vjp(dy)`` for powers of two ``λ`` (one negative, one that
makes every entry tiny), which rounding meets exactly,
``vjp(a·dy₁ + b·dy₂) = a·vjp(dy₁) + b·vjp(dy₂)`` on random signed cotangents
whose entries span six decades, the same for the two sparse halves of one, and
a repeated call gives the same answer.  A VJP that clips, cubes, normalises or thresholds
``dy``, or that changes between calls, fails here: the entry-by-entry
comparison probes only basis cotangents ``e_i`` and cannot see it.

**2. The interval of one step.**  At step ``h`` (displacement taken ``w``)
the central difference ``n_h = (f(x+h) - f(x-h)) / w`` is off from the entry
by at most

.. math::

    u_h = \underbrace{\frac{4\,\epsilon_f\,(|f(x+h)| + |f(x-h)|) + 4\,r + q}{w}}_{\text{rounding}}
        + \underbrace{|n_h - n_{h/10}|}_{\text{truncation}}
        + \underbrace{J_h}_{\text{kink}}

with ``ε_f`` the unit roundoff of ``f``'s values (float64, or float32
recognised), ``r`` the absolute error of ``f`` beyond that (non-determinism
between calls, and its error measured near ``x``), ``q`` the
smallest change of ``f`` seen at any step (the granularity of a function that is
flat at its last digit), and ``J_h`` the gap between the one-sided slopes
``(f(x+h) - f(x))/h`` and ``(f(x) - f(x-h))/h`` where it does not shrink with
the step (a kink or a tie inside the step; a smooth ``f``'s gap falls like
``h``).

**3. The verdict of one entry** (:func:`judge`), analytic value ``a``,
tolerance ``t = atol + rtol·R_i + floor``:

* **pass** — some step's interval is no wider than ``t`` and holds ``a``
  within ``t``: the entry is verified to the tolerance (an output that does
  not move at any step is not: ``1e20 + x`` does not either);
* **fail** — two steps of the *asymptotic regime* (the estimate moves at most
  a third of what the ten-times-larger step's did, and so does the next, as an
  ``h²`` error does; or it moves within rounding), up to three apart, whose intervals agree with each other,
  both exclude ``a`` by more than ``t``, and nothing contradicts them: no
  narrow interval holds ``a``, every asymptotic interval overlaps every other
  (two plateaus, say of a function flat at its last digits at small steps,
  show that the bounds do not hold), and no step holds ``a`` with an interval
  much narrower than the gap: the error does not move with the step, it is in
  the gradient;
* **inconclusive** — neither: no step resolves the entry (the reason names
  what limited it: rounding, truncation, a kink, ``f``'s domain), or the
  steps contradict each other.

A single step decides only a *pass*, and only with evidence
(:func:`first_look`): within tolerance **and** a tolerance below the size of
the row it checks, its rounding term no larger than the rest of it.  A tolerance that exceeds the values checked (a derivative
of 1e-9 under a rounding term of 3e-9) proves nothing: such an entry gets the
many-step verdict above.

**4. The verdict of the check** (:func:`decide`): ``fail`` if the linearity
check failed or any entry failed; else ``inconclusive`` if any entry (or any
entry not re-checked) is; else ``pass``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS64 = float(np.finfo(np.float64).eps)
#: Safety factor on the rounding of one central difference, ``4·ε_f·(|f(x+h)| + |f(x-h)|)``: eight times
#: what two correctly rounded values can be off by; f's measured noise is added where it is more.
ROUNDING_FACTOR = 4.0
#: The steps of the second opinion, as multiples of the first step ``h``: 1e3·h down to 1e-12·h,
#: each used only while it is at least :data:`MIN_ULPS` units in the last place of ``x_j``.
SWEEP = 10.0 ** np.arange(3, -13, -1)
MIN_ULPS = 8
#: A one-sided slope gap that shrinks by less than this factor from one step to the next (ten
#: times smaller) is a kink or tie inside the step, not curvature (whose gap falls tenfold).
KINK_RATIO = 0.2
#: The truncation error of a step is at most this many times its difference from the next step's
#: estimate (exactly 100/99 times for an h² error; 2 allows the higher orders near a pole).
TRUNCATION_FACTOR = 2.0
#: A step is in the asymptotic regime when its estimate moves at most this fraction of what the
#: previous (ten times larger) step's did: an h² error moves a hundredth.
ASYMPTOTIC_RATIO = 0.3

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Resolution:
    """How finely ``f`` resolves its values: the rounding term of every comparison.

    ``eps`` is the unit roundoff of ``f``'s values; ``floor`` (per flat
    output, absolute) what ``f`` is off by beyond ``eps·|f|``.
    """

    eps: float
    floor: np.ndarray
    granularity: np.ndarray | None = None  # per flat output: the finest change of f seen near x (inf: none)

    def rounding(self, plus, minus, width, rows=slice(None)):
        """The rounding bound of ``(plus - minus) / width`` for the outputs ``rows`` (the last axis)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return (ROUNDING_FACTOR * self.eps * (np.abs(plus) + np.abs(minus)) + 4 * self.floor[rows]) / width


def row_sizes(analytic, numeric, tol) -> np.ndarray:
    """The size of every output row (the last axis): its largest value on which both sides agree."""
    agree = np.abs(analytic - numeric) <= tol
    size = np.where(agree, np.maximum(np.abs(analytic), np.abs(numeric)), 0.0)
    return size.reshape(-1, size.shape[-1]).max(axis=0, initial=0.0)


def first_look(analytic, numeric, tol, rounding, row_size) -> np.ndarray:
    """Which values one step settles: within ``tol``, with ``tol`` below the size of their row and its
    rounding term no larger than the rest of it (``atol + rtol·R_i + floor``).

    A step whose rounding dominates the tolerance (``1e8 + sin(x)``: 0.36 at
    ``h = 1e-6``) would pass a 10% error; such a value gets the many-step
    verdict, where larger steps resolve it.  Arrays broadcast together
    (``row_size`` along the last axis).  A value whose sides are both exactly
    0 with no rounding (``f`` is 0 around ``x``) is settled too.
    """
    err = np.abs(analytic - numeric)
    exact = (err == 0) & (rounding == 0)
    return (err <= tol) & ((tol < row_size) & (rounding <= tol - rounding) | exact)


@dataclass(frozen=True)
class Sweep:
    """``f`` along one entry's direction at the steps of :data:`SWEEP`; arrays ``(E, S)`` or ``(E,)``."""

    plus: np.ndarray  # f_i(x + s·h·e_j), NaN where f is not finite
    minus: np.ndarray  # f_i(x - s·h·e_j)
    centre: np.ndarray  # f_i(x), (E,)
    width: np.ndarray  # the displacement taken, (x_j + s h) - (x_j - s h); NaN for an unusable step
    floor: np.ndarray  # f's absolute error beyond eps·|f| for each entry's row, (E,)
    granularity: np.ndarray  # the finest change of each entry's row seen near x (inf: none), (E,)


@dataclass(frozen=True)
class Judgement:
    """The verdict on every entry (arrays ``(E,)``), with what decided it."""

    status: np.ndarray  # PASS, FAIL or INCONCLUSIVE
    numeric: np.ndarray  # the best estimate: from the narrowest interval
    width: np.ndarray  # that interval's half-width u
    step: np.ndarray  # its step
    cause: np.ndarray  # "verified", "stable", "rounding", "truncation", "kink", "domain", "conflict", "flat", "noise", "few"
    error: np.ndarray  # |analytic - numeric|
    tol: np.ndarray

    def explain(self, k: int) -> str:
        """Why entry ``k`` got its status, in one sentence."""
        u, step, err, tol = self.width[k], self.step[k], self.error[k], self.tol[k]
        return {
            "verified": f"verified at step {step:.1e} (estimate within {u:.1e}, tolerance {tol:.1e})",
            "stable": (f"the error does not move with the step: at least two steps agree, each within {u:.1e} "
                       f"(at step {step:.1e}), and differ from the analytic value by {err:.2e} (tolerance {tol:.1e})"),
            "rounding": (f"rounding: no step resolves this entry to its tolerance {tol:.1e} (narrowest interval "
                         f"{u:.1e}, at step {step:.1e}): f's rounding exceeds the value checked"),
            "truncation": f"truncation: the estimates move with the step (narrowest interval {u:.1e}, tolerance {tol:.1e})",
            "kink": f"kink: the one-sided slopes stay apart as the step shrinks (narrowest interval {u:.1e}): "
                    f"f is not differentiable here, or a tie lies within {step:.1e}",
            "domain": "domain: f is not finite at the larger steps, and the rest do not resolve the entry",
            "conflict": (f"the steps contradict each other: some agree with the analytic value, two others exclude it "
                         f"(error {err:.2e}); f is not resolved as the bounds assume (flat at its last digits, "
                         f"or higher-order terms)"),
            "few": "too few usable steps to compare (f not finite, or x's float64 spacing)",
            "noise": (f"no step resolves this entry: where the interval would be narrow enough (step {step:.1e}), "
                      f"f moves by less than its own noise (the steps are too large for f, an oscillation say, "
                      f"or f's error is that large)"),
            "flat": ("f does not change at any step, though it is not 0, nor does its output near x: its changes are below "
                     "its own rounding (1 + 1e-15 is a float64 number only to the nearest 2e-16), so no step can "
                     "resolve this entry"),
        }[str(self.cause[k])]


def _shift(a: np.ndarray, k: int, fill) -> np.ndarray:
    """``a[:, j + k]`` at column ``j`` (``fill`` past the end)."""
    return np.concatenate([a[:, k:], np.full((a.shape[0], k), fill, dtype=a.dtype)], axis=1)


def judge(analytic, tol, size, sweep: Sweep, eps: float) -> Judgement:
    """The many-step verdict on every entry (module docstring, part 3), vectorised over entries.

    ``tol`` is each entry's tolerance without rounding, ``size`` the size of
    its row: a pass needs a tolerance below it (``atol = 1e300`` verifies
    nothing), or an exact match.
    """
    plus, minus, w = sweep.plus, sweep.minus, sweep.width
    count = plus.shape[0]
    usable = np.isfinite(w) & np.isfinite(plus) & np.isfinite(minus)
    with np.errstate(all="ignore"):
        diff = plus - minus
        est = np.where(usable, diff / w, np.nan)
        values = np.abs(plus) + np.abs(minus)
        # f flat at some step (f(x ± h) both exactly f(x), not 0): its granularity q is the smallest
        # change seen at any step
        still = (plus == sweep.centre[:, None]) & (minus == sweep.centre[:, None])
        flat = (usable & still & (values > 0)).any(axis=1)
        # its granularity is at most the smallest change seen: at any step, or of its row near x (a
        # finer change there bounds it too); flat at every step with no change seen: nothing bounds it
        moved = np.minimum(np.where(usable & (diff != 0), np.abs(diff), np.inf).min(axis=1), sweep.granularity)
        quantum = np.where(flat, moved, 0.0)
        granular = np.where(values > 0, quantum[:, None], 0.0)  # (f exactly 0 on both sides is exact)
        noise = ROUNDING_FACTOR * eps * values + 4 * sweep.floor[:, None] + granular  # of the difference plus - minus
        rounding = noise / w
        gap = np.abs((plus - sweep.centre[:, None]) - (sweep.centre[:, None] - minus)) / (w / 2)
        # the next step has a hundredth of the h² term; twice the difference also covers higher orders
        truncation = TRUNCATION_FACTOR * np.abs(est - _shift(est, 1, np.nan))
        kink = np.where(_shift(gap, 1, np.nan) < KINK_RATIO * gap, 0.0, gap)  # a gap that does not fall with h
        u = rounding + truncation + kink  # the half-width of each step's interval
        u = np.where(np.isfinite(u), u, np.inf)  # the last usable step has no neighbour: no interval
        err = np.abs(analytic[:, None] - est)
    t = np.asarray(tol, dtype=float)[:, None]
    holds = err <= u + t
    narrow = holds & (u <= t)
    # Only steps in the asymptotic regime may exclude: the difference to the next step fell at least
    # threefold from the previous one (truncation ~ h²), or it is within rounding.  At steps far too
    # large, estimates of an oscillating f can agree with each other by accident (both about 0).
    # The fall must go on at the next step: estimates that alias an oscillation (sin at 1e15, where no
    # step is small against its period) scatter like 1/h, and one pair of them may fall by chance.
    change = truncation / TRUNCATION_FACTOR
    with np.errstate(invalid="ignore"):
        falling = change <= ASYMPTOTIC_RATIO * np.concatenate([np.full((count, 1), np.nan), change[:, :-1]], axis=1)
    within = change <= rounding
    asymptotic = within | falling & (_shift(falling, 1, False) | _shift(within, 1, False))
    # ... and only a step that sees f move by more than its noise (or not at all): a difference below
    # f's noise is no estimate, however small the quotient by a huge step makes its interval
    significant = (np.abs(diff) > noise) | still
    excludes = ~holds & np.isfinite(u) & asymptotic & significant
    # Proof: two excluding steps (up to three apart) whose intervals overlap, i.e. agree with each other.
    proven = np.zeros(count, bool)
    for k in (1, 2, 3):
        with np.errstate(invalid="ignore"):
            overlap = np.abs(est - _shift(est, k, np.nan)) <= u + _shift(u, k, np.inf)
        proven |= (excludes & _shift(excludes, k, False) & overlap).any(axis=1)
    meaningful = (t < np.asarray(size, dtype=float)[:, None]) | (err == 0) & (u == 0)
    verified = (narrow & meaningful).any(axis=1)
    # A step that holds `analytic` with an interval much narrower than its distance from the excluding
    # estimates contradicts them (two plateaus: f flat at its last digits at small steps, say).
    distance = np.where(excludes, err, np.inf).min(axis=1)
    contradicted = (holds & (u + t < 0.5 * distance[:, None])).any(axis=1)
    # If the bounds hold, every asymptotic interval holds the true value (counting a single fall too):
    # two disjoint ones mean they do not (two plateaus: f flat at its last digits at small steps, say),
    # and nothing is proven.
    steady = (within | falling) & significant & np.isfinite(u)
    with np.errstate(invalid="ignore"):
        lowest_top = np.where(steady, est + u, np.inf).min(axis=1)
        highest_bottom = np.where(steady, est - u, -np.inf).max(axis=1)
    contradicted |= highest_bottom > lowest_top
    status = np.full(count, INCONCLUSIVE, dtype=object)
    status[verified & ~proven] = PASS
    status[proven & ~verified & ~contradicted] = FAIL
    rows = np.arange(count)
    informative = np.where(significant, u, np.inf)
    pick = np.where(verified, np.argmin(np.where(narrow, u, np.inf), axis=1),
                    np.where(np.isfinite(informative).any(axis=1), np.argmin(informative, axis=1), np.argmin(u, axis=1)))
    best = u[rows, pick]
    finite = np.isfinite(best)
    parts = np.stack([rounding[rows, pick], truncation[rows, pick], kink[rows, pick]])
    limited = np.array(["rounding", "truncation", "kink"], dtype=object)[np.argmax(np.nan_to_num(parts, nan=np.inf), axis=0)]
    domain = (np.isfinite(w) & ~usable).any(axis=1)
    never_moved = flat & ~np.isfinite(moved)
    unseen = ~significant[rows, pick] & (best <= t[:, 0])
    cause = np.where(never_moved, "flat", np.where(unseen, "noise", np.where(~finite, "few", np.where(proven & (verified | contradicted), "conflict", np.where(domain & (limited != "kink"), "domain", limited)))))
    cause = np.where(status == PASS, "verified", np.where(status == FAIL, "stable", cause))
    # the estimate reported: at the chosen step; where no step gives an interval, the smallest usable step's
    last = est.shape[1] - 1 - np.argmax(usable[:, ::-1], axis=1)
    numeric = np.where(np.isfinite(est[rows, pick]), est[rows, pick], np.where(usable.any(axis=1), est[rows, last], 0.0))
    return Judgement(status=status, numeric=numeric, width=best, step=(w[rows, pick] / 2), cause=cause,
                     error=np.abs(analytic - numeric), tol=t[:, 0])


@dataclass(frozen=True)
class Linearity:
    """The linearity and repeatability of ``vjp``: ``problem`` is ``None`` when they hold."""

    problem: str | None  # "scale", "linear", "sparse", "repeat" or "consistent"
    index: int  # flat input index of the worst violation
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.problem is None

    def explain(self, index_of) -> str:
        """Why ``vjp`` failed, in one sentence (``index_of`` names a flat input index)."""
        where = index_of(self.index)
        return {
            "scale": (f"vjp is not linear in dy: vjp(λ·dy) differs from λ·vjp(dy) for a power of two λ by {self.error:.3g} "
                      f"at input index {where} (tolerance {self.tolerance:.2g}); a VJP is Jᵀdy, so it may not clip, "
                      f"normalise, threshold, take the sign of or raise dy to a power"),
            "repeat": (f"vjp is not repeatable: two calls with the same dy differ by {self.error:.3g} at input index "
                       f"{where} (tolerance {self.tolerance:.2g}); it must not depend on earlier calls"),
            "sparse": (f"vjp is not linear in dy: the vjp of a cotangent differs from the sum of the vjps of its two "
                   f"halves (each zero on a random half of the outputs) by {self.error:.3g} at input index {where} "
                   f"(tolerance {self.tolerance:.2g}); a VJP is Jᵀdy, whatever entries of dy are zero"),
        "linear": (f"vjp is not linear in dy: vjp(a·dy₁ + b·dy₂) differs from a·vjp(dy₁) + b·vjp(dy₂) by "
                       f"{self.error:.3g} at input index {where} (tolerance {self.tolerance:.2g}); a VJP is Jᵀdy, "
                       f"so it may not clip, normalise, threshold or raise dy to a power"),
            "consistent": (f"vjp(dy) differs from Σ_i dy_i·vjp(e_i) by {self.error:.3g} at input index {where} "
                           f"(tolerance {self.tolerance:.2g}): the VJP of a random cotangent is not the one its rows "
                           f"give, so it depends on dy in a way basis cotangents do not show"),
        }[self.problem]


#: Cotangent scales of the homogeneity test: powers of two, so that a linear VJP's rounding scales
#: exactly and any difference is the VJP's, not rounding's; one negative (``max(dy, 0)`` fails it), one
#: that brings every entry below 1e-9 (a VJP that drops small cotangents fails it).
SCALES = (-4.0, 2.0 ** -30)
#: An absolute floor of every linearity tolerance: subnormal results are not rounded relative to their size.
SUBNORMAL = 64 * float(np.finfo(np.float64).tiny)


def linearity(v1, v2, v12, scaled, parts, again, a: float, b: float, dy_size: float, f_size: float,
              rtol: float, eps: float) -> Linearity:
    """``vjp`` is linear in ``dy`` and repeatable: the module docstring's part 1.

    ``v1 = vjp(dy₁)``, ``v2 = vjp(dy₂)``, ``v12 = vjp(a·dy₁ + b·dy₂)``,
    ``scaled[k] = vjp(SCALES[k]·dy₁)``, ``parts = (vjp(dy₁ ⊙ mask),
    vjp(dy₁ ⊙ (1 - mask)))`` for a random half of the outputs, and ``again``
    a second ``vjp(dy₁)``.

    * **Homogeneity** ``vjp(λ·dy) = λ·vjp(dy)`` for the powers of two
      :data:`SCALES`: floating-point rounding scales exactly by a power of two,
      so a linear VJP meets it to a few ulps whatever its conditioning;
      a VJP that clips, cubes, normalises, thresholds or takes the sign of
      ``dy`` does not.
    * **Additivity** (of two dense cotangents, and of the two sparse halves of
      one) and **repeatability**, within ``max(rtol, 64ε)`` of the size of the
      terms (and of the largest), plus ``64ε·max|dy|·max|f|``: a VJP's
      intermediate sums (``y·(dy - Σ y·dy)`` for softmax) are rounded
      relative to ``|f|·|dy|``, not to the result.
    """
    for lam, got in zip(SCALES, scaled):  # 64 ulps of the largest entry: rounding scales exactly
        found = agreement((("scale", got, lam * v1),), abs(lam) * np.abs(v1), 0.0, eps, floor=0.0)
        if not found.ok:
            return found
    floor = 64 * eps * dy_size * f_size
    found = agreement((("repeat", again, v1), ("linear", v12, a * v1 + b * v2)),
                      np.abs(a * v1) + np.abs(b * v2) + np.abs(v12), rtol, eps, floor)
    if not found.ok:
        return found
    return agreement((("sparse", parts[0] + parts[1], v1),), np.abs(parts[0]) + np.abs(parts[1]) + np.abs(v1),
                     rtol, eps, floor)


def agreement(pairs, size, rtol: float, eps: float, floor: float) -> Linearity:
    """The first of ``(problem, got, expected)`` off by more than ``max(rtol, 64ε)·(size + max size) + floor``."""
    with np.errstate(over="ignore", invalid="ignore"):
        tol = max(rtol, 64 * eps) * (size + size.max(initial=0.0)) + floor + SUBNORMAL
    for problem, got, expected in pairs:
        with np.errstate(over="ignore", invalid="ignore"):
            err = np.abs(got - expected)
        over = err > tol
        if over.any():
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                j = int(np.argmax(np.where(over, err / tol, 0.0)))
            return Linearity(problem, j, float(err[j]), float(tol[j]))
    return Linearity(None, -1, 0.0, float(tol.max(initial=0.0)))


def decide(linear: Linearity, statuses: np.ndarray, not_rechecked: int = 0) -> str:
    """The verdict of the whole check: the only place one is made."""
    if not linear.ok or np.any(statuses == FAIL):
        return FAIL
    if not_rechecked or np.any(statuses == INCONCLUSIVE):
        return INCONCLUSIVE
    return PASS
