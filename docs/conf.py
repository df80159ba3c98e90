"""Sphinx configuration of the documentation site (``make docs``).

Built offline with warnings as errors and nitpicky references
(``sphinx-build -W --keep-going -n``): a broken reference, bad reST or
MyST, a page missing from the toctree or an autodoc import error fails the
build. A short docstring does not (docstrings are checked by the tests).
"""

from __future__ import annotations

import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

from scaigrid_client import __version__  # noqa: E402

project = "scaigrid-client"
author = "ScaiLabs"
copyright = "ScaiLabs"
release = __version__
version = ".".join(__version__.split(".")[:2])

# No sphinx.ext.viewcode: highlighting every module's source took about a
# third of the build, and the private modules' code is not the reference.
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "scaigrid_docs",
]

# Sources: Markdown (MyST) and reST. Not pages of their own: the files that
# a page includes, and what is only for GitHub readers of docs/.
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "testing.md", "conformance.md", "public-api.txt", "README.md"]
templates_path: list[str] = []

# Offline: no intersphinx, no remote images, no link checking against the
# network. References into Python's, grpc's and protobuf's documentation
# are therefore unresolvable; see nitpick_ignore_regex below.
html_theme = "furo"
html_title = f"scaigrid-client {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 4

# autodoc: the real objects under their public path (the package imports
# them lazily; autodoc's getattr runs that import). Signatures show the
# annotations as written in the source. "Bases:" only where the hierarchy
# is the point (errors.rst): Sphinx 9 prints it even when no base is public.
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = True
autoclass_content = "both"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
# A class's "Attributes:" section as fields, not entries that the members
# documented by autodoc would repeat.
napoleon_use_ivar = True

nitpicky = True
# Names outside this project: without intersphinx (the build is offline)
# Sphinx cannot resolve the standard library's (builtins and typing it
# knows), grpc's or protobuf's types. Only such external names are ignored;
# every reference to this package's own names must resolve, the generated
# messages (scaimind.v1.coordinator_pb2.Job) to their section of the
# Messages pages (docs/_ext/scaigrid_docs.py).
nitpick_ignore_regex = [
    (
        "py:.*",
        r"(grpc|google\.protobuf|collections\.abc|typing_extensions|os|datetime|pathlib)(\..*)?",
    ),
    # protobuf's Message as a signature spells it (to_dict's: the annotation
    # names the SDK's results too, so autodoc keeps it as written).
    ("py:class", r"Message"),
    # Type variables of the generic results (RawResponse[T], Pager[Item]).
    ("py:.*", r"scaigrid_client\.(sync\.)?_\w+\.(T|Resp|Item|P)"),
    # No private type may appear in a public signature: none is listed here.
]
