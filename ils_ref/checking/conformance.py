"""Judge another implementation against the reference vectors: per case a verdict, and for a failure a diagnosis.

``check(fn, op="ils_backward")`` calls ``fn`` on every case of ``op`` in this
process (the signatures are :data:`ils_ref.checking.signatures.SIGNATURES`)
with NumPy arrays (float64; ``index`` as int64; a single-row case gets 0-d
arrays) and Python scalars for ``temperature`` and ``hard`` (and for
``alpha`` where the case has one step for every row), converts what comes
back with :func:`ils_ref.checking.runner.to_numpy` (so a CPU torch tensor or
a JAX array works) and :func:`judge` compares it with the expected values: a
case passes when every entry has ``|got - expected| <= atol + rtol·|expected|``
(the case's tolerance; ``rtol`` and ``atol`` override it, and a function that
returns float32 gets ``rtol = 1e-4, atol = 1e-6``, float16 ``rtol = 1e-2,
atol = 1e-4``, unless they are given).  ``policy="signed"`` checks
``ils_backward`` against the literal Algorithm 1 (``π_D`` unclipped),
skipping the cases where that ``π_D`` is undefined.  A failing case is
compared with a catalogue of known mistakes (:mod:`ils_ref.checking.diagnosis`)
and the one it matches is named.  A function that raises, returns the wrong
shape, or NaN is reported for that case; it never stops the run.

:func:`ils_ref.checking.isolated.check_isolated` (what ``ils-ref check`` runs)
runs the function in a child process that never sees an expected value, and
judges what it returns here, with :func:`judge`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..formatting import text_table
from .diagnosis import diagnose
from .runner import call, parameters
from .signatures import SIGNATURES, STATISTICAL
from .vectors import OPS, load_vectors

#: Seconds ``ils-ref check`` allows for importing the function and for each case.
DEFAULT_TIMEOUT = 60.0


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
    parameters: list | None = None  # the checked function's parameter names, where known
    output: str = ""  # what the checked code printed (isolated runs)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def verdict(self) -> str:
        """``"pass"`` or ``"fail"`` (a deterministic comparison is never inconclusive)."""
        return "pass" if self.ok else "fail"

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.results)

    def __str__(self) -> str:
        return self.render()

    def hints(self) -> list[str]:
        """When every case raised: the signature ils-ref calls, and what the function's own parameters suggest."""
        if not self.results or not all((r.error or "").startswith("raised ") for r in self.results):
            return []
        sig = SIGNATURES[self.op]
        lines = [f"every case raised: for op {self.op} ils-ref calls {sig.text()}", f"  with {sig.shapes()}"]
        names = self.parameters or []
        if names:
            lines.append(f"  your function takes ({', '.join(names)})")
            wanted = [a.name for a in sig.inputs]
            if sorted(names) == sorted(wanted) and names != wanted:
                lines.append("  the same names in another order: ils-ref passes the arguments by position")
        whole = [n for n in names if n in ("rng", "dz_of", "f_of")]
        if whole:
            ops = ", ".join(f"{op}: {text}" for op, (text, _) in STATISTICAL.items())
            lines.append(f"  it takes {' and '.join(whole)}: a whole estimator that draws for itself? check it with "
                         f"ils-ref check --statistical ({ops})")
        return lines

    def render(self, verbose: bool = False) -> str:
        """The report: one line per case; details under failing cases (under every case if ``verbose``)."""
        policy = f", policy {self.policy}" if self.op == "ils_backward" else ""
        lines = [f"op {self.op}{policy}: {len(self.results)} cases (vectors v{self.vectors_version}, sha256 {self.sha256[:12]})"]
        table = [("case", "verdict", "max abs err", "max rel err", "tolerance", "note")]
        for r in self.results:
            verdict = "pass" if r.ok else "FAIL"
            tol = f"{r.atol:g} + {r.rtol:g}*|e|" + (f" ({r.dtype})" if r.dtype != "float64" else "")
            note = r.error or r.flag or r.note
            table.append((r.id, verdict, f"{r.max_abs_error:.2e}", f"{r.max_rel_error:.2e}", tol, note[:120]))
        lines.append(text_table(table, indent=2, align="llrrrl"))
        for r in self.results:
            if (verbose or not r.ok) and (r.detail or r.diagnosis):
                lines.append(f"  {r.id}: " + "; ".join(x for x in (r.diagnosis, r.detail) if x))
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} cases where the signed pi_D is undefined: {', '.join(self.skipped)}")
        lines += self.hints()
        lines += printed(self.output, verbose)
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}: {len(self.results) - self.n_failed} of {len(self.results)} cases agree with ils_ref")
        return "\n".join(lines)


def printed(output: str, verbose: bool) -> list[str]:
    """Report lines for what the checked code printed: all of it if ``verbose``, else how much."""
    rows = output.splitlines()
    if not rows:
        return []
    if not verbose:
        return [f"  the checked code printed {len(rows)} lines (shown with -v)"]
    return ["  the checked code printed:"] + ["  | " + row[:200] for row in rows[:200]]


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


def _ils_step(inputs: dict, policy: str):
    from ..estimators.ils import ils_cache, ils_step

    alpha = np.asarray(inputs["alpha"], dtype=np.float64)
    return ils_step(np.asarray(inputs["dz"], dtype=np.float64), ils_cache(inputs["logits"], inputs["index"]),
                    alpha if alpha.ndim else float(alpha), policy=policy)


def _ils_detail(inputs: dict, row: tuple, policy: str) -> str:
    """Δ, z - αΔ and π_D of one row of an ILS case (what the reference computed there)."""
    step = _ils_step(inputs, policy)
    show = lambda a: np.array2string(np.asarray(a)[row], precision=4, suppress_small=True)  # noqa: E731
    return f"reference in row {row}: Delta = {show(step.delta)}, z - alpha*Delta = {show(step.w)}, pi_D = {show(step.pi_d)}"


def case_note(op: str, case: dict, policy: str) -> str:
    """The case's note, and for ``ils_backward`` what the policy being checked does with it."""
    note = case.get("note", "")
    if op != "ils_backward":
        return note
    try:
        negative = bool((_ils_step(case["inputs"], "clip").w < 0).any())
    except ValueError:
        return note
    if negative:
        note += ("; z - alpha*Delta has negative entries: clipped at 0 (policy clip)" if policy == "clip" else
                 "; z - alpha*Delta has negative entries: kept (policy signed, the literal Algorithm 1)")
    return note


def judge(op: str, case: dict, arrays: list, error: str | None, *, policy: str = "clip", rtol=None, atol=None) -> CaseResult:
    """The verdict on one case from what the function returned (``arrays``, one per output) or the ``error`` it met."""
    out_names = [name for name, _ in SIGNATURES[op].outputs]
    inputs = case["inputs"]
    given = rtol is not None or atol is not None
    tol = {"rtol": case["rtol"] if rtol is None else rtol, "atol": case["atol"] if atol is None else atol}
    base = dict(id=case["id"], note=case_note(op, case, policy))
    nan = float("nan")

    def failed(why):
        return CaseResult(ok=False, max_abs_error=nan, max_rel_error=nan, error=why[:300], **tol, **base)

    if error is not None:
        return failed(error)
    if len(arrays) != len(out_names):
        return failed(f"returned {len(arrays)} arrays, expected {len(out_names)} ({', '.join(out_names)})")
    pairs = []
    for name, arr in zip(out_names, arrays):
        expected = np.asarray(case["expected"][name], dtype=np.float64)
        if arr.dtype.kind not in "iuf":
            return failed(f"{name}: not numeric (dtype {arr.dtype})")
        if arr.shape != expected.shape:
            return failed(f"{name}: shape {arr.shape}, expected {expected.shape}")
        pairs.append((name, arr, expected))

    def precision(arr):  # the dtype an output is judged at: its own (a float16 output loosens no other output)
        return str(arr.dtype) if arr.dtype.kind == "f" and arr.dtype.itemsize < 8 else "float64"

    def tolerance(dtype):  # the case's (or the caller's) for float64, else the dtype's unless one was given
        return tol if given or dtype == "float64" else dict(FLOAT16_TOL if dtype == "float16" else FLOAT32_TOL)

    dtype = min((precision(a) for _, a, _ in pairs), key=lambda d: np.dtype(d).itemsize, default="float64")
    case_tol = tolerance(dtype)  # reported: the least precise output's
    worst_abs, worst_rel, ok, detail, flag, diagnosis = 0.0, 0.0, True, "", "", ""
    for name, arr, expected in pairs:
        out_tol = tolerance(precision(arr))
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            return failed(f"{name}: contains NaN or inf")
        err = np.abs(arr - expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(err == 0, 0.0, err / np.abs(expected))
        worst_abs = max(worst_abs, float(err.max(initial=0.0)))
        worst_rel = max(worst_rel, float(rel.max(initial=0.0)))
        bad = err > out_tol["atol"] + out_tol["rtol"] * np.abs(expected)
        atol_only = (err > out_tol["rtol"] * np.abs(expected)) & ~bad & (rel > 1e-3)
        if atol_only.any() and not flag:
            at = tuple(int(i) for i in np.argwhere(atol_only)[0])
            flag = f"passes on atol only at {name}{list(at)} (relative error {float(rel[at]):.1e})"
        with np.errstate(divide="ignore", invalid="ignore"):  # zero tolerance (exact ops): any error is infinite
            ratio = np.where(err == 0, 0.0, err / (out_tol["atol"] + out_tol["rtol"] * np.abs(expected)))  # > 1 fails
        if err.size and (bad.any() or (ok and not detail)):  # the worst entry: of the first failing output, else overall
            at = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), err.shape))
            detail = f"worst {name}{list(at)}: expected {float(expected[at]):.9g}, got {float(arr[at]):.9g}"
            if op == "ils_backward" and err.ndim:
                detail += "; " + _ils_detail(inputs, at[:-1], policy)
        if bad.any() and ok:
            ok = False
            diagnosis = diagnose(op, inputs, expected, arr, policy)
    return CaseResult(ok=ok, max_abs_error=worst_abs, max_rel_error=worst_rel, dtype=dtype, detail=detail,
                      diagnosis=diagnosis, flag=flag, **case_tol, **base)


def run_case(fn, op, case, *, policy: str = "clip", rtol=None, atol=None, framework: str = "numpy") -> CaseResult:
    """Call ``fn`` on one case in this process and judge it; never raises because of ``fn``."""
    arrays, error = call(fn, op, case["inputs"], case.get("layout", "C"), framework)
    return judge(op, case, arrays, error, policy=policy, rtol=rtol, atol=atol)


def check(fn, op: str = "ils_backward", vectors=None, *, policy: str = "clip", rtol=None, atol=None) -> ConformanceReport:
    """Run ``fn`` on every case of ``op`` in this process; ``vectors`` is a path or a loaded document (default: shipped).

    ``policy`` (``"clip"`` or ``"signed"``) chooses the expected values of
    ``ils_backward``; ``rtol``/``atol`` override every case's tolerance.  In
    this process the checked code can reach the comparison; ``ils-ref check``
    (:func:`ils_ref.checking.isolated.check_isolated`) cannot be reached.
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
                             policy=policy, skipped=tuple(skipped), parameters=parameters(fn))


def _tolerances(rtol, atol):
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return rtol, atol
