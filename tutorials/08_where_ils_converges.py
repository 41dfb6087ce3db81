# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 08 — Where does ILS converge?
#
# An estimator with a small variance is no use if its *mean* points elsewhere. This tutorial
# computes ILS's expected gradient exactly (every draw enumerated, no sampling), expands it
# to first order in $\alpha$, and follows it to its fixed point. On the Bernoulli quadratic,
# the standard two-outcome benchmark, ILS settles near $p = t$ while the objective's minimiser
# is $p = 0$; on the post's toy experiment the same behaviour looks like success. Both facts
# come from one formula.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ils_ref import softmax  # noqa: E402
from ils_ref.models.problems import (  # noqa: E402
    bernoulli_quadratic,
    exact_gradient,
    exact_objective,
    linear,
    make_linear,
    outcomes,
    toy1,
)
from ils_ref.estimators.interface import ils_expected_gradient, reinforce_loo  # noqa: E402
from ils_ref.experiments.fixedpoint import expected_gradient, fixed_points  # noqa: E402
from ils_ref.tutorial import Claims, show_figure, show_source, sizes  # noqa: E402

claims = Claims()

# %%
size = sizes(
    steps=(2000, 20_000),  # section 3: SGD steps along each expectation
    closed_form_tolerance=(1e-3, 1e-4),  # section 3: |p_end - p*| for alpha = 0.01, the slowest (1e-4 for the others)
    linear_steps=(2000, 20_000), toy_steps=(4000, 20_000),  # section 4: fixed_points' step budgets
)

# %% [markdown]
# ## 1. ILS to first order in $\alpha$
#
# At a one-hot draw $z = e_k$ with upstream gradient $g = \partial f/\partial z$, step 1 of
# Algorithm 1 gives $\Delta_j = g_j - g_k$ (so $\Delta_k = 0$) and step 2 the stepped sample
# $w = z - \alpha\Delta$, whose entries sum to $1 - \alpha\sum_j\Delta_j$. Without clipping
# (the signed policy; clipping changes nothing while $-\alpha\Delta \ge 0$),
#
# $$\pi_D = \frac{z - \alpha\Delta}{1 - \alpha\Sigma\Delta}
#   = z - \alpha\Delta + \alpha\, z\,\Sigma\Delta + O(\alpha^2),$$
#
# and the logit gradient $\pi - \pi_D$ has, since $\mathbb{E} z = \pi$,
#
# $$\mathbb{E}[\pi - \pi_D] = \alpha\,\mathbb{E}\bigl[\Delta - z\,\Sigma\Delta\bigr] + O(\alpha^2).$$
#
# It is built from $\partial f/\partial z$ *at the vertices*, not from the values $f(e_k)$ that
# the exact gradient $\pi_j\,(f(e_j) - \sum_k \pi_k f(e_k))$ uses. Below, the formula is
# computed by enumerating the $K$ draws of every row and compared with ILS's exact
# expectation (`ils_expected_gradient`): the gap must shrink like $\alpha^2$.

# %%
def first_order(problem, logits):
    """E[Δ - z ΣΔ] by enumerating the draws: ILS's expected logit gradient divided by α, to first order."""
    probs = softmax(logits)
    total = np.zeros(np.shape(logits))
    for j, z in enumerate(outcomes(np.shape(logits))):  # z = e_j in every row
        g = problem.grad(z)
        delta = g - g[..., j:j + 1]
        total += probs[..., j:j + 1] * (delta - z * delta.sum(axis=-1, keepdims=True))
    return total


first_order_gaps = {}  # by problem: max |E[dθ]/α - first order| at α = 1e-2, 1e-3, 1e-4
for problem, logits in ((bernoulli_quadratic(0.45), np.array([0.0, -1.0])), (linear(rows=3, categories=4), None)):
    logits = problem.logits if logits is None else logits
    gaps = first_order_gaps[problem.name] = []
    for alpha in (1e-2, 1e-3, 1e-4):
        ils = ils_expected_gradient(problem, alpha, logits, policy="signed")
        gaps.append(np.abs(ils / alpha - first_order(problem, logits)).max())
        print(f"  {problem.name:<20} alpha={alpha:g}: max |E[dtheta]/alpha - first order| = {gaps[-1]:.3e}")

# %%
for name, gaps in first_order_gaps.items():
    claims.check(f"{name}: the first-order formula's error shrinks like alpha (x{gaps[0] / gaps[1]:.1f} and "
                 f"x{gaps[1] / gaps[2]:.1f} per factor 10 of alpha, i.e. an O(alpha^2) gradient error)",
                 all(8 < gaps[i] / gaps[i + 1] < 12 for i in range(2)))

# %% [markdown]
# ## 2. The Bernoulli quadratic: ILS against the exact gradient and straight-through
#
# $f(b) = (b - t)^2$ with $b$ the indicator of category 1 and $p = \pi_1$. The vertices' gradients
# are $\partial f/\partial z = (0, 2(1-t))$ at $b = 1$ and $(0, -2t)$ at $b = 0$, so to first order
#
# $$\mathbb{E}[d\theta_1]_{\text{ILS}} \approx 2\alpha\,(p - t), \qquad
#   \mathbb{E}[d\theta_1]_{\text{ST}} = 2p(1-p)(p - t), \qquad
#   \frac{\partial\,\mathbb{E}f}{\partial\theta_1} = p(1-p)(1 - 2t).$$
#
# ILS and straight-through vanish at $p = t$; the exact gradient never does for $t < 1/2$ and
# always pushes $p$ down. Earlier tutorials said ILS is "$4\alpha$ times the exact gradient to
# first order": that holds at $p = 1/2$ only (there $2\alpha(p - t) = \alpha(1 - 2t)$ and the
# exact gradient is $(1 - 2t)/4$). Below $p = t$ the two have opposite signs.

# %%
t, alpha, p = 0.45, 0.01, 0.047
problem = bernoulli_quadratic(t)
theta = np.array([0.0, np.log(p / (1 - p))])
ils = ils_expected_gradient(problem, alpha, theta)[1]
exact = exact_gradient(problem, theta)[1]
print(f"  at p = {p}: ILS E[dtheta_1] = {ils:+.5f} (first order 2 alpha (p - t) = {2 * alpha * (p - t):+.5f}); "
      f"exact {exact:+.5f}")
ratios = {}
for q in (0.2, 0.5, 0.8):
    th = np.array([0.0, np.log(q / (1 - q))])
    ratios[q] = ils_expected_gradient(problem, alpha, th)[1] / exact_gradient(problem, th)[1]
    print(f"  p = {q}: E[ILS] / exact gradient = {ratios[q]:+.4f}   (4 alpha = {4 * alpha:g})")

# %%
claims.check(f"at p = {p}, t = {t}, alpha = {alpha}: ILS's exact expectation {ils:+.4f} and the exact gradient "
             f"{exact:+.4f} have opposite signs (ILS pushes p up, towards t; the objective wants it down)",
             ils * exact < 0 and abs(ils - 2 * alpha * (p - t)) < 0.02 * abs(ils))
ratio = ratios[0.5]
claims.check(f"the ratio is about 4 alpha only at p = 1/2 ({ratio:.4f} against {4 * alpha:g})",
             abs(ratio / (4 * alpha) - 1) < 0.05)

# %% [markdown]
# ## 3. Following each expectation to its end
#
# From logits 0, every estimator's exact expected gradient is followed by SGD (learning rate 1)
# until $p$ stops moving (`ils_ref.experiments.fixedpoint`, also `ils-ref fixedpoint`).
# REINFORCE with a leave-one-out baseline (4 draws per step) is sampled instead: it is
# unbiased, so its mean path is the exact gradient's. By hand, ILS's fixed point is
# $p^* = c / (a/(1+a) + c)$ with $a = 2\alpha(1-t)$ and $c = 2\alpha t/(1 + 2\alpha t)$
# (`tests/experiments/test_fixedpoint.py` derives it). Every expectation is exact; for
# straight-through it is the mean of the vertex gradients, taken through the softmax:

# %%
show_source(expected_gradient, start='if estimator == "straight-through"', stop="return straight_through")

# %%
steps = size.steps
paths = {}
for name, a in (("ils", 0.01), ("ils", 0.1), ("ils", 1.0), ("straight-through", 0.0), ("exact", 0.0)):
    grad = expected_gradient(problem, name, a)
    th, path = np.zeros(2), np.empty(steps)
    for i in range(steps):
        th = th - grad(th)
        path[i] = softmax(th)[1]
    paths[f"ILS alpha={a:g}" if name == "ils" else {"exact": "exact gradient of E f"}.get(name, name)] = path
rng, loo, th, path = np.random.default_rng(0), reinforce_loo(4), np.zeros(2), np.empty(steps)
for i in range(steps):
    th = th - loo(th, problem, rng, 1)[0]
    path[i] = softmax(th)[1]
paths["REINFORCE-LOO (sampled, 4 draws/step)"] = path

fig, ax = plt.subplots(figsize=(8, 4.6), constrained_layout=True)
for label, path in paths.items():
    ax.plot(np.arange(1, steps + 1), path, lw=1.2 if "ILS" in label else 1.0, label=label)
ax.axhline(t, color="grey", ls=":", lw=1, label=f"p = t = {t} (where f(p) = (p - t)^2 is smallest)")
ax.axhline(0, color="black", lw=1.5, label="p = 0: the minimiser of E f")
ax.set_xscale("log")
ax.set_xlabel("SGD step on the logits (lr 1)\neach exact expectation followed; REINFORCE-LOO sampled")
ax.set_ylabel("p = P(b = 1)")
ax.set_ylim(-0.02, 0.55)
ax.set_title(f"Bernoulli quadratic, t = {t}: where each estimator leads", fontsize=11)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
ax.grid(True, which="both", alpha=0.25)
show_figure(fig, "08_bernoulli_fixed_points.png")

# %%
for a in (0.01, 0.1, 1.0):
    ca, cc = 2 * a * (1 - t), 2 * a * t / (1 + 2 * a * t)
    claims.check(f"ILS alpha={a:g} ends at p = {paths[f'ILS alpha={a:g}'][-1]:.4f}, the closed form "
                 f"{cc / (ca / (1 + ca) + cc):.4f}: near t, not at the minimiser p = 0 "
                 f"(E f = {exact_objective(problem, np.zeros(2) + [0, -50]):.4f} there against "
                 f"{exact_objective(problem, np.array([0.0, np.log(t / (1 - t))])):.4f} at p = t)",
                 abs(paths[f"ILS alpha={a:g}"][-1] - cc / (ca / (1 + ca) + cc)) < (size.closed_form_tolerance if a == 0.01 else 1e-4))
claims.check(f"straight-through ends at p = {paths['straight-through'][-1]:.4f} = t",
             abs(paths["straight-through"][-1] - t) < 1e-6)
claims.check(f"the exact gradient and REINFORCE-LOO head for p = 0 (p = {paths['exact gradient of E f'][-1]:.4f} and "
             f"{paths['REINFORCE-LOO (sampled, 4 draws/step)'][-1]:.4f} after {steps} steps)",
             paths["exact gradient of E f"][-1] < 0.05 and paths["REINFORCE-LOO (sampled, 4 draws/step)"][-1] < 0.05)

# %% [markdown]
# ## 4. When do ILS's stationary points coincide with the objective's?
#
# ILS (like straight-through) only sees $\partial f/\partial z$ at the drawn vertex: a linear
# model of $f$ around the draw. Its fixed point is where those linear models balance, which to
# first order is a stationary point of the **relaxed** objective $f(\pi)$ — $f$ evaluated at the
# mean — not of the objective $\mathbb{E}_{z\sim\pi} f(z)$. The two agree when $f$ is linear on
# the simplex ($f(\pi) = \mathbb{E}f$, every vertex gradient the same): then ILS heads to the same
# vertex as the exact gradient. For a curved $f$ they differ: $(p - t)^2$ is smallest at $p = t$,
# $\mathbb{E}f$ at $p = 0$.
#
# Toy experiment 1 hides the difference. Its loss is the cross-entropy
# $f(z) = -\sum_k \pi^{true}_k \log(z_k + \varepsilon)$ (over $NK$), whose relaxed minimiser
# over the simplex is $\pi = \pi^{true}$ — exactly what the post wanted — while
# $\mathbb{E}f$, the objective the post wrote down, is minimised by the one-hot on each row's
# mode (tutorial 02). Converging to the relaxed minimiser (with a bias) therefore *looks* like
# success on the post's metric.

# %%
lin = fixed_points(linear(rows=2, categories=3), 0.1, max_steps=size.linear_steps)
rows = {r["name"]: np.array(r["p"]) for r in lin["estimators"]}
best = np.array(lin["minimiser"]["p"])
gap_linear = np.abs(rows["ils"] - best).max()
print(f"  linear loss: ILS ends {gap_linear:.4f} from the minimising vertex; exact {np.abs(rows['exact'] - best).max():.4f}")
toy = toy1()
fp = fixed_points(toy, 0.1, lr=0.05, max_steps=size.toy_steps, estimators=("ils",))
ils_p = np.array(fp["estimators"][0]["p"])
mode = np.array(fp["minimiser"]["p"])
print(f"  toy 1: ILS ends {np.abs(ils_p - toy.target).max():.3f} from the target, "
      f"{np.abs(ils_p - mode).max():.3f} from the minimiser of E f (one-hot on each row's mode)")

# %%
claims.check(f"a linear loss: ILS heads to the same vertex as the exact gradient (max |p - vertex| = {gap_linear:.3f})",
             gap_linear < 0.05 and np.array_equal(rows["ils"].argmax(-1), best.argmax(-1)))
claims.check(f"toy 1: ILS ends near the target (max |p - pi_true| = {np.abs(ils_p - toy.target).max():.3f}), "
             f"the relaxed minimiser, and far from the minimiser of the post's objective "
             f"({np.abs(ils_p - mode).max():.3f})",
             np.abs(ils_p - toy.target).max() < 0.05 and np.abs(ils_p - mode).max() > 0.5)

# %% [markdown]
# ## 5. The loss's scale is part of $\alpha$
#
# $\pi_D = h(z - \alpha\Delta)$ and $\Delta$ is linear in $g$, so ILS sees only the product
# $\alpha g$: multiplying the loss by $s$ is the same as multiplying $\alpha$ by $s$. A step size
# tuned for one loss is wrong for the same loss in other units — unlike the exact gradient,
# which just scales.

# %%
base = linear(rows=3, categories=4)
scaled = make_linear(10.0 * base.c, base.logits)
a = ils_expected_gradient(scaled, 0.01, base.logits)
b = ils_expected_gradient(base, 0.1, base.logits)
print(f"  ILS at (10 f, alpha = 0.01) vs (f, alpha = 0.1): max difference {np.abs(a - b).max():.1e}")

# %%
claims.check(f"ILS's expectation for 10 f at alpha = 0.01 equals that for f at alpha = 0.1 "
             f"(max difference {np.abs(a - b).max():.1e})", np.allclose(a, b, rtol=1e-12, atol=1e-15))


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
