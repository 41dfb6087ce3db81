"""Every command with missing, malformed or impossible arguments: exit 2, one line, no traceback."""

import json
import os
import subprocess
import sys
import time

import pytest

from ils_ref.cli import main

BAD = [
    ["nonsense"],
    ["reproduce", "--steps", "abc"],
    ["reproduce", "--steps", "1"],
    ["reproduce", "--seeds", "-3"],
    ["reproduce", "--unknown-flag"],
    ["compare"],
    ["compare", "--problem"],
    ["compare", "--problem", "toy9"],
    ["compare", "--problem", "linear", "--samples", "x"],
    ["compare", "--problem", "linear", "--samples", "1"],
    ["compare", "--problem", "toy1", "--target", "0.3"],
    ["compare", "--problem", "bernoulli-quadratic", "--target", "nan"],
    ["vectors"],
    ["vectors", "-o", "/nonexistent-dir/v.json"],
    ["check"],
    ["check", "no_colon_here"],
    ["check", "nosuchmodule_xyz:fn"],
    ["check", "json:not_there"],
    ["check", "json:__name__"],
    ["check", "json:dumps", "--op", "no_such_op"],
    ["check", "json:dumps", "--vectors", "/nonexistent.json"],
    ["selfcheck", "--seed", "one"],
    ["selfcheck", "--seed", "-1"],  # used to end in a NumPy traceback
    ["reproduce", "--steps", str(10**12)],  # sizes are checked before anything is allocated
    ["reproduce", "--seeds", str(10**9)],
    ["compare", "--problem", "toy1", "--samples", str(10**8)],
    ["compare", "--problem", "toy1", "--samples", str(10**30)],
    ["compare", "--problem", "linear", "--samples", "1e8"],
    ["compare", "--problem", "linear", "--seed", "-4"],
    ["check", "json:dumps", "--timeout", "0"],
    ["check", "json:dumps", "--timeout", "inf"],
    ["check", "json:dumps", "--vectors", "/dev/zero"],  # a device: refused before reading (was MemoryError)
    ["check", "json:dumps", "--vectors", "/"],
    # issue 24: each failed after the work, with a traceback, or exit 0
    ["check", "json:dumps", "--timeout", "1e10"],  # OverflowError
    ["vae", "--seeds", "100000"],  # MemoryError
    ["vae", "--json", "/tmp"],  # IsADirectoryError after the whole run
    ["fixedpoint", "--problem", "toy1", "--alpha", "0.1", "--json", "/tmp"],
    ["compare", "--problem", "bernoulli-quadratic", "--target", "1e308"],  # a table of NaN, exit 0
    ["vectors", "-o", "/tmp"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_command_lines_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_module_that_fails_on_import(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_impl.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "broken_impl:fn"]) == 2
    err = capsys.readouterr().err
    assert "boom at import" in err and len(err.strip().splitlines()) == 1


def test_no_traceback_through_the_real_entry_point():
    run = subprocess.run([sys.executable, "-m", "ils_ref", "reproduce", "--steps", "abc"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "Traceback" not in run.stderr


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def run_main(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr()


def test_reproduce_into_a_read_only_folder_fails_before_running(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: simulate with a file in the way
            folder.chmod(0o755)
            folder = tmp_path / "a_file"
            folder.write_text("x")
        start = time.perf_counter()
        code, out = run_main(["reproduce", "--steps", "50000", "--out", str(folder / "sub")], capsys)
        assert code == 2 and "cannot write to" in out.err and len(out.err.strip().splitlines()) == 1
        assert time.perf_counter() - start < 5 and "step" not in out.out  # nothing ran
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_an_interrupted_save_keeps_the_previous_curves(tmp_path, monkeypatch):
    # SIGINT while reproduce saved used to leave toy1_curves.npz corrupt, replacing a good file.
    import numpy as np

    from ils_ref.experiments import reproduce

    result = reproduce.run(steps=3, seeds=1)
    path = str(tmp_path / "toy1_curves.npz")
    reproduce.save_npz(result, path)
    good = read_bytes(path)

    def interrupted(file, **arrays):
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce.save_npz(result, path)
    assert read_bytes(path) == good
    assert sorted(os.listdir(tmp_path)) == ["toy1_curves.npz"]  # no temporary file left behind


# --------------------------------------------------------------------------
# ils-ref check against code that exits, ends the process or hangs


IMPLEMENTATIONS = {
    "exits_in_call": "import sys\ndef fn(*args):\n    sys.exit(0)\n",
    "os_exit_in_call": "import os\ndef fn(*args):\n    os._exit(0)\n",
    "hangs": "import time\ndef fn(*args):\n    time.sleep(60)\n",
    "exits_at_import": "import sys\nsys.exit(0)\ndef fn(*args):\n    return 0\n",
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "strings": "def fn(dy, y):\n    return [[str(v) for v in row] for row in (dy * 0).tolist()] if dy.ndim == 2 else [str(v) for v in dy.tolist()]\n",
}


@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
def test_check_never_passes_code_that_exits_hangs_or_returns_strings(name, tmp_path, monkeypatch, capsys):
    (tmp_path / f"impl_{name}.py").write_text(IMPLEMENTATIONS[name])
    monkeypatch.chdir(tmp_path)
    op = "softmax_backward" if name == "strings" else "ils_backward"
    start = time.perf_counter()
    code, out = run_main(["check", f"impl_{name}:fn", "--op", op, "--timeout", "1"], capsys)
    assert code == 1, (out.out, out.err)  # used to be 0 ("all pass") for the first two and at-import exits
    assert time.perf_counter() - start < 30
    text = out.out + out.err
    expected = {
        "exits_in_call": "raised SystemExit",
        "os_exit_in_call": "ended the process",
        "hangs": "timed out after 1 s",
        "exits_at_import": "importing impl_exits_at_import:fn raised SystemExit",
        "os_exit_at_import": "importing impl_os_exit_at_import:fn ended the process",
        "strings": "not numeric",
    }[name]
    assert expected in text, text


MALFORMED = {
    "not a list of cases": lambda doc: doc.update(cases={"a": 1}),
    "a case that is a number": lambda doc: doc["cases"].__setitem__(0, 7),
    "inputs missing": lambda doc: doc["cases"][0].pop("inputs"),
    "a huge tolerance": lambda doc: doc["cases"][0].update(atol=1e400),  # json writes Infinity
    "a negative tolerance": lambda doc: doc["cases"][0].update(rtol=-1),
    "an input of strings": lambda doc: doc["cases"][0]["inputs"].update(dz=[["a", "b"]]),
    "an integer beyond float64": lambda doc: doc["cases"][0]["inputs"].update(dz=[[10**400]]),
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
def test_malformed_vectors_files_exit_2_with_one_line(label, tmp_path, capsys):
    from ils_ref.checking.vectors import content_hash, generate

    doc = generate()
    MALFORMED[label](doc)
    if isinstance(doc.get("cases"), list):
        doc["sha256"] = content_hash(doc)  # a consistent hash: the structure itself must be checked
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    code, out = run_main(["check", "json:dumps", "--vectors", str(path)], capsys)
    assert code == 2 and len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err, out.err


def test_deeply_nested_and_oversized_vectors_files(tmp_path, capsys):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)  # used to raise RecursionError
    code, out = run_main(["check", "json:dumps", "--vectors", str(nested)], capsys)
    assert code == 2 and "not valid JSON" in out.err
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(17 * 1024 * 1024)  # sparse: 17 MiB of zeros on no disk
    code, out = run_main(["check", "json:dumps", "--vectors", str(big)], capsys)
    assert code == 2 and "at most" in out.err


def test_a_fifo_as_vectors_file_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out = run_main(["check", "json:dumps", "--vectors", str(fifo)], capsys)
    assert code == 2 and "not a regular file" in out.err


def test_a_slow_interpreter_start_is_not_charged_to_the_checked_code(tmp_path, monkeypatch, capsys):
    # CI on a loaded machine failed "importing impl_hangs:fn took longer than 1 s": the import limit
    # also counted spawning the child and importing NumPy/SciPy there.  A sitecustomize that sleeps
    # 1.5 s slows exactly that start-up; the checked module itself imports instantly.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    (tmp_path / "impl_fast.py").write_text("from ils_ref import softmax_backward as fn\n")
    monkeypatch.chdir(tmp_path)
    code, out = run_main(["check", "impl_fast:fn", "--op", "softmax_backward", "--timeout", "1"], capsys)
    assert code == 0, out.out + out.err


def test_results_are_written_through_symlinks_with_the_permissions_open_would_give(tmp_path, monkeypatch, capsys):
    # Issue 24: `vectors -o LINK` replaced the symlink with a regular file (its target left stale), a
    # FIFO was replaced, and every result file was created 0600 (mkstemp's mode).
    import os
    import stat

    monkeypatch.chdir(tmp_path)
    (tmp_path / "target.json").write_text("old")
    os.symlink("target.json", tmp_path / "link.json")
    os.mkfifo(tmp_path / "fifo")
    old_mask = os.umask(0o022)
    try:
        assert main(["vectors", "-o", "link.json"]) == 0
        assert main(["vectors", "-o", "new.json"]) == 0
    finally:
        os.umask(old_mask)
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "target.json").read_text().startswith('{"format"')
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o644
    os.chmod(tmp_path / "target.json", 0o640)
    assert main(["vectors", "-o", "link.json"]) == 0  # an existing file keeps its mode
    assert stat.S_IMODE(os.stat(tmp_path / "target.json").st_mode) == 0o640
    capsys.readouterr()
    assert main(["vectors", "-o", "fifo"]) == 2 and stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert "not a regular file" in capsys.readouterr().err
    # a device node: `-o /dev/null` replaced the real one, as root.  A private node of /dev/null's kind
    # here, so that a regression cannot break the machine (it did once, while this test was written)
    try:
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return  # not root: no device node to make, and none a regression could replace either
    assert main(["vectors", "-o", "null"]) == 2 and stat.S_ISCHR(os.stat(tmp_path / "null").st_mode)


def test_a_single_seed_has_no_interval(tmp_path, capsys):
    # Issue 24: `vae --seeds 1` printed a zero-width "95% interval".
    from ils_ref.estimators.interface import exact
    from ils_ref.experiments import vae as V
    from ils_ref.experiments.vae_report import summary_table

    result = V.run(V.settings_for(quick=True, steps=2, seeds=1), [exact()])
    assert "n/a (1 seed)" in summary_table(result)
