r"""Toy experiment 1 of the post, vectorised over settings and seeds.

The post trains ``N = 5`` independent categorical distributions over ``K = 5``
categories towards random targets ``π_true`` by plain SGD on the logits (lr
0.01, 50,000 steps), with single draws: each step draws ``z`` with an
estimator, takes the sampled loss

.. math::

    \ell(z) = \frac{1}{NK}\sum_{r,k} -\pi^{true}_{rk}\bigl(\log(z_{rk} + \varepsilon)
              - \log(\pi^{true}_{rk} + \varepsilon)\bigr), \qquad \varepsilon = 10^{-8},

and steps along the estimator's logit gradient.  It reports the same
expression with ``z`` replaced by ``softmax(θ)`` (:func:`toy_metric`).

:func:`train` runs any list of :class:`Setting` on any stack of problems at
once: the logits of every (setting, problem) pair live in one array of shape
``(settings, problems, N, K)`` and each step is a fixed handful of NumPy
calls on it (one per estimator family), whatever the number of settings and
seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..estimators.gumbel import gumbel_backward_kernel, gumbel_forward_kernel
from ..estimators.ils import PROTOTYPE_EPS
from ..estimators.ils_training import training_kernel
from ..models.problems import TOY_SMOOTHING, Toy1, outcome_values, toy1, toy_terms
from ..ops.sampling import gumbel_kernel, one_hot_kernel, sample_categorical_kernel
from ..ops.softmax import softmax_backward_kernel, softmax_kernel
from ..validation import checked

ESTIMATORS = ("ils-prototype", "ils", "gumbel", "exact")


@dataclass(frozen=True)
class Setting:
    """One training configuration: an estimator and its parameter (α or T)."""

    estimator: str
    value: float | None = None

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")

    @property
    def name(self) -> str:
        if self.estimator == "exact":
            return "exact gradient"
        symbol = "T" if self.estimator == "gumbel" else "alpha"
        return f"{self.estimator} {symbol}={self.value:g}"

    @property
    def key(self) -> str:
        """A name usable as an ``.npz`` key."""
        return self.name.replace(" ", "_").replace("=", "")


#: The six panels of the post: ILS as the prototype computed it, Gumbel-softmax.
POST_SETTINGS = tuple(Setting("ils-prototype", a) for a in (0.1, 0.01, 0.001)) + tuple(
    Setting("gumbel", t) for t in (0.1, 1.0, 10.0)
)
#: The fair comparison: the post's six, ILS with the chain-ruled default, and the exact gradient.
FAIR_SETTINGS = POST_SETTINGS + tuple(Setting("ils", a) for a in (0.1, 0.01, 0.001)) + (Setting("exact"),)


def make_problems(seeds, rows: int = 5, categories: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Targets and initial logits of the seeded toy problems: two arrays ``(len(seeds), N, K)``."""
    problems = [toy1(seed=int(s), rows=rows, categories=categories) for s in seeds]
    return np.stack([p.target for p in problems]), np.stack([p.logits for p in problems])


def toy_metric(probs: np.ndarray, target: np.ndarray, smoothing: float = TOY_SMOOTHING) -> np.ndarray:
    """The post's reported metric: the smoothed KL(π_true ‖ π) averaged over the last two axes."""
    return toy_terms(probs, target, smoothing).mean(axis=(-2, -1))


@dataclass(frozen=True)
class _Group:
    rows: slice
    values: np.ndarray  # (n, 1, 1, 1): α or T per setting, broadcast over problems, rows, categories


def _groups(settings) -> dict:
    """Contiguous blocks of settings per estimator (``settings`` must be ordered by estimator)."""
    groups, start = {}, 0
    for est in ESTIMATORS:
        members = [s for s in settings if s.estimator == est]
        if members:
            values = np.array([np.nan if s.value is None else s.value for s in members])[:, None, None, None]
            groups[est] = _Group(slice(start, start + len(members)), values)
            start += len(members)
    return groups


def order_settings(settings) -> list:
    """The settings sorted by estimator family (the order :func:`train` works in), stable otherwise."""
    return sorted(settings, key=lambda s: ESTIMATORS.index(s.estimator))


def train(
    settings,
    targets: np.ndarray,
    logits: np.ndarray,
    *,
    steps: int,
    lr: float = 0.01,
    seed: int = 0,
    smoothing: float = TOY_SMOOTHING,
    progress=None,
    return_logits: bool = False,
):
    """Run SGD for every (setting, problem) pair at once; return the metric curves.

    Parameters
    ----------
    settings : sequence of Setting
        Must be ordered by estimator family (use :func:`order_settings`).
    targets, logits : ndarray, shape (S, P, N, K)
        Problem ``p`` of setting ``s`` (the same problems for every setting in
        the fair comparison, different ones in the faithful reproduction).
    steps : int
        SGD steps.
    lr : float
        Learning rate of plain SGD on the logits.
    seed : int
        Seed of the one ``numpy.random.Generator`` that draws all the noise;
        equal arguments give bit-for-bit equal curves.
    progress : callable, optional
        Called as ``progress(step, steps, seconds)`` about every 10%.
    return_logits : bool
        Also return the final logits, shape (S, P, N, K).

    Returns
    -------
    curves : ndarray, shape (S, P, steps)
        ``toy_metric`` of ``softmax(θ_t)`` before update ``t``.
    """
    settings = list(settings)
    if not settings or not all(isinstance(s, Setting) for s in settings):
        raise TypeError("settings must be a non-empty sequence of ils_ref.experiments.toy1.Setting")
    if settings != order_settings(settings):
        raise ValueError("settings must be ordered by estimator family; use order_settings()")
    steps, seed, lr, smoothing, theta, targets = checked(
        steps=("int", steps, 1),
        seed=("int", seed, 0),
        lr=("positive", lr),
        smoothing=("positive", smoothing),
        logits=("logits", logits),
        targets=("probs", targets),
    )
    theta = theta.copy()
    if theta.ndim != 4 or theta.shape[0] != len(settings) or targets.shape != theta.shape:
        raise ValueError(
            f"targets and logits must both have shape (len(settings)={len(settings)}, P, N, K); "
            f"got {targets.shape} and {theta.shape}"
        )
    groups = _groups(settings)
    rng = np.random.default_rng(seed)
    curves = np.empty(theta.shape[:2] + (steps,))
    # Each estimator family's block of stacked problems, as one Toy1 (its loss and gradient).
    problems = {
        est: Toy1(name="toy1", logits=theta[g.rows].copy(), target=targets[g.rows], smoothing=smoothing)
        for est, g in groups.items()
    }
    # f_r(e_k) depends on the target only: enumerate once
    exact_f = outcome_values(problems["exact"]) if "exact" in problems else None
    start, report_every = time.perf_counter(), max(1, steps // 10)
    for step in range(steps):
        probs = softmax_kernel(theta)
        curves[..., step] = toy_metric(probs, targets, smoothing)
        grad = np.empty_like(theta)
        # The package's kernels on arrays known to be valid (finite logits, u in
        # [0, 1)): the public forward/backward functions are these behind argument
        # checks (ILS through training_kernel, equal to ils_kernel to rounding; its curves are recorded bit for bit).
        for est, group in groups.items():
            rows, problem = group.rows, problems[est]
            if est in ("ils", "ils-prototype"):
                p = probs[rows]
                index = sample_categorical_kernel(p, rng.random(p.shape[:-1]))
                dz = problem.grad(one_hot_kernel(index, p.shape[-1]))
                if est == "ils":
                    grad[rows] = training_kernel(dz, p, index, group.values)
                else:  # the prototype: policy "signed", -π_D / (π + 1e-7)
                    grad[rows] = training_kernel(dz, p, index, group.values, clip=False, prototype_eps=PROTOTYPE_EPS)
            elif est == "gumbel":
                g = gumbel_kernel(rng.random(theta[rows].shape))
                y, cache = gumbel_forward_kernel(theta[rows], g, group.values)
                grad[rows] = gumbel_backward_kernel(problem.grad(y), cache)
            else:
                grad[rows] = softmax_backward_kernel(exact_f, probs[rows])
        with np.errstate(over="ignore", invalid="ignore"):
            theta -= lr * grad
        if not np.isfinite(theta).all():
            bad = [settings[i].name for i in np.unique(np.nonzero(~np.isfinite(theta))[0])]
            raise ValueError(f"training diverged at step {step} for {bad}: the logits left float64 (lr={lr:g} too large?)")
        if progress is not None and (step + 1) % report_every == 0:
            progress(step + 1, steps, time.perf_counter() - start)
    return (curves, theta) if return_logits else curves


@dataclass(frozen=True)
class Summary:
    """Numbers of one setting, on the mean curve over problems."""

    setting: str
    start: float
    minimum: float
    final: float  # mean of the last ``window`` steps
    settle_step: int | None  # first step within 10% of ``final``; None if never


def summarize(curves: np.ndarray, names, window: int = 1000) -> list[Summary]:
    """Per setting: metric at the start, minimum, mean of the last ``window`` steps, settling step."""
    out = []
    for name, curve in zip(names, curves.mean(axis=1)):
        final = float(curve[-window:].mean())
        within = np.nonzero(np.abs(curve - final) <= 0.1 * abs(final))[0]
        out.append(
            Summary(
                setting=name,
                start=float(curve[0]),
                minimum=float(curve.min()),
                final=final,
                settle_step=int(within[0]) if within.size else None,
            )
        )
    return out


def mean_interval(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean along ``axis`` and a 95% interval for it (normal approximation, ``1.96·sd/√n``)."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=axis)
    if values.shape[axis] < 2:
        return mean, mean, mean
    half = 1.96 * values.std(axis=axis, ddof=1) / np.sqrt(values.shape[axis])
    return mean, mean - half, mean + half


def band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over problems (axis 1 of ``(settings, problems, steps)``) and a 95% band for it."""
    return mean_interval(curves, axis=1)
