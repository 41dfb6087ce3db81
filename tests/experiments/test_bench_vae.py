"""``benchmarks/bench_vae.py`` runs against the current ``ils_ref.experiments.vae`` (it once read a setting that was renamed)."""

import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_vae.py"


def test_the_vae_benchmark_runs_one_tiny_step_per_estimator(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--steps", "1", "--repeats", "1", "--seeds", "1", "--batch", "4"])
    runpy.run_path(str(BENCH), run_name="__main__")
    out = capsys.readouterr().out
    assert "vs exact" in out and "ils/alpha(alpha=0.01)" in out and "1.00x" in out
