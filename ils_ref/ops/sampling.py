"""Uniform and normal noise, exact categorical sampling by the inverse CDF, one-hot vectors, Gumbel noise.

Randomness is always explicit: pass either ``u`` (uniform noise in
``[0, 1)``, which lets another implementation reproduce the same draw) or
``rng`` (a ``numpy.random.Generator``), never both.  Every public function of
the package that takes this pair draws through :func:`uniform` (or
:func:`normal`), here: the argument checker only checks the pair.  Nothing
here touches NumPy's global random state.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from ..validation import Like, checked, checked_noise, rows_of

# --------------------------------------------------------------------------
# the noise itself


def uniform(u, rng, like: Like, name: str = "u") -> np.ndarray:
    """Uniform noise in ``[0, 1)`` of shape ``like.need``: ``u`` itself, checked, or ``rng.random(like.need)``.

    Parameters
    ----------
    u : array_like or None
        Explicit noise: finite, in ``[0, 1)``, of shape ``like.need``.
    rng : numpy.random.Generator or None
        Exactly one of ``u``, ``rng``.
    like : ils_ref.validation.Like
        The shape of the noise (:func:`ils_ref.validation.rows_of` or
        :func:`ils_ref.validation.shape_of` of an argument checked before).
    name : str
        The name of ``u`` in messages.

    Returns
    -------
    u : ndarray, shape ``like.need``
    """
    u = checked_noise(u, rng, like, name)
    return rng.random(like.need) if u is None else u


def normal(u, rng, like: Like, name: str = "u") -> np.ndarray:
    """Standard normal noise of shape ``like.need``: ``rng.standard_normal(like.need)``, or ``ε = Φ⁻¹(u)``.

    Explicit ``u`` must lie in the *open* interval ``(0, 1)`` (``Φ⁻¹(0) = -inf``).
    """
    u = checked_noise(u, rng, like, name)
    if u is None:
        return rng.standard_normal(like.need)
    if np.any(u == 0):
        raise ValueError(f"{name} must lie in the open interval (0, 1) for normal noise ({name} = 0 gives -inf)")
    return ndtri(u)


# --------------------------------------------------------------------------
# categorical draws


#: Rows wider than this are searched block by block (see ``_sample_categorical``).
_BLOCK = 32


def _first_above(cdf: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first ``cdf[..., k] > threshold``, and where no entry qualifies."""
    above = cdf > threshold[..., None]
    return np.argmax(above, axis=-1), ~above[..., -1]


def _saturation(cdf: np.ndarray) -> np.ndarray:
    """Where a non-decreasing ``cdf`` first reaches its final value: the last category that adds mass."""
    return np.argmax(cdf, axis=-1)


def sample_categorical_kernel(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The smallest ``k`` with ``u·Σp < Σ_{j<=k} p_j``, row by row.

    Written for ``p / Σp`` (``u`` scaled by the row total), so a row whose sum
    misses 1 by rounding still finds a category.  Categories of probability 0
    repeat the previous cumulative sum exactly, so the strict "<" never
    selects them.  If rounding leaves ``u·Σp`` at or above every cumulative
    sum (``u`` within an ulp of 1), the category at which the cumulative sum
    reaches its final value is taken (the last one that adds any mass).

    Wide rows are searched in two levels to avoid a sequential cumulative sum
    over all ``K`` entries (a latency-bound loop): block totals first, then
    the cumulative sum inside the one block that holds the answer.  The rule
    is the same; only the order of the floating-point additions differs, so a
    ``u`` within a few ulps of a cumulative boundary may land on the
    neighbouring category compared with a strictly sequential sum.
    """
    k = probs.shape[-1]
    if k <= 2 * _BLOCK:
        cdf = np.cumsum(probs, axis=-1)
        scaled = u * cdf[..., -1]
        index, missed = _first_above(cdf, scaled)
        return np.where(missed, _saturation(cdf), index) if missed.any() else index
    block_sums = np.add.reduceat(probs, np.arange(0, k, _BLOCK), axis=-1)  # the last block may be short
    block_cdf = np.cumsum(block_sums, axis=-1)
    scaled = u * block_cdf[..., -1]
    block, missed = _first_above(block_cdf, scaled)
    block = np.where(missed, _saturation(block_cdf), block)
    # cumulative sum inside the chosen block, offset by the blocks before it
    start = block * _BLOCK
    cols = start[..., None] + np.arange(_BLOCK)
    short = k % _BLOCK != 0
    if short:  # the last block is short: read a valid column, then zero what lies past the end
        beyond = cols >= k
        np.minimum(cols, k - 1, out=cols)
    inside = np.take_along_axis(probs, cols, axis=-1)
    if short:
        inside[beyond] = 0.0
    before = np.take_along_axis(block_cdf, np.maximum(block - 1, 0)[..., None], axis=-1)
    before[block == 0] = 0.0
    inner_cdf = np.cumsum(inside, axis=-1)
    inner_cdf += before
    offset, inner_missed = _first_above(inner_cdf, scaled)
    # rounding between the block total and the in-block sums: where the block's sums saturate
    offset = np.where(inner_missed, _saturation(inner_cdf), offset)
    return start + offset


def sample_categorical(probs, *, u=None, rng=None) -> np.ndarray:
    r"""Draw one category per row, exactly, by the inverse CDF.

    .. math::

        k = \min\Bigl\{k : u < \sum_{j \le k} p_j \Bigr\},\qquad u \sim U[0, 1)

    Parameters
    ----------
    probs : array_like, shape (..., K)
        Probabilities: finite, non-negative, each row summing to one within
        ``1e-6`` (``ils_ref.validation.PROB_SUM_ATOL``).
    u : array_like, shape (...), optional
        Explicit uniform noise in ``[0, 1)``, one number per row.
    rng : numpy.random.Generator, optional
        Source of the noise when ``u`` is not given.  Exactly one of ``u``,
        ``rng``.

    Returns
    -------
    index : ndarray of int, shape (...)
        The drawn category per row.  A category with probability 0 is never
        drawn.

    Notes
    -----
    The rule is applied to ``p / Σp`` (as ``u·Σp < Σ_{j<=k} p_j``): identical
    for rows that sum to one exactly, and safe for rows that miss by rounding.
    ``u = 0`` selects the first category of positive probability; ``u`` equal
    to a cumulative sum selects the next category.
    """
    probs = checked(probs=("probs", probs))
    return sample_categorical_kernel(probs, uniform(u, rng, rows_of(probs, "probs")))


def one_hot_kernel(index: np.ndarray, k: int) -> np.ndarray:
    """``one_hot`` of checked indices: ``z[..., index] = 1``."""
    z = np.zeros(index.shape + (k,))
    np.put_along_axis(z, index[..., None], 1.0, axis=-1)
    return z


def one_hot(index, num_categories: int) -> np.ndarray:
    """One-hot float64 vectors: ``z[..., k] = 1`` where ``k = index[...]``.

    Parameters
    ----------
    index : array_like of int, shape (...)
        Categories in ``[0, num_categories)``.
    num_categories : int
        ``K >= 1``.

    Returns
    -------
    z : ndarray, shape (..., K)
    """
    k = checked(num_categories=("int", num_categories, 1))
    return one_hot_kernel(checked(index=("index", index, Like((k,), "num_categories"))), k)


# --------------------------------------------------------------------------
# Gumbel noise


def gumbel_kernel(u: np.ndarray) -> np.ndarray:
    """``G = -log(-log u)`` for checked ``u`` in ``[0, 1)``."""
    with np.errstate(divide="ignore"):  # u = 0 gives -log(0) = inf and G = -inf, the exact limit
        return -np.log(-np.log(u))


def gumbel_noise(shape: tuple | None = None, *, u=None, rng=None) -> np.ndarray:
    r"""Standard Gumbel noise ``G = -log(-log u)`` from uniforms ``u`` in ``[0, 1)``.

    Parameters
    ----------
    shape : tuple, optional
        Shape of the noise; required with ``rng``, and checked against ``u``
        when both are given (``u``'s own shape is used when ``shape`` is None).
    u, rng
        Exactly one: explicit uniform noise, or a ``numpy.random.Generator``.

    Returns
    -------
    G : ndarray
        Gumbel(0, 1) samples; ``u = 0`` gives ``G = -inf`` (a probability-0
        event that removes that category from the argmax).
    """
    if shape is None:
        if u is None and isinstance(rng, np.random.Generator):
            raise TypeError("gumbel_noise needs shape when drawing from rng")
        shape = np.shape(u)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 0 for n in shape
    ):
        raise TypeError(f"shape must be a tuple of non-negative ints, got {shape!r:.60}")
    return gumbel_kernel(uniform(u, rng, Like(tuple(int(n) for n in shape), "the noise asked for (argument shape)")))
