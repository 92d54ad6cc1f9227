"""Rankers: anything that scores the catalogue for a query track or a seed list.

An embedding (cosine to the mean seed vector) is one kind of ranker; the
popularity baseline is another. This module adds the simple, strong,
non-embedding baselines that session-based recommendation studies on music data
found hard to beat (Ludewig, Mauro, Latifi and Jannach, UMUAI 2021):

- :class:`ItemKNN`: cosine on the sequence x track incidence matrix, i.e. the
  co-occurrence count of two tracks divided by the square root of the product of
  their sequence counts; a seed list scores each track by the sum of its
  similarities to the seeds.
- :class:`SKNN`: session-based kNN. The ``k`` training sequences most similar to the
  seed list (cosine of binary track sets) vote for their tracks with their
  similarity.
- :class:`VSKNN`: SKNN where the seeds are weighted by position: the last seed
  weighs 1, each step back 0.1 less, never below 0 (the "linear" decay of
  Ludewig et al.); a training sequence's similarity is the sum of the weights of
  the seeds it contains, divided by the square root of the product of the seed
  count and its length.
- :class:`Bigram`: a first-order Markov baseline for next-song: the number of times
  each track directly followed the last seed in the training sequences.

Every ranker returns, for a seed list, a score per track; ``-inf`` marks tracks
it cannot rank. Ties, and the tracks a ranker cannot tell apart (score 0 for the
count-based rankers), are ordered by training popularity, then by track index,
by :func:`top_k` — a deterministic back-off shared by every ranker. None of them
has vectors, so metrics that need vectors (VRC, coherence) do not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings

__all__ = [
    "BASELINE_RANKERS",
    "SKNN",
    "VSKNN",
    "Bigram",
    "EmbeddingRanker",
    "ItemKNN",
    "PopularityRanker",
    "Ranker",
    "make_ranker",
    "top_k",
]


class Ranker(Protocol):
    """Scores every catalogue track for a seed list (one track for next-song)."""

    name: str
    #: Training popularity (sequences containing each track): the tie-breaker.
    popularity: np.ndarray

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        """float64 score per track (``-inf`` = cannot rank) for the seed track indices."""
        ...


def _popularity(train: Dataset) -> np.ndarray:
    """Sequences containing each track, as floats (the rankers' shared tie-breaker)."""
    return train.occurrences().astype(np.float64)


def _binary_incidence(train: Dataset) -> sp.csr_matrix:
    return train.incidence().astype(np.float64)


def top_k_single(ranker: Ranker, queries: np.ndarray, k: int, *, exclude_self: bool = True,
                 batch: int = 1024) -> np.ndarray:
    """``top_k(ranker, [q], k)`` for each query track, batched where the ranker can.

    Rankers with a ``sparse_scores(queries)`` method (one row of non-negative scores
    per query track, zero = no evidence) are ranked from their sparse rows plus the
    popularity back-off, ``batch`` queries at a time; the result equals the one-query
    path (tested). Returns ``(len(queries), k)`` track indices, ``-1`` padded.
    """
    queries = np.asarray(queries, dtype=np.int64).reshape(-1)
    out = np.full((len(queries), k), -1, dtype=np.int64)
    if not hasattr(ranker, "sparse_scores"):
        for i, q in enumerate(queries.tolist()):
            qq = np.array([q])
            got = top_k(ranker, qq, k, exclude=qq if exclude_self else qq[:0])
            out[i, : len(got)] = got
        return out
    pop = ranker.popularity
    n = len(pop)
    fill_order = np.lexsort((np.arange(n), -pop))
    for start in range(0, len(queries), batch):
        qs = queries[start : start + batch]
        rows = ranker.sparse_scores(qs).tocsr()
        for j, q in enumerate(qs.tolist()):
            a, b = rows.indptr[j], rows.indptr[j + 1]
            idx, val = rows.indices[a:b].astype(np.int64), rows.data[a:b]
            keep = val > 0
            if exclude_self:
                keep &= idx != q
            idx, val = idx[keep], val[keep]
            order = np.lexsort((idx, -pop[idx], -val))[:k]
            got = idx[order]
            if len(got) < k:
                taken = np.concatenate([got, [q]]) if exclude_self else got
                head = fill_order[: k + len(taken)]
                head = head[~np.isin(head, taken)]
                if len(head) < k - len(got):  # tiny catalogues
                    head = fill_order[~np.isin(fill_order, taken)]
                got = np.concatenate([got, head[: k - len(got)]])
            out[start + j, : len(got)] = got
    return out


def top_k(ranker: Ranker, seeds: np.ndarray, k: int, *, exclude: np.ndarray | None = None
          ) -> np.ndarray:
    """The ``k`` best track indices for ``seeds``, best first.

    Order: score descending, then training popularity descending, then track index;
    tracks scored ``-inf`` and those in ``exclude`` (default: the seeds) come never.
    Fewer than ``k`` are returned only when fewer tracks are rankable.
    """
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
    s = np.asarray(ranker.scores(seeds), dtype=np.float64).copy()
    drop = seeds if exclude is None else np.asarray(exclude, dtype=np.int64)
    s[drop] = -np.inf
    ok = np.flatnonzero(np.isfinite(s))
    if len(ok) > k:
        # Pre-select by score, keeping every track tied with the k-th score.
        kth = np.partition(-s[ok], k - 1)[k - 1]
        ok = ok[-s[ok] <= kth]
    order = np.lexsort((ok, -ranker.popularity[ok], -s[ok]))
    return ok[order][:k]


@dataclass
class PopularityRanker:
    """The popularity baseline: the same training-popularity order for every query."""

    popularity: np.ndarray
    name: str = "popularity"

    @classmethod
    def fit(cls, train: Dataset) -> PopularityRanker:
        return cls(_popularity(train))

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        return self.popularity.copy()


@dataclass
class EmbeddingRanker:
    """Cosine of each track to the mean of the seeds' (normalised) vectors.

    Tracks without a vector score ``-inf``; when no seed has one, every track
    does, and :func:`top_k` returns nothing.
    """

    emb: Embeddings
    popularity: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.emb.name

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        if self.emb.popularity is not None:
            s = self.emb.popularity.astype(np.float64)
            return np.where(self.emb.available, s, -np.inf)
        seeds = seeds[self.emb.available[seeds]]
        out = np.full(self.emb.n_tracks, -np.inf)
        if len(seeds) == 0:
            return out
        q = self.emb.vectors[seeds].mean(axis=0)
        out[self.emb.available] = self.emb.vectors[self.emb.available] @ q
        return out


@dataclass
class ItemKNN:
    """Item-based kNN: cosine similarity of the tracks' sequence sets (see module doc)."""

    similarity: sp.csr_matrix
    popularity: np.ndarray
    name: str = "itemknn"

    @classmethod
    def fit(cls, train: Dataset) -> ItemKNN:
        x = _binary_incidence(train)
        co = (x.T @ x).tocsr()
        co.setdiag(0.0)
        co.eliminate_zeros()
        pop = _popularity(train)
        inv = np.zeros_like(pop)
        inv[pop > 0] = 1.0 / np.sqrt(pop[pop > 0])
        sim = sp.diags(inv) @ co @ sp.diags(inv)
        return cls(sim.tocsr(), pop)

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[seeds].sum(axis=0)).ravel()

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        return self.similarity[queries]


@dataclass
class SKNN:
    """Session-based kNN over the training sequences (see module doc).

    ``k`` neighbours (default 100, Ludewig et al.'s usual range 50-500).
    """

    incidence: sp.csr_matrix
    popularity: np.ndarray
    k: int = 100
    name: str = "sknn"
    _by_track: sp.csc_matrix = field(init=False, repr=False)
    _lengths: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise ParameterError("k", "an integer >= 1", self.k)
        self._by_track = self.incidence.tocsc()
        self._lengths = np.asarray(self.incidence.sum(axis=1)).ravel()

    @classmethod
    def fit(cls, train: Dataset, k: int = 100) -> SKNN:
        """Build from the training view (also :class:`VSKNN`'s constructor)."""
        return cls(_binary_incidence(train), _popularity(train), k=k)

    def _weights(self, seeds: np.ndarray) -> np.ndarray:
        return np.ones(len(seeds))

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        seeds = np.asarray(seeds, dtype=np.int64)
        out = np.zeros(self.incidence.shape[1])
        if len(seeds) == 0:
            return out
        # Weight per distinct seed (a repeated seed keeps its latest position's weight).
        w = self._weights(seeds)
        uniq: dict[int, float] = {}
        for t, wt in zip(seeds.tolist(), w.tolist(), strict=True):
            uniq[t] = wt
        tracks = np.fromiter(uniq, dtype=np.int64)
        weights = np.fromiter(uniq.values(), dtype=np.float64)
        overlap = np.asarray(self._by_track[:, tracks] @ weights).ravel()
        cand = np.flatnonzero(overlap > 0)
        if len(cand) == 0:
            return out
        sim = overlap[cand] / np.sqrt(len(tracks) * self._lengths[cand])
        if len(cand) > self.k:
            keep = np.lexsort((cand, -sim))[: self.k]
            cand, sim = cand[keep], sim[keep]
        return np.asarray(self.incidence[cand].T @ sim).ravel()

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        """Scores of single-track queries, one sparse row each (equals ``scores([q])``)."""
        s = self._by_track[:, queries].T.tocsr()  # queries x sequences containing them
        s.data = 1.0 / np.sqrt(self._lengths[s.indices])
        # keep each row's k most similar sequences (ties: lower sequence index)
        for j in range(s.shape[0]):
            a, b = s.indptr[j], s.indptr[j + 1]
            if b - a > self.k:
                order = np.lexsort((s.indices[a:b], -s.data[a:b]))
                drop = order[self.k :]
                s.data[a + drop] = 0.0
        s.eliminate_zeros()
        return (s @ self.incidence).tocsr()


@dataclass
class VSKNN(SKNN):
    """SKNN with linearly decaying seed weights (see module doc)."""

    name: str = "vsknn"

    def _weights(self, seeds: np.ndarray) -> np.ndarray:
        back = np.arange(len(seeds))[::-1]  # 0 for the last seed
        return np.maximum(1.0 - 0.1 * back, 0.0)


@dataclass
class Bigram:
    """First-order Markov next-song baseline: counts of ``last seed -> track``."""

    transitions: sp.csr_matrix
    popularity: np.ndarray
    name: str = "bigram"

    @classmethod
    def fit(cls, train: Dataset) -> Bigram:
        n = train.n_tracks
        idx = np.asarray(train.indices, dtype=np.int64)
        starts = np.zeros(len(idx), dtype=bool)
        starts[train.indptr[:-1][np.diff(train.indptr) > 0]] = True
        # an entry follows its predecessor unless it starts a sequence
        follow = np.flatnonzero(~starts[1:]) + 1
        a, b = idx[follow - 1], idx[follow]
        keep = a != b
        t = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
        t.sum_duplicates()
        return cls(t, _popularity(train))

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        if len(seeds) == 0:
            return np.zeros(self.transitions.shape[1])
        return self.transitions[int(seeds[-1])].toarray().ravel()

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        return self.transitions[queries]


#: Baseline rankers by name (``songspace evaluate --baselines``), each built from the
#: training view by ``fit(train)``.
BASELINE_RANKERS: dict[str, Any] = {
    "itemknn": ItemKNN,
    "sknn": SKNN,
    "vsknn": VSKNN,
    "bigram": Bigram,
}


def make_ranker(name: str, train: Dataset) -> Ranker:
    """Build the baseline ranker ``name`` from the training view ``train``."""
    if name == "popularity":
        return PopularityRanker.fit(train)
    if name not in BASELINE_RANKERS:
        raise ParameterError(
            "baseline", f"one of {['popularity', *BASELINE_RANKERS]}", name,
        )
    return BASELINE_RANKERS[name].fit(train)


def ranker_names(names: Sequence[str] | None) -> list[str]:
    """Validated baseline names (None: every baseline ranker)."""
    if names is None:
        return list(BASELINE_RANKERS)
    for n in names:
        if n not in BASELINE_RANKERS:
            raise ParameterError("baseline", f"one of {list(BASELINE_RANKERS)}", n)
    return list(names)
