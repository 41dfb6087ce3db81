r"""ILS to first order in α: ``π - π_D = (π - z) + α c + O(α²)`` per draw.

The zeroth-order part ``π - z`` of ILS's logit gradient averages to zero over
the draw, so ILS's mean is ``α E[c] + O(α²)``: of order ``α``, and built from
``∂f/∂z`` at the drawn vertices.  :func:`ils_first_order` gives ``c`` for the
signed and the clip policies (they differ wherever a category that was not
drawn has a larger gradient than the drawn one);
:func:`ils_ref.estimators.interface.ils_expected_first_order` averages it over
every draw of a problem.  Tutorial 08 derives and checks both.
"""

from __future__ import annotations

import numpy as np

from ..ops.sampling import one_hot_kernel
from ..validation import checked, finite, rows_of
from .ils import POLICIES


def ils_first_order(dz, index, policy="clip") -> np.ndarray:
    r"""The first-order coefficient ``c`` of the ILS logit gradient in ``α``, per draw.

    At a one-hot draw ``z = e_k`` with upstream gradient ``g`` (the post's
    ``h = z/Σz`` and ``L_I = KL(π_D ‖ π)``, no masked category),

    .. math::

        \pi - \pi_D = (\pi - z) + \alpha\, c + O(\alpha^2), \qquad
        c = \begin{cases}
              \Delta - z\,\Sigma\Delta & \text{policy "signed"} \\
              \Delta^- - z\,\Sigma\Delta^- & \text{policy "clip"},
                \quad \Delta^- = \min(\Delta, 0)
            \end{cases}

    with ``Δ_j = g_j - g_k``.  ``c`` does not depend on ``π``: the logits enter
    only through ``π - z``, whose mean over ``z ~ π`` is zero, so the mean
    logit gradient is ``α E[c] + O(α²)``.

    Parameters
    ----------
    dz : array_like, shape (..., K)
        Upstream gradient ``g = ∂L/∂z`` at the draw; finite.
    index : array_like of int, shape (...)
        The drawn category ``k`` of every row, in ``[0, K)``.
    policy : {"clip", "signed", "raise"}, default "clip"
        The policy of :func:`ils_ref.ils_backward` whose expansion is wanted.

    Returns
    -------
    c : ndarray, shape (..., K)
        Rows sum to zero; ``c_k = -ΣΔ`` (``-ΣΔ^-`` under clip).

    Raises
    ------
    ValueError
        ``dz`` with no category axis or a non-finite entry, ``index`` out of
        ``[0, K)`` or not one per row of ``dz``, an unknown ``policy``; under
        ``policy="raise"``, a row with ``Δ_j > 0`` for some ``j`` (there
        :func:`ils_ref.ils_backward` raises at every ``α > 0``).
    TypeError
        ``dz`` not real numbers, ``index`` not integers.

    Notes
    -----
    Signed: ``w = z - αΔ`` sums to ``1 - αΣΔ`` (``Σz = 1``), so

    .. math::

        \pi_D = \frac{z - \alpha\Delta}{1 - \alpha\Sigma\Delta}
              = z - \alpha\Delta + \alpha\, z\,\Sigma\Delta + O(\alpha^2).

    Clip: ``w_k = 1`` (``Δ_k = 0``) and ``w_j = -αΔ_j`` for ``j ≠ k``, so
    ``max(w_j, 0) = -αΔ^-_j`` and the clipped sample is exactly
    ``z - αΔ^-`` for every ``α >= 0``; the same expansion applies with
    ``Δ^-``, and converges for every ``α`` (``ΣΔ^- <= 0``).  The two differ
    wherever some ``Δ_j > 0`` (a category that was not drawn has a larger
    gradient than the drawn one), which for a generic loss is most draws.
    Where ``Δ >= 0`` in every entry (the drawn category has the smallest
    gradient), ``Δ^- = 0``: the clipped target is ``π_D = z`` at every ``α``
    and ``c = 0``.

    ``"raise"``: where :func:`ils_ref.ils_backward` does not raise for small ``α > 0``
    (``Δ <= 0``), ``Δ^- = Δ`` and the three policies agree; elsewhere this
    raises too, rather than return a coefficient of an estimate that does not
    exist.

    A category masked by a ``-inf`` logit has ``w_j = 0`` in
    :func:`ils_ref.ils_backward`, as if ``Δ_j = 0``; this function does not see the
    logits, so give such a category the drawn one's gradient (``g_j = g_k``)
    to get that.
    """
    dz = checked(dz=("real", dz))
    if dz.ndim == 0:
        raise ValueError("dz must have at least one dimension (the category axis is the last axis), got a 0-d array")
    index = checked(index=("index", index, rows_of(dz, "dz")))
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r:.60}")
    with np.errstate(over="ignore", invalid="ignore"):  # g_j - g_k beyond float64: reported by finite(), never returned
        delta = dz - np.take_along_axis(dz, index[..., None], axis=-1)  # Δ_j = g_j - g_k
        if policy == "clip":
            delta = np.minimum(delta, 0.0)  # Δ⁻: the clipped sample is z - αΔ⁻ exactly
        c = delta - one_hot_kernel(index, dz.shape[-1]) * delta.sum(axis=-1, keepdims=True)  # Δ - z ΣΔ
    if policy == "raise" and np.any(delta > 0):
        row = tuple(int(i) for i in np.argwhere(np.any(delta > 0, axis=-1))[0])
        raise ValueError(f"dz has an entry above the drawn category's in row {row}: "
                         f"z - alpha*Delta leaves the simplex at every alpha > 0 (policy='raise')")
    return finite(c, "the first-order coefficient of dz (g_j - g_k beyond float64?)")
