"""Helpers shared by the test modules (imported as ``helpers``)."""

import numpy as np

from ils_ref import numerical_jacobian


def jacobian_from_vjp(vjp, x, y_shape):
    """The analytic Jacobian from one batched VJP call: shape ``y_shape + x.shape``.

    ``vjp(x, dy)`` must accept a stack of cotangents ``dy`` of shape
    ``(m,) + y_shape`` (one basis vector per output entry) and return
    ``(m,) + x.shape``.
    """
    m = int(np.prod(y_shape, dtype=int))
    basis = np.eye(m).reshape((m,) + tuple(y_shape))
    return np.asarray(vjp(x, basis)).reshape(tuple(y_shape) + x.shape)


def assert_backward_matches_fd(f, vjp, x, rtol=1e-6, atol=1e-8):
    """Every Jacobian entry from the backward pass agrees with central differences."""
    x = np.asarray(x, dtype=np.float64)
    y_shape = np.shape(f(x))
    numeric = numerical_jacobian(f, x, batched=True)
    analytic = jacobian_from_vjp(vjp, x, y_shape)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
