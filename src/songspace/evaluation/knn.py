"""Exact top-k neighbour search for the metrics (W2V §2.1, SPEC §4).

Cosine similarity on L2-normalised vectors, computed exactly: faiss' flat
inner-product index when faiss is installed (extra ``songspace[fast]``), else
blocked matrix products in numpy. Never approximate. Queries are processed in
batches so memory stays bounded for hundreds of thousands of tracks. Results
are ordered by decreasing score, ties by increasing track index.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from songspace._optional import installed
from songspace.errors import ParameterError
from songspace.evaluation.defaults import DEFAULT_K
from songspace.evaluation.embeddings import Embeddings
from songspace.progress import ProgressCallback, track

logger = logging.getLogger(__name__)

Backend = Literal["auto", "faiss", "numpy"]
_NUMPY_BATCH_SCORES = 2**25


def _have_faiss() -> bool:
    return installed("faiss")


def exact_topk(
    emb: Embeddings,
    queries: np.ndarray,
    k: int = DEFAULT_K,
    *,
    exclude_self: bool = True,
    batch_size: int = 2048,
    backend: Backend = "auto",
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` available tracks by cosine to each query track.

    Returns ``(ids, scores)`` of shape ``(len(queries), k)``; ids are track
    indices (never the query itself when ``exclude_self``). Rows of queries
    without an embedding are all ``-1`` / ``-inf``. For the popularity baseline
    the ranking is the popularity order, the same for every query.
    """
    queries = np.asarray(queries, dtype=np.int64)
    n_avail = int(emb.available.sum())
    limit = n_avail - (1 if exclude_self else 0)
    if k < 1 or k > limit:
        raise ParameterError(
            "k",
            f"`1 <= k <= {limit}` (tracks with an embedding"
            + (", minus the query itself)" if exclude_self else ")"),
            k,
            fix="ask for fewer neighbours or evaluate on a larger catalogue",
        )
    if batch_size < 1:
        raise ParameterError("batch_size", "`batch_size >= 1`", batch_size)
    if queries.size and (queries.min() < 0 or queries.max() >= emb.n_tracks):
        raise ParameterError("queries", f"`0 <= query < {emb.n_tracks}`", int(queries.max()))
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ok = emb.available[queries]
    if emb.popularity is not None:
        ids[ok], scores[ok] = _popularity_topk(emb, queries[ok], k, exclude_self)
        return ids, scores
    if emb.ranker is not None:
        from songspace.evaluation.rankers import top_k_single

        rows = np.flatnonzero(ok)
        ids[rows] = top_k_single(emb.ranker, queries[rows], k, exclude_self=exclude_self)
        # the rank order is the score: 0 for the best, -1 for the next, ...
        scores[rows] = np.where(ids[rows] >= 0, -np.arange(k, dtype=np.float32), -np.inf)
        return ids, scores
    if backend == "auto":
        backend = "faiss" if _have_faiss() else "numpy"
    if backend not in ("faiss", "numpy"):
        raise ParameterError("backend", "`backend in ('auto', 'faiss', 'numpy')`", backend)
    base = np.flatnonzero(emb.available)
    q_idx = np.flatnonzero(ok)
    kk = k + 1 if exclude_self else k
    search = _faiss_search(emb.vectors[base]) if backend == "faiss" else None
    if search is None:
        # A numpy batch holds batch x catalogue scores: keep it near 32M floats (128 MB).
        batch_size = max(1, min(batch_size, _NUMPY_BATCH_SCORES // max(len(base), 1)))
    batches = range(0, len(q_idx), batch_size)
    for start in track(batches, progress, "nearest neighbours"):
        rows = q_idx[start : start + batch_size]
        qv = emb.vectors[queries[rows]]
        if search is not None:
            s, local = search(qv, kk)
        else:
            s, local = _numpy_search(qv, emb.vectors[base], kk)
        found = base[local]
        if exclude_self:
            found, s = _drop_self(found, s, queries[rows], k)
        ids[rows], scores[rows] = _tie_order(found, s)
    return ids, scores


def _numpy_search(q: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = q @ base.T
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    ps = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -ps), axis=1)
    return np.take_along_axis(ps, order, axis=1), np.take_along_axis(part, order, axis=1)


def _faiss_search(base: np.ndarray):
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))

    def search(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return index.search(np.ascontiguousarray(q, dtype=np.float32), k)

    return search


def _drop_self(
    found: np.ndarray, s: np.ndarray, query: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the query from each row (or the last entry when absent); keep ``k``."""
    is_self = found == query[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), found.shape[1] - 1)
    keep = np.ones(found.shape, dtype=bool)
    keep[np.arange(len(found)), drop] = False
    return found[keep].reshape(len(found), k), s[keep].reshape(len(found), k)


def _tie_order(found: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((found, -s), axis=1)
    return np.take_along_axis(found, order, axis=1), np.take_along_axis(s, order, axis=1)


def _popularity_topk(
    emb: Embeddings, queries: np.ndarray, k: int, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    popularity = emb.popularity
    assert popularity is not None  # only called for the popularity baseline
    order = np.lexsort((np.arange(emb.n_tracks), -popularity))
    order = order[emb.available[order]]
    kk = k + 1 if exclude_self else k
    top = np.broadcast_to(order[:kk], (len(queries), kk))
    s = popularity[top].astype(np.float32)
    if exclude_self:
        return _drop_self(top, s, queries, k)
    return top.copy(), s
