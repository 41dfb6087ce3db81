"""Writing result files atomically: a temporary file in the same folder, renamed into place.

An interrupted write (Ctrl-C, a full disk, a crash) leaves the previous file
intact instead of a truncated one: ``os.replace`` swaps the finished file in
as one step.  A symlink is written through to its target; directories and
special files (a FIFO, ``/dev/null``) are refused (:func:`output_file`).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import Callable


def output_file(path: str) -> str:
    """Where a result file at ``path`` is written: the file a symlink points to; ``OSError`` if not a file.

    A symlink is followed (the link stays, its target is replaced); an
    existing directory, FIFO, device or socket is refused, so that ``-o
    /dev/null`` never replaces the real ``/dev/null``.  Nothing is written.
    """
    real = os.path.realpath(path)
    if os.path.exists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        kind = "a directory" if os.path.isdir(real) else "not a regular file (a FIFO, device or socket)"
        raise OSError(errno.EINVAL, f"{path} is {kind}; give a file name")
    return real


def write_atomically(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp)`` with a temporary path beside ``path``, then rename it to ``path``.

    ``suffix`` is the temporary file's extension, for writers that choose a
    format by it (``savefig``) or append one (``numpy.savez``).  The file gets
    the permissions ``open()`` would give: an existing file's, else
    ``0o666`` less the umask (a temporary file is created ``0o600``).
    """
    real = output_file(path)
    folder = os.path.dirname(real)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else 0o666 & ~_umask())
        os.replace(tmp, real)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: set it straight back
    os.umask(mask)
    return mask


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
