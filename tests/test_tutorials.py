"""Every tutorial runs in quick mode, writes its figures, and all its claims hold."""

import pathlib
import runpy
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_tutorials_and_a_reading_list():
    assert len(TUTORIALS) >= 1
    listing = (TUTORIALS[0].parent / "README.md").read_text(encoding="utf-8")
    for path in TUTORIALS:
        assert path.name in listing


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_quick(path, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(path.parent))
    module = runpy.run_path(str(path), run_name="tutorial")
    assert module["main"](["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "CLAIM FAILED" not in out and "claims hold" in out
    sys.modules.pop("_tutorial", None)
