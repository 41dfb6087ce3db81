"""Figures of toy experiment 1 (matplotlib, written to files, never shown)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, also under CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import write_atomically  # noqa: E402

COLORS = {0.1: "tab:blue", 0.01: "tab:orange", 0.001: "tab:green", 1.0: "tab:orange", 10.0: "tab:green"}


def _ylim(curves: np.ndarray) -> tuple[float, float]:
    positive = curves[curves > 0]
    return float(positive.min()) * 0.8, float(positive.max()) * 1.25


def faithful_figure(result, path: str) -> None:
    """2 x 3 panels as in the post: ILS (prototype) top row, Gumbel-softmax bottom row; shared log y."""
    rows = result.post_rows()
    curves = result.faithful[rows]
    steps = np.arange(result.steps)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True, constrained_layout=True)
    for ax, i, curve in zip(axes.flat, rows, curves):
        setting = result.settings[i]
        ax.plot(steps, curve, lw=0.6, color="tab:blue")
        label = f"ILS (prototype) alpha={setting.value:g}" if setting.estimator != "gumbel" else f"Gumbel-softmax T={setting.value:g}"
        ax.set_title(f"{label}\nproblem seed {result.faithful_seeds[i]}", fontsize=10)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.25)
    axes[0, 0].set_ylim(*_ylim(curves))
    for ax in axes[1]:
        ax.set_xlabel("SGD step")
    for ax in axes[:, 0]:
        ax.set_ylabel("smoothed KL(pi_true || pi)")
    fig.suptitle("Toy experiment 1, faithful: the post's six settings, each on its own fresh problem", fontsize=12)
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)


def fair_figure(result, band, path: str) -> None:
    """Three panels (ILS prototype, ILS default, Gumbel) on the same seeded problems, with the exact gradient."""
    steps = np.arange(result.steps)
    mean, low, high = band(result.curves)
    exact = [i for i, s in enumerate(result.settings) if s.estimator == "exact"]
    panels = [
        ("ILS as the post's prototype computed it", "ils-prototype", "alpha"),
        ("ILS, chain-ruled default (clip policy)", "ils", "alpha"),
        ("Gumbel-softmax (soft)", "gumbel", "T"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=True, constrained_layout=True)
    for ax, (title, estimator, symbol) in zip(axes, panels):
        for i, s in enumerate(result.settings):
            if s.estimator != estimator:
                continue
            color = COLORS.get(s.value, "tab:purple")
            ax.plot(steps, mean[i], lw=0.8, color=color, label=f"{symbol}={s.value:g}")
            ax.fill_between(steps, low[i], high[i], color=color, alpha=0.25, lw=0)
        for i in exact:
            ax.plot(steps, mean[i], lw=1.2, color="black", ls="--", label="exact gradient")
            ax.fill_between(steps, low[i], high[i], color="black", alpha=0.12, lw=0)
        ax.set_title(title, fontsize=11)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=9, loc="center right")
    axes[0].set_ylabel("smoothed KL(pi_true || pi), mean over problems")
    axes[0].set_ylim(*_ylim(np.stack([low, high])))
    fig.suptitle(
        f"Toy experiment 1, fair: the same {len(result.seeds)} seeded problems for every setting "
        f"(mean and 95% band), lr={result.lr:g}",
        fontsize=12,
    )
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)
