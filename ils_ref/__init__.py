"""ils_ref: a pure-NumPy reference implementation of Intermediate Loss Sampling.

Every forward pass has its hand-written backward pass beside it, and every
backward pass is checked against finite differences (:mod:`ils_ref.gradcheck`).

Modules, in reading order:

* :mod:`ils_ref.softmax`        softmax, log-softmax and their backward passes
* :mod:`ils_ref.divergence`     KL divergence and its backward pass
* :mod:`ils_ref.normalization`  ``h(z) = z / Σz`` and its backward pass
* :mod:`ils_ref.sampling`       exact categorical draws, one-hot vectors, Gumbel noise
* :mod:`ils_ref.intermediate`   the pluggable ``h`` and ``L_I`` of Algorithm 1
* :mod:`ils_ref.ils`            Intermediate Loss Sampling, forward and backward
* :mod:`ils_ref.gumbel`         Gumbel-softmax, soft and straight-through
* :mod:`ils_ref.bernoulli`      sigmoid, Bernoulli KL and Bernoulli ILS
* :mod:`ils_ref.gaussian`       Gaussian KL and Gaussian ILS for the mean
* :mod:`ils_ref.problems`       test problems with exact gradients by enumeration
* :mod:`ils_ref.estimators`     ILS, Gumbel, straight-through, REINFORCE behind one interface
* :mod:`ils_ref.statcheck`      is a stochastic estimator unbiased? a statistical check
* :mod:`ils_ref.compare`        every estimator on one problem, as a table
* :mod:`ils_ref.gradcheck`      finite-difference Jacobians and VJP checks
* :mod:`ils_ref.selfcheck`      every backward pass of the package, checked
* :mod:`ils_ref.cli`            the ``ils-ref`` command line

Arrays are float64; the category axis is the last axis; leading axes are batch
axes.  Integer and float32 input is converted to float64.
"""

__version__ = "0.1.0"

from .bernoulli import (
    BernoulliCache,
    bernoulli_ils_backward,
    bernoulli_ils_forward,
    bernoulli_kl,
    bernoulli_kl_backward,
    sigmoid,
    sigmoid_backward,
)
from .divergence import kl_divergence, kl_divergence_backward
from .gaussian import GaussianCache, gaussian_ils_backward, gaussian_ils_forward, gaussian_kl, gaussian_kl_backward
from .gradcheck import VJPReport, assert_vjp, check_vjp, numerical_jacobian
from .gumbel import GumbelCache, gumbel_softmax_backward, gumbel_softmax_forward
from .ils import ILSCache, ILSStep, ils_backward, ils_cache, ils_forward, ils_step
from .normalization import normalize, normalize_backward
from .sampling import gumbel_noise, one_hot, sample_categorical
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "__version__",
    "softmax",
    "softmax_backward",
    "log_softmax",
    "log_softmax_backward",
    "kl_divergence",
    "kl_divergence_backward",
    "normalize",
    "normalize_backward",
    "sample_categorical",
    "one_hot",
    "gumbel_noise",
    "ils_forward",
    "ils_backward",
    "ils_step",
    "ils_cache",
    "ILSCache",
    "ILSStep",
    "gumbel_softmax_forward",
    "gumbel_softmax_backward",
    "GumbelCache",
    "sigmoid",
    "sigmoid_backward",
    "bernoulli_kl",
    "bernoulli_kl_backward",
    "bernoulli_ils_forward",
    "bernoulli_ils_backward",
    "BernoulliCache",
    "gaussian_kl",
    "gaussian_kl_backward",
    "gaussian_ils_forward",
    "gaussian_ils_backward",
    "GaussianCache",
    "numerical_jacobian",
    "check_vjp",
    "assert_vjp",
    "VJPReport",
]
