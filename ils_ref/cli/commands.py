"""What each ``ils-ref`` command does, one function per command: ``args -> exit code``.

Exit codes (:data:`EXIT`): 0 pass (or done), 1 fail, 2 bad usage, 3 inconclusive.
Results are written atomically (:mod:`ils_ref.files`).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from ..files import write_text_atomically
from .arguments import EXIT, MAX_RESULT_BYTES, too_large, writable


def selfcheck_command(args: argparse.Namespace) -> int:
    from ..checking.selfcheck import run

    results = run(seed=args.seed, full=args.full)
    width = max(len(name) for name, _ in results)
    print(f"{'backward pass'.ljust(width)}  verdict       mode          compared  max abs err  max rel err  f/vjp calls")
    for name, report in results:
        verdict = report.verdict if report.ok else report.verdict.upper()
        print(
            f"{name.ljust(width)}  {verdict:<12}  {report.mode:<12}  {report.n_compared:>8}  "
            f"{report.max_abs_error:>11.2e}  {report.max_rel_error:>11.2e}  {report.f_calls}/{report.vjp_calls}"
        )
        if args.verbose or not report.ok:
            print("\n".join("    " + line for line in str(report).splitlines()))
    failed = [name for name, report in results if report.verdict == "fail"]
    unsure = [name for name, report in results if report.verdict == "inconclusive"]
    print(f"{len(results) - len(failed) - len(unsure)} of {len(results)} backward passes agree with finite differences"
          + (f"; inconclusive: {', '.join(unsure)}" if unsure else ""))
    return EXIT["fail" if failed else "inconclusive" if unsure else "pass"]


def make_problem_or_none(command: str, args: argparse.Namespace):
    """The problem named by ``--problem``/``--target``/``--seed``, or ``None`` after one line on stderr."""
    from ..models.problems import make_problem

    if args.target is not None and args.problem != "bernoulli-quadratic":
        print(f"ils-ref {command}: --target applies to --problem bernoulli-quadratic only", file=sys.stderr)
        return None
    try:
        return make_problem(args.problem, target=args.target, seed=args.seed)
    except (TypeError, ValueError) as exc:
        print(f"ils-ref {command}: {exc}", file=sys.stderr)
        return None


def compare_command(args: argparse.Namespace) -> int:
    from ..experiments.compare import compare, format_table, to_json

    problem = make_problem_or_none("compare", args)
    if problem is None:
        return 2
    need = 8.0 * 4 * args.samples * problem.logits.size  # the largest estimate array (REINFORCE-LOO: 4 draws each)
    if need > MAX_RESULT_BYTES:
        return too_large("compare", f"--samples {args.samples} on {args.problem}", need)
    if args.json and not writable("compare", args.json):
        return 2
    import contextlib

    from ..checking.isolated import CheckedCodeError, Child
    from ..checking.statistical import isolated_estimator
    from ..estimators.interface import ILS_ALPHAS, standard_estimators

    alphas = tuple(args.alpha or ILS_ALPHAS)
    with contextlib.ExitStack() as stack:
        extra = []
        for spec in args.estimator or ():
            try:
                child = stack.enter_context(Child(spec, args.timeout))
                extra += [isolated_estimator(child, spec, alpha) for alpha in alphas]
            except ValueError as exc:
                print(f"ils-ref compare: {exc}", file=sys.stderr)
                return 2
            except CheckedCodeError as exc:
                print(f"ils-ref compare: FAIL: {exc}", file=sys.stderr)
                return EXIT["fail"]
        estimators = standard_estimators(problem, alphas) + extra
        rows = compare(problem, estimators, n_samples=args.samples, seed=args.seed)
    print(format_table(problem, rows, args.samples, args.seed))
    broken = sorted({row["estimator"] for row in rows if "error" in row and row["estimator"] in (args.estimator or ())})
    if args.json:
        try:
            write_text_atomically(args.json, to_json(problem, rows, args.samples, args.seed) + "\n")
        except OSError as exc:
            print(f"ils-ref compare: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    if broken:
        print(f"FAIL: the outside estimator {', '.join(broken)} did not run (see its rows)", file=sys.stderr)
        return EXIT["fail"]
    return 0


def reproduce_command(args: argparse.Namespace) -> int:
    import time

    from ..experiments.reproduce import run, save_npz, summary_table, write_figures

    n_settings = 10
    need = 8.0 * n_settings * (args.seeds + 1) * args.steps  # the curves: every setting, problem and step
    if need > MAX_RESULT_BYTES:
        return too_large("reproduce", f"--steps {args.steps} with --seeds {args.seeds}", need)
    if not writable("reproduce", args.out, folder=True):
        return 2
    print(
        f"toy experiment 1: {n_settings} settings x ({args.seeds} seeded problems + 1 fresh problem each), "
        f"{args.steps} SGD steps, all in one vectorised loop",
        flush=True,
    )

    def progress(step, steps, seconds):
        print(f"  step {step:>7}/{steps} ({100 * step // steps:3d}%)  {seconds:6.1f} s", flush=True)

    start = time.perf_counter()
    result = run(steps=args.steps, seeds=args.seeds, progress=progress)
    npz = os.path.join(args.out, "toy1_curves.npz")
    save_npz(result, npz)
    figures = write_figures(result, args.out)
    print()
    print(summary_table(result))
    print()
    for path in [npz] + figures:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def vae_command(args: argparse.Namespace) -> int:
    import time

    from ..experiments.vae import peak_bytes, run, settings_for, vae_estimators
    from ..experiments.vae_report import harness_check, summary_table, to_json
    from ..experiments.vae_figures import write_figures

    if not writable("vae", args.out, folder=True) or (args.json and not writable("vae", args.json)):
        return 2
    try:
        settings = settings_for(quick=args.quick, steps=args.steps, seeds=args.seeds, lr_grid=args.lr)
    except ValueError as error:  # a repeated --lr, or one above 1
        print(f"ils-ref vae: error: --lr: {error}", file=sys.stderr)
        return 2
    model = settings.model
    need = peak_bytes(settings, vae_estimators())
    if need > MAX_RESULT_BYTES:
        rates = len(settings.lr_grid)
        return too_large("vae", f"--seeds {settings.seeds} with {rates} learning rate{'s' * (rates > 1)}", need)
    print(f"categorical VAE: {model.latents} latents of K = {model.categories} ({model.num_configurations} "
          f"configurations, enumerated for the exact ELBO), {settings.n_train} training glyphs, {settings.steps} Adam "
          f"steps of {settings.batch} images, {settings.seeds} seeds x {len(settings.lr_grid)} learning rates "
          f"({', '.join(f'{lr:g}' for lr in settings.lr_grid)}) side by side; each estimator's rate is chosen on "
          f"{settings.n_valid} validation glyphs, its test ELBO on {settings.n_test} test glyphs", flush=True)
    start = time.perf_counter()
    result = run(settings, progress=lambda message: print("  " + message, flush=True))
    paths = write_figures(result, args.out)
    print()
    print(summary_table(result))
    print(f"bias@{int(result['checkpoints'][-1])}: |E g_hat - g| / |g| of the reconstruction term's encoder-logit "
          f"gradient at the exact run's last checkpoint ({settings.draws} estimates on {settings.eval_batch} images; "
          f"floor: the smallest bias those draws resolve); rel. var: tr Cov / |g|^2 of one estimate; KL: the final "
          f"models' KL term on the test images (0: the latents carry no information, at most L log K)")
    print()
    if args.json:
        write_text_atomically(args.json, to_json(result) + "\n")
        paths.append(args.json)
    for path in paths:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0 if harness_check(result)[0] else 1


def fixedpoint_command(args: argparse.Namespace) -> int:
    import json

    from ..experiments.fixedpoint import fixed_points
    from ..formatting import jsonable, text_table

    problem = make_problem_or_none("fixedpoint", args)
    if problem is None:
        return 2
    if args.json and not writable("fixedpoint", args.json):
        return 2
    doc = fixed_points(problem, args.alpha, lr=args.lr, max_steps=args.steps)

    def brief(p):
        return np.array2string(np.asarray(p), precision=4, suppress_small=True, max_line_width=60).replace("\n", "")

    table = [("estimator", "ends at p", "E f there", "steps", "")]
    for row in doc["estimators"]:
        if "error" in row:
            table.append((row["name"], "error: " + row["error"][:60], "", "", ""))
        else:
            table.append((row["name"], brief(row["p"]), f"{row['objective']:.6g}", str(row["steps"]),
                          "" if row["converged"] else "still moving"))
    table.append(("minimiser", brief(doc["minimiser"]["p"]), f"{doc['minimiser']['objective']:.6g}", "", "(a limit)"))
    print(f"{problem.name} {problem.params() or ''}: each estimator's exact expected gradient followed from logits 0 "
          f"(alpha={doc['alpha']:g}, lr={doc['lr']:g}, at most {doc['max_steps']} steps, until p moves < {doc['tol']:g})")
    print(text_table(table, align="llrrl", rule=True))
    if args.json:
        write_text_atomically(args.json, json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.json}")
    return 0


def vectors_command(args: argparse.Namespace) -> int:
    from ..checking.vectors import dumps, generate

    if not writable("vectors", args.output):
        return 2
    doc = generate()
    try:
        write_text_atomically(args.output, dumps(doc))
    except OSError as exc:
        print(f"ils-ref vectors: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {len(doc['cases'])} cases to {args.output} (sha256 {doc['sha256']})")
    return 0


def check_command(args: argparse.Namespace) -> int:
    from ..checking.isolated import CheckedCodeError, check_isolated
    from ..checking.signatures import SIGNATURES, STATISTICAL

    if args.statistical and args.op not in STATISTICAL:
        print(f"ils-ref check: --statistical checks a whole estimator: --op {' or '.join(STATISTICAL)}, not {args.op}",
              file=sys.stderr)
        return 2
    if not args.statistical and args.op not in SIGNATURES:
        print(f"ils-ref check: --op {args.op} is a whole estimator ({STATISTICAL[args.op][0]}): add --statistical",
              file=sys.stderr)
        return 2
    try:
        if args.statistical:
            from ..checking.statistical import check_estimator_isolated

            report = check_estimator_isolated(args.target, op=args.op, policy=args.policy, n_samples=args.samples,
                                              timeout=args.timeout)
        else:
            report = check_isolated(args.target, op=args.op, vectors=args.vectors, timeout=args.timeout,
                                    policy=args.policy, rtol=args.rtol, atol=args.atol, framework=args.as_)
    except (TypeError, ValueError) as exc:
        print(f"ils-ref check: {exc}", file=sys.stderr)
        return 2
    except CheckedCodeError as exc:
        print(f"ils-ref check: FAIL: {exc}", file=sys.stderr)
        return EXIT["fail"]
    print(report.render(verbose=args.verbose))
    return EXIT[report.verdict]
