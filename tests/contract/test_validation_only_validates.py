"""The argument checker converts and checks, nothing else (issue 23, item 3; STYLE rule 13).

It draws no random numbers (ops.sampling.uniform does), reshapes nothing for a
kernel, takes other arguments as values (never by name) and writes each message
once, naming whose shape a shape must match.
"""

import inspect
import pathlib
import re
import types

import numpy as np
import pytest

import ils_ref
from ils_ref import (
    ils_backward,
    ils_cache,
    ils_forward,
    kl_divergence,
    sample_categorical,
    validation,
)
from ils_ref.ops.sampling import normal, uniform
from ils_ref.validation import ROLES, Like, checked, checked_noise, rows_of, shape_of

PACKAGE = pathlib.Path(ils_ref.__file__).parent
LIKE = Like((2, 3), "x", per_row=True)  # one per row of a (2, 3) array: shape (2,)


# --------------------------------------------------------------------------
# 1. the checker draws nothing


def test_the_validation_module_never_calls_a_generator():
    source = inspect.getsource(validation)
    for call in (".random(", ".standard_normal(", ".normal(", ".uniform(", ".integers("):
        assert call not in source, f"validation.py calls {call}"


def test_checking_a_generator_leaves_its_state_alone():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    assert checked_noise(None, rng, LIKE) is None
    assert rng.bit_generator.state == before


def test_uniform_draws_exactly_rng_random_of_the_needed_shape():
    got = uniform(None, np.random.default_rng(7), LIKE)
    np.testing.assert_array_equal(got, np.random.default_rng(7).random((2,)))
    got = normal(None, np.random.default_rng(7), Like((2, 3), "x"))
    np.testing.assert_array_equal(got, np.random.default_rng(7).standard_normal((2, 3)))


def test_uniform_returns_explicit_noise_as_given():
    np.testing.assert_array_equal(uniform([0.0, 0.5], None, LIKE), [0.0, 0.5])


@pytest.mark.parametrize(
    "u, rng, exc, match",
    [
        (None, None, TypeError, r"pass exactly one of noise_u .* got neither"),
        ([0.1, 0.2], np.random.default_rng(0), TypeError, r"pass exactly one of noise_u .* got both"),
        (None, np.random.RandomState(0), TypeError, r"rng must be a numpy.random.Generator .*got RandomState"),
        (None, 0, TypeError, r"rng must be a numpy.random.Generator .*got int"),
        ([0.1, 1.0], None, ValueError, r"noise_u must lie in \[0, 1\), got 1.0"),
        ([-0.1, 0.5], None, ValueError, r"noise_u must lie in \[0, 1\), got -0.1"),
        ([0.1, np.inf], None, ValueError, r"noise_u contains \+inf at index \(1,\); it needs values in \[0, 1\)"),
        ([0.1, np.nan], None, ValueError, r"noise_u contains NaN at index \(1,\)"),
        ([0.1, 0.2, 0.3], None, ValueError, r"noise_u has shape \(3,\) but must have shape \(2,\), one per row of x \(shape \(2, 3\)\)"),
        ("half", None, TypeError, r"noise_u must be an array of real numbers"),
    ],
)
def test_uniform_refuses_bad_noise_naming_the_argument(u, rng, exc, match):
    with pytest.raises(exc, match=match):
        uniform(u, rng, LIKE, name="noise_u")


def test_normal_refuses_a_zero_uniform_naming_the_argument():
    with pytest.raises(ValueError, match=r"noise_u must lie in the open interval \(0, 1\)"):
        normal([0.5, 0.0], None, LIKE, name="noise_u")


# --------------------------------------------------------------------------
# 2. nothing is reshaped for a kernel


@pytest.mark.parametrize("role", ["step", "scale"])
def test_a_per_row_step_or_scale_comes_back_with_the_batch_shape(role):
    assert checked(alpha=(role, np.array([0.5, 2.0]), LIKE)).shape == (2,)
    assert checked(alpha=(role, np.array(0.5), LIKE)) == 0.5
    assert isinstance(checked(alpha=(role, 1, LIKE)), float)


# --------------------------------------------------------------------------
# 3. the role table is shared vocabulary, checks are named functions, extras are values


def test_roles_are_named_functions():
    for role, check in ROLES.items():
        assert isinstance(check, types.FunctionType) and check.__name__ != "<lambda>", role


def test_every_role_is_used_by_more_than_one_call():
    uses = {role: 0 for role in ROLES}
    for path in set(PACKAGE.rglob("*.py")) - {PACKAGE / "validation.py"}:  # its docstring's example is no use
        for role in re.findall(r'=\("(\w+)",', path.read_text()):
            if role in uses:
                uses[role] += 1
    assert not [role for role, n in uses.items() if n < 2], uses


def test_no_checked_call_names_another_argument_by_a_string():
    # ("role", value, "other") was a reference to an earlier argument; now the value itself is passed
    pattern = re.compile(r'=\("\w+", [\w.\[\]]+, "')
    offenders = [f"{p.relative_to(PACKAGE)}:{m.group(0)}" for p in PACKAGE.rglob("*.py") for m in pattern.finditer(p.read_text())]
    assert not offenders


def test_a_string_in_place_of_a_like_is_not_looked_up():
    with pytest.raises(AttributeError):
        checked(q=("real", [1.0, 2.0], "p"))


# --------------------------------------------------------------------------
# 4. a shape mismatch names both arguments, in the check's own words


CACHE = ils_forward(np.zeros((2, 3)), u=np.array([0.1, 0.9]))[1]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5]), r"^q has shape \(3,\) but must have shape \(2,\), the shape of p$"),
        (lambda: ils_backward(np.zeros((2, 4)), CACHE, 0.1),
         r"^dz has shape \(2, 4\) but must have shape \(2, 3\), the shape of cache.probs \(the forward output\)$"),
        (lambda: ils_backward(np.zeros((2, 3)), CACHE, np.ones(3)),
         r"^alpha has shape \(3,\), which does not broadcast to the shape \(2,\), one per row of cache.probs \(shape \(2, 3\)\)$"),
        (lambda: ils_cache(np.zeros((2, 3)), [0, 1, 2]), r"^index has shape \(3,\) but must have shape \(2,\), one per row of logits"),
        (lambda: ils_cache(np.zeros((2, 3)), [0, 3]), r"^index must lie in \[0, 3\) \(the categories, K = 3 from logits\), got 3$"),
        (lambda: sample_categorical([[0.5, 0.5]], u=[0.1, 0.2]), r"^u has shape \(2,\) but must have shape \(1,\), one per row of probs"),
    ],
)
def test_a_shape_mismatch_names_both_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_shape_of_and_rows_of_read_the_checked_array():
    x = np.zeros((4, 5))
    assert shape_of(x, "x").need == (4, 5) and str(shape_of(x, "x")) == "the shape of x"
    assert rows_of(x, "x").need == (4,) and str(rows_of(x, "x")) == "one per row of x (shape (4, 5))"
