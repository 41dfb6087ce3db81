"""Accuracy, not just finiteness, at numerical extremes, against 60-digit and exact references.

References use Python's ``decimal`` at 60 significant digits (exp and ln
correctly rounded there) and ``fractions`` for ratios, independent of NumPy.
"""

from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from ils_ref import (
    kl_divergence,
    kl_divergence_backward,
    log_softmax,
    softmax,
    softmax_backward,
)

getcontext().prec = 60

LOGIT_ROWS = [
    [700.0, -700.0, 0.0, 699.5, -699.0],
    [-700.0, -699.9, -700.2, -710.0, -650.0],
    [700.0, 700.0, 700.0 - 1e-9, 0.0, -700.0],
    [1e-12, 0.0, -1e-12, 36.0, -36.0],
]


def ref_softmax(row):
    xs = [Decimal(x) for x in row]
    m = max(xs)
    e = [(x - m).exp() for x in xs]
    s = sum(e)
    return [v / s for v in e]


def rel_close(ours, ref, rtol, atol=0.0):
    ref = np.array([float(r) for r in ref])
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("row", LOGIT_ROWS)
def test_softmax_and_log_softmax_at_700(row):
    rel_close(softmax(row), ref_softmax(row), rtol=1e-14, atol=1e-300)
    xs = [Decimal(x) for x in row]
    m = max(xs)
    lse = m + sum((x - m).exp() for x in xs).ln()
    rel_close(log_softmax(row), [x - lse for x in xs], rtol=1e-15, atol=1e-12)


@pytest.mark.parametrize("row", LOGIT_ROWS)
def test_softmax_backward_at_700(row):
    dy = [1.5, -2.0, 0.25, 3.0, -0.5]
    y_ref = ref_softmax(row)
    inner = sum(Decimal(d) * y for d, y in zip(dy, y_ref))
    dx_ref = [y * (Decimal(d) - inner) for d, y in zip(dy, y_ref)]
    # relative to each entry, with an absolute floor at the float64 rounding of the largest term
    rel_close(softmax_backward(np.array(dy), softmax(row)), dx_ref, rtol=1e-13, atol=1e-15)


TINY = [
    ([1e-300, 0.5, 0.5 - 1e-300], [3e-300, 0.25, 0.75 - 3e-300]),
    ([2.5e-300, 1e-300, 1.0 - 3.5e-300], [1e-300, 1e-300, 1.0 - 2e-300]),
    ([1e-300, 1e-300, 1.0], [1e-290, 1e-310, 1.0]),  # a subnormal q
]


@pytest.mark.parametrize("p, q", TINY)
def test_kl_with_probabilities_near_1e_300(p, q):
    terms = [Decimal(a) * (Decimal(a) / Decimal(b)).ln() for a, b in zip(p, q) if a > 0]
    assert float(kl_divergence(p, q)) == pytest.approx(float(sum(terms)), rel=1e-12, abs=1e-305)
    dp, dq = kl_divergence_backward(1.0, np.array(p), np.array(q))
    # dq = -p/q: a single rounding of an exact rational
    for ours, a, b in zip(dq, p, q):
        assert ours == pytest.approx(-float(Fraction(a) / Fraction(b)), rel=2.3e-16)
    # dp = log(p/q) + 1, from the exact ratio
    for ours, a, b in zip(dp, p, q):
        ref = (Decimal(a) / Decimal(b)).ln() + 1  # Decimal(float) is the exact binary value
        assert ours == pytest.approx(float(ref), rel=1e-14, abs=1e-15)


def test_kl_term_is_accurate_where_log_differences_would_cancel():
    # p and q equal to 15 digits at 1e-300: log p - log q loses ~1e-13 absolute; log(p/q) does not
    p = np.array([1e-300 * (1 + 1e-15), 1.0 - 1e-300])
    q = np.array([1e-300, 1.0 - 1e-300])
    dp, _ = kl_divergence_backward(1.0, p, q)
    exact = (Decimal(float(p[0])) / Decimal(float(q[0]))).ln() + 1
    assert dp[0] == pytest.approx(float(exact), rel=1e-15)
