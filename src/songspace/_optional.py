"""Optional dependencies: the one table of what songspace imports from its extras, and
the one guard that turns a missing one into an error naming the package and the extra.

``optional_import("faiss", "the serving index")`` returns the module, or raises
:class:`~songspace.errors.MissingDependencyError` ("the serving index needs the package
'faiss-cpu', which is not installed. Fix: pip install 'songspace[fast]'").
``installed("umap")`` asks without raising, for a code path with a fallback. A test checks
:data:`OPTIONAL` against ``pyproject.toml``'s extras. This module imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any

from songspace.errors import MissingDependencyError

__all__ = ["OPTIONAL", "installed", "optional_import", "pyplot"]

#: Top-level import name → (the pip package that provides it, the extra that installs it).
OPTIONAL: dict[str, tuple[str, str]] = {
    "faiss": ("faiss-cpu", "fast"),
    "orjson": ("orjson", "fast"),
    "gensim": ("gensim", "models"),
    "lightfm": ("rectools-lightfm", "models"),
    "implicit": ("implicit", "models"),
    # the service limits BLAS threads with it; ALS too (implicit brings it along)
    "threadpoolctl": ("threadpoolctl", "serve"),
    "matplotlib": ("matplotlib", "plots"),
    "torch": ("torch", "graph"),
    "optuna": ("optuna", "tune"),
    "psycopg2": ("psycopg2-binary", "tune"),
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "httpx": ("httpx", "serve"),
    "umap": ("umap-learn", "explore"),
    "pynndescent": ("pynndescent", "explore"),  # umap's neighbour search (a pinned range)
    "pytest": ("pytest", "testing"),
    "pyspark": ("pyspark", "spark"),
    "lightgbm": ("lightgbm", "recommender"),
}


def _entry(module: str) -> tuple[str, str]:
    top = module.split(".")[0]
    if top not in OPTIONAL:
        raise KeyError(f"{top!r} is not an optional dependency (songspace._optional.OPTIONAL)")
    return OPTIONAL[top]


def _import(module: str) -> Any:
    """``module`` imported through the ``import`` statement's hook (``builtins.__import__``,
    which tests replace to simulate a missing package), not around it."""
    __import__(module)
    return sys.modules[module]


def optional_import(module: str, purpose: str) -> Any:
    """``module`` (a dotted path is fine) imported; MissingDependencyError naming the pip
    package and the extra (from :data:`OPTIONAL`) when it is not installed. ``purpose``
    says what needs it ("the serving index")."""
    package, extra = _entry(module)
    try:
        return _import(module)
    except ImportError as exc:
        raise MissingDependencyError(package, extra, purpose) from exc


def installed(module: str) -> bool:
    """Whether ``module`` (one of :data:`OPTIONAL`) imports: for code with a fallback."""
    _entry(module)
    try:
        _import(module)
    except ImportError:
        return False
    return True


def pyplot(purpose: str) -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures go to files)."""
    matplotlib = optional_import("matplotlib", purpose)
    matplotlib.use("Agg")
    return optional_import("matplotlib.pyplot", purpose)
