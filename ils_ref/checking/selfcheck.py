"""Every backward pass of the package, as a gradient-check case.

:func:`backward_cases` lists ``(name, f, vjp, x)`` tuples on seeded random
inputs; :func:`run` checks them all with :func:`ils_ref.gradcheck.check_vjp`.
``ils-ref selfcheck`` prints the result, and the test suite asserts that
every public ``*_backward`` function appears here.
"""

from __future__ import annotations

import numpy as np

from ..estimators.bernoulli import (
    bernoulli_ils_backward,
    bernoulli_ils_forward,
    bernoulli_target,
)
from ..estimators.gaussian import gaussian_ils_backward, gaussian_ils_forward
from ..estimators.gumbel import (
    GumbelCache,
    gumbel_softmax_backward,
    gumbel_softmax_forward,
)
from ..estimators.gumbel_rao import gumbel_rao_backward, gumbel_rao_forward
from ..estimators.ils import ils_backward, ils_cache, ils_step
from ..estimators.intermediate import LOSSES
from ..estimators.reinmax import ReinMaxCache, reinmax_backward, reinmax_forward
from ..gradcheck import check_vjp
from ..ops.divergence import (
    bernoulli_kl,
    bernoulli_kl_backward,
    gaussian_kl,
    gaussian_kl_backward,
    kl_divergence,
    kl_divergence_backward,
)
from ..ops.normalization import normalize, normalize_backward
from ..ops.sigmoid import sigmoid, sigmoid_backward
from ..ops.softmax import log_softmax, log_softmax_backward, softmax, softmax_backward


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
    cases = [
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
    # ILS: given the draw and dz, π_D does not depend on the logits, so the
    # backward pass is exactly the gradient of θ ↦ Σ_rows L_I(softmax θ, π_D).
    index = rng.integers(0, k, size=shape[:-1])
    dz = rng.normal(size=shape)
    for loss in LOSSES.values():
        for alpha in (0.5, 0.05):
            pi_d = ils_step(dz, ils_cache(logits, index), alpha, loss=loss).pi_d
            cases.append(
                (
                    f"ils ({loss.name}, alpha={alpha})",
                    ils_backward,
                    lambda x, pi_d=pi_d, loss=loss: loss.forward(softmax(x), pi_d),
                    lambda x, dout, alpha=alpha, loss=loss: dout[..., None]
                    * ils_backward(dz, ils_cache(x, index), alpha, loss=loss),
                    logits,
                )
            )
    # Gumbel-softmax with the noise fixed: an ordinary function of the logits.
    u = rng.uniform(0.01, 0.99, size=shape)
    for temperature in (0.5, 2.0):
        cases.append(
            (
                f"gumbel_softmax (T={temperature})",
                gumbel_softmax_backward,
                lambda x, t=temperature: gumbel_softmax_forward(x, t, u=u)[0],
                lambda x, dy, t=temperature: gumbel_softmax_backward(dy, gumbel_softmax_forward(x, t, u=u)[1]),
                logits,
            )
        )
    cases += _surrogate_cases(rng, logits)
    cases += _beyond_categorical_cases(rng, shape)
    return cases


def _surrogate_cases(rng, logits):
    """ReinMax and Gumbel-Rao with the draw and the noise fixed: gradients of explicit surrogates.

    ReinMax: ``θ ↦ 2 softmax(c + θ) - ½ softmax(θ)`` with ``c = log π_1 - θ_0`` fixed, so that
    ``softmax(c + θ_0) = π_1``.  Gumbel-Rao: ``θ ↦ mean_s softmax((θ + G_s)/T)`` with ``G_s`` fixed.
    """
    _, rcache = reinmax_forward(logits, 1.5, rng=rng)
    shift = np.log(rcache.midpoint) - logits
    _, gcache = gumbel_rao_forward(logits, 0.7, 4, rng=rng)
    noise = gcache.gumbel

    def reinmax_surrogate(x):
        return 2.0 * softmax(shift + x) - 0.5 * softmax(x)

    def gumbel_rao_surrogate(x):
        return softmax((x + noise) / 0.7).mean(axis=0)

    return [
        ("reinmax (T=1.5)", reinmax_backward, reinmax_surrogate,
         lambda x, dy: reinmax_backward(dy, ReinMaxCache(softmax(x), softmax(shift + x), rcache.index)), logits),
        ("gumbel_rao (T=0.7, 4 samples)", gumbel_rao_backward, gumbel_rao_surrogate,
         lambda x, dy: gumbel_rao_backward(dy, GumbelCache(softmax((x + noise) / 0.7), 0.7, True, gcache.index, noise)),
         logits),
    ]  # fmt: skip


def _beyond_categorical_cases(rng, shape):
    """Sigmoid, Bernoulli KL, Gaussian KL, and Bernoulli/Gaussian ILS with their targets fixed."""
    x = rng.normal(size=shape)
    p_fix, q_fix = rng.uniform(0.1, 0.9, size=shape), rng.uniform(0.1, 0.9, size=shape)
    m_fix, sigma = rng.normal(size=shape), 0.7
    b, bcache = bernoulli_ils_forward(x, rng=rng)
    g = rng.normal(size=shape)
    p_d = bernoulli_target(g, bcache, 0.3)
    _, gcache = gaussian_ils_forward(x, sigma, rng=rng)
    target_mean = gcache.z - 0.3 * g
    return [
        ("sigmoid", sigmoid_backward, sigmoid, lambda v, dy: sigmoid_backward(dy, sigmoid(v)), x),
        ("bernoulli_kl (d/dp)", bernoulli_kl_backward, lambda v: bernoulli_kl(v, q_fix),
         lambda v, d: bernoulli_kl_backward(d, v, q_fix)[0], p_fix),
        ("bernoulli_kl (d/dq)", bernoulli_kl_backward, lambda v: bernoulli_kl(p_fix, v),
         lambda v, d: bernoulli_kl_backward(d, p_fix, v)[1], q_fix),
        ("gaussian_kl (d/dmean_q)", gaussian_kl_backward, lambda v: gaussian_kl(m_fix, v, sigma),
         lambda v, d: gaussian_kl_backward(d, m_fix, v, sigma)[1], x),
        # ILS: with the draw and g fixed, the backward is the gradient of θ ↦ KL(target ‖ model(θ))
        ("bernoulli_ils (alpha=0.3)", bernoulli_ils_backward, lambda v: bernoulli_kl(p_d, sigmoid(v)),
         lambda v, d: d * bernoulli_ils_backward(g, type(bcache)(v, sigmoid(v), b), 0.3), x),
        ("gaussian_ils (alpha=0.3)", gaussian_ils_backward, lambda v: gaussian_kl(target_mean, v, sigma),
         lambda v, d: d * gaussian_ils_backward(g, type(gcache)(v, sigma, (gcache.z - v) / sigma, gcache.z), 0.3), x),
    ]


def run(seed: int = 0, full: bool = False) -> list:
    """``[(name, report), ...]`` for every case of :func:`backward_cases`."""
    return [(name, check_vjp(f, vjp, x, full=full, seed=seed)) for name, _, f, vjp, x in backward_cases(seed)]
