"""Write the tutorials as Jupyter notebooks, optionally executed: ``python tutorials/build_notebooks.py``.

    python tutorials/build_notebooks.py                 # tutorials/notebooks/*.ipynb, not executed
    python tutorials/build_notebooks.py --execute       # executed: outputs under every cell
    python tutorials/build_notebooks.py --execute --quick --out DIR

The percent scripts are the source; notebooks are build artefacts (not committed).  Needs
the ``notebooks`` extra: ``pip install '.[notebooks]'`` (jupytext, nbclient, ipykernel).
A notebook needs nothing beside it but an importable ``ils_ref`` (its helper is
``ils_ref.tutorial``), so it runs wherever it is written; ``--execute`` runs each one there,
in the output folder, as someone who opens it will.  Executed notebooks run with
``ILS_REF_QUICK=1`` under ``--quick``, and write their figures to ``ILS_REF_OUT`` (default:
``figures/`` beside the notebooks).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
TUTORIALS = sorted(HERE.glob("[0-9][0-9]_*.py"))


def build(path: pathlib.Path, out: pathlib.Path, execute: bool, quick: bool, timeout: int = 600):
    """Convert one tutorial to ``out/<name>.ipynb`` (executed in ``out``, its working directory, if asked); return it."""
    import jupytext

    notebook = jupytext.read(path)
    out.mkdir(parents=True, exist_ok=True)
    if execute:
        from nbclient import NotebookClient

        env = {"ILS_REF_QUICK": "1"} if quick else {}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(out)}}).execute()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    jupytext.write(notebook, out / (path.stem + ".ipynb"))
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run every notebook so that outputs are saved")
    parser.add_argument("--quick", action="store_true", help="execute in quick mode (ILS_REF_QUICK=1)")
    parser.add_argument("--out", default=str(HERE / "notebooks"), help="folder for the .ipynb files")
    args = parser.parse_args(argv)
    try:
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError:
        print("build_notebooks: needs the notebooks extra: pip install '.[notebooks]'", file=sys.stderr)
        return 2
    for path in TUTORIALS:
        notebook = build(path, pathlib.Path(args.out), args.execute, args.quick)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        shown = sum(bool(c.get("outputs")) for c in code)
        print(f"{path.stem}: {len(code)} code cells" + (f", {shown} with output" if args.execute else ""))
    print(f"notebooks in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
