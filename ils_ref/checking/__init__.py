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
* ``ils-ref check``: :mod:`.signatures` (what is called, op by op),
  :mod:`.vectors` and :mod:`.vector_cases` (the reference vectors),
  :mod:`.conformance` (judging what came back), :mod:`.diagnosis` (naming a
  failing implementation's mistake), :mod:`.isolated` (the parent: a child
  process per check, the verdict kept here), :mod:`.runner` (the child: calls
  the function, sends arrays), :mod:`.wire` (their message format, no pickle),
  :mod:`.statistical` (a whole estimator that draws for itself).
* :mod:`.selfcheck` — every backward pass of the package, checked.

Imports: :mod:`ils_ref.estimators`, :mod:`ils_ref.ops` and the foundation
(:mod:`ils_ref.validation`, :mod:`ils_ref.formatting`) only.
"""
