"""The ils-ref command line: help, selfcheck, exit codes."""

import re
import subprocess
import sys

import pytest

from ils_ref import __version__
from ils_ref.cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("selfcheck", "reproduce", "compare", "vectors", "check"):
        assert name in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: ils-ref" in capsys.readouterr().out


def test_selfcheck_passes_and_prints_a_table(capsys):
    assert main(["selfcheck"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"(\d+) of (\d+) backward passes agree with finite differences", out)
    assert match and match.group(1) == match.group(2) and int(match.group(1)) >= 11
    assert "softmax" in out and "normalize" in out and "FAILED" not in out


def test_selfcheck_full_mode(capsys):
    assert main(["selfcheck", "--full", "--seed", "3"]) == 0
    assert "full" in capsys.readouterr().out


def test_bad_arguments_exit_2_with_a_one_line_message(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["selfcheck", "--seed", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed: expected an integer, got 'many'" in err and "Traceback" not in err


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "ils_ref", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"ils_ref {__version__}"
