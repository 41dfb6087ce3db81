r"""A statistical check for stochastic gradient estimators.

A finite-difference checker cannot judge an estimator whose output is random.
This module compares the Monte-Carlo mean of ``n`` independent estimates with
the exact gradient (computed by enumeration, :func:`ils_ref.models.problems.exact_gradient`)
and gives a verdict with a stated rule.

The rule
--------
For each of the ``d`` components, ``z_i = (mean_i - exact_i) / se_i`` with
``se_i = std_i / sqrt(n)``.  With the family-wise false-alarm rate ``level``
(default 1e-3) and the Bonferroni threshold
``c = Φ⁻¹(1 - level / (2d))``:

* **biased** if some ``|z_i| > c``: a bias this large would occur by chance
  with probability below ``level`` for an unbiased estimator (up to the
  normal approximation of the mean, fine for ``n`` in the thousands);
* **consistent with unbiased** if no ``|z_i|`` exceeds ``c`` *and* the test
  had the power to see a bias that matters: a bias of ``(c + Φ⁻¹(0.9)) ·
  max_i se_i`` in one component is flagged with probability at least 90%
  (its ``z`` is then normal with mean ``c + 1.28``), and that must be at most
  ``resolution · max_i |exact_i|`` (default ``resolution`` 0.25: a bias of a
  quarter of the largest gradient component is detected 9 times in 10);
* **inconclusive** otherwise: the estimates are too noisy for ``n`` to tell.

A bias of exactly ``c · se_i`` is flagged only about half the time: "no flag"
is evidence against biases well above that size, not against every bias.

A component with zero spread (``se_i = 0``) gets ``z_i = 0`` if its mean
equals the exact value to 1e-12 relative, else ``inf``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ..models.problems import Problem, exact_gradient
from ..validation import checked

VERDICTS = ("consistent with unbiased", "biased", "inconclusive")
#: The detection probability the verdict "consistent with unbiased" guarantees for a bias at the resolution.
POWER = 0.9


def detectable_bias(threshold: float, stderr) -> float:
    """The bias in one component that the test flags with probability at least :data:`POWER`."""
    return float((threshold + norm.ppf(POWER)) * np.max(stderr, initial=0.0))


def cosine(a, b) -> float:
    """``⟨a, b⟩ / (‖a‖ ‖b‖)`` over all entries; 0 when either is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(np.sum(a * b) / norms) if norms > 0 else 0.0


def estimate_statistics(estimates: np.ndarray, exact: np.ndarray) -> dict:
    r"""Summary statistics of ``n`` estimates ``(n, ...)`` against the exact value ``(...)``.

    Returns a dict with ``mean``, ``stderr`` (per component), ``z`` (per
    component), ``bias_norm = ‖mean - exact‖``, ``cosine`` between ``mean``
    and ``exact`` (NaN-free: 0 when either is zero), ``variance`` =
    ``E‖ĝ - Eĝ‖²`` (the trace of the covariance of one estimate) and
    ``snr = ‖mean‖ / sqrt(variance)``, all sample estimates.
    """
    estimates = np.asarray(estimates, dtype=np.float64)
    n = estimates.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 estimates for a standard error, got {n}")
    # Deviations from one estimate, then their mean and spread: an estimator without noise (every estimate the
    # same) gets exactly zero variance, where the plain formulas leave rounding of the mean (~1e-30).
    shifted = estimates - estimates[0]
    mean = estimates[0] + shifted.mean(axis=0)
    std = shifted.std(axis=0, ddof=1)
    stderr = std / np.sqrt(n)
    diff = mean - exact
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(stderr > 0, diff / stderr, 0.0)
    still = stderr == 0
    z = np.where(still & (np.abs(diff) > 1e-12 * (1.0 + np.abs(exact))), np.inf, z)
    variance = float(np.sum(std**2))
    mean_norm, exact_norm = float(np.linalg.norm(mean)), float(np.linalg.norm(exact))
    cos = cosine(mean, exact)
    return {
        "n": n,
        "mean": mean,
        "stderr": stderr,
        "z": z,
        "bias_norm": float(np.linalg.norm(diff)),
        "cosine": cos,
        "variance": variance,
        "snr": mean_norm / np.sqrt(variance) if variance > 0 else float("inf"),
    }


@dataclass(frozen=True)
class UnbiasednessReport:
    """The verdict of :func:`check_unbiased` and the numbers behind it."""

    verdict: str
    estimator: str
    n_samples: int
    seed: int
    level: float
    threshold: float
    resolution: float
    exact: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    z: np.ndarray
    bias_norm: float
    cosine: float
    variance: float
    snr: float

    @property
    def max_abs_z(self) -> float:
        return float(np.max(np.abs(self.z))) if self.z.size else 0.0

    @property
    def detectable_bias(self) -> float:
        """The bias in one component that the test flags with probability at least 90% (:data:`POWER`)."""
        return detectable_bias(self.threshold, self.stderr)

    def __str__(self) -> str:
        worst = int(np.argmax(np.abs(self.z))) if self.z.size else 0
        idx = tuple(int(i) for i in np.unravel_index(worst, self.z.shape))
        return "\n".join(
            [
                f"{self.estimator}: {self.verdict.upper()}  ({self.n_samples} estimates, seed {self.seed})",
                f"  max |z| = {self.max_abs_z:.2f} at component {idx} "
                f"(threshold {self.threshold:.2f} for family-wise level {self.level:g})",
                f"  at {idx}: mean {self.mean[idx]:.6g} ± {self.stderr[idx]:.2g} vs exact {self.exact[idx]:.6g}",
                f"  bias norm {self.bias_norm:.3g}, cosine to exact {self.cosine:.4f}, "
                f"a bias of {self.detectable_bias:.3g} in one component is flagged with >= {POWER:.0%} probability "
                f"(resolution {self.resolution:g} x max|exact|)",
            ]
        )


def verdict(z: np.ndarray, stderr: np.ndarray, exact: np.ndarray, level: float, resolution: float):
    """``(verdict, threshold)`` by the rule in the module docstring."""
    d = max(1, int(np.size(z)))
    threshold = float(norm.isf(level / (2 * d)))
    if np.size(z) and np.max(np.abs(z)) > threshold:
        return "biased", threshold
    scale = float(np.max(np.abs(exact))) if np.size(exact) else 0.0
    power_ok = detectable_bias(threshold, stderr) <= resolution * scale
    return ("consistent with unbiased" if power_ok else "inconclusive"), threshold


def check_unbiased(
    estimator,
    problem: Problem,
    logits=None,
    *,
    n_samples: int = 20000,
    seed: int = 0,
    level: float = 1e-3,
    resolution: float = 0.25,
    reference=None,
) -> UnbiasednessReport:
    """Is ``estimator`` unbiased for ``∂/∂θ E L`` on ``problem``?  See the module docstring.

    Parameters
    ----------
    estimator : ils_ref.estimators.interface.Estimator
    problem : ils_ref.models.problems.Problem
    logits : array_like, optional
        Where to evaluate (default: the problem's logits).
    n_samples : int
        Number of independent estimates.
    seed : int
        Seed of the ``numpy.random.Generator`` that drives the estimator.
    level : float in (0, 1)
        Family-wise probability of calling an unbiased estimator biased.
    resolution : float > 0
        The bias, relative to the largest exact component, that the test must
        be able to detect before it says "consistent with unbiased".
    reference : array_like, optional
        Compare with this instead of the exact gradient, e.g. an estimator's
        exact expectation (:func:`ils_ref.estimators.interface.ils_expected_gradient`):
        the verdict then says whether the Monte-Carlo mean is consistent with
        *that* value.
    """
    n_samples, seed, level, resolution = checked(
        n_samples=("int", n_samples, 2), seed=("int", seed, 0), level=("positive", level), resolution=("positive", resolution)
    )
    if level >= 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    logits = problem.logits if logits is None else np.asarray(logits, dtype=np.float64)
    exact = exact_gradient(problem, logits) if reference is None else np.asarray(reference, dtype=np.float64)
    if exact.shape != np.shape(logits):
        raise ValueError(f"reference has shape {exact.shape} but logits have shape {np.shape(logits)}")
    estimates = estimator(logits, problem, np.random.default_rng(seed), int(n_samples))
    stats = estimate_statistics(estimates, exact)
    result, threshold = verdict(stats["z"], stats["stderr"], exact, level, resolution)
    return UnbiasednessReport(
        verdict=result,
        estimator=getattr(estimator, "label", getattr(estimator, "__name__", "estimator")),
        n_samples=int(n_samples),
        seed=int(seed),
        level=level,
        threshold=threshold,
        resolution=resolution,
        exact=exact,
        mean=stats["mean"],
        stderr=stats["stderr"],
        z=stats["z"],
        bias_norm=stats["bias_norm"],
        cosine=stats["cosine"],
        variance=stats["variance"],
        snr=stats["snr"],
    )
