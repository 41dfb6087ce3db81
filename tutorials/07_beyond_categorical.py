# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 07 — Beyond categorical: Bernoulli and Gaussian ILS
#
# The post: ILS "can extend to non-categorical random variables assuming you can find a
# loss function that is closed-form differentiable with respect to the parameters". The
# prototype never did it; `ils_ref.estimators.bernoulli` and `ils_ref.estimators.gaussian` do, and this
# tutorial measures both against exact or reparameterisation gradients.
#
# **Bernoulli.** One bit $b \sim \mathrm{Bernoulli}(\sigma(\theta))$ is the two-category
# case with logits $(0, \theta)$, so Bernoulli ILS is categorical ILS at $K = 2$ (a test
# checks they agree to rounding). With $g = \partial L/\partial b$ and the clip policy:
# $b = 1 \Rightarrow p_D = 1/(1 + \alpha g^+)$, $b = 0 \Rightarrow p_D = \alpha g^-/(1+\alpha g^-)$,
# and the logit gradient is $p - p_D$.
#
# **Gaussian.** $z = \mu + \sigma\varepsilon$; the SGD step moves the sample to
# $z - \alpha g$, the target is $N(z - \alpha g, \sigma^2)$, and
# $\partial\,\mathrm{KL}/\partial\mu = (\alpha g - \sigma\varepsilon)/\sigma^2$. Its expectation
# is $(\alpha/\sigma^2)\,\mathbb{E}[g]$: the reparameterisation gradient, rescaled.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ils_ref import bernoulli_ils_backward, bernoulli_ils_forward, gaussian_ils_backward, gaussian_ils_forward, sigmoid  # noqa: E402
from ils_ref.estimators.bernoulli import BernoulliCache, bernoulli_target  # noqa: E402
from ils_ref.estimators.gaussian import expected_ils_gradient  # noqa: E402
from ils_ref.tutorial import Claims, show_figure, show_source, sizes  # noqa: E402

claims = Claims()

# %%
size = sizes(samples=(20_000, 200_000))  # Monte-Carlo draws per setting


# %% [markdown]
# ## Bernoulli ILS on the Bernoulli quadratic
#
# $f(b) = (b - t)^2$ at $\theta = 0$: the exact gradient of $\mathbb{E} f$ is
# $p(1-p)((1-t)^2 - t^2) = (1 - 2t)/4$ — small for $t = 0.45$ and tiny for $t = 0.499$,
# which is what makes this problem the standard test of REBAR and RELAX. Because $b$ has
# two outcomes, the expectation of Bernoulli ILS is exact: weigh $d\theta(b)$ by
# $P(b)$. At this point, $\theta = 0$, it is $\alpha(1 - 2t)$ to first order in $\alpha$, i.e.
# $4\alpha$ times the exact gradient for every $t$: the right direction, the wrong size, and a
# spread of one estimate near 1/2 regardless. At $\alpha = 1$ the ratio is exactly
# $4/((1+2t)(3-2t))$, within a fraction of a percent of 1 near $t = 1/2$. **Only at this
# point**: elsewhere the first-order expectation is $2\alpha(p - t)$ (tutorial 08), not a
# multiple of the exact gradient $p(1-p)(1-2t)$, and for $p < t$ it has the opposite sign;
# following it ends near $p = t$, not at the minimiser $p = 0$.
#
# `bernoulli_ils_backward` returns $p - p_D$; $p_D$ comes from `bernoulli_target`, where the
# two cases above are the two branches of one `np.where` (`other` is the stepped entry that
# was not drawn, `total` the normaliser $1 + $ `other`):

# %%
show_source(bernoulli_target)

# %%
def bernoulli_expectation(theta, t, alpha):
    p = float(sigmoid(theta))
    total, second = 0.0, 0.0
    for b, prob in ((0.0, 1 - p), (1.0, p)):
        cache = BernoulliCache(np.array([theta]), np.array([p]), np.array([b]))
        d = bernoulli_ils_backward(np.array([2 * (b - t)]), cache, alpha)[0]
        total += prob * d
        second += prob * d * d
    return total, np.sqrt(second - total**2)


samples = size.samples
alphas = np.geomspace(1e-3, 10, 40)
ratios, small, at_one, mean_spread = {}, {}, {}, {}  # by t: E[ILS] / exact gradient at several alphas
for t in (0.45, 0.499):
    exact = (1 - 2 * t) / 4
    ratios[t] = np.array([bernoulli_expectation(0.0, t, a)[0] / exact for a in alphas])
    small[t] = bernoulli_expectation(0.0, t, 1e-3)[0] / exact / 1e-3
    at_one[t] = bernoulli_expectation(0.0, t, 1.0)[0] / exact
    mean_spread[t] = bernoulli_expectation(0.0, t, 0.1)
    print(f"  t={t}: ratio at alpha = 1e-3: {small[t]:.3f} * alpha, at alpha = 1: {at_one[t]:.5f}")
# the Monte-Carlo mean against the exact expectation
t, alpha = 0.45, 0.1
b, cache = bernoulli_ils_forward(np.zeros(samples), rng=np.random.default_rng(0))
est = bernoulli_ils_backward(2 * (b - t), cache, alpha)
exact_mean, _ = bernoulli_expectation(0.0, t, alpha)
se = est.std(ddof=1) / np.sqrt(samples)
print(f"  t={t}, alpha={alpha}: Monte-Carlo mean {est.mean():.5f} +- {se:.5f}, exact {exact_mean:.5f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.3), constrained_layout=True)
for t in (0.45, 0.499):
    ax.plot(alphas, ratios[t], label=f"t = {t}", ls="-" if t == 0.45 else ":", lw=2 if t == 0.45 else 1.5)
ax.plot(alphas, 4 * alphas, ls="--", color="grey", label="4 alpha (first order)")
ax.axhline(1.0, color="black", lw=0.8, label="unbiased")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("alpha")
ax.set_ylabel("E[Bernoulli ILS] / exact gradient")
ax.set_title("Bernoulli ILS on the Bernoulli quadratic (theta = 0), exact expectation")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
show_figure(fig, "07_bernoulli_ratio.png")

# %%
for t in (0.45, 0.499):
    claims.check(f"t={t}: E[Bernoulli ILS] / exact gradient is positive for every alpha in [1e-3, 10] "
                 f"(between {ratios[t].min():.2g} and {ratios[t].max():.2g})", np.all(ratios[t] > 0))
    claims.check(f"t={t}: at alpha = 1e-3 the ratio is {small[t]:.3f} * alpha (the first-order value is 4)",
                 abs(small[t] - 4) < 0.05)
    claims.check(f"t={t}: at alpha = 1 the ratio is {at_one[t]:.5f} = 4/((1+2t)(3-2t))",
                 np.isclose(at_one[t], 4 / ((1 + 2 * t) * (3 - 2 * t)), rtol=1e-12))
    mean, spread = mean_spread[t]
    claims.check(f"t={t}, alpha=0.1: one estimate has spread {spread:.3f} around a mean of {mean:.2g}: "
                 f"signal-to-noise {abs(mean) / spread:.2g}", abs(mean) / spread < 0.05)
t, alpha = 0.45, 0.1
claims.check(f"Monte-Carlo mean {est.mean():.5f} +- {se:.5f} over {samples} draws matches the exact "
             f"expectation {exact_mean:.5f}", abs(est.mean() - exact_mean) < 4 * se)


# %% [markdown]
# ## Gaussian ILS on a quadratic loss
#
# $L(z) = (z - c)^2/2$, so $g = z - c$ and $\mathbb{E}[g] = \mu - c$, the
# reparameterisation gradient. ILS's estimate is
# $(\alpha g - \sigma\varepsilon)/\sigma^2 = \alpha(\mu - c)/\sigma^2 + (\alpha - 1)\,\varepsilon/\sigma$:
# mean $(\alpha/\sigma^2)(\mu - c)$, spread $|\alpha - 1|/\sigma$. With $\alpha = \sigma^2$ it is
# unbiased for the reparameterisation gradient, with spread $|\sigma^2 - 1|/\sigma$ against the
# reparameterisation estimator's $\sigma$: noisier here ($\sigma$ = 0.6, and whenever
# $\sigma^2 < 1/2$), quieter when $\sigma^2 > 1/2$, noiseless at $\sigma = 1$.
#
# The library computes the second form, from the noise $\varepsilon$ kept in the cache:

# %%
show_source(gaussian_ils_backward)

# %%
mu, sigma, c = 0.3, 0.6, 1.0
alphas = np.array([0.05, 0.1, 0.2, sigma**2, 0.6, 1.0, 1.5])
rng = np.random.default_rng(1)
means, halfs, spreads = [], [], []
for alpha in alphas:
    z, cache = gaussian_ils_forward(np.full(samples, mu), sigma, rng=rng)
    est = gaussian_ils_backward(z - c, cache, alpha)
    means.append(est.mean())
    spreads.append(est.std(ddof=1))
    halfs.append(1.96 * spreads[-1] / np.sqrt(samples))
means, halfs, spreads = map(np.array, (means, halfs, spreads))
derived = expected_ils_gradient(mu - c, sigma, alphas)
ok = np.abs(means - derived) <= 4 * halfs / 1.96 + samples * np.finfo(float).eps * np.abs(derived)
for a, m, h, d in zip(alphas, means, halfs, derived):
    print(f"  alpha={a:<5g} Monte-Carlo {m:+.4f} +- {h:.4f}   derived (alpha/sigma^2)(mu-c) = {d:+.4f}")
i = int(np.argmin(np.abs(alphas - sigma**2)))
predicted = np.abs(alphas - 1) / sigma
other = {}
for s in (1.0, 1.5):  # alpha = sigma^2 again, at two other scales
    z, cache = gaussian_ils_forward(np.full(samples, mu), s, rng=rng)
    other[s] = gaussian_ils_backward(z - c, cache, s * s).std(ddof=1)
print(f"  alpha = sigma^2: spread of one estimate {spreads[i]:.3f} at sigma = {sigma}, "
      f"{other[1.0]:.1e} at sigma = 1, {other[1.5]:.3f} at sigma = 1.5")

# %%
fig, ax = plt.subplots(figsize=(7, 4.3), constrained_layout=True)
ax.errorbar(alphas, means, yerr=halfs, fmt="o", label="Gaussian ILS, Monte-Carlo mean (95% CI)")
grid = np.linspace(0.0, alphas.max(), 100)
ax.plot(grid, expected_ils_gradient(mu - c, sigma, grid), label="derived: (alpha / sigma^2)(mu - c)")
ax.axhline(mu - c, color="black", ls="--", label="reparameterisation gradient mu - c")
ax.axvline(sigma**2, color="grey", lw=0.8, ls=":", label="alpha = sigma^2")
ax.set_xlabel("alpha")
ax.set_ylabel("d/dmu estimate")
ax.set_title(f"Gaussian ILS on L = (z - c)^2 / 2  (mu={mu}, c={c}, sigma={sigma})")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
show_figure(fig, "07_gaussian_expectation.png")

# %%
claims.check("every Monte-Carlo mean lies within 4 standard errors of (alpha/sigma^2)(mu - c)", np.all(ok))
claims.check(f"at alpha = sigma^2 = {sigma**2:g} the derived mean is the reparameterisation gradient mu - c = {mu - c:g}",
             np.isclose(derived[i], mu - c, rtol=1e-12))
claims.check("the spread of one estimate is |alpha - 1| / sigma (largest relative deviation "
             f"{np.max(np.abs(spreads - predicted)[predicted > 0] / predicted[predicted > 0]):.3f})",
             np.all(np.abs(spreads - predicted) <= 0.02 * predicted + 1e-12))
claims.check(f"at alpha = sigma^2 ILS's spread ({spreads[i]:.3f}) exceeds the reparameterisation estimator's ({sigma:g})",
             spreads[i] > sigma)
claims.check(f"but not in general: at sigma = 1 the spread is {other[1.0]:.1e} (noiseless), at sigma = 1.5 it is "
             f"{other[1.5]:.3f} against 1.5 (|sigma^2 - 1|/sigma = {abs(1.5**2 - 1) / 1.5:.3f})",
             other[1.0] < 1e-12 and abs(other[1.5] - abs(1.5**2 - 1) / 1.5) < 0.02 * abs(1.5**2 - 1) / 1.5)


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
