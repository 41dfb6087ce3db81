"""Argument checking shared by every public function.

Every public function turns its array arguments into ``float64`` arrays with
:func:`as_real_array` and then states what it needs (finite entries, a
non-empty category axis, matching shapes, ...) with the helpers below.  Bad
input therefore fails early, with a ``TypeError`` (wrong kind of object) or a
``ValueError`` (right kind, wrong value) whose message names the argument, what
it got and what it needs.

The helpers only *read* their input; the numerical kernels after them may
assume everything the checks established.
"""

from __future__ import annotations

import numbers

import numpy as np

#: Largest allowed ``|sum(row) - 1|`` for an argument documented as "rows of
#: probabilities".  Loose enough for probabilities computed in float32 by
#: another framework, tight enough to catch an unnormalised vector.
PROB_SUM_ATOL = 1e-6

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


def _first(mask: np.ndarray) -> str:
    """The first ``True`` position of ``mask``, and how many more there are."""
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    count = int(np.count_nonzero(mask))
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"{idx}{more}"


def _where(mask: np.ndarray) -> str:
    return f"at index {_first(mask)}"


def as_real_array(value, name: str) -> np.ndarray:
    """Return ``value`` as a ``float64`` array, or raise naming ``name``.

    Integers and lower-precision floats are converted to ``float64``;
    booleans, complex numbers, strings, objects and ``None`` are refused with a
    ``TypeError``.  The returned array may share memory with ``value``: callers
    must not write into it.
    """
    if value is None:
        raise TypeError(f"{name} must be an array of real numbers, got None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got a string {value!r:.40}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists, objects refusing conversion
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = _KIND_NAMES.get(kind, "values")
        raise TypeError(
            f"{name} must hold real numbers (integers or floats), got {what} (dtype {arr.dtype})"
        )
    return arr.astype(np.float64, copy=False)


def category_array(value, name: str) -> np.ndarray:
    """:func:`as_real_array` plus a non-empty category (last) axis."""
    arr = as_real_array(value, name)
    if arr.ndim == 0:
        raise ValueError(
            f"{name} must have at least one dimension (the category axis is the last axis), "
            f"got a 0-d array"
        )
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has an empty category axis (shape {arr.shape}); need K >= 1")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """True iff every entry is finite, usually in one cheap pass.

    A sum of finite numbers is finite unless it overflows; NaN or ±inf in the
    array make the sum non-finite.  So a finite sum proves the point, and only
    a non-finite sum (rare) needs the entry-by-entry check.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    return bool(np.isfinite(arr).all())


def require_no_nan(arr: np.ndarray, name: str) -> None:
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"{name} contains NaN {_where(nan)}")


def require_finite(arr: np.ndarray, name: str) -> None:
    if all_finite(arr):
        return
    require_no_nan(arr, name)
    inf = np.isinf(arr)
    if inf.any():
        raise ValueError(f"{name} contains inf {_where(inf)}; it needs finite values")


def require_nonnegative(arr: np.ndarray, name: str) -> None:
    neg = arr < 0
    if neg.any():
        first = arr[tuple(np.argwhere(neg)[0])]
        raise ValueError(f"{name} contains a negative entry ({first:.3g}) {_where(neg)}; it needs entries >= 0")


def require_same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}; they must match")


def require_shape(arr: np.ndarray, name: str, shape: tuple, what: str) -> None:
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but must have shape {tuple(shape)} ({what})")


def require_rows_sum_to_one(arr: np.ndarray, name: str, atol: float = PROB_SUM_ATOL) -> None:
    """Rows (last axis) must sum to one within ``atol``."""
    with np.errstate(over="ignore", invalid="ignore"):  # a sum that overflows is simply not 1
        dev = np.abs(arr.sum(axis=-1) - 1.0)
    dev = np.where(np.isnan(dev), np.inf, dev)
    bad = dev > atol
    if bad.any():
        worst = float(dev.max())
        raise ValueError(
            f"{name} has a row that does not sum to 1 (batch index {_first(bad)}, "
            f"off by {worst:.3g}; tolerance {atol:g})"
        )


def logits_array(value, name: str = "logits") -> np.ndarray:
    """Logits: no NaN, no ``+inf``; ``-inf`` masks a category but not a whole row."""
    return logits_and_mask(value, name)[0]


def logits_and_mask(value, name: str = "logits") -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`logits_array` and where the logits are ``-inf`` (``None`` when all are finite)."""
    arr = category_array(value, name)
    if all_finite(arr):
        return arr, None
    require_no_nan(arr, name)
    pos_inf = arr == np.inf
    if pos_inf.any():
        raise ValueError(
            f"{name} contains +inf {_where(pos_inf)}; logits must be finite or -inf "
            f"(-inf masks a category)"
        )
    masked_rows = np.all(arr == -np.inf, axis=-1)
    if masked_rows.any():
        raise ValueError(
            f"{name} has a row whose every entry is -inf (batch index "
            f"{_first(masked_rows)}); at least one category must stay possible"
        )
    return arr, arr == -np.inf


def probs_array(value, name: str = "probs") -> np.ndarray:
    """Rows of probabilities: finite, non-negative, summing to one."""
    arr = category_array(value, name)
    require_finite(arr, name)
    require_nonnegative(arr, name)
    require_rows_sum_to_one(arr, name)
    return arr


def gradient_array(value, name: str, shape: tuple, what: str) -> np.ndarray:
    """An upstream gradient: finite, of a given shape."""
    arr = as_real_array(value, name)
    require_shape(arr, name, shape, what)
    require_finite(arr, name)
    return arr


def real_scalar(value, name: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    """A finite real Python scalar (bools and strings refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r:.40}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real scalar, got an array of shape {value.shape}")
        value = value.item()
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    if positive and not out > 0:
        raise ValueError(f"{name} must be > 0, got {out}")
    if nonnegative and not out >= 0:
        raise ValueError(f"{name} must be >= 0, got {out}")
    return out


def scalar_or_per_row(value, name: str, batch_shape: tuple, *, positive: bool = False, nonnegative: bool = False):
    """A finite real scalar, or an array broadcastable to ``batch_shape`` (one value per row).

    Returns a float, or a float64 array of shape ``batch_shape + (1,)`` ready
    to broadcast against ``(..., K)`` arrays.
    """
    out = scalar_or_array(value, name, batch_shape, positive=positive, nonnegative=nonnegative)
    return out if isinstance(out, float) else out[..., None]


def scalar_or_array(value, name: str, shape: tuple, *, positive: bool = False, nonnegative: bool = False):
    """A finite real scalar, or an array broadcastable to ``shape`` (one value per element); float or ndarray."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(
            f"{name} must be a real number (or an array with one per row), got {type(value).__name__} {value!r:.40}"
        )
    if isinstance(value, (numbers.Real, np.floating, np.integer)):
        return real_scalar(value, name, positive=positive, nonnegative=nonnegative)
    arr = as_real_array(value, name)
    if arr.ndim == 0:
        return real_scalar(arr, name, positive=positive, nonnegative=nonnegative)
    try:
        arr = np.broadcast_to(arr, tuple(shape))
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to the shape {tuple(shape)}") from None
    require_finite(arr, name)
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {float(arr[~(arr > 0)].flat[0])}")
    if nonnegative and not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0, got {float(arr[~(arr >= 0)].flat[0])}")
    return arr


def linear_in_rows(kernel, dy: np.ndarray, *args, what: str = "the gradient for this dy") -> np.ndarray:
    """``kernel(dy, *args)`` for a kernel linear in ``dy``, safe for ``|dy|`` near the float64 limit.

    The direct result is returned when it is finite.  Otherwise intermediate
    sums overflowed: each row of ``dy`` is divided by its largest magnitude,
    the kernel is applied, and the row is scaled back; only a result that is
    itself beyond float64 raises ``ValueError`` (``what`` names the call).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = kernel(dy, *args)
    if all_finite(out):
        return out
    m = np.abs(dy).max(axis=-1, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        out = kernel(dy / m, *args) * m
    return require_finite_result(out, what)


def int_arg(value, name: str, minimum: int) -> int:
    """An ``int`` (NumPy integers too, not bools or floats) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r:.40}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def require_finite_result(arr: np.ndarray, what: str) -> np.ndarray:
    """Guard a kernel's output: overflow is reported, never returned as inf/NaN."""
    if not all_finite(arr):
        raise ValueError(
            f"{what} is not representable in float64 (overflow {_where(~np.isfinite(arr))}); "
            f"rescale the input"
        )
    return arr
