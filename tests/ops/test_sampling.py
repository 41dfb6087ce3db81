"""Sampling: the inverse-CDF rule at its boundaries, goodness of fit, Gumbel noise, bad input."""

import numpy as np
import pytest
import scipy.stats

from ils_ref import gumbel_noise, one_hot, sample_categorical, softmax

P = np.array([0.2, 0.0, 0.5, 0.3])  # cumulative sums 0.2, 0.2, 0.7, 1.0


@pytest.mark.parametrize(
    "u, k",
    [
        (0.0, 0),  # u = 0: the first category of positive probability
        (0.19999999, 0),
        (0.2, 2),  # u equal to a cumulative sum selects the next category; p_1 = 0 is skipped
        (0.69999999, 2),
        (0.7, 3),
        (np.nextafter(1.0, 0.0), 3),  # the largest u below 1
    ],
)
def test_inverse_cdf_rule_at_the_boundaries(u, k):
    assert sample_categorical(P, u=u) == k


def test_zero_probability_categories_are_never_drawn():
    p = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
    u = np.linspace(0.0, 1.0, 10001, endpoint=False)
    draws = sample_categorical(np.broadcast_to(p, (u.size, 5)), u=u)
    assert set(np.unique(draws)) == {1, 3}


def test_row_that_misses_one_by_rounding_still_finds_a_category():
    p = np.array([0.3, 0.3, 0.4 - 5e-10])  # sums to 1 - 5e-10, within the 1e-6 tolerance
    assert sample_categorical(p, u=np.nextafter(1.0, 0.0)) == 2


def test_batched_draws_and_shapes():
    probs = softmax(np.random.default_rng(0).normal(size=(2, 3, 4)))
    u = np.random.default_rng(1).random((2, 3))
    index = sample_categorical(probs, u=u)
    assert index.shape == (2, 3) and index.dtype.kind == "i"
    for i in np.ndindex(2, 3):  # the same rule row by row
        assert index[i] == np.searchsorted(np.cumsum(probs[i]), u[i], side="right")


def test_chi_square_goodness_of_fit_on_1e5_draws():
    p = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    n = 100_000
    draws = sample_categorical(np.broadcast_to(p, (n, 5)), rng=np.random.default_rng(2024))
    counts = np.bincount(draws, minlength=5)
    assert scipy.stats.chisquare(counts, n * p).pvalue > 1e-3
    # the same counts are decisively rejected against slightly different probabilities
    q = np.array([0.06, 0.1, 0.15, 0.3, 0.39])
    assert scipy.stats.chisquare(counts, n * q).pvalue < 1e-6


def test_seeded_draws_reproduce():
    p = softmax(np.arange(6.0))
    a = sample_categorical(np.broadcast_to(p, (50, 6)), rng=np.random.default_rng(7))
    b = sample_categorical(np.broadcast_to(p, (50, 6)), rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_one_hot():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot(np.int64(1), 2).tolist() == [0.0, 1.0]


def test_gumbel_noise_by_hand_and_in_distribution():
    np.testing.assert_allclose(gumbel_noise(u=[np.exp(-1.0), np.exp(-np.e)]), [0.0, -1.0], atol=1e-15)
    assert gumbel_noise(u=[0.0])[0] == -np.inf
    g = gumbel_noise((20000,), rng=np.random.default_rng(3))
    assert scipy.stats.kstest(g, scipy.stats.gumbel_r.cdf).pvalue > 1e-3


def test_gumbel_max_is_an_exact_categorical_draw():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    n = 50_000
    g = gumbel_noise((n, 4), rng=np.random.default_rng(5))
    counts = np.bincount(np.argmax(logits + g, axis=-1), minlength=4)
    assert scipy.stats.chisquare(counts, n * np.exp(logits)).pvalue > 1e-3


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(), TypeError, "exactly one of u .* got neither"),
        (dict(u=0.5, rng=np.random.default_rng(0)), TypeError, "got both"),
        (dict(rng=np.random.RandomState(0)), TypeError, "rng must be a numpy.random.Generator"),
        (dict(rng=0), TypeError, "rng must be a numpy.random.Generator"),
        (dict(u=1.0), ValueError, r"u must lie in \[0, 1\), got 1.0"),
        (dict(u=-0.1), ValueError, r"u must lie in \[0, 1\)"),
        (dict(u=np.nan), ValueError, "u contains NaN"),
        (dict(u=[0.1, 0.2]), ValueError, r"u has shape \(2,\) but must have shape \(\), one per row of probs \(shape \(4,\)\)"),
        (dict(u="half"), TypeError, "u must be an array of real numbers"),
    ],
)
def test_noise_argument_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sample_categorical(P, **kwargs)


@pytest.mark.parametrize(
    "probs, match",
    [
        ([0.5, -0.1, 0.6], "probs contains a negative entry"),
        ([0.5, 0.4], "probs has a row that does not sum to 1"),
        ([0.5, np.nan], "probs contains NaN"),
        ([[]], "probs has an empty category axis"),
    ],
)
def test_probs_errors(probs, match):
    with pytest.raises(ValueError, match=match):
        sample_categorical(probs, u=np.zeros(np.shape(probs)[:-1]))


@pytest.mark.parametrize(
    "args, exc, match",
    [
        (([3], 3), ValueError, r"index must lie in \[0, 3\) \(the categories, K = 3 from num_categories\), got 3"),
        (([-1], 3), ValueError, "index must lie in"),
        (([0.5], 3), TypeError, "index must hold integers"),
        ((None, 3), TypeError, "index must be an array of integers"),
        (([0], 0), ValueError, "num_categories must be >= 1"),
        (([0], 2.0), TypeError, "num_categories must be an int"),
    ],
)
def test_one_hot_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        one_hot(*args)


@pytest.mark.parametrize("k", [65, 100, 128, 1000, 1001])
def test_wide_rows_follow_the_rule_of_a_sequential_cumulative_sum(k):
    # Rows wider than 64 are searched block by block; for u away from an
    # exact tie the result must equal the plain sequential rule.
    rng = np.random.default_rng(k)
    logits = rng.normal(size=(2000, k)) * rng.choice([0.1, 3.0, 30.0], size=(2000, 1))
    logits[rng.random(logits.shape) < 0.2] = -np.inf
    logits[:, 0] = 0.0
    probs = softmax(logits)
    cdf = np.cumsum(probs, axis=-1)
    for u in (rng.random(2000), np.zeros(2000), np.full(2000, 0.5)):
        index = sample_categorical(probs, u=u)
        expected = np.argmax(cdf > (u * cdf[:, -1])[:, None], axis=-1)
        np.testing.assert_array_equal(index, expected)
    top = sample_categorical(probs, u=np.full(2000, np.nextafter(1.0, 0.0)))
    assert (probs[np.arange(2000), top] > 0).all()  # even at the extreme, never a masked category


def test_wide_rows_goodness_of_fit():
    p = softmax(np.random.default_rng(9).normal(size=300))
    n = 200_000
    counts = np.bincount(sample_categorical(np.broadcast_to(p, (n, 300)), rng=np.random.default_rng(10)), minlength=300)
    assert scipy.stats.chisquare(counts, n * p).pvalue > 1e-3
