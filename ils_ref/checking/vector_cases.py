"""The cases of the reference vectors, op by op (:mod:`ils_ref.checking.vectors` assembles them).

Every case is ``{"op", "inputs", "expected", "note"}`` (plus ``layout`` where
the inputs are handed over in another memory layout, and for ``ils_backward``
``expected_signed``).  The cases of version 2 come first, from the same seed
in the same order, so they keep their bytes; the cases added in version 3
come from a second seed.
"""

from __future__ import annotations

import numpy as np

from ..estimators.bernoulli import bernoulli_ils_backward, bernoulli_ils_forward
from ..estimators.gaussian import gaussian_ils_backward, gaussian_ils_forward
from ..estimators.gumbel import gumbel_softmax_backward, gumbel_softmax_forward
from ..estimators.gumbel_rao import gumbel_rao_backward, gumbel_rao_forward
from ..estimators.ils import ils_backward, ils_cache
from ..estimators.reinmax import reinmax_backward, reinmax_forward
from ..ops.divergence import kl_divergence_backward
from ..ops.normalization import normalize, normalize_backward
from ..ops.sampling import sample_categorical
from ..ops.softmax import softmax, softmax_backward


def logit_settings(rng):
    """Batch shapes and logit regimes shared by the ILS and softmax cases."""
    return [
        ("flat", (4, 5), 0.01 * rng.normal(size=(4, 5))),
        ("moderate", (3, 6), rng.normal(size=(3, 6))),
        ("near one-hot", (2, 4), np.array([[12.0, 0.0, -1.0, 0.5], [-3.0, 15.0, 0.0, 1.0]])),
        ("tiny probabilities", (2, 5), np.array([[0.0, -30.0, -25.0, -40.0, 1.0], [-35.0, 0.0, 2.0, -28.0, -33.0]])),
        ("batch (2, 2, 3)", (2, 2, 3), rng.normal(size=(2, 2, 3))),
        ("single row", (7,), rng.normal(size=7)),
    ]


def ils_cases(rng, prototype: bool):
    cases = []
    for label, shape, logits in logit_settings(rng):
        probs = softmax(logits)
        if label == "near one-hot":
            index = np.argmax(probs, axis=-1)  # the draw that actually happens
        else:
            index = np.asarray(sample_categorical(probs, u=rng.random(shape[:-1])))
        for alpha in (0.1, 0.01, 0.001):
            # small gradients for the prototype keep Σ(z - αΔ) > 0 under its "signed" arithmetic
            dz = rng.normal(size=shape) * (0.5 if prototype else 2.0)
            if alpha == 0.01:
                # the drawn category gets the largest gradient: z - αΔ >= 0, no policy involved
                top = dz.max(axis=-1, keepdims=True) + 0.5
                np.put_along_axis(dz, index[..., None], top, axis=-1)
            cache = ils_cache(logits, index)
            kwargs = dict(prototype=True, policy="signed") if prototype else {}
            note = f"{label}, alpha={alpha}"  # what the policy does with z - alpha*Delta is said when checked
            case = {
                "op": "ils_backward_prototype" if prototype else "ils_backward",
                "inputs": {"logits": logits, "index": index, "dz": dz, "alpha": alpha},
                "expected": {"dlogits": ils_backward(dz, cache, alpha, **kwargs)},
                "note": note,
            }
            if not prototype:
                try:  # the literal algorithm: pi_D = h(z - alpha*Delta) unclipped
                    case["expected_signed"] = {"dlogits": ils_backward(dz, cache, alpha, policy="signed")}
                except ValueError:  # sum(z - alpha*Delta) <= 0 in some row: pi_D is undefined there
                    case["expected_signed"] = None
            cases.append(case)
    return cases


def gumbel_cases(rng):
    cases = []
    for temperature in (0.1, 1.0, 10.0):
        for hard in (False, True):
            logits = rng.normal(size=(3, 5))
            u = rng.uniform(0.01, 0.99, size=logits.shape)
            dy = rng.normal(size=logits.shape)
            y, cache = gumbel_softmax_forward(logits, temperature, u=u, hard=hard)
            cases.append(
                {
                    "op": "gumbel_softmax",
                    "inputs": {"logits": logits, "u": u, "temperature": temperature, "hard": hard, "dy": dy},
                    "expected": {"y": y, "dlogits": gumbel_softmax_backward(dy, cache)},
                    "note": f"T={temperature}, {'straight-through' if hard else 'soft'}",
                }
            )
    return cases


def sampling_cases(rng):
    cases = []
    for k, rows in ((2, 6), (5, 8), (10, 4), (100, 3), (300, 3)):
        probs = softmax(rng.normal(size=(rows, k)) * 2.0)
        cdf = np.cumsum(probs, axis=-1)
        u = rng.random(rows)
        # keep u away from every cumulative sum so the order of additions cannot matter
        for _ in range(100):
            close = np.min(np.abs(cdf - u[:, None]), axis=-1) < 1e-9
            if not close.any():
                break
            u[close] = rng.random(int(close.sum()))
        cases.append(
            {
                "op": "sample_categorical",
                "inputs": {"probs": probs, "u": u},
                "expected": {"index": sample_categorical(probs, u=u)},
                "note": f"K={k}",
            }
        )
    return cases


def primitive_cases(rng):
    cases = []
    for label, shape, logits in logit_settings(rng)[:5]:
        y = softmax(logits)
        dy = rng.normal(size=shape)
        cases.append(
            {
                "op": "softmax_backward",
                "inputs": {"dy": dy, "y": y},
                "expected": {"dx": softmax_backward(dy, y)},
                "note": label,
            }
        )
        p = normalize(rng.uniform(0.01, 1.0, size=shape))
        q = normalize(rng.uniform(0.01, 1.0, size=shape))
        dout = rng.normal(size=shape[:-1])
        dp, dq = kl_divergence_backward(dout, p, q)
        cases.append(
            {
                "op": "kl_divergence_backward",
                "inputs": {"dout": dout, "p": p, "q": q},
                "expected": {"dp": dp, "dq": dq},
                "note": label,
            }
        )
        z = rng.uniform(0.1, 2.0, size=shape)
        cases.append(
            {
                "op": "normalize_backward",
                "inputs": {"dy": dy, "z": z},
                "expected": {"dz": normalize_backward(dy, z)},
                "note": label,
            }
        )
    return cases


def _draw(rng, logits):
    """A category per row, drawn from softmax(logits) (never a masked one)."""
    probs = softmax(logits)
    return np.asarray(sample_categorical(probs, u=rng.random(probs.shape[:-1])))


def _ils_case(op, label, logits, index, dz, alpha, **extra):
    cache = ils_cache(logits, index)
    alpha_arg = alpha if np.ndim(alpha) else float(alpha)
    case = {"op": op, "inputs": {"logits": logits, "index": index, "dz": dz, "alpha": alpha_arg}, "note": label, **extra}
    if op == "ils_backward_squared_error":
        case["expected"] = {"dlogits": ils_backward(dz, cache, alpha_arg, loss="squared_error")}
        return case
    case["expected"] = {"dlogits": ils_backward(dz, cache, alpha_arg)}
    try:
        case["expected_signed"] = {"dlogits": ils_backward(dz, cache, alpha_arg, policy="signed")}
    except ValueError:  # sum(z - alpha*Delta) <= 0 in some row: pi_D is undefined there
        case["expected_signed"] = None
    return case


def ils_cases_v3(rng):
    """Masked categories, one alpha per row, K = 2 and K = 128, and inputs in Fortran order and strided."""
    inf = -np.inf
    masked = np.array([[0.0, inf, 0.0], [1.5, inf, inf], [inf, -0.5, 0.3], [0.2, 0.1, inf]])
    cases = [_ils_case("ils_backward", "masked categories (logit -inf), dz non-zero there, alpha=0.5", masked,
                       _draw(rng, masked), rng.normal(size=masked.shape) * 5.0, 0.5)]
    cases.append(_ils_case("ils_backward", "the README's masked row: logits [0, -inf, 0], dz [0, -5, 0], index 0, alpha=0.1",
                           np.array([0.0, inf, 0.0]), np.array(0), np.array([0.0, -5.0, 0.0]), 0.1))
    logits = rng.normal(size=(5, 4))
    cases.append(_ils_case("ils_backward", "one alpha per row (shape (5,)): 0, 0.001, 0.1, 1, 10", logits,
                           _draw(rng, logits), rng.normal(size=(5, 4)) * 2.0, np.array([0.0, 1e-3, 0.1, 1.0, 10.0])))
    logits = rng.normal(size=(8, 2))
    cases.append(_ils_case("ils_backward", "K = 2, alpha=0.3", logits, _draw(rng, logits), rng.normal(size=(8, 2)) * 2.0, 0.3))
    logits = rng.normal(size=(3, 128)) * 2.0
    cases.append(_ils_case("ils_backward", "K = 128, alpha=0.05", logits, _draw(rng, logits), rng.normal(size=(3, 128)), 0.05))
    for layout, shape in (("F", (4, 6)), ("strided", (2, 3, 5))):
        logits = rng.normal(size=shape)
        what = "Fortran order" if layout == "F" else "every other column of a wider array (contiguous in neither order)"
        cases.append(_ils_case("ils_backward", f"inputs handed over in {what}, alpha=0.2", logits, _draw(rng, logits),
                               rng.normal(size=shape) * 2.0, 0.2, layout=layout))
    for label, shape, logits in logit_settings(rng)[:4]:
        cases.append(_ils_case("ils_backward_squared_error", f"{label}, alpha=0.5", logits, _draw(rng, logits),
                               rng.normal(size=shape) * 2.0, 0.5))
    logits = rng.normal(size=(5, 4))
    cases.append(_ils_case("ils_backward_squared_error", "one alpha per row", logits, _draw(rng, logits),
                           rng.normal(size=(5, 4)), np.array([0.0, 0.01, 0.1, 1.0, 10.0])))
    return cases


def estimator_cases(rng):
    """ReinMax, Gumbel-Rao (its noise given), straight-through, Bernoulli ILS and Gaussian ILS."""
    cases = []
    for temperature, shape in ((1.0, (3, 5)), (0.5, (2, 4)), (2.0, (2, 2, 3)), (1.0, (6,))):
        logits = rng.normal(size=shape)
        z, cache = reinmax_forward(logits, temperature, u=rng.random(shape[:-1]))
        dz = rng.normal(size=shape)
        cases.append({"op": "reinmax", "inputs": {"logits": logits, "index": cache.index, "dz": dz, "temperature": temperature},
                      "expected": {"dlogits": reinmax_backward(dz, cache)}, "note": f"T={temperature}, shape {shape}"})
    for temperature, samples, shape in ((1.0, 1, (3, 5)), (0.5, 4, (2, 4)), (2.0, 10, (2, 2, 3))):
        logits = rng.normal(size=shape)
        u = rng.uniform(0.001, 0.999, size=(samples + 1,) + shape)
        z, cache = gumbel_rao_forward(logits, temperature, samples, u=u)
        dz = rng.normal(size=shape)
        cases.append({"op": "gumbel_rao", "inputs": {"logits": logits, "u": u, "temperature": temperature, "dz": dz},
                      "expected": {"z": z, "dlogits": gumbel_rao_backward(dz, cache)},
                      "note": f"T={temperature}, M={samples} perturbations (u has {samples + 1} rows)"})
    for label, shape, logits in logit_settings(rng)[1:]:
        dz = rng.normal(size=shape)
        cases.append({"op": "straight_through", "inputs": {"logits": logits, "index": _draw(rng, logits), "dz": dz},
                      "expected": {"dlogits": softmax_backward(dz, softmax(logits))}, "note": label})
    for alpha, shape in ((0.1, (6,)), (1.0, (2, 3)), ("per bit", (5,))):
        logits = rng.normal(size=shape) * 2.0
        b, cache = bernoulli_ils_forward(logits, u=rng.random(shape))
        db = rng.normal(size=shape) * 2.0
        step = np.array([0.0, 0.01, 0.1, 1.0, 5.0]) if alpha == "per bit" else alpha
        cases.append({"op": "bernoulli_ils", "inputs": {"logits": logits, "b": b, "db": db, "alpha": step},
                      "expected": {"dlogits": bernoulli_ils_backward(db, cache, step)}, "note": f"alpha {alpha}, shape {shape}"})
    for alpha, shape in ((0.1, (6,)), (1.0, (2, 3)), ("per entry", (5,))):
        mu, sigma = rng.normal(size=shape) * 3.0, rng.uniform(0.1, 2.0, size=shape)
        u = rng.uniform(0.01, 0.99, size=shape)
        z, cache = gaussian_ils_forward(mu, sigma, u=u)
        dz = rng.normal(size=shape)
        step = np.array([0.0, 0.01, 0.1, 1.0, 5.0]) if alpha == "per entry" else alpha
        cases.append({"op": "gaussian_ils", "inputs": {"mu": mu, "sigma": sigma, "eps": cache.eps, "dz": dz, "alpha": step},
                      "expected": {"dmu": gaussian_ils_backward(dz, cache, step)}, "note": f"alpha {alpha}, shape {shape}"})
    return cases
