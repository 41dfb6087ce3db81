"""``ils-ref vae`` on a tiny model: the JSON contract, reproducibility, fairness of the set-up, the harness check."""

import json
from dataclasses import replace

import numpy as np
import pytest

from ils_ref.cli import main
from ils_ref.estimators.interface import exact, ils, reinforce_loo, reinmax
from ils_ref.experiments import vae as V
from ils_ref.experiments import vae_report as R
from ils_ref.models.vae import CategoricalVAE

TINY = V.Settings(
    steps=12, seeds=2, batch=10, evaluations=3, checkpoints=(0.0, 1.0), draws=16, eval_batch=6,
    n_train=40, n_valid=20, n_test=20, n_train_eval=30, lr_grid=(3e-3, 3e-2), model=CategoricalVAE(pixels=64, latents=2, categories=3, hidden=8),
)  # fmt: skip
ESTIMATORS = [exact(), ils(0.1), reinforce_loo(2), reinmax(1.0)]


@pytest.fixture(scope="module")
def result():
    return V.run(TINY, ESTIMATORS)


def _without_times(result):
    doc = json.loads(R.to_json(result))
    doc.pop("seconds_total")
    for row in doc["estimators"]:
        row.pop("seconds"), row.pop("seconds_per_step")
    return doc


def test_the_json_keeps_its_contract(result):
    doc = json.loads(R.to_json(result))
    assert [r["name"] for r in doc["estimators"]] == [e.label for e in ESTIMATORS]
    for row in doc["estimators"]:
        for key in ("name", "draws_per_step", "final_test_elbo", "final_test_elbo_ci", "grad_bias", "grad_variance", "seconds"):
            assert key in row, key
        lo, hi = row["final_test_elbo_ci"]
        assert lo <= row["final_test_elbo"] <= hi
        assert len(row["grad_bias"]) == len(row["grad_variance"]) == len(doc["checkpoints"]) == 2
        assert row["seconds"] > 0
        assert row["lr_grid"] == list(TINY.lr_grid) and len(row["validation_elbo"]) == len(TINY.lr_grid)
        assert row["lr"] == TINY.lr_grid[int(np.argmax(row["validation_elbo"]))]  # chosen on validation only
        assert row["final_test_elbo"] == pytest.approx(row["final_test_elbo_by_lr"][TINY.lr_grid.index(row["lr"])])
    assert [r["draws_per_step"] for r in doc["estimators"]] == [9, 1, 2, 1]
    first = doc["estimators"][0]
    assert first["grad_bias"] == [0.0, 0.0] and first["grad_variance"] == [0.0, 0.0]
    assert first["grad_snr_per_draw"] == [None, None]  # no noise: an infinite SNR, which JSON cannot hold
    assert all(0.5 < b for b in doc["estimators"][1]["grad_bias"])  # ILS's mean is far from the gradient


def test_a_seeded_run_reproduces_bit_for_bit(result):
    assert _without_times(V.run(TINY, ESTIMATORS)) == _without_times(result)


def test_every_estimator_starts_from_the_same_models_on_the_same_batches(result):
    starts = [np.asarray(r["test_elbo_curve"])[0] for r in result["estimators"]]
    for s in starts[1:]:
        np.testing.assert_array_equal(s, starts[0])
    assert not np.array_equal(V._minibatches(TINY, 0), V._minibatches(TINY, 1))
    np.testing.assert_array_equal(V._minibatches(TINY, 3), V._minibatches(TINY, 3))


def test_adams_first_step_moves_every_parameter_by_the_learning_rate():
    params = {"w": np.array([1.0, -2.0, 3.0])}
    V.Adam(params, lr=0.1).step(params, {"w": np.array([5.0, -1e-3, 0.0])})
    np.testing.assert_allclose(params["w"], [0.9, -1.9, 3.0], rtol=1e-6)  # m̂/√v̂ = sign(g) at t = 1


def test_adam_with_one_learning_rate_per_model_moves_each_model_by_its_own():
    params = {"w": np.ones((2, 3, 4)), "b": np.zeros((2, 4))}
    V.Adam(params, lr=np.array([0.1, 0.01])).step(params, {"w": np.ones((2, 3, 4)), "b": -np.ones((2, 4))})
    np.testing.assert_allclose(params["w"][0], 0.9, rtol=1e-6)
    np.testing.assert_allclose(params["w"][1], 0.99, rtol=1e-6)
    np.testing.assert_allclose(params["b"], [[0.1] * 4, [0.01] * 4], rtol=1e-6)


def test_every_learning_rate_starts_from_the_same_models_and_the_data_are_disjoint():
    data = V.split(TINY)
    trained = V.train(exact(), replace(TINY, steps=2, evaluations=1), data)
    start = trained["curves"]["test"][0]  # (G, S) at step 0
    np.testing.assert_array_equal(start[0], start[1])
    assert not np.array_equal(trained["curves"]["test"][-1][0], trained["curves"]["test"][-1][1])
    assert [len(x) for x in data] == [TINY.n_train, TINY.n_valid, TINY.n_test]
    # the test glyphs do not depend on how the training glyphs are split
    np.testing.assert_array_equal(V.split(replace(TINY, n_train=50, n_valid=10))[2], data[2])


def test_the_learning_rate_is_the_best_mean_validation_elbo():
    assert V.choose_lr(np.array([[-3.0, -3.0], [-1.0, -4.0], [-2.0, -2.1]])) == 2  # means -3, -2.5, -2.05
    assert V.choose_lr(np.array([[-1.0], [-1.0]])) == 0  # a tie: the first


def test_the_harness_check_fails_when_an_estimator_beats_the_exact_gradient(result):
    assert R.harness_check(result)[0] in (True, False)
    rigged = {**result, "estimators": [dict(r) for r in result["estimators"]]}
    rigged["estimators"][1]["final_test_elbo"] = rigged["estimators"][0]["final_test_elbo_ci"][1] + 1.0
    ok, message = R.harness_check(rigged)
    assert not ok and ESTIMATORS[1].label in message
    assert "harness check (FAILS)" in R.summary_table(rigged)


def test_the_interval_is_students_t():
    mean, lo, hi = V.interval(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and hi - mean == pytest.approx(4.302652729749464 / np.sqrt(3), rel=1e-12)
    assert V.interval(np.array([5.0])) == (5.0, 5.0, 5.0)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="checkpoints"):
        replace(TINY, checkpoints=(1.5,))
    with pytest.raises(ValueError, match="n_train"):
        replace(TINY, batch=100)
    with pytest.raises(ValueError, match="steps"):
        replace(TINY, steps=0)
    with pytest.raises(ValueError, match="exact"):
        V.run(TINY, [ils(0.1)])
    with pytest.raises(TypeError, match="settings"):
        V.run({"steps": 3})
    for grid in ((), (1e-3, 1e-3), (1e-3, -1.0), [1e-3]):
        with pytest.raises(ValueError, match="lr_grid"):
            replace(TINY, lr_grid=grid)


def test_the_command_writes_figures_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(V, "QUICK", TINY)
    monkeypatch.setattr(V, "vae_estimators", lambda: ESTIMATORS)
    out, doc = tmp_path / "figs", tmp_path / "vae.json"
    code = main(["vae", "--quick", "--steps", "6", "--lr", "0.01", "--lr", "0.1", "--json", str(doc), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code in (0, 1) and ("harness check (holds)" in printed) == (code == 0)
    assert (out / "vae_elbo.png").stat().st_size > 10_000 and (out / "vae_gradients.png").stat().st_size > 10_000
    loaded = json.loads(doc.read_text())
    assert loaded["settings"]["steps"] == 6 and len(loaded["estimators"]) == len(ESTIMATORS)
    assert loaded["settings"]["lr_grid"] == [0.01, 0.1] and all(r["lr"] in (0.01, 0.1) for r in loaded["estimators"])


def test_the_command_refuses_bad_usage_before_any_work(tmp_path, capsys):
    for bad in (["--steps", "0"], ["--seeds", "0"], ["--steps", "x"], ["--lr", "0"], ["--lr", "nan"]):
        with pytest.raises(SystemExit) as exc:
            main(["vae"] + bad)
        assert exc.value.code == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["vae", "--quick", "--out", str(blocker / "sub")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["vae", "--quick", "--lr", "0.01", "--lr", "0.01", "--out", str(tmp_path)]) == 2
    assert "lr_grid" in capsys.readouterr().err


def test_the_help_states_the_sizes_the_code_uses():
    from ils_ref.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["vae"].format_help()
    assert f"default {V.DEFAULT.steps}; {V.QUICK.steps} with --quick" in " ".join(text.split())
    assert f"default {V.DEFAULT.seeds}; {V.QUICK.seeds} with --quick" in " ".join(text.split())
    grids = [", ".join(f"{lr:g}" for lr in s.lr_grid) for s in (V.DEFAULT, V.QUICK)]
    assert f"default {grids[0]}; {grids[1]} with --quick" in " ".join(text.split())


def test_the_exact_estimator_through_the_interface_is_the_exact_elbo_gradient():
    from ils_ref.models.vae import exact_negative_elbo

    model = TINY.model
    params = model.init([0, 1])
    x = (np.random.default_rng(0).random((2, 7, model.pixels)) < 0.3).astype(float)
    through_interface = V.estimated_gradient(model, exact(), params, x, np.random.default_rng(0))
    closed_form = exact_negative_elbo(model, params, x)[1]
    assert set(through_interface) == set(closed_form)
    for k, g in closed_form.items():
        np.testing.assert_allclose(through_interface[k], g, rtol=1e-11, atol=1e-14)


def test_the_elbo_figure_names_every_line_in_the_margin_and_says_where_step_0_is(result):
    import matplotlib.pyplot as plt

    from ils_ref.experiments.vae_figures import draw_elbo, short_label

    fig = draw_elbo(result)
    fig.canvas.draw()
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [f"{short_label(r['name'])}, lr {r['lr']:g}" for r in result["estimators"]]
    box, right_panel = legend.get_window_extent(), fig.axes[1].get_window_extent()
    assert box.x0 >= right_panel.x1 and box.x1 <= fig.bbox.x1, "the legend covers the curves or is cut off"
    low = fig.axes[0].get_ylim()[0]
    starts = [float(np.mean(result["estimators"][0][k][0])) for k in ("train_elbo_curve", "test_elbo_curve")]
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert titles.count("below the axis") == sum(s < low for s in starts)
    assert all(f"{s:.1f}" in titles for s in starts if s < low)
    plt.close(fig)


def test_the_gradient_figure_draws_unresolved_biases_as_floors_and_cuts_huge_ones_with_their_value(result):
    import matplotlib.pyplot as plt

    from ils_ref.experiments.vae_figures import draw_gradients

    rigged = {**result, "estimators": [dict(r) for r in result["estimators"]]}
    rigged["estimators"][1]["grad_bias"] = [0.0, 3.0e4]  # ILS: unresolved at the first checkpoint, huge at the last
    rigged["estimators"][1]["grad_bias_floor"] = [0.2, 0.1]
    fig = draw_gradients(rigged, ceiling=100.0)
    bars = [p for p in fig.axes[0].patches]
    hollow = [p for p in bars if p.get_facecolor()[3] == 0]
    ax = fig.axes[0]
    bottom = ax.get_ylim()[0]
    assert any(abs(p.get_y() + p.get_height() - 0.2) < 1e-12 and p.get_y() == bottom for p in hollow)
    assert max(p.get_y() + p.get_height() for p in bars) == 100.0  # cut at the ceiling
    assert "3.0e+04" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_a_diverged_learning_rate_is_never_chosen_and_all_diverged_is_an_error():
    assert V.choose_lr(np.array([[np.nan, -1.0], [-3.0, -3.0], [-np.inf, -np.inf]])) == 1
    with pytest.raises(ValueError, match="every learning rate of lr_grid diverged"):
        V.choose_lr(np.array([[np.nan], [-np.inf]]))


def test_settings_hold_plain_floats_and_name_what_is_wrong():
    from fractions import Fraction

    assert replace(TINY, lr_grid=(Fraction(1, 100), np.float32(0.5), np.array(0.25))).lr_grid == (0.01, 0.5, 0.25)
    assert all(type(lr) is float for lr in replace(TINY, lr_grid=(np.array(0.25),)).lr_grid)
    with pytest.raises(ValueError, match=r"lr_grid must hold Adam learning rates in \(0, 1\]"):
        replace(TINY, lr_grid=(1e-3, 10.0))
    with pytest.raises(TypeError, match="model"):
        replace(TINY, model=None)
    with pytest.raises(TypeError, match="checkpoints"):
        replace(TINY, checkpoints=("a",))
    with pytest.raises(TypeError, match="checkpoints"):
        replace(TINY, checkpoints=0.5)
    with pytest.raises(ValueError, match="evaluations must be at most steps"):
        replace(TINY, evaluations=10**9)
    with pytest.raises(TypeError, match="Estimator"):
        V.run(TINY, [exact(), "ils"])
    assert V.settings_for(quick=True, steps=2).evaluations == 2  # a short run is evaluated at every step


def test_the_grid_edge_is_the_smallest_or_largest_rate_wherever_it_stands_in_the_grid():
    settings = replace(TINY, lr_grid=(3e-3, 3e-2, 1e-3), steps=4, evaluations=1)
    for row in V.run(settings, [exact(), ils(0.1)])["estimators"]:
        assert row["lr_at_grid_edge"] == (row["lr"] in (1e-3, 3e-2))


def test_a_saturated_encoder_has_no_relative_gradient_measures_rather_than_a_division_by_zero():
    model = TINY.model
    params = model.init([0, 1])
    params["enc_w2"][:] = 0.0
    params["enc_b2"][:] = np.tile([1000.0] + [0.0] * (model.categories - 1), model.latents)  # pi = e_0 exactly
    stats = V.gradient_statistics(ils(0.1), replace(TINY, seeds=2), {0: params}, V.split(TINY)[0][:4])
    assert np.isnan(stats["bias"]).all() and np.isnan(stats["variance"]).all()
    assert np.isnan(V.seed_mean(stats["bias"])).all()
    assert V.seed_mean(np.array([[1.0, np.nan], [np.nan, np.nan]])).tolist()[0] == 1.0


def test_the_memory_guard_counts_the_gradient_statistics(capsys):
    # 8 seeds at the default sizes: about 2.3 GiB in the gradient statistics alone (measured: 2.4 GiB peak)
    assert V.peak_bytes(replace(V.DEFAULT, seeds=8, lr_grid=(0.01,)), V.vae_estimators()) > 2 * 1024**3
    assert V.peak_bytes(V.DEFAULT, V.vae_estimators()) < 2 * 1024**3
    assert main(["vae", "--seeds", "8", "--lr", "0.01", "--steps", "1"]) == 2
    assert "GiB" in capsys.readouterr().err


def test_the_gradient_figure_keeps_tiny_biases_above_its_floor_and_survives_no_finite_snr(result):
    import matplotlib.pyplot as plt

    from ils_ref.experiments.vae_figures import draw_gradients

    rigged = {**result, "estimators": [dict(r) for r in result["estimators"]]}
    rigged["estimators"][1]["grad_bias"] = [1e-6, 0.0]
    rigged["estimators"][1]["grad_bias_floor"] = [1e-7, 500.0]  # unresolved, with a floor above the ceiling
    for r in rigged["estimators"]:
        r["grad_snr_per_draw"] = [None, None]
    fig = draw_gradients(rigged, ceiling=100.0)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] <= 1e-7
    assert "≤5.0e+02" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_the_elbo_figure_says_where_step_0_is_when_it_lies_above_the_axis(result):
    import matplotlib.pyplot as plt

    from ils_ref.experiments.vae_figures import draw_elbo

    rigged = {**result, "estimators": [dict(r) for r in result["estimators"]]}
    for r in rigged["estimators"]:  # every curve falls far below its start
        for k in ("train_elbo_curve", "test_elbo_curve"):
            curve = np.array(r[k], dtype=float)
            curve[1:] -= 1000.0
            r[k] = curve
    fig = draw_elbo(rigged)
    assert all("above the axis" in ax.get_title() for ax in fig.axes[:2])
    plt.close(fig)
