"""Scaffolding shared by the tutorials: the run mode, figures, and checked claims.

Each tutorial is a literate program (a jupytext percent script): its code
cells run at top level, each under the prose it illustrates, so that as a
notebook every result appears under its explanation and as a script it runs
top to bottom.

The mode comes from the environment or the command line, never from argument
parsing that Jupyter would trip over:

* quick mode (small sizes, what the tests run): ``ILS_REF_QUICK=1`` or ``--quick``;
* the folder for figures: ``ILS_REF_OUT=DIR`` or ``--out DIR`` (default ``tutorials/figures``).

Every sentence of a tutorial that states a result rests on a *claim*: a
number the script computes and prints, with the condition the prose relies
on.  ``claims.check`` prints it; ``claims.finish()`` (the last cell) raises
``AssertionError`` if any claim failed, so the script exits with status 1, the
notebook's last cell fails, and the test suite goes red: the prose cannot
silently drift away from what the code measures.
"""

from __future__ import annotations

import argparse
import os
import sys

#: The repository's root folder (``ils-ref reproduce`` writes ``results/`` there by default).
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tutorials", "figures")


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    # parse_known_args: under Jupyter, sys.argv holds the kernel's own arguments (-f FILE)
    return parser.parse_known_args(sys.argv[1:])[0]


_ARGS = _options()
#: Small sizes (seconds): ``ILS_REF_QUICK=1`` or ``--quick``.
QUICK = _ARGS.quick or os.environ.get("ILS_REF_QUICK", "").lower() in ("1", "true", "yes")
#: Where figures are written: ``--out DIR``, ``ILS_REF_OUT`` or ``tutorials/figures``.
OUT = _ARGS.out or os.environ.get("ILS_REF_OUT") or DEFAULT_OUT
os.makedirs(OUT, exist_ok=True)


def in_notebook() -> bool:
    return "ipykernel" in sys.modules


def show_figure(fig, name: str) -> str:
    """Write ``fig`` to ``OUT/name`` (PNG); in a notebook also show it under the cell; then close it."""
    import matplotlib.pyplot as plt

    path = os.path.join(OUT, name)
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


class Claims:
    def __init__(self):
        self.results = []

    def check(self, text: str, ok) -> None:
        ok = bool(ok)
        self.results.append((text, ok))
        print(f"  [{'claim holds' if ok else 'CLAIM FAILED'}] {text}")

    def finish(self) -> None:
        failed = [t for t, ok in self.results if not ok]
        print(f"\n{len(self.results) - len(failed)} of {len(self.results)} claims hold")
        if failed:
            raise AssertionError("claims failed:\n" + "\n".join(failed))
