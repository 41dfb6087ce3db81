"""Scaffolding shared by the tutorials: the command line and checked claims.

Every sentence of a tutorial that states a result rests on a *claim*: a
number the script computes and prints, with the condition the prose relies
on.  ``Claims.check`` prints it; if the condition fails, the script exits
with status 1 and the test suite goes red, so the prose cannot silently
drift away from what the code measures.
"""

from __future__ import annotations

import argparse
import os

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")


def parse(argv, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds (what the tests run)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"folder for figures (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def save_figure(fig, out: str, name: str) -> str:
    """Write ``fig`` to ``out/name`` (PNG), close it, and say where it went."""
    import matplotlib.pyplot as plt

    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path


class Claims:
    def __init__(self):
        self.results = []

    def check(self, text: str, ok) -> None:
        ok = bool(ok)
        self.results.append((text, ok))
        print(f"  [{'claim holds' if ok else 'CLAIM FAILED'}] {text}")

    def finish(self) -> int:
        failed = [t for t, ok in self.results if not ok]
        print(f"\n{len(self.results) - len(failed)} of {len(self.results)} claims hold")
        return 1 if failed else 0
