"""Every command with missing, malformed or impossible arguments: exit 2, one line, no traceback."""

import subprocess
import sys

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
