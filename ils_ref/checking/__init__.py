"""Checking this package's estimators, and other implementations of them, against exact answers.

(The general-purpose finite-difference checker, :func:`check_vjp`, is its own
floor below: :mod:`ils_ref.gradcheck`.)

* :mod:`.statcheck` — is a stochastic estimator unbiased?  Its mean against
  the exact gradient of a problem (:mod:`ils_ref.models.problems`).
* ``ils-ref check``: :mod:`.signatures` (what is called, op by op),
  :mod:`.vectors` and :mod:`.vector_cases` (the reference vectors),
  :mod:`.conformance` (judging what came back), :mod:`.diagnosis` (naming a
  failing implementation's mistake), :mod:`.isolated` (the parent: a child
  process per check, the verdict kept here), :mod:`.runner` (the child: calls
  the function, sends arrays), :mod:`.wire` (their message format, no pickle),
  :mod:`.statistical` (a whole estimator that draws for itself).
* :mod:`.selfcheck` — every backward pass of the package, checked.

Imports: :mod:`ils_ref.gradcheck`, :mod:`ils_ref.models`, :mod:`ils_ref.estimators`, :mod:`ils_ref.ops` and the foundation
(:mod:`ils_ref.validation`, :mod:`ils_ref.formatting`) only.
"""
