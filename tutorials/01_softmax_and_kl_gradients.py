# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 — Softmax and KL gradients, derived and checked
#
# Every estimator in this project ends in the same two backward passes: through the
# softmax, and through a KL divergence. This tutorial derives both, checks them against
# finite differences with `ils_ref.check_vjp`, and then shows what the checker reports
# when a backward pass is wrong.
#
# Run it with `python tutorials/01_softmax_and_kl_gradients.py` (add `--quick` for the
# small version the test suite runs).

# %%
import numpy as np

from ils_ref import check_vjp, kl_divergence, kl_divergence_backward, softmax, softmax_backward
from ils_ref.ops.softmax import softmax_backward_kernel
from ils_ref.tutorial import Claims, show_source, sizes

rng = np.random.default_rng(0)
claims = Claims()

# %%
size = sizes(categories=(6, 12))
k = size.categories


# %% [markdown]
# ## The softmax backward pass
#
# With $y = \mathrm{softmax}(x)$, $\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)$.
# A backward pass never forms this $K \times K$ Jacobian; it contracts it with the
# upstream gradient $dy$:
#
# $$dx_j = \sum_i dy_i\, y_i (\delta_{ij} - y_j) = y_j \Bigl(dy_j - \sum_i dy_i y_i\Bigr).$$
#
# The subtracted term $\langle dy, y\rangle$ is the *centring term*: it makes every row of
# $dx$ sum to zero, because adding a constant to all logits changes nothing. In the library
# the formula is one line (`softmax_backward` checks its arguments, then runs this):

# %%
show_source(softmax_backward_kernel)

# %% [markdown]
# Checked entry by entry against central differences of `softmax` itself:

# %%
x = rng.normal(size=(4, k))
report = check_vjp(softmax, lambda x, dy: softmax_backward(dy, softmax(x)), x, full=True)
print(report)
dx = softmax_backward(rng.normal(size=x.shape), softmax(x))

# %%
claims.check(
    f"softmax_backward agrees with central differences in every one of {report.n_entries} Jacobian "
    f"entries (max relative error {report.max_rel_error:.1e})",
    report.ok,
)
claims.check(f"logit-gradient rows sum to zero (largest |row sum| {np.abs(dx.sum(-1)).max():.1e})",
             np.abs(dx.sum(-1)).max() < 1e-14)


# %% [markdown]
# ## The KL backward pass
#
# $\mathrm{KL}(p\,\|\,q) = \sum_k p_k \log(p_k/q_k)$ with $0 \log 0 = 0$. Its partial
# derivatives are
#
# $$\frac{\partial\,\mathrm{KL}}{\partial p_k} = \log\frac{p_k}{q_k} + 1, \qquad
#   \frac{\partial\,\mathrm{KL}}{\partial q_k} = -\frac{p_k}{q_k}.$$
#
# ILS uses $\mathrm{KL}(\pi_D\,\|\,\pi)$ with the target $\pi_D$ fixed, so it needs the
# second one; chained through the softmax it becomes $\pi\sum_k\pi_{D,k} - \pi_D$, which is
# $\pi - \pi_D$ when $\pi_D$ sums to one. The two partial derivatives, as
# `kl_divergence_backward` computes them where $p_k, q_k > 0$ (on the boundary it returns the
# one-sided limits its docstring tabulates):

# %%
show_source(kl_divergence_backward, start="dlocal_p =", stop="dlocal_q =")

# %%
p = softmax(rng.normal(size=(3, k)))
q = softmax(rng.normal(size=(3, k)))
report = check_vjp(lambda q: kl_divergence(p, q), lambda q, d: kl_divergence_backward(d, p, q)[1], q, full=True)
print(report)
theta = rng.normal(size=(3, k))
pi = softmax(theta)
chained = softmax_backward(kl_divergence_backward(np.ones(3), p, pi)[1], pi)
gap = np.abs(chained - (pi - p)).max()
print(f"max |softmax_backward(dKL/dq at q = pi) - (pi - p)| = {gap:.1e}")

# %%
claims.check(f"dKL/dq agrees with central differences (max relative error {report.max_rel_error:.1e})", report.ok)
claims.check(f"through the softmax, dKL(p||softmax(theta))/dtheta = pi - p (max difference {gap:.1e})",
             gap < 1e-14)


# %% [markdown]
# ## When a backward pass is wrong
#
# Drop the centring term and the backward becomes $dx = y \odot dy$: its Jacobian is
# $\mathrm{diag}(y)$ instead of $\mathrm{diag}(y) - y y^\top$. The default check screens
# with a few random projections (a constant number of calls, whatever the size of $x$);
# when they disagree it compares every Jacobian entry, re-checks each failing one at other
# steps (an error that does not move with the step is in the gradient, not in the finite
# differences), and lists the wrong entries by their (output, input) multi-index, largest
# error first. Off the diagonal the broken backward returns exactly 0 where the truth is
# $-y_i y_j$ (error $y_i y_j$); on the diagonal it returns $y_i$ where the truth is
# $y_i(1-y_i)$ (error $y_i^2$). So the list is led by the diagonal entry of the largest
# probability, with error $\max_i y_i^2$.


# %%
x = rng.normal(size=(2, k))
report = check_vjp(softmax, lambda x, dy: softmax(x) * dy, x)
print(report)
y = softmax(x)
worst = report.worst[0]
top = np.unravel_index(np.argmax(y), y.shape)  # the largest probability
print(f"largest probability y = {y[top]:.4f} at {tuple(int(t) for t in top)}: y^2 = {y[top] ** 2:.6f}")

# %%
(row, i), (row_in, j) = worst.output_index, worst.input_index
claims.check(f"the broken backward fails: verdict {report.verdict!r}, {report.n_failed} entries wrong",
             report.verdict == "fail")
claims.check(
    f"its worst entry {worst.output_index} x {worst.input_index} is the diagonal entry of the largest "
    f"probability (y = {y[top]:.3f}), with error {worst.abs_error:.6f} = y^2 = {y[top] ** 2:.6f}",
    (row, i) == (row_in, j) == tuple(int(t) for t in top) and np.isclose(worst.abs_error, y[top] ** 2, rtol=1e-6),
)
within = sum(r.size ** 2 for r in y)
off_block = report.n_entries - within  # entries coupling different rows: zero both ways
claims.check(f"exactly the {report.n_failed} within-row entries fail; the {off_block} cross-row zeros agree",
             report.n_failed == within and report.n_entries == y.size ** 2)


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
