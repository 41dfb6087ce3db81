"""Reference vectors: inputs and expected outputs for other implementations to match.

:func:`generate` builds the document ``{"format": "ils_ref-vectors",
"version": ..., "sha256": ..., "cases": [...]}`` deterministically from fixed
seeds, so the same package version always writes the same bytes.  Every case
is ``{"id", "op", "inputs", "expected", "rtol", "atol", "note"}`` with arrays
as nested lists; draws are fixed by an explicit category ``index`` or
explicit uniform noise ``u``, so any framework can replay them.

Ops and the function signature :mod:`ils_ref.conformance` calls for each:

=========================  ==================================================
op                         signature of the implementation under test
=========================  ==================================================
``ils_backward``           ``fn(logits, index, dz, alpha) -> dlogits``
                           (chain-ruled, KL, ``h = z/Σz``; ``expected`` is
                           ``policy="clip"``, ``expected_signed`` the literal
                           Algorithm 1, ``policy="signed"``, or ``null``
                           where its ``π_D`` is undefined)
``ils_backward_prototype`` ``fn(logits, index, dz, alpha) -> -π_D/(π+1e-7)``
                           (the original prototype, ``policy="signed"``)
``gumbel_softmax``         ``fn(logits, u, temperature, hard, dy) -> (y, dlogits)``
``sample_categorical``     ``fn(probs, u) -> index``
``softmax_backward``       ``fn(dy, y) -> dx``
``kl_divergence_backward`` ``fn(dout, p, q) -> (dp, dq)``
``normalize_backward``     ``fn(dy, z) -> dz``
=========================  ==================================================

``sample_categorical`` cases keep every ``u`` at least 1e-9 away from a
cumulative sum, so implementations that add the probabilities in another
order still agree.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..version import __version__
from ..formatting import jsonable
from ..estimators.gumbel import gumbel_softmax_backward, gumbel_softmax_forward
from ..estimators.ils import ils_backward, ils_cache, ils_step
from ..ops.divergence import kl_divergence_backward
from ..ops.normalization import normalize, normalize_backward
from ..ops.sampling import sample_categorical
from ..ops.softmax import softmax, softmax_backward

FORMAT = "ils_ref-vectors"
#: Bump when the cases change; ``check`` reports it.
VECTORS_VERSION = 2  # 2: ils_backward cases carry expected_signed too

OPS = (
    "ils_backward",
    "ils_backward_prototype",
    "gumbel_softmax",
    "sample_categorical",
    "softmax_backward",
    "kl_divergence_backward",
    "normalize_backward",
)

_TOL = {"rtol": 1e-9, "atol": 1e-12}


def _logit_settings(rng):
    """Batch shapes and logit regimes shared by the ILS and softmax cases."""
    return [
        ("flat", (4, 5), 0.01 * rng.normal(size=(4, 5))),
        ("moderate", (3, 6), rng.normal(size=(3, 6))),
        ("near one-hot", (2, 4), np.array([[12.0, 0.0, -1.0, 0.5], [-3.0, 15.0, 0.0, 1.0]])),
        ("tiny probabilities", (2, 5), np.array([[0.0, -30.0, -25.0, -40.0, 1.0], [-35.0, 0.0, 2.0, -28.0, -33.0]])),
        ("batch (2, 2, 3)", (2, 2, 3), rng.normal(size=(2, 2, 3))),
        ("single row", (7,), rng.normal(size=7)),
    ]


def _ils_cases(rng, prototype: bool):
    cases = []
    for label, shape, logits in _logit_settings(rng):
        probs = softmax(logits)
        if label == "near one-hot":
            index = np.argmax(probs, axis=-1)  # the draw that actually happens
        else:
            index = np.asarray(sample_categorical(probs, u=rng.random(shape[:-1])))
        for alpha in (0.1, 0.01, 0.001):
            # small gradients for the prototype keep Σ(z - αΔ) > 0 under its "signed" arithmetic
            dz = rng.normal(size=shape) * (0.5 if prototype else 2.0)
            if alpha == 0.01:
                # the drawn category gets the largest gradient: z - αΔ >= 0, no policy involved
                top = dz.max(axis=-1, keepdims=True) + 0.5
                np.put_along_axis(dz, index[..., None], top, axis=-1)
            cache = ils_cache(logits, index)
            kwargs = dict(prototype=True, policy="signed") if prototype else {}
            step = ils_step(dz, cache, alpha, **kwargs)
            left = bool((step.w < 0).any())
            note = f"{label}, alpha={alpha}"
            if left and not prototype:
                note += "; z - alpha*Delta has negative entries: expected uses policy='clip'"
            case = {
                "op": "ils_backward_prototype" if prototype else "ils_backward",
                "inputs": {"logits": logits, "index": index, "dz": dz, "alpha": alpha},
                "expected": {"dlogits": ils_backward(dz, cache, alpha, **kwargs)},
                "note": note,
            }
            if not prototype:
                try:  # the literal algorithm: pi_D = h(z - alpha*Delta) unclipped
                    case["expected_signed"] = {"dlogits": ils_backward(dz, cache, alpha, policy="signed")}
                except ValueError:  # sum(z - alpha*Delta) <= 0 in some row: pi_D is undefined there
                    case["expected_signed"] = None
            cases.append(case)
    return cases


def _gumbel_cases(rng):
    cases = []
    for temperature in (0.1, 1.0, 10.0):
        for hard in (False, True):
            logits = rng.normal(size=(3, 5))
            u = rng.uniform(0.01, 0.99, size=logits.shape)
            dy = rng.normal(size=logits.shape)
            y, cache = gumbel_softmax_forward(logits, temperature, u=u, hard=hard)
            cases.append(
                {
                    "op": "gumbel_softmax",
                    "inputs": {"logits": logits, "u": u, "temperature": temperature, "hard": hard, "dy": dy},
                    "expected": {"y": y, "dlogits": gumbel_softmax_backward(dy, cache)},
                    "note": f"T={temperature}, {'straight-through' if hard else 'soft'}",
                }
            )
    return cases


def _sampling_cases(rng):
    cases = []
    for k, rows in ((2, 6), (5, 8), (10, 4), (100, 3), (300, 3)):
        probs = softmax(rng.normal(size=(rows, k)) * 2.0)
        cdf = np.cumsum(probs, axis=-1)
        u = rng.random(rows)
        # keep u away from every cumulative sum so the order of additions cannot matter
        for _ in range(100):
            close = np.min(np.abs(cdf - u[:, None]), axis=-1) < 1e-9
            if not close.any():
                break
            u[close] = rng.random(int(close.sum()))
        cases.append(
            {
                "op": "sample_categorical",
                "inputs": {"probs": probs, "u": u},
                "expected": {"index": sample_categorical(probs, u=u)},
                "note": f"K={k}",
            }
        )
    return cases


def _primitive_cases(rng):
    cases = []
    for label, shape, logits in _logit_settings(rng)[:5]:
        y = softmax(logits)
        dy = rng.normal(size=shape)
        cases.append(
            {
                "op": "softmax_backward",
                "inputs": {"dy": dy, "y": y},
                "expected": {"dx": softmax_backward(dy, y)},
                "note": label,
            }
        )
        p = normalize(rng.uniform(0.01, 1.0, size=shape))
        q = normalize(rng.uniform(0.01, 1.0, size=shape))
        dout = rng.normal(size=shape[:-1])
        dp, dq = kl_divergence_backward(dout, p, q)
        cases.append(
            {
                "op": "kl_divergence_backward",
                "inputs": {"dout": dout, "p": p, "q": q},
                "expected": {"dp": dp, "dq": dq},
                "note": label,
            }
        )
        z = rng.uniform(0.1, 2.0, size=shape)
        cases.append(
            {
                "op": "normalize_backward",
                "inputs": {"dy": dy, "z": z},
                "expected": {"dz": normalize_backward(dy, z)},
                "note": label,
            }
        )
    return cases


def generate() -> dict:
    """The reference-vector document (deterministic)."""
    rng = np.random.default_rng(20191014)  # the post's date
    cases = _ils_cases(rng, prototype=False) + _ils_cases(rng, prototype=True)
    cases += _gumbel_cases(rng) + _sampling_cases(rng) + _primitive_cases(rng)
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
