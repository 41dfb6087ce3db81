"""Exact categorical sampling by the inverse CDF, one-hot vectors, Gumbel noise.

Randomness is always explicit: pass either ``u`` (uniform noise in
``[0, 1)``, which lets another implementation reproduce the same draw) or
``rng`` (a ``numpy.random.Generator``), never both.  Nothing here touches
NumPy's global random state.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from ._validation import as_real_array, probs_array, require_no_nan, require_shape


def uniform_noise(shape: tuple, *, u=None, rng=None, name: str = "u", like: str | None = None) -> np.ndarray:
    """Resolve the ``u`` / ``rng`` pair into uniform noise of ``shape`` in ``[0, 1)``.

    Exactly one of ``u`` and ``rng`` must be given.  ``u`` must have exactly
    ``shape`` and lie in ``[0, 1)``; ``rng`` must be a
    ``numpy.random.Generator`` (``rng.random(shape)`` is drawn).  ``like``
    names the argument whose shape ``shape`` comes from, for the message.
    """
    if (u is None) == (rng is None):
        raise TypeError(
            "pass exactly one of u (explicit uniform noise) or rng (a numpy.random.Generator), "
            + ("got both" if u is not None else "got neither")
        )
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
                f"got {type(rng).__name__}"
            )
        return rng.random(shape)
    u = as_real_array(u, name)
    require_shape(u, name, shape, "one uniform number per draw" + (f", to match {like}" if like else ""))
    require_no_nan(u, name)
    outside = (u < 0) | (u >= 1)
    if outside.any():
        bad = float(u[outside].flat[0])
        raise ValueError(f"{name} must lie in [0, 1), got {bad!r}")
    return u


def normal_noise(shape: tuple, *, u=None, rng=None, like: str | None = None) -> np.ndarray:
    """Standard normal noise of ``shape``: ``Φ⁻¹(u)`` from explicit uniforms, or ``rng.standard_normal``.

    ``u`` must lie in the *open* interval (0, 1) (``u = 0`` would give ``-inf``).
    """
    if rng is not None and u is None:
        if not isinstance(rng, np.random.Generator):
            uniform_noise(shape, rng=rng)  # raises the standard TypeError
        return rng.standard_normal(shape)
    u = uniform_noise(shape, u=u, rng=rng, like=like)
    if np.any(u == 0):
        raise ValueError("u must lie in the open interval (0, 1) for normal noise (u = 0 gives -inf)")
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


def _sample_categorical(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
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
        ``1e-6`` (``ils_ref._validation.PROB_SUM_ATOL``).
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
    for rows that sum to one exactly, and safe for rows that miss by rounding.  ``u = 0`` selects the first
    category of positive probability; ``u`` equal to a cumulative sum
    selects the next category.
    """
    probs = probs_array(probs, "probs")
    u = uniform_noise(probs.shape[:-1], u=u, rng=rng, like=f"probs of shape {probs.shape}")
    return _sample_categorical(probs, u)


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
    if isinstance(num_categories, (bool, np.bool_)) or not isinstance(num_categories, (int, np.integer)):
        raise TypeError(f"num_categories must be an int, got {type(num_categories).__name__}")
    if num_categories < 1:
        raise ValueError(f"num_categories must be >= 1, got {num_categories}")
    index = _indices(index, int(num_categories), "index", f" (num_categories={int(num_categories)})")
    return _one_hot(index, num_categories)


def _one_hot(index: np.ndarray, k: int) -> np.ndarray:
    z = np.zeros(index.shape + (k,))
    np.put_along_axis(z, index[..., None], 1.0, axis=-1)
    return z


# --------------------------------------------------------------------------
# Gumbel noise


def _gumbel(u: np.ndarray) -> np.ndarray:
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
        if u is None:
            if rng is None or not isinstance(rng, np.random.Generator):
                uniform_noise((), u=u, rng=rng)  # raises the usual u/rng error first
            raise TypeError("gumbel_noise needs shape when drawing from rng")
        shape = np.shape(u)
    return _gumbel(uniform_noise(tuple(shape), u=u, rng=rng))


def _indices(index, k: int, name: str, context: str = "") -> np.ndarray:
    if index is None:
        raise TypeError(f"{name} must be an array of integers, got None")
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
    bad = (index < 0) | (index >= k)
    if bad.any():
        raise ValueError(f"{name} must lie in [0, {k}){context}, got {int(index[bad].flat[0])}")
    return index


def check_index(index, probs_shape: tuple, name: str = "index", like: str = "logits") -> np.ndarray:
    """Validate drawn categories against a ``(..., K)`` shape: integers in ``[0, K)``, one per row."""
    index = _indices(index, probs_shape[-1], name, f" (the categories of {like})")
    require_shape(index, name, probs_shape[:-1], f"one category per row of {like} of shape {tuple(probs_shape)}")
    return index
