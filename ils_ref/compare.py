"""Compare gradient estimators on a problem: bias, cosine, variance, SNR, z-score.

:func:`compare` runs every estimator setting on the same problem with its own
seeded generator and returns one row per setting; ``ils-ref compare`` prints
them as a table and can write them as JSON.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ._validation import int_arg
from .estimators import Estimator, standard_estimators
from .problems import Problem, exact_gradient
from .statcheck import estimate_statistics, verdict


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
    n_samples, seed = int_arg(n_samples, "n_samples", 2), int_arg(seed, "seed", 0)
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
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    for k, row in enumerate([head] + body):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:6], widths[1:6])] + [row[6]]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    lines += [
        "",
        "bias norm = |mean - exact|; variance = E|g - E g|^2 of one estimate; SNR = |E g| / sqrt(variance);",
        "max|z| = largest |mean - exact| / stderr; verdict rule: ils_ref.statcheck (family-wise level 1e-3).",
    ]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()] if value.ndim else _jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None  # JSON has no inf/NaN
    if isinstance(value, np.integer):
        return int(value)
    return value


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
    return json.dumps(_jsonable(doc), indent=1, allow_nan=False)
