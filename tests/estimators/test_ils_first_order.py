"""ILS to first order in α: ``π - π_D = (π - z) + α c + O(α²)`` per draw, ``c = ils_first_order(dz, k)``."""

import numpy as np
import pytest

from ils_ref import ils_backward, ils_cache, ils_first_order

# The hand-worked step of test_ils.py: category 0 drawn, g = (1, 2, -1), so Δ = (0, 1, -2).
G = np.array([1.0, 2.0, -1.0])


def test_hand_computed_coefficients():
    # signed: Δ - z ΣΔ = (0, 1, -2) - (-1, 0, 0)
    np.testing.assert_array_equal(ils_first_order(G, 0, policy="signed"), [1.0, 1.0, -2.0])
    # clip: Δ⁻ = (0, 0, -2), ΣΔ⁻ = -2: (0, 0, -2) - (-2, 0, 0)
    np.testing.assert_array_equal(ils_first_order(G, 0), [2.0, 0.0, -2.0])
    # category 2 drawn: Δ = (2, 3, 0) >= 0, so Δ⁻ = 0
    np.testing.assert_array_equal(ils_first_order(G, 2, policy="signed"), [2.0, 3.0, -5.0])
    np.testing.assert_array_equal(ils_first_order(G, 2), [0.0, 0.0, 0.0])
    # where Δ <= 0 (category 1 drawn: Δ = (-1, 0, -3)) the three policies agree
    expected = [-1.0, 4.0, -3.0]
    for policy in ("clip", "signed", "raise"):
        np.testing.assert_array_equal(ils_first_order(G, 1, policy=policy), expected)


@pytest.mark.parametrize("policy", ["clip", "signed"])
def test_agrees_with_the_backward_pass_as_alpha_goes_to_zero(policy):
    rng = np.random.default_rng(0)
    logits, dz = rng.normal(size=(2, 6, 5))
    index = rng.integers(0, 5, size=6)
    cache = ils_cache(logits, index)
    c = ils_first_order(dz, index, policy=policy)
    errors = []
    for alpha in (1e-2, 1e-3, 1e-4):
        slope = (ils_backward(dz, cache, alpha, policy=policy) - (cache.probs - cache.z)) / alpha
        errors.append(np.abs(slope - c).max())
    # the remainder is O(α²), so the slope's error is O(α): a factor 10 per factor 10 of α
    assert errors[-1] < 1e-2  # at α = 1e-4, against coefficients of order 1
    assert all(8 < errors[i] / errors[i + 1] < 12 for i in range(2)), errors


def test_clip_and_signed_differ_where_clipping_is_active():
    rng = np.random.default_rng(1)
    dz = rng.normal(size=(200, 4))
    index = rng.integers(0, 4, size=200)
    active = np.any(dz > np.take_along_axis(dz, index[:, None], axis=-1), axis=-1)  # some Δ_j > 0
    differ = np.any(ils_first_order(dz, index) != ils_first_order(dz, index, policy="signed"), axis=-1)
    np.testing.assert_array_equal(differ, active)
    assert 0 < active.sum() < 200


def test_clip_coefficient_is_zero_where_delta_is_nonnegative():
    # the drawn category has the smallest gradient in every row: Δ >= 0, Δ⁻ = 0, π_D = z at every α
    rng = np.random.default_rng(2)
    dz = rng.normal(size=(7, 4))
    index = np.argmin(dz, axis=-1)
    np.testing.assert_array_equal(ils_first_order(dz, index), np.zeros((7, 4)))
    assert np.all(np.abs(ils_first_order(dz, index, policy="signed")) > 0)
    cache = ils_cache(rng.normal(size=(7, 4)), index)
    np.testing.assert_array_equal(ils_backward(dz, cache, 0.3), cache.probs - cache.z)


def test_rows_sum_to_zero_and_batch_axes_are_kept():
    rng = np.random.default_rng(3)
    dz = rng.normal(size=(2, 3, 5))
    index = rng.integers(0, 5, size=(2, 3))
    for policy in ("clip", "signed"):
        c = ils_first_order(dz, index, policy=policy)
        assert c.shape == (2, 3, 5)
        np.testing.assert_allclose(c.sum(axis=-1), 0.0, atol=1e-14)
        np.testing.assert_array_equal(c[1, 2], ils_first_order(dz[1, 2], index[1, 2], policy=policy))


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((G, 3), {}, ValueError, r"index must lie in \[0, 3\)"),
        ((G, 0.0), {}, TypeError, "index must hold integers"),
        ((G, [0, 1]), {}, ValueError, r"index has shape \(2,\) but must have shape \(\), one per row of dz"),
        ((np.float64(1.0), 0), {}, ValueError, "dz must have at least one dimension"),
        (([1.0, np.nan, 0.0], 0), {}, ValueError, "dz contains NaN"),
        ((["a", "b"], 0), {}, TypeError, "dz must hold real numbers"),
        ((G, 0), {"policy": "clipped"}, ValueError, "policy must be one of"),
        ((G, 0), {"policy": None}, ValueError, "policy must be one of"),
        ((G, 0), {"policy": "raise"}, ValueError, r"dz has an entry above the drawn category's in row \(\).*policy='raise'"),
        (([1e308, -1e308], 1), {"policy": "signed"}, ValueError, "first-order coefficient of dz .* not representable"),
    ],
)
def test_bad_input_names_the_argument(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ils_first_order(*args, **kwargs)
