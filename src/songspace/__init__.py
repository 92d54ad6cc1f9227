"""songspace: learn, evaluate and tune track embeddings for music recommendation."""

from songspace.data.dataset import Dataset, FeatureGroup
from songspace.errors import SongspaceError

__all__ = ["Dataset", "FeatureGroup", "SongspaceError", "__version__"]
__version__ = "0.1.0"
