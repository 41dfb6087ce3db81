"""The public API as data, for the hostile-input tests.

``CASES`` maps each public function to a baseline call that is valid, and
says which arguments are arrays (and of what role) or scalars, and whether
the result may contain ``inf`` where the mathematics says so.
"""

import numpy as np

import ils_ref as R
from ils_ref.checking import statcheck as S
from ils_ref.estimators import interface as E
from ils_ref.experiments import reproduce as RP
from ils_ref.experiments import toy1 as X
from ils_ref.experiments.compare import compare
from ils_ref.models import problems as P

RNG = np.random.default_rng(0)
LOGITS = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])
PROBS = R.softmax(LOGITS)
G = np.array([[0.2, -0.4, 1.0], [0.5, 0.1, -0.3]])
U_ROWS = np.array([0.3, 0.8])
U_FULL = np.array([[0.1, 0.6, 0.9], [0.4, 0.5, 0.2]])


def _ils_cache():
    return R.ils_forward(LOGITS, u=U_ROWS)[1]


def _gumbel_cache():
    return R.gumbel_softmax_forward(LOGITS, 0.5, u=U_FULL)[1]


def _bernoulli_cache():
    return R.bernoulli_ils_forward(LOGITS, u=U_FULL)[1]


def _gaussian_cache():
    return R.gaussian_ils_forward(LOGITS, 0.7, u=U_FULL)[1]


def _reinmax_cache():
    return R.reinmax_forward(LOGITS, 1.0, u=U_ROWS)[1]


U_RAO = np.random.default_rng(1).random((3,) + LOGITS.shape)  # 2 perturbations and the draw


def _gumbel_rao_cache():
    return R.gumbel_rao_forward(LOGITS, 0.5, 2, u=U_RAO)[1]


# name: (function, baseline kwargs factory, {arg: role}, inf allowed in the result)
CASES = {
    "softmax": (R.softmax, lambda: dict(x=LOGITS), {"x": "logits"}, False),
    "log_softmax": (R.log_softmax, lambda: dict(x=LOGITS), {"x": "logits"}, True),
    "softmax_backward": (R.softmax_backward, lambda: dict(dy=G, y=PROBS), {"dy": "grad", "y": "probs"}, False),
    "log_softmax_backward": (R.log_softmax_backward, lambda: dict(dy=G, y=R.log_softmax(LOGITS)),
                             {"dy": "grad", "y": "array"}, False),
    "kl_divergence": (R.kl_divergence, lambda: dict(p=PROBS, q=PROBS[::-1]), {"p": "probs", "q": "probs"}, True),
    "kl_divergence_backward": (R.kl_divergence_backward, lambda: dict(dout=np.ones(2), p=PROBS, q=PROBS[::-1]),
                               {"dout": "grad", "p": "probs", "q": "probs"}, True),
    "normalize": (R.normalize, lambda: dict(z=np.abs(G) + 0.1), {"z": "array"}, False),
    "normalize_backward": (R.normalize_backward, lambda: dict(dy=G, z=np.abs(G) + 0.1), {"dy": "grad", "z": "array"}, False),
    "sample_categorical": (R.sample_categorical, lambda: dict(probs=PROBS, u=U_ROWS), {"probs": "probs", "u": "noise"}, False),
    "one_hot": (R.one_hot, lambda: dict(index=np.array([0, 2]), num_categories=3), {"index": "index", "num_categories": "int"}, False),
    "gumbel_noise": (R.gumbel_noise, lambda: dict(shape=U_FULL.shape, u=U_FULL), {"u": "noise"}, True),
    "ils_forward": (R.ils_forward, lambda: dict(logits=LOGITS, u=U_ROWS), {"logits": "logits", "u": "noise"}, False),
    "ils_backward": (R.ils_backward, lambda: dict(dz=G, cache=_ils_cache(), alpha=0.1),
                     {"dz": "grad", "cache": "cache", "alpha": "scalar"}, False),
    "ils_step": (R.ils_step, lambda: dict(dz=G, cache=_ils_cache(), alpha=0.1),
                 {"dz": "grad", "cache": "cache", "alpha": "scalar"}, True),
    "ils_first_order": (R.ils_first_order, lambda: dict(dz=G, index=np.array([0, 2])), {"dz": "grad", "index": "index"}, False),
    "ils_cache": (R.ils_cache, lambda: dict(logits=LOGITS, index=np.array([0, 1])), {"logits": "logits", "index": "index"}, False),
    "gumbel_softmax_forward": (R.gumbel_softmax_forward, lambda: dict(logits=LOGITS, temperature=0.5, u=U_FULL),
                               {"logits": "logits", "temperature": "positive", "u": "noise"}, True),
    "gumbel_softmax_backward": (R.gumbel_softmax_backward, lambda: dict(dy=G, cache=_gumbel_cache()),
                                {"dy": "grad", "cache": "cache"}, False),
    "reinmax_forward": (R.reinmax_forward, lambda: dict(logits=LOGITS, temperature=1.0, u=U_ROWS),
                        {"logits": "logits", "temperature": "positive", "u": "noise"}, False),
    "reinmax_backward": (R.reinmax_backward, lambda: dict(dz=G, cache=_reinmax_cache()), {"dz": "grad", "cache": "cache"}, False),
    "gumbel_rao_forward": (R.gumbel_rao_forward, lambda: dict(logits=LOGITS, temperature=0.5, samples=2, u=U_RAO),
                           {"logits": "logits", "temperature": "positive", "samples": "int", "u": "noise"}, False),
    "gumbel_rao_backward": (R.gumbel_rao_backward, lambda: dict(dz=G, cache=_gumbel_rao_cache()),
                            {"dz": "grad", "cache": "cache"}, False),
    "sigmoid": (R.sigmoid, lambda: dict(x=LOGITS), {"x": "logits"}, False),
    "sigmoid_backward": (R.sigmoid_backward, lambda: dict(dy=G, y=R.sigmoid(LOGITS)), {"dy": "grad", "y": "array"}, False),
    "bernoulli_kl": (R.bernoulli_kl, lambda: dict(p=PROBS, q=PROBS[::-1]), {"p": "probs", "q": "probs"}, True),
    "bernoulli_kl_backward": (R.bernoulli_kl_backward, lambda: dict(dout=np.ones_like(PROBS), p=PROBS, q=PROBS[::-1]),
                              {"dout": "grad", "p": "probs", "q": "probs"}, True),
    "bernoulli_ils_forward": (R.bernoulli_ils_forward, lambda: dict(logits=LOGITS, u=U_FULL), {"logits": "logits", "u": "noise"}, False),
    "bernoulli_ils_backward": (R.bernoulli_ils_backward, lambda: dict(db=G, cache=_bernoulli_cache(), alpha=0.1),
                               {"db": "grad", "cache": "cache", "alpha": "scalar"}, False),
    "gaussian_kl": (R.gaussian_kl, lambda: dict(mean_p=G, mean_q=LOGITS, sigma=0.5),
                    {"mean_p": "array", "mean_q": "array", "sigma": "positive"}, False),
    "gaussian_kl_backward": (R.gaussian_kl_backward, lambda: dict(dout=np.ones_like(G), mean_p=G, mean_q=LOGITS, sigma=0.5),
                             {"dout": "grad", "mean_p": "array", "mean_q": "array", "sigma": "positive"}, False),
    "gaussian_ils_forward": (R.gaussian_ils_forward, lambda: dict(mu=LOGITS, sigma=0.7, u=U_FULL),
                             {"mu": "array", "sigma": "positive", "u": "noise"}, False),
    "gaussian_ils_backward": (R.gaussian_ils_backward, lambda: dict(dz=G, cache=_gaussian_cache(), alpha=0.1),
                              {"dz": "grad", "cache": "cache", "alpha": "scalar"}, False),
    "make_problem": (P.make_problem, lambda: dict(name="bernoulli-quadratic", target=0.45, seed=0),
                     {"target": "scalar", "seed": "int"}, False),
    "bernoulli_quadratic": (P.bernoulli_quadratic, lambda: dict(t=0.45, logits=np.zeros(2)), {"t": "scalar", "logits": "logits"}, False),
    "make_toy1": (P.make_toy1, lambda: dict(target=PROBS, logits=LOGITS, smoothing=1e-8),
                  {"target": "probs", "logits": "logits", "smoothing": "positive"}, False),
    "make_linear": (P.make_linear, lambda: dict(c=G, logits=LOGITS), {"c": "array", "logits": "logits"}, False),
    "make_quadratic": (P.make_quadratic, lambda: dict(a=np.stack([np.outer(g, g) for g in G]), b=G, logits=LOGITS),
                       {"a": "array", "b": "array", "logits": "logits"}, False),
    "exact_gradient": (P.exact_gradient, lambda: dict(problem=P.linear(rows=2, categories=3), logits=LOGITS), {"logits": "logits"}, False),
    "check_unbiased": (S.check_unbiased, lambda: dict(estimator=E.reinforce(), problem=P.linear(), n_samples=50),
                       {"n_samples": "int", "seed": "int", "level": "scalar", "resolution": "positive"}, True),
    "compare": (compare, lambda: dict(problem=P.bernoulli_quadratic(), estimators=[E.reinforce()], n_samples=20),
                {"n_samples": "int", "seed": "int"}, True),
    "estimators.ils": (E.ils, lambda: dict(alpha=0.1), {"alpha": "scalar"}, False),
    "estimators.gumbel": (E.gumbel, lambda: dict(temperature=1.0), {"temperature": "positive"}, False),
    "estimators.reinforce_loo": (E.reinforce_loo, lambda: dict(group=4), {"group": "int"}, False),
    "estimators.gumbel_rao": (E.gumbel_rao, lambda: dict(temperature=0.5, samples=3), {"temperature": "positive", "samples": "int"}, False),
    "estimators.reinmax": (E.reinmax, lambda: dict(temperature=1.0), {"temperature": "positive"}, False),
    "train": (X.train, lambda: dict(settings=[X.Setting("ils", 0.1)], targets=PROBS[None, None], logits=LOGITS[None, None], steps=3),
              {"targets": "probs", "logits": "logits", "steps": "int", "lr": "positive", "smoothing": "positive", "seed": "int"}, False),
    "reproduce.run": (RP.run, lambda: dict(steps=3, seeds=1), {"steps": "int", "seeds": "int", "lr": "positive"}, False),
    "numerical_jacobian": (R.numerical_jacobian, lambda: dict(f=R.softmax, x=LOGITS), {"x": "array", "eps": "positive"}, False),
    "check_vjp": (R.check_vjp, lambda: dict(f=R.softmax, vjp=lambda x, dy: R.softmax_backward(dy, R.softmax(x)), x=LOGITS),
                  {"x": "array", "eps": "positive", "rtol": "scalar", "atol": "scalar"}, True),  # rel. error may be inf
}


def outputs(result):
    """Every array in a result (tuples, caches and reports included), as float arrays."""
    if result is None:
        return []
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in outputs(r)]
    if hasattr(result, "__dataclass_fields__"):  # caches echo their inputs (±inf logits are legal input)
        fields = [f for f in result.__dataclass_fields__ if f not in ("logits", "mu")]
        return [a for name in fields for a in outputs(getattr(result, name))]
    if isinstance(result, (float, int, np.floating, np.integer, np.ndarray)):
        arr = np.asarray(result)
        return [arr.astype(np.float64)] if arr.dtype.kind in "iuf" else []
    return []


def check_contract(name, fn, kwargs, arg, inf_ok):
    """Call ``fn``; it must return a sound result or raise ValueError/TypeError naming ``arg``."""
    try:
        result = fn(**kwargs)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        assert arg in text or arg == "cache" or "exactly one of u" in text, f"{name}({arg}=...): message does not name {arg!r}: {text}"
        return "raised"
    for out in outputs(result):
        assert not np.isnan(out).any(), f"{name}({arg}=...) returned NaN"
        if not inf_ok:
            assert np.isfinite(out).all(), f"{name}({arg}=...) returned inf"
    return "returned"
