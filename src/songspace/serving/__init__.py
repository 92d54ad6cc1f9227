"""Serving: a trained run behind a library API, a CLI and an HTTP service (issue 14).

- :class:`Recommender` (``from_run``, ``similar``, ``complete``, ``embed_new``,
  ``add_tracks``), :mod:`songspace.serving.recommender`;
- exact and HNSW indexes with measured recall, :mod:`songspace.serving.index`;
- new-track documents, grown datasets and hold-outs, :mod:`songspace.serving.newtracks`;
- the append-only store of added tracks, :mod:`songspace.serving.store`;
- updated runs served and switched to, the added tracks carried over,
  :mod:`songspace.serving.lineage`;
- the FastAPI service (extra ``serve``), :mod:`songspace.serving.app` (its endpoints in
  :mod:`songspace.serving.routes`).
"""

from songspace.serving.errors import NotInductiveError, UnknownModelError, UnknownTrackError
from songspace.serving.index import IndexStats, VectorIndex, build_index, recall_at_k
from songspace.serving.newtracks import grow, hold_out_tracks, parse_track, track_document
from songspace.serving.recommender import Neighbour, NewEmbedding, Recommender

__all__ = [
    "IndexStats",
    "Neighbour",
    "NewEmbedding",
    "NotInductiveError",
    "Recommender",
    "UnknownModelError",
    "UnknownTrackError",
    "VectorIndex",
    "build_index",
    "grow",
    "hold_out_tracks",
    "parse_track",
    "recall_at_k",
    "track_document",
]
