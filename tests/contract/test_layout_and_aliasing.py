"""Every public function: the same answer in any memory layout, and no returned array shared.

A red team found that ``ils_backward`` returned a wrong gradient for a
Fortran-ordered ``dz`` and that returned arrays aliased caches (and caches the
caller's arrays).  These tests hold every function of the hostile-input table
(``hostile.CASES``) to two properties:

* each array argument, given in C, Fortran, transposed, strided,
  negative-stride or read-only layout, gives bit-for-bit the same result;
* no array in the result (caches included) shares memory with an argument,
  and no array in a returned cache shares memory with another returned array.
"""

import numpy as np
import pytest
from helpers import layouts
from hostile import CASES

ARRAY_ROLES = ("logits", "probs", "grad", "array", "noise", "index")


def arrays_in(result):
    """Every ndarray reachable in a result: tuples, dataclasses (caches, reports), dicts."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in arrays_in(r)]
    if isinstance(result, dict):
        return [a for r in result.values() for a in arrays_in(r)]
    if hasattr(result, "__dataclass_fields__"):
        return [a for f in result.__dataclass_fields__ for a in arrays_in(getattr(result, f))]
    return []


def same(a, b):
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


LAYOUT_ROWS = [
    (name, arg)
    for name, (_, base, roles, _) in CASES.items()
    for arg, role in roles.items()
    if role in ARRAY_ROLES and np.ndim(base().get(arg)) >= 1
]


@pytest.mark.parametrize("name, arg", LAYOUT_ROWS, ids=[f"{n}-{a}" for n, a in LAYOUT_ROWS])
def test_every_layout_gives_the_same_answer(name, arg):
    fn, base, _, _ = CASES[name]
    expected = arrays_in(fn(**base()))
    for label, value in layouts(np.asarray(base()[arg])).items():
        kwargs = base()
        kwargs[arg] = value
        got = arrays_in(fn(**kwargs))
        assert len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected)), f"{name}({arg}: {label})"


@pytest.mark.parametrize("name", sorted(CASES))
def test_nothing_returned_shares_memory_with_the_arguments(name):
    fn, base, _, _ = CASES[name]
    kwargs = base()
    inputs = [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    inputs += [a for v in kwargs.values() if hasattr(v, "__dataclass_fields__") for a in arrays_in(v)]
    out = arrays_in(fn(**kwargs))
    for i, a in enumerate(out):
        for x in inputs:
            assert not np.shares_memory(a, x), f"{name}: returned array #{i} shares memory with an argument"
        for j, b in enumerate(out[:i]):
            assert not np.shares_memory(a, b), f"{name}: returned arrays #{j} and #{i} share memory"


def test_writing_into_returned_arrays_does_not_change_the_backward_pass():
    # The red team's three reproducers: the Gumbel sample was the cache's y_soft, the Bernoulli
    # draw was the cache's b, and the Gaussian cache kept the caller's mu and sigma.
    import ils_ref as R

    rng = np.random.default_rng(0)
    logits, dy = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    y, cache = R.gumbel_softmax_forward(logits, 0.5, u=rng.random((2, 3)))
    before = R.gumbel_softmax_backward(dy, cache)
    y[...] = 0.0
    np.testing.assert_array_equal(R.gumbel_softmax_backward(dy, cache), before)

    b, cache = R.bernoulli_ils_forward(logits, u=rng.random((2, 3)))
    before = R.bernoulli_ils_backward(dy, cache, 0.1)
    b[...] = 1.0 - b
    np.testing.assert_array_equal(R.bernoulli_ils_backward(dy, cache, 0.1), before)

    mu, sigma = logits.copy(), np.full((2, 3), 0.7)
    z, cache = R.gaussian_ils_forward(mu, sigma, u=rng.random((2, 3)))
    before = R.gaussian_ils_backward(dy, cache, 0.1)
    mu += 1.0
    sigma *= 3.0
    z[...] = 0.0
    np.testing.assert_array_equal(R.gaussian_ils_backward(dy, cache, 0.1), before)

    z, cache = R.ils_forward(logits, u=rng.random(2))
    step = R.ils_step(dy, cache, 0.1)
    assert not np.shares_memory(step.dz, dy)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_callers_floating_point_error_state_does_not_matter(name):
    # Under np.seterr(all="raise") an underflow inside a kernel (exp(-800) in softmax) used to
    # escape as FloatingPointError. The answer must be the same as under the default state.
    fn, base, _, _ = CASES[name]
    expected = arrays_in(fn(**base()))
    with np.errstate(all="raise"):
        got = arrays_in(fn(**base()))
    assert len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected))


def test_softmax_underflow_under_seterr_raise():
    import ils_ref as R

    with np.errstate(all="raise"):
        np.testing.assert_array_equal(R.softmax([0.0, -800.0]), [1.0, 0.0])
        np.testing.assert_array_equal(R.log_softmax([0.0, -800.0]), [0.0, -800.0])


TINY_ROWS = [
    (name, arg)
    for name, (_, base, roles, _) in CASES.items()
    for arg, role in roles.items()
    if role in ("logits", "probs", "grad", "array") and np.ndim(base().get(arg)) >= 1
]


def outcome(fn, kwargs):
    try:
        return arrays_in(fn(**kwargs))
    except (ValueError, TypeError) as exc:
        return type(exc).__name__


@pytest.mark.parametrize("name, arg", TINY_ROWS, ids=[f"{n}-{a}" for n, a in TINY_ROWS])
@pytest.mark.parametrize("scale", [1e-300, -800.0])
def test_underflowing_input_under_seterr_raise(name, arg, scale):
    # Arguments of size 1e-300 (or logits shifted by -800) underflow inside kernels; under
    # np.seterr(all="raise") that must change nothing: the same result, or the same clear error.
    fn, base, _, _ = CASES[name]
    kwargs = base()
    value = np.asarray(kwargs[arg], dtype=np.float64)
    kwargs[arg] = np.abs(value) * scale if scale > 0 else value + np.where(np.arange(value.shape[-1]) % 2, scale, 0.0)
    expected = outcome(fn, dict(kwargs))
    with np.errstate(all="raise"):
        got = outcome(fn, dict(kwargs))
    if isinstance(expected, str):
        assert got == expected
    else:
        assert not isinstance(got, str), got
        assert len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected))


# --------------------------------------------------------------------------
# Lookalike arrays and scalars beyond float64 (issue: hardening, second pass)


def test_masked_arrays_are_refused_not_silently_unmasked():
    import ils_ref as R

    x = np.ma.masked_array([1e6, 0.0, 0.0], mask=[1, 0, 0])
    with pytest.raises(TypeError, match="x is a masked array"):
        R.softmax(x)  # used to return [1, 0, 0]: the masked entry decided
    with pytest.raises(TypeError, match="z is a masked array"):
        R.normalize(np.ma.masked_array([1.0, 2.0], mask=[1, 1]))


@pytest.mark.parametrize("call, arg", [
    (lambda v: __import__("ils_ref").ils_backward(np.ones((1, 3)), __import__("ils_ref").ils_cache(np.zeros((1, 3)), [0]), v), "alpha"),
    (lambda v: __import__("ils_ref").gumbel_softmax_forward(np.zeros((1, 3)), v, u=np.full((1, 3), 0.5)), "temperature"),
    (lambda v: __import__("ils_ref").numerical_jacobian(np.sin, np.ones(2), eps=v), "eps"),
])
def test_a_python_int_beyond_float64_is_a_value_error(call, arg):
    with pytest.raises(ValueError, match=f"{arg} must be finite in float64"):
        call(10**400)  # used to escape as OverflowError


def test_an_array_conversion_that_raises_names_the_argument():
    import ils_ref as R

    class Tensor:  # like a torch tensor that requires grad
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")

        def detach(self):
            return self

    with pytest.raises(TypeError, match=r"dy could not be converted .*RuntimeError.*t\.detach\(\)\.numpy\(\)"):
        R.softmax_backward(Tensor(), np.full(3, 1 / 3))


@pytest.mark.parametrize("g", [-2.0, -1.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("b", [0, 1])
def test_bernoulli_ils_agrees_with_categorical_ils_at_k2_even_at_alpha_1e308(g, b):
    # Bernoulli ILS is categorical ILS at K = 2: at α = 1e308 the two must both answer (and agree)
    # or both raise, not one of each.
    import ils_ref as R

    theta = 0.3
    bcache = R.bernoulli_ils_forward(np.array([theta]), u=np.array([0.99 if b else 0.01]))[1]
    ccache = R.ils_cache(np.array([[0.0, theta]]), [b])
    results = []
    for fn in (lambda: R.bernoulli_ils_backward(np.array([g]), bcache, 1e308)[0],
               lambda: R.ils_backward(np.array([[0.0, g]]), ccache, 1e308)[0, 1]):
        try:
            results.append(float(fn()))
        except ValueError:
            results.append("raised")
    if "raised" in results:
        assert results == ["raised", "raised"]
    else:
        assert results[0] == pytest.approx(results[1], rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("sigma", [1e-160, 1e-200])
def test_gaussian_ils_backward_with_a_tiny_sigma(sigma):
    # σ² is subnormal at 1e-160 and 0 at 1e-200: dividing by σ twice keeps the answer, -ε/σ at α = 0.
    import ils_ref as R

    u = np.array([0.2, 0.7])
    z, cache = R.gaussian_ils_forward(np.zeros(2), sigma, u=u)
    got = R.gaussian_ils_backward(np.ones(2), cache, 0.0)
    np.testing.assert_allclose(got, -cache.eps / sigma, rtol=1e-15)


# The same property with hypothesis choosing the layout: order, a stride and a direction per axis,
# an offset into a larger buffer, and the write flag.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def relaid(draw, arr):
    """``arr``'s values in a layout hypothesis picks."""
    arr = np.asarray(arr)
    steps = [draw(st.integers(1, 3)) for _ in arr.shape]
    flips = [draw(st.booleans()) for _ in arr.shape]
    offset = draw(st.integers(0, 2))
    order = draw(st.sampled_from("CF"))
    big = np.zeros(tuple(n * s + offset for n, s in zip(arr.shape, steps)), dtype=arr.dtype, order=order)
    index = tuple(slice(offset, offset + n * s, s) for n, s in zip(arr.shape, steps))
    source = arr[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    big[index] = source
    view = big[index][tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    if draw(st.booleans()):
        view.flags.writeable = False
    return view


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_layout_gives_the_same_answer(data):
    name, arg = data.draw(st.sampled_from(LAYOUT_ROWS), label="function, argument")
    fn, base, _, _ = CASES[name]
    expected = arrays_in(fn(**base()))
    kwargs = base()
    kwargs[arg] = data.draw(relaid(np.asarray(kwargs[arg])), label="layout")
    np.testing.assert_array_equal(kwargs[arg], np.asarray(base()[arg]))
    got = arrays_in(fn(**kwargs))
    assert len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected)), name


def _forwards_with_array_arguments():
    """Every forward pass whose cache could keep an argument, each argument given as an array."""
    import ils_ref as R

    rng = np.random.default_rng(3)
    logits, mu = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    return [
        # (name, forward, its array arguments, backward(dy, cache))
        ("ils", R.ils_forward, dict(logits=logits, u=rng.random(4)),
         lambda dy, c: R.ils_backward(dy, c, np.full(4, 0.1))),
        ("gumbel_softmax", R.gumbel_softmax_forward, dict(logits=logits, temperature=np.full(4, 0.5), u=rng.random((4, 3))),
         R.gumbel_softmax_backward),
        ("gumbel_softmax hard", lambda **kw: R.gumbel_softmax_forward(**kw, hard=True),
         dict(logits=logits, temperature=np.linspace(0.3, 2.0, 4), u=rng.random((4, 3))), R.gumbel_softmax_backward),
        ("gumbel_rao", lambda **kw: R.gumbel_rao_forward(**kw, samples=3),
         dict(logits=logits, temperature=np.full(4, 0.5), u=rng.random((4, 4, 3)) * 0.9 + 0.05), R.gumbel_rao_backward),
        ("reinmax", R.reinmax_forward, dict(logits=logits, temperature=np.full(4, 0.7), u=rng.random(4)), R.reinmax_backward),
        ("bernoulli_ils", R.bernoulli_ils_forward, dict(logits=logits, u=rng.random((4, 3))),
         lambda dy, c: R.bernoulli_ils_backward(dy, c, np.full((4, 3), 0.1))),
        ("gaussian_ils", R.gaussian_ils_forward, dict(mu=mu, sigma=np.full((4, 3), 0.7), u=rng.random((4, 3)) * 0.9 + 0.05),
         lambda dy, c: R.gaussian_ils_backward(dy, c, np.full((4, 3), 0.1))),
    ]


@pytest.mark.parametrize("case", _forwards_with_array_arguments(), ids=lambda c: c[0])
def test_a_cache_owns_every_array_it_keeps(case):
    # Issue 24: the Gumbel-softmax and Gumbel-Rao caches kept the caller's temperature array, so
    # annealing it in place (T *= 10) after the forward pass changed the backward by 0.6.  Every
    # array argument (temperature, sigma, noise, logits) is written into after the forward pass.
    _, forward, arrays, backward = case
    kwargs = {k: v.copy() for k, v in arrays.items()}
    _, cache = forward(**kwargs)
    dy = np.random.default_rng(4).normal(size=(4, 3))
    before = backward(dy, cache)
    for k, v in kwargs.items():
        v *= 10.0 if k != "u" else 0.5
    np.testing.assert_array_equal(backward(dy, cache), before)
    for k, v in kwargs.items():
        for a in arrays_in(cache):
            assert not np.shares_memory(a, v), f"the cache shares memory with {k}"


@pytest.mark.parametrize("dtype", [np.uint64, np.uint32, np.uint8, np.int8, np.int16, np.int32])
def test_any_integer_index_gives_the_same_ils_gradient(dtype):
    # Issue 24: a uint64 index raised IndexError inside the kernel (int64 positions + uint64 = float64).
    import ils_ref as R

    rng = np.random.default_rng(5)
    logits, dz, index = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    expected = R.ils_backward(dz, R.ils_cache(logits, index), 0.1)
    got = R.ils_backward(dz, R.ils_cache(logits, index.astype(dtype)), 0.1)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(R.ils_step(dz, R.ils_cache(logits, index.astype(dtype)), 0.1).dlogits, expected)


def _extreme_calls():
    import ils_ref as R

    bern = R.bernoulli_ils_forward(np.array([0.3, -0.2]), u=np.array([0.4, 0.6]))[1]
    gauss = R.gaussian_ils_forward(np.array([0.3, 1.0]), 0.5, u=np.array([0.4, 0.7]))[1]
    tiny = np.full(2, 1e-300)
    return {  # name: (call, check of its result)
        "sigmoid_backward": (lambda: R.sigmoid_backward(np.array([1e-300]), np.array([1e-300])), None),
        "normalize_backward": (lambda: R.normalize_backward(np.array([[1e-300, 1e-300]]), np.array([[1e-300, 1.0]])), None),
        "bernoulli_ils_backward": (lambda: R.bernoulli_ils_backward(tiny, bern, 1e-10), None),
        "gaussian_ils_forward": (lambda: R.gaussian_ils_forward(np.array([0.0]), 1e-310, u=np.array([0.4])), None),
        "gaussian_ils_backward": (lambda: R.gaussian_ils_backward(tiny, gauss, 1e-10), None),
        "gaussian_kl_backward": (lambda: R.gaussian_kl_backward(np.array(0.0), np.array(1e300), np.array(-1e300), 1e-300),
                                 lambda d: d[0] == 0 and d[1] == 0),  # dout = 0: the answer is 0
        "gumbel_rao_forward": (lambda: R.gumbel_rao_forward(np.array([1.7e308, -1.7e308]), 0.5, 2,
                                                            u=np.array([[0.0, 0.5], [0.3, 0.6], [0.2, 0.9]])), None),
    }


@pytest.mark.parametrize("name", sorted(_extreme_calls()))
@pytest.mark.parametrize("state", ["raise", "default"])
def test_harmless_underflow_and_overflow_neither_raise_nor_warn(name, state):
    # Issue 24: under np.errstate(all="raise") these raised FloatingPointError on a harmless
    # underflow; gaussian_kl_backward warned and raised where the answer is 0, gumbel_rao_forward
    # warned at logits of ±1.7e308.  (Warnings are errors in this suite.)
    call, check = _extreme_calls()[name]
    with np.errstate(all="raise") if state == "raise" else np.errstate():
        out = call()
    assert check is None or check(out)


def test_an_overflow_is_a_value_error_before_any_warning():
    import ils_ref as R

    gauss = R.gaussian_ils_forward(np.array([0.3, 1.0]), 0.5, u=np.array([0.4, 0.7]))[1]
    with pytest.raises(ValueError, match="not representable"):
        R.gaussian_ils_backward(np.array([1e300, 1e300]), gauss, 1e300)


@pytest.mark.parametrize("mu, sigma", [(1e6, 1e-11), (1e3, 1e-12)])
def test_gaussian_ils_keeps_the_noise_term_where_sigma_is_tiny_against_mu(mu, sigma):
    # Issue 24: (mu - z) lost sigma·eps to rounding: mu = 1e6, sigma = 1e-11, u = 0.8, alpha = 0
    # returned 0 instead of -8.4e10.  The gradient is (alpha·g/sigma - eps)/sigma, from eps.
    import ils_ref as R

    z, cache = R.gaussian_ils_forward(np.array([mu]), sigma, u=np.array([0.8]))
    got = R.gaussian_ils_backward(np.array([0.5]), cache, 0.0)
    np.testing.assert_allclose(got, -cache.eps / sigma, rtol=1e-14)
