"""Layer 4, experiments: the post's toy experiment and estimator comparisons.

* :mod:`.toy1` — toy experiment 1 as one vectorised SGD loop over settings and seeds.
* :mod:`.reproduce`, :mod:`.figures` — ``ils-ref reproduce``: the faithful and
  fair runs, the summary table, the figures.
* :mod:`.compare` — ``ils-ref compare``: every estimator on one problem, as a table.
* :mod:`.fixedpoint` — ``ils-ref fixedpoint``: where each estimator's exact expected gradient leads.
* :mod:`.vae`, :mod:`.vae_report`, :mod:`.vae_figures` — ``ils-ref vae``: every estimator trains the
  categorical VAE of :mod:`ils_ref.models.vae` at every rate of a grid, measured against its exact
  ELBO gradient; the table, the harness check and the JSON; the figures.

Imports: any lower layer (:mod:`ils_ref.checking`, :mod:`ils_ref.models`,
:mod:`ils_ref.estimators`, :mod:`ils_ref.ops`, the foundation); the command line (:mod:`ils_ref.cli`) sits above.
"""
