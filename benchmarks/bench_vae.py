"""Cost of one training step of the categorical VAE per estimator, as a ratio to the exact-gradient step.

    python benchmarks/bench_vae.py [--seeds 5] [--batch 64] [--steps 40] [--repeats 5]

One step is what ``ils-ref vae`` times: encode the minibatch, the estimator's
gradient (or the exact one, every latent configuration enumerated), and the
Adam update, for ``--seeds`` models side by side.  Every estimator runs the
same ``--steps`` steps from the same models in turn, ``--repeats`` times; the
table prints the best time per step and its ratio to the exact step in the
same run.  The exact step's cost grows with ``K^L`` (216 configurations by
default) and not with the batch's draws; the estimators' with the draws they
spend, so the ratio says where sampling starts to pay.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from ils_ref.experiments.vae import DEFAULT, Adam, draws_per_step, estimated_gradient, vae_estimators
from ils_ref.formatting import text_table
from ils_ref.models.glyphs import train_test


def time_steps(estimator, settings, batches, repeats: int) -> float:
    """Best over ``repeats`` of the mean time per step over ``batches``."""
    model = settings.model
    best = np.inf
    for r in range(repeats):
        params = model.init(np.arange(settings.seeds))
        adam = Adam(params, settings.lr_grid[0])  # the cost of a step does not depend on the rate
        rng = np.random.default_rng([0, r])
        start = time.perf_counter()
        for x in batches:
            adam.step(params, estimated_gradient(model, estimator, params, x, rng))
        best = min(best, (time.perf_counter() - start) / len(batches))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT.seeds)
    parser.add_argument("--batch", type=int, default=DEFAULT.batch)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    settings = replace(DEFAULT, seeds=args.seeds, batch=args.batch)
    x_train, _ = train_test(settings.n_train, settings.n_test)
    rng = np.random.default_rng(0)
    batches = [x_train[rng.integers(0, len(x_train), size=(args.seeds, args.batch))] for _ in range(args.steps)]
    estimators = vae_estimators()
    times = {e.label: time_steps(e, settings, batches, args.repeats) for e in estimators}
    base = times[estimators[0].label]
    rows = [("estimator", "draws per image", "ms per step", "vs exact")]
    for e in estimators:
        rows.append((e.label, str(draws_per_step(e, settings.model)), f"{times[e.label] * 1e3:.2f}", f"{times[e.label] / base:.2f}x"))
    print(f"one Adam step of {args.seeds} models x {args.batch} images, best of {args.repeats} x {args.steps} steps")
    print(text_table(rows, rule=True))


if __name__ == "__main__":
    main()
