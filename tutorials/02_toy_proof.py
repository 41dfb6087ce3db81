# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 02 — The toy proof: a true bound, and a surrogate with the wrong minimiser
#
# The post justifies its toy experiment with Jensen's inequality. For a target $\pi$ and
# a model $\hat\pi$ with one-hot draws $z \sim \hat\pi$ (so $\mathbb{E} z = \hat\pi$):
#
# $$\mathrm{KL}(\pi\,\|\,\hat\pi) = \mathrm{KL}(\pi\,\|\,\mathbb{E} z)
#   \le \mathbb{E}_z\, \mathrm{KL}(\pi\,\|\,z),$$
#
# because $-\log$ is convex. The experiment then minimises the right-hand side from single
# draws, with $\log(z + \varepsilon)$, $\varepsilon = 10^{-8}$, since
# $\mathrm{KL}(\pi\,\|\,z) = \infty$ for a one-hot $z$. Two questions, answered with exact
# numbers (every expectation over $z$ below is a sum over the $K$ outcomes, not a sample):
#
# 1. Does the bound hold with the smoothing? (Yes: $-\log(\cdot + \varepsilon)$ is convex too.)
# 2. Is the minimiser of the right-hand side the target? The post's "squeeze" argument
#    needs it to be. It is not.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ils_ref import kl_divergence, softmax  # noqa: E402
from ils_ref.experiments.toy1 import toy_metric  # noqa: E402
from ils_ref.models.problems import exact_gradient, exact_objective, make_toy1, outcome_values  # noqa: E402
from ils_ref.tutorial import Claims, show_figure, show_source, sizes  # noqa: E402

claims = Claims()

# %%
size = sizes(pairs=(200, 2000), steps=(6000, 50000))  # random pairs in section 1, exact gradient steps in section 2


# %% [markdown]
# ## 1. The bound, on many random pairs
#
# `toy_metric(π̂, π)` is the smoothed $\mathrm{KL}_\varepsilon(\pi\,\|\,\hat\pi)$ averaged over
# entries, exactly the post's reported metric; `exact_objective` is the post's sampled
# loss averaged over the draws $z \sim \hat\pi$, computed by enumeration.

# %%
rng = np.random.default_rng(0)
pairs = size.pairs
left, right, plain = [], [], []
for _ in range(pairs):
    target = softmax(rng.normal(size=(1, 5)) * 1.5)
    logits = rng.normal(size=(1, 5)) * 1.5
    problem = make_toy1(target, logits)
    left.append(float(toy_metric(softmax(logits), target)))
    right.append(exact_objective(problem))
    plain.append(float(kl_divergence(target, softmax(logits))[0]) / 5)  # unsmoothed, same scaling
left, right, plain = map(np.array, (left, right, plain))
print(f"{pairs} random (target, model) pairs, K = 5")
print(f"  smoothed KL(pi || pi_hat):     median {np.median(left):.4f}")
print(f"  E_z smoothed KL(pi || z):      median {np.median(right):.4f}")
print(f"  ratio right / left:            median {np.median(right / left):.0f}, min {np.min(right / left):.0f}")

# %%
claims.check(f"the smoothed bound holds for all {pairs} pairs (smallest gap {np.min(right - left):.3g})",
             np.all(right >= left))
claims.check(f"the smoothing changes the left side by at most {np.max(np.abs(left - plain)):.1e} "
             f"(about eps / min(pi_hat))", np.max(np.abs(left - plain)) < 1e-4)
claims.check(f"the bound is loose: the right side is at least {np.min(right / left):.1f} times the left "
             f"(median {np.median(right / left):.0f} times)", np.min(right / left) > 2)



# %% [markdown]
# ## 2. The minimiser of the right-hand side
#
# $\mathbb{E}_{z\sim\hat\pi}\,\ell(z) = \sum_k \hat\pi_k F_k$ with $F_k = \ell(e_k)$: it is
# **linear** in $\hat\pi$, so over the simplex it is minimised at a vertex — the one-hot
# $\hat\pi = e_{k^*}$ with $k^* = \arg\min_k F_k$. With $\varepsilon = 10^{-8}$,
# $F_k \approx -\log\varepsilon\,(1 - \pi_k)/K$, so $k^*$ is the target's most likely
# category. In the library the expectation is exactly that sum, $\hat\pi$ times the outcome
# values, so its exactness is plain to see:

# %%
show_source(exact_objective)
show_source(outcome_values)

# %% [markdown]
# Exact gradient descent on the surrogate (what an unbiased estimator would follow on average)
# therefore walks *away* from the target.

# %%
steps = size.steps
rng = np.random.default_rng(1)
target = rng.random((5, 5))
target /= target.sum(axis=-1, keepdims=True)
logits = rng.random((5, 5))
problem = make_toy1(target, logits)
outcomes = outcome_values(problem)  # F[r, k] = loss of row r when z = e_k
k_star = np.argmin(outcomes, axis=-1)
print(f"argmin_k F_k per row: {k_star.tolist()}; the target's most likely category: {np.argmax(target, axis=-1).tolist()}")
theta, metric, surrogate = logits.copy(), [], []
for _ in range(steps):
    metric.append(float(toy_metric(softmax(theta), target)))
    surrogate.append(exact_objective(problem, theta))
    theta -= 0.01 * exact_gradient(problem, theta)
pi_end = softmax(theta)
print("row 0: target   ", np.round(target[0], 3))
print("row 0: model at the end of exact gradient descent", np.round(pi_end[0], 3))

# %%
fig, ax = plt.subplots(figsize=(7, 4.8), constrained_layout=True)
ax.plot(metric, label="true metric: smoothed KL(target || model)")
ax.plot(np.array(surrogate) / 100, label="surrogate E_z smoothed KL(target || z), divided by 100")
ax.set_xlabel("exact gradient step on the surrogate (lr 0.01)")
ax.set_ylabel("smoothed KL, nats (mean over the 25 entries)")
ax.set_yscale("log")
ax.grid(True, which="both", alpha=0.3)
fig.legend(loc="outside lower center", fontsize=9)  # below the axes: the curves can rise anywhere in a full run
ax.set_title("Minimising the post's surrogate exactly moves away from the target")
show_figure(fig, "02_surrogate_minimiser.png")

# %%
best = int(np.argmin(metric))
claims.check(f"argmin_k F_k is the target's most likely category in every row ({k_star.tolist()})",
             np.array_equal(k_star, np.argmax(target, axis=-1)))
claims.check(f"the surrogate falls monotonically over {steps} exact steps ({surrogate[0]:.4f} -> {surrogate[-1]:.4f})",
             np.all(np.diff(surrogate) <= 1e-15))
claims.check(f"the true metric first falls (to {metric[best]:.4f} at step {best}) then rises (to {metric[-1]:.4f})",
             0 < best < steps - 1 and metric[-1] > metric[best])
claims.check(f"the model concentrates on k*: mean probability of k* rises from "
             f"{softmax(logits)[np.arange(5), k_star].mean():.3f} to {pi_end[np.arange(5), k_star].mean():.3f}",
             pi_end[np.arange(5), k_star].mean() > softmax(logits)[np.arange(5), k_star].mean())


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
