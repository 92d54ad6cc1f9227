"""songspace: learn, evaluate and tune track embeddings for music recommendation.

The package's names load on first use (PEP 562), so ``import songspace`` (and
``songspace --help``) loads neither numpy nor pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from songspace._lazy import lazy_attributes

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset, FeatureGroup
    from songspace.errors import SongspaceError

__all__ = ["Dataset", "FeatureGroup", "SongspaceError", "__version__"]
__version__ = "0.1.0"

#: Where each lazily loaded name lives.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Dataset": "songspace.data.dataset",
        "FeatureGroup": "songspace.data.dataset",
        "SongspaceError": "songspace.errors",
    },
)
