"""ils-ref compare: the table, the JSON document, reproducibility, argument errors."""

import json

import numpy as np
import pytest

from ils_ref.cli import main
from ils_ref.estimators.interface import ils, standard_estimators
from ils_ref.experiments.compare import compare
from ils_ref.models.problems import bernoulli_quadratic, exact_gradient, make_linear


def test_compare_table_and_json(tmp_path, capsys):
    out_file = tmp_path / "rows.json"
    assert main(["compare", "--problem", "bernoulli-quadratic", "--samples", "20000", "--json", str(out_file)]) == 0
    table = capsys.readouterr().out
    labels = [e.label for e in standard_estimators(bernoulli_quadratic(0.45))]
    for label in labels:
        assert label in table
    doc = json.loads(out_file.read_text())
    assert doc["problem"] == "bernoulli-quadratic" and doc["problem_params"] == {"t": 0.45}
    assert [r["label"] for r in doc["rows"]] == labels
    exact = exact_gradient(bernoulli_quadratic(0.45))
    for row in doc["rows"]:
        for key in ("estimator", "params", "exact", "mean", "stderr", "bias_norm", "cosine", "variance", "snr"):
            assert key in row
        np.testing.assert_allclose(row["exact"], exact, rtol=1e-15)
        assert len(row["mean"]) == len(row["stderr"]) == 2
    verdicts = {r["label"]: r["verdict"] for r in doc["rows"]}
    assert verdicts["reinforce"] == "consistent with unbiased"
    assert verdicts["straight-through(temperature=1.0)"] == "biased"


def test_target_and_problem_choice(capsys):
    assert main(["compare", "--problem", "bernoulli-quadratic", "--target", "0.499", "--samples", "100"]) == 0
    assert "'t': 0.499" in capsys.readouterr().out
    for name in ("toy1", "linear"):
        assert main(["compare", "--problem", name, "--samples", "100"]) == 0
        assert f"problem {name}" in capsys.readouterr().out


def test_compare_is_reproducible():
    a = compare(bernoulli_quadratic(), n_samples=500, seed=3)
    b = compare(bernoulli_quadratic(), n_samples=500, seed=3)
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra["mean"], rb["mean"])


def test_a_failing_setting_is_reported_in_its_row():
    # α large enough that Σ(z - αΔ) <= 0 for some draw under the "signed" policy
    problem = make_linear([[0.0, 10.0, 10.0]], [[2.0, 0.0, 0.0]])
    rows = compare(problem, [ils(0.5, policy="signed"), ils(0.5)], n_samples=200)
    assert "error" in rows[0] and "<= 0" in rows[0]["error"]
    assert "error" not in rows[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare"], "required: --problem"),
        (["compare", "--problem", "toy2"], "invalid choice: 'toy2'"),
        (["compare", "--problem", "toy1", "--samples", "many"], "expected an integer, got 'many'"),
        (["compare", "--problem", "toy1", "--samples", "1"], "argument --samples: must be >= 2, got 1"),
    ],
)
def test_argument_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_semantic_errors_exit_2(tmp_path, capsys):
    assert main(["compare", "--problem", "linear", "--target", "0.4"]) == 2
    assert "--target applies to" in capsys.readouterr().err
    bad = tmp_path / "missing" / "rows.json"
    assert main(["compare", "--problem", "linear", "--samples", "10", "--json", str(bad)]) == 2
    assert "cannot write" in capsys.readouterr().err
