"""Bad input to the primitives fails early with a message naming the argument."""

import numpy as np
import pytest

from ils_ref import (
    kl_divergence,
    kl_divergence_backward,
    log_softmax,
    log_softmax_backward,
    normalize,
    normalize_backward,
    softmax,
    softmax_backward,
)

P = [0.25, 0.75]
NAN = [0.5, np.nan]

CASES = [
    # (function, args, exception, message pattern)
    (softmax, (None,), TypeError, "x must be an array of real numbers, got None"),
    (softmax, ("abc",), TypeError, "x must be an array of real numbers, got str"),
    (softmax, ([1 + 2j, 0],), TypeError, "x must hold real numbers.*complex"),
    (softmax, ([True, False],), TypeError, "x must hold real numbers.*booleans"),
    (softmax, ([[1.0, 2.0], [3.0]],), ValueError, "x could not be converted"),
    (softmax, (np.float64(1.0),), ValueError, "x must have at least one dimension"),
    (softmax, (np.zeros((3, 0)),), ValueError, r"x has an empty category axis \(shape \(3, 0\)\)"),
    (softmax, (NAN,), ValueError, r"x contains NaN at index \(1,\)"),
    (softmax, ([0.0, np.inf],), ValueError, r"x contains \+inf at index \(1,\)"),
    (softmax, ([[0.0, 1.0], [-np.inf, -np.inf]],), ValueError, r"every entry is -inf \(batch index \(1,\)\)"),
    (log_softmax, ([np.nan],), ValueError, "x contains NaN"),
    (log_softmax, ([-np.inf],), ValueError, "every entry is -inf"),
    (softmax_backward, ([1.0, 0.0, 0.0], P), ValueError, r"dy has shape \(3,\) but must have shape \(2,\), the shape of y$"),
    (softmax_backward, (NAN, P), ValueError, "dy contains NaN"),
    (softmax_backward, ([1.0, 0.0], [0.5, 0.6]), ValueError, "y has a row that does not sum to 1"),
    (softmax_backward, ([1.0, 0.0], [1.5, -0.5]), ValueError, "y contains a negative entry"),
    (softmax_backward, (None, P), TypeError, "dy must be an array"),
    (log_softmax_backward, ([1.0, 0.0], [0.0, 0.0]), ValueError, r"exp\(y\) has a row that does not sum to 1"),
    (log_softmax_backward, ([1.0], [np.inf]), ValueError, r"y must hold log-probabilities \(entries <= 0 or -inf\), got inf at index \(0,\)"),
    (log_softmax_backward, ([1.0, 2.0, 3.0], np.log(P)), ValueError, "dy has shape"),
    (kl_divergence, (P, [0.5, 0.25, 0.25]), ValueError, r"q has shape \(3,\) but must have shape \(2,\), the shape of p$"),
    (kl_divergence, ([-0.1, 1.1], P), ValueError, r"p contains a negative entry \(-0.1\)"),
    (kl_divergence, (P, NAN), ValueError, "q contains NaN"),
    (kl_divergence, (P, [np.inf, 0.0]), ValueError, r"q contains \+inf"),
    (kl_divergence, ([], []), ValueError, "p has an empty category axis"),
    (kl_divergence, (P, ["a", "b"]), TypeError, "q must hold real numbers.*strings"),
    (kl_divergence_backward, ([1.0, 1.0], P, P), ValueError, r"dout has shape \(2,\) but must have shape \(\), one per row of p \(shape \(2,\)\)"),
    (kl_divergence_backward, (np.nan, P, P), ValueError, "dout contains NaN"),
    (kl_divergence_backward, (None, P, P), TypeError, "dout must be an array"),
    (normalize, ([1.0, -1.0],), ValueError, "z has a row that sums to zero"),
    (normalize, ([[1.0, 1.0], [0.0, 0.0]],), ValueError, r"sums to zero \(batch index \(1,\)\)"),
    (normalize, ([1.0, np.inf],), ValueError, r"z contains \+inf"),
    (normalize, ([object(), 1.0],), TypeError, "z must hold real numbers.*Python objects"),
    (normalize_backward, ([1.0, 0.0], [2.0, -2.0]), ValueError, "z has a row that sums to zero"),
    (normalize_backward, ([1.0], [1.0, 2.0]), ValueError, "dy has shape"),
]


@pytest.mark.parametrize("fn, args, exc, match", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_raises_a_clear_error(fn, args, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args)


@pytest.mark.parametrize("fn", [softmax, log_softmax, normalize])
def test_integer_and_float32_input_is_converted_to_float64(fn):
    for x in (np.array([1, 2, 3]), np.array([1, 2, 3], dtype=np.float32)):
        out = fn(x)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, fn(x.astype(np.float64)), rtol=1e-15)


def test_empty_batch_is_fine():
    assert softmax(np.zeros((0, 4))).shape == (0, 4)
    assert kl_divergence(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)


def test_inputs_are_not_modified():
    x = np.array([[1.0, 2.0, 3.0]])
    before = x.copy()
    softmax(x), log_softmax(x), normalize(x), normalize_backward(x, x)
    np.testing.assert_array_equal(x, before)
