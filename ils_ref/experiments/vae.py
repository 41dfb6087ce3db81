r"""``ils-ref vae``: every estimator trains the same categorical VAE, measured against the exact gradient.

The model and its exact ELBO are :mod:`ils_ref.models.vae`; the data are
:mod:`ils_ref.models.glyphs`.  For every estimator (:func:`vae_estimators`),
:func:`run`

1. **trains** ``S`` models side by side (one per seed, vectorised), from the
   same initial parameters and on the same minibatches for every estimator
   (both depend on the seed only), with Adam; the encoder's logit gradient
   of the reconstruction term comes from the estimator, the KL term's from its
   closed form, and the decoder is trained at the points the estimator
   evaluated it at (:class:`ils_ref.models.vae.LatentProblem`);
2. **evaluates** the exact train and test ELBO (every configuration
   enumerated) at regular steps;
3. **measures the gradient**: at checkpoints along the *exact-gradient*
   trajectory, ``draws`` estimates of the reconstruction term's logit gradient
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

import json
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
    reinforce_loo,
    reinmax,
)
from ..formatting import jsonable, text_table
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

    ILS at the post's three α with the chain-ruled default and at α = 0.1 as
    the prototype computed it (``-π_D/(π + 1e-7)``; clipped, because the
    prototype's unguarded ``h`` raises on this loss); Gumbel-softmax soft and
    straight-through at T ∈ {0.5, 1}; REINFORCE with a leave-one-out baseline
    over 2 and 4 draws; Gumbel-Rao at T = 0.5 with 10 perturbations; ReinMax at T = 1.
    """
    return [
        exact(),
        ils(0.1), ils(0.01), ils(0.001), ils(0.1, prototype=True),
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

    steps: int = 2000
    seeds: int = 5
    batch: int = 64
    lr: float = 3e-3
    evaluations: int = 16  # exact train/test ELBO at this many evenly spaced steps (and step 0)
    checkpoints: tuple = (0.0, 0.1, 0.5, 1.0)  # fractions of the run at which gradients are measured
    draws: int = 256  # estimates per checkpoint for the gradient statistics
    eval_batch: int = 32  # training images the gradient statistics use
    n_train: int = 2000
    n_test: int = 500
    n_train_eval: int = 500  # training images the train-ELBO curve uses
    seed: int = 0  # data; seed s of the run initialises model s from [s, 0]
    model: CategoricalVAE = field(default_factory=CategoricalVAE)

    def __post_init__(self):
        checked(steps=("int", self.steps, 1), seeds=("int", self.seeds, 1), batch=("int", self.batch, 1),
                lr=("positive", self.lr), evaluations=("int", self.evaluations, 1), draws=("int", self.draws, 2),
                eval_batch=("int", self.eval_batch, 1), n_train=("int", self.n_train, 1),
                n_test=("int", self.n_test, 1), n_train_eval=("int", self.n_train_eval, 1), seed=("int", self.seed, 0))
        if not self.checkpoints or any(not 0 <= c <= 1 for c in self.checkpoints):
            raise ValueError(f"checkpoints must be fractions in [0, 1], got {self.checkpoints}")
        if self.batch > self.n_train or self.eval_batch > self.n_train or self.n_train_eval > self.n_train:
            raise ValueError(f"batch, eval_batch and n_train_eval must be at most n_train = {self.n_train}")

    def eval_steps(self) -> np.ndarray:
        return np.unique(np.linspace(0, self.steps, self.evaluations + 1).round().astype(int))

    def checkpoint_steps(self) -> np.ndarray:
        return np.unique((np.asarray(self.checkpoints) * self.steps).round().astype(int))


DEFAULT = Settings()
QUICK = Settings(steps=300, seeds=3, batch=50, evaluations=4, checkpoints=(0.0, 1.0), draws=128, eval_batch=16)


def _minibatches(settings: Settings, step: int) -> np.ndarray:
    """Indices ``(S, B)`` of step ``step``'s minibatch for every model: the same for every estimator."""
    rng = np.random.default_rng([settings.seed, 1, step])
    return np.argsort(rng.random((settings.seeds, settings.n_train)), axis=-1)[:, : settings.batch]


class Adam:
    """Adam (Kingma and Ba, 2015) on a dict of arrays, every model its own moments: the default β and ε."""

    def __init__(self, params: dict, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        """``θ ← θ - lr · m̂ / (sqrt(v̂) + ε)`` in place, with bias-corrected moments."""
        self.t += 1
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for k, g in grads.items():
            self.m[k] += (1 - self.beta1) * (g - self.m[k])
            self.v[k] += (1 - self.beta2) * (g * g - self.v[k])
            params[k] -= self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


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


def train(estimator: Estimator, settings: Settings, data, *, index: int = 0, keep=()) -> dict:
    """Train ``settings.seeds`` models with ``estimator``; return the ELBO curves, the time and the kept parameters.

    ``data`` is ``(train, test)`` images; ``keep`` lists steps whose parameters
    are returned (before that step's update).  The estimator's draws come from
    ``numpy.random.default_rng([seed, 2, index])``.
    """
    model = settings.model
    x_train, x_test = data
    params = model.init(np.arange(settings.seeds))
    adam = Adam(params, settings.lr)
    rng = np.random.default_rng([settings.seed, 2, index])
    eval_steps = settings.eval_steps()
    curves = {"train": np.empty((len(eval_steps), settings.seeds)), "test": np.empty((len(eval_steps), settings.seeds))}
    kept, seconds, e = {}, 0.0, 0
    for step in range(settings.steps + 1):
        if step in keep:
            kept[step] = {k: v.copy() for k, v in params.items()}
        if step == eval_steps[e]:
            curves["train"][e] = -exact_negative_elbo(model, params, x_train[: settings.n_train_eval], gradient=False)[0]
            curves["test"][e] = -exact_negative_elbo(model, params, x_test, gradient=False)[0]
            e += 1
        if step == settings.steps:
            break
        start = time.perf_counter()
        grads = estimated_gradient(model, estimator, params, x_train[_minibatches(settings, step)], rng)
        adam.step(params, grads)
        seconds += time.perf_counter() - start
    test_kl = elbo_terms(model, params, x_test)[1]
    return {"curves": curves, "seconds": seconds, "kept": kept, "params": params, "test_kl": test_kl}


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
            noise = one["variance"] / settings.draws  # what the finite mean adds to ‖mean - g‖² on average
            stats["bias"][c, s] = np.sqrt(max(one["bias_norm"] ** 2 - noise, 0.0) / g2)
            stats["bias_floor"][c, s] = np.sqrt(noise / g2)
            stats["variance"][c, s] = one["variance"] / g2
            stats["snr_per_draw"][c, s] = one["snr"] / np.sqrt(draws)  # no noise: inf (null in JSON)
    return stats



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
    if not estimators or estimators[0].name != "exact":
        raise ValueError("the first estimator must be the exact gradient (the checkpoints follow its trajectory)")
    started = time.perf_counter()
    data = train_test(settings.n_train, settings.n_test, seed=settings.seed, size=int(round(settings.model.pixels**0.5)))
    if data[0].shape[1] != settings.model.pixels:
        raise ValueError(f"the model's pixels ({settings.model.pixels}) must be a square number")
    checkpoint_steps = settings.checkpoint_steps()
    x_eval = data[0][: settings.eval_batch]
    rows, checkpoints = [], None
    for i, est in enumerate(estimators):
        t0 = time.perf_counter()
        trained = train(est, settings, data, index=i, keep=set(checkpoint_steps.tolist()) if i == 0 else ())
        if i == 0:
            checkpoints = trained["kept"]
        stats = gradient_statistics(est, settings, checkpoints, x_eval, index=i)
        final = trained["curves"]["test"][-1]
        mean, lo, hi = interval(final)
        rows.append({
            "name": est.label,
            "estimator": est.name,
            "params": dict(est.params),
            "draws_per_step": draws_per_step(est, settings.model),
            "final_test_elbo": mean,
            "final_test_elbo_ci": [lo, hi],
            "final_test_elbo_per_seed": final,
            "final_train_elbo": float(trained["curves"]["train"][-1].mean()),
            "final_test_kl": float(trained["test_kl"].mean()),
            "grad_bias": stats["bias"].mean(axis=1),
            "grad_bias_floor": stats["bias_floor"].mean(axis=1),
            "grad_variance": stats["variance"].mean(axis=1),
            "grad_snr_per_draw": stats["snr_per_draw"].mean(axis=1),
            "seconds": trained["seconds"],
            "seconds_per_step": trained["seconds"] / settings.steps,
            "train_elbo_curve": trained["curves"]["train"],
            "test_elbo_curve": trained["curves"]["test"],
        })  # fmt: skip
        if progress is not None:
            progress(f"[{i + 1}/{len(estimators)}] {est.label}: test ELBO {mean:.2f}, {time.perf_counter() - t0:.1f} s")
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


def to_json(result: dict) -> str:
    """The result as JSON (NumPy arrays as lists, no NaN or inf: those become ``null``)."""
    return json.dumps(jsonable(result), indent=1, allow_nan=False)


def harness_check(result: dict) -> tuple[bool, str]:
    """Does the exact gradient attain the best final test ELBO within its interval?

    True when no estimator's mean lies above the upper end of the exact
    gradient's interval: a check that the harness trains what it measures.
    """
    rows = result["estimators"]
    exact_row = rows[0]
    best = max(rows, key=lambda r: r["final_test_elbo"])
    ok = best["final_test_elbo"] <= exact_row["final_test_elbo_ci"][1]
    return ok, (f"exact gradient: {exact_row['final_test_elbo']:.3f} "
                f"[{exact_row['final_test_elbo_ci'][0]:.3f}, {exact_row['final_test_elbo_ci'][1]:.3f}]; "
                f"best: {best['name']} {best['final_test_elbo']:.3f}")  # fmt: skip


def summary_table(result: dict) -> str:
    """One line per estimator: draws, final test ELBO and interval, gradient bias, variance, SNR, seconds."""
    last = -1
    step = int(result["checkpoints"][last])
    header = ("estimator", "draws", "test ELBO", "95% interval", "KL", f"bias@{step}", "floor", "rel. var",
              "SNR/draw", "s/step")
    lines = [header]
    for r in result["estimators"]:
        snr = r["grad_snr_per_draw"][last]
        lines.append((
            r["name"], str(r["draws_per_step"]), f"{r['final_test_elbo']:.2f}",
            (f"[{r['final_test_elbo_ci'][0]:.2f}, {r['final_test_elbo_ci'][1]:.2f}]" if result["settings"]["seeds"] > 1
             else "n/a (1 seed)"), f"{r['final_test_kl']:.2f}",
            f"{r['grad_bias'][last]:.3g}", f"{r['grad_bias_floor'][last]:.3g}", f"{r['grad_variance'][last]:.3g}",
            "inf" if not np.isfinite(snr) else f"{snr:.3g}", f"{r['seconds_per_step'] * 1e3:.1f} ms",
        ))  # fmt: skip
    ok, message = harness_check(result)
    return text_table(lines, rule=True) + f"\nharness check ({'holds' if ok else 'FAILS'}): {message}"


def settings_for(*, quick: bool, steps=None, seeds=None) -> Settings:
    """:data:`QUICK` or :data:`DEFAULT`, with ``steps``/``seeds`` replaced where given."""
    base = QUICK if quick else DEFAULT
    changes = {k: v for k, v in (("steps", steps), ("seeds", seeds)) if v is not None}
    return replace(base, **changes)
