"""The categorical VAE: every backward pass against finite differences, the exact ELBO against brute force."""

import itertools

import numpy as np
import pytest
import scipy.special
import scipy.stats

from ils_ref import check_vjp, softmax
from ils_ref.estimators.interface import exact, gumbel, ils, reinforce_loo
from ils_ref.models.mlp import (
    PRODUCT_TERMS,
    bernoulli_nll,
    bernoulli_nll_backward,
    linear_backward,
    linear_forward,
    sigmoid_kernel,
    tanh_backward,
    tanh_forward,
)
from ils_ref.models.vae import (
    CategoricalVAE,
    LatentProblem,
    exact_negative_elbo,
    kl_to_uniform,
    kl_to_uniform_backward,
    reconstruction_gradient,
)

MODEL = CategoricalVAE(pixels=6, latents=2, categories=3, hidden=4)
PARAMS = MODEL.init([0, 1])
X = (np.random.default_rng(0).random((2, 5, 6)) < 0.4).astype(float)


def _params_vjp_case():
    keys = sorted(PARAMS)

    def f(*arrays):
        return exact_negative_elbo(MODEL, dict(zip(keys, arrays)), X, gradient=False)[0]

    def vjp(*args):
        grads = exact_negative_elbo(MODEL, dict(zip(keys, args[:-1])), X)[1]
        dy = args[-1]
        return tuple(dy.reshape((-1,) + (1,) * (grads[k].ndim - 1)) * grads[k] for k in keys)

    return f, vjp, tuple(PARAMS[k] for k in keys)


def test_mlp_pieces_against_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 5)), rng.normal(size=(2, 5))
    assert check_vjp(linear_forward, lambda x, w, b, dy: linear_backward(dy, x, w), (x, w, b), full=True).ok
    assert check_vjp(tanh_forward, lambda x, dy: tanh_backward(dy, np.tanh(x)), x, full=True).ok
    pixels = (rng.random((2, 3, 4)) < 0.5).astype(float)
    report = check_vjp(lambda o: bernoulli_nll(o, pixels), lambda o, d: bernoulli_nll_backward(d, o, pixels), 3 * x, full=True)
    assert report.ok, report


def test_bernoulli_nll_matches_scipy_also_at_extreme_logits_and_beyond_the_product_limit():
    rng = np.random.default_rng(2)
    for d in (7, PRODUCT_TERMS + 5):
        logits = rng.normal(size=(3, d)) * 3
        pixels = (rng.random((3, d)) < 0.5).astype(float)
        reference = -scipy.stats.bernoulli.logpmf(pixels, scipy.special.expit(logits)).sum(axis=-1)
        np.testing.assert_allclose(bernoulli_nll(logits, pixels), reference, rtol=1e-12)
        # far out, SciPy's log(1 - expit(o)) loses digits: the per-pixel logaddexp form is the reference there
        logits = 30 * logits
        logits[0, :3] = [-800.0, 800.0, 0.0]
        reference = np.sum(np.logaddexp(0.0, logits) - pixels * logits, axis=-1)
        np.testing.assert_allclose(bernoulli_nll(logits, pixels), reference, rtol=1e-12)
    o = np.linspace(-40, 40, 1001)
    np.testing.assert_allclose(sigmoid_kernel(o), scipy.special.expit(o), rtol=0, atol=4.5e-16)  # 2 ulps of 1


def test_exact_negative_elbo_matches_brute_force_enumeration():
    loss, _ = exact_negative_elbo(MODEL, PARAMS, X)
    logits, _ = MODEL.encode(PARAMS, X)
    probs = softmax(logits)
    for s in range(2):
        one = {k: v[s : s + 1] for k, v in PARAMS.items()}
        total = 0.0
        for b in range(X.shape[1]):
            for c in itertools.product(range(3), repeat=2):
                z = np.concatenate([np.eye(3)[c[0]], np.eye(3)[c[1]]])
                out, _ = MODEL.decode(one, z[None, None])
                log_lik = scipy.stats.bernoulli.logpmf(X[s, b], scipy.special.expit(out[0, 0])).sum()
                total -= probs[s, b, 0, c[0]] * probs[s, b, 1, c[1]] * log_lik
            total += scipy.stats.entropy(np.full(3, 1 / 3)) * 2 - scipy.stats.entropy(probs[s, b].T).sum()
        assert loss[s] == pytest.approx(total / X.shape[1], rel=1e-12)


def test_exact_gradient_of_every_parameter_against_finite_differences():
    f, vjp, x = _params_vjp_case()
    report = check_vjp(f, vjp, x, full=True)
    assert report.verdict == "pass", report
    broken = check_vjp(f, lambda *a: tuple(g * (1.002 if i == 6 else 1.0) for i, g in enumerate(vjp(*a))), x, full=True)
    assert broken.verdict == "fail"


def test_encoder_decoder_and_kl_backward_passes_against_finite_differences():
    logits, cache = MODEL.encode(PARAMS, X)
    keys = ("enc_w1", "enc_b1", "enc_w2", "enc_b2")

    def encode(*arrays):
        return MODEL.encode({**PARAMS, **dict(zip(keys, arrays))}, X)[0]

    def encode_vjp(*args):
        grads = MODEL.encode_backward(args[-1], MODEL.encode({**PARAMS, **dict(zip(keys, args[:-1]))}, X)[1])
        return tuple(grads[k] for k in keys)

    assert check_vjp(encode, encode_vjp, tuple(PARAMS[k] for k in keys), full=True).ok
    z = softmax(np.random.default_rng(3).normal(size=(2, 4, MODEL.width)))
    assert check_vjp(lambda z: MODEL.decode(PARAMS, z)[0],
                     lambda z, d: MODEL.decode_backward(d, MODEL.decode(PARAMS, z)[1])[0], z, full=True).ok
    assert check_vjp(lambda t: kl_to_uniform(softmax(t)), lambda t, d: kl_to_uniform_backward(d, softmax(t)), logits,
                     full=True).ok


def test_the_latent_problem_gives_each_estimator_what_it_asks_for():
    logits, _ = MODEL.encode(PARAMS, X)
    problem = LatentProblem(MODEL, PARAMS, X, logits)
    z = softmax(np.random.default_rng(4).normal(size=(3,) + logits.shape))  # 3 relaxed draws per row

    def loss(z):  # one value per image: f's L rows of an image share it
        return problem.f(z)[..., 0]

    report = check_vjp(loss, lambda z, d: d[..., None, None] * problem.grad(z), z, full=True)
    assert report.ok, report
    # ∂E_q f/∂θ by enumeration, against finite differences of E_q f in the logits
    rec = lambda t: reconstruction_gradient(MODEL, PARAMS, X, t)[0]  # noqa: E731
    assert check_vjp(rec, lambda t, d: d[..., None, None] * problem.exact_gradient(t), logits, full=True).ok
    # the exact estimator trains the decoder with the exact decoder gradient
    grads = exact_negative_elbo(MODEL, PARAMS, X)[1]
    exact()(logits, problem, np.random.default_rng(0), 1)
    for k, g in problem.decoder_gradient().items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-12, atol=1e-15)


def test_the_decoder_gradient_is_the_same_whether_the_estimator_asked_for_values_or_gradients():
    logits, _ = MODEL.encode(PARAMS, X)
    draws = np.eye(3)[np.random.default_rng(5).integers(0, 3, size=(4,) + logits.shape[:-1])]
    by_value, by_grad = LatentProblem(MODEL, PARAMS, X, logits), LatentProblem(MODEL, PARAMS, X, logits)
    by_value.f(draws)
    by_grad.grad(draws)
    for k, g in by_grad.decoder_gradient().items():
        np.testing.assert_allclose(by_value.decoder_gradient()[k], g, rtol=1e-13)
    assert by_value.evaluations == by_grad.evaluations == 4
    with pytest.raises(RuntimeError, match="no estimator"):
        LatentProblem(MODEL, PARAMS, X, logits).decoder_gradient()


@pytest.mark.parametrize("estimator", [ils(0.1), gumbel(0.5), reinforce_loo(3)], ids=lambda e: e.name)
def test_every_estimator_runs_on_the_latent_problem(estimator):
    logits, _ = MODEL.encode(PARAMS, X)
    problem = LatentProblem(MODEL, PARAMS, X, logits)
    out = estimator(logits, problem, np.random.default_rng(0), 7)
    assert out.shape == (7,) + logits.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=-1), 0.0, atol=1e-12)  # logit gradients: every row sums to zero
    assert set(problem.decoder_gradient()) == {"dec_w1", "dec_b1", "dec_w2", "dec_b2"}


def test_reinforce_loo_is_unbiased_on_the_vae_and_ils_is_not():
    """The statistical check on a real model: the exact gradient is known, so bias is measured, not argued."""
    logits, _ = MODEL.encode(PARAMS, X)
    problem = LatentProblem(MODEL, PARAMS, X, logits)
    g = problem.exact_gradient(logits)
    for estimator, unbiased in ((reinforce_loo(4), True), (ils(0.1), False)):
        est = estimator(logits, problem, np.random.default_rng(1), 8_000)
        z = (est.mean(axis=0) - g) / (est.std(axis=0, ddof=1) / np.sqrt(len(est)) + 1e-300)
        assert (np.abs(z).max() < 5) == unbiased, (estimator.label, np.abs(z).max())


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="categories"):
        CategoricalVAE(categories=1)
    with pytest.raises(ValueError, match="configurations"):
        CategoricalVAE(latents=5, categories=8)
    with pytest.raises(TypeError, match="params"):
        exact_negative_elbo(MODEL, {"enc_w1": 1}, X)
    with pytest.raises(ValueError, match=r"params\['dec_w2'\]"):
        exact_negative_elbo(MODEL, {**PARAMS, "dec_w2": PARAMS["dec_w2"][:1]}, X)
    with pytest.raises(ValueError, match="x has shape"):
        exact_negative_elbo(MODEL, PARAMS, X[..., :5])
    with pytest.raises(ValueError, match="x"):
        exact_negative_elbo(MODEL, PARAMS, X + 2)
    with pytest.raises(TypeError, match="seed"):
        MODEL.init([0.5])


def test_outcomes_enumerate_q_and_reproduce_the_exact_gradient_as_a_score_function_sum():
    """Σ_c q(c) f(c) (z_c - π) is the exact gradient: an independent route to ∂E_q f/∂θ."""
    logits, _ = MODEL.encode(PARAMS, X)
    problem = LatentProblem(MODEL, PARAMS, X, logits)
    index, weights = problem.outcomes()
    assert index.shape == (9,) + logits.shape[:-1]
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-14)
    z = np.eye(3)[index]
    score = np.sum(weights[..., None, None] * problem.f(z)[..., None] * (z - softmax(logits)), axis=0)
    np.testing.assert_allclose(score, problem.exact_gradient(logits), rtol=1e-11, atol=1e-13)


def test_the_decoder_gradient_at_draws_is_that_of_the_mean_loss_over_draws_and_images():
    logits, _ = MODEL.encode(PARAMS, X)
    draws = np.eye(3)[np.random.default_rng(6).integers(0, 3, size=(4,) + logits.shape[:-1])]
    keys = ("dec_w1", "dec_b1", "dec_w2", "dec_b2")

    def problem(arrays):
        return LatentProblem(MODEL, {**PARAMS, **dict(zip(keys, arrays))}, X, logits)

    def mean_loss(*arrays):  # per model: the mean of f over the 4 draws and 5 images
        return problem(arrays).f(draws)[..., 0].mean(axis=(0, 2))

    def vjp(*args):
        p = problem(args[:-1])
        p.grad(draws)
        g = p.decoder_gradient()
        return tuple(args[-1].reshape((-1,) + (1,) * (g[k].ndim - 1)) * g[k] for k in keys)

    report = check_vjp(mean_loss, vjp, tuple(PARAMS[k] for k in keys), full=True)
    assert report.verdict == "pass", report


def test_the_kl_term_takes_0_log_0_as_0_without_a_warning():
    probs = np.array([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]])  # softmax underflows to exact zeros at logit gaps > 745
    expected = 2 * np.log(3) - scipy.stats.entropy(probs[0].T).sum()
    assert kl_to_uniform(probs)[0] == pytest.approx(expected, rel=1e-14)  # warnings are errors in this suite
    assert np.isfinite(kl_to_uniform_backward(np.ones(1), probs)).all()
