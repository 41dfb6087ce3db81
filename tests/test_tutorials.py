"""Every tutorial runs top to bottom in quick mode, writes its figures, and all its claims hold."""

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
    monkeypatch.setenv("ILS_REF_QUICK", "1")  # the mode comes from the environment, as under Jupyter
    monkeypatch.setenv("ILS_REF_OUT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [str(path)])
    sys.modules.pop("_tutorial", None)
    try:
        runpy.run_path(str(path), run_name="__main__")  # top-level cells; claims.finish() raises on failure
    finally:
        sys.modules.pop("_tutorial", None)
    out = capsys.readouterr().out
    assert "CLAIM FAILED" not in out and "claims hold" in out
    assert list(tmp_path.glob("*.png")) or path.stem.startswith(("01", "03", "06")), "no figure written"


def test_a_failing_claim_fails_the_script(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TUTORIALS[0].parent))
    sys.modules.pop("_tutorial", None)
    try:
        from _tutorial import Claims

        claims = Claims()
        claims.check("a claim that does not hold", False)
        with pytest.raises(AssertionError, match="a claim that does not hold"):
            claims.finish()
    finally:
        sys.modules.pop("_tutorial", None)
