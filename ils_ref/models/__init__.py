"""Models whose exact gradient is known: the toy problems and a categorical VAE, with its data.

* :mod:`.problems` — losses per row ``f(z)`` (linear, Bernoulli quadratic,
  quadratic, the post's toy experiment) whose objective and gradient are
  exact by enumerating the outcomes, and the relaxed objective ``f(π)``; the
  experiments train on them and the statistical check measures estimators
  against them.

* :mod:`.mlp` — the pieces of a small MLP (linear, tanh, Bernoulli
  likelihood), each forward pass with its backward pass.
* :mod:`.vae` — the categorical VAE: encoder, decoder, the exact negative
  ELBO and its gradient by enumerating every latent configuration, and the
  decoder's loss as a *problem* that every estimator can train on.
* :mod:`.glyphs` — binarised digit glyphs rendered from matplotlib's fonts,
  seeded, with a train/test split.

Imports: :mod:`ils_ref.ops` and the foundation (:mod:`ils_ref.validation`) only;
:mod:`ils_ref.experiments.vae` trains the model with the estimators.
"""
