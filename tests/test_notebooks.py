"""Every tutorial executes as a notebook, with its results under its cells.

Needs the ``notebooks`` extra (``pip install '.[notebooks]'``); skipped without it.
``.ci/run`` installs the extra after the Quickstart and runs this file.
"""

import ast
import os
import pathlib
import sys

import pytest

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = pathlib.Path(__file__).resolve().parents[1]
HERE = REPO / "tutorials"
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


def test_a_notebook_runs_in_the_folder_it_is_written_to(tmp_path, monkeypatch):
    """A notebook written outside the repository runs there, with that folder as its working directory.

    Nothing beside the notebook may be needed: the tutorials' helper must come with ``ils_ref``.
    With no ``ILS_REF_OUT`` its figures land in ``figures/`` beside the notebook.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "notebooks"
    folder.mkdir()
    assert REPO not in folder.resolve().parents, "the folder must be outside the repository"
    tutorial = HERE / "02_toy_proof.py"  # small, and it writes a figure
    written = folder / (tutorial.stem + ".ipynb")
    jupytext.write(jupytext.read(tutorial), written)
    monkeypatch.setenv("ILS_REF_QUICK", "1")
    monkeypatch.delenv("ILS_REF_OUT", raising=False)
    # the kernel imports this checkout's ils_ref (as an installed package would be), and nothing else from it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    notebook = nbformat.read(written, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()  # CellExecutionError on any error
    last = "".join(o.get("text", "") for o in notebook.cells[-1].get("outputs", []))
    assert "claims hold" in last and "CLAIM FAILED" not in last
    assert (folder / "figures" / "02_surrogate_minimiser.png").is_file()
