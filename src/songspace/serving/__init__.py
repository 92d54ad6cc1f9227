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

from __future__ import annotations

from typing import TYPE_CHECKING

from songspace._lazy import lazy_attributes

if TYPE_CHECKING:
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

#: Where each name lives: loaded on first use (PEP 562), so the CLI reads
#: :mod:`songspace.serving.defaults` without loading numpy.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "NotInductiveError": "songspace.serving.errors",
        "UnknownModelError": "songspace.serving.errors",
        "UnknownTrackError": "songspace.serving.errors",
        "IndexStats": "songspace.serving.index",
        "VectorIndex": "songspace.serving.index",
        "build_index": "songspace.serving.index",
        "recall_at_k": "songspace.serving.index",
        "grow": "songspace.serving.newtracks",
        "hold_out_tracks": "songspace.serving.newtracks",
        "parse_track": "songspace.serving.newtracks",
        "track_document": "songspace.serving.newtracks",
        "Neighbour": "songspace.serving.recommender",
        "NewEmbedding": "songspace.serving.recommender",
        "Recommender": "songspace.serving.recommender",
    },
)
