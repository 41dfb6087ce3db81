"""Figures of ``ils-ref vae`` (matplotlib, written to files, never shown)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, also under CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import write_atomically  # noqa: E402
from .vae import interval  # noqa: E402

#: One colour per estimator family; settings within a family differ by line style.
FAMILY_COLORS = {
    "exact": "black", "ils": "tab:blue", "ils-prototype": "tab:cyan", "gumbel": "tab:orange",
    "straight-through": "tab:red", "reinforce-loo": "tab:green", "gumbel-rao": "tab:purple", "reinmax": "tab:brown",
}  # fmt: skip
STYLES = ("-", "--", ":", "-.")


def _styles(rows):
    """``(colour, linestyle)`` per row: the family's colour, the n-th setting of a family the n-th style."""
    seen = {}
    out = []
    for r in rows:
        n = seen.get(r["estimator"], 0)
        seen[r["estimator"]] = n + 1
        out.append((FAMILY_COLORS.get(r["estimator"], "tab:gray"), STYLES[n % len(STYLES)]))
    return out


def _save(fig, path: str) -> None:
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)


def elbo_figure(result: dict, path: str) -> None:
    """Train and test ELBO against steps: the mean over seeds and its 95% band, one line per estimator."""
    steps = np.asarray(result["eval_steps"])
    rows = result["estimators"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 6), sharey=True)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.09, top=0.88, wspace=0.04)  # fixed: constrained layout costs seconds
    for ax, key, title in zip(axes, ("train_elbo_curve", "test_elbo_curve"), ("train ELBO", "test ELBO")):
        for r, (color, style) in zip(rows, _styles(rows)):
            curve = np.asarray(r[key])  # (evaluations, seeds)
            mean, lo, hi = np.array([interval(c) for c in curve]).T
            ax.plot(steps, mean, color=color, ls=style, lw=2.2 if r["estimator"] == "exact" else 1.3, label=r["name"])
            ax.fill_between(steps, lo, hi, color=color, alpha=0.08)
        ax.set_title(f"{title} (nats per image), mean over {np.asarray(rows[0][key]).shape[1]} seeds, 95% band")
        ax.set_xlabel("Adam step")
        ax.grid(True, alpha=0.3)
    # the y range of the mean curves after the first quarter of the run: the start (about -177) would flatten the rest
    start = max(1, len(steps) // 4)
    means = np.array([np.asarray(r[k], dtype=float)[start:].mean(axis=1) for r in rows for k in ("train_elbo_curve", "test_elbo_curve")])
    pad = 0.05 * (means.max() - means.min()) + 0.5
    axes[0].set_ylim(means.min() - pad, means.max() + pad)
    axes[0].set_ylabel("ELBO")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Categorical VAE on glyphs: {result['model']['latents']} latents of K = "
                 f"{result['model']['categories']}, every estimator from the same initial models", fontsize=12)
    _save(fig, path)


def gradient_figure(result: dict, path: str) -> None:
    """Relative bias (with the measurement's floor) and SNR per draw at each checkpoint of the exact trajectory."""
    rows = [r for r in result["estimators"] if r["estimator"] != "exact"]
    checkpoints = [int(c) for c in result["checkpoints"]]
    x = np.arange(len(rows))
    width = 0.8 / len(checkpoints)
    fig, axes = plt.subplots(2, 1, figsize=(14, 8.5), sharex=True)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.1, top=0.9, hspace=0.08)
    shades = plt.cm.viridis(np.linspace(0.15, 0.85, len(checkpoints)))
    for j, (step, shade) in enumerate(zip(checkpoints, shades)):
        offset = (j - (len(checkpoints) - 1) / 2) * width
        bias = np.array([r["grad_bias"][j] for r in rows], dtype=float)
        floor = np.array([r["grad_bias_floor"][j] for r in rows], dtype=float)
        axes[0].bar(x + offset, np.maximum(bias, 1e-4), width, color=shade, label=f"step {step}")
        axes[0].scatter(x + offset, np.maximum(floor, 1e-4), marker="_", color="black", s=60, zorder=3,
                        label="measurement floor" if j == 0 else None)
        snr = np.array([np.nan if r["grad_snr_per_draw"][j] is None else r["grad_snr_per_draw"][j] for r in rows], dtype=float)
        axes[1].bar(x + offset, snr, width, color=shade, label=f"step {step}")
    axes[0].set_yscale("log")
    axes[0].axhline(1.0, color="gray", lw=0.8, ls="--")
    axes[0].set_ylabel("relative bias  |E g_hat - g| / |g|")
    axes[0].set_title("Bias of the reconstruction term's encoder-logit gradient against the exact gradient "
                      "(bars at 1e-4 are below it; ticks: the smallest bias the draws resolve)", fontsize=10)
    axes[0].legend(fontsize=8, ncol=len(checkpoints) + 1)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("SNR per draw  |E g_hat| / sqrt(draws tr Cov)")
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([r["name"].replace(", ", ",\n").replace("(", "\n(") for r in rows], fontsize=7)
    for ax in axes:
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle("Gradient estimators at checkpoints of the exact-gradient trajectory", fontsize=12)
    _save(fig, path)


def write_figures(result: dict, out: str) -> list[str]:
    """Both figures into ``out``; returns their paths."""
    import os

    paths = [os.path.join(out, "vae_elbo.png"), os.path.join(out, "vae_gradients.png")]
    elbo_figure(result, paths[0])
    gradient_figure(result, paths[1])
    return paths
