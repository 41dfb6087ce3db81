"""The general-purpose gradient checker: any ``f`` and ``vjp`` on float64 arrays.

This floor knows nothing about ILS or about any estimator: it imports the
foundation (:mod:`ils_ref.validation`, :mod:`ils_ref.formatting`) and nothing
else, so it checks your PyTorch/JAX/TF backward passes as readily as ours.

* :mod:`.vjp` — :func:`check_vjp` and :func:`assert_vjp`: the steps of a check,
  in order; :class:`VJPReport` (:mod:`.report`) is what they return.
* :mod:`.core` — what a comparison proves, linearity, the verdict (one module
  decides).
* :mod:`.screen` (random projections, bisection to a wrong entry),
  :mod:`.projections` (one projection against ``f``), :mod:`.entries` (every
  entry, columns grouped by sparsity), :mod:`.steps` (steps that fit the
  function), :mod:`.drilldown` (what follows a screen that did not pass).
* :mod:`.calls` and :mod:`.inputs` — calling the user's functions on one flat
  vector, with a budget.
* :mod:`.finite_differences` — :func:`numerical_jacobian`.
"""

from .finite_differences import numerical_jacobian
from .report import VJPReport
from .vjp import assert_vjp, check_vjp

__all__ = ["check_vjp", "assert_vjp", "VJPReport", "numerical_jacobian"]
