r"""A statistical check of a whole outside ILS estimator, its sampling half included.

The reference vectors fix the draw (``index``), so they cannot see a mistake in
how an implementation *draws*: the argmax instead of a sample, a sample from a
tempered softmax.  Here the implementation draws for itself:

    fn(logits, dz_of, rng, alpha=...) -> dlogits

draws one category per row of ``logits`` with the NumPy Generator ``rng``,
calls ``dz_of(z)`` for the upstream gradient ``∂L/∂z`` at its one-hot draw
``z`` (same shape as ``logits``) and returns one sampled logit gradient.  On a
few small problems and step sizes, the mean of ``n`` such estimates is compared
with ILS's exact expectation (:func:`ils_ref.estimators.interface.ils_expected_gradient`,
every draw enumerated) by the rule of :mod:`ils_ref.checking.statcheck`: a
setting fails when some component's ``|z|`` exceeds the Bonferroni threshold
for the family-wise level ``level`` (default 1e-3), and the report states the
bias each setting would detect with 90% probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..estimators.interface import ils_expected_gradient
from ..formatting import text_table
from ..validation import checked
from .conformance import POLICIES, to_numpy
from .problems import bernoulli_quadratic, linear, make_toy1
from .statcheck import detectable_bias, estimate_statistics, verdict


def settings():
    """The problems and step sizes checked: ``(label, problem, alpha)``."""
    rng = np.random.default_rng(7)
    target = rng.random((2, 5))
    toy = make_toy1(target / target.sum(-1, keepdims=True), rng.normal(size=(2, 5)), smoothing=1e-2)
    problems = [("linear 3x4", linear(seed=1, rows=3, categories=4)),
                ("Bernoulli quadratic", bernoulli_quadratic(0.3, logits=(0.4, -0.3))),
                ("toy 1 (2x5, eps 1e-2)", toy)]
    return [(f"{label}, alpha={a:g}", problem, a) for label, problem in problems for a in (0.1, 1.0)]


@dataclass(frozen=True)
class SettingResult:
    label: str
    ok: bool
    max_abs_z: float
    threshold: float
    detectable: float
    bias_norm: float
    error: str | None = None


@dataclass(frozen=True)
class StatisticalReport:
    results: tuple
    n_samples: int
    policy: str
    level: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __str__(self) -> str:
        table = [("setting", "verdict", "max|z|", "threshold", "bias norm", "detects (90%)", "note")]
        for r in self.results:
            if r.error:
                table.append((r.label, "FAIL", "", "", "", "", r.error))
                continue
            table.append((r.label, "pass" if r.ok else "FAIL", f"{r.max_abs_z:.1f}", f"{r.threshold:.2f}",
                          f"{r.bias_norm:.3g}", f"{r.detectable:.3g}", ""))
        head = (f"statistical check of a whole ILS estimator ({self.n_samples} estimates per setting, policy "
                f"{self.policy}, family-wise level {self.level:g} per setting): mean vs ILS's exact expectation")
        verdict_line = f"{'PASS' if self.ok else 'FAIL'}: {sum(r.ok for r in self.results)} of {len(self.results)} settings"
        return "\n".join([head, text_table(table, indent=2, align="llrrrrl"), verdict_line])


def check_estimator(fn, *, policy: str = "clip", n_samples: int = 4000, seed: int = 0, level: float = 1e-3) -> StatisticalReport:
    """Sample ``fn`` ``n_samples`` times on every setting and compare the mean with ILS's exact expectation."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    n_samples, seed, level = checked(n_samples=("int", n_samples, 100), seed=("int", seed, 0), level=("positive", level))
    results = []
    for i, (label, problem, alpha) in enumerate(settings()):
        rng = np.random.default_rng([seed, i])
        try:
            estimates = np.stack([to_numpy(fn(problem.logits.copy(), problem.grad, rng, alpha=alpha)).astype(np.float64)
                                  for _ in range(n_samples)])
            if estimates.shape[1:] != problem.logits.shape or not np.all(np.isfinite(estimates)):
                raise ValueError(f"returned shape {estimates.shape[1:]} or non-finite values; expected finite "
                                 f"{problem.logits.shape}")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the estimator failed: this setting fails, the run goes on
            results.append(SettingResult(label, False, np.nan, np.nan, np.nan, np.nan, f"{type(exc).__name__}: {exc}"[:100]))
            continue
        reference = ils_expected_gradient(problem, alpha, policy=policy)
        stats = estimate_statistics(estimates, reference)
        result, threshold = verdict(stats["z"], stats["stderr"], reference, level, 0.25)
        results.append(SettingResult(label, result != "biased", float(np.max(np.abs(stats["z"]))), threshold,
                                     detectable_bias(threshold, stats["stderr"]), stats["bias_norm"]))
    return StatisticalReport(tuple(results), n_samples, policy, level)
