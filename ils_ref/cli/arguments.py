"""The command line's argument types and the checks made before any work: sizes, writable paths.

Every bad argument is answered with exit code 2 and one line on stderr, before
any long work starts: sizes are checked against :data:`MAX_RESULT_BYTES`
before anything is allocated, and output paths are proved writable before an
experiment runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..files import check_writable_folder, output_file

#: The exit status of each verdict (2 is bad usage).
EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}
#: The largest array of results a command may allocate (curves, estimates): 2 GiB.
MAX_RESULT_BYTES = 2 * 1024**3


def int_at_least(minimum: int):
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


def finite_float(*, zero_allowed: bool):
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


positive_float = finite_float(zero_allowed=False)
nonnegative_float = finite_float(zero_allowed=True)
#: The longest ``--timeout``: a week (1e10 seconds overflowed the child's wait with a traceback).
MAX_TIMEOUT = 7 * 24 * 3600.0


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds, at most :data:`MAX_TIMEOUT`."""
    value = positive_float(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT:g} seconds (a week), got {text}")
    return value


def too_large(command: str, what: str, n_bytes: float) -> int:
    print(f"ils-ref {command}: {what} would need {n_bytes / 1024**3:.3g} GiB (at most {MAX_RESULT_BYTES / 1024**3:g} GiB); "
          f"choose fewer", file=sys.stderr)
    return 2


def writable(command: str, path: str, folder: bool = False) -> bool:
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
