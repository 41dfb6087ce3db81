"""Writing result files atomically: a temporary file in the same folder, renamed into place.

An interrupted write (Ctrl-C, a full disk, a crash) leaves the previous file
intact instead of a truncated one: ``os.replace`` swaps the finished file in
as one step.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable


def write_atomically(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp)`` with a temporary path beside ``path``, then rename it to ``path``.

    ``suffix`` is the temporary file's extension, for writers that choose a
    format by it (``savefig``) or append one (``numpy.savez``).
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text_atomically(path: str, text: str) -> None:
    """:func:`write_atomically` for a text file (UTF-8)."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    write_atomically(path, write)


def check_writable_folder(folder: str, create: bool = True) -> None:
    """Prove that a file can be written in ``folder`` (created first if ``create``); ``OSError`` otherwise."""
    if create:
        os.makedirs(folder, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
    os.close(fd)
    os.remove(probe)
