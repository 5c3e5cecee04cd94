"""
Sphinx configuration of the rtrl_brian documentation (built with -W in CI).

The API pages import the installed package (``pip install ".[docs]"``): the
source tree alone lacks ``rtrl_brian.models``, which is installed from ``models/``.
"""

import inspect
import os

os.environ.setdefault("MPLBACKEND", "Agg")

project = "rtrl_brian"
author = "the rtrl_brian developers"
copyright = "2026, the rtrl_brian developers"
release = "0.1.0"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon",
              "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
# the study tables are generated next to their figures and quoted in spiral.md
exclude_patterns = ["_build", "spiral*/spiral_study.md", "spiral*/spiral_cost.md"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
default_role = "py:obj"
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px"}  # code lines of up to 100 characters fit
html_static_path = []


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """Classes Brian2 creates through ``__new__(cls, *args, **kw)`` (RTRL, BPTT): the
    signature of their ``__init__``."""
    if what != "class" or not name.startswith("rtrl_brian.") or signature != "(*args, **kw)":
        return None
    parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
    return str(inspect.Signature(parameters)), return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
