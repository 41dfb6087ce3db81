"""Figures of toy experiment 1 (matplotlib, written to files, never shown)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, also under CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import write_atomically  # noqa: E402

#: Margins of the 2 x 3 figures, set by hand: matplotlib's constrained layout took seconds per figure.
FIXED_LAYOUT = dict(left=0.07, right=0.99, bottom=0.08, top=0.88, wspace=0.12, hspace=0.25)

COLORS = {0.1: "tab:blue", 0.01: "tab:orange", 0.001: "tab:green", 1.0: "tab:orange", 10.0: "tab:green"}


def _ylim(curves: np.ndarray) -> tuple[float, float]:
    positive = curves[curves > 0]
    return float(positive.min()) * 0.8, float(positive.max()) * 1.25


def faithful_figure(result, path: str) -> None:
    """2 x 3 panels as in the post: ILS (prototype) top row, Gumbel-softmax bottom row; shared log y."""
    rows = result.post_rows()
    curves = result.faithful[rows]
    steps = np.arange(result.steps)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True)
    fig.subplots_adjust(**FIXED_LAYOUT)
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
    save_figure(fig, path)


def fair_figure(result, band, path: str) -> None:
    """:func:`draw_fair` written to ``path`` (PNG)."""
    save_figure(draw_fair(result, band), path)


def draw_fair(result, band):
    """Three panels (ILS prototype, ILS default, Gumbel) on the same seeded problems, with the exact gradient.

    Each panel's legend (its α or T values and the exact gradient) sits below
    its axes, in a bottom margin kept free for it: never over the curves, never
    past the figure's edge.  Returns the figure (not closed).
    """
    steps = np.arange(result.steps)
    mean, low, high = band(result.curves)
    exact = [i for i, s in enumerate(result.settings) if s.estimator == "exact"]
    panels = [
        ("ILS as the post's prototype computed it", "ils-prototype", "alpha"),
        ("ILS, chain-ruled default (clip policy)", "ils", "alpha"),
        ("Gumbel-softmax (soft)", "gumbel", "T"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 6.2), sharey=True)
    # bottom: the x label and then two legend rows below each panel
    fig.subplots_adjust(left=0.065, right=0.99, bottom=0.21, top=0.87, wspace=0.05)
    for ax, (title, estimator, symbol) in zip(axes, panels):
        for i, s in enumerate(result.settings):
            if s.estimator != estimator:
                continue
            color = COLORS.get(s.value, "tab:purple")
            ax.plot(steps, mean[i], lw=0.8, color=color, label=f"{symbol}={s.value:g}")
            ax.fill_between(steps, low[i], high[i], color=color, alpha=0.25, lw=0)
        for i in exact:
            ax.plot(steps, mean[i], lw=1.2, color="black", ls="--", label="exact gradient of the post's objective")
            ax.fill_between(steps, low[i], high[i], color="black", alpha=0.12, lw=0)
        ax.set_title(title, fontsize=11)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.grid(True, which="both", alpha=0.25)
        # below the x label, never over the curves; the bottom margin above keeps it inside the figure
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    axes[0].set_ylabel("smoothed KL(pi_true || pi), nats (mean over problems)")
    axes[0].set_ylim(*_ylim(np.stack([low, high])))
    fig.suptitle(
        f"Toy experiment 1, fair: the same {len(result.seeds)} seeded problems for every setting, lr={result.lr:g}\n"
        f"lines: mean over the problems; shaded: 95% interval of that mean (1.96 sd / sqrt({len(result.seeds)}))",
        fontsize=11,
    )
    return fig


def save_figure(fig, path: str) -> None:
    """Write ``fig`` to ``path`` (PNG) atomically, then close it."""
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)


#: Read off the post's figure by eye, per panel: (value at step 0, value at the end).  Gumbel
#: T = 0.1 also has a minimum of about 0.0035 near step 7,000 before it rises.
POST_FIGURE = {
    "ils-prototype alpha=0.1": (0.030, 0.001),
    "ils-prototype alpha=0.01": (0.037, 0.0025),
    "ils-prototype alpha=0.001": (0.025, 0.003),
    "gumbel T=0.1": (0.032, 0.013),
    "gumbel T=1": (0.034, 0.003),
    "gumbel T=10": (0.029, 0.015),
}


#: Steps the post ran: its end values belong at this step.
POST_STEPS = 50_000


def versus_post_figure(result, path: str) -> None:
    """:func:`draw_versus_post` written to ``path`` (PNG)."""
    save_figure(draw_versus_post(result), path)


def draw_versus_post(result):
    """The faithful runs drawn as the post drew them (linear axes from 0), with the post's readings marked.

    The post's end values belong at step :data:`POST_STEPS`.  A shorter run
    (quick mode) does not stretch to it: its axis ends at its last step, and
    the post's end is drawn past a grey break, at a tick labelled with the
    post's step, so nothing suggests this run got there.  Returns the figure
    (not closed).
    """
    rows = result.post_rows()
    steps = np.arange(result.steps)
    short = result.steps < POST_STEPS
    # where the post's end is drawn: at its own step, or (shorter run) in a margin past the run's last step
    post_end = 1.16 * steps[-1] if short else POST_STEPS - 1
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True)
    fig.subplots_adjust(**{**FIXED_LAYOUT, "wspace": 0.22, "bottom": 0.15})  # own y axes: room for their labels
    for ax, i in zip(axes.flat, rows):
        setting, curve = result.settings[i], result.faithful[i]
        start, end = POST_FIGURE[setting.name]
        ax.plot(steps, curve, lw=0.6, color="tab:blue", label=f"this run (problem seed {result.faithful_seeds[i]})")
        ax.plot([0, post_end], [start, end], ls="none", marker="o", ms=7, mfc="none", mec="tab:red",
                label=f"the post: start (step 0) and end (step {POST_STEPS:,}), read off its figure")
        ax.axhline(end, color="tab:red", lw=0.8, ls=":", label="the post's end value, as a level to compare with")
        if short:
            ax.axvspan(1.07 * steps[-1], 1.25 * steps[-1], color="0.88", lw=0,
                       label=f"break: this run stops after {result.steps:,} steps; "
                             f"the rest of the post's {POST_STEPS:,} not run")
        ax.set_ylim(0, max(0.035, 1.05 * float(curve.max())))
        name = f"intermediate_step={setting.value:g}" if setting.estimator != "gumbel" else f"temp={setting.value:g}"
        ax.set_title(f"{name} (the post's panel title)", fontsize=10)
        ax.grid(True, alpha=0.25)
    if short:  # the run's own ticks (none so near its end that its label would run into the post's), then the post's
        ax = axes[0, 0]
        ax.set_xlim(-0.03 * steps[-1], 1.25 * steps[-1])
        ticks = [t for t in ax.get_xticks() if 0 <= t <= 0.9 * result.steps]
        ax.set_xticks(ticks + [post_end], [f"{t:g}" for t in ticks] + [f"{POST_STEPS:,}\n(post)"])
    for ax in axes[1]:
        ax.set_xlabel("SGD step")
    for ax in axes[:, 0]:
        ax.set_ylabel("smoothed KL(pi_true || pi), nats, linear")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, ["this run"] + labels[1:], loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("Toy experiment 1 beside the post: the faithful runs on the post's linear axes "
                 "(ILS: the prototype's gradient; each panel its own fresh problem, as in the post)", fontsize=11)
    return fig
