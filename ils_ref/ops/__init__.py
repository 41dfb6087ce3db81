"""Layer 1, the primitives: softmax, sigmoid, divergences, normalisation, sampling.

Each module pairs every forward function with its hand-written backward pass
(a vector-Jacobian product), the math in the docstring.  A public function
checks its arguments (:func:`ils_ref.validation.checked`; its noise is drawn by
:func:`ils_ref.ops.sampling.uniform`) and then applies the formula; the formulas that higher layers reuse on arrays they have
already checked are named ``*_kernel``.

Imports: NumPy, SciPy and :mod:`ils_ref.validation` only.
"""
