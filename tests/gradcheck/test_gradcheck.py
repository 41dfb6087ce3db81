"""numerical_jacobian and check_vjp: references, batching, negative controls, diagnostics."""

import re

import numpy as np
import pytest
import scipy.optimize

from ils_ref import assert_vjp, check_vjp, numerical_jacobian, softmax, softmax_backward


class Counted:
    """Wrap a function and count its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def softmax_vjp(x, dy):
    return softmax_backward(dy, softmax(x))


def softmax_jacobian(x):
    """Exact Jacobian of a single-row softmax: diag(y) - y yᵀ."""
    y = softmax(x)
    return np.diag(y) - np.outer(y, y)


# ---------------------------------------------------------------- numerical_jacobian


def test_numerical_jacobian_of_a_linear_map_is_the_matrix():
    a = np.random.default_rng(0).normal(size=(3, 4))
    # rounding floor of a central difference: ~eps_machine·|f| / h = 2e-16·3 / 1e-6 ≈ 1e-9
    np.testing.assert_allclose(numerical_jacobian(lambda x: a @ x, np.ones(4)), a, rtol=0, atol=2e-9)


def test_numerical_jacobian_shapes():
    x = np.arange(6.0).reshape(2, 3)
    assert numerical_jacobian(lambda x: np.sum(x**2), x).shape == (2, 3)
    np.testing.assert_allclose(numerical_jacobian(lambda x: np.sum(x**2), x), 2 * x, rtol=1e-9, atol=1e-9)
    assert numerical_jacobian(lambda x: x[..., :2], x, batched=True).shape == (2, 2, 2, 3)
    np.testing.assert_allclose(numerical_jacobian(np.sin, np.float64(0.3)), np.cos(0.3), rtol=1e-10)


def test_numerical_jacobian_matches_scipy_approx_fprime():
    def f(x):
        return np.array([np.sin(x[0]) * x[1], np.exp(0.3 * x[1]) - x[2] ** 3, x.sum() ** 2])

    x = np.array([0.4, -1.1, 0.8])
    ours = numerical_jacobian(f, x)
    # SciPy's forward differences are first-order accurate: O(h) = 1e-7 error.
    np.testing.assert_allclose(ours, scipy.optimize.approx_fprime(x, f, 1e-8), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours[0], [np.cos(0.4) * -1.1, np.sin(0.4), 0.0], rtol=1e-9, atol=1e-10)


def test_numerical_jacobian_is_one_batched_call_when_asked():
    x = np.random.default_rng(1).normal(size=1000)
    f = Counted(softmax)
    jac = numerical_jacobian(f, x, batched=True)
    assert f.calls == 2  # 1 call at x, all 2000 perturbed points in one call
    # |y| <= 0.01 here, so the rounding floor is ~2e-16·0.01 / 1e-6 = 2e-12
    np.testing.assert_allclose(jac, softmax_jacobian(x), rtol=1e-6, atol=2e-11)
    g = Counted(softmax)
    np.testing.assert_array_equal(numerical_jacobian(g, x), jac)
    assert g.calls == 1 + 2000  # the default: one call per point, no guessing about broadcasting


def test_numerical_jacobian_does_not_batch_unless_asked():
    # Right output shape on a batch, wrong meaning: the mean runs over the batch too.
    def centred(x):
        return x - x.mean()

    f = Counted(centred)
    np.testing.assert_allclose(numerical_jacobian(f, np.arange(4.0)), np.eye(4) - 0.25, rtol=1e-9, atol=1e-10)
    assert f.calls == 1 + 8
    with pytest.raises(ValueError, match="f returned shape"):
        numerical_jacobian(lambda x: float(np.sum(x)), np.arange(4.0), batched=True)


def test_numerical_jacobian_step_is_honoured():
    # f = x³ at 1: central difference = 3 + h², so the step shows in the result.
    for h in (1e-2, 1e-3):
        np.testing.assert_allclose(numerical_jacobian(lambda x: x**3, np.array([1.0]), eps=h), [[3 + h * h]], rtol=1e-9)


@pytest.mark.parametrize(
    "f, match",
    [
        (lambda x: None, "f returned None"),
        (lambda x: "abc", "f returned dtype"),
        (lambda x: np.log(x - 1.0), "f returned NaN"),
        (lambda x: 1 / 0, "f raised ZeroDivisionError"),
    ],
)
def test_numerical_jacobian_reports_a_bad_f(f, match):
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match=match):
        numerical_jacobian(f, np.array([0.5, 2.0]))


def test_numerical_jacobian_names_the_point_that_left_the_domain():
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match=r"x - eps at input index \(0,\)"):
        numerical_jacobian(lambda x: np.sqrt(x), np.array([0.0, 1.0]), batched=False)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(x=None), TypeError, "x must be"),
        (dict(x=[np.nan]), ValueError, "x contains NaN"),
        (dict(x=[1.0], eps=0.0), ValueError, "eps must be > 0"),
        (dict(x=[1.0], eps="big"), TypeError, "eps must be a real number"),
        (dict(x=[1.0], f=3), TypeError, "f must be callable"),
    ],
)
def test_numerical_jacobian_argument_errors(kwargs, exc, match):
    args = dict(f=np.sin, x=[1.0]) | kwargs
    with pytest.raises(exc, match=match):
        numerical_jacobian(**args)


# ---------------------------------------------------------------- check_vjp: correct VJPs


def test_check_vjp_passes_softmax_with_constant_calls():
    x = np.random.default_rng(2).normal(size=(10, 100))
    f, vjp = Counted(softmax), Counted(softmax_vjp)
    report = check_vjp(f, vjp, x)
    # 1,000 outputs: 4 blocks of 250 for each of 3 cotangents, against 3 displacements
    assert report.ok and report.mode == "screen" and report.n_compared == 4 * 3 * 3
    # 2 at x (determinism), 8 for f's noise, x ± D, D/2, D/4 and D/8 for 3 probes
    assert f.calls == report.f_calls == 2 + 8 + 3 * 8
    assert vjp.calls == report.vjp_calls == 8 + 4 * 3  # the linearity check's 8, then 3 cotangents × 4 blocks
    assert report.relative_resolution <= 1e-6
    def vjp_stacked(x, dy):  # dy of shape (B,) + x.shape
        return softmax_backward(dy, np.broadcast_to(softmax(x), dy.shape))

    batched = check_vjp(Counted(softmax), Counted(vjp_stacked), x, batched=True, vjp_batched=True)
    # f: x twice, f's noise, x ± D, then x ± D/2, D/4, D/8; vjp: the linearity check (a stack, then one
    # again), the blocks
    assert batched.ok and batched.f_calls == 5 and batched.vjp_calls == 3
    assert report.max_rel_error < 1e-6


def test_check_vjp_full_mode_compares_every_entry():
    x = np.random.default_rng(3).normal(size=(2, 5))
    report = check_vjp(softmax, softmax_vjp, x, full=True)
    # 10 output rows against 5 groups of columns (softmax rows share no inputs: columns j and j + 5
    # of the flattened (2, 5) input never meet in a row): every non-zero entry on its own, the zeros
    # group by group, with 10 points of f instead of 20.
    assert report.ok and report.mode == "full" and report.n_compared == 10 * 5 and report.n_failed == 0
    assert report.f_calls == 2 + 8 + 10 and any("5 groups of columns" in note for note in report.notes)


def test_rounding_allowance_keeps_large_valued_functions_passing():
    x = np.random.default_rng(4).normal(size=8)

    def f(x):
        return 1e8 + softmax(x)  # values ~1e8, derivatives ~0.1: the difference loses 8 digits

    # f's rounding (1e8·ε / 2h ~ 1e-2 at the first step, 2e-5 at the largest) is far above rtol·0.1:
    # no step can verify an entry to 1e-6, and a pass would be unearned (it used to pass).
    report = check_vjp(f, softmax_vjp, x, full=True)
    assert report.verdict == "inconclusive" and ("rounding" in report.reason or "truncation" in report.reason), report
    # ... but a 10% error is far above what the largest steps resolve: found, at every entry
    wrong = check_vjp(f, lambda x, dy: 1.1 * softmax_vjp(x, dy), x, full=True)
    assert wrong.verdict == "fail", wrong
    assert check_vjp(f, softmax_vjp, x, full=True, rtol=1e-1).verdict == "pass"


def test_same_seed_same_report_other_seed_other_probes():
    x = np.random.default_rng(5).normal(size=6)
    a, b = check_vjp(softmax, softmax_vjp, x, seed=7), check_vjp(softmax, softmax_vjp, x, seed=7)
    c = check_vjp(softmax, softmax_vjp, x, seed=8)
    assert a.worst == b.worst and a.max_abs_error == b.max_abs_error
    assert a.worst[0].numeric != c.worst[0].numeric


def test_empty_input_has_nothing_to_compare():
    report = check_vjp(lambda x: x, lambda x, dy: dy, np.zeros((0, 3)))
    assert report.ok and report.mode == "empty" and report.n_compared == 0


# ---------------------------------------------------------------- negative controls (planted bugs)

X = np.array([[0.3, -1.2, 2.0, 0.1, -0.4, 0.9], [1.5, 0.2, -0.7, -2.0, 0.4, 0.0]])
J_TRUE = np.zeros((2, 6, 2, 6))
for r in range(2):
    J_TRUE[r, :, r, :] = softmax_jacobian(X[r])


def _entry(report, k=0):
    return report.worst[k].output_index, report.worst[k].input_index


def _argmax_index(a):
    idx = np.unravel_index(np.argmax(a), a.shape)
    return tuple(int(i) for i in idx[:2]), tuple(int(i) for i in idx[2:])


def test_planted_sign_flip_fails_and_points_at_the_largest_entry():
    report = check_vjp(softmax, lambda x, dy: -softmax_vjp(x, dy), X)
    assert not report.ok and report.mode == "screen+full"
    assert _entry(report) == _argmax_index(np.abs(J_TRUE))
    # every entry that is not (numerically) zero fails
    assert report.n_failed == np.count_nonzero(np.abs(J_TRUE) > 1e-8)


def test_planted_missing_centring_term_points_at_the_largest_y_i_y_j():
    # softmax backward without "- <dy, y>": dx = y * dy; the error is -y_i y_j within each row
    report = check_vjp(softmax, lambda x, dy: softmax(x) * dy, X)
    assert not report.ok
    y = softmax(X)
    err = np.zeros_like(J_TRUE)
    for r in range(2):
        err[r, :, r, :] = np.outer(y[r], y[r])
    out_i, in_i = _entry(report)
    assert np.isclose(err[out_i + in_i], err.max(), rtol=1e-12)  # ties are symmetric (i, j) / (j, i)
    np.testing.assert_allclose(report.worst[0].abs_error, err.max(), rtol=1e-6)


def test_planted_single_entry_error_is_found_exactly():
    out_i, in_i = (1, 3), (1, 0)

    def vjp(x, dy):
        dx = softmax_vjp(x, dy)
        dx[in_i] += 1e-3 * dy[out_i]  # J[out_i, in_i] is off by 1e-3
        return dx

    report = check_vjp(softmax, vjp, X)
    assert not report.ok and report.n_failed == 1
    assert _entry(report) == (out_i, in_i)
    np.testing.assert_allclose(report.worst[0].abs_error, 1e-3, rtol=1e-5)
    assert report.worst[1].abs_error < 1e-8  # the runner-up is a correct entry


def test_planted_one_percent_scale_error_fails():
    report = check_vjp(softmax, lambda x, dy: 1.01 * softmax_vjp(x, dy), X)
    assert not report.ok
    assert _entry(report) == _argmax_index(np.abs(J_TRUE))
    np.testing.assert_allclose(report.worst[0].rel_error, 0.01, rtol=1e-4)


def test_screen_resolution_is_a_guarantee_for_every_entry():
    # Plant an error just above the reported resolution in each Jacobian entry
    # in turn (including entries where the true Jacobian is zero): the screen
    # must fail every time.  Where the error also exceeds the entry's tolerance
    # (rtol of its row), the drill-down must name the planted entry.
    x = np.random.default_rng(6).normal(size=(2, 4))
    resolution = check_vjp(softmax, softmax_vjp, x).resolution
    for error in (1.01 * resolution, 1e-4):
        for out_i in np.ndindex(x.shape):
            for in_i in np.ndindex(x.shape):

                def vjp(x, dy, out_i=out_i, in_i=in_i):
                    dx = softmax_vjp(x, dy)
                    dx[in_i] += error * dy[out_i]
                    return dx

                report = check_vjp(softmax, vjp, x)
                assert report.screen_ok is False, (out_i, in_i)
                if error > 1e-6:
                    assert report.verdict == "fail" and _entry(report) == (out_i, in_i)


def test_tolerances_are_overridable():
    def vjp(x, dy):
        dx = softmax_vjp(x, dy)
        dx[0, 0] += 1e-3 * dy[0, 0]
        return dx

    assert not check_vjp(softmax, vjp, X).ok
    assert check_vjp(softmax, vjp, X, atol=2e-3).ok


# ---------------------------------------------------------------- check_vjp: bad user functions


@pytest.mark.parametrize(
    "vjp, match",
    [
        (lambda x, dy: None, "vjp returned None"),
        (lambda x, dy: np.zeros(3), r"vjp returned shape \(3,\)"),
        (lambda x, dy: np.full(x.shape, np.nan), "vjp returned NaN"),
        (lambda x, dy: np.full(x.shape, "a"), "vjp returned dtype"),
        (lambda x, dy: [][1], "vjp raised IndexError"),
    ],
)
@pytest.mark.parametrize("full", [False, True])
def test_a_broken_vjp_gives_a_failed_report_not_an_exception(vjp, match, full):
    report = check_vjp(softmax, vjp, X, full=full)
    assert not report.ok
    assert re.search(match, report.error)
    assert "FAILED" in str(report) and report.error in str(report)


def test_a_non_deterministic_f_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not deterministic"):
        check_vjp(lambda x: x + rng.normal(size=x.shape), lambda x, dy: dy, np.zeros(3))


def test_a_raising_f_is_an_error():
    with pytest.raises(ValueError, match="f raised RuntimeError"):
        check_vjp(lambda x: (_ for _ in ()).throw(RuntimeError("boom")), lambda x, dy: dy, np.zeros(3))


def test_low_precision_f_gets_a_note():
    x = np.random.default_rng(7).normal(size=5)
    report = check_vjp(lambda x: softmax(x).astype(np.float32), softmax_vjp, x)
    assert not report.ok  # float32 differences at eps=1e-6 are noise
    assert any("float32" in note for note in report.notes)
    loose = check_vjp(lambda x: softmax(x).astype(np.float32), softmax_vjp, x, eps=1e-3, rtol=1e-2, atol=1e-4)
    assert loose.ok


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(rtol=-1.0), ValueError),
        (dict(rtol=1e308), ValueError),  # a RuntimeWarning from deep inside, before
        (dict(rtol=1.0), ValueError),
        (dict(atol=np.nan), ValueError),
        (dict(n_probes=0), ValueError),
        (dict(n_probes=2.5), TypeError),
        (dict(seed=-1), ValueError),
        (dict(full="yes"), TypeError),
    ],
)
def test_check_vjp_argument_errors(kwargs, exc):
    with pytest.raises(exc):
        check_vjp(softmax, softmax_vjp, X, **kwargs)


# ---------------------------------------------------------------- the report


def test_report_str_is_a_compact_table_even_for_large_inputs():
    x = np.random.default_rng(8).normal(size=(10, 100))
    report = check_vjp(softmax, lambda x, dy: -softmax_vjp(x, dy), x)
    text = str(report)
    assert not report.ok and report.n_compared == 1000 * 100  # 1000 rows × 100 column groups
    assert report.mode == "screen+full"
    assert len(text.splitlines()) <= 15 and len(text) < 2000  # + the first entry's reason, the screen's resolution, 2 notes
    for needle in ("FAILED", "eps=1e-06", "seed=0", "analytic", "numeric", "tolerance", "(", "FAIL"):
        assert needle in text
    assert "<VJPReport verdict='fail'" in repr(report)


def test_assert_vjp_raises_with_the_report():
    with pytest.raises(AssertionError, match="worst entries"):
        assert_vjp(softmax, lambda x, dy: -softmax_vjp(x, dy), X)
    assert assert_vjp(softmax, softmax_vjp, X).ok


def test_probe_vectors_are_zero_mean_and_never_small():
    # Zero-mean (random signs): E[(dyᵀ E u)²] ∝ ‖E‖²_F, so no error pattern is
    # systematically invisible; magnitudes >= 0.5: no entry hides behind a tiny weight.
    from ils_ref.gradcheck.projections import probe_vectors

    v = probe_vectors(np.random.default_rng(0), 4, (50, 50))
    assert v.shape == (4, 50, 50)
    assert np.abs(v).min() >= 0.5 and np.abs(v).max() <= 1.5
    assert abs(np.mean(np.sign(v))) < 0.05  # 10,000 signs: the mean of fair ±1 has sd 0.01
    np.testing.assert_array_equal(v, probe_vectors(np.random.default_rng(0), 4, (50, 50)))


# --------------------------------------------------------------------------
# Hardening (second pass): edges a red team found


def test_a_zero_vjp_of_a_huge_function_fails():
    # 1e155·sin(x): squares of the projections overflowed the tolerance's norm to inf, so a
    # zero VJP passed (ok=True, resolution=inf) with a RuntimeWarning. Norms are now scaled.
    x = np.linspace(0.1, 1.0, 5)
    report = check_vjp(lambda x: 1e155 * np.sin(x), lambda x, dy: np.zeros_like(x), x)
    assert not report.ok and report.mode == "screen+full" and report.n_failed == 5
    good = check_vjp(lambda x: 1e155 * np.sin(x), lambda x, dy: dy * 1e155 * np.cos(x), x)
    assert good.ok and np.isfinite(good.resolution)


def test_the_step_is_relative_to_x_and_a_vanishing_eps_is_refused():
    # An absolute step of 1e-6 at x = 1e12 was lost in rounding (an error then); h = eps·max(|x|, 1) is not.
    x = np.array([1e12, 1.0])
    assert check_vjp(np.sqrt, lambda x, dy: 0.5 * dy / np.sqrt(x), x, full=True).ok
    assert not check_vjp(np.sqrt, lambda x, dy: 0.5005 * dy / np.sqrt(x), x, full=True).ok
    with pytest.raises(ValueError, match=r"eps=1e-17 is too small"):
        check_vjp(np.sin, lambda x, dy: dy * np.cos(x), x, eps=1e-17)


def test_a_vjp_that_writes_into_x_does_not_fail_the_check():
    def vjp_scratch(x, dy):
        np.cos(x, out=x)  # uses its input as scratch space
        return dy * x

    x = np.linspace(-1.0, 1.0, 6)
    assert check_vjp(np.sin, vjp_scratch, x).ok
    assert check_vjp(np.sin, vjp_scratch, x, full=True).ok


def test_numerical_jacobian_of_an_empty_x():
    assert numerical_jacobian(lambda x: np.sum(x), np.zeros(0)).shape == (0,)
    assert numerical_jacobian(lambda x: x, np.zeros((0, 3))).shape == (0, 3, 0, 3)
