"""Every tutorial executes as a notebook, with its results under its cells.

Needs the ``notebooks`` extra (``pip install '.[notebooks]'``); skipped without it.
``.ci/run`` installs the extra after the Quickstart and runs this file.
"""

import ast
import pathlib
import sys

import pytest

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

HERE = pathlib.Path(__file__).resolve().parents[1] / "tutorials"
TUTORIALS = sorted(HERE.glob("[0-9][0-9]_*.py"))


def only_definitions(source: str) -> bool:
    """A cell of imports, functions, classes and plain assignments computes nothing to show."""
    tree = ast.parse(source)
    simple = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    return all(isinstance(node, simple) or "matplotlib.use(" in ast.unparse(node) for node in tree.body)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes_as_a_notebook(path, tmp_path, monkeypatch):
    monkeypatch.setenv("ILS_REF_OUT", str(tmp_path))
    sys.path.insert(0, str(HERE))
    try:
        from build_notebooks import build
    finally:
        sys.path.remove(str(HERE))
    notebook = build(path, tmp_path, execute=True, quick=True)  # raises CellExecutionError on any error
    code = [c for c in notebook.cells if c.cell_type == "code"]
    silent = [c.source.splitlines()[0] for c in code if not c.get("outputs") and not only_definitions(c.source)]
    assert not silent, f"cells that compute but show nothing: {silent}"
    last = "".join(o.get("text", "") for o in code[-1].get("outputs", []))
    assert "claims hold" in last and "CLAIM FAILED" not in last
    figures = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    saved = [p for pattern in ("[0-9]*.png", "toy1_*.png", "vae_*.png") for p in tmp_path.glob(pattern)]
    assert len(figures) == len(saved), "a figure was saved but not shown"
