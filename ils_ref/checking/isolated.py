"""Running an outside implementation in a child process: ``ils-ref check`` without trusting the code.

:func:`check_isolated` imports ``MODULE:FUNCTION`` in a spawned interpreter and
runs the cases of :mod:`ils_ref.checking.conformance` there, one message per
case, with a time limit for the import and for every case.  A function that
hangs, calls ``os._exit`` or crashes the interpreter fails the case it was
running (the cases after it are reported as not run) instead of stopping, or
passing, the check.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
import sys

from .conformance import DEFAULT_TIMEOUT, FRAMEWORKS, OPS, CaseResult, ConformanceReport, _tolerances, cases_for, load_vectors, run_case

class CheckedCodeError(Exception):
    """The code under test ended the process, hung, or exited while being imported."""


def import_target(spec: str):
    """The callable named by ``MODULE:FUNCTION`` (``ValueError`` if it cannot be imported or found).

    Modules in the current folder can be named, as with ``python -m``.
    """
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module itself failing on import
        raise ValueError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


#: Seconds allowed for the child interpreter to start and import ils_ref (NumPy, SciPy) before the
#: code under test is touched.  This is our start-up, not the checked code's, so ``timeout`` does not
#: apply to it: on a loaded machine it alone can take several seconds.
STARTUP_LIMIT = 120.0


def _child(conn, spec: str, op: str, cases: list, cwd: str, options: dict) -> None:
    """In the child process: import the function, run every case, send each result."""
    conn.send(("started", None))
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    try:
        fn = import_target(spec)
    except ValueError as exc:
        conn.send(("import-error", str(exc)))
        return
    except BaseException as exc:  # sys.exit() at import time
        conn.send(("import-exit", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("imported", None))
    for case in cases:
        conn.send(("case", run_case(fn, op, case, **options)))


def _receive(conn, proc, timeout: float):
    """The child's next message, or ``("timeout", None)``, or ``("ended", exit code)``."""
    if not conn.poll(timeout):
        return "timeout", None
    try:
        return conn.recv()
    except EOFError:  # the child is gone without a word: os._exit, a crash, a signal
        proc.join(5)
        return "ended", proc.exitcode


def check_isolated(spec: str, op: str = "ils_backward", vectors=None, timeout: float = DEFAULT_TIMEOUT, *,
                   policy: str = "clip", rtol=None, atol=None, framework: str = "numpy") -> ConformanceReport:
    """:func:`ils_ref.checking.conformance.check` for ``MODULE:FUNCTION``, imported and run in a child process.

    Importing the module, and every case, must each finish within ``timeout``
    seconds (the child's own start-up, before the module is imported, is not
    counted: see :data:`STARTUP_LIMIT`).
    A case that takes longer, or during which the process ends (``os._exit``,
    a crash), fails, and the cases after it are reported as not run.  Raises
    ``ValueError`` for a bad ``spec``, ``op``, ``timeout`` or vectors file, and
    :class:`CheckedCodeError` when importing the module exits, ends the
    process or takes longer than ``timeout``.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    rtol, atol = _tolerances(rtol, atol)
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    if framework != "numpy" and importlib.util.find_spec(framework) is None:
        raise ValueError(f"--as {framework} needs {framework} installed (pip install '.[{framework}]')")
    doc = vectors if isinstance(vectors, dict) else load_vectors(vectors)
    cases, skipped = cases_for(doc, op, policy)
    options = {"policy": policy, "rtol": rtol, "atol": atol, "framework": framework}
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {spec!r}")
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process is shared
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, spec, op, cases, os.getcwd(), options), daemon=True)
    proc.start()
    sender.close()
    results = []
    try:
        kind, payload = _receive(receiver, proc, max(timeout, STARTUP_LIMIT))
        if kind != "started":
            raise RuntimeError(f"the checking process did not start ({kind}: {payload})")
        kind, payload = _receive(receiver, proc, timeout)
        if kind == "import-error":
            raise ValueError(payload)
        if kind != "imported":
            what = {"import-exit": f"raised {payload}", "timeout": f"took longer than {timeout:g} s",
                    "ended": f"ended the process (exit code {payload})"}[kind]
            raise CheckedCodeError(f"importing {spec} {what}")
        for i, case in enumerate(cases):
            kind, payload = _receive(receiver, proc, timeout)
            if kind == "case":
                results.append(payload)
                continue
            why = f"timed out after {timeout:g} s" if kind == "timeout" else f"ended the process (exit code {payload})"
            nan = float("nan")
            results.append(CaseResult(id=case["id"], ok=False, max_abs_error=nan, max_rel_error=nan, rtol=case["rtol"],
                                      atol=case["atol"], note=case.get("note", ""), error=why))
            results += [CaseResult(id=c["id"], ok=False, max_abs_error=nan, max_rel_error=nan, rtol=c["rtol"],
                                   atol=c["atol"], note=c.get("note", ""), error="not run (an earlier case " + why + ")")
                        for c in cases[i + 1:]]
            break
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        receiver.close()
    return ConformanceReport(op=op, results=tuple(results), vectors_version=doc.get("version"),
                             sha256=doc.get("sha256", ""), policy=policy, skipped=tuple(skipped))
