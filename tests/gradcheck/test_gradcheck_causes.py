"""check_vjp on real functions: one test per cause the benchmark found (issue 12), each a case that failed before.

Before: an absolute step of 1e-6, a per-entry tolerance ``1e-8 + 1e-6·|n|`` plus
``16ε|f|/h``, ``ok`` only, the whole Jacobian in memory, one input array.
"""

import tracemalloc

import numpy as np
import pytest

from ils_ref import assert_vjp, check_vjp
from ils_ref.gradcheck.calls import Caller, UserFunctionError


def elementwise(fn, d):
    return fn, lambda x, dy: dy * d(x)


LOG = elementwise(np.log, lambda x: 1 / x)
SQRT = elementwise(np.sqrt, lambda x: 0.5 / np.sqrt(x))
ABS = elementwise(np.abs, np.sign)


# ---------------------------------------------------------------- steps that fit the function


@pytest.mark.parametrize("full", [False, True])
def test_log_a_few_1e_6_from_its_singularity_passes(full):
    # A step of 1e-6 at x = 2e-6 reached the singularity: error 2.4e4 against a tolerance of 0.43.
    x = np.array([2e-6, 3e-6, 5e-6, 0.5, 2.0])
    report = check_vjp(*LOG, x, full=full)
    assert report.verdict == "pass", report
    wrong = check_vjp(LOG[0], lambda x, dy: dy / x * (1 + 1e-4 * (x < 1e-5)), x, full=full)
    assert wrong.verdict == "fail" and wrong.worst[0].input_index in {(0,), (1,), (2,)}, wrong


def test_sqrt_where_the_step_leaves_the_domain_passes_and_says_so():
    # x - h < 0 at x = 1e-8: "ValueError: f returned NaN" instead of a smaller step.
    x = np.array([1e-8, 4e-8, 1.0])
    for batched in (False, True):
        report = check_vjp(*SQRT, x, full=True, batched=batched)
        assert report.verdict == "pass", report
        assert any("not finite at x ± h" in note for note in report.notes), report.notes
    assert check_vjp(*SQRT, x).verdict == "pass"
    assert check_vjp(SQRT[0], lambda x, dy: 0.55 * dy / np.sqrt(x), x).verdict == "fail"


def test_abs_with_the_kink_inside_the_step_passes_at_a_smaller_step():
    # |x| < 5e-7: numeric -0.10 against analytic -1.
    x = np.array([-4e-7, 3e-7, -1e-7, 0.5])
    report = check_vjp(*ABS, x, full=True)
    assert report.verdict == "pass", report
    assert "at other steps" in report.reason
    flipped = check_vjp(ABS[0], lambda x, dy: -dy * np.sign(x), x, full=True)
    assert flipped.verdict == "fail"


def test_a_kink_at_x_is_inconclusive_and_named():
    # relu at 0 with the convention relu'(0) = 1: the central difference says 1/2 at every step
    # (it converges, to the mean of the one-sided slopes), so only the one-sided slopes reveal
    # that no derivative exists there.
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    x = np.array([0.0, 0.5, -0.5])
    report = check_vjp(relu, lambda x, dy: dy * (x >= 0), x, full=True)
    assert report.verdict == "inconclusive" and not report.ok, report
    assert "kink" in report.reason and report.worst[0].input_index == (0,)
    with pytest.raises(AssertionError, match="INCONCLUSIVE"):
        assert_vjp(relu, lambda x, dy: dy * (x >= 0), x)
    # abs at 0 with the subgradient 0: the central difference is exactly 0 too, but one-sided slopes
    # of -1 and +1 show there is no derivative to verify (this used to pass: a verdict not earned)
    report = check_vjp(*ABS, np.array([0.0, 0.5]), full=True)
    assert report.verdict == "inconclusive" and "kink" in report.reason, report


def test_large_x_gets_a_relative_step():
    # mse at |x| ~ 1e6: the rounding allowance of an absolute step was 3.5e3, so a 10% error passed.
    x = np.array([1.3e6, -2.1e6, 0.7e6])
    f = lambda x: np.array([np.mean(x ** 2)])  # noqa: E731
    vjp = lambda x, dy: dy * 2 * x / x.size  # noqa: E731
    assert check_vjp(f, vjp, x, full=True).verdict == "pass"
    assert check_vjp(f, lambda x, dy: 1.1 * vjp(x, dy), x, full=True).verdict == "fail"
    assert check_vjp(f, lambda x, dy: 1.1 * vjp(x, dy), x).verdict == "fail"


def test_cancellation_at_large_x_passes():
    # conv1d at |x| ~ 1e6: the rounding term from |f| was too small where f cancels.
    rng = np.random.default_rng(0)
    x = 1e6 * rng.choice([-1.0, 1.0], size=40) * rng.uniform(0.9, 1.1, size=40)
    w = np.array([1.0, -2.0, 1.0, 0.5])
    f = lambda x: np.convolve(x, w, mode="valid")  # noqa: E731
    vjp = lambda x, dy: np.convolve(dy, w[::-1], mode="full")  # noqa: E731  (the adjoint: full correlation)
    assert check_vjp(f, vjp, x, full=True).verdict == "pass"
    wrong = lambda x, dy: np.convolve(dy, w, mode="full")  # noqa: E731  (the kernel not flipped)
    assert check_vjp(f, wrong, x).verdict == "fail"


# ---------------------------------------------------------------- a tolerance with a stated model


def conditioned_matrix(n, cond, seed):
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.normal(size=(n, n)))
    q2, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q1 @ np.diag(np.geomspace(1.0, 1.0 / cond, n)) @ q2


def inverse(a):
    return np.linalg.inv(a.reshape(a.shape[:-1] + (4, 4)) if a.shape[-1] == 16 else a)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_ill_conditioned_inverse_passes_with_row_scaled_tolerance(seed):
    # inv with condition number 1e6: errors up to 124x the per-entry tolerance; a tolerance scaled
    # by each row's largest entry clears them and keeps every 1e-4 detection.
    a = conditioned_matrix(4, 1e6, seed)

    def vjp(a, dy):
        ai = np.linalg.inv(a)
        return -ai.T @ dy @ ai.T

    report = check_vjp(np.linalg.inv, vjp, a, full=True)
    assert report.verdict == "pass", report

    def off(a, dy):
        dx = vjp(a, dy)
        dx[1, 2] += 1e-4 * np.abs(vjp(a, np.ones_like(dy))).max() * dy[0, 0]
        return dx

    assert check_vjp(np.linalg.inv, off, a, full=True).verdict == "fail"


def test_saturated_gradients_are_checked_to_rtol():
    # sigmoid at -30: gradients of 1e-13 were under atol = 1e-8, so a 10% error or a sign flip passed.
    x = np.array([-30.0, -32.0, 0.3, 1.0])
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    vjp = lambda x, dy: dy * sig(x) * (1 - sig(x))  # noqa: E731
    assert check_vjp(sig, vjp, x, full=True).verdict == "pass"
    for wrong in (lambda x, dy: vjp(x, dy) * np.where(x < -10, 1.1, 1.0), lambda x, dy: vjp(x, dy) * np.where(x < -10, -1, 1)):
        report = check_vjp(sig, wrong, x, full=True)
        assert report.verdict == "fail" and report.worst[0].input_index in {(0,), (1,)}, report
        # The screen weights every output row by its own change, and leaves the rows whose rounding it
        # cannot resolve to the entry-by-entry comparison, so the saturated rows are not hidden behind
        # the large ones (it used to pass both, its resolution above 1e-13).
        screened = check_vjp(sig, wrong, x)
        assert screened.verdict == "fail" and screened.worst[0].input_index in {(0,), (1,)}, screened


def test_a_gradient_below_what_differences_can_resolve_is_reported_with_its_tolerance():
    # tanh at 30: the gradient (4e-26) is far below the rounding of f(x ± h) (~1e-11): no step can
    # see a sign flip there.  The table states the tolerance of that entry, so the report says so.
    x = np.array([30.0, 0.2])
    report = check_vjp(np.tanh, lambda x, dy: -dy / np.cosh(x) ** 2, x, full=True)
    entry = {e.input_index: e for e in report.worst}[(0,)]
    assert entry.tolerance > 1e3 * abs(entry.analytic)
    assert report.verdict == "fail"  # the flip at 0.2 is seen


# ---------------------------------------------------------------- a reason for every verdict


def test_a_transposed_jacobian_is_named():
    m = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [4.0, 0.0, 1.0]])
    report = check_vjp(lambda x: m @ x, lambda x, dy: m @ dy, np.ones(3))
    assert report.verdict == "fail" and "transpose" in report.reason, report
    assert "transpose" not in check_vjp(lambda x: m @ x, lambda x, dy: 2 * m.T @ dy, np.ones(3)).reason


def test_a_nan_in_a_batch_names_its_own_point():
    # batched full mode named the first point of the batch, not the one that was NaN
    def f(x):
        return np.where(x[..., 2:3] > 0.5 + 1e-7, np.nan, np.sin(x))

    fc = Caller(f, "f", batched=True)
    pts = np.repeat(np.full((1, 4), 0.5), 6, axis=0)
    pts[4, 2] += 1e-6
    with pytest.raises(UserFunctionError, match=r"for point 4"):
        fc.map(6, lambda lo, hi: pts[lo:hi], (4,), lambda i: f"point {i}")


# ---------------------------------------------------------------- bounded


def wrong_cos(x, dy):
    dx = dy * np.cos(x)
    dx[..., 1_234] *= 1 + 1e-3
    return dx


def test_a_wrong_vjp_on_5000_inputs_is_named_in_bounded_memory():
    # 5,000 inputs with a wrong VJP peaked at 2.2 GB; 20,000 raised MemoryError (5.96 GiB).
    x = np.linspace(-2.0, 2.0, 5_000)
    tracemalloc.start()
    try:
        report = check_vjp(np.sin, wrong_cos, x, batched=True, vjp_batched=True, full=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.verdict == "fail" and report.worst[0].input_index == (1_234,), report
    assert peak < 256 * 2**20, peak / 2**20  # blocks of 32 MiB arrays, whatever the size of x


def test_a_wrong_vjp_on_20000_inputs_is_named():
    x = np.linspace(-2.0, 2.0, 20_000)
    report = check_vjp(np.sin, wrong_cos, x, batched=True, vjp_batched=True, full=True)
    assert report.verdict == "fail" and report.worst[0].input_index == (1_234,), report
    assert report.n_entries == 20_000**2
    # the screen sees 1e-3 in one entry of 20,000 (its resolution does not grow with the size), and
    # bisection names it without the full Jacobian (it used to pass with a resolution above 1e-3)
    screened = check_vjp(np.sin, wrong_cos, x, batched=True, vjp_batched=True)
    assert screened.verdict == "fail" and screened.mode == "screen+bisection", screened
    assert screened.worst[0].input_index == (1_234,) == screened.worst[0].output_index
    assert screened.vjp_calls < 100 and screened.f_calls < 100


def test_a_dense_jacobian_too_large_to_hold_screens_its_rows(monkeypatch):
    # Over MAX_NONZEROS (16.7 million: x of 4,200) the rows are screened in blocks and only failing
    # rows are held; the same path at a small size, with the limit lowered for the test.
    from ils_ref.gradcheck import drilldown

    monkeypatch.setattr(drilldown, "MAX_NONZEROS", 50_000)
    x = np.linspace(0.5, 1.5, 600)  # 360,000 non-zeros

    def f(x):
        return x * np.sum(x, axis=-1, keepdims=True)

    def vjp(x, dy):
        return dy * np.sum(x) + np.sum(dy * x, axis=-1, keepdims=True)

    def wrong(x, dy):
        dx = vjp(x, dy)
        dx[..., 7] += 1e-3 * np.sum(x) * dy[..., 7]  # 1e-3 of the diagonal entry, the row's largest
        return dx

    report = check_vjp(f, wrong, x, batched=True, vjp_batched=True, full=True)
    assert report.verdict == "fail" and report.worst[0].output_index == (7,) == report.worst[0].input_index, report
    assert any("too many to hold" in note and "1 disagreed" in note for note in report.notes), report.notes
    assert check_vjp(f, vjp, x, batched=True, vjp_batched=True, full=True).verdict == "pass"


def test_max_evaluations_caps_the_work():
    x = np.linspace(-1, 1, 50)
    report = check_vjp(np.sin, lambda x, dy: -dy * np.cos(x), x, max_evaluations=20)
    assert report.verdict == "inconclusive" and "max_evaluations=20" in report.reason
    assert report.f_calls + report.vjp_calls <= 20 + 10  # + the calls that measure f at x (2, and 8 for its noise)
    assert check_vjp(np.sin, lambda x, dy: dy * np.cos(x), x, max_evaluations=50).verdict == "pass"


# ---------------------------------------------------------------- several inputs


def test_functions_of_several_arrays():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))

    def f(a, b):
        return np.tanh(a @ b)

    def vjp(a, b, dy):
        g = dy * (1 - np.tanh(a @ b) ** 2)
        return g @ b.T, a.T @ g

    assert check_vjp(f, vjp, (a, b), full=True).verdict == "pass"
    assert check_vjp(f, vjp, (a, b), wrt=1).verdict == "pass"
    assert check_vjp(f, lambda a, b, dy: vjp(a, b, dy)[1:], (a, b), wrt=(1,)).verdict == "pass"

    def wrong(a, b, dy):
        da, db = vjp(a, b, dy)
        return da, db * 1.01

    report = check_vjp(f, wrong, (a, b))
    assert report.verdict == "fail" and report.worst[0].input_index[0] == 1, report
    assert check_vjp(f, wrong, (a, b), wrt=0).verdict == "pass"
    with pytest.raises(ValueError, match="wrt"):
        check_vjp(f, vjp, (a, b), wrt=2)
    bad = check_vjp(f, lambda a, b, dy: vjp(a, b, dy)[0], (a, b))
    assert bad.verdict == "fail" and "tuple" in bad.error
