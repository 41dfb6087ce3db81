"""Helpers shared by the test modules (imported as ``helpers``)."""

import numpy as np

from ils_ref import numerical_jacobian


def jacobian_from_vjp(vjp, x, y_shape):
    """The analytic Jacobian, one VJP per output entry: shape ``y_shape + x.shape``."""
    m = int(np.prod(y_shape, dtype=int))
    rows = [vjp(x, np.eye(m)[i].reshape(y_shape)) for i in range(m)]
    return np.stack(rows).reshape(tuple(y_shape) + x.shape)


def assert_backward_matches_fd(f, vjp, x, rtol=1e-6, atol=1e-8):
    """Every Jacobian entry from the backward pass agrees with central differences."""
    x = np.asarray(x, dtype=np.float64)
    y_shape = np.shape(f(x))
    numeric = numerical_jacobian(f, x)
    analytic = jacobian_from_vjp(vjp, x, y_shape)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
