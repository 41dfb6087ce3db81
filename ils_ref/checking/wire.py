"""The messages a checked child process sends back: plain JSON and raw arrays, never a pickle.

Unpickling runs code chosen by whoever wrote the bytes, so the parent never
unpickles what the child sends: a message is an 8-byte header length, a JSON
header ``{"kind", "info", "arrays": [[dtype, shape], ...]}`` and the arrays'
bytes, read back by :func:`unpack` with every field checked (numeric dtypes
only, sizes that add up).  Anything else is a :class:`WireError`, which the
parent treats as the checked code failing.
"""

from __future__ import annotations

import json

import numpy as np

#: The dtypes an array in a message may have: booleans, integers and floats of the machine's byte order.
DTYPES = frozenset(np.dtype(t).str for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
))
#: The largest message the parent reads (a statistical check's estimates are far smaller).
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


class WireError(ValueError):
    """A message from the child that is not one :func:`pack` writes."""


def pack(kind: str, info: dict | None = None, arrays=()) -> bytes:
    """One message: ``kind``, a JSON-able ``info`` and numeric arrays."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    header = json.dumps({"kind": kind, "info": info or {}, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]},
                        allow_nan=True).encode()
    return len(header).to_bytes(8, "little") + header + b"".join(a.tobytes() for a in arrays)


def unpack(data: bytes) -> tuple[str, dict, list]:
    """``(kind, info, arrays)`` of a message, or :class:`WireError`."""
    if len(data) < 8:
        raise WireError("a message shorter than its header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise WireError("a header longer than the message")
    try:
        header = json.loads(data[8:8 + size].decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise WireError("a header that is not JSON") from None
    if (not isinstance(header, dict) or not isinstance(header.get("kind"), str) or not isinstance(header.get("info"), dict)
            or not isinstance(header.get("arrays"), list)):
        raise WireError("a header without kind, info and arrays")
    arrays, at = [], 8 + size
    for spec in header["arrays"]:
        if (not isinstance(spec, list) or len(spec) != 2 or spec[0] not in DTYPES or not isinstance(spec[1], list)
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in spec[1])):
            raise WireError(f"an array described as {str(spec)[:60]}")
        dtype, shape = np.dtype(spec[0]), tuple(spec[1])
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes > len(data) - at:
            raise WireError("arrays larger than the message")
        arrays.append(np.frombuffer(data, dtype=dtype, count=count, offset=at).reshape(shape).copy())
        at += nbytes
    if at != len(data):
        raise WireError("bytes after the last array")
    return header["kind"], header["info"], arrays
