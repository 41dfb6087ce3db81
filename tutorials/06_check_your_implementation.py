# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 06 — Check your implementation against the reference vectors
#
# You wrote ILS (or Gumbel-softmax) in PyTorch, JAX or TensorFlow and want to know whether
# its gradient is right, without reading this package. The reference vectors fix
# everything random (the drawn category `index`, or the uniform noise `u`), so any
# framework can replay the same cases:
#
# ```bash
# ils-ref check mypkg.ils:backward          # fn(logits, index, dz, alpha) -> dlogits
# ils-ref check mypkg.g:fn --op gumbel_softmax
# ```
#
# or from Python, `ils_ref.checking.conformance.check(fn, op=...)`. Below, three implementations
# written here in plain NumPy — one correct, two with classic mistakes — and, if PyTorch is
# installed, a `torch.autograd.Function` and torch's Gumbel-softmax construction.

# %%
import numpy as np

from ils_ref.checking.conformance import check, load_vectors
from ils_ref.tutorial import Claims

claims = Claims()


# %% [markdown]
# ## Three outside implementations
#
# Each takes `(logits, index, dz, alpha)` as NumPy arrays and returns the logit gradient.
# They share the forward quantities: $\pi = \mathrm{softmax}(\theta)$, the one-hot $z$,
# $\Delta = g - g_k$, and the clipped $z - \alpha\Delta$ normalised to $\pi_D$.
#
# Two lines are easy to forget, and the vectors have cases for both. A category masked by a
# logit of $-\infty$ has probability 0 and must keep it: $z - \alpha\Delta$ is set to 0 there
# before $h$ normalises it (otherwise a negative $\Delta$ gives it mass). And `alpha` may be one
# number, or one step per row (shape `B`), so it gets a trailing axis before it meets `(B, K)`.

# %%
def _target(logits, index, dz, alpha, clip=True):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    probs = shifted / shifted.sum(-1, keepdims=True)
    z = np.eye(logits.shape[-1])[index]
    g_k = np.take_along_axis(dz, index[..., None], -1)
    w = z - np.asarray(alpha)[..., None] * (dz - g_k)  # one alpha, or one per row
    w = np.where(np.isneginf(logits), 0.0, w)  # a masked category stays at probability 0
    if clip:
        w = np.maximum(w, 0.0)
    return probs, w / w.sum(-1, keepdims=True)


def correct(logits, index, dz, alpha):
    probs, pi_d = _target(logits, index, dz, alpha)
    return probs - pi_d  # dKL(pi_D || softmax(theta)) / dtheta


def prototype_mixup(logits, index, dz, alpha):
    probs, pi_d = _target(logits, index, dz, alpha)
    return -pi_d / (probs + 1e-7)  # dKL/dpi returned as if it were dKL/dtheta


def ignores_alpha(logits, index, dz, alpha):
    return correct(logits, index, dz, 0.1)  # a hard-coded step size


# %% [markdown]
# ## Their reports
#
# A failing report lists the worst cases: the case id, the largest absolute and relative
# error, the tolerance, and the case's note (which setting it is, and, for the policy being
# checked, what it does where $z - \alpha\Delta$ has negative entries).

# %%
verdicts = {}
for fn in (correct, prototype_mixup, ignores_alpha):
    report = check(fn, op="ils_backward")
    print(f"--- {fn.__name__}")
    print(report)
    verdicts[fn.__name__] = report
n = len(verdicts["correct"].results)
passed = {r.id for r in verdicts["ignores_alpha"].results if r.ok}
at_01 = {c["id"] for c in load_vectors()["cases"] if c["op"] == "ils_backward" and c["inputs"]["alpha"] == 0.1}
print(f"ignores_alpha passes {len(passed)} cases; {len(at_01)} cases have alpha = 0.1")

# %%
claims.check(f"the correct implementation passes all {n} cases", verdicts["correct"].ok)
claims.check(f"the probabilities/logits mix-up fails {verdicts['prototype_mixup'].n_failed} of {n} cases",
             verdicts["prototype_mixup"].n_failed == n)
claims.check(f"ignoring alpha fails {n - len(passed)} cases and passes exactly the {len(at_01)} with alpha = 0.1",
             passed == at_01)


# %% [markdown]
# ## A subtler difference: the clip policy
#
# The post's prototype normalised $z - \alpha\Delta$ without clipping. Where that vector has
# negative entries the two conventions differ, and the report says so in each case's note.
# An unclipped implementation fails exactly those cases and passes the others, which tells
# you the difference is a convention, not a bug elsewhere.

# %%
def unclipped(logits, index, dz, alpha):
    with np.errstate(all="ignore"):  # where the unclipped sum is 0 this divides by it
        probs, pi_d = _target(logits, index, dz, alpha, clip=False)
    return probs - pi_d


report = check(unclipped, op="ils_backward")
failed = {r.id for r in report.results if not r.ok}
noted = {r.id for r in report.results if "clipped at 0" in r.note}
print(f"unclipped: {len(failed)} cases fail; {len(noted)} cases are noted as depending on the clip policy")

# %%
claims.check("the unclipped implementation fails exactly the cases noted as clip-dependent", failed == noted)


# %% [markdown]
# ## PyTorch
#
# A custom `torch.autograd.Function` whose backward is Algorithm 1, checked through torch's
# own autograd (`z.backward(dz)` then `logits.grad`); and torch's Gumbel-softmax
# construction (`softmax((logits + G)/T)`, with the straight-through trick for `hard`),
# with the noise `G` built from the vectors' `u` so the draws match.

# %%
def torch_section(claims):
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipping this section (pip install torch==2.13.0 to run it)")
        return

    class ILS(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, index, alpha):
            probs = torch.softmax(logits, dim=-1)
            z = torch.nn.functional.one_hot(index, logits.shape[-1]).to(logits.dtype)
            ctx.save_for_backward(probs, z, index, torch.isneginf(logits))
            ctx.alpha = alpha
            return z

        @staticmethod
        def backward(ctx, dz):
            probs, z, index, masked = ctx.saved_tensors
            g_k = dz.gather(-1, index[..., None])
            w = z - ctx.alpha * (dz - g_k)
            w = torch.clamp(torch.where(masked, 0.0, w), min=0.0)  # masked categories stay at 0
            return probs - w / w.sum(-1, keepdim=True), None, None

    def torch_ils(logits, index, dz, alpha):
        theta = torch.tensor(logits, requires_grad=True)
        step = torch.as_tensor(np.asarray(alpha, dtype=np.float64))[..., None]  # one alpha, or one per row
        ILS.apply(theta, torch.tensor(index), step).backward(torch.tensor(dz))
        return theta.grad

    def torch_gumbel(logits, u, temperature, hard, dy):
        theta = torch.tensor(logits, requires_grad=True)
        gumbel = -torch.log(-torch.log(torch.tensor(u)))
        y_soft = torch.softmax((theta + gumbel) / temperature, dim=-1)
        if hard:  # straight-through, as torch.nn.functional.gumbel_softmax does it
            y_hard = torch.nn.functional.one_hot(y_soft.argmax(-1), y_soft.shape[-1]).to(y_soft.dtype)
            y = y_hard - y_soft.detach() + y_soft
        else:
            y = y_soft
        y.backward(torch.tensor(dy))
        return y.detach(), theta.grad

    ils_report = check(torch_ils, op="ils_backward")
    gumbel_report = check(torch_gumbel, op="gumbel_softmax")
    print(ils_report)
    print(gumbel_report)
    claims.check(f"the torch autograd.Function ILS passes all {len(ils_report.results)} cases", ils_report.ok)
    claims.check(f"torch's Gumbel-softmax construction passes all {len(gumbel_report.results)} cases", gumbel_report.ok)


torch_section(claims)

# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
