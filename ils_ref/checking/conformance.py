"""Check another implementation against the reference vectors.

``check(fn, op="ils_backward")`` calls ``fn`` on every case of ``op`` (the
signatures are listed in :mod:`ils_ref.vectors`) with NumPy arrays (float64;
``index`` as int64; a single-row case gets 0-d arrays) and Python scalars
for ``alpha``, ``temperature`` and ``hard``, converts what comes back
with ``numpy.asarray`` (so a CPU torch tensor or a JAX array works) and
compares it with the expected values: a case passes when every entry has
``|got - expected| <= atol + rtol·|expected|``.  A function that raises,
returns the wrong shape, or NaN is reported for that case; it never stops
the run.  A function that calls ``sys.exit`` fails its case like one that
raises.

:func:`check_isolated` (what ``ils-ref check`` runs) imports and runs the
function in a child process with a time limit per case, so that a function
that hangs, or ends the process with ``os._exit``, is reported as failing
instead of stopping (or passing) the check.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import stat
import sys
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..formatting import text_table
from .vectors import FORMAT, OPS, content_hash

#: How the inputs of each op are passed, in order, and the names of its outputs.
SIGNATURES = {
    "ils_backward": (("logits", "index", "dz", "alpha"), ("dlogits",)),
    "ils_backward_prototype": (("logits", "index", "dz", "alpha"), ("dlogits",)),
    "gumbel_softmax": (("logits", "u", "temperature", "hard", "dy"), ("y", "dlogits")),
    "sample_categorical": (("probs", "u"), ("index",)),
    "softmax_backward": (("dy", "y"), ("dx",)),
    "kl_divergence_backward": (("dout", "p", "q"), ("dp", "dq")),
    "normalize_backward": (("dy", "z"), ("dz",)),
}


#: Inputs passed as Python scalars; every other input is passed as a NumPy array.
_SCALARS = ("alpha", "temperature", "hard")


#: A vectors file larger than this is refused before it is read (the shipped one is ~60 kB).
MAX_VECTORS_BYTES = 16 * 1024 * 1024
#: Seconds ``ils-ref check`` allows for importing the function and for each case.
DEFAULT_TIMEOUT = 60.0


def load_vectors(path=None) -> dict:
    """The vector document: from ``path``, or the copy shipped with the package.

    A file is read only if it is a regular file of at most ``MAX_VECTORS_BYTES``
    (not a FIFO, a device or a folder); its cases must have the fields and
    value types of :func:`ils_ref.checking.vectors.generate` and tolerances in
    ``[0, 1]``.  Anything else is a ``ValueError`` naming the file.
    """
    if path is None:
        text = resources.files("ils_ref").joinpath("data/vectors.json").read_text(encoding="utf-8")
        source = "the vectors shipped with ils_ref"
    else:
        source = str(path)
        try:
            info = os.stat(path)  # stat, not open: opening a FIFO would block
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"vectors file {source} is not a regular file")
            if info.st_size > MAX_VECTORS_BYTES:
                raise ValueError(f"vectors file {source} has {info.st_size} bytes; at most {MAX_VECTORS_BYTES} are read")
            with open(path, encoding="utf-8") as fh:
                text = fh.read(MAX_VECTORS_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read vectors file {source}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValueError(f"vectors file {source} is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{source} is not valid JSON: {type(exc).__name__}: {str(exc)[:80]}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("cases"), list):
        raise ValueError(f"{source} is not an {FORMAT} document")
    if doc.get("sha256") != content_hash(doc):
        raise ValueError(f"{source}: the cases do not match the recorded sha256 (file edited or truncated)")
    for i, case in enumerate(doc["cases"]):
        problem = _case_problem(case)
        if problem:
            raise ValueError(f"{source}: case {i} is malformed: {problem}")
    return doc


def _case_problem(case) -> str | None:
    """What is wrong with one case of a vectors document, or None."""
    if not isinstance(case, dict):
        return "not an object"
    for key, kind in (("id", str), ("op", str), ("inputs", dict), ("expected", dict)):
        if not isinstance(case.get(key), kind):
            return f"{key} missing or not a {kind.__name__}"
    if case["op"] not in SIGNATURES:
        return f"unknown op {case['op']!r}"
    for key in ("rtol", "atol"):
        value = case.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 1):
            return f"{key} must be a number in [0, 1], got {value!r:.40}"
    inputs, outputs = SIGNATURES[case["op"]]
    for group, names in (("inputs", inputs), ("expected", outputs)):
        for name in names:
            if name not in case[group]:
                return f"{group} lacks {name!r}"
            value = case[group][name]
            if name in _SCALARS:
                if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
                    return f"{group}.{name} must be a finite number"
                continue
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                return f"{group}.{name} is not an array of numbers ({type(exc).__name__})"
            if arr.size > MAX_VECTORS_BYTES // 8:
                return f"{group}.{name} is too large"
    return None


@dataclass(frozen=True)
class CaseResult:
    id: str
    ok: bool
    max_abs_error: float
    max_rel_error: float
    rtol: float
    atol: float
    note: str
    error: str | None = None


@dataclass(frozen=True)
class ConformanceReport:
    op: str
    results: tuple
    vectors_version: int
    sha256: str

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.results)

    def __str__(self) -> str:
        lines = [f"op {self.op}: {len(self.results)} cases (vectors v{self.vectors_version}, sha256 {self.sha256[:12]})"]
        failed = [r for r in self.results if not r.ok]
        shown = sorted(failed, key=lambda r: -(r.max_rel_error if np.isfinite(r.max_rel_error) else np.inf))[:8]
        if not failed:
            worst = max(self.results, key=lambda r: r.max_abs_error, default=None)
            if worst is not None:
                shown = [worst]
        if shown:
            table = [("case", "max abs err", "max rel err", "tolerance", "detail")]
            for r in shown:
                detail = r.error or ("FAIL" if not r.ok else "worst passing case")
                detail += f" ({r.note})" if r.note else ""
                tol = f"{r.atol:g} + {r.rtol:g}*|e|"
                table.append((r.id, f"{r.max_abs_error:.2e}", f"{r.max_rel_error:.2e}", tol, detail))
            lines.append(text_table(table, indent=2, align="lrrrl"))
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}: {len(self.results) - self.n_failed} of {len(self.results)} cases agree with ils_ref")
        return "\n".join(lines)


def _run_case(fn, op, case) -> CaseResult:
    arg_names, out_names = SIGNATURES[op]
    inputs = case["inputs"]
    args = []
    for name in arg_names:
        value = inputs[name]
        if name in _SCALARS:
            args.append(value)
        else:  # always an ndarray, even when the case holds a single row (a 0-d index, say)
            args.append(np.asarray(value, dtype=np.int64 if name == "index" else np.float64))
    base = dict(id=case["id"], rtol=case["rtol"], atol=case["atol"], note=case.get("note", ""))
    nan = float("nan")
    try:
        got = fn(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # it raised, or called sys.exit: this case fails, the run goes on
        return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=f"raised {type(exc).__name__}: {exc}"[:120], **base)
    if len(out_names) > 1:
        if not isinstance(got, (tuple, list)) or len(got) != len(out_names):
            return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=f"must return {len(out_names)} values {out_names}", **base)
    else:
        got = (got,)
    worst_abs, worst_rel, ok = 0.0, 0.0, True
    for name, value in zip(out_names, got):
        expected = np.asarray(case["expected"][name], dtype=np.float64)
        try:
            arr = np.asarray(value)
            if arr.dtype.kind not in "iuf":  # numeric strings, booleans, objects: not an answer
                raise TypeError(f"dtype {arr.dtype}")
            arr = arr.astype(np.float64)
        except Exception as exc:
            return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=f"{name}: not numeric ({exc})"[:120], **base)
        if arr.shape != expected.shape:
            return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=f"{name}: shape {arr.shape}, expected {expected.shape}", **base)
        if not np.all(np.isfinite(arr)):
            return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=f"{name}: contains NaN or inf", **base)
        err = np.abs(arr - expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(err == 0, 0.0, err / np.abs(expected))
        worst_abs = max(worst_abs, float(err.max(initial=0.0)))
        worst_rel = max(worst_rel, float(rel.max(initial=0.0)))
        ok &= bool(np.all(err <= case["atol"] + case["rtol"] * np.abs(expected)))
    return CaseResult(ok=ok, max_abs_error=worst_abs, max_rel_error=worst_rel, **base)


def check(fn, op: str = "ils_backward", vectors=None) -> ConformanceReport:
    """Run ``fn`` on every case of ``op``; ``vectors`` is a path or a loaded document (default: shipped)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    doc = vectors if isinstance(vectors, dict) else load_vectors(vectors)
    cases = [c for c in doc["cases"] if c.get("op") == op]
    if not cases:
        raise ValueError(f"the vectors hold no case of op {op!r}")
    results = tuple(_run_case(fn, op, c) for c in cases)
    return ConformanceReport(op=op, results=results, vectors_version=doc.get("version"), sha256=doc.get("sha256", ""))


# --------------------------------------------------------------------------
# Running the function under test in a child process


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


def _child(conn, spec: str, op: str, cases: list, cwd: str) -> None:
    """In the child process: import the function, run every case, send each result."""
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
        conn.send(("case", _run_case(fn, op, case)))


def _receive(conn, proc, timeout: float):
    """The child's next message, or ``("timeout", None)``, or ``("ended", exit code)``."""
    if not conn.poll(timeout):
        return "timeout", None
    try:
        return conn.recv()
    except EOFError:  # the child is gone without a word: os._exit, a crash, a signal
        proc.join(5)
        return "ended", proc.exitcode


def check_isolated(spec: str, op: str = "ils_backward", vectors=None, timeout: float = DEFAULT_TIMEOUT) -> ConformanceReport:
    """:func:`check` for ``MODULE:FUNCTION``, imported and run in a child process.

    Importing, and every case, must each finish within ``timeout`` seconds.
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
    doc = vectors if isinstance(vectors, dict) else load_vectors(vectors)
    cases = [c for c in doc["cases"] if c.get("op") == op]
    if not cases:
        raise ValueError(f"the vectors hold no case of op {op!r}")
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {spec!r}")
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process is shared
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, spec, op, cases, os.getcwd()), daemon=True)
    proc.start()
    sender.close()
    results = []
    try:
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
    return ConformanceReport(op=op, results=tuple(results), vectors_version=doc.get("version"), sha256=doc.get("sha256", ""))
