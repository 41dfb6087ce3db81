"""Layer 3, checking: gradients against finite differences, estimators against exact answers.

* :mod:`.gradcheck` — :func:`check_vjp`; :mod:`.core` holds its algorithm (what
  a comparison proves, linearity, the verdict), built on :mod:`.screen` (random
  projections, bisection), :mod:`.projections` (one projection against ``f``),
  :mod:`.entries` (every entry, columns grouped by
  sparsity), :mod:`.steps` (steps that fit the function), :mod:`.drilldown`
  (what follows a screen that did not pass), :mod:`.report`, :mod:`.calls` and
  :mod:`.inputs` (calling the user's functions on one flat vector);
  :mod:`.finite_differences` holds :func:`numerical_jacobian`.
* :mod:`.problems` — objectives whose exact gradient is known by enumerating
  the outcomes; :mod:`.statcheck` — is a stochastic estimator unbiased?
* :mod:`.vectors`, :mod:`.conformance` — reference vectors and ``ils-ref check``;
  :mod:`.diagnosis` names a failing implementation's mistake, :mod:`.isolated`
  runs it in a child process, :mod:`.statistical` checks a whole estimator.
* :mod:`.selfcheck` — every backward pass of the package, checked.

Imports: :mod:`ils_ref.estimators`, :mod:`ils_ref.ops` and the foundation
(:mod:`ils_ref.validation`, :mod:`ils_ref.formatting`) only.
"""
