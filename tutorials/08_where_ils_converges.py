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
# the standard two-outcome benchmark, ILS settles near $p = t$ for small $\alpha$ while the
# objective's minimiser is $p = 0$; on the post's toy experiment the same behaviour looks like
# success. Both facts come from one formula.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scipy.optimize import minimize  # noqa: E402

from ils_ref import ils_first_order, softmax  # noqa: E402
from ils_ref.models.problems import (  # noqa: E402
    bernoulli_quadratic,
    convex_quadratic,
    exact_gradient,
    exact_objective,
    linear,
    make_linear,
    make_quadratic,
    outcomes,
    quadratic,
    relaxed_gradient,
    relaxed_objective,
    toy1,
)
from ils_ref.estimators.interface import ils_expected_first_order, ils_expected_gradient, reinforce_loo  # noqa: E402
from ils_ref.experiments.fixedpoint import expected_gradient, fixed_points, follow  # noqa: E402
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
# $w = z - \alpha\Delta$, whose entries sum to $1 - \alpha\sum_j\Delta_j$. Under the **signed**
# policy (no clipping),
#
# $$\pi_D = \frac{z - \alpha\Delta}{1 - \alpha\Sigma\Delta}
#   = z - \alpha\Delta + \alpha\, z\,\Sigma\Delta + O(\alpha^2).$$
#
# Under the default **clip** policy, $w_k = 1$ and $w_j = -\alpha\Delta_j$ for $j \ne k$, so
# clipping gives $\max(-\alpha\Delta_j, 0) = -\alpha\Delta^-_j$ with $\Delta^- = \min(\Delta, 0)$:
# the clipped sample is exactly $z - \alpha\Delta^-$, and the same expansion holds with
# $\Delta^-$ in place of $\Delta$. Per draw, $\pi - \pi_D = (\pi - z) + \alpha c + O(\alpha^2)$ with
#
# $$c_{\text{signed}} = \Delta - z\,\Sigma\Delta, \qquad c_{\text{clip}} = \Delta^- - z\,\Sigma\Delta^-,$$
#
# which `ils_ref.ils_first_order` computes, and since $\mathbb{E} z = \pi$,
# $\mathbb{E}[\pi - \pi_D] = \alpha\,\mathbb{E}[c] + O(\alpha^2)$. The two coefficients differ
# wherever some $\Delta_j > 0$ (a category that was not drawn has a larger gradient than the
# drawn one): there clipping is active at every $\alpha > 0$, however small.

# %%
show_source(ils_first_order, start="with np.errstate", stop="return finite")

# %% [markdown]
# $c$ is built from $\partial f/\partial z$ *at the vertices*, not from the values $f(e_k)$ that
# the exact gradient $\pi_j\,(f(e_j) - \sum_k \pi_k f(e_k))$ uses.
# `ils_expected_first_order` sums $\pi_k\, c(e_k)$ over the $K$ draws of every row; below it is
# compared with ILS's exact expectation (`ils_expected_gradient`) divided by $\alpha$: where the
# formula is right, the gap shrinks like $\alpha$ (an $O(\alpha^2)$ error in the gradient).
#
# First the signed policy against the signed formula, on the Bernoulli quadratic and a linear
# loss:

# %%
first_order_gaps = {}  # by problem: max |E[dθ]/α - E[c]| at α = 1e-2, 1e-3, 1e-4
for problem, logits in ((bernoulli_quadratic(0.45), np.array([0.0, -1.0])), (linear(rows=3, categories=4), None)):
    logits = problem.logits if logits is None else logits
    gaps = first_order_gaps[problem.name] = []
    for alpha in (1e-2, 1e-3, 1e-4):
        ils = ils_expected_gradient(problem, alpha, logits, policy="signed")
        gaps.append(np.abs(ils / alpha - ils_expected_first_order(problem, logits, policy="signed")).max())
        print(f"  {problem.name:<20} alpha={alpha:g}: max |E[dtheta]/alpha - first order| = {gaps[-1]:.3e}")

# %%
for name, gaps in first_order_gaps.items():
    claims.check(f"signed policy, {name}: the signed formula's error shrinks like alpha (x{gaps[0] / gaps[1]:.1f} and "
                 f"x{gaps[1] / gaps[2]:.1f} per factor 10 of alpha, i.e. an O(alpha^2) gradient error)",
                 all(8 < gaps[i] / gaps[i + 1] < 12 for i in range(2)))

# %% [markdown]
# Now the default clip policy on a loss that is not linear: a generic quadratic
# $f(z) = \tfrac12 z^\top A z + b^\top z$ per row (`quadratic`: $A$ symmetric with
# standard-normal entries, $K = 4$, seeded). How often is clipping active, i.e. what is the
# probability of a draw with some $\Delta_j > 0$? Then ILS's exact expectation under clip,
# divided by $\alpha$, against both formulas.

# %%
curved = quadratic(seed=0, rows=3, categories=4)
draws = outcomes(curved.logits.shape)  # draws[j] = e_j in every row
vertex_grads = curved.grad(draws)  # ∂f/∂z at each vertex, (K, rows, K)
drawn = np.take_along_axis(vertex_grads, np.argmax(draws, axis=-1)[..., None], axis=-1)  # g_k at the draw e_k
clip_active = np.sum(np.moveaxis(softmax(curved.logits), -1, 0) * np.any(vertex_grads > drawn, axis=-1), axis=0)
print("  P(clipping active) per row:", np.round(clip_active, 3))
signed_formula = ils_expected_first_order(curved, policy="signed")
clip_formula = ils_expected_first_order(curved, policy="clip")
clip_errors = {"signed": [], "clip": []}  # relative errors of E[dθ]/α under clip, by formula
for alpha in (1e-2, 1e-3, 1e-4):
    slope = ils_expected_gradient(curved, alpha) / alpha  # the clip policy (the default)
    for name, formula in (("signed", signed_formula), ("clip", clip_formula)):
        clip_errors[name].append(np.abs(slope - formula).max() / np.abs(slope).max())
    print(f"  clip policy, alpha={alpha:g}: relative error of the signed formula {clip_errors['signed'][-1]:.3f}, "
          f"of the clip formula {clip_errors['clip'][-1]:.2e}")

# %%
errs_s, errs_c = clip_errors["signed"], clip_errors["clip"]
claims.check(f"a generic quadratic (K = 4): clipping is active on {clip_active.min():.0%} to {clip_active.max():.0%} "
             f"of the draws", clip_active.min() > 0.5)
claims.check(f"under clip the signed formula is off by {min(errs_s):.0%} to {max(errs_s):.0%} at every alpha "
             f"from 1e-2 to 1e-4: its error does not shrink", min(errs_s) > 0.3 and max(errs_s) / min(errs_s) < 1.2)
claims.check(f"under clip the clip formula's error shrinks like alpha ({errs_c[0]:.1e} -> {errs_c[1]:.1e} -> "
             f"{errs_c[2]:.1e})", all(8 < errs_c[i] / errs_c[i + 1] < 12 for i in range(2)))

# %% [markdown]
# Where $\Delta \ge 0$ at every vertex (each drawn category has the smallest gradient, e.g. the
# concave $f(z) = -\tfrac12\lVert z\rVert^2$, whose $\partial f/\partial z = -z$), $\Delta^- = 0$:
# clipped ILS returns $\pi - z$ at every $\alpha$, whose mean is exactly zero. It does not
# move at all, while the signed policy does.

# %%
concave = make_quadratic(-np.eye(4)[None], np.zeros((1, 4)), np.array([[0.3, -0.2, 0.5, 0.0]]))
still = {alpha: np.abs(ils_expected_gradient(concave, alpha)).max() for alpha in (0.01, 0.1, 1.0)}
moving = np.abs(ils_expected_gradient(concave, 0.01, policy="signed")).max()
bq = bernoulli_quadratic(0.45)
bq_same = np.array_equal(ils_expected_first_order(bq, policy="clip"), ils_expected_first_order(bq, policy="signed"))
print(f"  Bernoulli quadratic: clip and signed first-order coefficients equal: {bq_same}")
print(f"  concave quadratic: max |E[dtheta]| under clip {max(still.values()):.1e} (alpha = 0.01, 0.1, 1); "
      f"under signed at alpha = 0.01 {moving:.1e}")

# %%
claims.check(f"Delta >= 0 at every vertex: clipped ILS's mean is 0 ({max(still.values()):.0e}) at every alpha, "
             f"the signed policy's is not ({moving:.1e})", max(still.values()) < 1e-15 and moving > 1e-3)
claims.check("on the Bernoulli quadratic no draw clips (Delta <= 0 at both vertices): the clip and signed "
             "first-order expectations are equal", bq_same)

# %% [markdown]
# So $\alpha\,\mathbb{E}[\Delta - z\Sigma\Delta]$ describes the signed policy, and the clip
# policy only where no draw clips (the Bernoulli quadratic below: there $\Delta \le 0$ at both
# vertices); $\alpha\,\mathbb{E}[\Delta^- - z\Sigma\Delta^-]$ describes the clip policy
# everywhere.

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
def closed_form(t, a):
    """ILS's fixed point on the Bernoulli quadratic, p* = c / (a'/(1+a') + c), a' = 2a(1-t), c = 2at/(1+2at)."""
    ca, cc = 2 * a * (1 - t), 2 * a * t / (1 + 2 * a * t)
    return cc / (ca / (1 + ca) + cc)


for a in (0.01, 0.1, 1.0):
    claims.check(f"ILS alpha={a:g} ends at p = {paths[f'ILS alpha={a:g}'][-1]:.4f}, the closed form "
                 f"{closed_form(t, a):.4f}: near t, not at the minimiser p = 0 "
                 f"(E f = {exact_objective(problem, np.zeros(2) + [0, -50]):.4f} there against "
                 f"{exact_objective(problem, np.array([0.0, np.log(t / (1 - t))])):.4f} at p = t)",
                 abs(paths[f"ILS alpha={a:g}"][-1] - closed_form(t, a)) < (size.closed_form_tolerance if a == 0.01 else 1e-4))
claims.check(f"straight-through ends at p = {paths['straight-through'][-1]:.4f} = t",
             abs(paths["straight-through"][-1] - t) < 1e-6)
claims.check(f"the exact gradient and REINFORCE-LOO head for p = 0 (p = {paths['exact gradient of E f'][-1]:.4f} and "
             f"{paths['REINFORCE-LOO (sampled, 4 draws/step)'][-1]:.4f} after {steps} steps)",
             paths["exact gradient of E f"][-1] < 0.05 and paths["REINFORCE-LOO (sampled, 4 draws/step)"][-1] < 0.05)

# %% [markdown]
# How near is "near $t$"? Expanding the closed form in $\alpha$ gives
# $p^* = t\,\bigl(1 + 2\alpha(1-t)(1-2t)\bigr) + O(\alpha^2)$, and $p^* \to 1/2$ as
# $\alpha \to \infty$: the fixed point moves from $t$ towards $1/2$ as $\alpha$ grows. Near
# $t = 1/2$ that is never far (at $t = 0.45$, $p^*$ stays within 10% of $t$ up to $\alpha \approx 9$);
# for a small $t$ it is: at $t = 0.1$, $p^*$ is within 10% of $t$ only for $\alpha \lesssim 0.07$
# (the expansion's $0.05/((1-t)(1-2t))$, printed as "first order"), and $\alpha = 1$ gives
# $p^* \approx 2t$. The closed form is checked against the followed expectation (`fixed_points`)
# at $t = 0.1$.

# %%
grid = np.geomspace(1e-3, 10.0, 401)
within = {}  # t -> the largest alpha of the grid with |p* - t| <= 10% of t
for t_ in (0.45, 0.1):
    close = np.abs(closed_form(t_, grid) - t_) <= 0.1 * t_
    within[t_] = grid[np.argmin(close) - 1] if not close.all() else grid[-1]
    print(f"  t = {t_}: p* = " + ", ".join(f"{closed_form(t_, a):.3f} (alpha {a:g})" for a in (0.01, 0.1, 1.0, 5.0))
          + f"; within 10% of t for alpha <= {within[t_]:.3g} (first order: {0.05 / ((1 - t_) * (1 - 2 * t_)):.3g})")
followed = {a: fixed_points(bernoulli_quadratic(0.1), a, estimators=("ils",))["estimators"][0]["p"][0] for a in (1.0, 5.0)}
print("  t = 0.1, followed to the end: " + ", ".join(f"p = {p_:.4f} at alpha {a:g}" for a, p_ in followed.items()))

# %%
claims.check(f"p ~ t needs a small alpha: within 10% of t for alpha <= {within[0.45]:.2g} at t = 0.45, but only for "
             f"alpha <= {within[0.1]:.2g} at t = 0.1, where alpha = 1 gives p* = {followed[1.0]:.3f} and alpha = 5 "
             f"{followed[5.0]:.3f}",
             0.05 < within[0.1] < 0.1 and within[0.45] > 1 and abs(followed[1.0] - closed_form(0.1, 1.0)) < 1e-6
             and abs(followed[5.0] - closed_form(0.1, 5.0)) < 1e-6)

# %% [markdown]
# ## 4. When do ILS's stationary points coincide with the objective's?
#
# ILS (like straight-through) only sees $\partial f/\partial z$ at the drawn vertex: a linear
# model of $f$ around the draw. Its fixed point is where those linear models balance. That is
# not a stationary point of the objective $\mathbb{E}_{z\sim\pi} f(z)$, and in general not one
# of the **relaxed** objective $f(\pi)$ — $f$ evaluated at the mean — either. Two cases are
# exact. If $f$ is linear on the simplex ($f(\pi) = \mathbb{E}f$, every vertex gradient the
# same), ILS heads to the same vertex as the exact gradient. If $K = 2$ and $\partial f/\partial z$
# is affine in $z$ (any quadratic), ILS's first-order fixed point *is* a stationary point of the
# relaxed objective: with $d(z) = \partial f/\partial z_1 - \partial f/\partial z_0$ the two draws
# give $c(e_0) = d(e_0)\,(-1, 1)$ and $c(e_1) = d(e_1)\,(-1, 1)$ (signed), so
# $\mathbb{E}[c] = \mathbb{E}[d(z)]\,(-1, 1)$, while the relaxed gradient
# $\mathrm{softmax\_backward}(\partial f/\partial z(\pi), \pi)$ vanishes where $d(\pi) = 0$; for an
# affine $d$, $\mathbb{E}[d(z)] = d(\pi)$. Under clip the same holds where no draw clips,
# $d(e_0) \le 0 \le d(e_1)$, which a convex quadratic with an interior minimiser guarantees. On
# the Bernoulli quadratic this is $p \to t$ as $\alpha \to 0$: $(p - t)^2$ is smallest at
# $p = t$, $\mathbb{E}f$ at $p = 0$.
#
# For $K > 2$, $\mathbb{E}[c]$ weighs each vertex's gradient differences by that vertex's
# probability, which no gradient at the single point $\pi$ reproduces. Measured on convex
# quadratics (`convex_quadratic`: $f(z) = \tfrac12 (z - t)^\top A (z - t)$ up to a constant,
# $A = MM^\top/K$, $t$ a random interior point, 6 rows, seeded), whose relaxed minimiser is $t$:
# scipy's BFGS on $f(\mathrm{softmax}(\theta))$ from $\theta = 0$ finds it (a check of the
# relaxed side), and ILS's first-order fixed point comes from following
# $\mathbb{E}[c_{\text{clip}}]$ (`ils_expected_first_order`, learning rate 1 per unit of $\alpha$,
# until no probability moves by $10^{-12}$), confirmed by following ILS's exact expectation at
# $\alpha = 0.01$ with learning rate $1/\alpha$.

# %%
def relaxed_against_ils(cq):
    """BFGS's relaxed minimiser, ILS's first-order fixed point (clip) and its fixed point at alpha = 0.01, compared."""
    start = np.zeros(cq.logits.shape)
    found = minimize(lambda x: relaxed_objective(cq, x.reshape(start.shape)), start.ravel(), method="BFGS",
                     jac=lambda x: relaxed_gradient(cq, x.reshape(start.shape)).ravel(), options={"gtol": 1e-10})
    relaxed_p = softmax(found.x.reshape(start.shape))
    theta, _, converged = follow(lambda th: ils_expected_first_order(cq, th), start, lr=1.0, max_steps=5000, tol=1e-12)
    fixed_p = softmax(theta)
    at_small_alpha = softmax(follow(lambda th: ils_expected_gradient(cq, 0.01, th), start, lr=100.0,
                                    max_steps=5000, tol=1e-12)[0])
    return {"bfgs_vs_t": np.abs(relaxed_p - cq.target).max(), "converged": converged,
            "distance": np.abs(fixed_p - relaxed_p).max(axis=-1), "alpha_0.01": np.abs(at_small_alpha - fixed_p).max(),
            "f_ils": cq.f(fixed_p), "f_relaxed": cq.f(relaxed_p)}


relaxed_vs_ils = {k: relaxed_against_ils(convex_quadratic(seed=0, rows=6, categories=k)) for k in (2, 4)}
for k, m in relaxed_vs_ils.items():
    print(f"  K = {k}: BFGS ends {m['bfgs_vs_t']:.1e} from t; ILS's first-order fixed point (converged: {m['converged']}) "
          f"lies {np.round(m['distance'], 3)} from it (max |p - t| per row); at alpha = 0.01 ILS ends "
          f"{m['alpha_0.01']:.4f} from the first-order point")
    print(f"         relaxed objective per row at ILS's point {np.round(m['f_ils'], 3)}, at t {np.round(m['f_relaxed'], 3)} "
          f"(totals {m['f_ils'].sum():.3f} and {m['f_relaxed'].sum():.3f})")

# %%
two, four = relaxed_vs_ils[2], relaxed_vs_ils[4]
claims.check(f"the relaxed minimiser found by BFGS is t (within {max(two['bfgs_vs_t'], four['bfgs_vs_t']):.0e})",
             max(two["bfgs_vs_t"], four["bfgs_vs_t"]) < 1e-6)
claims.check(f"K = 2 quadratics: ILS's first-order fixed point is the relaxed stationary point "
             f"(max distance {two['distance'].max():.0e})", two["converged"] and two["distance"].max() < 1e-6)
claims.check(f"K = 4 quadratics: ILS's first-order fixed point lies {four['distance'].min():.2f} to "
             f"{four['distance'].max():.2f} (in probability) from the relaxed stationary point, with a higher relaxed "
             f"objective in every row (total {four['f_ils'].sum():.3f} against {four['f_relaxed'].sum():.3f}); at "
             f"alpha = 0.01 the exact expectation ends {four['alpha_0.01']:.3f} from the first-order point",
             four["converged"] and four["distance"].min() > 0.05 and np.all(four["f_ils"] > four["f_relaxed"])
             and four["alpha_0.01"] < 0.2 * four["distance"].min())

# %% [markdown]
# Toy experiment 1 hides the difference. Its loss is the cross-entropy
# $f(z) = -\sum_k \pi^{true}_k \log(z_k + \varepsilon)$ (over $NK$), whose relaxed minimiser
# over the simplex is $\pi = \pi^{true}$ — exactly what the post wanted — while
# $\mathbb{E}f$, the objective the post wrote down, is minimised by the one-hot on each row's
# mode (tutorial 02). ILS ends near the relaxed minimiser (not at it: $K = 5$ and the loss is
# not quadratic), far from the minimiser of $\mathbb{E}f$, which therefore *looks* like success
# on the post's metric.

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
