"""Sphinx configuration for the ils_ref documentation site (see README.md beside this file).

Build from the repository root: ``python -m sphinx -b html docs docs/_build/html``.
The tutorials are the percent scripts in ``tutorials/``; they are copied here at the start of
every build (only when they changed, so incremental builds stay incremental), read by myst-nb
through jupytext and executed once in quick mode (``ILS_REF_QUICK=1``).  Math is typeset by a
MathJax copy that the ``sphinx-mathjax-offline`` package ships and the build copies into
``_static/mathjax``: no page loads anything from the network.
"""

import filecmp
import importlib.util
import os
import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # autodoc documents this checkout's ils_ref, even without an install

import ils_ref  # noqa: E402
from sphinx.util.fileutil import copy_asset  # noqa: E402


def copy_tutorials() -> list[str]:
    """Copy ``tutorials/NN_*.py`` into ``docs/tutorials/`` (git-ignored), leaving unchanged copies untouched."""
    target = DOCS / "tutorials"
    sources = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    for stale in set(target.glob("[0-9][0-9]_*.py")) - {target / s.name for s in sources}:
        stale.unlink()
    for source in sources:
        copy = target / source.name
        if not copy.exists() or not filecmp.cmp(source, copy, shallow=False):
            shutil.copyfile(source, copy)
    return [s.stem for s in sources]


TUTORIALS = copy_tutorials()

# The kernels that execute the tutorials inherit this environment: quick mode, and figures in
# "figures/" of the temporary folder each notebook runs in (they are shown inline from the
# notebook's outputs; the files themselves are not needed).
os.environ["ILS_REF_QUICK"] = "1"
# ... and import this checkout's ils_ref, the one autodoc documents
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
os.environ.pop("ILS_REF_OUT", None)
os.environ["MPLBACKEND"] = "Agg"
# Every cell that ends in a bare expression ends in a show_source/show_figure call, whose return
# value (the text just printed, the figure's path) Jupyter would echo once more under it; run as
# scripts, the tutorials show only what they print and display, and so do their pages.
IPYTHONDIR = DOCS / "_build" / "ipython"
(IPYTHONDIR / "profile_default").mkdir(parents=True, exist_ok=True)
(IPYTHONDIR / "profile_default" / "ipython_kernel_config.py").write_text(
    'c.InteractiveShell.ast_node_interactivity = "none"\n', encoding="utf-8")
os.environ["IPYTHONDIR"] = str(IPYTHONDIR)
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # the debugger's warning on frozen modules

project = "ils_ref"
author = "the ils_ref authors"
release = ils_ref.__version__
version = release
copyright = "the ils_ref authors, MIT licence"

extensions = [
    "myst_nb",  # MyST markdown pages and the tutorials as executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",  # the docstrings' numpydoc sections, with their .. math:: blocks
    "sphinx.ext.mathjax",  # with the offline copy below
    # no sphinx.ext.viewcode: with names documented both where they are defined and re-exported
    # (ils_ref.estimators.ils.ils_forward, ils_ref.ils_forward) its [docs] back-links point to
    # anchors on the wrong page (tests/test_docs.py found 47); the landing page and the tutorials
    # show the code they explain from the source files instead.
]

exclude_patterns = ["_build", "README.md", "conf.py", "tutorials/figures", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# --- the tutorials: jupytext percent scripts, executed once, in quick mode -------------------------
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = "cache"  # executed once; rebuilds reuse the outputs until a tutorial changes
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_in_temp = True
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a tutorial whose claims fail fails the build ...
nb_execution_show_tb = True  # ... with the traceback that says which claim
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# --- the API reference -----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types and shapes
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

# --- math, offline ---------------------------------------------------------------------------------
# MathJax 3 (with its fonts) as the sphinx-mathjax-offline package ships it, copied into the site:
# pages load it from _static/mathjax, never from a CDN.  (The package's own extension does the same
# but does not declare itself safe for parallel reading, which would make the build serial.)
MATHJAX = pathlib.Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"
mathjax_path = "mathjax/tex-chtml.js"


def copy_mathjax(app, exception):
    if exception is None:
        copy_asset(str(MATHJAX), os.path.join(app.outdir, "_static", "mathjax"))


def setup(app):
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# --- HTML ------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"ils_ref {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}
html_static_path = ["_static"]
html_css_files = ["wide.css"]  # code cells hold lines of ~100 characters: let them use the width
html_favicon = "_static/favicon.svg"  # also spares the browser a request for /favicon.ico
# The theme's colour mode when the reader has not chosen one (unset, its script logs an error to
# the console); light suits the figures, which have white backgrounds.
html_context = {"default_mode": "light"}
html_copy_source = False
html_show_sourcelink = False
