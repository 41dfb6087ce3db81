"""Argument checks at the public boundary: convert and check, nothing else.

A public function checks its arguments with :func:`checked`, naming each one
and the role it plays; it gets them back converted and checked::

    p = checked(p=("nonnegative", p))
    q, dout = checked(q=("nonnegative", q, shape_of(p, "p")), dout=("real", dout, rows_of(p, "p")))

Each value is ``(role, value, *extra)``: a role of ``ROLES`` (the vocabulary
that several functions share; a check only one function needs is written in
that function), or a class, which asks for an instance of it (a forward
pass's cache).  Extras are values, never names of other arguments: a shape to
match is that of an argument checked before, passed as a :class:`Like`
(:func:`shape_of`, :func:`rows_of`) that also names it for the message.

Bad input raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right
kind, wrong value).  The check that fails writes the message, once: the
argument, what it got, what it needs and, for a shape, whose shape that is.

Nothing here draws random numbers (:func:`checked_noise` checks a ``(u, rng)``
pair; :func:`ils_ref.ops.sampling.uniform` draws) or reshapes for a kernel
(``alpha`` and ``temperature`` come back as a float or one value per row; the
caller adds the category axis).  :func:`finite` guards what a kernel returns.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

#: Largest allowed ``|sum(row) - 1|`` for "rows of probabilities": loose enough for
#: float32 probabilities from another framework, tight enough for an unnormalised vector.
PROB_SUM_ATOL = 1e-6

#: An argument larger than this many float64 values is refused before any work.
MAX_ELEMENTS = 1 << 28

_KIND_NAMES = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects",
               "M": "datetimes", "m": "timedeltas", "V": "structured records"}


def checked(**arguments):
    """Check every argument by its role; return the checked values in the order given.

    Each keyword is ``name=(role, value, *extra)``: ``role`` a key of ``ROLES``
    (or a class), ``extra`` the values that role's check takes (a :class:`Like`,
    an int).  Returns a single value for a single argument, a tuple otherwise.
    """
    values = tuple(_check(name, *spec) for name, spec in arguments.items())
    return values[0] if len(values) == 1 else values


def _check(name: str, role, value, *extra):
    if not isinstance(role, type):
        return ROLES[role](value, name, *extra)
    if not isinstance(value, role):
        raise TypeError(f"{name} must be the {role.__name__} from the forward pass, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Like:
    """The shape an argument must have: that of another, ``of``, or one entry per row of it."""

    shape: tuple  # the other's shape, (..., K) when per_row
    of: str  # the other, as messages name it: "p", "cache.probs (the forward output)"
    per_row: bool = False

    @property
    def need(self) -> tuple:
        """The shape needed: ``shape``, or ``shape[:-1]`` (one per row)."""
        return self.shape[:-1] if self.per_row else self.shape

    def __str__(self) -> str:
        return f"one per row of {self.of} (shape {self.shape})" if self.per_row else f"the shape of {self.of}"


def shape_of(arr: np.ndarray, name: str) -> Like:
    """The shape of ``arr``, a checked array called ``name`` in messages."""
    return Like(tuple(arr.shape), name)


def rows_of(arr: np.ndarray, name: str) -> Like:
    """One entry per row of ``arr``, a checked array of shape ``(..., K)``: the shape ``arr.shape[:-1]``."""
    return Like(tuple(arr.shape), name, per_row=True)


def finite(result, what: str):
    """Return ``result`` if every entry is finite; otherwise raise naming ``what``."""
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{what} is not representable in float64 (overflow {_where(~np.isfinite(result))}); rescale the input")
    return result


def _first(mask: np.ndarray) -> str:
    """The first ``True`` position of ``mask``, and how many more there are."""
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    count = int(np.count_nonzero(mask))
    return f"{idx}" + (f" (and {count - 1} more)" if count > 1 else "")


def _where(mask: np.ndarray) -> str:
    return f"at index {_first(mask)}"


def _array(value, name: str, *, min_ndim: int = 0, finite_: bool = True) -> np.ndarray:
    """``value`` as a float64 array: real numbers only, and (by default) finite.

    Integers and float32 are converted; booleans, complex numbers, strings,
    objects and ``None`` are refused.  The result may share memory with
    ``value``: nothing in the package writes into it.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__} {value!r:.40}")
    arr = value if type(value) is np.ndarray else _array_of(value, name)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (integers or floats), got {_KIND_NAMES.get(arr.dtype.kind, 'values')} (dtype {arr.dtype})")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"{name} has {arr.size} entries; at most {MAX_ELEMENTS} are supported")
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least one dimension (the category axis is the last axis), got a 0-d array")
    if min_ndim and arr.shape[-1] == 0:
        raise ValueError(f"{name} has an empty category axis (shape {arr.shape}); need K >= 1")
    arr = arr.astype(np.float64, copy=False)
    if finite_ and not all_finite(arr):
        _refuse_nonfinite(arr, name)
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """True iff every entry is finite, in one cheap pass: a sum of finite numbers is finite unless it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(arr))) or bool(np.isfinite(arr).all())


def _array_of(value, name: str) -> np.ndarray:
    """``numpy.asarray(value)``, with any failure turned into a ``TypeError`` naming the argument."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array, whose mask NumPy functions ignore; pass plain values "
                        f"(mask a category with a -inf logit)")
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    except Exception as exc:  # objects whose __array__ raises (a torch tensor that requires grad)
        hint = " (for a torch tensor, pass t.detach().numpy())" if hasattr(value, "detach") else ""
        raise TypeError(f"{name} could not be converted to a NumPy array: {type(exc).__name__}: {exc}{hint}") from None


def _refuse_nonfinite(arr: np.ndarray, name: str, allow: str = "", need: str = "finite values") -> np.ndarray:
    """Raise for the first NaN (always) or infinity (unless ``allow`` is ``"-inf"`` or ``"inf"``)."""
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"{name} contains NaN {_where(nan)}")
    bad = np.isinf(arr) if not allow else (arr == np.inf) if allow == "-inf" else np.zeros(arr.shape, bool)
    if bad.any():
        sign = "+inf" if arr[tuple(np.argwhere(bad)[0])] > 0 else "-inf"
        raise ValueError(f"{name} contains {sign} {_where(bad)}; it needs {need}")
    return arr


def _same_shape(arr: np.ndarray, name: str, like: Like) -> np.ndarray:
    if arr.shape != like.need:
        raise ValueError(f"{name} has shape {arr.shape} but must have shape {like.need}, {like}")
    return arr


def _logits(value, name):
    """``(..., K)``: finite, or ``-inf`` to mask a category (never a whole row)."""
    arr = _array(value, name, min_ndim=1, finite_=False)
    if not all_finite(arr):
        _refuse_nonfinite(arr, name, allow="-inf", need="finite values or -inf (-inf masks a category)")
        whole = np.all(arr == -np.inf, axis=-1)
        if whole.any():
            raise ValueError(f"{name} has a row whose every entry is -inf (batch index {_first(whole)}); at least one category must stay possible")
    return arr


def _nonnegative(value, name, like: Like | None = None):
    """``(..., K)``, finite, ``>= 0``; with ``like``, of that shape."""
    arr = _array(value, name, min_ndim=1)
    if like is not None:
        _same_shape(arr, name, like)
    neg = arr < 0
    if neg.any():
        raise ValueError(f"{name} contains a negative entry ({arr[tuple(np.argwhere(neg)[0])]:.3g}) {_where(neg)}; it needs entries >= 0")
    return arr


def _probs(value, name):
    """``(..., K)`` rows of probabilities: finite, ``>= 0``, summing to one within ``PROB_SUM_ATOL``."""
    arr = _nonnegative(value, name)
    dev = np.abs(arr.sum(axis=-1) - 1.0)
    bad = ~(dev <= PROB_SUM_ATOL)
    if bad.any():
        raise ValueError(f"{name} has a row that does not sum to 1 (batch index {_first(bad)}, off by {float(np.nanmax(np.where(bad, dev, 0))):.3g}; tolerance {PROB_SUM_ATOL:g})")
    return arr


def _summable(value, name):
    """``(..., K)``, finite, every row with a non-zero sum (the input of ``h(z) = z/Σz``)."""
    arr = _array(value, name, min_ndim=1)
    with np.errstate(over="ignore"):
        total = arr.sum(axis=-1)
    zero, huge = total == 0, ~np.isfinite(total)
    if zero.any():
        raise ValueError(f"{name} has a row that sums to zero (batch index {_first(zero)}); h(z) = z / sum(z) needs a non-zero sum")
    if huge.any():
        raise ValueError(f"{name} has a row whose sum overflows float64 (batch index {_first(huge)}); rescale it")
    return arr


def _real(value, name, like: Like | None = None):
    """Any shape, finite; with ``like``, of that shape."""
    arr = _array(value, name)
    return arr if like is None else _same_shape(arr, name, like)


def _extended_real(value, name):
    """Any shape; ``±inf`` allowed, NaN not."""
    return _refuse_nonfinite(_array(value, name, finite_=False), name, allow="inf")


def _unit_interval(value, name, like: Like | None = None):
    """Any shape, entries in ``[0, 1]`` (Bernoulli parameters, sigmoid outputs)."""
    arr = _real(value, name, like)
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must hold Bernoulli parameters (or sigmoid outputs) in [0, 1]")
    return arr


def _upstream(value, name, like: Like):
    """An upstream gradient: finite, of the shape of the output it is the gradient of."""
    return _same_shape(_array(value, name), name, like)


def _index(value, name, categories: Like):
    """Drawn categories: integers in ``[0, K)``, ``K = categories.shape[-1]``.

    With ``categories = rows_of(logits, ...)``, one per row of ``logits``;
    with ``Like((K,), "num_categories")``, of any shape.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of integers, got {type(value).__name__}")
    index = _array_of(value, name)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
    k = categories.shape[-1]
    bad = (index < 0) | (index >= k)
    if bad.any():
        raise ValueError(f"{name} must lie in [0, {k}) (the categories, K = {k} from {categories.of}), got {int(index[bad].flat[0])}")
    return _same_shape(index, name, categories) if categories.per_row else index


def _scalar(value, name) -> float:
    """A finite real number (bools, strings and arrays refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r:.40}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real scalar, got an array of shape {value.shape}")
        value = value.item()
    try:
        out = float(value)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name} must be finite in float64, got an integer of {len(str(abs(value)))} digits") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


def _above_zero(x, name, strict: bool):
    """``x`` (a float or an array) if every entry is ``> 0`` (``strict``) or ``>= 0``."""
    ok = np.greater(x, 0) if strict else np.greater_equal(x, 0)  # a NumPy bool even for a float, so ~ok is "not ok"
    if not np.all(ok):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {float(np.asarray(x)[~ok].flat[0])}")
    return x


def _positive(value, name) -> float:
    """A finite real number ``> 0`` (a tolerance, a learning rate)."""
    return _above_zero(_scalar(value, name), name, strict=True)


def _nonnegative_scalar(value, name) -> float:
    """A finite real number ``>= 0``."""
    return _above_zero(_scalar(value, name), name, strict=False)


def _broadcast(value, name, like: Like):
    """A finite number (returned as float), or an array of them broadcast to ``like.need``."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return _scalar(value, name)
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number (or an array of them), got {type(value).__name__} {value!r:.40}")
    arr = _array(value, name)
    if arr.ndim == 0:
        return _scalar(arr, name)
    try:
        return np.broadcast_to(arr, like.need)
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to the shape {like.need}, {like}") from None


def _step(value, name, like: Like):
    """A step size ``α >= 0``: a float, or an array of ``like.need`` (one per row, or per entry)."""
    if type(value) is float and 0.0 <= value < np.inf:  # the common case, decided at once
        return value
    return _above_zero(_broadcast(value, name, like), name, strict=False)


def _scale(value, name, like: Like):
    """A scale ``> 0`` (a temperature, a standard deviation): a float, or an array of ``like.need``."""
    return _above_zero(_broadcast(value, name, like), name, strict=True)


def _int(value, name, minimum=0) -> int:
    """An ``int`` (NumPy integers too; not bools or floats) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r:.40}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _flag(value, name) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r:.40}")
    return bool(value)


#: The roles an argument can play, shared by several functions, and their checks ``(value, name, *extra) -> value``.
ROLES = {
    # arrays of shape (..., K), and drawn categories
    "logits": _logits, "probs": _probs, "nonnegative": _nonnegative, "summable": _summable, "index": _index,
    # arrays of any shape
    "real": _real, "extended_real": _extended_real, "unit_interval": _unit_interval, "upstream": _upstream,
    # numbers; a step or a scale may also be an array of them (one per row, or per entry)
    "scalar": _scalar, "positive": _positive, "nonnegative_scalar": _nonnegative_scalar, "step": _step, "scale": _scale,
    # options
    "int": _int, "flag": _flag,
}


def checked_noise(u, rng, like: Like, name: str = "u"):
    """Check a source of uniform noise: exactly one of explicit ``u`` and a generator ``rng``.

    Returns ``u`` checked (of ``like.need``, finite, in ``[0, 1)``), or
    ``None`` when ``rng`` (a ``numpy.random.Generator``) is given: the draw is
    the caller's (:func:`ils_ref.ops.sampling.uniform`), not the checker's.
    """
    if (u is None) == (rng is None):
        got = "got both" if u is not None else "got neither"
        raise TypeError(f"pass exactly one of {name} (explicit uniform noise) or rng (a numpy.random.Generator), {got}")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {type(rng).__name__}")
        return None
    u = _same_shape(_array(u, name, finite_=False), name, like)
    _refuse_nonfinite(u, name, need="values in [0, 1)")
    outside = (u < 0) | (u >= 1)
    if outside.any():
        raise ValueError(f"{name} must lie in [0, 1), got {float(u[outside].flat[0])!r}")
    return u
