"""songspace: learn, evaluate and tune track embeddings for music recommendation.

The package's names load on first use (PEP 562), so ``import songspace`` (and
``songspace --help``) loads neither numpy nor pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset, FeatureGroup
    from songspace.errors import SongspaceError

__all__ = ["Dataset", "FeatureGroup", "SongspaceError", "__version__"]
__version__ = "0.1.0"

#: Where each lazily loaded name lives.
_LAZY = {
    "Dataset": "songspace.data.dataset",
    "FeatureGroup": "songspace.data.dataset",
    "SongspaceError": "songspace.errors",
}


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (then it is a plain attribute)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'songspace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
