r"""``ils-ref vae``: every estimator trains the same categorical VAE, measured against the exact gradient.

The model and its exact ELBO are :mod:`ils_ref.models.vae`; the data are
:mod:`ils_ref.models.glyphs`.  For every estimator (:func:`vae_estimators`),
:func:`run`

1. **trains** ``S`` models per learning rate of ``lr_grid`` side by side
   (one per seed and learning rate, vectorised), from the same initial
   parameters and on the same minibatches for every estimator and learning
   rate (both depend on the seed only), with Adam; the encoder's logit
   gradient of the reconstruction term comes from the estimator, the KL
   term's from its closed form, and the decoder is trained at the points the
   estimator evaluated it at (:class:`ils_ref.models.vae.LatentProblem`);
2. **evaluates** the exact train, validation and test ELBO (every
   configuration enumerated) at regular steps;
3. **tunes** the learning rate on held-out data: the ``n_valid`` validation
   glyphs are rendered beside the training glyphs and never trained on; each
   estimator's learning rate is the one whose models end with the best mean
   validation ELBO, and every test number reported is that learning rate's
   (the test images never take part in the choice);
4. **measures the gradient**: at checkpoints along the *exact-gradient*
   trajectory (at its chosen learning rate), ``draws`` estimates of the reconstruction term's logit gradient
   on a fixed batch of training images, against the exact one ``g``:

   * ``grad_bias`` — ``‖E ĝ - g‖ / ‖g‖``, with ``‖E ĝ - g‖²`` estimated
     without the noise of the finite mean (``‖mean - g‖² - tr Cov / n``; 0
     where that is negative) and ``grad_bias_floor`` ``= sqrt(tr Cov / n) / ‖g‖``,
     the smallest bias the measurement resolves;
   * ``grad_variance`` — ``tr Cov(ĝ) / ‖g‖²``, of one estimate (one step's
     worth of draws);
   * ``grad_snr_per_draw`` — ``‖E ĝ‖ / sqrt(draws · tr Cov(ĝ))``: signal to
     noise at equal cost, where an estimate spending ``m`` draws is charged ``m``.

Wall time is measured per estimator over the training steps (evaluations
excluded).  ``final_test_kl`` is the KL term of the final models on the test
images: near 0, the encoder has collapsed to the uniform prior.  The final
test ELBO comes with a 95% Student-t interval over the seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import t as student_t

from ..checking.statcheck import estimate_statistics
from ..estimators.interface import (
    Estimator,
    exact,
    gumbel,
    gumbel_rao,
    ils,
    ils_rescaled,
    reinforce_loo,
    reinmax,
)
from ..models.glyphs import train_test
from ..models.vae import (
    CategoricalVAE,
    LatentProblem,
    elbo_terms,
    exact_negative_elbo,
    negative_elbo_gradient,
)
from ..validation import checked


def vae_estimators() -> list[Estimator]:
    """The settings ``ils-ref vae`` trains, the exact gradient first.

    ILS at the post's three α with the chain-ruled default, at α = 0.1 and
    0.01 divided by α (:func:`ils_ref.estimators.interface.ils_rescaled`: its
    mean is O(α) short while the KL term is exact) and at α = 0.1 as the
    prototype computed it (``-π_D/(π + 1e-7)``; clipped, because the
    prototype's unguarded ``h`` raises on this loss); Gumbel-softmax soft and
    straight-through at T ∈ {0.5, 1}; REINFORCE with a leave-one-out baseline
    over 2 and 4 draws; Gumbel-Rao at T = 0.5 with 10 perturbations; ReinMax at T = 1.
    """
    return [
        exact(),
        ils(0.1), ils(0.01), ils(0.001), ils_rescaled(0.1), ils_rescaled(0.01), ils(0.1, prototype=True),
        gumbel(0.5), gumbel(1.0), gumbel(0.5, hard=True), gumbel(1.0, hard=True),
        reinforce_loo(2), reinforce_loo(4),
        gumbel_rao(0.5, 10), reinmax(1.0),
    ]  # fmt: skip


def draws_per_step(estimator: Estimator, model: CategoricalVAE) -> int:
    """Decoder evaluations per image per step: 1 for one draw, ``m`` for REINFORCE-LOO, ``K^L`` for the exact gradient."""
    if estimator.name == "exact":
        return model.num_configurations
    return int(estimator.params.get("group", 1))


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on; :data:`DEFAULT` and :data:`QUICK` are the command's two sizes."""

    steps: int = 1500
    seeds: int = 5
    batch: int = 64
    lr_grid: tuple = (1e-3, 3e-3, 1e-2)  # Adam learning rates tried per estimator; the validation ELBO chooses
    evaluations: int = 16  # exact train/test ELBO at this many evenly spaced steps (and step 0)
    checkpoints: tuple = (0.0, 0.1, 0.5, 1.0)  # fractions of the run at which gradients are measured
    draws: int = 256  # estimates per checkpoint for the gradient statistics
    eval_batch: int = 32  # training images the gradient statistics use
    n_train: int = 1500  # glyphs the models are trained on
    n_valid: int = 500  # further glyphs, never trained on: the learning rate is chosen on them
    n_test: int = 500
    n_train_eval: int = 500  # training images the train-ELBO curve uses
    seed: int = 0  # data; seed s of the run initialises model s from [s, 0]
    model: CategoricalVAE = field(default_factory=CategoricalVAE)

    def __post_init__(self):
        checked(steps=("int", self.steps, 1), seeds=("int", self.seeds, 1), batch=("int", self.batch, 1),
                evaluations=("int", self.evaluations, 1), draws=("int", self.draws, 2),
                eval_batch=("int", self.eval_batch, 1), n_train=("int", self.n_train, 1),
                n_valid=("int", self.n_valid, 1), n_test=("int", self.n_test, 1), n_train_eval=("int", self.n_train_eval, 1), seed=("int", self.seed, 0))
        if not isinstance(self.model, CategoricalVAE):
            raise TypeError(f"model must be an ils_ref.models.vae.CategoricalVAE, got {type(self.model).__name__}")
        if self.evaluations > self.steps:
            raise ValueError(f"evaluations must be at most steps = {self.steps}, got {self.evaluations}")
        if not isinstance(self.lr_grid, tuple) or not self.lr_grid:
            raise ValueError(f"lr_grid must be a non-empty tuple of learning rates, got {self.lr_grid!r:.80}")
        grid = tuple(float(checked(lr_grid=("positive", lr))) for lr in self.lr_grid)
        if max(grid) > 1:
            raise ValueError(f"lr_grid must hold Adam learning rates in (0, 1] (Adam moves every weight by about "
                             f"the rate per step), got {max(grid):g}")
        if len(set(grid)) != len(grid):
            raise ValueError(f"lr_grid must not repeat a learning rate, got {grid}")
        object.__setattr__(self, "lr_grid", grid)  # plain floats: what the JSON holds
        if not isinstance(self.checkpoints, tuple) or not self.checkpoints:
            raise TypeError(f"checkpoints must be a non-empty tuple of fractions, got {self.checkpoints!r:.80}")
        fractions = tuple(float(checked(checkpoints=("nonnegative_scalar", c))) for c in self.checkpoints)
        if any(c > 1 for c in fractions):
            raise ValueError(f"checkpoints must be fractions in [0, 1], got {self.checkpoints}")
        if self.batch > self.n_train or self.eval_batch > self.n_train or self.n_train_eval > self.n_train:
            raise ValueError(f"batch, eval_batch and n_train_eval must be at most n_train = {self.n_train}")

    def eval_steps(self) -> np.ndarray:
        return np.unique(np.linspace(0, self.steps, self.evaluations + 1).round().astype(int))

    def checkpoint_steps(self) -> np.ndarray:
        return np.unique((np.asarray(self.checkpoints) * self.steps).round().astype(int))


DEFAULT = Settings()
QUICK = Settings(steps=300, seeds=2, lr_grid=(3e-3, 1e-2), batch=50, evaluations=4, checkpoints=(0.0, 1.0), draws=128,
                 eval_batch=16)


def _minibatches(settings: Settings, step: int) -> np.ndarray:
    """Indices ``(S, B)`` of step ``step``'s minibatch for every model: the same for every estimator."""
    rng = np.random.default_rng([settings.seed, 1, step])
    return np.argsort(rng.random((settings.seeds, settings.n_train)), axis=-1)[:, : settings.batch]


class Adam:
    """Adam (Kingma and Ba, 2015) on a dict of arrays, every model its own moments: the default β and ε.

    ``lr`` is one learning rate, or one per model (shape ``(S,)``, the
    parameters' leading axis).
    """

    def __init__(self, params: dict, lr, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps, self.t = np.asarray(lr, dtype=np.float64), beta1, beta2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        """``θ ← θ - lr · m̂ / (sqrt(v̂) + ε)`` in place, with bias-corrected moments."""
        self.t += 1
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for k, g in grads.items():
            self.m[k] += (1 - self.beta1) * (g - self.m[k])
            self.v[k] += (1 - self.beta2) * (g * g - self.v[k])
            lr = self.lr.reshape(self.lr.shape + (1,) * (g.ndim - self.lr.ndim))
            params[k] -= lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


def estimated_gradient(model: CategoricalVAE, estimator: Estimator, params: dict, x: np.ndarray, rng) -> dict:
    """One step's gradient of the batch-mean ``-ELBO``: the estimator for the reconstruction term, the KL exactly.

    Every estimator goes through the same interface, the exact gradient included
    (``exact()`` asks the problem for ``∂E_q f/∂θ`` by enumeration, and the
    decoder is then trained with the exact decoder gradient): the result equals
    :func:`ils_ref.models.vae.exact_negative_elbo`'s gradient to rounding.
    """
    logits, cache = model.encode(params, x)
    problem = LatentProblem(model, params, x, logits)
    drec = estimator(logits, problem, rng, 1)[0]
    return negative_elbo_gradient(model, logits, cache, drec, problem.decoder_gradient())


def split(settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, valid, test)`` glyphs: one run of :func:`ils_ref.models.glyphs.train_test`, its training part split.

    The three sets never share an image.  They depend on the seed and on
    ``n_train + n_valid`` and ``n_test`` (one generator draws every image's
    attributes at once): the defaults give the same 2,000 training and 500
    test glyphs as ``train_test(2000, 500)``, the last 500 training glyphs
    held out for validation.
    """
    size = int(round(settings.model.pixels**0.5))
    train_valid, test = train_test(settings.n_train + settings.n_valid, settings.n_test, seed=settings.seed, size=size)
    if test.shape[1] != settings.model.pixels:
        raise ValueError(f"the model's pixels ({settings.model.pixels}) must be a square number")
    return train_valid[: settings.n_train], train_valid[settings.n_train :], test


def train(estimator: Estimator, settings: Settings, data, *, index: int = 0, keep=()) -> dict:
    """Train ``seeds`` models at every learning rate of ``lr_grid`` with ``estimator``, side by side.

    ``data`` is :func:`split`'s ``(train, valid, test)``; ``keep`` lists steps
    whose parameters are returned (before that step's update).  Model
    ``g·S + s`` is seed ``s`` at ``lr_grid[g]``: every learning rate starts from
    the same models and sees the same minibatches.  The estimator's draws come
    from ``numpy.random.default_rng([seed, 2, index])``, one stream for all
    the models, so a stochastic estimator's run at one rate depends on the
    grid it is trained in (the exact gradient's does not).

    Returns the exact ``train``/``valid``/``test`` ELBO curves, each
    ``(evaluations, G, S)``, the seconds spent in training steps, the kept and
    final parameters (``G·S`` models) and the final test KL term ``(G, S)``.
    """
    model = settings.model
    x_train, x_valid, x_test = data
    grid, seeds = len(settings.lr_grid), settings.seeds
    params = model.init(np.tile(np.arange(seeds), grid))
    adam = Adam(params, np.repeat(settings.lr_grid, seeds))
    rng = np.random.default_rng([settings.seed, 2, index])
    eval_steps = settings.eval_steps()
    evaluated = {"train": x_train[: settings.n_train_eval], "valid": x_valid, "test": x_test}
    curves = {name: np.empty((len(eval_steps), grid, seeds)) for name in evaluated}
    kept, seconds, e = {}, 0.0, 0
    for step in range(settings.steps + 1):
        if step in keep:
            kept[step] = {k: v.copy() for k, v in params.items()}
        if step == eval_steps[e]:
            for name, x in evaluated.items():
                curves[name][e] = -exact_negative_elbo(model, params, x, gradient=False)[0].reshape(grid, seeds)
            e += 1
        if step == settings.steps:
            break
        start = time.perf_counter()
        batch = np.tile(_minibatches(settings, step), (grid, 1))
        grads = estimated_gradient(model, estimator, params, x_train[batch], rng)
        adam.step(params, grads)
        seconds += time.perf_counter() - start
    test_kl = elbo_terms(model, params, x_test)[1].reshape(grid, seeds)
    return {"curves": curves, "seconds": seconds, "kept": kept, "params": params, "test_kl": test_kl}


def choose_lr(valid: np.ndarray) -> int:
    """The index of the learning rate whose models end with the best mean validation ELBO (``valid``: ``(G, S)``).

    The first such index on a tie; a rate with a non-finite mean (a model
    that diverged) is never chosen, and if every rate has one, ``ValueError``.
    """
    means = np.asarray(valid, dtype=np.float64).mean(axis=1)
    if not np.isfinite(means).any():
        raise ValueError("every learning rate of lr_grid diverged (no finite validation ELBO): try smaller rates")
    return int(np.argmax(np.where(np.isfinite(means), means, -np.inf)))


def peak_bytes(settings: Settings, estimators) -> float:
    """An upper estimate of a run's memory: its larger phase (training, or the gradient statistics) and the parameters.

    Training holds, per model (``seeds`` times the grid), the decoder over
    every configuration for a batch and the test images' enumerated losses;
    the gradient statistics hold, per seed, about four pixel-sized arrays for
    each of ``draws`` estimates of the widest estimator on ``eval_batch`` images.
    """
    model = settings.model
    models = settings.seeds * len(settings.lr_grid)
    params = model.hidden * (model.pixels + model.width) * 2 + model.pixels + model.hidden * 2 + model.width
    configurations = model.num_configurations
    training = models * configurations * (max(settings.batch, settings.eval_batch) * (model.pixels + model.hidden)
                                          + max(settings.n_test, settings.n_valid, settings.n_train_eval))
    widest = max([draws_per_step(e, model) for e in estimators if e.name != "exact"], default=1)
    statistics = settings.seeds * settings.draws * widest * settings.eval_batch * (4 * model.pixels + 2 * model.hidden)
    return 8.0 * (max(training, statistics) + 16 * params * models)


def gradient_statistics(estimator: Estimator, settings: Settings, checkpoints: dict, x: np.ndarray, *, index: int = 0):
    """Bias, its resolution, variance and SNR per draw of the reconstruction's logit gradient, per checkpoint and model.

    Returns a dict of arrays of shape ``(checkpoints, S)`` (module docstring).
    """
    model = settings.model
    rng = np.random.default_rng([settings.seed, 3, index])
    draws = draws_per_step(estimator, model)
    xs = np.broadcast_to(x, (settings.seeds,) + x.shape)
    stats = {k: np.empty((len(checkpoints), settings.seeds)) for k in ("bias", "bias_floor", "variance", "snr_per_draw")}
    for c, params in enumerate(checkpoints.values()):
        logits, _ = model.encode(params, xs)
        problem = LatentProblem(model, params, xs, logits)
        g = problem.exact_gradient(logits)
        estimates = estimator(logits, problem, rng, settings.draws)  # (n, S, B, L, K)
        for s in range(settings.seeds):
            one = estimate_statistics(estimates[:, s], g[s])
            g2 = float(np.sum(g[s] * g[s]))
            if g2 == 0:  # a saturated encoder: no gradient to be relative to (NaN, null in JSON, "n/a" in the table)
                g2 = np.nan
            noise = one["variance"] / settings.draws  # what the finite mean adds to ‖mean - g‖² on average
            stats["bias"][c, s] = np.sqrt(max(one["bias_norm"] ** 2 - noise, 0.0) / g2)
            stats["bias_floor"][c, s] = np.sqrt(noise / g2)
            stats["variance"][c, s] = one["variance"] / g2
            stats["snr_per_draw"][c, s] = one["snr"] / np.sqrt(draws)  # no noise: inf (null in JSON)
    return stats



def seed_mean(values: np.ndarray) -> np.ndarray:
    """The mean over seeds (axis 1) of the seeds where the measure is defined; NaN where it is defined for none."""
    defined = ~np.isnan(values)
    return np.where(defined.any(axis=1), np.where(defined, values, 0.0).sum(axis=1) / np.maximum(defined.sum(axis=1), 1),
                    np.nan)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean over seeds and its Student-t interval (a single seed gives the mean three times)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = float(student_t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def run(settings: Settings = DEFAULT, estimators=None, *, progress=None) -> dict:
    """Train and measure every estimator (:func:`vae_estimators` by default); the result is what ``--json`` writes.

    ``progress(message)`` is called after each estimator.
    """
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be an ils_ref.experiments.vae.Settings, got {type(settings).__name__}")
    estimators = vae_estimators() if estimators is None else list(estimators)
    if not all(isinstance(e, Estimator) for e in estimators):
        raise TypeError("estimators must be ils_ref.estimators.interface.Estimator objects, got "
                        + ", ".join(sorted({type(e).__name__ for e in estimators if not isinstance(e, Estimator)})))
    if not estimators or estimators[0].name != "exact":
        raise ValueError("the first estimator must be the exact gradient (the checkpoints follow its trajectory)")
    started = time.perf_counter()
    data = split(settings)
    seeds = settings.seeds
    checkpoint_steps = settings.checkpoint_steps()
    x_eval = data[0][: settings.eval_batch]
    rows, checkpoints = [], None
    for i, est in enumerate(estimators):
        t0 = time.perf_counter()
        trained = train(est, settings, data, index=i, keep=set(checkpoint_steps.tolist()) if i == 0 else ())
        curves = trained["curves"]
        g = choose_lr(curves["valid"][-1])
        if i == 0:  # the gradient is measured along the exact gradient's run at its chosen learning rate
            checkpoints = {step: {k: v[g * seeds : (g + 1) * seeds] for k, v in kept.items()}
                           for step, kept in trained["kept"].items()}
        stats = gradient_statistics(est, settings, checkpoints, x_eval, index=i)
        final = curves["test"][-1, g]
        mean, lo, hi = interval(final)
        rows.append({
            "name": est.label,
            "estimator": est.name,
            "params": dict(est.params),
            "draws_per_step": draws_per_step(est, settings.model),
            "lr": settings.lr_grid[g],
            "lr_grid": list(settings.lr_grid),
            "lr_at_grid_edge": len(settings.lr_grid) > 1 and settings.lr_grid[g] in (min(settings.lr_grid),
                                                                                       max(settings.lr_grid)),
            "validation_elbo": curves["valid"][-1].mean(axis=1),
            "validation_elbo_per_seed": curves["valid"][-1],
            "final_test_elbo_by_lr": curves["test"][-1].mean(axis=1),
            "final_test_elbo": mean,
            "final_test_elbo_ci": [lo, hi],
            "final_test_elbo_per_seed": final,
            "final_train_elbo": float(curves["train"][-1, g].mean()),
            "final_test_kl": float(trained["test_kl"][g].mean()),
            **{f"grad_{k}": seed_mean(stats[k]) for k in ("bias", "bias_floor", "variance", "snr_per_draw")},
            "seconds": trained["seconds"],
            "seconds_per_step": trained["seconds"] / settings.steps,
            "train_elbo_curve": curves["train"][:, g],
            "validation_elbo_curve": curves["valid"][:, g],
            "test_elbo_curve": curves["test"][:, g],
        })  # fmt: skip
        if progress is not None:
            progress(f"[{i + 1}/{len(estimators)}] {est.label}: lr {settings.lr_grid[g]:g}, test ELBO {mean:.2f}, "
                     f"{time.perf_counter() - t0:.1f} s")
    return {
        "model": {"pixels": settings.model.pixels, "latents": settings.model.latents,
                  "categories": settings.model.categories, "hidden": settings.model.hidden,
                  "configurations": settings.model.num_configurations},
        "settings": {k: v for k, v in settings.__dict__.items() if k != "model"},
        "eval_steps": settings.eval_steps(),
        "checkpoints": checkpoint_steps,
        "estimators": rows,
        "seconds_total": time.perf_counter() - started,
    }  # fmt: skip


def settings_for(*, quick: bool, steps=None, seeds=None, lr_grid=None) -> Settings:
    """:data:`QUICK` or :data:`DEFAULT`, with ``steps``/``seeds``/``lr_grid`` replaced where given."""
    base = QUICK if quick else DEFAULT
    lr_grid = None if lr_grid is None else tuple(lr_grid)
    changes = {k: v for k, v in (("steps", steps), ("seeds", seeds), ("lr_grid", lr_grid)) if v is not None}
    if steps is not None and steps < base.evaluations:  # a short run is evaluated at every step
        changes["evaluations"] = steps
    return replace(base, **changes)
