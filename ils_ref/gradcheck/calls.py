"""Calling the user's functions: counting calls, converting outputs, batching when asked.

``f`` and ``vjp`` may come from any framework; whatever they return goes
through :func:`as_output`, which converts it to float64 and refuses ``None``,
non-numeric values, wrong shapes and NaN/inf with a message that names the
function and the point.  A :class:`Caller` evaluates one point per call, or a
whole stack of points in one call when the function broadcasts over a leading
axis and the caller said so (``batched=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

#: At most this many float64 values per batched call (inputs or outputs): 32 MiB.
MAX_BATCH_ELEMENTS = 1 << 22


class BudgetExceeded(Exception):
    """The check needed more evaluations of ``f`` and ``vjp`` than ``max_evaluations`` allows."""


class UserFunctionError(ValueError):
    """A user function raised, or returned something unusable.

    ``source`` names the function (``"f"`` or ``"vjp"``).
    """

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


def as_output(value, name: str, shape: tuple | None, context: str, finite: bool = True, copy: bool = True) -> np.ndarray:
    """What a user function returned, as a fresh float64 array (or a :class:`UserFunctionError`).

    ``finite=False`` lets NaN and inf through (the caller handles a step that left f's domain).
    """
    if value is None:
        raise UserFunctionError(f"{name} returned None {context}", name)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        hint = " (for a torch tensor, return t.detach().numpy())" if hasattr(value, "detach") else ""
        raise UserFunctionError(
            f"{name} returned a {type(value).__name__} that NumPy cannot convert {context}: {exc}{hint}", name
        ) from None
    if arr.dtype.kind not in "iuf":
        raise UserFunctionError(f"{name} returned dtype {arr.dtype} {context}; need real numbers", name)
    if shape is not None and arr.shape != shape:
        raise UserFunctionError(f"{name} returned shape {arr.shape} {context}; expected {shape}", name)
    out = arr.astype(np.float64, copy=copy)
    if finite and not np.isfinite(out).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        kind = "NaN" if np.isnan(out[idx]) else "inf"
        raise UserFunctionError(f"{name} returned {kind} at index {idx} {context}", name)
    return out


@dataclass
class Caller:
    """A user function with a call counter.

    ``call(arg)`` evaluates at one point (``fn(*fixed, arg)``, each argument a
    fresh copy, so a function that writes into its input changes nothing
    here); ``map`` evaluates at many points: one call per chunk when
    ``batched`` (the function broadcasts over a leading axis), else one call
    per point.
    """

    fn: Callable
    name: str
    fixed: tuple = ()
    batched: bool = False
    calls: int = 0
    points: int = 0
    notes: list = field(default_factory=list)
    low_precision: str | None = None
    budget: list | None = None  # [evaluations left], shared by the callers of one check

    def _afford(self, count: int) -> None:
        """Raise :class:`BudgetExceeded` unless ``count`` more evaluations fit the budget."""
        if self.budget is not None and self.budget[0] < count:
            raise BudgetExceeded(f"{self.name} needed {count} more evaluations")

    def _spend(self, count: int) -> None:
        self._afford(count)
        if self.budget is not None:
            self.budget[0] -= count
        self.points += count

    def _chunk(self, make: Callable, shape: tuple) -> int:
        """Points per call: all that fit :data:`MAX_BATCH_ELEMENTS` (inputs or outputs) when batched, else 1."""
        if not self.batched:
            return 1
        one = max(1, int(np.prod(make(0, 1).shape[1:], dtype=np.int64)), int(np.prod(shape, dtype=np.int64)))
        return max(1, MAX_BATCH_ELEMENTS // one)

    def note_precision(self, value) -> None:
        """Note, once, that the function returned fewer than 64 bits (``value``'s dtype)."""
        dtype = getattr(value, "dtype", None)
        if dtype is not None and getattr(dtype, "itemsize", 8) < 8 and self.low_precision is None:
            self.low_precision = str(dtype)
            self.notes.append(
                f"{self.name} returned {dtype}: finite differences and comparisons are limited to "
                f"that precision; compute in float64 (or raise eps and rtol)"
            )

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"{self.name} must be callable, got {type(self.fn).__name__}")
        if not isinstance(self.batched, (bool, np.bool_)):
            raise TypeError(f"batched must be True or False, got {self.batched!r:.40}")

    def _raw(self, arg, fresh: bool = False):
        """``fn`` at ``arg`` (copied unless ``fresh``: made for this call alone)."""
        self.calls += 1
        try:
            out = self.fn(*(a.copy() for a in self.fixed), arg if fresh else arg.copy())
        except UserFunctionError:
            raise
        except Exception as exc:
            raise UserFunctionError(f"{self.name} raised {type(exc).__name__}: {exc}", self.name) from exc
        self.note_precision(out)
        return out

    def call(self, arg: np.ndarray, shape: tuple | None, context: str, finite: bool = True) -> np.ndarray:
        self._spend(1)
        return as_output(self._raw(arg), self.name, shape, context, finite)

    def map(self, count: int, make: Callable, shape: tuple, describe: Callable, finite: bool = True,
            borrow: bool = False) -> np.ndarray:
        """Evaluate at the points ``make(start, stop)`` for all ``[0, count)``: shape ``(count,) + shape``.

        With ``finite=False`` NaN and inf are returned as they are; otherwise the
        error names the first point whose value is not finite (in a batch too).
        ``borrow``: the caller reads the result before the next call, so a single
        batch may be returned as the function gave it.
        """
        self._afford(count)  # all of them, before any is evaluated; spent below as they are
        out = np.empty((count,) + shape)
        if not finite:  # points off x: outside f's domain NaN is expected, and so is an error
            return self._map_tolerant(count, make, shape, describe, out)
        if not self.batched:
            for i in range(count):
                out[i] = self.call(make(i, i + 1)[0, ...], shape, f"for {describe(i)}", finite)  # 0-d stays an array
            return out
        chunk = self._chunk(make, shape)
        for lo in range(0, count, chunk):
            hi = min(count, lo + chunk)
            self._spend(hi - lo)
            # the batch is copied into out below: no copy on the way
            block = as_output(self._raw(make(lo, hi), fresh=True), self.name, (hi - lo,) + shape, f"for a batch from {describe(lo)}",
                              False, copy=False)
            if finite and not np.isfinite(block).all():
                point, entry = (int(i) for i in np.argwhere(~np.isfinite(block.reshape(hi - lo, -1)))[0])
                value = block.reshape(hi - lo, -1)[point, entry]
                idx = tuple(int(k) for k in np.unravel_index(entry, shape))
                kind = "NaN" if np.isnan(value) else "inf"
                raise UserFunctionError(f"{self.name} returned {kind} at index {idx} for {describe(lo + point)}", self.name)
            if borrow and hi - lo == count:  # one batch, read at once by the caller: no copy
                return block
            out[lo:hi] = block
        return out

    def _map_tolerant(self, count, make, shape, describe, out):
        """:meth:`map` for points where ``f`` may be undefined: NaN for a point where it is not finite or raises.

        Floating-point warnings are silenced for these calls (NaN is the
        answer looked for); a batch that raises is retried one point per call.
        """
        chunk = self._chunk(make, shape)
        for lo in range(0, count, chunk):
            hi = min(count, lo + chunk)
            self._spend(hi - lo)
            pts = make(lo, hi)
            try:
                with np.errstate(all="ignore"):
                    if self.batched:
                        out[lo:hi] = as_output(self._raw(pts, fresh=True), self.name, (hi - lo,) + shape,
                                               f"for a batch from {describe(lo)}", False, copy=False)
                    else:
                        out[lo] = as_output(self._raw(pts[0, ...], fresh=True), self.name, shape, f"for {describe(lo)}", False)
                continue
            except UserFunctionError as exc:
                if exc.__cause__ is None:
                    raise  # a wrong shape or type (not f raising): not a question of the domain
                if not self.batched:
                    out[lo] = np.nan
                    continue
            for i in range(hi - lo):  # the batch raised: find the points that do, one call each
                try:
                    with np.errstate(all="ignore"):
                        out[lo + i] = as_output(self._raw(pts[i, ...], fresh=True), self.name, shape, f"for {describe(lo + i)}", False)
                except UserFunctionError as exc:
                    if exc.__cause__ is None:
                        raise
                    out[lo + i] = np.nan
        return out
