"""ils-ref check for outside implementations: both policies, tolerances, and a named diagnosis for each mistake."""

import numpy as np
import pytest

from ils_ref.checking.conformance import check
from ils_ref.checking.vectors import load_vectors
from ils_ref.cli import main


def ils_numpy(logits, index, dz, alpha, *, clip=True, flip=False, alpha_used=None, centred=True, draw=None,
              output="logits", dtype=np.float64):
    """ILS written from the post, with switches that plant one mistake each."""
    logits, dz = logits.astype(dtype), dz.astype(dtype)
    index = {"argmax": np.argmax(logits, axis=-1), "next": (index + 1) % logits.shape[-1]}.get(draw, index)
    alpha = np.asarray(alpha if alpha_used is None else alpha_used(np.asarray(alpha)), dtype=dtype)[..., None]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    z = np.zeros_like(logits)
    np.put_along_axis(z, np.asarray(index)[..., None], 1.0, axis=-1)
    g_k = np.take_along_axis(dz, np.asarray(index)[..., None], axis=-1)
    delta = dz - g_k if centred else dz  # step 1: the VJP of h = z / sum(z) at the one-hot z
    w = z - alpha * delta  # step 2: one SGD step on the sample ...
    w = np.where(np.isneginf(logits), 0, w)  # (a masked category keeps probability 0)
    if clip:
        w = np.maximum(w, 0)
    pi_d = w / w.sum(-1, keepdims=True)  # ... mapped back by h
    if output == "prototype":
        return -pi_d / (probs + dtype(1e-7))
    if output == "dprobs":
        return -pi_d / probs
    grad = probs - pi_d  # step 3: d KL(pi_D || pi) / d logits
    return -grad if flip else grad


def test_the_literal_algorithm_passes_with_policy_signed():
    literal = lambda *a: ils_numpy(*a, clip=False)  # noqa: E731
    report = check(literal, policy="signed")
    n_cases = sum(c["op"] == "ils_backward" for c in load_vectors()["cases"])
    assert report.ok and report.skipped and len(report.results) + len(report.skipped) == n_cases
    clipped = check(literal)  # against the clipped default it fails where z - alpha*Delta < 0 ...
    failed = [r for r in clipped.results if not r.ok]
    # ... and says why: the other policy, or (where the signed pi_D is undefined) the unguarded division
    assert failed and all("'signed' instead of 'clip'" in r.diagnosis or "is undefined" in r.diagnosis for r in failed)
    assert sum("is undefined" in r.diagnosis for r in failed) == len(report.skipped)
    assert check(ils_numpy).ok


def test_a_float32_implementation_passes_without_flags_and_the_report_says_so():
    f32 = lambda *a: ils_numpy(*a, dtype=np.float32)  # noqa: E731
    report = check(f32)
    assert report.ok and {r.dtype for r in report.results} == {"float32"}
    assert "(float32)" in str(report) and "1e-06 + 0.0001*|e|" in str(report)
    tight = check(f32, rtol=1e-9, atol=1e-12)
    assert not tight.ok and all("float32 rounding" in r.diagnosis for r in tight.results if not r.ok)


def test_a_pass_that_rests_on_atol_alone_is_flagged():
    # a constant offset of 1e-4 passes at atol = 1e-3, although tiny entries are off by far more than rtol
    report = check(lambda *a: ils_numpy(*a) + 1e-4, rtol=1e-9, atol=1e-3)
    assert report.ok and any(r.flag.startswith("passes on atol only") for r in report.results)
    assert "passes on atol only" in str(report)


MISTAKES = {
    "prototype": (dict(clip=False, output="prototype"), "the prototype's output"),
    "no softmax Jacobian": (dict(output="dprobs"), "missing softmax Jacobian"),
    "sign flip": (dict(flip=True), "a sign flip"),
    "alpha ignored": (dict(alpha_used=lambda a: 1.0), "alpha ignored"),
    "10 alpha": (dict(alpha_used=lambda a: 10 * a), "another alpha (10 alpha)"),
    "Delta not centred": (dict(centred=False), "Delta not centred"),
    "argmax drawn": (dict(draw="argmax"), "the argmax"),
    "index + 1": (dict(draw="next"), "index + 1"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_every_planted_mistake_is_named(mistake):
    options, name = MISTAKES[mistake]
    report = check(lambda *a: ils_numpy(*a, **options))
    failed = [r for r in report.results if not r.ok]
    assert failed, mistake
    named = [r for r in failed if name in r.diagnosis]
    assert len(named) >= len(failed) / 2, [r.diagnosis for r in failed]  # most failing cases name it
    assert f"diagnosis: " in str(report)


def test_the_command_line_takes_policy_and_tolerances(tmp_path, monkeypatch, capsys):
    (tmp_path / "literal_impl.py").write_text(
        "import numpy as np\n"
        "def fn(logits, index, dz, alpha):\n"
        "    e = np.exp(logits - logits.max(-1, keepdims=True)); p = e / e.sum(-1, keepdims=True)\n"
        "    z = np.zeros_like(logits); np.put_along_axis(z, np.asarray(index)[..., None], 1.0, axis=-1)\n"
        "    a = np.asarray(alpha)[..., None]\n"
        "    w = z - a * (dz - np.take_along_axis(dz, np.asarray(index)[..., None], axis=-1))\n"
        "    w = np.where(np.isneginf(logits), 0, w)\n"
        "    return (p - w / w.sum(-1, keepdims=True)).astype(np.float32)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "literal_impl:fn", "--policy", "signed"]) == 0
    skipped = sum(c["op"] == "ils_backward" and c["expected_signed"] is None for c in load_vectors()["cases"])
    assert skipped and f"skipped {skipped} cases" in capsys.readouterr().out
    assert main(["check", "literal_impl:fn", "--policy", "signed", "--rtol", "1e-9", "--atol", "1e-12"]) == 1
    assert "float32 rounding" in capsys.readouterr().out


def test_the_readme_recipe_passes_both_policies():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    recipe = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "def backward(" in b)
    namespace = {"np": np}
    exec(recipe, namespace)
    backward = namespace["backward"]
    assert check(backward).ok
    assert check(lambda *a: backward(*a, clip=False), policy="signed").ok


class FakeTorchTensor:
    """Behaves like a torch tensor that requires grad and lives on a device: numpy() refuses until detached."""

    def __init__(self, array, attached=True, on_device=True):
        self.array, self.attached, self.on_device = np.asarray(array, dtype=np.float32), attached, on_device

    def detach(self):
        return FakeTorchTensor(self.array, attached=False, on_device=self.on_device)

    def cpu(self):
        return FakeTorchTensor(self.array, attached=self.attached, on_device=False)

    def numpy(self):
        if self.attached or self.on_device:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad / is on a device")
        return self.array

    def __array__(self, dtype=None, copy=None):
        return self.numpy()


def test_framework_tensors_are_converted_by_duck_typing():
    from ils_ref.checking.runner import to_numpy

    report = check(lambda *a: FakeTorchTensor(ils_numpy(*a)))  # requires_grad, on a device, float32
    assert report.ok and {r.dtype for r in report.results} == {"float32"}
    assert to_numpy([1.0, 2.0]).tolist() == [1.0, 2.0]

    class DLPackOnly:
        def __init__(self, array):
            self.array = array

        def __array__(self, dtype=None, copy=None):
            raise TypeError("no __array__ here")

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    np.testing.assert_array_equal(to_numpy(DLPackOnly(np.arange(3.0))), [0.0, 1.0, 2.0])


def test_verbose_shows_details_under_every_case(tmp_path, monkeypatch, capsys):
    report = check(ils_numpy)
    assert report.ok and "worst dlogits" not in str(report)
    assert report.render(verbose=True).count("worst dlogits") == len(report.results)
    assert "pi_D = " in report.render(verbose=True)
