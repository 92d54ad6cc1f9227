"""Stage-2 features: numbers describing each (seeds, candidate) pair.

A feature block (:class:`Feature`) turns one query's seeds and its stage-1
:class:`~songspace.evaluation.candidates.CandidateSet` into a ``(candidates x columns)``
float matrix; NaN means "not known" (LightGBM routes missing values down the branch it
learned for them). The built-in blocks, each fitted on the protocol's training view only:

- :class:`GeneratorFeatures`: each generator's score and rank (NaN: not retrieved);
- :class:`EmbeddingFeatures`: per embedding, the cosine of the candidate to the last
  seed, to the normalised mean of the seeds and the maximum over the seeds (NaN where the
  candidate, or every seed, has no vector);
- :class:`PopularityFeatures`: ``log_popularity`` (log(1 + training sequences holding the
  track)) and ``degree`` (its weighted degree in the training co-occurrence graph: the
  sum, over its training sequences, of the other distinct tracks in them);
- :class:`CountFeatures`: ``cooccurrence_last`` (training sequences holding the candidate
  and the last seed), ``successor_last`` (times it directly followed the last seed),
  ``cooccurring_seeds`` (the share of distinct seeds it shares a training sequence with),
  ``seed_position`` (how far back the most recent such seed is: 1 for the last seed; NaN:
  none) and ``seed_length`` (the number of seeds);
- :class:`MetadataFeatures`: ``artist_overlap`` (the share of seeds by the candidate's
  artist) and ``genre_match`` (the share of the seeds with a known genre that have the
  candidate's primary genre); NaN where the candidate's artist or genre is unknown.

A user's own block only needs ``name``, ``names`` and ``values`` (docs/recommender.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from songspace._util import unit_rows
from songspace.errors import ParameterError
from songspace.evaluation.candidates import CandidateSet, as_seeds
from songspace.evaluation.rankers import Bigram

if TYPE_CHECKING:
    import pandas as pd

    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import Embeddings

__all__ = [
    "CountFeatures",
    "EmbeddingFeatures",
    "Feature",
    "GeneratorFeatures",
    "MetadataFeatures",
    "PopularityFeatures",
    "TrainingCounts",
    "feature_matrix",
]


@runtime_checkable
class Feature(Protocol):
    """A block of stage-2 features (module docstring): ``names`` are its columns;
    ``values(seeds, candidates)`` is a ``(len(candidates), len(names))`` float array."""

    name: str
    names: tuple[str, ...]

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray: ...


def feature_matrix(
    features: Sequence[Feature], seeds: np.ndarray, candidates: CandidateSet
) -> np.ndarray:
    """The float32 matrix of every block's columns for one query, blocks side by side."""
    m = len(candidates)
    blocks = []
    for f in features:
        v = np.asarray(f.values(seeds, candidates), dtype=np.float32)
        if v.shape != (m, len(f.names)):
            raise ParameterError(
                f"feature {f.name!r}",
                f"a ({m}, {len(f.names)}) array (candidates x its names)",
                v.shape,
                fix="return one row per candidate and one column per name",
            )
        blocks.append(v)
    if not blocks:
        return np.zeros((m, 0), np.float32)
    return np.hstack(blocks)


class GeneratorFeatures:
    """Each stage-1 generator's score and rank (1-based) of the candidate; NaN where the
    generator did not retrieve it."""

    name = "generators"

    def __init__(self, generators: Sequence[str]) -> None:
        self.generators = tuple(generators)
        self.names = tuple(f"{g}.{what}" for g in self.generators for what in ("score", "rank"))

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray:
        if candidates.generators != self.generators:
            raise ParameterError(
                "candidates",
                f"candidates of the generators {list(self.generators)}",
                list(candidates.generators),
                fix="build the features with the stage 1 that makes the candidates",
            )
        m, g = len(candidates), len(self.generators)
        out = np.empty((m, 2 * g))
        out[:, 0::2] = candidates.generator_scores
        out[:, 1::2] = candidates.generator_ranks
        return out


class EmbeddingFeatures:
    """The cosine of each candidate to the last seed, to the mean seed and the maximum
    over the seeds, under one embedding (module docstring)."""

    def __init__(self, emb: Embeddings) -> None:
        if not emb.has_vectors:
            raise ParameterError("emb", "embeddings with vectors", emb.name)
        self.emb = emb
        self.name = emb.name
        self.names = tuple(f"{emb.name}.{c}" for c in ("cos_last", "cos_mean", "cos_max"))

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray:
        seeds = as_seeds(seeds)
        cand = candidates.tracks
        out = np.full((len(cand), 3), np.nan)
        avail, vec = self.emb.available, self.emb.vectors
        ok = avail[cand]
        s = seeds[avail[seeds]]
        if len(s) == 0 or not ok.any():
            return out
        cv = vec[cand[ok]].astype(np.float64)
        sims = cv @ vec[np.unique(s)].astype(np.float64).T  # (candidates, seeds)
        if avail[seeds[-1]]:
            out[ok, 0] = cv @ vec[seeds[-1]].astype(np.float64)
        mean = vec[s].astype(np.float64).mean(axis=0, keepdims=True)
        if np.any(mean):
            out[ok, 1] = cv @ unit_rows(mean)[0].astype(np.float64)
        out[ok, 2] = sims.max(axis=1)
        return out


class TrainingCounts:
    """Counts of the training view that several blocks share: the binary sequence x track
    matrix (by track), each track's popularity and weighted degree, the successor counts."""

    def __init__(self, train: Dataset, bigram: Bigram | None = None) -> None:
        x = train.incidence().astype(np.float64)
        self.by_track = x.tocsc()
        self.by_track.sort_indices()
        #: the same matrix by sequence (CSR, one entry per distinct track of a sequence)
        self.by_sequence: sp.csr_matrix = x.tocsr()
        self.popularity = np.asarray(x.sum(axis=0)).ravel()
        sizes = np.asarray(x.sum(axis=1)).ravel()
        self.degree = np.asarray(x.T @ np.maximum(sizes - 1.0, 0.0)).ravel()
        self.transitions: sp.csr_matrix = (bigram or Bigram.fit(train)).transitions.tocsr()
        self.transitions.sum_duplicates()  # sorted, one entry per column: successor_counts

    def cooccurrence(self, seeds: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``(len(seeds), len(candidates))``: the training sequences holding each seed and
        each candidate (``X[:, seeds].T @ X[:, candidates]``, exactly). Counted from the
        side with fewer entries: the tracks of the seeds' sequences (a few hundred for a
        seed in a few dozen sequences), or the sparse product over the candidates'
        sequences, whose conversions cost the number of training sequences per call."""
        x, ptr = self.by_track, self.by_track.indptr
        seeds = np.asarray(seeds, dtype=np.int64)
        candidates = np.asarray(candidates, dtype=np.int64)
        seed_side = _row_lengths(self.by_sequence.indptr, _columns(x, seeds)).sum()
        if seed_side > int((ptr[candidates + 1] - ptr[candidates]).sum()):
            return (x[:, seeds].T @ x[:, candidates]).toarray()
        out = np.zeros((len(seeds), len(candidates)))
        rows = self.by_sequence
        for i, s in enumerate(seeds.tolist()):
            seqs = x.indices[ptr[s] : ptr[s + 1]]
            tracks = rows.indices[_positions(rows.indptr, seqs)]
            found, counts = np.unique(tracks, return_counts=True)
            if len(found) == 0:
                continue
            at = np.minimum(np.searchsorted(found, candidates), len(found) - 1)
            hit = found[at] == candidates
            out[i, hit] = counts[at[hit]]
        return out

    def successor_counts(self, track: int, candidates: np.ndarray) -> np.ndarray:
        """Times each of ``candidates`` directly followed ``track`` in training: a lookup
        in the track's row (indexing its columns with scipy allocates a catalogue-sized
        array per call)."""
        t = self.transitions
        a, b = t.indptr[track], t.indptr[track + 1]
        cols, counts = t.indices[a:b], t.data[a:b]
        out = np.zeros(len(candidates))
        if len(cols) == 0:
            return out
        at = np.minimum(np.searchsorted(cols, candidates), len(cols) - 1)
        hit = cols[at] == candidates
        out[hit] = counts[at[hit]]
        return out


def _columns(x: sp.csc_matrix, columns: np.ndarray) -> np.ndarray:
    """The row indices of the entries of ``columns`` of the CSC matrix ``x``, in order."""
    return np.asarray(x.indices[_positions(x.indptr, columns)])


def _positions(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The positions in a compressed matrix's data of the entries of ``rows``, in order."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + offsets


def _row_lengths(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.asarray(indptr[rows + 1] - indptr[rows])


class PopularityFeatures:
    """``log_popularity`` and ``degree`` of each candidate (module docstring)."""

    name = "popularity"
    names: tuple[str, ...] = ("log_popularity", "degree")

    def __init__(self, counts: TrainingCounts) -> None:
        self.table = np.column_stack([np.log1p(counts.popularity), counts.degree])

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray:
        return self.table[candidates.tracks]


class CountFeatures:
    """Co-occurrence and successor counts with the seeds (module docstring)."""

    name = "counts"
    names: tuple[str, ...] = (
        "cooccurrence_last",
        "successor_last",
        "cooccurring_seeds",
        "seed_position",
        "seed_length",
    )

    def __init__(self, counts: TrainingCounts) -> None:
        self.counts = counts

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray:
        seeds = as_seeds(seeds)
        cand = candidates.tracks
        out = np.full((len(cand), len(self.names)), np.nan)
        out[:, 4] = len(seeds)
        if len(seeds) == 0 or len(cand) == 0:
            return out
        # distinct seeds, most recent first, with how far back each last occurs (1 = last)
        back = np.arange(len(seeds), 0, -1)
        distinct, first = np.unique(seeds[::-1], return_index=True)
        order = np.argsort(first)
        distinct, recency = distinct[order], back[::-1][first[order]]
        co = self.counts.cooccurrence(distinct, cand)  # (distinct seeds, candidates)
        out[:, 0] = co[0]  # distinct[0] is the last seed
        out[:, 1] = self.counts.successor_counts(int(seeds[-1]), cand)
        shared = co > 0
        out[:, 2] = shared.mean(axis=0)
        nearest = np.where(shared, recency[:, None], np.inf).min(axis=0)
        out[:, 3] = np.where(np.isfinite(nearest), nearest, np.nan)
        return out


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes of a text column, -1 where missing."""
    import pandas as pd

    codes, _ = pd.factorize(values.astype(object), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


class MetadataFeatures:
    """``artist_overlap`` and ``genre_match`` (module docstring), from the tracks table's
    ``artist_id`` and ``genre`` (primary genre) columns."""

    name = "metadata"
    names: tuple[str, ...] = ("artist_overlap", "genre_match")

    def __init__(self, tracks: pd.DataFrame) -> None:
        n = len(tracks)
        self.artist = _codes(tracks["artist_id"]) if "artist_id" in tracks else np.full(n, -1)
        self.genre = _codes(tracks["genre"]) if "genre" in tracks else np.full(n, -1)

    def values(self, seeds: np.ndarray, candidates: CandidateSet) -> np.ndarray:
        seeds = np.unique(as_seeds(seeds))
        cand = candidates.tracks
        out = np.full((len(cand), 2), np.nan)
        if len(seeds) == 0:
            return out
        for col, codes in ((0, self.artist), (1, self.genre)):
            c = codes[cand]
            s = codes[seeds]
            base = s if col == 0 else s[s >= 0]  # genre: among the seeds with a known one
            known = c >= 0
            if len(base) == 0:
                continue
            out[known, col] = (c[known, None] == base[None, :]).mean(axis=1)
        return out
