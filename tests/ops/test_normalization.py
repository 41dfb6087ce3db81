"""normalize: hand cases, Algorithm 1's Δ at a one-hot z, invariants, finite differences."""

import numpy as np
import pytest
from conftest import float_arrays, shapes
from helpers import assert_backward_matches_fd
from hypothesis import given

from ils_ref import assert_vjp, normalize, normalize_backward


def test_normalize_by_hand():
    np.testing.assert_allclose(normalize([1.0, 3.0]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(normalize([2.0, -1.0]), [2.0, -1.0], rtol=1e-15)  # negative entries allowed
    np.testing.assert_allclose(normalize([[0.0, 5.0, 0.0]]), [[0.0, 1.0, 0.0]], rtol=0)


def test_normalize_backward_by_hand():
    # z = (1, 3), s = 4, h = (1/4, 3/4), dy = (1, 0): dz = (dy - 1/4) / 4 = (3/16, -1/16)
    np.testing.assert_allclose(normalize_backward([1.0, 0.0], [1.0, 3.0]), [0.1875, -0.0625], rtol=1e-15)


@pytest.mark.parametrize("k", [0, 2, 4])
def test_backward_at_one_hot_is_the_delta_of_algorithm_1(k):
    # At z = e_k: Δ_j = g_j - g_k.
    g = np.array([0.3, -1.2, 2.5, 0.0, 7.0])
    z = np.eye(5)[k]
    np.testing.assert_allclose(normalize_backward(g, z), g - g[k], rtol=0, atol=0)


def test_normalize_huge_entries_are_a_clear_error():
    # a row sum beyond float64 is refused up front (no rescue by rescaling: no realistic input needs it)
    np.testing.assert_allclose(normalize([1e307, 1e307]), [0.5, 0.5], rtol=1e-15)
    for call in (lambda: normalize([1e308, 1e308]), lambda: normalize_backward([1.0, 0.0], [1e308, 1e308])):
        with pytest.raises(ValueError, match="z has a row whose sum overflows"):
            call()


def test_normalize_overflowing_result_is_an_error_not_inf():
    with pytest.raises(ValueError, match="not representable"):
        normalize([1.0, -1.0, 1e-320])


@given(float_arrays(shapes(), 0.1, 10.0))
def test_normalize_rows_sum_to_one_and_scale_invariance(z):
    y = normalize(z)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(normalize(3.5 * z), y, rtol=1e-14)


@given(float_arrays(shapes(), 0.1, 10.0), float_arrays(shapes(), -5.0, 5.0))
def test_normalize_gradient_is_orthogonal_to_z(z, dy):
    dy = np.resize(dy, z.shape)
    dz = normalize_backward(dy, z)
    # size of the terms before cancellation: |z_j| (|dy_j| + |<dy, h>|) / |s|
    s = z.sum(axis=-1, keepdims=True)
    inner = np.abs((dy * normalize(z)).sum(axis=-1, keepdims=True))
    scale = (np.abs(z) * (np.abs(dy) + inner) / np.abs(s)).sum(axis=-1)
    assert np.all(np.abs((z * dz).sum(axis=-1)) <= 1e-13 * scale)


def _vjp(x, dy):
    return normalize_backward(dy, x)


@given(float_arrays(shapes(max_batch=2), 0.1, 10.0))
def test_normalize_backward_matches_numerical_jacobian(z):
    def vjp_stacked(x, dy):  # dy: (m, *x.shape), one cotangent per output entry
        return normalize_backward(dy, np.broadcast_to(x, dy.shape))

    assert_backward_matches_fd(normalize, vjp_stacked, z)


@given(float_arrays(shapes(min_k=2), 0.1, 10.0))  # one entry: h(z) = 1, a constant output, "inconclusive"
def test_normalize_backward_passes_check_vjp(z):
    assert_vjp(normalize, _vjp, z)


def test_normalize_backward_with_mixed_signs_full_check():
    z = np.array([[2.0, -0.5, 0.7], [-1.0, -2.0, 0.5]])  # sums 2.2 and -2.5
    assert assert_vjp(normalize, _vjp, z, full=True).ok
