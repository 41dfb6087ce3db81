"""The v3 estimator ops' reference vectors against independent PyTorch implementations (skipped without torch).

Each op is written here the way a PyTorch user would write it, in float64,
from the estimator's definition alone: the chain rule through softmax,
sigmoid and the KL divergence is left to ``torch.autograd.grad``, and nothing
of ``ils_ref``'s own estimators is imported.  Every implementation must pass
every case of its op's vectors; each op also has one planted mistake (a
variant a user could plausibly write by accident) that must fail at least one
case, so the vectors are shown to tell the right estimator from a near miss.
"""

import numpy as np
import pytest

from ils_ref.checking.conformance import check

torch = pytest.importorskip("torch")

F64 = torch.float64


def tensor(x):
    """A NumPy array (any layout, 0-d included) or a Python float as a float64 tensor."""
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def indices(index):
    return torch.as_tensor(np.asarray(index, dtype=np.int64))


def one_hot(index, k):
    return torch.nn.functional.one_hot(index, k).to(F64)


def per_row(alpha):
    """``alpha`` as a Python float, or one per row (shape B) broadcast over the categories."""
    return alpha if np.ndim(alpha) == 0 else tensor(alpha)[..., None]


def softmax_vjp(theta, g):
    """``J^T g`` of ``softmax`` at the logits ``theta``, by autograd."""
    theta = theta.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.softmax(theta, dim=-1), theta, grad_outputs=g)
    return grad


def softmax_vjp_at(p, g):
    """``J_p^T g`` for a probability vector ``p`` (all entries > 0): softmax's VJP at the logits ``log p``."""
    return softmax_vjp(torch.log(p), g)


# ---------------------------------------------------------------------------------------------------- straight-through


def straight_through(logits, index, dz, *, at_pi_1=False):
    """The straight-through estimator: the gradient at the one-hot draw handed to ``pi = softmax(logits)``."""
    theta = tensor(logits).requires_grad_(True)
    pi = torch.softmax(theta, dim=-1)
    if at_pi_1:  # planted mistake: the VJP taken at ReinMax's pi_1 = (z + pi)/2 instead of at pi
        z = one_hot(indices(index), pi.shape[-1])
        return softmax_vjp_at(((z + pi) / 2).detach(), tensor(dz))
    (grad,) = torch.autograd.grad(pi, theta, grad_outputs=tensor(dz))
    return grad


# ------------------------------------------------------------------------------------------------------------- ReinMax


def reinmax(logits, index, dz, temperature, *, swapped=False):
    """ReinMax (Liu et al. 2023): ``2 J_{pi_1}^T dz - J_pi^T dz / 2``, ``pi_1 = (z + softmax(logits/T))/2``."""
    theta, g = tensor(logits), tensor(dz)
    z = one_hot(indices(index), theta.shape[-1])
    pi_1 = (z + torch.softmax(theta / temperature, dim=-1)) / 2
    first, second = (0.5, 2.0) if swapped else (2.0, 0.5)  # planted mistake: the 2 and the 1/2 swapped
    return first * softmax_vjp_at(pi_1, g) - second * softmax_vjp(theta, g)


# ---------------------------------------------------------------------------------------------------------- Gumbel-Rao


def conditional_gumbels(logits, u, k):
    """Perturbed logits ``logits + G`` with ``G`` Gumbel noise conditioned on ``argmax(logits + G) = k``."""
    e = -torch.log1p(-u)  # Exp(1) noise, one row per sample
    log_e = torch.log(e)
    top = torch.logsumexp(logits, dim=-1, keepdim=True) - log_e.gather(-1, k.expand(*u.shape[:-1], 1))
    rest = -torch.logaddexp(-top, log_e - logits)
    is_k = torch.nn.functional.one_hot(k[..., 0], logits.shape[-1]).bool()
    return torch.where(is_k, top, rest)


def gumbel_rao(logits, u, temperature, dz, *, first_only=False):
    """Gumbel-Rao (Paulus et al. 2021): the straight-through Gumbel-softmax gradient averaged over the noise given z."""
    theta, u, g = tensor(logits), tensor(u), tensor(dz)
    k = torch.argmax(theta - torch.log(-torch.log(u[0])), dim=-1, keepdim=True)
    z = one_hot(k[..., 0], theta.shape[-1])
    with torch.no_grad():
        gumbels = conditional_gumbels(theta, u[1:2] if first_only else u[1:], k) - theta  # planted: one sample
    theta = theta.requires_grad_(True)
    y = torch.softmax((theta + gumbels) / temperature, dim=-1)  # (M - 1, B..., K)
    (grad,) = torch.autograd.grad((g * y).sum(-1).mean(0).sum(), theta)
    return z, grad


# -------------------------------------------------------------------------------------------------------- ILS variants


def bernoulli_ils(logits, b, db, alpha, *, clip=True):
    """ILS for one bit: categorical ILS at K = 2 (categories ``b = 0``, ``b = 1``), clip policy, KL step by autograd."""
    b, db = tensor(b), tensor(db)
    alpha = alpha if np.ndim(alpha) == 0 else tensor(alpha)
    w0 = (1 - b) - alpha * (-b * db)  # z - alpha*Delta, Delta = dz - dz[index]
    w1 = b - alpha * ((1 - b) * db)
    if clip:  # planted mistake when False: the negative weights kept
        w0, w1 = w0.clamp(min=0.0), w1.clamp(min=0.0)
    p_d = w1 / (w0 + w1)
    theta = tensor(logits).requires_grad_(True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(theta, p_d, reduction="sum")  # KL(p_D || p) + const
    (grad,) = torch.autograd.grad(loss, theta)
    return grad


def gaussian_ils(mu, sigma, eps, dz, alpha, *, flipped=False):
    """ILS for a Gaussian: the gradient in ``mu`` of ``KL(N(z - alpha*dz, sigma^2) || N(mu, sigma^2))``."""
    mu, sigma = tensor(mu).requires_grad_(True), tensor(sigma)
    alpha = alpha if np.ndim(alpha) == 0 else tensor(alpha)
    z = (mu + sigma * tensor(eps)).detach()
    m_d = z + alpha * tensor(dz) if flipped else z - alpha * tensor(dz)  # planted mistake: a step up the loss
    normal = torch.distributions.Normal
    kl = torch.distributions.kl_divergence(normal(m_d, sigma), normal(mu, sigma)).sum()
    (grad,) = torch.autograd.grad(kl, mu)
    return grad


def ils_squared_error(logits, index, dz, alpha, *, kl_gradient=False):
    """ILS with ``L_I = ||pi - pi_D||^2 / 2``; ``pi_D = h(clip(z - alpha*Delta))`` held fixed."""
    index, g = indices(index), tensor(dz)
    theta = tensor(logits).requires_grad_(True)
    pi = torch.softmax(theta, dim=-1)
    z = one_hot(index, pi.shape[-1])
    w = torch.clamp(z - per_row(alpha) * (g - g.gather(-1, index[..., None])), min=0.0)
    pi_d = (w / w.sum(-1, keepdim=True)).detach()
    if kl_gradient:  # planted mistake: the KL intermediate loss's gradient, pi - pi_D
        loss = -(pi_d * torch.log_softmax(theta, dim=-1)).sum()
    else:
        loss = 0.5 * ((pi - pi_d) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, theta)
    return grad


# --------------------------------------------------------------------------------------------------------------- tests


IMPLEMENTATIONS = {
    "reinmax": (reinmax, dict(swapped=True)),
    "gumbel_rao": (gumbel_rao, dict(first_only=True)),
    "straight_through": (straight_through, dict(at_pi_1=True)),
    "bernoulli_ils": (bernoulli_ils, dict(clip=False)),
    "gaussian_ils": (gaussian_ils, dict(flipped=True)),
    "ils_backward_squared_error": (ils_squared_error, dict(kl_gradient=True)),
}


@pytest.mark.parametrize("op", list(IMPLEMENTATIONS))
def test_an_independent_torch_implementation_passes_every_case(op):
    fn, _ = IMPLEMENTATIONS[op]
    report = check(fn, op=op)
    assert report.ok and all(r.dtype == "float64" for r in report.results), str(report)


@pytest.mark.parametrize("op", list(IMPLEMENTATIONS))
def test_a_planted_mistake_fails_a_case(op):
    fn, mistake = IMPLEMENTATIONS[op]
    report = check(lambda *args: fn(*args, **mistake), op=op)
    assert report.results and not all(r.error for r in report.results), str(report)  # it ran, and ...
    assert not report.ok, f"the planted mistake {mistake} passes every case of {op}:\n{report}"
