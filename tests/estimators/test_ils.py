"""ILS (Algorithm 1): a hand-worked step, finite differences, limits, policies, pluggability."""

import numpy as np
import pytest
from conftest import float_arrays, shapes
from hypothesis import given
from hypothesis import strategies as st

from ils_ref import (
    ils_backward,
    ils_cache,
    ils_forward,
    ils_step,
    normalize,
    normalize_backward,
    numerical_jacobian,
    sample_categorical,
    softmax,
    softmax_backward,
)
from ils_ref.estimators.intermediate import (
    KL,
    SQUARED_ERROR,
    IntermediateLoss,
    Normalization,
)

# A step small enough to do by hand: π = (0.2, 0.3, 0.5), category 0 drawn,
# g = (1, 2, -1), α = 0.1.  Δ = g - g_0 = (0, 1, -2); z - αΔ = (1, -0.1, 0.2).
LOGITS = np.log([0.2, 0.3, 0.5])
G = np.array([1.0, 2.0, -1.0])
CACHE = ils_cache(LOGITS, 0)


def test_hand_worked_step_clip():
    step = ils_step(G, CACHE, 0.1)
    np.testing.assert_allclose(step.delta, [0.0, 1.0, -2.0], atol=1e-15)
    np.testing.assert_allclose(step.w, [1.0, -0.1, 0.2], atol=1e-15)
    # clip: (1, 0, 0.2) / 1.2
    np.testing.assert_allclose(step.pi_d, [1 / 1.2, 0.0, 0.2 / 1.2], rtol=1e-14)
    np.testing.assert_allclose(step.dlogits, [0.2 - 1 / 1.2, 0.3, 0.5 - 0.2 / 1.2], rtol=1e-14)
    np.testing.assert_allclose(step.dprobs, [-(1 / 1.2) / 0.2, 0.0, -(0.2 / 1.2) / 0.5], rtol=1e-14)
    np.testing.assert_array_equal(ils_backward(G, CACHE, 0.1), step.dlogits)


def test_hand_worked_step_signed_and_raise():
    step = ils_step(G, CACHE, 0.1, policy="signed")
    np.testing.assert_allclose(step.pi_d, np.array([1.0, -0.1, 0.2]) / 1.1, rtol=1e-14)
    np.testing.assert_allclose(step.dlogits, np.array([0.2, 0.3, 0.5]) - step.pi_d, rtol=1e-14)
    with pytest.raises(ValueError, match="leaves the simplex .*policy='raise'"):
        ils_backward(G, CACHE, 0.1, policy="raise")
    # where z - αΔ is non-negative already, the three policies agree
    g = np.array([1.0, -2.0, 0.5])
    results = [ils_backward(g, CACHE, 0.1, policy=p) for p in ("clip", "signed", "raise")]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], results[2], rtol=1e-15, atol=1e-16)  # "raise" runs ils_kernel


def test_hand_worked_prototype():
    # The prototype: -π_D / (π + 1e-7), returned as if it were the logit gradient.
    pi_d = np.array([1.0, -0.1, 0.2]) / 1.1
    expected = -pi_d / (np.array([0.2, 0.3, 0.5]) + 1e-7)
    np.testing.assert_allclose(ils_backward(G, CACHE, 0.1, prototype=True, policy="signed"), expected, rtol=1e-14)


def test_forward_is_the_exact_draw():
    logits = np.random.default_rng(0).normal(size=(4, 6))
    u = np.random.default_rng(1).random(4)
    z, cache = ils_forward(logits, u=u)
    index = sample_categorical(softmax(logits), u=u)
    np.testing.assert_array_equal(cache.index, index)
    np.testing.assert_array_equal(z, np.eye(6)[index])
    np.testing.assert_allclose(cache.probs, softmax(logits), rtol=1e-15)
    z2, _ = ils_forward(logits, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(z2, ils_forward(logits, rng=np.random.default_rng(3))[0])


# ---------------------------------------------------------------- finite differences


def _fixed_target_objective(loss, pi_d):
    """θ ↦ Σ_rows L_I(softmax θ, π_D) with π_D held fixed."""
    return lambda theta: float(np.sum(loss.forward(softmax(theta), pi_d)))


@given(
    float_arrays(shapes(max_batch=3, max_k=12), -3.0, 3.0),
    st.integers(0, 2**32 - 1),
    st.sampled_from([1.0, 0.1, 0.01, 0.001]),
    st.sampled_from([KL, SQUARED_ERROR]),
    st.sampled_from(["clip", "signed"]),
)
def test_backward_is_the_gradient_of_the_intermediate_loss_with_pi_d_fixed(logits, seed, alpha, loss, policy):
    rng = np.random.default_rng(seed)
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape)
    alpha = alpha if policy == "clip" else min(alpha, 0.01)  # keep Σ(z - αΔ) > 0 for "signed"
    step = ils_step(dz, cache, alpha, loss=loss, policy=policy)
    numeric = numerical_jacobian(_fixed_target_objective(loss, step.pi_d), logits)
    np.testing.assert_allclose(step.dlogits, numeric, rtol=1e-5, atol=1e-7)
    # and ∂L_I/∂π itself, the quantity the prototype returned
    dprobs = numerical_jacobian(lambda p: float(np.sum(loss.forward(p, step.pi_d))), cache.probs)
    np.testing.assert_allclose(step.dprobs, dprobs, rtol=1e-5, atol=1e-6)


@given(float_arrays(shapes(), -5.0, 5.0), st.integers(0, 2**32 - 1), st.sampled_from([KL, SQUARED_ERROR]))
def test_logit_gradient_rows_sum_to_zero(logits, seed, loss):
    rng = np.random.default_rng(seed)
    _, cache = ils_forward(logits, rng=rng)
    out = ils_backward(rng.normal(size=logits.shape), cache, 0.1, loss=loss)
    np.testing.assert_allclose(out.sum(axis=-1), 0.0, atol=1e-13)


def test_alpha_to_zero_limit_is_pi_minus_z():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(5, 7))
    z, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=z.shape)
    np.testing.assert_array_equal(ils_backward(dz, cache, 0.0), cache.probs - z)
    for alpha in (1e-3, 1e-6, 1e-9):
        gap = np.abs(ils_backward(dz, cache, alpha) - (cache.probs - z)).max()
        assert gap <= 10 * alpha * np.abs(dz).max() * 7  # O(α): first-order term bounded by α K max|g|


def test_prototype_differs_from_default_exactly_by_the_softmax_jacobian():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 4, 6))
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape)
    for policy in ("clip", "signed"):
        alpha = 0.01
        proto = ils_backward(dz, cache, alpha, prototype=True, prototype_eps=0.0, policy=policy)
        default = ils_backward(dz, cache, alpha, policy=policy)
        np.testing.assert_allclose(softmax_backward(proto, cache.probs), default, rtol=1e-12, atol=1e-15)
        assert np.abs(proto - default).max() > 0.1  # and they really are different things


# ---------------------------------------------------------------- the simplex policies


def test_clip_target_is_always_a_distribution():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(200, 5))
    _, cache = ils_forward(logits, rng=rng)
    dz = 10 * rng.normal(size=logits.shape)
    step = ils_step(dz, cache, 1.0)
    assert (step.w < 0).any()  # the step did leave the simplex
    assert (step.pi_d >= 0).all()
    np.testing.assert_allclose(step.pi_d.sum(axis=-1), 1.0, atol=1e-14)
    assert np.abs(step.dlogits).max() <= 1.0


def test_signed_target_with_nonpositive_sum_raises_not_nan():
    # z = e_0, g = (0, 5, 5): z - αΔ = (1, -5α, -5α), sum = 1 - 10α <= 0 for α >= 0.1
    cache = ils_cache(np.zeros(3), 0)
    with pytest.raises(ValueError, match=r"sum\(z - alpha\*Delta\) <= 0 in row \(\) \(alpha=0.2\)"):
        ils_backward([0.0, 5.0, 5.0], cache, 0.2, policy="signed")
    out = ils_backward([0.0, 5.0, 5.0], cache, 0.2)  # clip: defined
    np.testing.assert_allclose(out, np.full(3, 1 / 3) - [1.0, 0.0, 0.0], atol=1e-15)


def test_masked_categories_stay_out_of_pi_d():
    logits = np.array([[0.0, -np.inf, 1.0, 0.5]])
    _, cache = ils_forward(logits, u=np.array([0.3]))
    step = ils_step(np.array([[1.0, -50.0, 2.0, -1.0]]), cache, 0.5)  # g would push mass onto category 1
    assert step.pi_d[0, 1] == 0.0 and step.dlogits[0, 1] == 0.0
    assert np.isfinite(step.dlogits).all()
    with pytest.raises(ValueError, match="entry in logits is -inf"):
        ils_cache(logits, [1])


def test_underflowed_probability_gives_the_finite_limit():
    logits = np.array([0.0, -800.0, 0.0])  # π_1 = 0 in float64 but the category is not masked
    cache = ils_cache(logits, 0)
    out = ils_backward([0.0, -1.0, 0.0], cache, 0.5)
    assert np.isfinite(out).all() and out[1] < 0  # π_D puts mass there: pull θ_1 up


# ---------------------------------------------------------------- pluggable h and L_I


def test_generic_path_agrees_with_the_one_hot_fast_path():
    generic_sum = Normalization("sum, generic", normalize, normalize_backward)
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(6, 5))
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape)
    for policy in ("clip", "signed"):
        fast = ils_step(dz, cache, 0.01, policy=policy)
        slow = ils_step(dz, cache, 0.01, policy=policy, h=generic_sum)
        for name in ("delta", "w", "pi_d", "dlogits"):
            np.testing.assert_allclose(getattr(slow, name), getattr(fast, name), rtol=1e-13, atol=1e-15)


def test_a_custom_normalization_is_used():
    # h(z) = softmax(z): a different map back to the simplex, with its own VJP
    soft_h = Normalization("softmax", softmax, lambda dy, z: softmax_backward(dy, softmax(z)))
    cache = ils_cache(LOGITS, 0)
    step = ils_step(G, cache, 0.1, h=soft_h)
    z = np.array([1.0, 0.0, 0.0])
    delta = softmax_backward(G, softmax(z))
    np.testing.assert_allclose(step.delta, delta, rtol=1e-14)
    np.testing.assert_allclose(step.pi_d, softmax(np.maximum(z - 0.1 * delta, 0)), rtol=1e-14)


def test_a_custom_loss_without_closed_form_goes_through_softmax_backward():
    kl_generic = IntermediateLoss("kl, generic", KL.forward, KL.backward)  # no logits_backward
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(4, 5))
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape)
    np.testing.assert_allclose(
        ils_backward(dz, cache, 0.05, loss=kl_generic), ils_backward(dz, cache, 0.05), rtol=1e-12, atol=1e-15
    )
    assert not np.allclose(ils_backward(dz, cache, 0.05, loss="squared_error"), ils_backward(dz, cache, 0.05))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((G, CACHE, -0.1), {}, ValueError, "alpha must be >= 0"),
        ((G, CACHE, np.nan), {}, ValueError, "alpha must be finite"),
        ((G, CACHE, np.inf), {}, ValueError, "alpha must be finite"),
        ((G, CACHE, "0.1"), {}, TypeError, "alpha must be a real number"),
        ((G, CACHE, True), {}, TypeError, "alpha must be a real number"),
        (([1.0, 2.0], CACHE, 0.1), {}, ValueError, r"dz has shape \(2,\) but must have shape \(3,\)"),
        (([1.0, np.nan, 0.0], CACHE, 0.1), {}, ValueError, "dz contains NaN"),
        ((G, {"z": 1}, 0.1), {}, TypeError, "cache must be the ILSCache"),
        ((G, CACHE, 0.1), {"policy": "project"}, ValueError, "policy must be one of"),
        ((G, CACHE, 0.1), {"loss": "hellinger"}, ValueError, "loss must be one of"),
        ((G, CACHE, 0.1), {"h": "max"}, ValueError, "h must be one of"),
        ((G, CACHE, 0.1), {"prototype": "yes"}, TypeError, "prototype must be True or False"),
        ((G, CACHE, 0.1), {"prototype_eps": -1e-7}, ValueError, "prototype_eps must be >= 0"),
    ],
)
def test_backward_argument_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ils_backward(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        (([0.0, np.inf],), {"u": 0.5}, ValueError, r"logits contains \+inf"),
        (([0.0, 1.0],), {"u": 1.5}, ValueError, r"u must lie in \[0, 1\)"),
        (([0.0, 1.0],), {}, TypeError, "exactly one of u"),
        (([[0.0, 1.0]],), {"u": [0.1, 0.2]}, ValueError, "u has shape"),
    ],
)
def test_forward_argument_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ils_forward(*args, **kwargs)


def test_cache_from_index_errors():
    with pytest.raises(ValueError, match=r"index has shape \(2,\) but must have shape \(\), one per row of logits \(shape \(2,\)\)"):
        ils_cache([0.0, 1.0], [0, 1])
    with pytest.raises(ValueError, match=r"index must lie in \[0, 2\) \(the categories, K = 2 from logits\), got 2"):
        ils_cache([0.0, 1.0], 2)


@pytest.mark.parametrize("loss", [KL, SQUARED_ERROR], ids=lambda l: l.name)
def test_closed_form_logit_gradients_equal_the_chain_rule(loss):
    # for any π_D, normalised or not (a custom h need not return a distribution)
    rng = np.random.default_rng(12)
    probs = softmax(rng.normal(size=(5, 6)))
    pi_d = rng.uniform(0.0, 2.0, size=(5, 6))
    np.testing.assert_allclose(
        loss.logits_backward(probs, pi_d), softmax_backward(loss.backward(probs, pi_d), probs), rtol=1e-12, atol=1e-15
    )


def test_alpha_per_row_equals_separate_calls():
    rng = np.random.default_rng(13)
    logits = rng.normal(size=(3, 4, 5))
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape)
    alphas = np.array([0.1, 0.01, 0.001])[:, None]  # one α per leading row, broadcast over the second axis
    together = ils_backward(dz, cache, alphas)
    for i, a in enumerate((0.1, 0.01, 0.001)):
        one = ils_backward(dz[i], ils_cache(logits[i], cache.index[i]), a)
        np.testing.assert_allclose(together[i], one, rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="does not broadcast to the shape"):
        ils_backward(dz, cache, np.ones(5))
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        ils_backward(dz, cache, -alphas)


def test_large_alpha_approaches_the_limit():
    # α → ∞: π_D → v / Σv with v = max(g_k - g, 0) (the drawn entry's weight 1 becomes negligible)
    cache = ils_cache(np.zeros(3), 0)
    g = np.array([1.0, 0.0, -1.0])  # v = (0, 1, 2)
    for alpha in (1e10, 1e300):
        step = ils_step(g, cache, alpha)
        np.testing.assert_allclose(step.pi_d, [1 / (1 + 3 * alpha), 1 / 3, 2 / 3], rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(ils_backward(g, cache, alpha), np.full(3, 1 / 3) - step.pi_d, rtol=1e-12, atol=1e-15)


def test_gradients_near_the_float64_limit_keep_pi_d_a_distribution():
    cache = ils_cache(np.zeros(4), 0)
    g = np.array([0.0, -8e307, -9e307, -5e307])  # g_0 - g sums beyond float64; α times it does not
    step = ils_step(g, cache, 0.1)
    np.testing.assert_allclose(step.pi_d, [0.0, 8 / 22, 9 / 22, 5 / 22], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(step.pi_d.sum(), 1.0, rtol=1e-14)


@pytest.mark.parametrize("alpha, g", [
    (1e308, [1.0, 0.0, -1.0]),
    (10.0, [0.0, -8e307, -9e307, -5e307]),
    (1.0, [0.0, -1.5e308, -1.5e308, 0.0]),  # every α(g_k - g_j) finite, only their sum overflows: π_D -> 0
])
@pytest.mark.parametrize("policy", ["clip", "signed"])
def test_a_step_beyond_float64_is_a_clear_error(alpha, g, policy):
    # alpha * (g_k - g) overflows: no rescue (no realistic input gets there), a ValueError instead of NaN
    # (or, where only the sum overflows, instead of a finite dθ = π that silently drops π_D)
    cache = ils_cache(np.zeros(len(g)), 0)
    for fn in (ils_backward, ils_step):
        with pytest.raises(ValueError, match="ILS logit gradient .* not representable"):
            fn(np.array(g), cache, alpha, policy=policy)


# --------------------------------------------------------------------------
# Memory layout: a dz that is not C-contiguous once lost the drawn entry.


@pytest.mark.parametrize("policy", ["clip", "signed"])
@pytest.mark.parametrize("loss", ["kl", "squared_error"])
@pytest.mark.parametrize("prototype", [False, True])
def test_dz_layout_does_not_change_the_gradient(policy, loss, prototype):
    from helpers import layouts

    cache = ils_cache(np.zeros((2, 3)), [0, 1])
    dz = np.array([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0]])
    kw = dict(policy=policy, loss=loss, prototype=prototype)
    expected = ils_backward(dz, cache, 0.1, **kw)
    if not prototype and loss == "kl" and policy == "clip":
        # The red team's reproducer, by hand: w = (1, 0.2, 0.1) and (0.2, 1, 0.1), π = 1/3.
        np.testing.assert_allclose(expected[0], [1 / 3 - 1 / 1.3, 1 / 3 - 0.2 / 1.3, 1 / 3 - 0.1 / 1.3], rtol=1e-14)
    for name, dz_layout in layouts(dz).items():
        np.testing.assert_array_equal(ils_backward(dz_layout, cache, 0.1, **kw), expected, err_msg=name)
        step = ils_step(dz_layout, cache, 0.1, **kw)
        np.testing.assert_array_equal(step.dlogits, expected, err_msg=name)
        np.testing.assert_allclose(step.pi_d.sum(axis=-1), 1.0, rtol=1e-14, err_msg=name)


def test_logits_layout_does_not_change_the_gradient():
    from helpers import layouts

    logits = np.log([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    dz = np.array([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0]])
    expected = ils_backward(dz, ils_cache(logits, [2, 0]), 0.1)
    for name, lg in layouts(logits).items():
        for dname, d in layouts(dz).items():
            got = ils_backward(d, ils_cache(lg, np.array([2, 0])), 0.1)
            np.testing.assert_array_equal(got, expected, err_msg=f"logits {name}, dz {dname}")


# --------------------------------------------------------------------------
# The fast kernel (what ils_backward and the training loop run) against the plain one.


@pytest.mark.parametrize("policy", ["clip", "signed"])
@pytest.mark.parametrize("prototype", [False, True])
def test_fast_kernel_equals_the_plain_kernel(policy, prototype):
    from ils_ref.estimators.ils import generic_kernel, ils_kernel
    from ils_ref.estimators.ils_training import training_kernel
    from ils_ref.estimators.intermediate import KL, SUM_NORMALIZATION

    rng = np.random.default_rng(7)
    logits = rng.normal(size=(4, 3, 6))
    logits[0, 0, 2] = -np.inf  # a masked category
    _, cache = ils_forward(logits, rng=rng)
    dz = rng.normal(size=logits.shape) * 0.3
    alpha = rng.uniform(0.01, 0.5, size=(4, 3, 1))  # one step per row
    fast = training_kernel(dz, cache.probs, cache.index, alpha, clip=policy == "clip", masked=cache.masked,
                           prototype_eps=1e-7 if prototype else None)
    if prototype:
        plain = generic_kernel(dz, cache, alpha, policy, KL, SUM_NORMALIZATION, 1e-7)[3]
    else:
        plain = ils_kernel(dz, cache, alpha, policy)[3]
    np.testing.assert_allclose(fast, plain, rtol=1e-12, atol=1e-15)
    assert not np.array_equal(fast, np.zeros_like(fast))
