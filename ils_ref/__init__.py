"""ils_ref: a pure-NumPy reference implementation of Intermediate Loss Sampling.

Every forward pass has its hand-written backward pass beside it, and every
backward pass is checked against finite differences (:mod:`ils_ref.gradcheck`).

The package is layered; each layer imports only the ones below it:

* :mod:`ils_ref.ops`          softmax, sigmoid, divergences, ``h(z) = z/Σz``, sampling
* :mod:`ils_ref.estimators`   ILS (Algorithm 1), Gumbel-softmax, Gumbel-Rao, ReinMax, Bernoulli
                              and Gaussian ILS, every estimator behind one interface
* :mod:`ils_ref.models`       problems whose exact gradient is known: the toy losses, and a
                              categorical VAE whose ELBO gradient is exact, with its data
* :mod:`ils_ref.checking`     estimators against exact answers: the statistical check,
                              reference vectors and ``ils-ref check``, the self-check
* :mod:`ils_ref.experiments`  toy experiment 1, ``ils-ref reproduce``, ``ils-ref compare``,
                              ``ils-ref vae``
* :mod:`ils_ref.cli`          the ``ils-ref`` command line
* :mod:`ils_ref.tutorial`     what the tutorials share: quick mode, figures, checked claims,
                              and ``show_source`` (library code printed from the installed file)

beside a foundation every layer uses: :mod:`ils_ref.validation` (argument
checks by role) and :mod:`ils_ref.formatting` (text tables, JSON), and, on the
floor just above it, the general-purpose gradient checker :mod:`ils_ref.gradcheck`
(:func:`check_vjp` for any ``f`` and ``vjp``; it knows nothing of ILS).  Reading
order for the method: ``ops/softmax.py``, ``ops/normalization.py``, then
``estimators/ils.py``.

Arrays are float64; the category axis is the last axis; leading axes are batch
axes.  Integer and float32 input is converted to float64.
"""

from .estimators.bernoulli import (
    BernoulliCache,
    bernoulli_ils_backward,
    bernoulli_ils_forward,
)
from .estimators.gaussian import (
    GaussianCache,
    gaussian_ils_backward,
    gaussian_ils_forward,
)
from .estimators.gumbel import (
    GumbelCache,
    gumbel_softmax_backward,
    gumbel_softmax_forward,
)
from .estimators.gumbel_rao import gumbel_rao_backward, gumbel_rao_forward
from .estimators.ils import (
    ILSCache,
    ILSStep,
    ils_backward,
    ils_cache,
    ils_forward,
    ils_step,
)
from .estimators.ils_expansion import ils_first_order
from .estimators.reinmax import ReinMaxCache, reinmax_backward, reinmax_forward
from .gradcheck import VJPReport, assert_vjp, check_vjp, numerical_jacobian
from .ops.divergence import (
    bernoulli_kl,
    bernoulli_kl_backward,
    gaussian_kl,
    gaussian_kl_backward,
    kl_divergence,
    kl_divergence_backward,
)
from .ops.normalization import normalize, normalize_backward
from .ops.sampling import gumbel_noise, one_hot, sample_categorical
from .ops.sigmoid import sigmoid, sigmoid_backward
from .ops.softmax import log_softmax, log_softmax_backward, softmax, softmax_backward
from .version import __version__  # re-exported

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
    "ils_first_order",
    "ILSCache",
    "ILSStep",
    "gumbel_softmax_forward",
    "gumbel_softmax_backward",
    "GumbelCache",
    "gumbel_rao_forward",
    "gumbel_rao_backward",
    "reinmax_forward",
    "reinmax_backward",
    "ReinMaxCache",
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
