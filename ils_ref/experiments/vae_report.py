"""What ``ils-ref vae`` prints and writes: the table, the harness check, the JSON.

:func:`ils_ref.experiments.vae.run` computes the result; this module only reads it.
"""

from __future__ import annotations

import json

import numpy as np

from ..formatting import jsonable, text_table


def to_json(result: dict) -> str:
    """The result as JSON (NumPy arrays as lists, no NaN or inf: those become ``null``)."""
    return json.dumps(jsonable(result), indent=1, allow_nan=False)


def harness_check(result: dict) -> tuple[bool, str]:
    """Does the exact gradient attain the best final test ELBO within its interval?

    True when no estimator's mean lies above the upper end of the exact
    gradient's interval: a check that the harness trains what it measures.
    """
    rows = result["estimators"]
    exact_row = rows[0]
    best = max(rows, key=lambda r: r["final_test_elbo"])
    ok = best["final_test_elbo"] <= exact_row["final_test_elbo_ci"][1]
    return ok, (f"exact gradient: {exact_row['final_test_elbo']:.3f} "
                f"[{exact_row['final_test_elbo_ci'][0]:.3f}, {exact_row['final_test_elbo_ci'][1]:.3f}]; "
                f"best: {best['name']} {best['final_test_elbo']:.3f}")  # fmt: skip


def _g3(value) -> str:
    """A measure for the table: 3 significant digits, ``inf``, or ``n/a`` where undefined (NaN)."""
    return "n/a" if value is None or np.isnan(value) else "inf" if np.isinf(value) else f"{value:.3g}"


def summary_table(result: dict) -> str:
    """One line per estimator: draws, final test ELBO and interval, gradient bias, variance, SNR, seconds."""
    last = -1
    step = int(result["checkpoints"][last])
    header = ("estimator", "draws", "lr", "valid ELBO", "test ELBO", "95% interval", "KL", f"bias@{step}", "floor", "rel. var",
              "SNR/draw", "s/step")
    lines = [header]
    for r in result["estimators"]:
        lines.append((
            r["name"], str(r["draws_per_step"]), f"{r['lr']:g}" + ("*" if r["lr_at_grid_edge"] else ""),
            f"{r['validation_elbo'][list(r['lr_grid']).index(r['lr'])]:.2f}", f"{r['final_test_elbo']:.2f}",
            (f"[{r['final_test_elbo_ci'][0]:.2f}, {r['final_test_elbo_ci'][1]:.2f}]" if result["settings"]["seeds"] > 1
             else "n/a (1 seed)"), f"{r['final_test_kl']:.2f}",
            *(_g3(r[k][last]) for k in ("grad_bias", "grad_bias_floor", "grad_variance", "grad_snr_per_draw")),
            f"{r['seconds_per_step'] * 1e3:.1f} ms",
        ))  # fmt: skip
    ok, message = harness_check(result)
    grid = ", ".join(f"{lr:g}" for lr in result["settings"]["lr_grid"])
    return (text_table(lines, rule=True) + f"\nlr: the Adam learning rate of {{{grid}}} with the best mean validation "
            f"ELBO (* at the grid's edge: a better one may lie beyond it); test numbers are at that rate"
            f"\nharness check ({'holds' if ok else 'FAILS'}): {message}")
