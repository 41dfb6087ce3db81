"""Running code under test in a child process, with the verdict computed here: ``ils-ref check`` without trusting it.

:class:`Child` imports ``MODULE:FUNCTION`` in a spawned interpreter
(:func:`ils_ref.checking.runner.serve`) and sends it one job at a time: a
case's inputs, or a setting to sample.  The child answers with plain arrays
or an error, in a format the parent parses without unpickling
(:mod:`ils_ref.checking.wire`); expected values never leave this process, and
the comparison, diagnosis and exit status are computed here.  So a module
that patches ``ils_ref`` or NumPy when it is imported, or looks for expected
values in its callers' frames, changes only what it returns.

Every job, and the import, has ``timeout`` seconds.  A job that takes longer,
or during which the child ends (``os._exit``, a crash, a signal), fails, and
the jobs after it are not run.  What the checked code prints goes to a file,
shown by the report on request, never mixed into the verdict.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
import tempfile

from .conformance import (
    DEFAULT_TIMEOUT,
    CaseResult,
    ConformanceReport,
    _tolerances,
    cases_for,
    judge,
)
from .runner import FRAMEWORKS, parse_spec
from .vectors import OPS, load_vectors
from .wire import MAX_MESSAGE_BYTES, WireError, unpack


class CheckedCodeError(Exception):
    """The code under test ended the process, hung, or exited while being imported."""


class JobFailed(Exception):
    """A job did not come back: the child timed out, ended, or sent something unreadable (the message says which)."""


#: Seconds allowed for the child interpreter to start and import ils_ref (NumPy, SciPy) before the
#: code under test is touched.  This is our start-up, not the checked code's, so ``timeout`` does not
#: apply to it: on a loaded machine it alone can take several seconds.
STARTUP_LIMIT = 120.0
#: At most this much of what the checked code printed is kept for the report.
MAX_OUTPUT_BYTES = 64 * 1024


def check_timeout(timeout) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_framework(framework: str) -> str:
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    if framework != "numpy" and importlib.util.find_spec(framework) is None:
        raise ValueError(f"--as {framework} needs {framework} installed (pip install '.[{framework}]')")
    return framework


class Child:
    """``MODULE:FUNCTION`` imported in a child process; :meth:`ask` runs one job there.

    Use as a context manager.  Entering raises ``ValueError`` when the module
    cannot be imported (with where it was looked for) and
    :class:`CheckedCodeError` when importing it exits, ends the process or
    takes longer than ``timeout``.  ``parameters`` are the function's
    parameter names (``None`` if Python cannot tell).
    """

    def __init__(self, spec: str, timeout: float = DEFAULT_TIMEOUT):
        parse_spec(spec)
        self.spec, self.timeout = spec, check_timeout(timeout)
        self.parameters = None
        self.dead: str | None = None  # why no further job can run
        self._jobs = 0

    def __enter__(self):
        fd, self._output = tempfile.mkstemp(prefix="ils-ref-check-", suffix=".txt")
        os.close(fd)
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process is shared
        self._conn, child_end = ctx.Pipe(duplex=True)
        from .runner import serve

        self._proc = ctx.Process(target=serve, args=(child_end, self.spec, os.getcwd(), self._output), daemon=True)
        self._proc.start()
        child_end.close()
        try:
            kind, info, _ = self._receive(max(self.timeout, STARTUP_LIMIT))
            if kind != "started":
                raise RuntimeError(f"the checking process did not start ({kind}: {info})")
            kind, info, _ = self._receive(self.timeout)
            if kind == "import-error":
                raise ValueError(str(info.get("message", "cannot import"))[:2000])
            if kind != "imported":
                what = {"import-exit": f"raised {str(info.get('message'))[:200]}", "timeout": f"took longer than {self.timeout:g} s",
                        "ended": f"ended the process (exit code {info.get('code')})"}.get(kind, "sent an unreadable message")
                raise CheckedCodeError(f"importing {self.spec} {what}")
            names = info.get("parameters")
            self.parameters = names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self._proc.is_alive() and self.dead is None:
                self._conn.send(None)
                self._proc.join(1)
        except (OSError, ValueError):
            pass
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)
        self._conn.close()
        return False

    def output(self) -> str:
        """What the checked code printed (stdout and stderr), at most :data:`MAX_OUTPUT_BYTES`."""
        try:
            with open(self._output, "rb") as fh:
                text = fh.read(MAX_OUTPUT_BYTES).decode(errors="replace")
            os.unlink(self._output)
        except OSError:
            return ""
        return text

    def _receive(self, timeout: float):
        """The child's next message; ``("timeout", {}, [])`` or ``("ended", {"code": ...}, [])`` if none comes."""
        if not self._conn.poll(timeout):
            return "timeout", {}, []
        try:
            data = self._conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, OSError):  # the child is gone without a word (os._exit, a crash, a signal), or sent too much
            self._proc.join(5)
            return "ended", {"code": self._proc.exitcode}, []
        try:
            return unpack(data)
        except WireError as exc:
            return "unreadable", {"message": str(exc)}, []

    def ask(self, job: dict) -> tuple[list, str | None]:
        """``(arrays, error)`` of one job (``error`` is the checked code's failure); :class:`JobFailed` if it did not come back."""
        if self.dead:
            raise JobFailed(f"not run ({self.dead})")
        self._jobs += 1
        job = {**job, "id": self._jobs}
        self._conn.send(job)
        kind, info, arrays = self._receive(self.timeout)
        if kind == "result" and info.get("job") == job["id"]:
            error = info.get("error")
            return arrays, (str(error)[:2000] if error is not None else None)
        why = {"timeout": f"timed out after {self.timeout:g} s",
               "ended": f"ended the process (exit code {info.get('code')})"}.get(kind, "sent a message the checker cannot read")
        self.dead = f"an earlier job {why}"
        if self._proc.is_alive():
            self._proc.kill()
        raise JobFailed(why)

    def draw(self, op: str, problem, n: int, seed, options: dict):
        """:func:`ils_ref.checking.runner.draw` run in the child: ``(estimates, None)`` or ``(None, why)``; never raises."""
        try:
            arrays, error = self.ask({"kind": "draw", "op": op, "problem": problem, "n": n, "seed": seed, "options": options})
        except JobFailed as exc:
            return None, str(exc)
        if error is None and len(arrays) != 1:
            error = "sent no estimates"
        return (arrays[0] if error is None else None), error


def check_isolated(spec: str, op: str = "ils_backward", vectors=None, timeout: float = DEFAULT_TIMEOUT, *,
                   policy: str = "clip", rtol=None, atol=None, framework: str = "numpy") -> ConformanceReport:
    """:func:`ils_ref.checking.conformance.check` for ``MODULE:FUNCTION``, imported and run in a child process.

    Only each case's inputs go to the child; the comparison with the expected
    values happens here.  Importing the module, and every case, must each
    finish within ``timeout`` seconds (the child's own start-up is not
    counted: see :data:`STARTUP_LIMIT`).  Raises ``ValueError`` for a bad
    ``spec``, ``op``, ``timeout`` or vectors file, and :class:`CheckedCodeError`
    when importing the module exits, ends the process or takes too long.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    timeout, framework = check_timeout(timeout), check_framework(framework)
    rtol, atol = _tolerances(rtol, atol)
    parse_spec(spec)
    doc = vectors if isinstance(vectors, dict) else load_vectors(vectors)
    cases, skipped = cases_for(doc, op, policy)
    results = []
    with Child(spec, timeout) as child:
        for case in cases:
            try:
                arrays, error = child.ask({"kind": "call", "op": op, "inputs": case["inputs"],
                                           "layout": case.get("layout", "C"), "framework": framework})
            except JobFailed as exc:
                arrays, error = [], str(exc)
            results.append(judge(op, case, arrays, error, policy=policy, rtol=rtol, atol=atol))
        output = child.output()
    return ConformanceReport(op=op, results=tuple(results), vectors_version=doc.get("version"),
                             sha256=doc.get("sha256", ""), policy=policy, skipped=tuple(skipped),
                             parameters=child.parameters, output=output)


__all__ = ["Child", "CheckedCodeError", "JobFailed", "CaseResult", "check_isolated"]
