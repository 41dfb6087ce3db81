"""Reference vectors: inputs and expected outputs for other implementations to match.

:func:`generate` builds the document ``{"format": "ils_ref-vectors",
"version": ..., "sha256": ..., "cases": [...]}`` deterministically from fixed
seeds, so the same package version always writes the same bytes.  Every case
is ``{"id", "op", "inputs", "expected", "rtol", "atol", "note"}`` with arrays
as nested lists; draws are fixed by an explicit category ``index`` or
explicit uniform noise ``u``, so any framework can replay them.

The ops, and the signature ``ils-ref check`` calls for each, are the table
:data:`ils_ref.checking.signatures.SIGNATURES` (printed by ``ils-ref check
--help`` and in the README).  Version 3 added masked logits (written
``-Infinity``, as Python's :mod:`json` writes and reads it), one ``alpha`` per
row, ``K = 2`` and ``K = 128``, inputs handed over in Fortran order or
strided (the case's ``layout``), and the ops ``reinmax``, ``gumbel_rao``,
``straight_through``, ``bernoulli_ils``, ``gaussian_ils`` and
``ils_backward_squared_error``.

``sample_categorical`` cases keep every ``u`` at least 1e-9 away from a
cumulative sum, so implementations that add the probabilities in another
order still agree.  :func:`load_vectors` refuses a document whose cases do
not match these signatures, or whose expected values are not finite.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from importlib import resources

import numpy as np

from ..formatting import jsonable
from ..version import __version__
from .runner import LAYOUTS
from .signatures import OPS, SIGNATURES, bind_outputs, bind_shapes
from .vector_cases import (
    estimator_cases,
    gumbel_cases,
    ils_cases,
    ils_cases_v3,
    primitive_cases,
    sampling_cases,
)

FORMAT = "ils_ref-vectors"
#: Bump when the cases change; ``check`` reports it.
VECTORS_VERSION = 3  # 2: ils_backward cases carry expected_signed; 3: masked, per-row alpha, layouts, six more ops

_TOL = {"rtol": 1e-9, "atol": 1e-12}


def generate() -> dict:
    """The reference-vector document (deterministic)."""
    rng = np.random.default_rng(20191014)  # the post's date
    cases = ils_cases(rng, prototype=False) + ils_cases(rng, prototype=True)
    cases += gumbel_cases(rng) + sampling_cases(rng) + primitive_cases(rng)
    rng = np.random.default_rng([20191014, 3])  # version 3's cases: the earlier ones keep their bytes
    cases += ils_cases_v3(rng) + estimator_cases(rng)
    cases.sort(key=lambda c: OPS.index(c["op"]))  # stable: by op, in the order of the table
    counters: dict = {}
    out = []
    for case in cases:
        op = case["op"]
        counters[op] = counters.get(op, 0) + 1
        tol = {"rtol": 0, "atol": 0} if op == "sample_categorical" else _TOL
        out.append({"id": f"{op}-{counters[op]:02d}", **jsonable(case, finite_only=False), **tol})
    body = json.dumps(out, sort_keys=True, separators=(",", ":"))
    return {
        "format": FORMAT,
        "version": VECTORS_VERSION,
        "generator": f"ils_ref {__version__}",
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "cases": out,
    }


def dumps(doc: dict) -> str:
    """Serialise a vector document: sorted keys, one case per line, a final newline."""
    lines = [json.dumps({k: v for k, v in doc.items() if k != "cases"}, sort_keys=True)[:-1] + ', "cases": [']
    lines += [json.dumps(c, sort_keys=True) + ("," if i < len(doc["cases"]) - 1 else "") for i, c in enumerate(doc["cases"])]
    lines.append("]}")
    return "\n".join(lines) + "\n"


def content_hash(doc: dict) -> str:
    """The sha256 of the cases in canonical form (what ``doc["sha256"]`` records)."""
    return hashlib.sha256(json.dumps(doc["cases"], sort_keys=True, separators=(",", ":")).encode()).hexdigest()


#: A vectors file larger than this is refused before it is read (the shipped one is ~100 kB).
MAX_VECTORS_BYTES = 16 * 1024 * 1024


def load_vectors(path=None) -> dict:
    """The vector document: from ``path``, or the copy shipped with the package.

    A file is read only if it is a regular file of at most ``MAX_VECTORS_BYTES``
    (not a FIFO, a device or a folder); its cases must match the signatures of
    their ops (:func:`case_problem`).  Anything else is a ``ValueError`` naming
    the file.
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
        problem = case_problem(case)
        if problem:
            name = case.get("id") if isinstance(case, dict) and isinstance(case.get("id"), str) else f"case {i}"
            raise ValueError(f"{source}: {name[:40]} is malformed: {problem}")
    return doc


def case_problem(case) -> str | None:
    """What is wrong with one case of a vectors document, or ``None``."""
    if not isinstance(case, dict):
        return "not an object"
    for key, kind in (("id", str), ("op", str), ("inputs", dict), ("expected", dict)):
        if not isinstance(case.get(key), kind):
            return f"{key} missing or not a {kind.__name__}"
    if case["op"] not in SIGNATURES:
        return f"unknown op {case['op']!r:.40}"
    for key in ("rtol", "atol"):
        value = case.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 1):
            return f"{key} must be a number in [0, 1], got {value!r:.40}"
    if case.get("layout", "C") not in LAYOUTS:
        return f"layout must be one of {', '.join(LAYOUTS)}, got {case.get('layout')!r:.40}"
    sig = SIGNATURES[case["op"]]
    values = {}
    for group, names in (("inputs", [a.name for a in sig.inputs]), ("expected", [n for n, _ in sig.outputs])):
        for name in names:
            if name not in case[group]:
                return f"{group} lacks {name!r}"
            value = case[group][name]
            if isinstance(value, (bool, int, float)):
                try:  # a 400-digit integer is valid JSON, and no float64
                    if not np.isfinite(float(value)):
                        return f"{group}.{name} is not finite"
                except OverflowError:
                    return f"{group}.{name} is a number beyond float64"
                values[group, name] = value
                continue
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                return f"{group}.{name} is not an array of numbers ({type(exc).__name__})"
            if arr.size > MAX_VECTORS_BYTES // 8:
                return f"{group}.{name} is too large"
            if arr.size == 0:  # nothing would be compared: any implementation would pass
                return f"{group}.{name} is empty (a case must compare at least one number)"
            values[group, name] = arr
    inputs = {name: v for (group, name), v in values.items() if group == "inputs"}
    problem, bound = bind_shapes(case["op"], inputs)
    if problem:
        return f"inputs do not match {sig.op}'s signature {sig.text()}: {problem}"
    expected = [{n: v for (group, n), v in values.items() if group == "expected"}]
    if case["op"] == "ils_backward" and case.get("expected_signed") is not None:
        signed = case["expected_signed"]
        if not isinstance(signed, dict) or "dlogits" not in signed:
            return "expected_signed must be null or an object with dlogits"
        try:
            expected.append({"dlogits": np.asarray(signed["dlogits"], dtype=np.float64)})
        except (TypeError, ValueError, OverflowError, RecursionError):
            return "expected_signed.dlogits is not an array of numbers"
    for outputs in expected:
        problem = bind_outputs(case["op"], outputs, bound)
        if problem:
            return problem
    return None
