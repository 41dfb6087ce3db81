"""ils-ref check against real JAX implementations (skipped without jax; .ci/run installs it)."""

import numpy as np
import pytest

from ils_ref.checking.conformance import check
from ils_ref.cli import main

jax = pytest.importorskip("jax")
jnp = jax.numpy


def ils_jax(logits, index, dz, alpha):
    """ILS as a JAX user writes it (float32 by default, no x64), with jax.vjp for step 3."""
    logits, dz, index = jnp.asarray(logits), jnp.asarray(dz), jnp.asarray(index)
    z = jax.nn.one_hot(index, logits.shape[-1])
    masked = jnp.isneginf(logits)
    w = z - jnp.asarray(alpha)[..., None] * (dz - jnp.take_along_axis(dz, index[..., None], axis=-1))  # alpha: one or per row
    w = jnp.clip(jnp.where(masked, 0.0, w), 0.0)  # a masked category keeps probability 0
    pi_d = w / w.sum(-1, keepdims=True)
    _, vjp = jax.vjp(lambda theta: -(pi_d * jnp.where(masked, 0.0, jax.nn.log_softmax(theta))).sum(), logits)
    return vjp(jnp.ones(()))[0]


def test_a_float32_jax_implementation_passes_with_no_flag():
    report = check(ils_jax)
    assert report.ok and {r.dtype for r in report.results} == {"float32"}, str(report)


def test_as_jax_hands_jax_arrays(tmp_path, monkeypatch):
    (tmp_path / "jax_impl.py").write_text(
        "import jax, jax.numpy as jnp\n"
        "def fn(logits, index, dz, alpha):\n"
        "    assert isinstance(logits, jax.Array)\n"
        "    z = jax.nn.one_hot(index, logits.shape[-1])\n"
        "    w = z - jnp.asarray(alpha)[..., None] * (dz - jnp.take_along_axis(dz, index[..., None], axis=-1))\n"
        "    w = jnp.clip(jnp.where(jnp.isneginf(logits), 0.0, w), 0.0)\n"
        "    return jax.nn.softmax(logits) - w / w.sum(-1, keepdims=True)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "jax_impl:fn", "--as", "jax"]) == 0
    assert main(["check", "jax_impl:fn"]) == 1  # NumPy inputs: its own assertion fails every case
