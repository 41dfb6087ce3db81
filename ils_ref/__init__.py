"""ils_ref: a pure-NumPy reference implementation of Intermediate Loss Sampling.

Every forward pass has its hand-written backward pass beside it, and every
backward pass is checked against finite differences (:mod:`ils_ref.gradcheck`).

Modules, in reading order:

* :mod:`ils_ref.softmax`        softmax, log-softmax and their backward passes
* :mod:`ils_ref.divergence`     KL divergence and its backward pass
* :mod:`ils_ref.normalization`  ``h(z) = z / Σz`` and its backward pass
* :mod:`ils_ref.gradcheck`      finite-difference Jacobians and VJP checks
* :mod:`ils_ref.selfcheck`      every backward pass of the package, checked
* :mod:`ils_ref.cli`            the ``ils-ref`` command line

Arrays are float64; the category axis is the last axis; leading axes are batch
axes.  Integer and float32 input is converted to float64.
"""

__version__ = "0.1.0"

from .divergence import kl_divergence, kl_divergence_backward
from .gradcheck import VJPReport, assert_vjp, check_vjp, numerical_jacobian
from .normalization import normalize, normalize_backward
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
    "numerical_jacobian",
    "check_vjp",
    "assert_vjp",
    "VJPReport",
]
