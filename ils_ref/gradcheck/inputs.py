"""The point of a gradient check: one array, or several, as the flat vector the checker works on."""

from __future__ import annotations

import numpy as np

from ..validation import checked
from .calls import UserFunctionError, as_output
from .core import EPS64


class Inputs:
    """One array, or several (``wrt`` of them perturbed), as one flat vector and back.

    ``f(fn)`` and ``vjp(fn)`` wrap the user's functions to take and return
    that flat vector; ``index_of(j)`` names flat position ``j`` as the user
    sees it (``(input, *index)`` for several arrays).
    """

    def __init__(self, x, wrt):
        self.multi = isinstance(x, tuple)  # a list is array_like, like any nested sequence of numbers
        arrays = list(x) if self.multi else [x]
        if self.multi and not arrays:
            raise ValueError("x is an empty tuple: give at least one input array")
        if wrt is None:
            wrt = tuple(range(len(arrays)))
        elif not self.multi:
            raise ValueError("wrt names inputs of a tuple x; for a single array leave it out")
        else:
            if isinstance(wrt, (int, np.integer)) and not isinstance(wrt, bool):
                wrt = (wrt,)
            if not isinstance(wrt, (tuple, list)) or not wrt or len(set(wrt)) != len(wrt) or not all(
                    isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < len(arrays) for k in wrt):
                raise ValueError(f"wrt must name distinct inputs among 0..{len(arrays) - 1}, got {wrt!r}")
        self.wrt = tuple(int(k) for k in wrt)
        # the inputs checked are float64; those held fixed are passed as given (integer labels stay integers)
        self.arrays = [checked(**{f"x[{k}]" if self.multi else "x": ("real", a)}) if k in self.wrt
                       else np.array(a, copy=True) for k, a in enumerate(arrays)]
        sizes = [self.arrays[k].size for k in self.wrt]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.flat = np.concatenate([self.arrays[k].reshape(-1) for k in self.wrt]) if sizes else np.zeros(0)
        self.shape = self.arrays[0].shape if not self.multi else (int(self.flat.size),)
        self.vjp_dtype = None  # the lowest precision vjp returned, if below float64

    def unpack(self, z):
        lead = z.shape[:-1]
        args = list(self.arrays)
        for k, a in enumerate(self.arrays):
            if k not in self.wrt:  # held fixed: a fresh copy (with the leading axis when batched)
                args[k] = a.copy() if not lead else np.broadcast_to(a, lead + a.shape).copy()
        for pos, k in enumerate(self.wrt):
            args[k] = z[..., self.offsets[pos]:self.offsets[pos + 1]].reshape(lead + self.arrays[k].shape)
        return args

    def index_of(self, j: int) -> tuple:
        pos = int(np.searchsorted(self.offsets, j, side="right") - 1)
        k = self.wrt[pos]
        idx = tuple(int(i) for i in np.unravel_index(j - self.offsets[pos], self.arrays[k].shape))
        return (k,) + idx if self.multi else idx

    def f(self, fn):
        return lambda z: fn(*self.unpack(z))

    def vjp(self, fn):
        def packed(dy):
            lead = dy.shape[:dy.ndim - len(self.y_shape)]
            out = fn(*(a.copy() for a in self.arrays), dy)
            if self.multi:
                if not isinstance(out, (tuple, list)) or len(out) not in (len(self.arrays), len(self.wrt)):
                    raise UserFunctionError(
                        f"vjp returned {type(out).__name__}; expected a tuple of {len(self.arrays)} arrays "
                        f"(one per input) or of {len(self.wrt)} (one per input in wrt)", "vjp")
                parts = [out[k] for k in self.wrt] if len(out) == len(self.arrays) else list(out)
            else:
                parts = [out]
            flat = []
            for pos, (k, part) in enumerate(zip(self.wrt, parts)):
                dtype = getattr(part, "dtype", None)  # seen here, before the parts become one float64 array
                if dtype is not None and getattr(dtype, "itemsize", 8) < 8 and getattr(dtype, "kind", "") == "f":
                    self.vjp_dtype = dtype
                name = f"its part for input {k}" if self.multi else "it"
                arr = as_output(part, "vjp", lead + self.arrays[k].shape, f"({name})", finite=not lead, copy=False)
                flat.append(arr.reshape(lead + (-1,)))
            return flat[0] if len(flat) == 1 else np.concatenate(flat, axis=-1)
        return packed

    @property
    def vjp_eps(self) -> float:
        """The unit roundoff of what ``vjp`` returned (float64 unless it returned less)."""
        return float(np.finfo(self.vjp_dtype).eps) if self.vjp_dtype is not None else EPS64
