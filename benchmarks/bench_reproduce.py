"""Steps per second of toy experiment 1: vectorised vs one setting and one seed at a time.

    python benchmarks/bench_reproduce.py [--steps 2000] [--seeds 10]

The post's six settings x `--seeds` seeded problems, trained (a) in one
`ils_ref.experiments.train` call, all settings and seeds in one array, and
(b) with one call per (setting, seed) pair, as a loop over settings would.
Both compute the same thing; the ratio is printed from the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ils_ref.experiments.toy1 import POST_SETTINGS, make_problems, order_settings, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()

    settings = order_settings(POST_SETTINGS)
    targets, logits = make_problems(np.arange(args.seeds))
    n = len(settings)
    start = time.perf_counter()
    train(settings, np.broadcast_to(targets, (n,) + targets.shape).copy(),
          np.broadcast_to(logits, (n,) + logits.shape).copy(), steps=args.steps)
    vectorised = time.perf_counter() - start

    start = time.perf_counter()
    for setting in settings:
        for p in range(args.seeds):
            train([setting], targets[None, p : p + 1], logits[None, p : p + 1], steps=args.steps)
    looped = time.perf_counter() - start

    pairs = n * args.seeds
    print(f"toy experiment 1: {n} settings x {args.seeds} seeds = {pairs} runs, {args.steps} steps each")
    print(f"{'':<34} {'time [s]':>9} {'steps/s (all runs)':>19}")
    print(f"{'vectorised (one train call)':<34} {vectorised:>9.2f} {args.steps / vectorised:>19.0f}")
    print(f"{'one setting, one seed at a time':<34} {looped:>9.2f} {args.steps / looped:>19.0f}")
    print(f"speed-up of the vectorised loop: {looped / vectorised:.1f}x")


if __name__ == "__main__":
    main()
