"""Reference vectors and `ils-ref check`: determinism, self-consistency, planted wrong implementations."""

import json
import textwrap

import numpy as np
import pytest

from ils_ref import (
    GaussianCache,
    bernoulli_ils_backward,
    bernoulli_ils_forward,
    gaussian_ils_backward,
    gumbel_rao_backward,
    gumbel_rao_forward,
    gumbel_softmax_backward,
    gumbel_softmax_forward,
    ils_backward,
    ils_cache,
    kl_divergence_backward,
    normalize_backward,
    reinmax_backward,
    reinmax_forward,
    sample_categorical,
    softmax,
    softmax_backward,
)
from ils_ref.checking.conformance import check, load_vectors
from ils_ref.checking.vectors import OPS, content_hash, dumps, generate
from ils_ref.cli import main


def ils_ok(logits, index, dz, alpha):
    return ils_backward(dz, ils_cache(logits, index), alpha)


def ils_proto(logits, index, dz, alpha):
    return ils_backward(dz, ils_cache(logits, index), alpha, prototype=True, policy="signed")


def gumbel_ok(logits, u, temperature, hard, dy):
    y, cache = gumbel_softmax_forward(logits, temperature, u=u, hard=hard)
    return y, gumbel_softmax_backward(dy, cache)


def reinmax_ok(logits, index, dz, temperature):
    # the forward pass draws with u; a u just above the CDF below index replays the draw
    probs = softmax(logits)
    below = np.take_along_axis(np.cumsum(probs, -1) - probs, index[..., None], -1)[..., 0]
    _, cache = reinmax_forward(logits, temperature, u=below + 0.5 * np.take_along_axis(probs, index[..., None], -1)[..., 0])
    assert np.array_equal(cache.index, index)
    return reinmax_backward(dz, cache)


def gumbel_rao_ok(logits, u, temperature, dz):
    z, cache = gumbel_rao_forward(logits, temperature, u.shape[0] - 1, u=u)
    return z, gumbel_rao_backward(dz, cache)


def bernoulli_ok(logits, b, db, alpha):
    _, cache = bernoulli_ils_forward(logits, u=np.where(b == 1, 0.999999, 0.0))
    assert np.array_equal(cache.b, b)
    return bernoulli_ils_backward(db, cache, alpha)


def gaussian_ok(mu, sigma, eps, dz, alpha):
    # the cache of gaussian_ils_forward, with the vectors' eps itself (not re-derived from a u)
    return gaussian_ils_backward(dz, GaussianCache(mu=mu, sigma=sigma, eps=eps, z=mu + sigma * eps), alpha)


OURS = {
    "ils_backward": ils_ok,
    "ils_backward_prototype": ils_proto,
    "gumbel_softmax": gumbel_ok,
    "sample_categorical": lambda probs, u: sample_categorical(probs, u=u),
    "softmax_backward": softmax_backward,
    "kl_divergence_backward": kl_divergence_backward,
    "normalize_backward": normalize_backward,
    "ils_backward_squared_error": lambda logits, index, dz, alpha: ils_backward(dz, ils_cache(logits, index), alpha,
                                                                                loss="squared_error"),
    "reinmax": reinmax_ok,
    "gumbel_rao": gumbel_rao_ok,
    "straight_through": lambda logits, index, dz: softmax_backward(dz, softmax(logits)),
    "bernoulli_ils": bernoulli_ok,
    "gaussian_ils": gaussian_ok,
}


def test_vectors_regenerate_to_the_identical_shipped_file(tmp_path):
    from importlib import resources

    shipped = resources.files("ils_ref").joinpath("data/vectors.json").read_text(encoding="utf-8")
    assert dumps(generate()) == shipped
    out = tmp_path / "v.json"
    assert main(["vectors", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == shipped


def test_document_shape_and_hash():
    doc = load_vectors()
    assert doc["format"] == "ils_ref-vectors" and doc["sha256"] == content_hash(doc)
    for op in OPS:
        assert sum(c["op"] == op for c in doc["cases"]) >= 3, op
    for case in doc["cases"]:
        assert set(case) >= {"id", "op", "inputs", "expected", "rtol", "atol"}


@pytest.mark.parametrize("op", OPS)
def test_every_op_passes_our_own_implementation(op):
    report = check(OURS[op], op=op)
    assert report.ok, str(report)


def _planted():
    def sign_flip(logits, index, dz, alpha):
        return -ils_ok(logits, index, dz, alpha)

    def skipped_softmax_jacobian(logits, index, dz, alpha):  # the prototype's mix-up, without its 1e-7
        return ils_backward(dz, ils_cache(logits, index), alpha, prototype=True, prototype_eps=0.0)

    def alpha_ignored(logits, index, dz, alpha):
        return ils_ok(logits, index, dz, 0.07)

    def wrong_temperature_scaling(logits, u, temperature, hard, dy):
        y, dlogits = gumbel_ok(logits, u, temperature, hard, dy)
        return y, dlogits * temperature  # forgot the 1/T of the inner derivative... twice

    ils = [c for c in load_vectors()["cases"] if c["op"] == "ils_backward"]
    return [
        ("ils_backward", sign_flip, len(ils)),
        ("ils_backward", skipped_softmax_jacobian, len(ils)),
        # no case has alpha = 0.07; the README's masked row moves no mass whatever alpha is
        ("ils_backward", alpha_ignored, len(ils) - 1),
        ("gumbel_softmax", wrong_temperature_scaling, 4),  # invisible in the two T = 1 cases
    ]


@pytest.mark.parametrize("op, fn, n_failed", _planted(), ids=lambda x: getattr(x, "__name__", str(x)))
def test_planted_wrong_implementations_fail(op, fn, n_failed):
    report = check(fn, op=op)
    assert not report.ok and report.n_failed == n_failed
    assert "FAIL" in str(report)


def test_garbage_is_reported_per_case():
    cases = {
        "raises": lambda *a: 1 / 0,
        "None": lambda *a: None,
        "wrong shape": lambda logits, *a: np.zeros(13),
        "NaN": lambda logits, *a: np.full(np.shape(logits), np.nan),
        "string": lambda logits, *a: "abc",
    }
    for label, fn in cases.items():
        report = check(fn)
        assert report.n_failed == len(report.results), label
        assert all(r.error for r in report.results), label


def _write_module(tmp_path, body):
    (tmp_path / "theirs.py").write_text(textwrap.dedent(body))


def test_cli_check_exit_codes(tmp_path, monkeypatch, capsys):
    _write_module(
        tmp_path,
        """
        from ils_ref import ils_backward, ils_cache

        def good(logits, index, dz, alpha):
            return ils_backward(dz, ils_cache(logits, index), alpha)

        def bad(logits, index, dz, alpha):
            return -ils_backward(dz, ils_cache(logits, index), alpha)
        """,
    )
    monkeypatch.chdir(tmp_path)
    n = sum(c["op"] == "ils_backward" for c in load_vectors()["cases"])
    assert main(["check", "theirs:good"]) == 0
    assert f"PASS: {n} of {n}" in capsys.readouterr().out
    assert main(["check", "theirs:bad"]) == 1
    assert f"FAIL: 0 of {n}" in capsys.readouterr().out
    for argv, message in (
        (["check", "nosuchmodule:fn"], "cannot import module 'nosuchmodule'"),
        (["check", "theirs:missing"], "has no attribute 'missing'"),
        (["check", "theirs"], "expected MODULE:FUNCTION"),
        (["check", "theirs:good", "--vectors", "nofile.json"], "cannot read vectors file"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_an_edited_vectors_file_is_refused(tmp_path):
    doc = json.loads(dumps(generate()))
    doc["cases"][0]["expected"]["dlogits"][0][0] += 1.0
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="do not match the recorded sha256"):
        load_vectors(path)


def test_torch_interop():
    torch = pytest.importorskip("torch")

    def torch_ils(logits, index, dz, alpha):
        theta = torch.tensor(logits, requires_grad=True)
        probs = torch.softmax(theta, dim=-1)
        z = torch.nn.functional.one_hot(torch.tensor(index), probs.shape[-1]).double()
        g = torch.tensor(dz)
        v = torch.clamp(g.gather(-1, torch.tensor(index)[..., None]) - g, min=0.0)
        masked = torch.isneginf(theta)
        v = torch.where(masked, 0.0, v)  # a masked category stays at 0
        # alpha as float64: torch.as_tensor(0.3) would round it to float32, a 1e-8 error the vectors see
        w = torch.as_tensor(np.asarray(alpha, dtype=np.float64))[..., None] * v + z  # v is 0 at the drawn entry
        pi_d = w / w.sum(-1, keepdim=True)
        loss = -(pi_d * torch.where(masked, 0.0, torch.log_softmax(theta, -1))).sum()  # 0 log 0 = 0 where masked
        (grad,) = torch.autograd.grad(loss, theta)
        return grad

    assert check(torch_ils).ok


def test_array_inputs_are_always_arrays_even_for_a_single_row():
    seen = []

    def spy(logits, index, dz, alpha):
        seen.append((type(logits), type(index), type(dz), type(alpha)))
        return ils_ok(logits, index[..., None][..., 0], dz, alpha)  # ndarray-only indexing

    assert check(spy).ok
    assert all(t[:3] == (np.ndarray,) * 3 and t[3] in (float, np.ndarray) for t in seen)
    assert float in {t[3] for t in seen} and np.ndarray in {t[3] for t in seen}  # one alpha, or one per row
    assert any(np.ndim(c["inputs"]["index"]) == 0 for c in load_vectors()["cases"] if c["op"] == "ils_backward")


def test_a_tiny_relative_error_fails_the_tight_tolerance():
    report = check(lambda *a: ils_ok(*a) * (1 + 1e-6))
    assert report.n_failed == len(report.results)
    assert check(lambda *a: ils_ok(*a) * (1 + 1e-12)).ok


def test_sampling_cases_keep_u_away_from_every_cumulative_sum():
    for case in load_vectors()["cases"]:
        if case["op"] == "sample_categorical":
            cdf = np.cumsum(np.asarray(case["inputs"]["probs"]), axis=-1)
            u = np.asarray(case["inputs"]["u"])
            assert np.min(np.abs(cdf - u[:, None])) >= 1e-9


def test_a_float16_implementation_is_labelled_and_judged_as_float16():
    # Issue 24: a float16 result was labelled "(float32)" and judged at float32's 1e-4.
    def ils_half(logits, index, dz, alpha):
        return ils_ok(logits, index, dz, alpha).astype(np.float16)

    report = check(ils_half, op="ils_backward")
    assert {r.dtype for r in report.results} == {"float16"}, str(report)
    assert "(float16)" in str(report) and "(float32)" not in str(report)
    assert report.ok, str(report)
    assert {r.dtype for r in check(lambda *a: ils_ok(*a).astype(np.float32), op="ils_backward").results} == {"float32"}


def test_a_float16_output_does_not_loosen_the_tolerance_of_a_float64_one():
    from ils_ref import kl_divergence_backward

    def half_and_wrong(dout, p, q):  # dp in float16 (fine at float16), dq in float64 but 1e-6 off: a float64 failure
        dp, dq = kl_divergence_backward(dout, p, q)
        return dp.astype(np.float16), dq * (1 + 1e-6)

    report = check(half_and_wrong, op="kl_divergence_backward")
    assert not report.ok, str(report)  # before: judged wholly at float16's 1e-2 and passed
    assert {r.dtype for r in report.results} == {"float16"}  # the report still names the least precise output
    assert check(lambda *a: (kl_divergence_backward(*a)[0].astype(np.float16), kl_divergence_backward(*a)[1]),
                 op="kl_divergence_backward").ok
