"""Every backward pass of the package, as a gradient-check case.

:func:`backward_cases` lists ``(name, f, vjp, x)`` tuples on seeded random
inputs; :func:`run` checks them all with :func:`ils_ref.gradcheck.check_vjp`.
``ils-ref selfcheck`` prints the result, and the test suite asserts that
every public ``*_backward`` function appears here.
"""

from __future__ import annotations

import numpy as np

from .divergence import kl_divergence, kl_divergence_backward
from .gradcheck import check_vjp
from .normalization import normalize, normalize_backward
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward


def backward_cases(seed: int = 0, batch: tuple = (3, 4), k: int = 7) -> list:
    """``(name, backward_function, f, vjp, x)`` for every backward pass.

    ``f`` and ``vjp(x, dy)`` are the forward and backward as functions of the
    single array ``x`` that is differentiated; the other arguments are fixed
    at seeded random values.  Inputs stay well inside each function's domain
    (probabilities >= 0.05) so that central differences are accurate.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(batch) + (k,)
    logits = rng.normal(size=shape)

    def positive():
        return rng.uniform(0.05, 1.0, size=shape)

    p, q = normalize(positive()), normalize(positive())
    z = positive()
    return [
        ("softmax", softmax_backward, softmax, lambda x, dy: softmax_backward(dy, softmax(x)), logits),
        (
            "log_softmax",
            log_softmax_backward,
            log_softmax,
            lambda x, dy: log_softmax_backward(dy, log_softmax(x)),
            logits,
        ),
        (
            "kl_divergence (d/dp)",
            kl_divergence_backward,
            lambda x: kl_divergence(x, q),
            lambda x, dy: kl_divergence_backward(dy, x, q)[0],
            p,
        ),
        (
            "kl_divergence (d/dq)",
            kl_divergence_backward,
            lambda x: kl_divergence(p, x),
            lambda x, dy: kl_divergence_backward(dy, p, x)[1],
            q,
        ),
        ("normalize", normalize_backward, normalize, lambda x, dy: normalize_backward(dy, x), z),
    ]


def run(seed: int = 0, full: bool = False) -> list:
    """``[(name, report), ...]`` for every case of :func:`backward_cases`."""
    return [(name, check_vjp(f, vjp, x, full=full, seed=seed)) for name, _, f, vjp, x in backward_cases(seed)]
