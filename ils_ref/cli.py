"""The ``ils-ref`` command line (also ``python -m ils_ref``).

Exit codes, the same for every command and mode: 0 pass (or done), 1 fail, 2 bad
usage (argparse's convention), 3 inconclusive (a check that could not tell:
``check --statistical`` with too few samples, ``selfcheck`` where finite
differences cannot resolve an entry).
Every bad argument or file is answered with exit code 2 and one line on
stderr, before any long work starts: sizes are checked against
``MAX_RESULT_BYTES`` before anything is allocated, output folders are proved
writable before an experiment runs, and results are written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .files import check_writable_folder, output_file, write_text_atomically
from .version import __version__

#: The exit status of each verdict (2 is bad usage).
EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}
#: The largest array of results a command may allocate (curves, estimates): 2 GiB.
MAX_RESULT_BYTES = 2 * 1024**3


def _int_at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _finite_float(*, zero_allowed: bool):
    """An argparse type: a finite number > 0, or >= 0 if ``zero_allowed``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (0 <= value if zero_allowed else 0 < value) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if zero_allowed else '>'} 0, got {text}")
        return value

    return parse


_positive_float = _finite_float(zero_allowed=False)
_nonnegative_float = _finite_float(zero_allowed=True)
#: The longest ``--timeout``: a week (1e10 seconds overflowed the child's wait with a traceback).
MAX_TIMEOUT = 7 * 24 * 3600.0


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds, at most :data:`MAX_TIMEOUT`."""
    value = _positive_float(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT:g} seconds (a week), got {text}")
    return value


def _too_large(command: str, what: str, n_bytes: float) -> int:
    print(f"ils-ref {command}: {what} would need {n_bytes / 1024**3:.3g} GiB (at most {MAX_RESULT_BYTES / 1024**3:g} GiB); "
          f"choose fewer", file=sys.stderr)
    return 2


def _writable(command: str, path: str, folder: bool = False) -> bool:
    """Prove before any work that ``path`` (a folder, or a result file) takes files; else print one line.

    A result file must not be a directory or a special file (a symlink is
    written through to its target), and its folder must take files.
    """
    try:
        target = path if folder else os.path.dirname(output_file(path))
        check_writable_folder(target, create=folder)
    except OSError as exc:
        print(f"ils-ref {command}: cannot write to {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True




def _selfcheck(args: argparse.Namespace) -> int:
    from .checking.selfcheck import run

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


def _problem(command: str, args: argparse.Namespace):
    """The problem named by ``--problem``/``--target``/``--seed``, or ``None`` after one line on stderr."""
    from .models.problems import make_problem

    if args.target is not None and args.problem != "bernoulli-quadratic":
        print(f"ils-ref {command}: --target applies to --problem bernoulli-quadratic only", file=sys.stderr)
        return None
    try:
        return make_problem(args.problem, target=args.target, seed=args.seed)
    except (TypeError, ValueError) as exc:
        print(f"ils-ref {command}: {exc}", file=sys.stderr)
        return None


def _compare(args: argparse.Namespace) -> int:
    from .experiments.compare import compare, format_table, to_json

    problem = _problem("compare", args)
    if problem is None:
        return 2
    need = 8.0 * 4 * args.samples * problem.logits.size  # the largest estimate array (REINFORCE-LOO: 4 draws each)
    if need > MAX_RESULT_BYTES:
        return _too_large("compare", f"--samples {args.samples} on {args.problem}", need)
    if args.json and not _writable("compare", args.json):
        return 2
    import contextlib

    from .checking.isolated import CheckedCodeError, Child
    from .checking.statistical import isolated_estimator
    from .estimators.interface import standard_estimators

    with contextlib.ExitStack() as stack:
        extra = []
        for spec in args.estimator or ():
            try:
                extra.append(isolated_estimator(stack.enter_context(Child(spec, args.timeout)), spec, args.alpha))
            except ValueError as exc:
                print(f"ils-ref compare: {exc}", file=sys.stderr)
                return 2
            except CheckedCodeError as exc:
                print(f"ils-ref compare: FAIL: {exc}", file=sys.stderr)
                return EXIT["fail"]
        estimators = standard_estimators(problem) + extra if extra else None
        rows = compare(problem, estimators, n_samples=args.samples, seed=args.seed)
    print(format_table(problem, rows, args.samples, args.seed))
    broken = [row["label"] for row in rows if "error" in row and row["estimator"] in (args.estimator or ())]
    if args.json:
        try:
            write_text_atomically(args.json, to_json(problem, rows, args.samples, args.seed) + "\n")
        except OSError as exc:
            print(f"ils-ref compare: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    if broken:
        print(f"FAIL: the outside estimator {', '.join(broken)} did not run (see its row)", file=sys.stderr)
        return EXIT["fail"]
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    import time

    from .experiments.reproduce import run, save_npz, summary_table, write_figures

    n_settings = 10
    need = 8.0 * n_settings * (args.seeds + 1) * args.steps  # the curves: every setting, problem and step
    if need > MAX_RESULT_BYTES:
        return _too_large("reproduce", f"--steps {args.steps} with --seeds {args.seeds}", need)
    if not _writable("reproduce", args.out, folder=True):
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


def _vae(args: argparse.Namespace) -> int:
    import time

    from .experiments.vae import harness_check, run, settings_for, summary_table, to_json
    from .experiments.vae_figures import write_figures

    if not _writable("vae", args.out, folder=True) or (args.json and not _writable("vae", args.json)):
        return 2
    settings = settings_for(quick=args.quick, steps=args.steps, seeds=args.seeds)
    model = settings.model
    # per seed: the decoder over every configuration for a batch, and the parameters with their Adam state
    params = model.hidden * (model.pixels + model.width) * 2 + model.pixels + model.hidden * 2 + model.width
    per_seed = 8.0 * (model.num_configurations * max(settings.batch, settings.eval_batch) * (model.pixels + model.hidden)
                      + 16 * params)
    if settings.seeds * per_seed > MAX_RESULT_BYTES:
        return _too_large("vae", f"--seeds {settings.seeds}", settings.seeds * per_seed)
    print(f"categorical VAE: {model.latents} latents of K = {model.categories} ({model.num_configurations} "
          f"configurations, enumerated for the exact ELBO), {settings.n_train} training glyphs, {settings.steps} Adam "
          f"steps of {settings.batch} images, {settings.seeds} seeds side by side", flush=True)
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


def _fixedpoint(args: argparse.Namespace) -> int:
    import json

    from .experiments.fixedpoint import fixed_points
    from .formatting import jsonable, text_table

    problem = _problem("fixedpoint", args)
    if problem is None:
        return 2
    if args.json and not _writable("fixedpoint", args.json):
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


def _vectors(args: argparse.Namespace) -> int:
    from .checking.vectors import dumps, generate

    if not _writable("vectors", args.output):
        return 2
    doc = generate()
    try:
        write_text_atomically(args.output, dumps(doc))
    except OSError as exc:
        print(f"ils-ref vectors: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {len(doc['cases'])} cases to {args.output} (sha256 {doc['sha256']})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .checking.isolated import CheckedCodeError, check_isolated
    from .checking.signatures import SIGNATURES, STATISTICAL

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
            from .checking.statistical import check_estimator_isolated

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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2), not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ils-ref",
        description="Reference implementation of Intermediate Loss Sampling (ILS) and its rival estimators.",
    )
    parser.add_argument("--version", action="version", version=f"ils_ref {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "selfcheck",
        help="check every hand-written backward pass against finite differences",
        description="Run check_vjp on every backward pass of the package (seeded random inputs).",
    )
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the inputs and probes (default 0)")
    p.add_argument("--full", action="store_true", help="compare full Jacobians instead of random projections")
    p.add_argument("-v", "--verbose", action="store_true", help="print every report, not only failures")
    p.set_defaults(run=_selfcheck)

    p = sub.add_parser(
        "reproduce",
        help="reproduce the post's toy experiment 1 (figures, curves, summary table)",
        description="Toy experiment 1: the post's six panels (faithful), then every setting on the same "
        "seeded problems with 95% bands and the exact gradient (fair). Writes toy1_faithful.png, toy1_vs_post.png, "
        "toy1_fair.png and toy1_curves.npz into --out and prints a summary table.",
    )
    p.add_argument("--steps", type=_int_at_least(2), default=50_000, help="SGD steps (default 50000, as in the post)")
    p.add_argument("--seeds", type=_int_at_least(1), default=10, help="seeded problems in the fair comparison (default 10)")
    p.add_argument("--out", default="results", help="output folder (default results/)")
    p.set_defaults(run=_reproduce)

    from .models.problems import PROBLEMS

    p = sub.add_parser(
        "compare",
        help="compare gradient estimators on a problem (bias, variance, cosine to the exact gradient)",
        description="Monte-Carlo statistics of every estimator setting against the exact gradient "
        "(computed by enumerating the outcomes).",
    )
    p.add_argument("--problem", required=True, choices=PROBLEMS, help="the test problem")
    p.add_argument("--target", type=float, default=None, help="t of the Bernoulli quadratic (default 0.45)")
    p.add_argument("--samples", type=_int_at_least(2), default=10000, help="estimates per setting (default 10000)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the problem and of the draws (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    p.add_argument("--estimator", action="append", metavar="MODULE:FUNCTION", help="add an outside estimator "
                   "fn(logits, dz_of, rng, alpha=...) -> dlogits (repeatable; see ils-ref check --statistical)")
    p.add_argument("--alpha", type=_nonnegative_float, default=0.1, help="alpha passed to --estimator (default 0.1)")
    p.add_argument("--timeout", type=_seconds, default=60.0, metavar="S", help="seconds allowed for importing each "
                   "--estimator and for each of its settings (it runs in a child process; default 60)")
    p.set_defaults(run=_compare)

    p = sub.add_parser(
        "fixedpoint",
        help="where each estimator's exact expected gradient leads, against the problem's minimiser",
        description="From logits 0, follow the exact expected gradient (enumerating the draws, no sampling) of "
        "ILS (clip, signed, prototype), straight-through and the exact gradient until the probabilities stop "
        "moving, and compare where each ends with the problem's exact minimiser.",
    )
    p.add_argument("--problem", required=True, choices=PROBLEMS, help="the test problem")
    p.add_argument("--target", type=float, default=None, help="t of the Bernoulli quadratic (default 0.45)")
    p.add_argument("--alpha", type=_positive_float, required=True, help="ILS's step size")
    p.add_argument("--lr", type=_positive_float, default=1.0, help="SGD learning rate on the logits (default 1)")
    p.add_argument("--steps", type=_int_at_least(1), default=20_000, help="at most this many steps (default 20000)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the problem (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    p.set_defaults(run=_fixedpoint)

    p = sub.add_parser(
        "vae",
        help="train a categorical VAE with every estimator against its exact ELBO gradient",
        description="A categorical VAE on binarised glyphs (rendered locally from matplotlib's fonts), small enough "
        "that its ELBO and ELBO gradient are exact by enumeration. Every estimator trains the same models on the same "
        "seeds; the exact train/test ELBO is tracked, and at checkpoints of the exact-gradient run each estimator's "
        "gradient bias, variance and SNR per draw are measured against the exact gradient. Writes vae_elbo.png and "
        "vae_gradients.png into --out and prints a table; exit 1 if the exact gradient does not reach the best test "
        "ELBO within its interval (the harness check).",
    )
    p.add_argument("--steps", type=_int_at_least(1), default=None, help="Adam steps (default 2000; 300 with --quick)")
    p.add_argument("--seeds", type=_int_at_least(1), default=None, help="models trained side by side per estimator "
                   "(default 5; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes: under a minute on two cores")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--out", default="results", help="output folder for the figures (default results/)")
    p.set_defaults(run=_vae)

    from .checking.signatures import SIGNATURES, STATISTICAL

    p = sub.add_parser(
        "vectors",
        help="write reference vectors (JSON) for checking other implementations",
        description="Write the reference vectors (deterministic: the same bytes every run).",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the JSON document")
    p.set_defaults(run=_vectors)

    signatures = "; ".join(f"{op} {sig.text()}" for op, sig in SIGNATURES.items())
    whole = "; ".join(f"{op} {text}" for op, (text, _) in STATISTICAL.items())
    p = sub.add_parser(
        "check",
        help="check another implementation MODULE:FUNCTION against the reference vectors",
        description=f"Run MODULE:FUNCTION on every case of an op and compare with the reference vectors. "
        f"Signatures (shapes: README, or ils_ref/checking/signatures.py): {signatures}. With --statistical, whole "
        f"estimators that draw for themselves: {whole}. Exit 0 pass, 1 fail, 2 bad usage, 3 inconclusive.",
    )
    p.add_argument("target", metavar="MODULE:FUNCTION", help="the implementation to check, e.g. mypkg.ils:backward")
    p.add_argument("--op", default="ils_backward", choices=tuple(SIGNATURES) + tuple(o for o in STATISTICAL if o not in SIGNATURES),
                   help="which op's cases (default ils_backward)")
    p.add_argument("--vectors", metavar="FILE", help="a vectors file (default: the copy shipped with ils_ref)")
    p.add_argument("--policy", choices=("clip", "signed"), default="clip",
                   help="ils_backward's expected values: clip (the reference default) or signed (the literal "
                   "Algorithm 1, pi_D = h(z - alpha*Delta) unclipped; cases where it is undefined are skipped)")
    p.add_argument("--rtol", type=_nonnegative_float, default=None, help="relative tolerance for every case "
                   "(default: each case's own, 1e-9; 1e-4 for a function that returns float32)")
    p.add_argument("--atol", type=_nonnegative_float, default=None, help="absolute tolerance for every case "
                   "(default: each case's own, 1e-12; 1e-6 for a function that returns float32)")
    p.add_argument("--as", dest="as_", choices=("numpy", "torch", "jax"), default="numpy",
                   help="hand the inputs to the function as float64 NumPy arrays (default), torch tensors or JAX "
                   "arrays; what it returns is converted back whatever it is")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="details under every case (the worst entry and, for ILS, Delta, z - alpha*Delta, pi_D), "
                   "not only under failing ones, and what the checked code printed")
    p.add_argument("--statistical", action="store_true",
                   help="check a whole stochastic estimator that draws for itself: the mean of --samples estimates "
                   "on small problems against ILS's exact expectation (--op ils_backward) or the exact gradient "
                   "(--op reinforce_loo); pass, fail, or inconclusive when the estimates are too noisy to tell")
    p.add_argument("--samples", type=_int_at_least(100), default=4000, help="estimates per setting with "
                   "--statistical (default 4000)")
    p.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                   help="seconds allowed for importing the function and for each case (each setting with "
                   "--statistical; default 60); the function runs in a child process, so one that hangs or ends "
                   "the process fails instead")
    p.set_defaults(run=_check)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args)
