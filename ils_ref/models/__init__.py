"""Layer 2½, models: a categorical VAE small enough that its ELBO gradient is exact, and its data.

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
