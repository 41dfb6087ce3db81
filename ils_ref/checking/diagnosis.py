r"""Naming the mistake: a catalogue of known wrong ILS backward passes, computed from a case's inputs.

When an implementation's ``dlogits`` disagrees with the reference, the
returned array is compared with what each of these mistakes would have
returned on the same inputs; the first that matches (to ``1e-6`` relative) is
named.  The catalogue, for ``ils_backward`` (and, where it applies, the
prototype's op):

=============================  ================================================
mistake                        what it returns
=============================  ================================================
the prototype's output         ``-π_D/(π + 1e-7)``: ``∂L_I/∂π`` returned as ``∂L_I/∂θ``
no softmax Jacobian            ``-π_D/π``: the same, without the ``1e-7``
sign flipped                   ``-(π - π_D)``
α ignored                      the gradient at ``α = 1``
another α                      the gradient at ``10α`` or ``α/10``
Δ not centred on the draw      ``Δ = g`` instead of ``g - g_k`` (no ``h`` VJP)
the other policy               clip instead of signed, or signed instead of clip
a wrong drawn index            the argmax of ``π``, or the next category, instead of ``index``
float32 rounding               the reference itself, to ``1e-4`` relative
=============================  ================================================
"""

from __future__ import annotations

import numpy as np

from ..estimators.ils import PROTOTYPE_EPS, ils_backward, ils_cache
from ..estimators.intermediate import Normalization
from ..ops.normalization import normalize_kernel
from ..ops.sampling import one_hot_kernel
from ..ops.softmax import softmax_kernel

#: Δ = g: a "normalisation" whose VJP is the identity (the centring on the drawn entry forgotten).
_UNCENTRED = Normalization("uncentred", normalize_kernel, lambda dy, z: dy)


def _candidates(inputs: dict, policy: str):
    """``(name, dlogits)`` for every mistake of the catalogue that is defined on these inputs."""
    logits, index = np.asarray(inputs["logits"], dtype=np.float64), np.asarray(inputs["index"])
    dz, alpha = np.asarray(inputs["dz"], dtype=np.float64), np.asarray(inputs["alpha"], dtype=np.float64)
    alpha = alpha if alpha.ndim else float(alpha)  # one step per row, or one for all
    cache = ils_cache(logits, index)
    other = "signed" if policy == "clip" else "clip"
    tries = [
        ("the prototype's output: -pi_D/(pi + 1e-7), a gradient with respect to pi returned as the logit gradient",
         lambda: ils_backward(dz, cache, alpha, prototype=True, policy="signed")),
        ("a missing softmax Jacobian: -pi_D/pi (dL_I/dpi) returned as the logit gradient",
         lambda: ils_backward(dz, cache, alpha, prototype=True, prototype_eps=0.0, policy=policy)),
        ("a sign flip: pi_D - pi instead of pi - pi_D", lambda: -ils_backward(dz, cache, alpha, policy=policy)),
        ("alpha ignored (the gradient at alpha = 1)", lambda: ils_backward(dz, cache, 1.0, policy=policy)),
        ("another alpha (10 alpha)", lambda: ils_backward(dz, cache, 10 * alpha, policy=policy)),
        ("another alpha (alpha / 10)", lambda: ils_backward(dz, cache, alpha / 10, policy=policy)),
        ("Delta not centred on the drawn entry (Delta = g instead of g - g_k)",
         lambda: ils_backward(dz, cache, alpha, h=_UNCENTRED, policy=policy)),
        (f"the other policy ({other!r} instead of {policy!r})", lambda: ils_backward(dz, cache, alpha, policy=other)),
        ("a wrong drawn index (the argmax of softmax(logits))",
         lambda: ils_backward(dz, ils_cache(logits, np.argmax(logits, axis=-1)), alpha, policy=policy)),
        ("a wrong drawn index (the next category, index + 1)",
         lambda: ils_backward(dz, ils_cache(logits, (index + 1) % logits.shape[-1]), alpha, policy=policy)),
    ]
    if np.isneginf(logits).any():  # before the signed policy's entry, which does not mask either
        tries.insert(0, (
            "masked categories given mass: z - alpha*Delta must stay 0 where the logit is -inf (probability 0), "
            "before h normalises it", lambda: _unguarded_signed(logits, index, dz, alpha, clip=policy == "clip", mask=False)[0]))
    tries.append((
        "the signed policy where its pi_D is undefined: h divided by sum(z - alpha*Delta) <= 0 (the literal "
        "algorithm; check with --policy signed, which skips these cases, or clip)",
        lambda: _unguarded_signed(logits, index, dz, alpha)[0],
    ))
    tries.append((
        "the prototype's output: -pi_D/(pi + 1e-7), with pi_D = h(z - alpha*Delta) divided by a sum <= 0 as the "
        "prototype did (a gradient with respect to pi returned as the logit gradient)",
        lambda: _unguarded_signed(logits, index, dz, alpha)[1],
    ))
    for name, compute in tries:
        try:
            with np.errstate(all="ignore"):
                yield name, compute()
        except ValueError:  # not defined here (a -inf logit drawn, a signed sum <= 0): not this mistake
            continue


def _unguarded_signed(logits, index, dz, alpha, clip: bool = False, mask: bool = True):
    """Algorithm 1 unclipped (unless ``clip``) and unguarded, as the prototype computed it (masking unless ``mask=False``)."""
    probs, k = softmax_kernel(logits), np.asarray(index)
    step = np.asarray(alpha, dtype=np.float64)[..., None] if np.ndim(alpha) else alpha
    w = one_hot_kernel(k, logits.shape[-1]) - step * (dz - np.take_along_axis(dz, k[..., None], axis=-1))
    w = np.where(np.isneginf(logits), 0.0, w) if mask else w
    w = np.maximum(w, 0.0) if clip else w
    pi_d = w / w.sum(axis=-1, keepdims=True)
    return probs - pi_d, -pi_d / (probs + PROTOTYPE_EPS)


def diagnose(op: str, inputs: dict, expected: np.ndarray, got: np.ndarray, policy: str = "clip") -> str:
    """One line: which known mistake ``got`` matches, or that it matches none."""
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    # float32's absolute error follows the O(1) probabilities inside, not the size of the result
    if np.allclose(got, expected, rtol=1e-4, atol=1e-6 * max(1.0, scale)):
        return "diagnosis: float32 rounding (agrees to 1e-4 relative): return float64, or pass --rtol 1e-4 --atol 1e-6"
    if op in ("ils_backward", "ils_backward_prototype"):
        for name, candidate in _candidates(inputs, "signed" if op == "ils_backward_prototype" else policy):
            if candidate.shape == got.shape and np.all(np.isfinite(candidate)) and np.allclose(
                got, candidate, rtol=1e-6, atol=1e-9 * max(scale, float(np.max(np.abs(candidate), initial=0.0)))
            ):
                return f"diagnosis: {name}"
    return "diagnosis: matches none of the known mistakes"
