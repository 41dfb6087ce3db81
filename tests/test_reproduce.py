"""ils-ref reproduce: files, shapes, the summary table against the .npz, reproducibility."""

import re

import numpy as np
import pytest

from ils_ref.cli import main
from ils_ref.experiments import FAIR_SETTINGS, Setting, make_problems, order_settings, summarize, toy_metric, train
from ils_ref.problems import exact_gradient, make_toy1
from ils_ref.softmax import softmax

STEPS, SEEDS = 200, 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["reproduce", "--steps", str(STEPS), "--seeds", str(SEEDS), "--out", str(out)]) == 0
    return out, buf.getvalue()


def test_files_and_shapes(run_dir):
    out, text = run_dir
    for name in ("toy1_curves.npz", "toy1_faithful.png", "toy1_fair.png"):
        assert (out / name).stat().st_size > 1000
    data = np.load(out / "toy1_curves.npz")
    names = list(data["settings"])
    assert len(names) == 10 and "exact gradient" in names
    for key in data["keys"]:
        assert data[key].shape == (SEEDS, STEPS)  # step axis last
        assert data["faithful_" + key].shape == (STEPS,)
    np.testing.assert_array_equal(data["seeds"], np.arange(SEEDS))
    assert "step     200/200 (100%)" in text  # progress lines


def test_summary_table_matches_the_npz(run_dir):
    out, text = run_dir
    data = np.load(out / "toy1_curves.npz")
    curves = np.stack([data[k] for k in data["keys"]])
    stats = summarize(curves, list(data["settings"]), window=100)
    fair = text.split("fair:")[1].split("faithful:")[0]
    for s in stats:
        row = re.search(re.escape(s.setting) + r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\w+)", fair)
        assert row, s.setting
        start, minimum, final = (float(row.group(i)) for i in (1, 2, 3))
        np.testing.assert_allclose([start, minimum, final], [s.start, s.minimum, s.final], atol=5e-6)
        assert row.group(4) == (str(s.settle_step) if s.settle_step is not None else "never")


def test_two_runs_give_identical_curves(tmp_path):
    for name in ("a", "b"):
        assert main(["reproduce", "--steps", "50", "--seeds", "2", "--out", str(tmp_path / name)]) == 0
    a, b = np.load(tmp_path / "a" / "toy1_curves.npz"), np.load(tmp_path / "b" / "toy1_curves.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def test_vectorised_training_equals_one_setting_at_a_time():
    # the same problems and noise per setting must give the same curves in or out of the batch;
    # the exact-gradient setting draws no noise, so it can be checked against a plain loop.
    targets, logits = make_problems([3, 4])
    settings = order_settings(FAIR_SETTINGS)
    n = len(settings)
    tt = np.broadcast_to(targets, (n,) + targets.shape).copy()
    ll = np.broadcast_to(logits, (n,) + logits.shape).copy()
    curves = train(settings, tt, ll, steps=30)
    exact_row = settings.index(Setting("exact"))
    for p in range(2):
        problem = make_toy1(targets[p], logits[p])
        theta = logits[p].copy()
        for step in range(30):
            assert np.isclose(curves[exact_row, p, step], toy_metric(softmax(theta), targets[p]), rtol=1e-12)
            theta = theta - 0.01 * exact_gradient(problem, theta)


def test_bad_arguments(capsys, tmp_path):
    assert main(["reproduce", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "--steps must be >= 2" in capsys.readouterr().err
    assert main(["reproduce", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "--steps", "10", "--out", str(blocker / "sub")]) == 2
    assert "cannot create" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ordered by estimator family"):
        train(list(reversed(order_settings(FAIR_SETTINGS))), np.zeros((10, 1, 2, 2)), np.zeros((10, 1, 2, 2)), steps=2)
