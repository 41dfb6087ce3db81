"""How many package functions one call touches: ``python benchmarks/count_calls.py``.

Counts the distinct functions of ``ils_ref`` (by file and name) that run
during one default ``ils_backward`` call, with ``sys.setprofile``.  A reader
following the call opens exactly these.
"""

import sys

import numpy as np

import ils_ref


def touched(fn, *args, **kwargs):
    seen = []

    def profile(frame, event, arg):
        if event == "call" and "ils_ref" in frame.f_code.co_filename:
            key = f"{frame.f_code.co_filename.split('ils_ref')[-1].lstrip('/')}:{frame.f_code.co_name}"
            if key not in seen:
                seen.append(key)

    sys.setprofile(profile)
    try:
        fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return seen


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 10))
    z, cache = ils_ref.ils_forward(logits, rng=rng)
    dz = rng.normal(size=z.shape)
    names = touched(ils_ref.ils_backward, dz, cache, 0.1)
    print(f"a default ils_backward call touches {len(names)} package functions:")
    for name in names:
        print("  ", name)
