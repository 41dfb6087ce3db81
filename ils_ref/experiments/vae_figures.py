"""Figures of ``ils-ref vae`` (matplotlib, written to files, never shown)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, also under CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402
from .vae import interval  # noqa: E402

#: One colour per estimator family; settings within a family differ by line style and marker.
FAMILY_COLORS = {
    "exact": "black", "ils": "tab:blue", "ils/alpha": "tab:olive", "ils-prototype": "tab:cyan",
    "gumbel": "tab:orange", "straight-through": "tab:red", "reinforce-loo": "tab:green", "gumbel-rao": "tab:purple",
    "reinmax": "tab:brown",
}  # fmt: skip
STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def _styles(rows):
    """``(colour, linestyle, marker)`` per row: the family's colour, the n-th setting of a family the n-th style."""
    seen = {}
    out = []
    for r in rows:
        n = seen.get(r["estimator"], 0)
        seen[r["estimator"]] = n + 1
        out.append((FAMILY_COLORS.get(r["estimator"], "tab:gray"), STYLES[n % len(STYLES)], MARKERS[n % len(MARKERS)]))
    return out


def short_label(name: str) -> str:
    """An estimator's label with its parameters abbreviated (``T``, ``α``, ``m``, ``M``), for crowded axes."""
    for long, short in (("temperature=", "T="), ("alpha=", "α="), ("group=", "m="), ("samples=", "M="),
                        (", prototype=True", ""), ("ils/alpha", "ils/α")):
        name = name.replace(long, short)
    return name


def elbo_figure(result: dict, path: str) -> None:
    """:func:`draw_elbo`, written to ``path``."""
    save_figure(draw_elbo(result), path)


def draw_elbo(result: dict):
    """Train and test ELBO against steps, one line per estimator at its chosen learning rate.

    The mean over seeds, with its 95% band where there are at least three
    seeds (with two, Student's t widens the band past anything it could
    show).  The y range is that of the curves after the first quarter of the
    run; the common starting value (every estimator starts from the same
    models) is written at step 0.  The legend sits in the right margin.
    """
    steps = np.asarray(result["eval_steps"])
    rows = result["estimators"]
    seeds = np.asarray(rows[0]["test_elbo_curve"]).shape[1]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.2), sharey=True)
    fig.subplots_adjust(left=0.05, right=0.79, bottom=0.09, top=0.87, wspace=0.04)  # fixed: constrained layout costs seconds
    start = max(1, len(steps) // 4)
    means = np.array([np.asarray(r[k], dtype=float)[start:].mean(axis=1) for r in rows
                      for k in ("train_elbo_curve", "test_elbo_curve")])
    pad = 0.05 * (means.max() - means.min()) + 0.5
    low, high = means.min() - pad, means.max() + pad
    for ax, key, title in zip(axes, ("train_elbo_curve", "test_elbo_curve"), ("train ELBO", "test ELBO")):
        for r, (color, style, marker) in zip(rows, _styles(rows)):
            curve = np.asarray(r[key], dtype=float)  # (evaluations, seeds)
            mean, lo, hi = np.array([interval(c) for c in curve]).T
            ax.plot(steps, mean, color=color, ls=style, marker=marker, ms=4, markevery=(start, 1),
                    lw=2.2 if r["estimator"] == "exact" else 1.3, label=f"{short_label(r['name'])}, lr {r['lr']:g}")
            if seeds >= 3:
                ax.fill_between(steps, lo, hi, color=color, alpha=0.07)
        first = float(np.asarray(rows[0][key], dtype=float)[0].mean())
        start_note = ""
        if not low <= first <= high:  # the start lies off the axis: say where, and mark the edge it lies beyond
            where = "below" if first < low else "above"
            start_note = f"\nstep 0 (every estimator): {first:.1f}, {where} the axis ({'▼' if first < low else '▲'})"
            ax.plot([steps[0]], [low if first < low else high], marker="v" if first < low else "^", color="gray",
                    ms=9, clip_on=False, zorder=5)
        band = "95% band" if seeds >= 3 else "no band (fewer than 3 seeds)"
        ax.set_title(f"{title}, mean over {seeds} seeds, {band}{start_note}", fontsize=10)
        ax.set_xlabel("Adam step")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylim(low, high)
    axes[0].set_ylabel("ELBO (nats per image)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.795, 0.5), fontsize=8, frameon=False,
               title="estimator, chosen learning rate", title_fontsize=8.5)
    fig.suptitle(f"Categorical VAE on glyphs: {result['model']['latents']} latents of K = "
                 f"{result['model']['categories']}, every estimator from the same initial models, "
                 f"each at the learning rate with the best validation ELBO", fontsize=11.5)
    return fig


def gradient_figure(result: dict, path: str) -> None:
    """:func:`draw_gradients`, written to ``path``."""
    save_figure(draw_gradients(result), path)


def draw_gradients(result: dict, *, ceiling: float = 1e2):
    """Relative bias (with the measurement's floor) and SNR per draw at each checkpoint of the exact trajectory.

    A bias the draws do not resolve (below its floor, or estimated as 0) is
    drawn as a hollow bar up to the floor: "at most this", not a measurement.
    Biases above ``ceiling`` are cut there and their value written on top
    (the prototype's gradient is with respect to ``π``, not the logits, and
    would flatten the scale).
    """
    rows = [r for r in result["estimators"] if r["estimator"] != "exact"]
    checkpoints = [int(c) for c in result["checkpoints"]]
    x = np.arange(len(rows))
    width = 0.8 / len(checkpoints)
    fig, axes = plt.subplots(2, 1, figsize=(14, 8.5), sharex=True)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.1, top=0.9, hspace=0.1)
    shades = plt.cm.viridis(np.linspace(0.15, 0.85, len(checkpoints)))
    # (rows, checkpoints) each; a JSON null (a measure undefined at a saturated encoder) becomes NaN
    biases, floors, snrs = (np.array([r[k] for r in rows], dtype=float).reshape(len(rows), len(checkpoints))
                            for k in ("grad_bias", "grad_bias_floor", "grad_snr_per_draw"))
    measured = np.concatenate([biases, floors], axis=None)
    smallest = measured[measured > 0].min(initial=1e-3)
    bottom = min(1e-3, 10 ** np.floor(np.log10(smallest)))  # every bar and floor above the axis's bottom
    for j, (step, shade) in enumerate(zip(checkpoints, shades)):
        offset = (j - (len(checkpoints) - 1) / 2) * width
        bias, floor = biases[:, j], floors[:, j]
        resolved = bias > floor
        shown = np.minimum(np.where(resolved, bias, floor), ceiling)
        axes[0].bar((x + offset)[resolved], shown[resolved] - bottom, width, bottom=bottom, color=shade,
                    label=f"step {step}")
        axes[0].bar((x + offset)[~resolved], shown[~resolved] - bottom, width, bottom=bottom, facecolor="none",
                    edgecolor=shade, hatch="//", lw=1.0, label=f"step {step}: below its floor (at most this)")
        axes[0].scatter(x + offset, np.clip(floor, bottom, ceiling), marker="_", color="black", s=60, zorder=3,
                        label="measurement floor" if j == 0 else None)
        for xi, b, f, ok in zip(x + offset, bias, floor, resolved):
            if max(b, f) > ceiling:  # cut: write what the bar stands for (a floor is "at most")
                axes[0].annotate(f"{b:.1e}" if ok else f"≤{f:.1e}", (xi, ceiling), xytext=(0, 2),
                                 textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=6.5)
        axes[1].bar(x + offset, snrs[:, j], width, color=shade, label=f"step {step}")
    axes[0].set_yscale("log")
    axes[0].set_ylim(bottom, ceiling * 300)  # room above the ceiling for the legend
    axes[0].axhline(1.0, color="gray", lw=0.8, ls="--")
    axes[0].set_ylabel("relative bias  |E g_hat - g| / |g|")
    axes[0].set_title(f"Bias of the reconstruction term's encoder-logit gradient against the exact gradient "
                      f"(hollow: not resolved by the draws; bars above {ceiling:g} cut, value on top)", fontsize=10)
    axes[0].legend(fontsize=7.5, ncol=len(checkpoints) + 1, loc="upper right")
    if (np.isfinite(snrs) & (snrs > 0)).any():  # a log axis needs a finite positive value
        axes[1].set_yscale("log")
    axes[1].set_ylabel("SNR per draw  |E g_hat| / sqrt(draws tr Cov)")
    axes[1].set_title("signal to noise at equal cost (an estimate spending m draws is charged m)", fontsize=10)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([short_label(r["name"]).replace(", ", ",\n").replace("(", "\n(") for r in rows],
                            fontsize=7.5)
    for ax in axes:
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle("Gradient estimators at checkpoints of the exact-gradient trajectory", fontsize=12)
    return fig


def write_figures(result: dict, out: str) -> list[str]:
    """Both figures into ``out``; returns their paths."""
    import os

    paths = [os.path.join(out, "vae_elbo.png"), os.path.join(out, "vae_gradients.png")]
    elbo_figure(result, paths[0])
    gradient_figure(result, paths[1])
    return paths
