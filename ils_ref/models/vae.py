r"""A categorical VAE small enough that its ELBO and the ELBO's gradient are exact.

The model, for an image ``x`` of ``D`` binary pixels and ``L`` categorical
latents ``z = (z_1, …, z_L)``, each one-hot over ``K`` categories:

* **encoder** ``q(z | x) = Π_l softmax(θ_l)``, logits ``θ = MLP_enc(x)`` of
  shape ``(L, K)``: ``x → tanh(x W_1 + b_1) → · W_2 + b_2``;
* **prior** ``p(z)`` uniform over the ``K^L`` configurations;
* **decoder** ``p(x | z) = Π_d Bernoulli(σ(o_d))``, ``o = MLP_dec(z)``
  with ``z`` flattened to ``L·K`` inputs: ``z → tanh(z V_1 + c_1) → · V_2 + c_2``.

The loss per image is the negative ELBO,

.. math::

    -\mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z|x)}\bigl[-\log p(x|z)\bigr]}_{\text{reconstruction } R(x)}
      + \underbrace{\sum_l \mathrm{KL}\bigl(q(z_l|x)\,\|\,\mathrm{U}_K\bigr)}_{=\ \sum_l \sum_k \pi_{lk}\log \pi_{lk} + L\log K},

averaged over a batch.  The KL term is a closed form; the reconstruction is
an expectation over ``K^L`` configurations, which is what gradient
estimators approximate with draws.  Here ``K^L`` is small (``6³ = 216`` by default),
so :func:`exact_negative_elbo` enumerates them: the decoder runs once on
every configuration (shared by the whole batch, because the decoder does not
see ``x``), and with ``F_{bc} = -\log p(x_b | c)`` and
``q_{bc} = Π_l π_{b,l,c_l}``,

.. math::

    R(x_b) = \sum_c q_{bc} F_{bc}, \qquad
    \frac{\partial R(x_b)}{\partial \theta_{blk}} = \pi_{blk}\,
      \bigl(\mathbb{E}_q[F_b \mid c_l = k] - R(x_b)\bigr), \qquad
    \frac{\partial R(x_b)}{\partial o_c} = q_{bc}\,(\sigma(o_c) - x_b),

the first because ``∂ log q_{bc} / ∂θ_{blk} = [c_l = k] - π_{blk}``.

:class:`LatentProblem` wraps the decoder's loss as a *problem* of
:mod:`ils_ref.estimators.interface` (rows are ``(image, latent)`` pairs), so
every estimator of the package trains this model unchanged.

Parameters of ``S`` independent models (one per seed) are held together,
every array with a leading axis of length ``S``; a batch of images for them
has shape ``(S, B, D)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ops.softmax import log_softmax_kernel, softmax_kernel
from ..validation import checked
from .mlp import (
    bernoulli_nll,
    bernoulli_nll_backward,
    linear_backward,
    linear_forward,
    sigmoid_kernel,
    tanh_backward,
    tanh_forward,
)


@dataclass(frozen=True)
class CategoricalVAE:
    """The sizes of the model: ``pixels`` ``D``, ``latents`` ``L``, ``categories`` ``K``, ``hidden`` units."""

    pixels: int = 256
    latents: int = 3
    categories: int = 6
    hidden: int = 64

    def __post_init__(self):
        for name in ("pixels", "latents", "categories", "hidden"):
            checked(**{name: ("int", getattr(self, name), 2 if name == "categories" else 1)})
        if self.categories**self.latents > 4096:
            raise ValueError(f"categories**latents = {self.categories**self.latents} configurations; at most 4096 "
                             f"are enumerated exactly")

    @property
    def width(self) -> int:
        """``L·K``: the decoder's input size (the one-hot latents side by side)."""
        return self.latents * self.categories

    @property
    def num_configurations(self) -> int:
        """``K^L``: how many latent configurations the exact ELBO enumerates."""
        return self.categories**self.latents

    def shapes(self) -> dict:
        """Every parameter's shape, for one model."""
        d, h, w = self.pixels, self.hidden, self.width
        return {"enc_w1": (d, h), "enc_b1": (h,), "enc_w2": (h, w), "enc_b2": (w,),
                "dec_w1": (w, h), "dec_b1": (h,), "dec_w2": (h, d), "dec_b2": (d,)}

    def init(self, seeds) -> dict:
        """Parameters of ``len(seeds)`` models, model ``s`` from ``numpy.random.default_rng([seed_s, 0])``.

        Weights ``N(0, 1/fan_in)``, biases 0; each model depends on its own
        seed only, so a run with more seeds keeps the others' models.
        """
        seeds = [checked(seed=("int", s, 0)) for s in np.atleast_1d(seeds).tolist()]
        per_seed = []
        for seed in seeds:
            rng = np.random.default_rng([seed, 0])
            per_seed.append({k: rng.normal(size=s) / math.sqrt(s[0]) if len(s) == 2 else np.zeros(s)
                             for k, s in self.shapes().items()})
        return {k: np.stack([p[k] for p in per_seed]) for k in self.shapes()}

    def check(self, params: dict, x=None):
        """``params`` (every key, shapes ``(S, *shape)``) and images ``x`` ``(S, B, D)`` or ``(B, D)`` in [0, 1].

        Returns ``x`` as ``(S, B, D)`` float64 (``None`` if not given).
        """
        if not isinstance(params, dict) or set(params) != set(self.shapes()):
            raise TypeError(f"params must be a dict with keys {sorted(self.shapes())}, "
                            f"got {sorted(params) if isinstance(params, dict) else type(params).__name__}")
        seeds = None
        for k, shape in self.shapes().items():
            value = checked(**{f"params[{k!r}]": ("real", params[k])})
            if value.shape[1:] != shape or (seeds is not None and value.shape[0] != seeds):
                raise ValueError(f"params[{k!r}] has shape {value.shape}, expected (S,) + {shape} with one S for all")
            seeds = value.shape[0]
        if x is None:
            return None
        x = checked(x=("unit_interval", x))
        if x.ndim == 2:
            x = np.broadcast_to(x, (seeds,) + x.shape)
        if x.ndim != 3 or x.shape[0] != seeds or x.shape[2] != self.pixels:
            raise ValueError(f"x has shape {x.shape}; expected (B, {self.pixels}) or ({seeds}, B, {self.pixels})")
        return x

    # ---------------------------------------------------------------- encoder
    def encode(self, params: dict, x: np.ndarray):
        """Logits ``θ = MLP_enc(x)``: ``(S, B, D) → (S, B, L, K)``, and a cache for :meth:`encode_backward`."""
        h = tanh_forward(linear_forward(x, params["enc_w1"], params["enc_b1"]))
        logits = linear_forward(h, params["enc_w2"], params["enc_b2"])
        return logits.reshape(logits.shape[:-1] + (self.latents, self.categories)), (params, x, h)

    def encode_backward(self, dlogits: np.ndarray, cache) -> dict:
        """VJP of :meth:`encode`: the encoder's parameter gradients from ``dlogits`` ``(S, B, L, K)``."""
        params, x, h = cache
        dh, dw2, db2 = linear_backward(dlogits.reshape(dlogits.shape[:-2] + (self.width,)), h, params["enc_w2"])
        _, dw1, db1 = linear_backward(tanh_backward(dh, h), x, params["enc_w1"])
        return {"enc_w1": dw1, "enc_b1": db1, "enc_w2": dw2, "enc_b2": db2}

    # ---------------------------------------------------------------- decoder
    def decode(self, params: dict, z: np.ndarray):
        """Pixel logits ``o = MLP_dec(z)``: ``(S, P, L·K) → (S, P, D)``, and a cache for :meth:`decode_backward`.

        ``z`` may be one-hot (a draw) or any point of the simplices (a relaxed sample).
        """
        g = tanh_forward(linear_forward(z, params["dec_w1"], params["dec_b1"]))
        return linear_forward(g, params["dec_w2"], params["dec_b2"]), (params, z, g)

    def decode_backward(self, dout: np.ndarray, cache):
        """VJP of :meth:`decode`: ``(dz, grads)`` from ``dout`` ``(S, P, D)``; ``grads`` sum over the ``P`` rows."""
        params, z, g = cache
        dg, dw2, db2 = linear_backward(dout, g, params["dec_w2"])
        dz, dw1, db1 = linear_backward(tanh_backward(dg, g), z, params["dec_w1"])
        return dz, {"dec_w1": dw1, "dec_b1": db1, "dec_w2": dw2, "dec_b2": db2}

    def configuration_index(self) -> np.ndarray:
        """Every latent configuration as categories: ``(K^L, L)``, the first latent varying slowest."""
        return np.indices((self.categories,) * self.latents).reshape(self.latents, -1).T

    def configurations(self) -> np.ndarray:
        """Every latent configuration, one-hot and flattened: ``(K^L, L·K)``, in :meth:`configuration_index` order."""
        return np.eye(self.categories)[self.configuration_index()].reshape(-1, self.width)


def kl_to_uniform(probs: np.ndarray) -> np.ndarray:
    r"""``Σ_l KL(q_l ‖ U_K) = Σ_l Σ_k π_lk log π_lk + L log K`` per image: ``(..., L, K) → (...)``.

    ``0 · log 0 = 0``; its logit gradient is :func:`kl_to_uniform_backward`.
    """
    return np.sum(probs * _log_or_zero(probs), axis=(-2, -1)) + probs.shape[-2] * math.log(probs.shape[-1])


def _log_or_zero(probs: np.ndarray) -> np.ndarray:
    """``log π`` where ``π > 0`` and 0 where ``π = 0`` (so ``π log π = 0`` there, with no ``0 · (-inf)``)."""
    return np.log(np.where(probs > 0, probs, 1.0))


def kl_to_uniform_backward(dkl: np.ndarray, probs: np.ndarray) -> np.ndarray:
    r"""Logit gradient of :func:`kl_to_uniform`: ``dθ_lk = dkl · π_lk (log π_lk - Σ_j π_lj log π_lj)``.

    The softmax VJP of ``∂/∂π (π log π) = log π + 1``; the ``+1`` drops out because
    softmax VJPs ignore a constant added to every entry.
    """
    logp = _log_or_zero(probs)
    centred = logp - np.sum(probs * logp, axis=-1, keepdims=True)
    return dkl[..., None, None] * probs * centred


def configuration_probs(model: CategoricalVAE, logits: np.ndarray) -> np.ndarray:
    """``q(c | x) = Π_l π_{l, c_l}`` of every configuration: ``(..., L, K) → (..., K^L)``, as a sum of log-probabilities."""
    log_probs = log_softmax_kernel(logits)
    return np.exp(log_probs.reshape(log_probs.shape[:-2] + (model.width,)) @ model.configurations().T)


def _enumerated(model: CategoricalVAE, params: dict, x: np.ndarray, logits: np.ndarray):
    """``F`` (S, B, C), ``q`` (S, B, C), the decoder's output and cache on all ``C`` configurations."""
    configurations = model.configurations()
    s = x.shape[0]
    out, cache = model.decode(params, np.broadcast_to(configurations, (s,) + configurations.shape))
    # -log p(x_b | c) = Σ_d softplus(o_cd) - x_b · o_c, for every image and configuration at once
    nll = bernoulli_nll(out, 0.0)[:, None, :] - x @ np.swapaxes(out, -1, -2)
    return nll, configuration_probs(model, logits), out, cache, configurations


def reconstruction_gradient(model: CategoricalVAE, params: dict, x: np.ndarray, logits: np.ndarray, *, dscale=None):
    r"""Exactly, by enumeration: ``R`` (S, B), ``∂R/∂θ`` (S, B, L, K) and, if ``dscale`` is given, decoder gradients.

    ``dscale`` (S, B): the weight of each image's ``R`` in the objective
    (``1/B`` for a batch mean); the decoder gradients are those of
    ``Σ_b dscale_b R(x_b)``.
    """
    nll, q, out, cache, configurations = _enumerated(model, params, x, logits)
    rec = np.sum(q * nll, axis=-1)
    probs = softmax_kernel(logits)
    conditional = ((q * nll) @ configurations).reshape(probs.shape)  # π_blk · E_q[F_b | c_l = k]
    drec = conditional - probs * rec[..., None, None]
    grads = None
    if dscale is not None:
        weight = dscale[..., None] * q  # (S, B, C)
        dout = weight.sum(axis=1)[..., None] * sigmoid_kernel(out) - np.swapaxes(weight, -1, -2) @ x
        grads = model.decode_backward(dout, cache)[1]
    return rec, drec, grads


def exact_negative_elbo(model: CategoricalVAE, params: dict, x, *, gradient: bool = True):
    r"""The batch mean of ``-ELBO`` for every model, exactly, and (``gradient=True``) its gradient.

    Parameters
    ----------
    model : CategoricalVAE
    params : dict
        From :meth:`CategoricalVAE.init`: ``S`` models.
    x : array_like, shape (S, B, D) or (B, D)
        Images, pixels in ``[0, 1]``; ``(B, D)`` is shared by every model.
    gradient : bool
        Also return the gradient of every parameter.

    Returns
    -------
    loss : ndarray, shape (S,)
        ``(1/B) Σ_b -ELBO(x_b)`` in nats per image.
    grads : dict or None
        ``∂loss/∂params``, every array of its parameter's shape.
    """
    x = model.check(params, x)
    logits, enc_cache = model.encode(params, x)
    scale = np.full(x.shape[:2], 1.0 / x.shape[1])
    rec, drec, dec_grads = reconstruction_gradient(model, params, x, logits, dscale=scale if gradient else None)
    loss = np.mean(rec + kl_to_uniform(softmax_kernel(logits)), axis=-1)
    if not gradient:
        return loss, None
    return loss, negative_elbo_gradient(model, logits, enc_cache, drec, dec_grads)


def negative_elbo_gradient(model: CategoricalVAE, logits: np.ndarray, enc_cache, drec: np.ndarray, dec_grads: dict) -> dict:
    r"""Every parameter's gradient of the batch-mean ``-ELBO``, from the reconstruction's parts.

    ``drec`` (S, B, L, K) is ``∂R(x_b)/∂θ_b`` per image (exact, or an
    estimator's estimate of it), ``dec_grads`` the decoder's gradient of the
    batch mean of ``R``; the KL term's logit gradient is added exactly, and
    the sum ``(1/B)(drec + ∂KL/∂θ)`` is chained through the encoder.
    """
    scale = np.full(logits.shape[:-2], 1.0 / logits.shape[-3])
    dlogits = scale[..., None, None] * drec + kl_to_uniform_backward(scale, softmax_kernel(logits))
    return {**model.encode_backward(dlogits, enc_cache), **dec_grads}


def elbo_terms(model: CategoricalVAE, params: dict, x) -> tuple[np.ndarray, np.ndarray]:
    """The two terms of the batch-mean ``-ELBO`` for every model, exactly: ``(reconstruction, kl)``, each ``(S,)``.

    A KL term near 0 means ``q(z|x)`` is nearly uniform for every image: the
    latents carry almost no information about ``x`` (posterior collapse);
    its largest value is ``L log K``.
    """
    x = model.check(params, x)
    logits, _ = model.encode(params, x)
    rec = reconstruction_gradient(model, params, x, logits)[0]
    return rec.mean(axis=-1), kl_to_uniform(softmax_kernel(logits)).mean(axis=-1)


class LatentProblem:
    r"""The decoder's loss ``f_b(z) = -log p(x_b | z)`` as a problem of :mod:`ils_ref.estimators.interface`.

    A *row* is one latent ``l`` of one image ``b`` of one model ``s``:
    ``logits`` has shape ``(S, B, L, K)``.  ``f(z)`` gives every row its
    image's loss (the ``L`` rows of an image share it, shape ``(..., S, B, L)``)
    and ``grad(z)`` its slice of ``∂f_b/∂z`` (shape ``(..., S, B, L, K)``);
    ``z`` may carry leading draw axes.  :meth:`exact_gradient` is
    ``∂E_q[f_b]/∂θ_b`` by enumeration.

    It also **records** what the estimator asked for, because the decoder's
    parameters are trained at the same points: after an estimator ran,
    :meth:`decoder_gradient` is ``∂/∂φ`` of the batch mean of ``f``, averaged
    over the points it evaluated (one-hot draws for ILS, straight-through,
    REINFORCE; relaxed samples for Gumbel-softmax; every configuration,
    weighted by ``q``, for the exact gradient).  ``evaluations`` counts the
    decoder's rows per image.
    """

    def __init__(self, model: CategoricalVAE, params: dict, x: np.ndarray, logits: np.ndarray):
        self.model, self.params, self.x, self.logits = model, params, x, logits
        self.evaluations = 0
        self._recorded = None

    @property
    def num_categories(self) -> int:
        return self.model.categories

    def point(self, logits=None) -> np.ndarray:
        return self.logits if logits is None else logits

    def _rows(self, z: np.ndarray):
        """``z`` (..., S, B, L, K) as decoder rows (S, P, L·K) and the images of those rows (S, P, D)."""
        pre = z.shape[:-4]
        s, b = self.x.shape[:2]
        rows = np.moveaxis(z.reshape(pre + (s, b, self.model.width)), -3, 0).reshape(s, -1, self.model.width)
        x = np.broadcast_to(self.x[(slice(None),) + (None,) * len(pre)], (s,) + pre + self.x.shape[1:])
        self.evaluations += int(np.prod(pre, dtype=int))
        return rows, x.reshape(s, -1, self.x.shape[-1]), pre

    def _back(self, values: np.ndarray, pre: tuple, tail: tuple) -> np.ndarray:
        """Rows (S, P, *tail) back to ``pre + (S, B, *tail)``."""
        s, b = self.x.shape[:2]
        return np.moveaxis(values.reshape((s,) + pre + (b,) + tail), 0, len(pre))

    def f(self, z: np.ndarray) -> np.ndarray:
        rows, x, pre = self._rows(z)
        out, cache = self.model.decode(self.params, rows)
        self._recorded = ("f", out, cache, x, pre)
        nll = self._back(bernoulli_nll(out, x), pre, ())
        return np.broadcast_to(nll[..., None], nll.shape + (self.model.latents,))

    def grad(self, z: np.ndarray) -> np.ndarray:
        rows, x, pre = self._rows(z)
        out, cache = self.model.decode(self.params, rows)
        dz, self._recorded = self._backward(out, cache, x, pre)
        return self._back(dz, pre, (self.model.width,)).reshape(pre + self.logits.shape)

    def _backward(self, out: np.ndarray, cache, x: np.ndarray, pre: tuple):
        """``∂f/∂z`` of every row, and the decoder gradient of the batch mean of ``f``, averaged over the draws.

        The decoder's row sums over ``n`` draws of ``B`` images are divided by ``n·B``.
        """
        dz, grads = self.model.decode_backward(bernoulli_nll_backward(np.ones(out.shape[:-1]), out, x), cache)
        scale = 1.0 / (self.x.shape[1] * int(np.prod(pre, dtype=int)))
        return dz, ("grads", {k: v * scale for k, v in grads.items()})

    def exact_gradient(self, logits=None) -> np.ndarray:
        logits = self.point(logits)
        s, b = self.x.shape[:2]
        _, drec, grads = reconstruction_gradient(self.model, self.params, self.x, logits, dscale=np.full((s, b), 1.0 / b))
        self._recorded = ("grads", grads)
        self.evaluations += self.model.num_configurations
        return drec

    def outcomes(self, logits=None):
        """Every latent configuration as draws, and its probability: ``(index, weights)``.

        ``index`` ``(C, S, B, L)`` is configuration ``c``'s category of every
        latent, for every image; ``weights`` ``(C, S, B)`` is ``q(c | x_b)``.
        An estimator whose backward pass is deterministic given the draw (ILS,
        ReinMax) has the exact expectation ``Σ_c q(c|x) · estimate(c)``.
        """
        logits = self.point(logits)
        index = self.model.configuration_index()  # (C, L)
        index = np.broadcast_to(index[:, None, None, :], (len(index),) + logits.shape[:-1])
        return index, np.moveaxis(configuration_probs(self.model, logits), -1, 0)

    def decoder_gradient(self) -> dict:
        """``∂/∂φ`` of the batch mean of ``f`` at the points the last call evaluated (see the class docstring)."""
        if self._recorded is None:
            raise RuntimeError("no estimator has evaluated the decoder yet")
        if self._recorded[0] == "f":  # a score-function estimator asked for values only: differentiate them now
            self._recorded = self._backward(*self._recorded[1:])[1]
        return self._recorded[1]
