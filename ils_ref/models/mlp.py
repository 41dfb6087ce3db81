r"""The pieces of a small MLP, each forward pass with its backward pass under it.

Shapes: a layer maps rows ``x`` of shape ``(..., N, D_in)`` with weights
``w`` of shape ``(..., D_in, D_out)`` and bias ``b`` of shape ``(..., D_out)``.
The leading ``...`` axes are independent models (one per seed, trained side
by side); ``N`` is the batch of rows each model sees.  These are kernels on
checked arrays: :mod:`ils_ref.models.vae` checks its inputs once, at its
public boundary.
"""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""``y = x w + b``, row by row: ``(..., N, D_in) → (..., N, D_out)``."""
    return x @ w + b[..., None, :]


def linear_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray):
    r"""VJP of :func:`linear_forward`: ``(dx, dw, db)``.

    .. math::

        dx = dy\, w^\top, \qquad dw = x^\top dy, \qquad db = \textstyle\sum_{\text{rows}} dy

    ``dw`` and ``db`` sum over the ``N`` rows (each row uses the same weights).
    """
    return dy @ np.swapaxes(w, -1, -2), np.swapaxes(x, -1, -2) @ dy, dy.sum(axis=-2)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    r"""``y = tanh(x)``, elementwise."""
    return np.tanh(x)


def tanh_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""VJP of :func:`tanh_forward` from its output: ``dx = dy (1 - y²)``, since ``tanh' = 1 - tanh²``."""
    return dy * (1.0 - y * y)


#: Up to this many pixels, ``Σ_d log(1 + e^{-|o_d|})`` is taken as the log of a product (each factor is in (1, 2]).
PRODUCT_TERMS = 1000


def bernoulli_nll(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""``-log p(x | logits)`` of independent pixels, summed over the last axis.

    .. math::

        -\log p(x \mid o) = \sum_d \bigl(\log(1 + e^{o_d}) - x_d\, o_d\bigr),
        \qquad p(x_d = 1) = \sigma(o_d)

    ``x`` may hold values in ``[0, 1]`` (then this is a cross-entropy); here
    pixels are 0 or 1.

    Notes
    -----
    ``log(1 + e^o) = max(o, 0) + log(1 + e^{-|o|})`` never overflows.  The
    second term's factors ``1 + e^{-|o_d|}`` lie in ``(1, 2]``, so for up to
    :data:`PRODUCT_TERMS` pixels their product is finite and one ``log`` per
    image replaces one ``log1p`` per pixel (the transcendental functions are
    most of the cost of the exact ELBO).  The rounding error is that of a
    product of ``D`` terms, ``~D·ε`` relative, ``~1e-13`` nats for ``D = 256``.
    """
    softplus_tail = 1.0 + np.exp(-np.abs(logits))
    if logits.shape[-1] <= PRODUCT_TERMS:
        tail = np.log(np.prod(softplus_tail, axis=-1))
    else:
        tail = np.log(softplus_tail).sum(axis=-1)
    return np.maximum(logits, 0.0).sum(axis=-1) + tail - np.sum(x * logits, axis=-1)


def sigmoid_kernel(logits: np.ndarray) -> np.ndarray:
    r"""``σ(o) = ½ (1 + tanh(o/2))``: the same function as ``1/(1 + e^{-o})``, faster in NumPy than ``expit``.

    Far in the negative tail it is accurate in absolute terms (to ``1e-17``),
    not relative: ``σ(-40) = 4e-18`` comes out as 0.  Here it is only
    compared with pixels that are 0 or 1.
    """
    return 0.5 + 0.5 * np.tanh(0.5 * logits)


def bernoulli_nll_backward(dloss: np.ndarray, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""VJP of :func:`bernoulli_nll` with respect to the logits: ``do = dloss · (σ(o) - x)``."""
    return dloss[..., None] * (sigmoid_kernel(logits) - x)
