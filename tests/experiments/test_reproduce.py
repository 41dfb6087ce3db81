"""ils-ref reproduce: files, shapes, the summary table against the .npz, reproducibility."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ils_ref.cli import main
from ils_ref.experiments import reproduce
from ils_ref.experiments.toy1 import (
    FAIR_SETTINGS,
    Setting,
    make_problems,
    order_settings,
    summarize,
    toy_metric,
    train,
)
from ils_ref.models.problems import exact_gradient, make_toy1
from ils_ref.ops.softmax import softmax

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
    for name in ("toy1_curves.npz", "toy1_faithful.png", "toy1_fair.png", "toy1_vs_post.png"):
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
    # Through the saved file, every array it holds (the command line's own path is run_dir's;
    # its figures would only add seconds here).
    for name in ("a", "b"):
        reproduce.save_npz(reproduce.run(steps=50, seeds=2), str(tmp_path / f"{name}.npz"))
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
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
    for argv, message in ((["--steps", "1"], "argument --steps: must be >= 2, got 1"),
                          (["--seeds", "0"], "argument --seeds: must be >= 1, got 0")):
        with pytest.raises(SystemExit) as exc:
            main(["reproduce", *argv, "--out", str(tmp_path)])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "--steps", "10", "--out", str(blocker / "sub")]) == 2
    assert "cannot write to" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ordered by estimator family"):
        train(list(reversed(order_settings(FAIR_SETTINGS))), np.zeros((10, 1, 2, 2)), np.zeros((10, 1, 2, 2)), steps=2)


def test_summarize_by_hand():
    curve = np.array([1.0, 0.5, 0.2, 0.12, 0.1, 0.1])[None, None, :]
    (s,) = summarize(curve, ["x"], window=2)
    assert (s.start, s.minimum, s.final) == (1.0, 0.1, 0.1)
    assert s.settle_step == 4  # |0.12 - 0.1| = 0.02 > 10% of 0.1; 0.1 is the first within
    (never,) = summarize(np.array([1.0, 3.0, 1.0, 3.0])[None, None, :], ["y"], window=2)
    assert never.final == 2.0 and never.settle_step is None


@pytest.mark.parametrize("estimator, value", [("ils", 0.5), ("ils-prototype", 0.5), ("gumbel", 0.3)])
def test_one_training_step_equals_the_public_functions(estimator, value):
    # smoothing 1.0 makes z - alpha*Delta negative for some draws, so the policy matters
    from ils_ref import (
        gumbel_softmax_backward,
        gumbel_softmax_forward,
        ils_backward,
        ils_forward,
    )

    targets, logits = make_problems([5])
    setting = [Setting(estimator, value)]
    curves, theta = train(setting, targets[None], logits[None], steps=1, smoothing=1.0, seed=9, return_logits=True)
    np.testing.assert_allclose(curves[0, :, 0], toy_metric(softmax(logits), targets, 1.0), rtol=1e-14)
    rng = np.random.default_rng(9)
    if estimator == "gumbel":
        y, cache = gumbel_softmax_forward(logits, value, u=rng.random(logits.shape))
        grad = gumbel_softmax_backward(-targets / (25 * (y + 1.0)), cache)
    else:
        z, cache = ils_forward(logits, u=rng.random(logits.shape[:-1]))
        options = dict(prototype=True, policy="signed") if estimator == "ils-prototype" else {}
        grad = ils_backward(-targets / (25 * (z + 1.0)), cache, value, **options)
    np.testing.assert_allclose(theta[0], logits - 0.01 * grad, rtol=0, atol=1e-15)


def test_a_saved_run_is_reused_only_when_it_matches(tmp_path):
    from ils_ref.experiments.reproduce import load_npz, run, run_or_load, save_npz

    fresh = run(steps=4, seeds=2)
    path = str(tmp_path / "toy1_curves.npz")
    save_npz(fresh, path)
    loaded = load_npz(path)
    for field in ("curves", "faithful", "seeds", "faithful_seeds", "final_logits", "targets"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(fresh, field))
    assert loaded.names == fresh.names and loaded.steps == 4 and loaded.lr == fresh.lr
    result, source = run_or_load([str(tmp_path / "missing.npz"), path], steps=4, seeds=2)
    assert source == path and result.curves is not fresh.curves
    result, source = run_or_load([path], steps=5, seeds=2)  # other steps: a new run
    assert source is None and result.steps == 5
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert load_npz(str(tmp_path / "junk.npz")) is None


def legends_of(fig):
    """The axes' legends, then the figure's."""
    return [a.get_legend() for a in fig.axes if a.get_legend()] + list(fig.legends)


def assert_inside(fig, artists):
    """Every artist is drawn wholly inside the figure (not cut off by its edge)."""
    for artist in artists:
        box = artist.get_window_extent()
        inside = fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
        assert inside, f"{artist} at {box} is cut off by the figure's edge {fig.bbox}"


def test_the_fair_figure_shows_every_panels_legend_inside_the_figure_and_off_the_curves():
    from ils_ref.experiments.figures import draw_fair
    from ils_ref.experiments.toy1 import band

    result = reproduce.run(steps=20, seeds=2)
    fig = draw_fair(result, band)
    fig.canvas.draw()
    legends = legends_of(fig)
    assert len(legends) == 3
    labels = [label for ax in fig.axes for label in (ax.xaxis.label, ax.yaxis.label) if label.get_text()]
    assert len(labels) == 4  # three x labels, one shared y label
    assert_inside(fig, labels)
    for ax, legend in zip(fig.axes, legends):
        assert_inside(fig, [legend])
        assert legend.get_window_extent().y1 <= ax.xaxis.label.get_window_extent().y0, \
            "the legend is drawn over the curves or the x label"
        names = [t.get_text() for t in legend.get_texts()]
        drawn = [line.get_label() for line in ax.get_lines()]
        assert names == drawn and len(names) == 4  # three alpha or T values and the exact gradient
    plt.close(fig)


def test_the_post_s_end_values_are_drawn_at_the_post_s_step_not_at_the_end_of_a_shorter_run():
    from dataclasses import replace

    from ils_ref.experiments.figures import POST_STEPS, draw_versus_post

    short = reproduce.run(steps=20, seeds=1)
    full = replace(short, steps=POST_STEPS, faithful=np.resize(short.faithful, (len(short.settings), POST_STEPS)))
    for result in (short, full):
        fig = draw_versus_post(result)
        fig.canvas.draw()
        assert_inside(fig, fig.legends)
        names = fig.legends[0].get_texts()
        for ax in fig.axes:
            run, post, level = ax.get_lines()
            post_end = post.get_xdata()[1]
            assert list(post.get_xdata()) == [0, post_end]
            if result is full:
                assert post_end == POST_STEPS - 1 and not ax.patches  # at its step, no break
                continue
            # past the run's last step and the break, at a tick that names the post's step
            (gap,) = ax.patches
            gap_from, gap_to = gap.get_x(), gap.get_x() + gap.get_width()
            assert run.get_xdata()[-1] < gap_from < post_end < gap_to <= ax.get_xlim()[1]
            if ax.get_xlabel():  # the bottom row: the shared x axis shows its tick labels there
                ticks = dict(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels())))
                assert ticks[post_end] == f"{POST_STEPS:,}\n(post)"
        assert len(names) == (3 if result is full else 4)  # every line (and the break) named
        plt.close(fig)
