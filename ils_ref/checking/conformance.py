"""Check another implementation against the reference vectors: per case a verdict, and for a failure a diagnosis.

``check(fn, op="ils_backward")`` calls ``fn`` on every case of ``op`` (the
signatures are listed in :mod:`ils_ref.vectors`) with NumPy arrays (float64;
``index`` as int64; a single-row case gets 0-d arrays) and Python scalars
for ``alpha``, ``temperature`` and ``hard``, converts what comes back
with ``numpy.asarray`` (so a CPU torch tensor or a JAX array works) and
compares it with the expected values: a case passes when every entry has
``|got - expected| <= atol + rtol·|expected|`` (the case's tolerance; ``rtol``
and ``atol`` override it, and a function that returns float32 gets
``rtol = 1e-4, atol = 1e-6``, float16 ``rtol = 1e-2, atol = 1e-4``, unless they are given).  ``policy="signed"``
checks ``ils_backward`` against the literal Algorithm 1 (``π_D`` unclipped),
skipping the cases where that ``π_D`` is undefined.  A failing case is
compared with a catalogue of known mistakes (:mod:`ils_ref.checking.diagnosis`)
and the one it matches is named.  A function that raises,
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
import os
import stat
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..formatting import text_table
from .diagnosis import diagnose
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
    if "expected_signed" in case and case["expected_signed"] is not None:
        if not isinstance(case["expected_signed"], dict) or "dlogits" not in case["expected_signed"]:
            return "expected_signed must be null or an object with dlogits"
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


#: The tolerance for an implementation that computes in float32 (unless rtol/atol are given).
FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-6}
#: ... and in float16 (its unit roundoff is 1e-3).
FLOAT16_TOL = {"rtol": 1e-2, "atol": 1e-4}
POLICIES = ("clip", "signed")


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
    dtype: str = "float64"
    detail: str = ""  # the worst entry, and for ILS the case's intermediates
    diagnosis: str = ""
    flag: str = ""  # a pass that rests on atol alone, with a large relative error


@dataclass(frozen=True)
class ConformanceReport:
    op: str
    results: tuple
    vectors_version: int
    sha256: str
    policy: str = "clip"
    skipped: tuple = ()  # case ids with no expected value under this policy

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.results)

    def __str__(self) -> str:
        return self.render()

    def render(self, verbose: bool = False) -> str:
        """The report: one line per case; details under failing cases (under every case if ``verbose``)."""
        policy = f", policy {self.policy}" if self.op == "ils_backward" else ""
        lines = [f"op {self.op}{policy}: {len(self.results)} cases (vectors v{self.vectors_version}, sha256 {self.sha256[:12]})"]
        table = [("case", "verdict", "max abs err", "max rel err", "tolerance", "note")]
        for r in self.results:
            verdict = "pass" if r.ok else "FAIL"
            tol = f"{r.atol:g} + {r.rtol:g}*|e|" + (f" ({r.dtype})" if r.dtype != "float64" else "")
            note = r.error or r.flag or r.note
            table.append((r.id, verdict, f"{r.max_abs_error:.2e}", f"{r.max_rel_error:.2e}", tol, note))
        lines.append(text_table(table, indent=2, align="llrrrl"))
        for r in self.results:
            if (verbose or not r.ok) and (r.detail or r.diagnosis):
                lines.append(f"  {r.id}: " + "; ".join(x for x in (r.diagnosis, r.detail) if x))
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} cases where the signed pi_D is undefined: {', '.join(self.skipped)}")
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}: {len(self.results) - self.n_failed} of {len(self.results)} cases agree with ils_ref")
        return "\n".join(lines)


def cases_for(doc: dict, op: str, policy: str = "clip") -> tuple[list, list]:
    """``(cases to run, ids skipped)``: under ``policy="signed"`` the ILS cases expect ``expected_signed``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    cases = [c for c in doc["cases"] if c.get("op") == op]
    if not cases:
        raise ValueError(f"the vectors hold no case of op {op!r}")
    if policy == "clip" or op != "ils_backward":
        return cases, []
    if not all("expected_signed" in c for c in cases):
        raise ValueError("these vectors have no expected values for policy 'signed' (version 2 or later has)")
    run = [{**c, "expected": c["expected_signed"]} for c in cases if c["expected_signed"] is not None]
    return run, [c["id"] for c in cases if c["expected_signed"] is None]


def _ils_detail(inputs: dict, row: tuple, policy: str) -> str:
    """Δ, z - αΔ and π_D of one row of an ILS case (what the reference computed there)."""
    from ..estimators.ils import ils_cache, ils_step

    step = ils_step(np.asarray(inputs["dz"], dtype=np.float64), ils_cache(inputs["logits"], inputs["index"]),
                    float(inputs["alpha"]), policy=policy)
    show = lambda a: np.array2string(np.asarray(a)[row], precision=4, suppress_small=True)  # noqa: E731
    return f"reference in row {row}: Delta = {show(step.delta)}, z - alpha*Delta = {show(step.w)}, pi_D = {show(step.pi_d)}"


def to_numpy(value):
    """What a framework returned, as a NumPy array, by duck typing (no framework is imported).

    A torch tensor leaves its graph (``detach``) and its device (``cpu``)
    first; torch and TensorFlow eager tensors then give ``.numpy()``; JAX
    arrays, lists and scalars go through ``numpy.asarray``; anything else that
    speaks DLPack through ``numpy.from_dlpack``.
    """
    if isinstance(value, np.ndarray):
        return value
    for step in ("detach", "cpu"):
        if callable(getattr(value, step, None)):
            value = getattr(value, step)()
    if callable(getattr(value, "numpy", None)):
        try:
            return np.asarray(value.numpy())
        except Exception:  # e.g. a dtype NumPy lacks (bfloat16): fall through to the generic routes
            pass
    try:
        return np.asarray(value)
    except Exception:
        if hasattr(value, "__dlpack__"):
            return np.from_dlpack(value)
        raise


FRAMEWORKS = ("numpy", "torch", "jax")


def as_framework(arr: np.ndarray, framework: str):
    """An input array handed to the function under test as ``numpy`` (as is), a ``torch`` tensor or a ``jax`` array."""
    if framework == "torch":
        import torch

        return torch.from_numpy(np.array(arr, order="C"))  # a copy; np.ascontiguousarray would make 0-d 1-d
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(arr)
    return arr


def run_case(fn, op, case, *, policy: str = "clip", rtol=None, atol=None, framework: str = "numpy") -> CaseResult:
    """Call ``fn`` on one case and compare; never raises because of ``fn``."""
    arg_names, out_names = SIGNATURES[op]
    inputs = case["inputs"]
    args = []
    for name in arg_names:
        value = inputs[name]
        if name in _SCALARS:
            args.append(value)
        else:  # always an ndarray, even when the case holds a single row (a 0-d index, say)
            args.append(as_framework(np.asarray(value, dtype=np.int64 if name == "index" else np.float64), framework))
    given = rtol is not None or atol is not None
    tol = {"rtol": case["rtol"] if rtol is None else rtol, "atol": case["atol"] if atol is None else atol}
    base = dict(id=case["id"], note=case.get("note", ""))
    nan = float("nan")

    def failed(error):
        return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=error[:120], **tol, **base)

    try:
        got = fn(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # it raised, or called sys.exit: this case fails, the run goes on
        return failed(f"raised {type(exc).__name__}: {exc}")
    if len(out_names) > 1:
        if not isinstance(got, (tuple, list)) or len(got) != len(out_names):
            return failed(f"must return {len(out_names)} values {out_names}")
    else:
        got = (got,)
    arrays = []
    for name, value in zip(out_names, got):
        expected = np.asarray(case["expected"][name], dtype=np.float64)
        try:
            arr = to_numpy(value)
            if arr.dtype.kind not in "iuf":  # numeric strings, booleans, objects: not an answer
                raise TypeError(f"dtype {arr.dtype}")
        except Exception as exc:
            return failed(f"{name}: not numeric ({exc})")
        if arr.shape != expected.shape:
            return failed(f"{name}: shape {arr.shape}, expected {expected.shape}")
        arrays.append((name, arr, expected))
    low = [a.dtype for _, a, _ in arrays if a.dtype.kind == "f" and a.dtype.itemsize < 8]
    dtype = str(min(low, key=lambda d: d.itemsize)) if low else "float64"  # the least precise it returned
    if low and not given:
        tol = dict(FLOAT16_TOL if dtype == "float16" else FLOAT32_TOL)
    worst_abs, worst_rel, ok, detail, flag, diagnosis = 0.0, 0.0, True, "", "", ""
    for name, arr, expected in arrays:
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            return failed(f"{name}: contains NaN or inf")
        err = np.abs(arr - expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(err == 0, 0.0, err / np.abs(expected))
        worst_abs = max(worst_abs, float(err.max(initial=0.0)))
        worst_rel = max(worst_rel, float(rel.max(initial=0.0)))
        bad = err > tol["atol"] + tol["rtol"] * np.abs(expected)
        atol_only = (err > tol["rtol"] * np.abs(expected)) & ~bad & (rel > 1e-3)
        if atol_only.any() and not flag:
            at = tuple(int(i) for i in np.argwhere(atol_only)[0])
            flag = f"passes on atol only at {name}{list(at)} (relative error {float(rel[at]):.1e})"
        with np.errstate(divide="ignore", invalid="ignore"):  # zero tolerance (exact ops): any error is infinite
            ratio = np.where(err == 0, 0.0, err / (tol["atol"] + tol["rtol"] * np.abs(expected)))  # > 1 fails
        if err.size and (bad.any() or (ok and not detail)):  # the worst entry: of the first failing output, else overall
            at = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), err.shape))
            detail = f"worst {name}{list(at)}: expected {float(expected[at]):.9g}, got {float(arr[at]):.9g}"
            if op == "ils_backward" and err.ndim:
                detail += "; " + _ils_detail(inputs, at[:-1], policy)
        if bad.any() and ok:
            ok = False
            diagnosis = diagnose(op, inputs, expected, arr, policy)
    return CaseResult(ok=ok, max_abs_error=worst_abs, max_rel_error=worst_rel, dtype=dtype, detail=detail,
                      diagnosis=diagnosis, flag=flag, **tol, **base)


def check(fn, op: str = "ils_backward", vectors=None, *, policy: str = "clip", rtol=None, atol=None) -> ConformanceReport:
    """Run ``fn`` on every case of ``op`` in this process; ``vectors`` is a path or a loaded document (default: shipped).

    ``policy`` (``"clip"`` or ``"signed"``) chooses the expected values of
    ``ils_backward``; ``rtol``/``atol`` override every case's tolerance.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    rtol, atol = _tolerances(rtol, atol)
    doc = vectors if isinstance(vectors, dict) else load_vectors(vectors)
    cases, skipped = cases_for(doc, op, policy)
    results = tuple(run_case(fn, op, c, policy=policy, rtol=rtol, atol=atol) for c in cases)
    return ConformanceReport(op=op, results=results, vectors_version=doc.get("version"), sha256=doc.get("sha256", ""),
                             policy=policy, skipped=tuple(skipped))


def _tolerances(rtol, atol):
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return rtol, atol
