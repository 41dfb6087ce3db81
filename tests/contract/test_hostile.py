"""Every public function against hostile input: a sound result or a clear error, never NaN or a warning."""

import numpy as np
import pytest
from hostile import CASES, check_contract

ARRAY_HOSTILES = {
    "nan": lambda base: np.where(np.arange(base.size).reshape(base.shape) == 0, np.nan, base),
    "+inf": lambda base: np.where(np.arange(base.size).reshape(base.shape) == 0, np.inf, base),
    "-inf": lambda base: np.where(np.arange(base.size).reshape(base.shape) == 0, -np.inf, base),
    "all -inf": lambda base: np.full(base.shape, -np.inf),
    "1e300": lambda base: base * 1e300,
    "-1e300": lambda base: -np.abs(base) * 1e300,
    "1e-300": lambda base: np.abs(base) * 1e-300,
    "zeros": lambda base: np.zeros(base.shape),
    "negative": lambda base: -np.abs(base) - 0.1,
    "float32": lambda base: base.astype(np.float32),
    "int": lambda base: np.round(base).astype(np.int64),
    "complex": lambda base: base.astype(np.complex128),
    "bool": lambda base: base > 0,
    "strings": lambda base: base.astype(str),
    "None": lambda base: None,
    "0-d": lambda base: np.asarray(base).reshape(-1)[0],
    "empty batch": lambda base: np.asarray(base).reshape(-1)[:0].reshape((0,) + np.shape(base)[1:]) if np.ndim(base) > 1 else np.zeros(0),
    "K = 0": lambda base: np.zeros(np.shape(base)[:-1] + (0,)) if np.ndim(base) else np.zeros(0),
    "K = 1": lambda base: np.asarray(base)[..., :1] if np.ndim(base) else np.ones(1),
    "wrong shape": lambda base: np.concatenate([np.atleast_1d(base), np.atleast_1d(base)], axis=-1),
    "1 + 2": lambda base: np.asarray(base) + 2,
}
SCALAR_HOSTILES = {
    "0": 0.0, "negative": -1.0, "nan": np.nan, "inf": np.inf, "-inf": -np.inf, "tiny": 1e-300, "huge": 1e300,
    "string": "0.1", "None": None, "bool": True, "list": [0.1, 0.2], "complex": 1 + 1j,
}

ROWS = []
for name, (fn, base, roles, inf_ok) in CASES.items():
    for arg, role in roles.items():
        if role == "cache":
            ROWS.append((name, arg, "not a cache", object()))
            continue
        if role in ("scalar", "positive", "int"):
            for label, value in SCALAR_HOSTILES.items():
                ROWS.append((name, arg, label, value))
            continue
        for label, make in ARRAY_HOSTILES.items():
            ROWS.append((name, arg, label, make))


@pytest.mark.parametrize("name, arg, label, value", ROWS, ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in ROWS])
def test_hostile_table(name, arg, label, value):
    fn, base, roles, inf_ok = CASES[name]
    kwargs = base()
    if callable(value) and not isinstance(value, type):
        original = kwargs.get(arg)
        if original is None:
            pytest.skip("optional argument without a baseline array")
        with np.errstate(all="ignore"):  # building the hostile value may warn; calling the function must not
            value = value(np.asarray(original))
    kwargs[arg] = value
    check_contract(name, fn, kwargs, arg, inf_ok)


NOISY = [name for name, (_, _, roles, _) in CASES.items() if roles.get("u") == "noise"]
RNG_CASES = [
    ("both u and rng", lambda kw: kw.update(rng=np.random.default_rng(0)), TypeError, "got both"),
    ("neither", lambda kw: kw.pop("u"), TypeError, "got neither"),
    ("RandomState", lambda kw: (kw.pop("u"), kw.update(rng=np.random.RandomState(0))), TypeError, "numpy.random.Generator"),
    ("an int seed", lambda kw: (kw.pop("u"), kw.update(rng=0)), TypeError, "numpy.random.Generator"),
]


@pytest.mark.parametrize("name", NOISY)
@pytest.mark.parametrize("label, edit, exc, match", RNG_CASES, ids=[c[0] for c in RNG_CASES])
def test_randomness_arguments(name, label, edit, exc, match):
    fn, base, _, _ = CASES[name]
    kwargs = base()
    edit(kwargs)
    with pytest.raises(exc, match=match):
        fn(**kwargs)


@pytest.mark.parametrize("name", NOISY)
def test_a_generator_alone_works_and_is_reproducible(name):
    fn, base, _, inf_ok = CASES[name]
    runs = []
    for _ in range(2):
        kwargs = base()
        kwargs.pop("u")
        runs.append(fn(**kwargs, rng=np.random.default_rng(42)))
    first, second = (np.asarray(r[0] if isinstance(r, tuple) else r) for r in runs)
    np.testing.assert_array_equal(first, second)
