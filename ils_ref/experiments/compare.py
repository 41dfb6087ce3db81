"""Compare gradient estimators on a problem: bias, cosine, variance, SNR, z-score, at equal cost.

:func:`compare` runs every estimator setting on the same problem with its own
seeded generator and returns one row per setting; ``ils-ref compare`` prints
them as a table and can write them as JSON.

Equal cost: an estimate of REINFORCE with a leave-one-out baseline spends
``m`` draws (and ``m`` evaluations of the loss) where the others spend one.
With a budget of ``D`` draws it gives ``D/m`` estimates, so the variance that
compares fairly is ``variance × draws`` and the signal-to-noise ratio
``‖mean‖ / sqrt(variance × draws)`` (the table's "per draw" columns).

A cosine between the Monte-Carlo mean and the exact gradient means something
only if the mean stands out of its own noise: rows with
``‖mean‖ < 3·sqrt(variance / n)`` get ``cosine_meaningful = False`` and a
``?`` in the table (at ``K = 2`` with a tiny SNR the cosine is ±1 by chance).
"""

from __future__ import annotations

import json

import numpy as np

from ..checking.statcheck import estimate_statistics, verdict
from ..estimators.interface import Estimator, standard_estimators
from ..formatting import jsonable, text_table
from ..models.problems import Problem, exact_gradient
from ..validation import checked


def compare(
    problem: Problem,
    estimators: list[Estimator] | None = None,
    *,
    n_samples: int = 10000,
    seed: int = 0,
    level: float = 1e-3,
    resolution: float = 0.25,
) -> list[dict]:
    """One row per estimator: statistics of ``n_samples`` estimates at the problem's logits.

    Every setting gets ``numpy.random.default_rng([seed, i])`` (``i`` its
    position), so adding a setting does not change the others' draws.  A
    setting whose backward pass raises (e.g. ``policy="signed"`` meeting
    ``Σ(z - αΔ) <= 0``) gives a row with ``error`` set instead of statistics.
    """
    n_samples, seed = checked(n_samples=("int", n_samples, 2), seed=("int", seed, 0))
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an ils_ref.models.problems.Problem, got {type(problem).__name__}")
    estimators = standard_estimators(problem) if estimators is None else estimators
    exact = exact_gradient(problem)
    rows = []
    for i, est in enumerate(estimators):
        row = {"estimator": est.name, "label": est.label, "params": dict(est.params), "exact": exact}
        try:
            estimates = est(problem.logits, problem, np.random.default_rng([seed, i]), n_samples)
        except ValueError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        stats = estimate_statistics(estimates, exact)
        result, threshold = verdict(stats["z"], stats["stderr"], exact, level, resolution)
        row.update(stats)
        draws = int(est.params.get("group", 1))  # draws (and loss evaluations) spent on one estimate
        row["draws"] = draws
        row["variance_per_draw"] = stats["variance"] * draws
        row["snr_per_draw"] = stats["snr"] / np.sqrt(draws)
        row["cosine_meaningful"] = bool(np.linalg.norm(stats["mean"]) >= 3 * np.sqrt(stats["variance"] / n_samples))
        row["max_abs_z"] = float(np.max(np.abs(stats["z"])))
        row["verdict"] = result
        row["threshold"] = threshold
        rows.append(row)
    return rows


def format_table(problem: Problem, rows: list[dict], n_samples: int, seed: int) -> str:
    exact = rows[0]["exact"] if rows else exact_gradient(problem)
    lines = [
        f"problem {problem.name} {problem.params() or ''}, logits shape {problem.logits.shape}; "
        f"{n_samples} estimates per setting, seed {seed}",
        f"exact gradient (enumeration): norm {np.linalg.norm(exact):.4g}",
        "",
    ]
    head = ("estimator", "draws", "bias norm", "cosine", "variance x draws", "SNR per draw", "max|z|", "verdict")
    body = []
    for r in rows:
        if "error" in r:
            body.append((r["label"], "error: " + r["error"][:70], "", "", "", "", "", ""))
            continue
        body.append(
            (
                r["label"],
                str(r["draws"]),
                f"{r['bias_norm']:.3g}",
                f"{r['cosine']:+.4f}" + ("" if r["cosine_meaningful"] else "?"),
                f"{r['variance_per_draw']:.3g}",
                f"{r['snr_per_draw']:.3g}",
                f"{r['max_abs_z']:.1f}",
                r["verdict"],
            )
        )
    lines.append(text_table([head] + body, align="lrrrrrrl", rule=True))
    lines += [
        "",
        "bias norm = |mean - exact|; variance = E|g - E g|^2 of one estimate, times the draws it spends (equal cost);",
        "SNR per draw = |E g| / sqrt(variance x draws); cosine? = the mean is within 3 standard errors of 0, so its",
        "direction is noise; max|z| = largest |mean - exact| / stderr; verdict rule: ils_ref.checking.statcheck",
        "(family-wise level 1e-3; 'consistent with unbiased' means a bias of a quarter of the largest component",
        "would be flagged with >= 90% probability).",
    ]
    return "\n".join(lines)


def to_json(problem: Problem, rows: list[dict], n_samples: int, seed: int) -> str:
    """The rows as JSON: ``{"problem": name, "rows": [{"estimator", "params", "exact", "mean", "stderr", ...}]}``.

    Infinite values (a z-score of a zero-spread component, an SNR with zero
    variance) are written as ``null``.
    """
    doc = {
        "problem": problem.name,
        "problem_params": problem.params(),
        "logits": problem.logits,
        "n_samples": n_samples,
        "seed": seed,
        "rows": [{k: v for k, v in r.items() if k != "n"} for r in rows],
    }
    return json.dumps(jsonable(doc), indent=1, allow_nan=False)
