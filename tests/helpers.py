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


def layouts(arr):
    """The same values as ``arr`` in six memory layouts: ``{name: array}``.

    C order, Fortran order, a transposed view of a C array, a strided view
    (every other element of a larger array), a negative-stride view and a
    read-only array.  A function must give the same answer for all of them.
    """
    arr = np.asarray(arr)
    strided = np.zeros(tuple(2 * n for n in arr.shape), dtype=arr.dtype)
    strided[tuple(slice(None, None, 2) for _ in arr.shape)] = arr
    flipped = np.ascontiguousarray(arr[..., ::-1])
    readonly = arr.copy()
    readonly.flags.writeable = False
    return {
        "C": np.ascontiguousarray(arr),
        "F": np.asfortranarray(arr),
        "transposed": np.ascontiguousarray(arr.T).T,
        "strided": strided[tuple(slice(None, None, 2) for _ in arr.shape)],
        "negative-stride": flipped[..., ::-1],
        "read-only": readonly,
    }
