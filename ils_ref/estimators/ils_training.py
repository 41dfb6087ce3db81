r"""The ILS kernel of the toy experiment's training loop: :func:`ils_kernel`'s numbers, fewer passes.

Read :func:`ils_ref.estimators.ils.ils_kernel` first: it is Algorithm 1 line
by line, and it is what :func:`ils_ref.ils_backward` runs.  This kernel serves
one place, the vectorised training loop of toy experiment 1
(:mod:`ils_ref.experiments.toy1`), whose recorded curves it reproduces bit
for bit; it computes the same gradient (to rounding; the tests check it) with
the post's defaults, ``h = z/Σz`` and ``L_I = KL``, by never forming
``z - αΔ`` as a whole.  Write ``v = g_k - g = -Δ`` (so ``v_k = 0``):

.. math::

    \sum_j (z - \alpha\Delta)_j = 1 + \alpha \sum_j v_j = t,\qquad
    \pi_D = \alpha v / t \ \text{off the draw},\quad 1/t\ \text{at it},

so ``v`` is scaled once in place and only the drawn entry of every row is
written separately.  It takes checked arrays only;
``benchmarks/bench_ils.py`` times both kernels.
"""

from __future__ import annotations

import numpy as np


def nonpositive_sum_error(bad_rows: np.ndarray, alpha) -> ValueError:
    """The error for rows where ``Σ(z - αΔ) <= 0`` (``bad_rows``: a boolean mask over the batch)."""
    row = tuple(int(i) for i in np.argwhere(bad_rows)[0])
    a = alpha if np.ndim(alpha) == 0 else float(np.asarray(alpha)[row][0])
    return ValueError(
        f"sum(z - alpha*Delta) <= 0 in row {row} (alpha={a:g}): pi_D = h(z - alpha*Delta) is undefined "
        f"there; use policy='clip' or a smaller alpha"
    )


def training_kernel(dz, probs, index, alpha, *, clip: bool = True, masked=None, prototype_eps=None) -> np.ndarray:
    """``dθ`` of ILS (``prototype_eps``: the prototype's ``-π_D/(π + eps)`` instead), all shapes ``(..., K)``.

    ``dz`` and ``probs`` are ``(..., K)``, ``index`` ``(...)``, ``alpha`` a
    float or ``(..., 1)``; ``clip=False`` is the ``"signed"`` policy.
    Raises ``ValueError`` where ``Σ(z - αΔ) <= 0`` (possible only unclipped).
    """
    drawn = np.arange(index.size).reshape(index.shape) * dz.shape[-1] + index  # flat position of every draw
    # v = g_k - g = -Δ, and v_k = 0.  C order, whatever dz's layout: the draws are written through v's flat view.
    v = np.subtract(np.ravel(dz)[drawn][..., None], dz, order="C")
    if masked is not None:
        v[masked] = 0.0
    if clip:
        np.maximum(v, 0.0, out=v)
    total = 1.0 + alpha * v.sum(axis=-1, keepdims=True)  # t = Σ(z - αΔ)
    if np.any(total <= 0):
        raise nonpositive_sum_error(total[..., 0] <= 0, alpha)
    if not np.isfinite(total).all():  # α·Σv beyond float64: π_D would silently collapse to 0
        raise ValueError("the ILS logit gradient is not representable in float64: alpha * dz (its g_k - g) "
                         "overflows in some row; rescale dz (the loss) or alpha")
    inv_total = 1.0 / total
    v *= alpha * inv_total  # π_D off the draw
    if prototype_eps is None:
        np.subtract(probs, v, out=v)  # π - π_D off the draw ...
        v.reshape(-1)[drawn] = np.ravel(probs)[drawn] - inv_total[..., 0]  # ... and at it
        return v
    v.reshape(-1)[drawn] = inv_total[..., 0]  # π_D at the draw
    return np.where(v == 0, 0.0, -v / (probs + prototype_eps))
