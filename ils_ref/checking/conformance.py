"""Check another implementation against the reference vectors.

``check(fn, op="ils_backward")`` calls ``fn`` on every case of ``op`` (the
signatures are listed in :mod:`ils_ref.vectors`) with NumPy arrays (float64;
``index`` as int64; a single-row case gets 0-d arrays) and Python scalars
for ``alpha``, ``temperature`` and ``hard``, converts what comes back
with ``numpy.asarray`` (so a CPU torch tensor or a JAX array works) and
compares it with the expected values: a case passes when every entry has
``|got - expected| <= atol + rtol·|expected|``.  A function that raises,
returns the wrong shape, or NaN is reported for that case; it never stops
the run.
"""

from __future__ import annotations

import json
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


def load_vectors(path=None) -> dict:
    """The vector document: from ``path``, or the copy shipped with the package."""
    if path is None:
        text = resources.files("ils_ref").joinpath("data/vectors.json").read_text(encoding="utf-8")
        source = "the vectors shipped with ils_ref"
    else:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read vectors file {path}: {exc.strerror}") from None
        source = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("cases"), list):
        raise ValueError(f"{source} is not an {FORMAT} document")
    if doc.get("sha256") != content_hash(doc):
        raise ValueError(f"{source}: the cases do not match the recorded sha256 (file edited or truncated)")
    return doc


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
    except Exception as exc:  # the implementation under test failed on this case
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
            arr = np.asarray(value, dtype=np.float64)
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
