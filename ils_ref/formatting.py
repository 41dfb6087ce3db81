"""Text tables and JSON conversion, one of each for the whole package.

:func:`text_table` lays out rows of strings in aligned columns (reports,
``ils-ref compare``, ``ils-ref reproduce``, ``ils-ref check``);
:func:`jsonable` turns NumPy values into what :mod:`json` writes.
"""

from __future__ import annotations

import math

import numpy as np


def text_table(rows, *, indent: int = 0, align: str = "", rule: bool = False) -> str:
    """Rows of strings (the first one the header) in aligned columns.

    ``align`` gives one letter per column, ``"l"`` or ``"r"``; by default
    the first column is left-aligned and the others right-aligned.  ``rule``
    puts a line of dashes under the header.
    """
    rows = [tuple(str(c) for c in r) for r in rows]
    if not rows:
        return ""
    ncol = max(len(r) for r in rows)
    rows = [r + ("",) * (ncol - len(r)) for r in rows]
    align = align or "l" + "r" * (ncol - 1)
    widths = [max(len(r[k]) for r in rows) for k in range(ncol)]
    lines = [
        " " * indent + "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()
        for r in rows
    ]
    if rule:
        lines.insert(1, " " * indent + "-" * (sum(widths) + 2 * (ncol - 1)))
    return "\n".join(lines)


def jsonable(value, *, finite_only: bool = True):
    """``value`` with NumPy arrays and scalars turned into lists and Python numbers.

    With ``finite_only`` (the default) ``inf`` and NaN become ``None``: JSON
    has no such numbers, and ``json.dumps(..., allow_nan=False)`` then holds.
    """
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), finite_only=finite_only)
    if isinstance(value, dict):
        return {k: jsonable(v, finite_only=finite_only) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, finite_only=finite_only) for v in value]
    if isinstance(value, (np.bool_, np.integer)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) or not finite_only else None
    return value
