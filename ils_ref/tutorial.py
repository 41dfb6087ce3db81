"""What the tutorials share: the run mode, sizes, figures, the library's own code, checked claims.

The tutorials (``tutorials/0N_*.py``) are literate programs, jupytext percent
scripts whose code cells run at top level under the prose they illustrate;
built into notebooks they must run wherever the notebook is written, so
their helper comes with the package instead of lying beside the scripts.
It needs nothing else from ``ils_ref``.

The mode comes from the environment or the command line, never from
argument parsing that Jupyter would trip over:

* quick mode (small sizes, what the tests run): ``ILS_REF_QUICK=1`` or ``--quick``;
  :func:`sizes` puts a tutorial's quick and full sizes side by side, in one place;
* the folder for figures: ``ILS_REF_OUT=DIR`` or ``--out DIR``; by default
  ``figures/`` beside the tutorial that runs (the script's folder, or, in a
  notebook, its working directory: the notebook's folder).

:func:`show_source` prints a function of the library as it is in the installed
files, with file and line numbers, so a tutorial shows the code it explains
instead of a copy that could drift from it.

Every sentence of a tutorial that states a result rests on a *claim*: a
number the script computes and prints, with the condition the prose relies
on.  :meth:`Claims.check` prints it; :meth:`Claims.finish` (the last cell)
raises ``AssertionError`` if any claim failed, so the script exits with
status 1, the notebook's last cell fails, and the test suite goes red: the
prose cannot silently drift away from what the code measures.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from types import SimpleNamespace


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    # parse_known_args: under Jupyter, sys.argv holds the kernel's own arguments (-f FILE)
    return parser.parse_known_args(sys.argv[1:])[0]


def _default_out() -> str:
    """``figures/`` beside the running script; in a notebook (no script file) under the working directory."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)  # a notebook's __main__ has no file
    return os.path.join(os.path.dirname(os.path.abspath(script)), "figures") if script else "figures"


_ARGS = _options()
#: Small sizes (seconds): ``ILS_REF_QUICK=1`` or ``--quick``.
QUICK = _ARGS.quick or os.environ.get("ILS_REF_QUICK", "").lower() in ("1", "true", "yes")
#: Where figures are written: ``--out DIR``, ``ILS_REF_OUT``, or ``figures/`` beside the tutorial.
OUT = _ARGS.out or os.environ.get("ILS_REF_OUT") or _default_out()


def sizes(**choices) -> SimpleNamespace:
    """Every size a tutorial uses, each given as ``name=(quick, full)``; the one for this run's mode.

    >>> size = sizes(steps=(2_000, 20_000))   # size.steps is 2000 under quick mode
    """
    picked = SimpleNamespace(**{name: quick if QUICK else full for name, (quick, full) in choices.items()})
    print(("quick mode: " if QUICK else "full size (ILS_REF_QUICK=1 or --quick for quick mode): ")
          + ", ".join(f"{name} = {_brief(value)}" for name, value in vars(picked).items()))
    return picked


def _brief(value) -> str:
    """A number as it is; anything else by its kind (a list by its length), not by a long repr."""
    if isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, list):
        return f"{len(value)} {type(value[0]).__name__ if value else 'item'}s"
    return type(value).__name__


def out_folder() -> str:
    """:data:`OUT`, created if it does not exist yet."""
    os.makedirs(OUT, exist_ok=True)
    return OUT


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (not merely in a process that imported ipykernel)."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and type(ipython.get_ipython()).__name__ == "ZMQInteractiveShell"


def show_figure(fig, name: str) -> str:
    """Write ``fig`` to ``OUT/name`` (PNG); in a notebook also show it under the cell; then close it."""
    import matplotlib.pyplot as plt

    path = os.path.join(out_folder(), name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    show_file(path)
    return path


def show_file(path: str) -> None:
    """Say where a figure the package wrote is; in a notebook also show it under the cell."""
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=path))
    print(f"wrote {path}")


def show_source(obj, start: str | None = None, stop: str | None = None) -> str:
    """Print the source of a function or class as it is now, headed by its file and numbered by its lines.

    Parameters
    ----------
    obj : function, method or class
    start, stop : str, optional
        Show only a part: from the first line containing ``start`` to the
        first line from there on containing ``stop`` (both included).  A marker
        that is not found raises ``ValueError``: the tutorial then fails instead
        of showing other lines than its prose explains.

    Returns
    -------
    str
        What was printed.
    """
    lines, first = inspect.getsourcelines(obj)
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    begin, end = 0, len(lines)
    if start is not None:
        begin = next((i for i, line in enumerate(lines) if start in line), None)
        if begin is None:
            raise ValueError(f"show_source: no line of {name} contains start={start!r}")
    if stop is not None:
        found = next((i for i in range(begin, len(lines)) if stop in lines[i]), None)
        if found is None:
            raise ValueError(f"show_source: no line of {name} from {start!r} on contains stop={stop!r}")
        end = found + 1
    path = inspect.getsourcefile(obj) or "?"
    package = sys.modules.get(obj.__module__.split(".")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(package.__file__))) if package else None
    shown = os.path.relpath(path, root) if root else path
    numbers = range(first + begin, first + end)
    width = len(str(numbers[-1])) if numbers else 1
    text = f"{shown}, lines {numbers[0]}-{numbers[-1]} ({name}):\n" + "".join(
        f"{n:>{width}}  {line}" for n, line in zip(numbers, lines[begin:end]))
    print(text.rstrip("\n"))
    return text


class Claims:
    """Claims a tutorial's prose makes, each checked where its numbers are printed."""

    def __init__(self):
        self.results, self.skipped = [], []

    def check(self, text: str, ok) -> None:
        """Record and print one claim: ``text`` states the numbers, ``ok`` whether the prose's condition holds."""
        ok = bool(ok)
        self.results.append((text, ok))
        print(f"  [{'claim holds' if ok else 'CLAIM FAILED'}] {text}")

    def full_size(self, summary: str, ok, detail=None) -> None:
        """A claim whose numbers only mean something at full size: checked there, named and skipped in quick mode.

        ``ok`` (and ``detail``, which states the numbers) are functions of no
        arguments, not called in quick mode, where what they read may not have
        been computed.
        """
        if not callable(ok) or not (detail is None or callable(detail)):
            raise TypeError("ok and detail must be functions of no arguments (they are not called in quick mode)")
        if QUICK:
            self.skipped.append(summary)
            print(f"  [full size only, skipped in quick mode] {summary}")
        else:
            self.check(summary if detail is None else f"{summary} ({detail()})", ok())

    def finish(self) -> None:
        """Print how many claims hold; ``AssertionError`` naming those that do not."""
        failed = [t for t, ok in self.results if not ok]
        skipped = f" ({len(self.skipped)} full-size claims skipped in quick mode)" if self.skipped else ""
        print(f"\n{len(self.results) - len(failed)} of {len(self.results)} claims hold{skipped}")
        if failed:
            raise AssertionError("claims failed:\n" + "\n".join(failed))
