"""What ``ils-ref check`` calls, op by op: the argument order, each argument's shape and kind, the outputs.

One table, :data:`SIGNATURES`, serves every part of the check: the child
process calls the function under test in this order, the vectors are
validated against it, and the command line, the README and the hints printed
when every case raises are written from it.

Shapes are written with three letters: ``B`` is the batch shape (any number of
axes, the same for every argument of a case), ``K`` the number of categories
and ``M`` the number of noise samples (Gumbel-Rao's ``samples + 1``).  A
*kind* says what the values are:

========  ==================================================================
kind      values
========  ==================================================================
real      finite float64
masked    finite float64 or ``-inf`` (a masked category: probability 0)
index     integers in ``[0, K)``, drawn from a category of positive probability
unit      float64 in ``[0, 1)`` (uniform noise)
bit       0.0 or 1.0
scale     finite float64 ``> 0``
step      a finite number ``>= 0``, or an array of shape ``B`` (one per row)
number    a finite number ``> 0`` (a temperature), passed as a Python float
flag      ``true``/``false``, passed as a Python bool
========  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Arg:
    name: str
    shape: str  # e.g. "B,K"; "" for a Python scalar
    kind: str = "real"


@dataclass(frozen=True)
class Signature:
    op: str
    inputs: tuple
    outputs: tuple  # (name, shape) pairs
    computes: str  # one line: what the reference computes

    def text(self) -> str:
        """``fn(logits, index, dz, alpha) -> dlogits``."""
        outs = ", ".join(name for name, _ in self.outputs)
        return f"fn({', '.join(a.name for a in self.inputs)}) -> {outs if len(self.outputs) == 1 else '(' + outs + ')'}"

    def shapes(self) -> str:
        """``logits (B, K) float64, -inf masks a category; index (B) int64; ...`` for a hint."""
        def one(name, shape, kind="real"):
            return f"{name} {_KINDS[kind].format(shape='(' + shape.replace(',', ', ') + ')')}"
        args = "; ".join(one(a.name, a.shape, a.kind) for a in self.inputs)
        return f"{args}; returns {'; '.join(one(n, s) for n, s in self.outputs)}"


#: How each kind of argument is described to a user (``{shape}`` is its shape).
_KINDS = {
    "real": "{shape} float64",
    "masked": "{shape} float64, -inf masks a category",
    "index": "{shape} int64 in [0, K)",
    "unit": "{shape} float64 in [0, 1)",
    "bit": "{shape} float64, 0 or 1",
    "scale": "{shape} float64 > 0",
    "step": "a Python float >= 0, or (B) float64, one per row",
    "number": "a Python float > 0",
    "flag": "a Python bool",
}


_ILS_INPUTS = (Arg("logits", "B,K", "masked"), Arg("index", "B", "index"), Arg("dz", "B,K"), Arg("alpha", "", "step"))

SIGNATURES = {s.op: s for s in (
    Signature("ils_backward", _ILS_INPUTS, (("dlogits", "B,K"),),
              "ILS, clip policy (or --policy signed): pi - pi_D, pi_D = h(z - alpha*Delta), KL, h = z/sum(z)"),
    Signature("ils_backward_prototype", _ILS_INPUTS, (("dlogits", "B,K"),),
              "the original prototype: -pi_D/(pi + 1e-7), signed pi_D"),
    Signature("ils_backward_squared_error", _ILS_INPUTS, (("dlogits", "B,K"),),
              "ILS with the squared-error intermediate loss: J_softmax^T (pi - pi_D), clip policy"),
    Signature("gumbel_softmax", (Arg("logits", "B,K"), Arg("u", "B,K", "unit"), Arg("temperature", "", "number"),
                                 Arg("hard", "", "flag"), Arg("dy", "B,K")), (("y", "B,K"), ("dlogits", "B,K")),
              "y = softmax((logits + G)/T), G = -log(-log u); hard: one_hot(argmax y), straight-through"),
    Signature("gumbel_rao", (Arg("logits", "B,K"), Arg("u", "M,B,K", "unit"), Arg("temperature", "", "number"),
                             Arg("dz", "B,K")), (("z", "B,K"), ("dlogits", "B,K")),
              "z = one_hot(argmax(logits + G)), G from u[0]; dlogits averaged over the M - 1 conditional "
              "perturbations of u[1:] (E = -log(1 - u))"),
    Signature("reinmax", (Arg("logits", "B,K"), Arg("index", "B", "index"), Arg("dz", "B,K"),
                          Arg("temperature", "", "number")), (("dlogits", "B,K"),),
              "2 J(pi_1)^T dz - J(pi)^T dz / 2, pi_1 = (z + softmax(logits/T))/2"),
    Signature("straight_through", (Arg("logits", "B,K"), Arg("index", "B", "index"), Arg("dz", "B,K")),
              (("dlogits", "B,K"),), "J(pi)^T dz, pi = softmax(logits): the gradient at the draw passed to pi"),
    Signature("bernoulli_ils", (Arg("logits", "B"), Arg("b", "B", "bit"), Arg("db", "B"), Arg("alpha", "", "step")),
              (("dlogits", "B"),), "p - p_D, p = sigmoid(logits): categorical ILS at K = 2, clip policy"),
    Signature("gaussian_ils", (Arg("mu", "B"), Arg("sigma", "B", "scale"), Arg("eps", "B"), Arg("dz", "B"),
                               Arg("alpha", "", "step")), (("dmu", "B"),),
              "(alpha*dz/sigma - eps)/sigma: KL(N(z - alpha*dz, sigma^2) || N(mu, sigma^2)), z = mu + sigma*eps"),
    Signature("sample_categorical", (Arg("probs", "B,K"), Arg("u", "B", "unit")), (("index", "B"),),
              "the first k with cumsum(probs)[k] > u (inverse CDF)"),
    Signature("softmax_backward", (Arg("dy", "B,K"), Arg("y", "B,K")), (("dx", "B,K"),), "y * (dy - <dy, y>)"),
    Signature("kl_divergence_backward", (Arg("dout", "B"), Arg("p", "B,K"), Arg("q", "B,K")),
              (("dp", "B,K"), ("dq", "B,K")), "the gradients of KL(p || q) = sum p log(p/q), times dout"),
    Signature("normalize_backward", (Arg("dy", "B,K"), Arg("z", "B,K")), (("dz", "B,K"),),
              "the VJP of h(z) = z / sum(z)"),
)}

#: The ops that have reference vectors, in the order of the vectors file.
OPS = tuple(SIGNATURES)

#: Whole estimators that draw for themselves, checked with ``--statistical``.
STATISTICAL = {
    "ils_backward": ("fn(logits, dz_of, rng, alpha=...) -> dlogits",
                     "one ILS estimate: draw z with rng, g = dz_of(z) (dL/dz at the one-hot draw), return pi - pi_D; "
                     "the mean is compared with ILS's exact expectation"),
    "reinforce_loo": ("fn(logits, f_of, rng, group=4) -> dlogits",
                      "one REINFORCE estimate with a leave-one-out baseline: draw `group` one-hot samples with rng, "
                      "f_of(z) gives the loss of each row at z (z of shape (..., K), returns (...)); the mean is "
                      "compared with the exact gradient"),
}


def bind_shapes(op: str, arrays: dict) -> tuple[str | None, dict]:
    """``(what is wrong with the shapes or kinds of one case's inputs, or None; the bound B, K, M)``.

    ``arrays`` maps every input name of ``op`` to its value (a NumPy array,
    or a Python number for the scalar kinds).
    """
    sig = SIGNATURES[op]
    bound: dict = {}
    for arg in sig.inputs:
        value = arrays[arg.name]
        if arg.kind == "flag":
            if not isinstance(value, bool):
                return f"{arg.name} must be true or false", bound
            continue
        if arg.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < np.inf:
                return f"{arg.name} must be a finite number > 0", bound
            continue
        arr = np.asarray(value, dtype=np.float64)
        if arg.kind == "step" and arr.ndim:  # one alpha per row: the batch shape
            spec = ["B"]
        else:
            spec = [s for s in arg.shape.split(",") if s]
        problem = _bind(arg.name, arr.shape, spec, bound) or _values(arg, arr, bound.get("K"))
        if problem:
            return problem, bound
    if "index" in arrays and "logits" in arrays:  # the drawn category must be drawable
        index = np.asarray(arrays["index"], dtype=np.int64)[..., None]
        if np.any(np.take_along_axis(np.asarray(arrays["logits"], dtype=np.float64), index, axis=-1) == -np.inf):
            return "index names a masked category (logit -inf), which cannot be drawn", bound
    return None, bound


def bind_outputs(op: str, arrays: dict, bound: dict) -> str | None:
    """What is wrong with one case's expected outputs (shape against the inputs', finiteness), or ``None``."""
    for name, shape in SIGNATURES[op].outputs:
        arr = np.asarray(arrays[name], dtype=np.float64)
        want = sum(((bound.get(s, ()) if s == "B" else (bound.get(s),)) for s in shape.split(",") if s), ())
        if arr.shape != want:
            return f"expected.{name} has shape {arr.shape}; the inputs give {want}"
        if not np.isfinite(arr).all():
            return f"expected.{name} holds NaN or inf"
    return None


def _bind(name: str, shape: tuple, spec: list, bound: dict) -> str | None:
    fixed = [s for s in spec if s != "B"]
    if len(shape) < len(fixed):
        return f"{name} has shape {shape}; expected ({', '.join(spec)})"
    nb = len(shape) - len(fixed)
    parts, i = {}, 0
    for s in spec:
        if s == "B":
            parts["B"], i = tuple(shape[i:i + nb]), i + nb
        else:
            parts[s], i = shape[i], i + 1
    if "B" not in spec and nb:
        return f"{name} has shape {shape}; expected ({', '.join(spec)})"
    for key, value in parts.items():
        if key == "K" and value < 1:
            return f"{name} has no category (K = 0)"
        if key in bound and bound[key] != value:
            return f"{name} has shape {shape}: its {key} = {value} disagrees with the other inputs' {bound[key]}"
        bound[key] = value
    return None


def _values(arg: Arg, arr: np.ndarray, k) -> str | None:
    kind = arg.kind
    if kind == "masked":
        if np.isnan(arr).any() or (arr == np.inf).any():
            return f"{arg.name} holds NaN or +inf (only -inf, a masked category, is allowed)"
        if arr.size and np.all(arr == -np.inf, axis=-1).any():
            return f"{arg.name} has a row with every category masked"
        return None
    if not np.isfinite(arr).all():
        return f"{arg.name} holds NaN or inf"
    if kind == "index" and (np.any(arr != np.round(arr)) or np.any(arr < 0) or np.any(arr >= (k or 0))):
        return f"{arg.name} must hold integers in [0, K)"
    if kind == "unit" and (np.any(arr < 0) or np.any(arr >= 1)):
        return f"{arg.name} must lie in [0, 1)"
    if kind == "bit" and not np.isin(arr, (0.0, 1.0)).all():
        return f"{arg.name} must hold 0 or 1"
    if kind == "scale" and np.any(arr <= 0):
        return f"{arg.name} must be > 0"
    if kind == "step" and np.any(arr < 0):
        return f"{arg.name} must be >= 0"
    return None


def readme_table() -> str:
    """The Markdown table of ops and signatures (the README holds this text)."""
    lines = ["| op | signature | shapes | computes |", "|---|---|---|---|"]
    for sig in SIGNATURES.values():
        lines.append(f"| `{sig.op}` | `{sig.text()}` | {sig.shapes()} | {sig.computes} |")
    for op, (text, what) in STATISTICAL.items():
        lines.append(f"| `{op}` (`--statistical`) | `{text}` | draws with `rng` | {what} |")
    return "\n".join(lines)
