"""Argument checks at the public boundary: one call per function, keyed by role.

Every public function starts with one call to :func:`checked`, which names each
argument, says what role it plays and returns it checked::

    y, dy = checked(y=("probs", y), dy=("upstream", dy, "y"))

Each keyword is the argument's name (error messages use it); its value is
``(role, value, *extra)``, the roles being the package's vocabulary (``ROLES``
below).  An extra that is a string names an argument checked earlier in the
same call (``"cache.probs"`` reads an attribute of it); a role may also be a
class, which asks for an instance of it.  Bad input raises ``TypeError`` (wrong
kind of object) or ``ValueError`` (right kind, wrong value) naming the argument,
what it got and what it needs.  After the check a kernel is the formula alone;
:func:`finite` guards what it returns (an overflow is reported, never returned).
"""

from __future__ import annotations

import numbers

import numpy as np

#: Largest allowed ``|sum(row) - 1|`` for "rows of probabilities": loose enough for
#: float32 probabilities from another framework, tight enough for an unnormalised vector.
PROB_SUM_ATOL = 1e-6

#: An argument larger than this many float64 values is refused before any work.
MAX_ELEMENTS = 1 << 28

_KIND_NAMES = {
    "b": "booleans",
    "c": "complex numbers",
    "U": "strings",
    "S": "bytes",
    "O": "Python objects",
    "M": "datetimes",
    "m": "timedeltas",
    "V": "structured records",
}


def checked(**arguments):
    """Check every argument by its role; return the checked values in the order given.

    Returns a single value for a single argument, a tuple otherwise.
    """
    done = {}
    for name, (role, value, *extra) in arguments.items():
        if isinstance(role, type):
            if not isinstance(value, role):
                raise TypeError(f"{name} must be the {role.__name__} from the forward pass, got {type(value).__name__}")
            done[name] = value
            continue
        refs, resolved = [], []
        for e in extra:  # a string naming an earlier argument ("cache.z": an attribute of it) becomes that object
            head, _, attr = e.partition(".") if isinstance(e, str) else ("", "", "")
            if head in done:
                refs.append(e)
                e = getattr(done[head], attr) if attr else done[head]
            resolved.append(e)
        try:
            done[name] = ROLES[role](value, name, *resolved)
        except ValueError as exc:
            if not refs or not any(w in str(exc) for w in ("shape", "categories")):
                raise
            raise ValueError(f"{exc}, to match {' and '.join(refs)}") from None  # a mismatch may be any of their faults
    values = tuple(done.values())
    return values[0] if len(values) == 1 else values


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
    if finite_:
        with np.errstate(over="ignore", invalid="ignore"):  # see all_finite
            if not np.isfinite(np.sum(arr)) and not np.isfinite(arr).all():
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


def _refuse_nonfinite(arr: np.ndarray, name: str, allow: str = "", need: str = "finite values") -> None:
    """Raise for the first NaN (always) or infinity (unless ``allow`` is ``"-inf"`` or ``"inf"``)."""
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"{name} contains NaN {_where(nan)}")
    bad = np.isinf(arr) if not allow else (arr == np.inf) if allow == "-inf" else np.zeros(arr.shape, bool)
    if bad.any():
        sign = "+inf" if arr[tuple(np.argwhere(bad)[0])] > 0 else "-inf"
        raise ValueError(f"{name} contains {sign} {_where(bad)}; it needs {need}")
    return arr


def _same_shape(arr: np.ndarray, name: str, shape: tuple, what: str) -> np.ndarray:
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but must have shape {tuple(shape)} ({what})")
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


def _rows_sum_to_one(arr: np.ndarray, name: str) -> np.ndarray:
    dev = np.abs(arr.sum(axis=-1) - 1.0)
    bad = ~(dev <= PROB_SUM_ATOL)
    if bad.any():
        raise ValueError(f"{name} has a row that does not sum to 1 (batch index {_first(bad)}, off by {float(np.nanmax(np.where(bad, dev, 0))):.3g}; tolerance {PROB_SUM_ATOL:g})")
    return arr


def _nonnegative(value, name, like=None):
    """``(..., K)``, finite, ``>= 0``; with ``like``, of that argument's shape."""
    arr = _array(value, name, min_ndim=1)
    if like is not None:
        _same_shape(arr, name, np.shape(like), "the shape of the other distribution")
    neg = arr < 0
    if neg.any():
        raise ValueError(f"{name} contains a negative entry ({arr[tuple(np.argwhere(neg)[0])]:.3g}) {_where(neg)}; it needs entries >= 0")
    return arr


def _probs(value, name):
    """``(..., K)`` rows of probabilities: finite, ``>= 0``, summing to one within ``PROB_SUM_ATOL``."""
    return _rows_sum_to_one(_nonnegative(value, name), name)


def _log_probs(value, name):
    """``(..., K)`` log-probabilities: ``<= 0`` or ``-inf``, with ``exp`` summing to one per row."""
    arr = _array(value, name, min_ndim=1, finite_=False)
    _refuse_nonfinite(arr, name, allow="-inf", need="log-probabilities (entries <= 0 or -inf)")
    if np.any(arr > PROB_SUM_ATOL):
        raise ValueError(f"{name} must hold log-probabilities (entries <= 0 or -inf); got {float(arr.max()):.3g}")
    with np.errstate(under="ignore"):
        _rows_sum_to_one(np.exp(arr), f"exp({name})")
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


def _real(value, name, like=None):
    """Any shape, finite; with ``like``, of that argument's shape."""
    arr = _array(value, name)
    return arr if like is None else _same_shape(arr, name, np.shape(like), "the shape of the other argument")


def _extended_real(value, name):
    """Any shape; ``±inf`` allowed, NaN not."""
    return _refuse_nonfinite(_array(value, name, finite_=False), name, allow="inf")


def _unit_interval(value, name, like=None):
    """Any shape, entries in ``[0, 1]`` (Bernoulli parameters, sigmoid outputs)."""
    arr = _real(value, name, like)
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must hold Bernoulli parameters (or sigmoid outputs) in [0, 1]")
    return arr


def _upstream(value, name, like):
    """An upstream gradient: finite, with the shape of ``like`` (an array)."""
    arr = _array(value, name)
    if arr.shape != like.shape:
        raise ValueError(f"{name} has shape {arr.shape} but must have shape {like.shape} (the shape of the forward output)")
    return arr


def _per_row(value, name, like):
    """One finite value per row of ``like``: shape ``like.shape[:-1]``."""
    return _same_shape(_array(value, name), name, like.shape[:-1], f"one value per row of shape {like.shape}")


def _index(value, name, like):
    """Drawn categories: integers in ``[0, K)``, one per row of ``like`` (shape ``(..., K)``).

    ``like`` may be the number of categories ``K`` instead (any batch shape).
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of integers, got {type(value).__name__}")
    index = _array_of(value, name)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
    k = like if isinstance(like, int) else like.shape[-1]
    bad = (index < 0) | (index >= k)
    if bad.any():
        raise ValueError(f"{name} must lie in [0, {k}) (the categories), got {int(index[bad].flat[0])}")
    if isinstance(like, int):
        return index
    return _same_shape(index, name, like.shape[:-1], f"one category per row of shape {like.shape}")


def _shape(value, name):
    """A shape: a tuple (or list) of non-negative ints."""
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0 for n in value
    ):
        raise TypeError(f"{name} must be a tuple of non-negative ints, got {value!r:.60}")
    return tuple(int(n) for n in value)



def _scalar(value, name, *, positive=False, nonnegative=False) -> float:
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
    if positive and not out > 0:
        raise ValueError(f"{name} must be > 0, got {out}")
    if nonnegative and not out >= 0:
        raise ValueError(f"{name} must be >= 0, got {out}")
    return out


def _broadcast(value, name, shape, **sign):
    """A scalar (returned as float), or an array broadcast to ``shape`` with the same sign rule."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return _scalar(value, name, **sign)
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number (or an array of them), got {type(value).__name__} {value!r:.40}")
    arr = _array(value, name)
    if arr.ndim == 0:
        return _scalar(arr, name, **sign)
    try:
        arr = np.broadcast_to(arr, tuple(shape))
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to the shape {tuple(shape)}") from None
    if sign.get("positive") and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {float(arr[~(arr > 0)].flat[0])}")
    if sign.get("nonnegative") and not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0, got {float(arr[~(arr >= 0)].flat[0])}")
    return arr


def _step(value, name, like):
    """α >= 0: a number, or one per row of ``like`` (returned with shape ``(..., 1)``)."""
    if type(value) is float and 0.0 <= value < np.inf:  # the common case, decided at once
        return value
    out = _broadcast(value, name, like.shape[:-1], nonnegative=True)
    return out if isinstance(out, float) else out[..., None]


def _temperature(value, name, like):
    """T > 0: a number, or one per row of ``like`` (returned with shape ``(..., 1)``)."""
    out = _broadcast(value, name, like.shape[:-1], positive=True)
    return out if isinstance(out, float) else out[..., None]


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


def _choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value



def _noise(pair, name, shape):
    """``(u, rng)``, exactly one given: ``u`` itself (of ``shape``, in ``[0, 1)``) or ``rng.random(shape)``."""
    u, rng = pair
    shape = tuple(shape)
    if (u is None) == (rng is None):
        raise TypeError(
            "pass exactly one of u (explicit uniform noise) or rng (a numpy.random.Generator), "
            + ("got both" if u is not None else "got neither")
        )
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {type(rng).__name__}")
        return rng.random(shape)
    u = _same_shape(_array(u, name, finite_=False), name, shape, "one uniform number per draw")
    _refuse_nonfinite(u, name, need="values in [0, 1)")
    outside = (u < 0) | (u >= 1)
    if outside.any():
        raise ValueError(f"{name} must lie in [0, 1), got {float(u[outside].flat[0])!r}")
    return u


#: Every role a public argument can play, and its checker ``(value, name, *extra) -> value``.
ROLES = {
    "logits": _logits,
    "probs": _probs,
    "log_probs": _log_probs,
    "nonnegative": _nonnegative,
    "summable": _summable,
    "real": _real,
    "extended_real": _extended_real,
    "unit_interval": _unit_interval,
    "upstream": _upstream,
    "per_row": _per_row,
    "index": _index,
    "scalar": _scalar,
    "positive": lambda value, name: _scalar(value, name, positive=True),
    "nonnegative_scalar": lambda value, name: _scalar(value, name, nonnegative=True),
    "step": _step,
    "temperature": _temperature,
    "elementwise_step": lambda value, name, like: _broadcast(value, name, like.shape, nonnegative=True),
    "elementwise_scale": lambda value, name, like: _broadcast(value, name, like.shape, positive=True),
    "int": _int,
    "shape": _shape,
    "flag": _flag,
    "choice": _choice,
    "noise": _noise,
    "row_noise": lambda pair, name, like: _noise(pair, name, like.shape[:-1]),  # one per row of (..., K)
    "entry_noise": lambda pair, name, like: _noise(pair, name, like.shape),  # one per entry
    # Gumbel-Rao: the draw's noise, then one set per perturbation, each of the shape of like
    "draw_and_samples_noise": lambda pair, name, like, samples: _noise(pair, name, (samples + 1,) + like.shape),
}
