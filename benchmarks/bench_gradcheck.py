"""How much check_vjp costs: default (screen) vs full mode, on softmax; and beside torch's gradcheck.

Part 1 prints wall time (best of several repeats), the number of calls to f
and vjp, and ratios against a baseline measured in the same run: the full
check with one f call per perturbed point (``batched=False``), which is how
most gradient checkers evaluate finite differences.

Part 2 (when torch is installed) checks torch's softmax over the last axis of
``(10, 100)`` and ``(64, 100)`` inputs: ``check_vjp(full=True)`` against
``torch.autograd.gradcheck`` (full), and the default screen against
``gradcheck(fast_mode=True)``; both sides check torch's own backward pass
(ours through ``torch.autograd.grad(..., is_grads_batched=True)``), and then
ours checks ``ils_ref.softmax`` with its NumPy backward pass instead.

    python benchmarks/bench_gradcheck.py [--sizes 100 1000 4000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ils_ref import check_vjp, softmax, softmax_backward


def vjp(x, dy):
    return softmax_backward(dy, softmax(x))


def vjp_broadcasting(x, dy):
    # takes a stack of cotangents dy of shape (B, n): the checker then batches vjp calls too
    return softmax_backward(dy, np.broadcast_to(softmax(x), np.shape(dy)))


def best_time(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 4000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"check_vjp on softmax of one row of n logits; best of {args.repeats}")
    header = f"{'n':>6}  {'mode':<24} {'time [s]':>10} {'f calls':>8} {'vjp calls':>9} {'vs loop baseline':>17}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        x = np.random.default_rng(0).normal(size=n)
        modes = {
            "default (screen)": dict(),
            "full, batched f": dict(full=True, batched=True),
            "full, batched f + vjp": dict(full=True, batched=True, vjp=vjp_broadcasting, vjp_batched=True),
        }
        if n <= 1000:  # the baseline is O(n) calls; at 4000 it only takes long
            modes["full, loop (baseline)"] = dict(full=True, batched=False)
        timings = {}
        for name, kwargs in modes.items():
            reps = args.repeats if "loop" not in name else max(1, args.repeats // 5)
            kwargs = dict(kwargs)
            g = kwargs.pop("vjp", vjp)
            t, report = best_time(lambda: check_vjp(softmax, g, x, **kwargs), reps)
            assert report.ok, str(report)
            timings[name] = (t, report)
        base = timings.get("full, loop (baseline)", (None, None))[0]
        for name, (t, report) in timings.items():
            ratio = f"{base / t:>15.1f}x" if base else f"{'-':>16}"
            print(f"{n:>6}  {name:<24} {t:>10.4f} {report.f_calls:>8} {report.vjp_calls:>9} {ratio}")


    versus_torch(args.repeats)


def versus_torch(repeats: int) -> None:
    try:
        import torch
    except ImportError:
        print("\n(torch is not installed: no comparison with torch.autograd.gradcheck)")
        return
    torch.set_num_threads(1)

    def f(x):
        with torch.no_grad():
            return torch.softmax(torch.from_numpy(x), -1).numpy()

    def vjp_torch(x, dy):
        # one forward pass, then one backward pass per cotangent of the stack (torch's own backward)
        xt = torch.from_numpy(x).requires_grad_(True)
        y = torch.softmax(xt, -1)
        dyt = torch.from_numpy(np.ascontiguousarray(dy))
        if dyt.dim() == y.dim():
            return torch.autograd.grad(y, xt, dyt)[0].numpy()
        return torch.autograd.grad(y, xt, dyt, is_grads_batched=True)[0].numpy()  # vectorised over the stack

    print("\ntorch's softmax over the last axis, both checkers checking torch's backward; "
          f"best of {repeats} (torch full: of 1)")
    header = f"{'shape':>10}  {'check':<28} {'ours [s]':>10} {'torch [s]':>10} {'torch / ours':>13}"
    print(header)
    print("-" * len(header))
    for shape in [(10, 100), (64, 100)]:
        x = np.random.default_rng(1).normal(size=shape)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        fn = lambda a: torch.softmax(a, -1)  # noqa: E731
        pairs = [
            ("full (every entry)", dict(full=True), dict(fast_mode=False), 1, (f, vjp_torch)),
            ("default vs fast_mode", dict(), dict(fast_mode=True), repeats, (f, vjp_torch)),
            ("full, ils_ref.softmax", dict(full=True), dict(fast_mode=False), 1, (softmax, vjp_broadcasting)),
            ("default, ils_ref.softmax", dict(), dict(fast_mode=True), repeats, (softmax, vjp_broadcasting)),
        ]
        for name, ours_kw, torch_kw, torch_reps, (ours_f, ours_vjp) in pairs:
            t_ours, report = best_time(lambda: check_vjp(ours_f, ours_vjp, x, batched=True, vjp_batched=True,
                                                         **ours_kw), repeats)
            assert report.ok, str(report)
            t_torch, ok = best_time(lambda: torch.autograd.gradcheck(fn, (xt,), **torch_kw), torch_reps)
            assert ok
            print(f"{str(shape):>10}  {name:<28} {t_ours:>10.4f} {t_torch:>10.4f} {t_torch / t_ours:>12.1f}x")


if __name__ == "__main__":
    main()
