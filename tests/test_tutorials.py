"""Every tutorial runs top to bottom in quick mode, writes its figures, and all its claims hold."""

import importlib
import os
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


@pytest.fixture
def fresh_helper():
    """``ils_ref.tutorial`` reads the mode at import: import it anew under each test's environment."""
    sys.modules.pop("ils_ref.tutorial", None)
    yield
    sys.modules.pop("ils_ref.tutorial", None)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_quick(path, tmp_path, monkeypatch, capsys, fresh_helper):
    monkeypatch.setenv("ILS_REF_QUICK", "1")  # the mode comes from the environment, as under Jupyter
    monkeypatch.setenv("ILS_REF_OUT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")  # top-level cells; claims.finish() raises on failure
    out = capsys.readouterr().out
    assert "CLAIM FAILED" not in out and "claims hold" in out
    assert list(tmp_path.glob("*.png")) or path.stem.startswith(("01", "03", "06")), "no figure written"


def test_a_failing_claim_fails_the_script(fresh_helper):
    from ils_ref.tutorial import Claims

    claims = Claims()
    claims.check("a claim that holds", True)
    claims.check("a claim that does not hold", False)
    with pytest.raises(AssertionError, match="a claim that does not hold"):
        claims.finish()


@pytest.mark.parametrize("quick", ["1", ""])
def test_a_full_size_claim_is_checked_at_full_size_and_named_as_skipped_in_quick_mode(quick, monkeypatch, capsys,
                                                                                        fresh_helper):
    monkeypatch.setenv("ILS_REF_QUICK", quick)
    monkeypatch.setattr(sys, "argv", ["tutorial.py"])
    from ils_ref.tutorial import Claims

    claims = Claims()
    with pytest.raises(TypeError, match="functions of no arguments"):  # refused in quick mode too
        claims.full_size("a claim", False)
    claims.full_size("a wide claim", lambda: False, lambda: "with its numbers")
    if quick:  # not evaluated: what it reads may not exist in quick mode
        claims.finish()
        assert "[full size only, skipped in quick mode] a wide claim" in capsys.readouterr().out
    else:
        with pytest.raises(AssertionError, match=r"a wide claim \(with its numbers\)"):
            claims.finish()


def test_show_source_prints_the_installed_code_with_its_file_and_line_numbers(capsys, fresh_helper):
    import inspect

    from ils_ref.models.problems import exact_objective
    from ils_ref.tutorial import show_source

    lines, first = inspect.getsourcelines(exact_objective)
    text = show_source(exact_objective)
    assert text == capsys.readouterr().out
    header, *body = text.splitlines()
    assert header.startswith(f"ils_ref/models/problems.py, lines {first}-{first + len(lines) - 1} (exact_objective)")
    assert [b.split("  ", 1)[1] for b in body] == [line.rstrip("\n") for line in lines]
    part = show_source(exact_objective, start="logits = ", stop="return ").splitlines()
    assert len(part) == 3 and "return" in part[-1]
    with pytest.raises(ValueError, match="no line of exact_objective contains start='no such line'"):
        show_source(exact_objective, start="no such line")


def test_figures_go_beside_the_running_tutorial_unless_told_otherwise(tmp_path, monkeypatch, fresh_helper):
    import types

    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "02_toy_proof.py")
    monkeypatch.setitem(sys.modules, "__main__", script)
    monkeypatch.delenv("ILS_REF_OUT", raising=False)
    monkeypatch.delenv("ILS_REF_QUICK", raising=False)
    monkeypatch.setattr(sys, "argv", [script.__file__])
    tutorial = importlib.import_module("ils_ref.tutorial")

    assert tutorial.OUT == str(tmp_path / "figures") and not tutorial.QUICK
    assert not os.path.exists(tutorial.OUT), "importing the helper must not create folders"
    monkeypatch.setattr(sys, "argv", [script.__file__, "--quick", "--out", str(tmp_path / "elsewhere")])
    sys.modules.pop("ils_ref.tutorial")
    tutorial = importlib.import_module("ils_ref.tutorial")

    assert tutorial.QUICK and tutorial.OUT == str(tmp_path / "elsewhere")
