"""Layer 2, the estimators: ILS (Algorithm 1) and the estimators it is measured against.

* :mod:`.ils` — Intermediate Loss Sampling, forward and backward (start here);
  :mod:`.ils_expansion` its expansion to first order in α;
  :mod:`.intermediate` its pluggable ``h`` and ``L_I``; :mod:`.ils_training` the
  kernel of the toy experiment's training loop (the same numbers in fewer
  passes; :func:`ils_ref.ils_backward` runs the readable one).
* :mod:`.gumbel` — Gumbel-softmax, soft and straight-through; :mod:`.gumbel_rao` its
  Rao-Blackwellised straight-through; :mod:`.reinmax` ReinMax.
* :mod:`.bernoulli`, :mod:`.gaussian` — ILS beyond categorical draws.
* :mod:`.interface` — every estimator behind one interface
  (``Estimator(logits, problem, rng, n)``), REINFORCE included, and the exact
  expectation of ILS and of its first-order term.

Imports: :mod:`ils_ref.ops` and :mod:`ils_ref.validation` only.
"""
