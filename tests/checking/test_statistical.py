"""The statistical check of a whole ILS estimator catches mistakes in the sampling half."""

import numpy as np
import pytest

from ils_ref.checking.statistical import check_estimator
from ils_ref.cli import main


def ils_sampled(logits, dz_of, rng, alpha, *, draw="sample", temperature=1.0, alpha_used=None):
    """ILS with its own draw; switches plant a mistake in the sampling half (or ignore alpha)."""
    alpha = alpha if alpha_used is None else alpha_used
    e = np.exp((logits - logits.max(-1, keepdims=True)) / temperature)
    draw_probs = e / e.sum(-1, keepdims=True)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    if draw == "argmax":
        index = np.argmax(probs, axis=-1)
    else:
        u = rng.random(probs.shape[:-1])[..., None]
        index = np.minimum((np.cumsum(draw_probs, axis=-1) <= u).sum(-1), probs.shape[-1] - 1)
    z = np.zeros_like(logits)
    np.put_along_axis(z, index[..., None], 1.0, axis=-1)
    dz = dz_of(z)
    w = z - alpha * (dz - np.take_along_axis(dz, index[..., None], axis=-1))
    w = np.maximum(w, 0)
    return probs - w / w.sum(-1, keepdims=True)


def test_a_correct_estimator_passes():
    report = check_estimator(ils_sampled, n_samples=800)
    assert report.ok, str(report)
    assert "detects (90%)" in str(report)


@pytest.mark.parametrize("mistake", [dict(draw="argmax"), dict(temperature=0.5), dict(alpha_used=1.0)],
                         ids=["argmax instead of a draw", "tempered softmax", "alpha ignored"])
def test_sampling_mistakes_are_caught(mistake):
    report = check_estimator(lambda *a, **k: ils_sampled(*a, **k, **mistake), n_samples=800)
    assert not report.ok
    assert sum(not r.ok for r in report.results) >= 2


def test_the_command_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "argmax_impl.py").write_text(
        "import numpy as np\n"
        "def fn(logits, dz_of, rng, alpha):\n"
        "    e = np.exp(logits - logits.max(-1, keepdims=True)); p = e / e.sum(-1, keepdims=True)\n"
        "    k = np.argmax(p, axis=-1)[..., None]\n"
        "    z = np.zeros_like(logits); np.put_along_axis(z, k, 1.0, axis=-1)\n"
        "    dz = dz_of(z); w = np.maximum(z - alpha * (dz - np.take_along_axis(dz, k, axis=-1)), 0)\n"
        "    return p - w / w.sum(-1, keepdims=True)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--statistical", "argmax_impl:fn", "--samples", "1000"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_compare_takes_outside_estimators(tmp_path, monkeypatch, capsys):
    (tmp_path / "outside_impl.py").write_text(
        "import numpy as np\n"
        "def fn(logits, dz_of, rng, alpha):\n"
        "    e = np.exp(logits - logits.max(-1, keepdims=True)); p = e / e.sum(-1, keepdims=True)\n"
        "    u = rng.random(p.shape[:-1])[..., None]\n"
        "    k = np.minimum((np.cumsum(p, -1) <= u).sum(-1), p.shape[-1] - 1)[..., None]\n"
        "    z = np.zeros_like(logits); np.put_along_axis(z, k, 1.0, axis=-1)\n"
        "    dz = dz_of(z); w = np.maximum(z - alpha * (dz - np.take_along_axis(dz, k, axis=-1)), 0)\n"
        "    return p - w / w.sum(-1, keepdims=True)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--problem", "linear", "--samples", "200", "--estimator", "outside_impl:fn"]) == 0
    out = capsys.readouterr().out
    assert "outside_impl:fn(alpha=0.1)" in out
    assert main(["compare", "--problem", "linear", "--estimator", "no_such_module_xyz:fn"]) == 2
