"""The ``ils-ref`` parser: every command, its options and their help."""

from __future__ import annotations

import argparse

from ..version import __version__
from . import commands
from .arguments import int_at_least, nonnegative_float, positive_float, seconds


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2), not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def problem_arguments(p: argparse.ArgumentParser, seed_help: str) -> None:
    """``--problem``, ``--target`` and ``--seed``: what :func:`commands.make_problem_or_none` reads."""
    from ..models.problems import PROBLEMS

    p.add_argument("--problem", required=True, choices=PROBLEMS, help="the test problem")
    p.add_argument("--target", type=float, default=None, help="t of the Bernoulli quadratic (default 0.45)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help=seed_help)


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
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the inputs and probes (default 0)")
    p.add_argument("--full", action="store_true", help="compare full Jacobians instead of random projections")
    p.add_argument("-v", "--verbose", action="store_true", help="print every report, not only failures")
    p.set_defaults(run=commands.selfcheck_command)

    p = sub.add_parser(
        "reproduce",
        help="reproduce the post's toy experiment 1 (figures, curves, summary table)",
        description="Toy experiment 1: the post's six panels (faithful), then every setting on the same "
        "seeded problems with 95% bands and the exact gradient (fair). Writes toy1_faithful.png, toy1_vs_post.png, "
        "toy1_fair.png and toy1_curves.npz into --out and prints a summary table.",
    )
    p.add_argument("--steps", type=int_at_least(2), default=50_000, help="SGD steps (default 50000, as in the post)")
    p.add_argument("--seeds", type=int_at_least(1), default=10, help="seeded problems in the fair comparison (default 10)")
    p.add_argument("--out", default="results", help="output folder (default results/)")
    p.set_defaults(run=commands.reproduce_command)

    p = sub.add_parser(
        "compare",
        help="compare gradient estimators on a problem (bias, variance, cosine to the exact gradient)",
        description="Monte-Carlo statistics of every estimator setting against the exact gradient "
        "(computed by enumerating the outcomes).",
    )
    problem_arguments(p, seed_help="seed of the problem and of the draws (default 0)")
    p.add_argument("--samples", type=int_at_least(2), default=10000, help="estimates per setting (default 10000)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    p.add_argument("--estimator", action="append", metavar="MODULE:FUNCTION", help="add an outside estimator "
                   "fn(logits, dz_of, rng, alpha=...) -> dlogits (repeatable; see ils-ref check --statistical)")
    p.add_argument("--alpha", type=nonnegative_float, action="append", metavar="A", help="ILS's step size alpha "
                   "(repeatable): the ILS, prototype and Bernoulli-ILS rows and every --estimator run at each "
                   "(default: 0.1, 0.01 and 0.001, the post's)")
    p.add_argument("--timeout", type=seconds, default=60.0, metavar="S", help="seconds allowed for importing each "
                   "--estimator and for each of its settings (it runs in a child process; default 60)")
    p.set_defaults(run=commands.compare_command)

    p = sub.add_parser(
        "fixedpoint",
        help="where each estimator's exact expected gradient leads, against the problem's minimiser",
        description="From logits 0, follow the exact expected gradient (enumerating the draws, no sampling) of "
        "ILS (clip, signed, prototype), straight-through and the exact gradient until the probabilities stop "
        "moving, and compare where each ends with the problem's exact minimiser.",
    )
    problem_arguments(p, seed_help="seed of the problem (default 0)")
    p.add_argument("--alpha", type=positive_float, required=True, help="ILS's step size")
    p.add_argument("--lr", type=positive_float, default=1.0, help="SGD learning rate on the logits (default 1)")
    p.add_argument("--steps", type=int_at_least(1), default=20_000, help="at most this many steps (default 20000)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    p.set_defaults(run=commands.fixedpoint_command)

    p = sub.add_parser(
        "vae",
        help="train a categorical VAE with every estimator against its exact ELBO gradient",
        description="A categorical VAE on binarised glyphs (rendered locally from matplotlib's fonts), small enough "
        "that its ELBO and ELBO gradient are exact by enumeration. Every estimator trains the same models on the same "
        "seeds at every learning rate of a grid and keeps the rate with the best validation ELBO (held-out training "
        "glyphs); the exact train/validation/test ELBO is tracked, and at checkpoints of the exact-gradient run each estimator's "
        "gradient bias, variance and SNR per draw are measured against the exact gradient. Writes vae_elbo.png and "
        "vae_gradients.png into --out and prints a table; exit 1 if the exact gradient does not reach the best test "
        "ELBO within its interval (the harness check).",
    )
    # the sizes are written out (importing ils_ref.experiments.vae here would cost every command 0.5 s of SciPy);
    # tests/experiments/test_vae.py keeps them equal to vae.DEFAULT and vae.QUICK
    p.add_argument("--steps", type=int_at_least(1), default=None, help="Adam steps (default 1500; 300 with --quick)")
    p.add_argument("--seeds", type=int_at_least(1), default=None, help="models trained side by side per estimator "
                   "and learning rate (default 5; 2 with --quick)")
    p.add_argument("--lr", type=positive_float, action="append", metavar="LR",
                   help="an Adam learning rate to try (repeatable; each estimator keeps the one with the best mean "
                   "validation ELBO; default 0.001, 0.003, 0.01; 0.003, 0.01 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes: under a minute on two cores")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--out", default="results", help="output folder for the figures (default results/)")
    p.set_defaults(run=commands.vae_command)

    from ..checking.signatures import SIGNATURES, STATISTICAL

    p = sub.add_parser(
        "vectors",
        help="write reference vectors (JSON) for checking other implementations",
        description="Write the reference vectors (deterministic: the same bytes every run).",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the JSON document")
    p.set_defaults(run=commands.vectors_command)

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
    p.add_argument("--rtol", type=nonnegative_float, default=None, help="relative tolerance for every case "
                   "(default: each case's own, 1e-9; 1e-4 for a function that returns float32)")
    p.add_argument("--atol", type=nonnegative_float, default=None, help="absolute tolerance for every case "
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
    p.add_argument("--samples", type=int_at_least(100), default=4000, help="estimates per setting with "
                   "--statistical (default 4000)")
    p.add_argument("--timeout", type=seconds, default=60.0, metavar="S",
                   help="seconds allowed for importing the function and for each case (each setting with "
                   "--statistical; default 60); the function runs in a child process, so one that hangs or ends "
                   "the process fails instead")
    p.set_defaults(run=commands.check_command)

    return parser
