"""Running the function under test: its arguments built from a case, the call, and what it returned as arrays.

Nothing here knows an expected value.  ``ils-ref check`` runs :func:`serve`
in a child process, which imports the function, and for every job the parent
sends (a case's inputs, or a setting to sample) calls it and sends back plain
arrays or the error (:mod:`ils_ref.checking.wire`); the comparison and the
verdict are computed in the parent (:mod:`ils_ref.checking.isolated`).
:func:`ils_ref.checking.conformance.check` calls the same functions in its
own process.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import numpy as np

from .signatures import SIGNATURES
from .wire import pack

FRAMEWORKS = ("numpy", "torch", "jax")
#: How a case may lay out its array inputs in memory: C order, Fortran order, or a view of every other column.
LAYOUTS = ("C", "F", "strided")


class ImportProblem(ValueError):
    """``MODULE:FUNCTION`` cannot be imported or does not name a callable."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``MODULE:FUNCTION``; a ``ValueError`` that suggests the right form otherwise."""
    module, sep, attr = spec.partition(":")
    if sep and module and attr:
        return module, attr
    hint = ""
    if not sep and "." in spec.strip(".") and not spec.startswith("."):
        head, _, tail = spec.rpartition(".")
        hint = f"; did you mean {head}:{tail}?"
    raise ValueError(f"expected MODULE:FUNCTION, got {spec!r}{hint}")


def import_target(spec: str):
    """The callable named by ``MODULE:FUNCTION``, importing from the current folder first (as ``python -m``)."""
    module_name, attr = parse_spec(spec)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        searched = [os.getcwd()] + [p for p in sys.path if p and p != os.getcwd()]
        raise ImportProblem(f"cannot import module {module_name!r}: {exc}; looked in the current folder "
                            f"{os.getcwd()}, then {', '.join(searched[1:])}") from None
    except Exception as exc:  # the module itself failing on import
        raise ImportProblem(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ImportProblem(f"module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ImportProblem(f"{spec} is not callable")
    return target


def parameters(fn) -> list[str] | None:
    """The names of ``fn``'s parameters, or ``None`` where Python cannot say."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


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


def numeric(value, name: str) -> np.ndarray:
    """``value`` as a numeric NumPy array (bool, int or float), or a ``TypeError`` saying what it was."""
    if inspect.isgenerator(value) or value is None:
        raise TypeError(f"{name}: returned {'None' if value is None else 'a generator'}, not an array")
    arr = to_numpy(value)
    if arr.dtype.kind not in "iuf" or arr.dtype.itemsize > 8:  # strings, booleans, objects, complex: not an answer
        raise TypeError(f"{name}: not numeric (dtype {arr.dtype})")
    return arr


def as_framework(arr: np.ndarray, framework: str):
    """An input array handed to the function under test as ``numpy`` (as is), a ``torch`` tensor or a ``jax`` array."""
    if framework == "torch":
        import torch

        return torch.from_numpy(arr.copy() if arr.ndim == 0 else arr)  # keeps a case's layout (strides)
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(arr)
    return arr


def _laid_out(arr: np.ndarray, layout: str) -> np.ndarray:
    if arr.ndim < 2 or layout == "C":
        return arr
    if layout == "F":
        return np.asfortranarray(arr)
    wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype=arr.dtype)
    wide[..., ::2] = arr
    return wide[..., ::2]  # every other column of a wider array: contiguous in neither order


def arguments(op: str, inputs: dict, layout: str = "C", framework: str = "numpy") -> list:
    """The arguments of ``op``'s function, in order: arrays (``index`` as int64) or Python scalars."""
    args = []
    for arg in SIGNATURES[op].inputs:
        value = inputs[arg.name]
        if arg.kind == "flag":
            args.append(bool(value))
        elif arg.kind == "number" or (arg.kind == "step" and np.ndim(value) == 0):
            args.append(float(value))
        else:  # always an ndarray, even when the case holds a single row (a 0-d index, say)
            arr = np.array(value, dtype=np.int64 if arg.kind == "index" else np.float64)
            args.append(as_framework(_laid_out(arr, layout), framework))
    return args


def call(fn, op: str, inputs: dict, layout: str = "C", framework: str = "numpy") -> tuple[list, str | None]:
    """``(arrays, None)``: what ``fn`` returned on these inputs; or ``([], error)``. Never raises because of ``fn``."""
    names = [name for name, _ in SIGNATURES[op].outputs]
    try:
        got = fn(*arguments(op, inputs, layout, framework))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # it raised, or called sys.exit: this case fails, the run goes on
        return [], f"raised {type(exc).__name__}: {exc}"
    if len(names) > 1:
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            return [], f"must return {len(names)} values ({', '.join(names)}), returned a {type(got).__name__}"
    else:
        got = (got,)
    try:
        return [numeric(value, name) for name, value in zip(names, got)], None
    except Exception as exc:
        return [], str(exc) if isinstance(exc, TypeError) else f"returned something NumPy cannot read ({exc})"


def draw(fn, op: str, problem, n: int, seed, options: dict) -> tuple[np.ndarray | None, str | None]:
    """``(estimates (n, *logits.shape), None)`` from ``n`` calls of a whole estimator, or ``(None, error)``.

    ``op`` ``"ils_backward"`` calls ``fn(logits, problem.grad, rng, **options)``,
    ``"reinforce_loo"`` calls ``fn(logits, problem.f, rng, **options)``; ``rng``
    is ``numpy.random.default_rng(seed)``.
    """
    logits = np.asarray(problem.logits, dtype=np.float64)
    of = problem.grad if op == "ils_backward" else problem.f
    rng = np.random.default_rng(seed)
    out = np.empty((n,) + logits.shape)
    for i in range(n):
        try:
            arr = numeric(fn(logits.copy(), of, rng, **options), "dlogits")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return None, f"call {i + 1} raised {type(exc).__name__}: {exc}"
        if arr.shape != logits.shape:
            return None, f"call {i + 1} returned shape {arr.shape}; expected {logits.shape}, the shape of logits"
        out[i] = arr
    return out, None


def serve(conn, spec: str, cwd: str, output: str) -> None:
    """The child process: import ``spec``, then answer every job until ``None``; every reply is one packed message."""
    fd = os.open(output, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)  # what the checked code prints goes to a file the parent reads, not into the verdict
    conn.send_bytes(pack("started"))
    sys.argv = [spec]  # spawn copies the parent's argv, which names the vectors file (--vectors): not the checked code's
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    try:
        fn = import_target(spec)
    except ImportProblem as exc:
        conn.send_bytes(pack("import-error", {"message": str(exc)}))
        return
    except BaseException as exc:  # sys.exit() at import time
        conn.send_bytes(pack("import-exit", {"message": f"{type(exc).__name__}: {exc}"}))
        return
    conn.send_bytes(pack("imported", {"parameters": parameters(fn)}))
    while True:
        job = conn.recv()  # from the parent: trusted
        if job is None:
            return
        if job["kind"] == "call":
            arrays, error = call(fn, job["op"], job["inputs"], job["layout"], job["framework"])
        else:
            estimates, error = draw(fn, job["op"], job["problem"], job["n"], job["seed"], job["options"])
            arrays = [] if estimates is None else [estimates]
        conn.send_bytes(pack("result", {"job": job["id"], "error": error}, arrays))
