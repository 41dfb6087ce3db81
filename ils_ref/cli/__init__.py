"""The ``ils-ref`` command line (also ``python -m ils_ref``).

Exit codes, the same for every command and mode: 0 pass (or done), 1 fail, 2 bad
usage (argparse's convention), 3 inconclusive (a check that could not tell:
``check --statistical`` with too few samples, ``selfcheck`` where finite
differences cannot resolve an entry).
Every bad argument or file is answered with exit code 2 and one line on
stderr, before any long work starts: sizes are checked against
``MAX_RESULT_BYTES`` before anything is allocated, output folders are proved
writable before an experiment runs, and results are written atomically.

* :mod:`.parser` — every command, its options and their help;
* :mod:`.commands` — what each command does (one function each);
* :mod:`.arguments` — the argument types and the checks made before any work.
"""

from __future__ import annotations

from .arguments import EXIT, MAX_RESULT_BYTES
from .parser import build_parser

__all__ = ["EXIT", "MAX_RESULT_BYTES", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args)
