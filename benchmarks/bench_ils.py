"""ILS forward + backward on a large batch, as a ratio to one softmax of the same array.

    python benchmarks/bench_ils.py [--rows 16384] [--categories 1000] [--repeats 5]

Targets, each <= 2.5x one `ils_ref.softmax` call of the same array (the public,
validating functions): `ils_backward` (which runs `ils_kernel`, Algorithm 1 line
by line), and `ils_forward` + `ils_backward` together.  Also timed on checked
arrays: the two backward kernels, `ils_kernel` and `training_kernel` (the same
numbers in fewer passes, which only the toy experiment's training loop runs).
Best of `--repeats` runs.
Also times the rivals (Gumbel-softmax soft and hard, and the ILS prototype
variant) on the same array, for context.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ils_ref import gumbel_softmax_backward, gumbel_softmax_forward, ils_backward, ils_forward, softmax
from ils_ref.estimators.ils import ils_kernel
from ils_ref.estimators.ils_training import training_kernel


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.rows, args.categories)
    logits = rng.normal(size=shape)
    dz = rng.normal(size=shape)
    u_rows = rng.random(shape[:-1])
    u_full = rng.random(shape)

    def ils_fwd_bwd(**options):
        _, cache = ils_forward(logits, u=u_rows)
        return ils_backward(dz, cache, 0.01, **options)

    def gumbel_fwd_bwd(hard):
        _, cache = gumbel_softmax_forward(logits, 1.0, u=u_full, hard=hard)
        return gumbel_softmax_backward(dz, cache)

    t_softmax = best(lambda: softmax(logits), args.repeats)
    _, cache = ils_forward(logits, u=u_rows)
    rows = [
        ("softmax (baseline)", t_softmax),
        ("ILS backward: ils_kernel", best(lambda: ils_kernel(dz, cache, 0.01), args.repeats)),
        ("ILS backward: training_kernel", best(lambda: training_kernel(dz, cache.probs, cache.index, 0.01), args.repeats)),
        ("ILS backward (ils_backward)", best(lambda: ils_backward(dz, cache, 0.01), args.repeats)),
        ("ILS forward + backward", best(ils_fwd_bwd, args.repeats)),
        ("ILS forward only", best(lambda: ils_forward(logits, u=u_rows), args.repeats)),
        ("ILS prototype fwd + bwd", best(lambda: ils_fwd_bwd(prototype=True), args.repeats)),
        ("Gumbel soft fwd + bwd", best(lambda: gumbel_fwd_bwd(False), args.repeats)),
        ("Gumbel hard fwd + bwd", best(lambda: gumbel_fwd_bwd(True), args.repeats)),
    ]
    print(f"float64 batch {shape}, best of {args.repeats}")
    print(f"{'operation':<30} {'time [ms]':>10} {'x softmax':>10}")
    for name, t in rows:
        print(f"{name:<30} {1e3 * t:>10.1f} {t / t_softmax:>10.2f}")
    for name, t in (rows[3], rows[4]):
        ratio = t / t_softmax
        print(f"{name} / softmax = {ratio:.2f}  (target <= 2.5: {'met' if ratio <= 2.5 else 'NOT met'})")
    print(f"training_kernel / ils_kernel = {rows[2][1] / rows[1][1]:.2f} (the loop's kernel, for comparison)")


if __name__ == "__main__":
    main()
