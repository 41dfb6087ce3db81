# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 03 — Algorithm 1, one step at a time
#
# Forward: draw $z \sim \mathrm{Categorical}(\pi)$, $\pi = \mathrm{softmax}(\theta)$, as a
# one-hot vector. Backward, given $g = \partial L/\partial z$:
#
# 1. $\Delta = g \cdot \partial h/\partial z$ — for $h(z) = z/\sum z$ at $z = e_k$ this is
#    $\Delta_j = g_j - g_k$;
# 2. $\pi_D = h(z - \alpha\Delta)$ — one SGD step on the sample, normalised;
# 3. return $\partial \mathrm{KL}(\pi_D\,\|\,\pi)/\partial\theta = \pi - \pi_D$.

# %%
import numpy as np

from ils_ref import ils_backward, ils_cache, ils_step, softmax_backward
from ils_ref.estimators.ils import ils_kernel
from ils_ref.models.problems import toy1
from ils_ref.tutorial import Claims, show_source

claims = Claims()

# %% [markdown]
# ## The three steps in the library
#
# `ils_kernel` is Algorithm 1 with these $h$ and KL, each step commented with its number, in
# the symbols above: `z` is the one-hot draw $e_k$, `g_k` the drawn category's entry of the
# upstream gradient, `w` is $z - \alpha\Delta$, and `stepped` is `w` after the policy for
# negative entries (read below). It is printed from the installed source, so what you read is
# what runs, and it is what `ils_ref.ils_backward` runs by default:

# %%
show_source(ils_kernel)

# %% [markdown]
# `ils_ref.ils_step` runs this kernel on checked arguments and returns every intermediate
# quantity, so we can watch each step; `ils_ref.ils_backward` runs the same kernel and returns
# only the last, `dθ`.

# %%
def show(name, value):
    print(f"  {name:<10} {np.array2string(np.asarray(value), precision=4, suppress_small=True)}")


# %% [markdown]
# ## A hand-sized example
#
# $\pi = (0.2, 0.3, 0.5)$, category 0 drawn, upstream gradient $g = (1, 2, -1)$,
# $\alpha = 0.1$. By hand: $\Delta = (0, 1, -2)$ and $z - \alpha\Delta = (1, -0.1, 0.2)$ —
# a negative entry, because category 1 has a larger gradient than the drawn one, so the
# SGD step pushes $z_1$ below zero. What $\pi_D$ is then depends on the policy.

# %%
cache = ils_cache(np.log([0.2, 0.3, 0.5]), 0)
g = np.array([1.0, 2.0, -1.0])
results = {}
for policy in ("clip", "signed"):
    step = ils_step(g, cache, 0.1, policy=policy)
    print(f"policy={policy!r}")
    for name in ("dz", "delta", "w", "pi_d", "dlogits"):
        show(name, getattr(step, name))
    results[policy] = step
try:
    ils_backward(g, cache, 0.1, policy="raise")
    raised = False
except ValueError as exc:
    print(f"policy='raise': ValueError: {exc}")
    raised = True
try:
    ils_backward(np.array([0.0, 5.0, 5.0]), ils_cache(np.zeros(3), 0), 0.2, policy="signed")
    undefined = False
except ValueError as exc:
    print(f"signed with sum(z - alpha*Delta) = 1 - 10*0.2 < 0: ValueError: {exc}")
    undefined = True

# %%
claims.check(f"Delta = g - g_k = {results['clip'].delta.tolist()}", np.allclose(results["clip"].delta, [0, 1, -2]))
claims.check("clip: pi_D = (1, 0, 0.2)/1.2 is a distribution",
             np.allclose(results["clip"].pi_d, np.array([1, 0, 0.2]) / 1.2) and (results["clip"].pi_d >= 0).all())
claims.check(f"signed: pi_D has a negative entry ({results['signed'].pi_d[1]:.4f}) but still sums to 1",
             results["signed"].pi_d[1] < 0 and np.isclose(results["signed"].pi_d.sum(), 1))
for policy, step in results.items():
    claims.check(f"{policy}: dlogits = pi - pi_D", np.allclose(step.dlogits, cache.probs - step.pi_d, atol=1e-15))
claims.check("policy='raise' refuses the step instead of returning a non-distribution", raised)
claims.check("where sum(z - alpha*Delta) <= 0 the signed policy raises instead of returning inf or NaN", undefined)


# %% [markdown]
# ## The prototype's variant
#
# The original prototype returned $-\pi_D/(\pi + 10^{-7})$ — the gradient with respect to
# $\pi$ — as the gradient with respect to the logits. It differs from the chain-ruled
# gradient exactly by the skipped softmax Jacobian: `softmax_backward` of the prototype's
# output (without its $10^{-7}$) *is* the default.

# %%
rng = np.random.default_rng(3)
logits = rng.normal(size=(4, 5))
cache = ils_cache(logits, np.array([0, 2, 4, 1]))
g = rng.normal(size=(4, 5)) * 0.2
proto = ils_backward(g, cache, 0.01, prototype=True, policy="signed", prototype_eps=0.0)
default = ils_backward(g, cache, 0.01, policy="signed")
gap = np.abs(softmax_backward(proto, cache.probs) - default).max()
show("prototype", proto[0])
show("default", default[0])
print(f"max |softmax_backward(prototype) - default| = {gap:.1e}; prototype row sums {np.round(proto.sum(-1), 3).tolist()}")

# %%
claims.check(f"softmax_backward(prototype) equals the default (max difference {gap:.1e})", gap < 1e-14)
claims.check(f"the prototype's rows do not sum to zero (row sums {np.round(proto.sum(-1), 3).tolist()}): "
             f"it is not a logit gradient of anything", np.all(np.abs(proto.sum(-1)) > 0.5))


# %% [markdown]
# ## On the post's toy problem
#
# The toy loss is $\ell(z) = \frac{1}{NK}\sum -\pi^{true}(\log(z + \varepsilon) - \ldots)$,
# so at a one-hot draw $g_j = -\pi^{true}_j / (NK(z_j + \varepsilon))$: about
# $-4\cdot 10^{6}\,\pi^{true}_j$ for every category that was *not* drawn, and a mere
# $-\pi^{true}_k/25$ for the drawn one. Then $z - \alpha\Delta$ has entries
# $\alpha(g_k - g_j) \approx \alpha \cdot 4\cdot10^6\,\pi^{true}_j \gg 1$ off the draw, and
# $\pi_D$ is, to within $10^{-3}$, *the target with the drawn category removed* —
# whatever $\alpha$ is. The smoothing constant, not $\alpha$, sets the step.

# %%
problem = toy1(seed=0)
cache = ils_cache(problem.logits, np.zeros(5, dtype=int))
g = problem.grad(cache.z)
removed = problem.target.copy()
removed[:, 0] = 0
removed /= removed.sum(-1, keepdims=True)
show("target", problem.target[0])
show("removed", removed[0])
gaps = {}
for alpha in (0.1, 0.01, 0.001):
    pi_d = ils_step(g, cache, alpha).pi_d
    gaps[alpha] = np.abs(pi_d - removed).max()
    show(f"a={alpha:g}", pi_d[0])

# %%
claims.check("pi_D is the target with the drawn category removed, to within "
             + ", ".join(f"{v:.1e} (alpha={a:g})" for a, v in gaps.items()),
             max(gaps.values()) < 2e-3)


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
