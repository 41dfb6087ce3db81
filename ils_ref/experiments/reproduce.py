"""``ils-ref reproduce``: toy experiment 1, faithful to the post and then fair.

* **Faithful**: the post's six settings (ILS as its prototype computed it,
  with α ∈ {0.1, 0.01, 0.001}; Gumbel-softmax with T ∈ {0.1, 1, 10}), each on
  a fresh random problem of its own (the post drew a new problem per setting
  and used no seed; here the problem of setting ``i`` has seed
  ``FAITHFUL_SEED + i``), one run each, laid out like the post's figure.
* **Fair**: the same seeded problems (seeds ``0 .. S-1``) for every setting,
  plus ILS with the chain-ruled default and the exact gradient; mean curve
  over the seeds with a 95% band.

Both are one vectorised :func:`ils_ref.experiments.toy1.train` call: the faithful
problem is one extra problem slot, specific to each setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..files import write_atomically
from ..formatting import text_table
from ..validation import checked
from .toy1 import (
    FAIR_SETTINGS,
    POST_SETTINGS,
    band,
    make_problems,
    order_settings,
    summarize,
    train,
)

FAITHFUL_SEED = 1000
NOISE_SEED = 20191014


@dataclass(frozen=True)
class Result:
    settings: list  # the fair settings, in training order
    seeds: np.ndarray
    curves: np.ndarray  # (settings, seeds, steps): the fair comparison
    faithful: np.ndarray  # (settings, steps): each setting on its own fresh problem
    faithful_seeds: np.ndarray
    steps: int
    lr: float
    final_logits: np.ndarray  # (settings, seeds, N, K): the fair runs' logits after the last step
    targets: np.ndarray  # (seeds, N, K): the fair problems' targets

    @property
    def names(self) -> list:
        return [s.name for s in self.settings]

    def post_rows(self) -> list:
        """Indices of the post's six settings, in the post's panel order."""
        return [self.settings.index(s) for s in POST_SETTINGS]


def run(steps: int = 50_000, seeds: int = 10, lr: float = 0.01, progress=None) -> Result:
    steps, seeds = checked(steps=("int", steps, 2), seeds=("int", seeds, 1))
    settings = order_settings(FAIR_SETTINGS)
    seed_list = np.arange(seeds)
    shared_t, shared_l = make_problems(seed_list)
    faithful_seeds = FAITHFUL_SEED + np.arange(len(settings))
    own_t, own_l = make_problems(faithful_seeds)
    n = len(settings)
    targets = np.concatenate([np.broadcast_to(shared_t, (n,) + shared_t.shape), own_t[:, None]], axis=1)
    logits = np.concatenate([np.broadcast_to(shared_l, (n,) + shared_l.shape), own_l[:, None]], axis=1)
    curves, theta = train(
        settings, targets, logits, steps=steps, lr=lr, seed=NOISE_SEED, progress=progress, return_logits=True
    )
    return Result(
        settings=settings,
        seeds=seed_list,
        curves=curves[:, :seeds],
        faithful=curves[:, seeds],
        faithful_seeds=faithful_seeds,
        steps=steps,
        lr=lr,
        final_logits=theta[:, :seeds],
        targets=shared_t,
    )


def window(steps: int) -> int:
    """Steps averaged for the final value: the last 1,000 (or the last half of a shorter run)."""
    return min(1000, max(1, steps // 2))


def save_npz(result: Result, path: str) -> None:
    """The curves as ``.npz``, written atomically (an interrupted save leaves the previous file intact)."""
    arrays = {s.key: result.curves[i] for i, s in enumerate(result.settings)}
    arrays.update({"faithful_" + s.key: result.faithful[i] for i, s in enumerate(result.settings)})
    write_atomically(path, lambda tmp: np.savez_compressed(
        tmp,
        settings=np.array(result.names),
        keys=np.array([s.key for s in result.settings]),
        seeds=result.seeds,
        faithful_seeds=result.faithful_seeds,
        lr=result.lr,
        steps=result.steps,
        final_logits=result.final_logits,
        targets=result.targets,
        **arrays,
    ), suffix=".npz")


def load_npz(path: str) -> Result | None:
    """A run saved by :func:`save_npz`, or ``None`` if the file is missing, unreadable or of other settings."""
    settings = order_settings(FAIR_SETTINGS)
    try:
        with np.load(path) as data:
            if "final_logits" not in data.files or [str(k) for k in data["keys"]] != [s.key for s in settings]:
                return None
            return Result(
                settings=settings,
                seeds=data["seeds"],
                curves=np.stack([data[s.key] for s in settings]),
                faithful=np.stack([data["faithful_" + s.key] for s in settings]),
                faithful_seeds=data["faithful_seeds"],
                steps=int(data["steps"]),
                lr=float(data["lr"]),
                final_logits=data["final_logits"],
                targets=data["targets"],
            )
    except (OSError, ValueError, KeyError):
        return None


def run_or_load(paths, steps: int, seeds: int, progress=None) -> tuple[Result, str | None]:
    """The first saved run among ``paths`` with these ``steps`` and ``seeds`` (and the default lr), else a fresh run.

    Returns ``(result, path it came from or None)``.  A saved run is what
    :func:`run` would compute bit for bit, so reusing it changes no number.
    """
    for path in paths:
        result = load_npz(path)
        if result is not None and result.steps == steps and len(result.seeds) == seeds and result.lr == 0.01:
            return result, path
    return run(steps=steps, seeds=seeds, progress=progress), None


def summary_table(result: Result) -> str:
    w = window(result.steps)
    lines = []
    for title, rows, curves in (
        (f"fair: mean over {len(result.seeds)} seeded problems (the same for every setting)",
         range(len(result.settings)), result.curves),
        ("faithful: one run per setting, each on its own fresh problem (as in the post)",
         result.post_rows(), result.faithful[:, None, :]),
    ):
        stats = summarize(curves, result.names, window=w)
        table = [("setting", "start", "minimum", f"last {w}", "settles at")]
        for i in rows:
            s = stats[i]
            settle = "never" if s.settle_step is None else str(s.settle_step)
            table.append((s.setting, f"{s.start:.5f}", f"{s.minimum:.5f}", f"{s.final:.5f}", settle))
        lines += [title, text_table(table, rule=True), ""]
    lines.append(
        f"metric: the post's smoothed KL(pi_true || softmax(theta)), mean over the N*K entries; 'settles at' = "
        f"first step within 10% of the last-{w} mean"
    )
    return "\n".join(lines)


def write_figures(result: Result, out: str) -> list[str]:
    """The faithful, fair and side-by-side-with-the-post figures as PNG files in ``out``; returns their paths."""
    from .figures import fair_figure, faithful_figure, versus_post_figure

    paths = [os.path.join(out, name) for name in ("toy1_faithful.png", "toy1_fair.png", "toy1_vs_post.png")]
    faithful_figure(result, paths[0])
    fair_figure(result, band, paths[1])
    versus_post_figure(result, paths[2])
    return paths
