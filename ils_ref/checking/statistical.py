r"""A statistical check of a whole outside estimator, its sampling half included.

The reference vectors fix the draw (``index``), so they cannot see a mistake in
how an implementation *draws*: the argmax instead of a sample, a sample from a
tempered softmax.  Here the implementation draws for itself.  Two kinds of
estimator are checked (``op``):

``ils_backward``: ``fn(logits, dz_of, rng, alpha=...) -> dlogits`` draws one
category per row of ``logits`` with the NumPy Generator ``rng``, calls
``dz_of(z)`` for the upstream gradient ``∂L/∂z`` at its one-hot draw ``z``
(same shape as ``logits``) and returns one ILS estimate; the mean of ``n``
estimates is compared with ILS's exact expectation
(:func:`ils_ref.estimators.interface.ils_expected_gradient`, every draw
enumerated).

``reinforce_loo``: ``fn(logits, f_of, rng, group=4) -> dlogits`` draws
``group`` one-hot samples per row, calls ``f_of(z)`` for the loss of every row
at ``z`` (``z`` of shape ``(..., K)``, the loss of shape ``(...)``) and returns
one REINFORCE estimate with the leave-one-out baseline; its mean is compared
with the exact gradient (it is unbiased).

The rule (:mod:`ils_ref.checking.statcheck`), setting by setting: **fail** when
some component's ``|z|`` exceeds the Bonferroni threshold for the family-wise
level ``level`` (default 1e-3); **pass** when none does *and* a bias of a
quarter of the largest reference component would have been flagged with
probability 90%; **inconclusive** otherwise (the estimates are too noisy for
``n``; the report says about how many would do).  The whole check fails if a
setting fails, is inconclusive if a setting is, and passes only if every
setting passes: pure noise is never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..estimators.interface import ils_expected_gradient
from ..formatting import text_table
from ..models.problems import bernoulli_quadratic, exact_gradient, linear, make_toy1
from ..validation import checked
from .conformance import POLICIES, printed
from .runner import draw
from .signatures import STATISTICAL
from .statcheck import detectable_bias, estimate_statistics, verdict

#: The bias, relative to the largest component of the reference, a setting must be able to detect to pass.
RESOLUTION = 0.25


def settings(op: str = "ils_backward"):
    """The problems checked: ``(label, problem, options)``; for ILS the options set ``alpha``.

    The step sizes are those at which ILS's expectation stands out of one
    estimate's noise (at ``alpha = 0.1`` on the Bernoulli quadratic the clip
    policy leaves it 40 times below what 4,000 estimates resolve).
    """
    if op not in STATISTICAL:
        raise ValueError(f"op must be one of {tuple(STATISTICAL)} for a statistical check, got {op!r}")
    rng = np.random.default_rng(7)
    target = rng.random((2, 5))
    toy = make_toy1(target / target.sum(-1, keepdims=True), rng.normal(size=(2, 5)), smoothing=1e-2)
    problems = [("linear 3x4", linear(seed=1, rows=3, categories=4), (1.0, 3.0)),
                ("Bernoulli quadratic", bernoulli_quadratic(0.3, logits=(0.4, -0.3)), (1.0, 3.0)),
                ("toy 1 (2x5, eps 1e-2)", toy, (0.1, 1.0))]
    if op == "reinforce_loo":
        return [(f"{label}, group=4", problem, {"group": 4}) for label, problem, _ in problems]
    return [(f"{label}, alpha={a:g}", problem, {"alpha": a}) for label, problem, alphas in problems for a in alphas]


def reference(op: str, problem, options: dict, policy: str = "clip") -> np.ndarray:
    """What the mean of the estimates should be: ILS's exact expectation, or the exact gradient."""
    if op == "ils_backward":
        return ils_expected_gradient(problem, options["alpha"], policy=policy)
    return exact_gradient(problem)


@dataclass(frozen=True)
class SettingResult:
    label: str
    verdict: str  # "pass", "fail" or "inconclusive"
    max_abs_z: float
    threshold: float
    detectable: float  # the bias in one component flagged with 90% probability
    target: float  # the bias it must be able to flag to pass: RESOLUTION x max |reference|
    bias_norm: float
    error: str | None = None
    needed: int = 0  # about this many estimates would make an inconclusive setting conclusive

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


def judge_setting(label: str, estimates, error: str | None, ref: np.ndarray, level: float, n: int) -> SettingResult:
    """One setting's verdict from its ``n`` estimates ``(n, ...)`` (or the ``error`` that stopped them)."""
    nan = float("nan")
    if error is not None:
        return SettingResult(label, "fail", nan, nan, nan, nan, nan, error[:200])
    if estimates.shape != (n,) + ref.shape or not np.all(np.isfinite(estimates)):
        why = "non-finite values" if estimates.shape == (n,) + ref.shape else f"estimates of shape {estimates.shape}"
        return SettingResult(label, "fail", nan, nan, nan, nan, nan, f"returned {why}; expected {n} finite {ref.shape}")
    stats = estimate_statistics(estimates, ref)
    result, threshold = verdict(stats["z"], stats["stderr"], ref, level, RESOLUTION)
    detect = detectable_bias(threshold, stats["stderr"])
    target = RESOLUTION * float(np.max(np.abs(ref), initial=0.0))
    outcome = {"biased": "fail", "consistent with unbiased": "pass"}.get(result, "inconclusive")
    needed = 0
    if outcome == "inconclusive":
        needed = math.inf if target == 0 else math.ceil(len(estimates) * (detect / target) ** 2 * 1.1)
        needed = -1 if needed == math.inf or needed > 10**12 else int(needed)
    return SettingResult(label, outcome, float(np.max(np.abs(stats["z"]))), threshold, detect, target,
                         stats["bias_norm"], None, needed)


@dataclass(frozen=True)
class StatisticalReport:
    results: tuple
    n_samples: int
    policy: str
    level: float
    op: str = "ils_backward"
    output: str = ""  # what the checked code printed (isolated runs)

    @property
    def verdict(self) -> str:
        """``"fail"`` if a setting failed, else ``"inconclusive"`` if one was, else ``"pass"``."""
        verdicts = {r.verdict for r in self.results}
        return "fail" if "fail" in verdicts or not verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def __str__(self) -> str:
        return self.render()

    def render(self, verbose: bool = False) -> str:
        table = [("setting", "verdict", "max|z|", "threshold", "bias norm", "detects (90%)", "must detect", "note")]
        for r in self.results:
            if r.error:
                table.append((r.label, "FAIL", "", "", "", "", "", r.error))
                continue
            note = ""
            if r.verdict == "inconclusive":
                note = ("too noisy: " + (f"about --samples {r.needed} would tell" if r.needed > 0 else
                                         "the reference is 0, no bias size to resolve"))
            shown = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[r.verdict]
            table.append((r.label, shown, f"{r.max_abs_z:.1f}", f"{r.threshold:.2f}", f"{r.bias_norm:.3g}",
                          f"{r.detectable:.3g}", f"{r.target:.3g}", note))
        against = "ILS's exact expectation" if self.op == "ils_backward" else "the exact gradient"
        policy = f", policy {self.policy}" if self.op == "ils_backward" else ""
        head = (f"statistical check of a whole {self.op} estimator {STATISTICAL[self.op][0]} ({self.n_samples} "
                f"estimates per setting{policy}, family-wise level {self.level:g} per setting): mean vs {against}; "
                f"a setting passes when no |z| exceeds its threshold and it would flag a bias of {RESOLUTION:g} x the "
                f"largest reference component (must detect) 9 times in 10")
        counts = {v: sum(r.verdict == v for r in self.results) for v in ("pass", "fail", "inconclusive")}
        verdict_line = (f"{self.verdict.upper()}: {counts['pass']} of {len(self.results)} settings pass, "
                        f"{counts['fail']} fail, {counts['inconclusive']} inconclusive")
        return "\n".join([head, text_table(table, indent=2, align="llrrrrrl")] + printed(self.output, verbose) + [verdict_line])


def _checked_options(op, policy, n_samples, seed, level):
    if op not in STATISTICAL:
        raise ValueError(f"op must be one of {tuple(STATISTICAL)} for a statistical check, got {op!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    n_samples, seed, level = checked(n_samples=("int", n_samples, 100), seed=("int", seed, 0), level=("positive", level))
    if level >= 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return int(n_samples), int(seed), float(level)


def check_estimator(fn, *, op: str = "ils_backward", policy: str = "clip", n_samples: int = 4000, seed: int = 0,
                    level: float = 1e-3) -> StatisticalReport:
    """Sample ``fn`` ``n_samples`` times on every setting, in this process, and judge the means (module docstring)."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    n_samples, seed, level = _checked_options(op, policy, n_samples, seed, level)
    results = _judge_settings(lambda *job: draw(fn, op, *job), op, policy, n_samples, seed, level)
    return StatisticalReport(results, n_samples, policy, level, op)


def _judge_settings(draws, op, policy, n_samples, seed, level) -> tuple:
    """Every setting of ``op`` judged from ``draws(problem, n, seed, options) -> (estimates, error)``."""
    results = []
    for i, (label, problem, options) in enumerate(settings(op)):
        estimates, error = draws(problem, n_samples, [seed, i], options)
        results.append(judge_setting(label, estimates, error, reference(op, problem, options, policy), level, n_samples))
    return tuple(results)


def check_estimator_isolated(spec: str, *, op: str = "ils_backward", policy: str = "clip", n_samples: int = 4000,
                             seed: int = 0, level: float = 1e-3, timeout: float = 60.0) -> StatisticalReport:
    """:func:`check_estimator` for ``MODULE:FUNCTION`` run in a child process; ``timeout`` per setting.

    The child draws the estimates and sends them back as an array; the
    references and the verdict are computed here.  A setting whose estimates
    do not come back in time, or during which the child ends, fails, and the
    settings after it are not run.  Raises as
    :class:`ils_ref.checking.isolated.Child` does for an import that fails.
    """
    from .isolated import Child

    n_samples, seed, level = _checked_options(op, policy, n_samples, seed, level)
    with Child(spec, timeout) as child:
        results = _judge_settings(lambda *job: child.draw(op, *job), op, policy, n_samples, seed, level)
        output = child.output()
    return StatisticalReport(results, n_samples, policy, level, op, output)


def isolated_estimator(child, name: str, alpha: float):
    """An :class:`ils_ref.estimators.interface.Estimator` for ``compare`` whose draws run in ``child``.

    Each call sends the problem and a seed drawn from the caller's generator;
    an estimate that does not come back (an error, a timeout, the child
    ending) is a ``ValueError``, which ``compare`` reports in that row.
    """
    from ..estimators.interface import Estimator

    alpha = checked(alpha=("nonnegative_scalar", alpha))

    def estimate(logits, problem, rng, n):
        if not np.array_equal(np.asarray(logits), problem.logits):
            raise ValueError("an isolated estimator samples at the problem's own logits")
        estimates, error = child.draw("ils_backward", problem, int(n), int(rng.integers(2**63)), {"alpha": alpha})
        if error is None and estimates.shape != (n,) + problem.logits.shape:
            error = "sent estimates of the wrong shape"
        if error is None and not np.all(np.isfinite(estimates)):
            error = "returned NaN or inf"
        if error is not None:
            raise ValueError(f"{name}: {error}")
        return estimates.astype(np.float64)

    return Estimator(name, {"alpha": alpha}, estimate)
