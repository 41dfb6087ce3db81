"""Compare gradient estimators on a problem: bias, cosine, variance, SNR, z-score.

:func:`compare` runs every estimator setting on the same problem with its own
seeded generator and returns one row per setting; ``ils-ref compare`` prints
them as a table and can write them as JSON.
"""

from __future__ import annotations

import json

import numpy as np

from ..checking.problems import Problem, exact_gradient
from ..checking.statcheck import estimate_statistics, verdict
from ..estimators.interface import Estimator, standard_estimators
from ..formatting import jsonable, text_table
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
        raise TypeError(f"problem must be an ils_ref.problems.Problem, got {type(problem).__name__}")
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
    head = ("estimator", "bias norm", "cosine", "variance", "SNR", "max|z|", "verdict")
    body = []
    for r in rows:
        if "error" in r:
            body.append((r["label"], "error: " + r["error"][:70], "", "", "", "", ""))
            continue
        body.append(
            (
                r["label"],
                f"{r['bias_norm']:.3g}",
                f"{r['cosine']:+.4f}",
                f"{r['variance']:.3g}",
                f"{r['snr']:.3g}",
                f"{r['max_abs_z']:.1f}",
                r["verdict"],
            )
        )
    lines.append(text_table([head] + body, align="lrrrrrl", rule=True))
    lines += [
        "",
        "bias norm = |mean - exact|; variance = E|g - E g|^2 of one estimate; SNR = |E g| / sqrt(variance);",
        "max|z| = largest |mean - exact| / stderr; verdict rule: ils_ref.statcheck (family-wise level 1e-3).",
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
