"""ils-ref check cannot be fooled (issue 21): a verdict the checked code cannot reach, three outcomes, vectors v3, hints."""

import json
import re
import textwrap

import numpy as np
import pytest

from ils_ref.checking.conformance import check
from ils_ref.checking.runner import arguments
from ils_ref.checking.signatures import SIGNATURES, STATISTICAL, readme_table
from ils_ref.checking.statistical import check_estimator
from ils_ref.checking.vectors import load_vectors
from ils_ref.cli import EXIT, main


def run(argv, capsys, tmp_path, monkeypatch, **modules):
    for name, body in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


# --------------------------------------------------------------------------
# 1. the verdict lives apart from the checked code

ZEROS = "\ndef fn(logits, index, dz, alpha):\n    return np.zeros_like(logits)\n"
HOSTILE = {
    # each returns zeros, and at import tries to make zeros pass
    "patches the comparison": "import numpy as np\nimport ils_ref.checking.conformance as c, ils_ref.checking.isolated as i\n"
    "ok = lambda *a, **k: c.CaseResult('x', True, 0.0, 0.0, 1.0, 1.0, '')\nc.judge = i.judge = c.run_case = i.run_case = ok\n" + ZEROS,
    "patches numpy": "import numpy as np\nnp.abs = lambda x, *a, **k: np.zeros(np.shape(x))\n"
    "np.any = lambda *a, **k: False\n" + ZEROS,
    "reads its callers' frames": "import sys\nimport numpy as np\n"
    "def fn(logits, index, dz, alpha):\n    f = sys._getframe(1)\n    while f is not None:\n"
    "        for v in f.f_locals.values():\n"
    "            if isinstance(v, dict) and 'expected' in v:\n                return np.asarray(v['expected']['dlogits'])\n"
    "        f = f.f_back\n    return np.zeros_like(logits)\n",
    "forges a pickled reply": "import gc, os, pickle\nimport numpy as np\nfrom multiprocessing.connection import Connection\n"
    "class Payload:\n    def __reduce__(self):\n        return (os.mkdir, (os.path.abspath('PWNED'),))\n"
    "for obj in gc.get_objects():\n    if isinstance(obj, Connection):\n        obj.send_bytes(pickle.dumps(Payload()))\n"
    + ZEROS,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_code_that_attacks_the_checker_still_fails(name, tmp_path, monkeypatch, capsys):
    code, text = run(["check", "hostile:fn", "--timeout", "20"], capsys, tmp_path, monkeypatch, hostile=HOSTILE[name])
    assert code == EXIT["fail"], text  # before: exit 0, "PASS: 18 of 18"
    assert "PASS" not in text and not (tmp_path / "PWNED").exists()


def test_the_child_never_receives_an_expected_value(monkeypatch):
    from ils_ref.checking import isolated

    sent = []
    original = isolated.Child.ask
    monkeypatch.setattr(isolated.Child, "ask", lambda self, job: sent.append(job) or original(self, job))
    isolated.check_isolated("numpy:zeros_like", op="softmax_backward")
    assert sent and all("expected" not in json.dumps(job, default=str) for job in sent)
    assert all(set(job) == {"kind", "op", "inputs", "layout", "framework"} for job in sent)


# --------------------------------------------------------------------------
# 2. three outcomes, three exit codes; --statistical and compare --estimator isolated too

SAMPLED_ILS = """
import numpy as np
def fn(logits, dz_of, rng, alpha=0.1):
    e = np.exp(logits - logits.max(-1, keepdims=True)); p = e / e.sum(-1, keepdims=True)
    u = rng.random(p.shape[:-1])[..., None]
    k = np.minimum((np.cumsum(p, -1) <= u).sum(-1), p.shape[-1] - 1)[..., None]
    z = np.zeros_like(logits); np.put_along_axis(z, k, 1.0, axis=-1)
    dz = dz_of(z); w = np.maximum(z - alpha * (dz - np.take_along_axis(dz, k, axis=-1)), 0)
    return p - w / w.sum(-1, keepdims=True)
"""


def test_pure_noise_is_never_a_pass():
    for scale, n in ((50.0, 400), (1e4, 4000), (1e-6, 100)):
        noise = lambda logits, dz_of, rng, alpha=0.1: rng.normal(scale=scale, size=logits.shape)  # noqa: E731
        report = check_estimator(noise, n_samples=n)
        assert report.verdict != "pass", str(report)  # before: "PASS: 6 of 6 settings" at scale 50
    loud = check_estimator(lambda logits, dz_of, rng, alpha=0.1: rng.normal(scale=1e4, size=logits.shape), n_samples=200)
    assert loud.verdict == "inconclusive" and "about --samples" in str(loud)


STATISTICAL_HOSTILE = {  # what only a child process survives
    "os._exit": ("import os\ndef fn(logits, dz_of, rng, alpha=0.1):\n    os._exit(0)\n", "ended the process"),
    "sys.exit at import": ("import sys\nsys.exit(0)\n", "raised SystemExit"),
    "hangs": ("import time\ndef fn(logits, dz_of, rng, alpha=0.1):\n    time.sleep(60)\n", "timed out after 1 s"),
}


def test_careless_estimators_fail_their_settings_with_a_reason():
    # the child runs the same runner.draw: these need no process of their own to be tested
    careless = {
        "raised TypeError": lambda logits, dz_of, rng: logits,  # no alpha
        "returned a generator": lambda logits, dz_of, rng, alpha=0.1: (x for x in [logits]),
        "returned shape (4,)": lambda logits, dz_of, rng, alpha=0.1: np.zeros(logits.shape[-1]),  # broadcastable
        "returned None": lambda logits, dz_of, rng, alpha=0.1: None,
    }
    for message, fn in careless.items():
        report = check_estimator(fn, n_samples=100)
        assert report.verdict == "fail" and all(message in (r.error or "") for r in report.results[:1]), str(report)


@pytest.mark.parametrize("name", sorted(STATISTICAL_HOSTILE))
def test_statistical_runs_the_estimator_isolated(name, tmp_path, monkeypatch, capsys):
    body, message = STATISTICAL_HOSTILE[name]
    code, text = run(["check", "--statistical", "est:fn", "--samples", "100", "--timeout", "1"], capsys, tmp_path,
                     monkeypatch, est=body)
    assert code == EXIT["fail"] and message in text and "Traceback" not in text, text


def test_compare_runs_outside_estimators_isolated(tmp_path, monkeypatch, capsys):
    code, text = run(["compare", "--problem", "linear", "--samples", "100", "--estimator", "dies:fn", "--estimator",
                      "good:fn", "--timeout", "5"], capsys, tmp_path, monkeypatch,
                     dies="import os\ndef fn(logits, dz_of, rng, alpha=0.1):\n    os._exit(0)\n", good=SAMPLED_ILS)
    assert code == EXIT["fail"] and "ended the process" in text and "estimator dies:fn did not run" in text, text
    assert "good:fn" not in text.split("did not run")[0].split("FAIL")[-1]
    for alpha in ("0.1", "0.01", "0.001"):  # every outside estimator runs at ILS's α values
        assert re.search(rf"good:fn\(alpha={alpha}\) +1 ", text), text


def test_compare_alpha_sets_ils_step_sizes(tmp_path, monkeypatch, capsys):
    code, text = run(["compare", "--problem", "linear", "--samples", "200", "--alpha", "0.05", "--alpha", "0.5",
                      "--estimator", "good:fn"], capsys, tmp_path, monkeypatch, good=SAMPLED_ILS)
    assert code == 0, text
    labels = re.findall(r"^((?:ils|ils-prototype|good:fn)\S*\(alpha=[0-9.]+)", text, flags=re.M)
    assert sorted(set(label.split("(alpha=")[1] for label in labels)) == ["0.05", "0.5"], labels
    assert len(labels) == 6, labels  # ILS, the prototype and the outside estimator, each at both α


def test_a_correct_estimator_passes_isolated_and_exit_codes_are_documented(tmp_path, monkeypatch, capsys):
    code, text = run(["check", "--statistical", "est:fn", "--samples", "1000"], capsys, tmp_path, monkeypatch, est=SAMPLED_ILS)
    assert code == EXIT["pass"] and "PASS: 6 of 6 settings pass" in text, text
    assert EXIT == {"pass": 0, "fail": 1, "inconclusive": 3}
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "3 inconclusive" in " ".join(capsys.readouterr().out.split())


def test_reinforce_loo_is_checked_against_the_exact_gradient():
    def loo(logits, f_of, rng, group=4, own_baseline=False):
        e = np.exp(logits - logits.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        u = rng.random((group,) + p.shape[:-1])[..., None]
        k = np.minimum((np.cumsum(p, -1) <= u).sum(-1), p.shape[-1] - 1)
        z = np.eye(p.shape[-1])[k]
        f = f_of(z)
        base = f.mean(0, keepdims=True) if own_baseline else (f.sum(0, keepdims=True) - f) / (group - 1)
        return np.mean((f - base)[..., None] * (z - p), axis=0)

    assert check_estimator(loo, op="reinforce_loo", n_samples=2000).verdict == "pass"
    biased = check_estimator(lambda *a, **k: loo(*a, **k, own_baseline=True) * 1.5, op="reinforce_loo", n_samples=2000)
    assert biased.verdict == "fail", str(biased)


# --------------------------------------------------------------------------
# 3. vectors v3

def test_vectors_v3_have_the_hard_cases_and_every_estimator():
    doc = load_vectors()
    assert doc["version"] == 3
    ils = [c for c in doc["cases"] if c["op"] == "ils_backward"]
    assert any(np.isneginf(np.asarray(c["inputs"]["logits"], dtype=float)).any() for c in ils)
    assert any(np.ndim(c["inputs"]["alpha"]) == 1 for c in ils)
    ks = {np.shape(c["inputs"]["logits"])[-1] for c in ils}
    assert 2 in ks and max(ks) >= 100
    assert {c.get("layout", "C") for c in ils} == {"C", "F", "strided"}
    for op in ("reinmax", "gumbel_rao", "straight_through", "bernoulli_ils", "gaussian_ils", "ils_backward_squared_error"):
        assert op in SIGNATURES and sum(c["op"] == op for c in doc["cases"]) >= 3, op


def test_layout_cases_hand_over_non_contiguous_arrays():
    seen = {}

    def spy(logits, index, dz, alpha):
        seen.setdefault((logits.flags.c_contiguous, logits.flags.f_contiguous), 0)
        seen[logits.flags.c_contiguous, logits.flags.f_contiguous] += 1
        from ils_ref import ils_backward, ils_cache

        return ils_backward(dz, ils_cache(logits, index), alpha)

    assert check(spy).ok
    assert (False, True) in seen and (False, False) in seen  # Fortran order, and strided
    case = next(c for c in load_vectors()["cases"] if c.get("layout") == "strided")
    assert not arguments("ils_backward", case["inputs"], "strided")[0].flags.c_contiguous


MALFORMED = {
    "a NaN expected value": lambda c: c["expected"]["dlogits"][0].__setitem__(0, float("nan")),
    "an inf expected value": lambda c: c["expected"]["dlogits"][0].__setitem__(0, float("inf")),
    "dz of another shape": lambda c: c["inputs"].update(dz=[[1.0, 2.0]]),
    "an index out of range": lambda c: c["inputs"].update(index=[9, 0, 0, 0]),
    "a +inf logit": lambda c: c["inputs"]["logits"][0].__setitem__(0, float("inf")),
    "an expected value of another shape": lambda c: c["expected"].update(dlogits=[[0.0]]),
    "a layout nobody knows": lambda c: c.update(layout="Z"),
    "a 401-digit alpha": lambda c: c["inputs"].update(alpha=10**400),  # before: an OverflowError traceback, exit 1
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
def test_malformed_cases_exit_2_with_one_line(label, tmp_path, capsys):
    from ils_ref.checking.vectors import content_hash, dumps, generate

    doc = json.loads(dumps(generate()))
    MALFORMED[label](doc["cases"][0])
    doc["sha256"] = content_hash(doc)  # a consistent hash: the content itself must be checked
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    assert main(["check", "json:dumps", "--vectors", str(path)]) == 2  # before, NaN expected: PASS 18/18, exit 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "ils_backward-01 is malformed" in err, err


def test_the_readme_lists_every_op_with_its_signature():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme
    for op in list(SIGNATURES) + list(STATISTICAL):
        assert f"`{op}`" in readme


# --------------------------------------------------------------------------
# 4. mistakes explain themselves

WRONG_ORDER = """
from ils_ref import ils_backward, ils_cache
def backward(logits, dz, index, alpha):
    return ils_backward(dz, ils_cache(logits, index), alpha)
"""


def test_every_case_raising_prints_the_signature_and_what_the_function_takes(tmp_path, monkeypatch, capsys):
    code, text = run(["check", "mine:backward"], capsys, tmp_path, monkeypatch, mine=WRONG_ORDER)
    assert code == 1 and "ils-ref calls fn(logits, index, dz, alpha) -> dlogits" in text
    assert "your function takes (logits, dz, index, alpha)" in text and "another order" in text
    code, text = run(["check", "est:fn"], capsys, tmp_path, monkeypatch, est=SAMPLED_ILS)
    assert code == 1 and "check it with ils-ref check --statistical" in text, text


def test_spec_and_import_mistakes_say_what_to_do(tmp_path, monkeypatch, capsys):
    code, text = run(["check", "mypkg.ils.backward"], capsys, tmp_path, monkeypatch)
    assert code == 2 and "did you mean mypkg.ils:backward?" in text
    code, text = run(["check", "no_such_pkg_xyz.ils:backward"], capsys, tmp_path, monkeypatch)
    assert code == 2 and f"looked in the current folder {tmp_path}" in text
    code, text = run(["check", "--op", "reinforce_loo", "x:y"], capsys, tmp_path, monkeypatch)
    assert code == 2 and "add --statistical" in text
    code, text = run(["check", "--statistical", "--op", "reinmax", "x:y"], capsys, tmp_path, monkeypatch)
    assert code == 2 and "--op ils_backward or reinforce_loo" in text


def test_case_notes_speak_for_the_policy_checked():
    from ils_ref import ils_backward, ils_cache

    def signed(logits, index, dz, alpha):
        return ils_backward(dz, ils_cache(logits, index), alpha, policy="signed")

    clip_notes = " ".join(r.note for r in check(lambda l, i, d, a: ils_backward(d, ils_cache(l, i), a)).results)
    signed_notes = " ".join(r.note for r in check(signed, policy="signed").results)
    assert "clipped at 0 (policy clip)" in clip_notes and "signed" not in clip_notes
    assert "kept (policy signed" in signed_notes and "clip" not in signed_notes  # before: "expected uses policy='clip'"


@pytest.mark.parametrize("op", ["bernoulli_ils", "gaussian_ils"])
def test_an_empty_case_is_malformed_because_it_would_pass_anything(op, tmp_path, capsys):
    from ils_ref.checking.vectors import content_hash, dumps, generate

    doc = json.loads(dumps(generate()))
    case = next(c for c in doc["cases"] if c["op"] == op)
    for group in ("inputs", "expected"):
        for name, value in case[group].items():
            if isinstance(value, list):
                case[group][name] = []  # a batch of none: before, every implementation passed it
    doc["cases"] = [case]
    doc["sha256"] = content_hash(doc)
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    assert main(["check", "json:dumps", "--vectors", str(path)]) == 2
    assert "empty" in capsys.readouterr().err


def test_the_child_does_not_see_the_command_line_that_names_the_vectors_file(tmp_path, monkeypatch, capsys):
    from importlib import resources

    vectors = tmp_path / "v.json"
    vectors.write_text(resources.files("ils_ref").joinpath("data/vectors.json").read_text(encoding="utf-8"))
    argv = ["check", "peeker:fn", "--vectors", str(vectors), "--timeout", "20"]
    monkeypatch.setattr("sys.argv", ["ils-ref"] + argv)  # as the command line sets it; spawn copies it to the child
    peeker = """
        import json, sys
        import numpy as np
        def fn(logits, index, dz, alpha):
            if "--vectors" in sys.argv:  # read the expected values from the file the command line names
                for c in json.load(open(sys.argv[sys.argv.index("--vectors") + 1]))["cases"]:
                    if c["op"] == "ils_backward" and np.shape(c["inputs"]["dz"]) == np.shape(dz) and np.allclose(
                            np.asarray(c["inputs"]["dz"], dtype=float), dz):
                        return np.asarray(c["expected"]["dlogits"])
            return np.zeros_like(logits)
    """
    code, text = run(argv, capsys, tmp_path, monkeypatch, peeker=peeker)
    assert code == EXIT["fail"] and "PASS" not in text, text  # before: the child's sys.argv named the file
