"""Stage 1 of a two-stage recommender: candidate generators and their union.

A **candidate generator** (:class:`CandidateGenerator`) answers a query, its seed tracks
(the last one the most recent; one track for next-song), with at most ``n`` candidate
tracks, best first, each with the generator's score (:class:`Scored`). The seeds are never
candidates. A generator's top ``n`` is the start of its top ``n + 1`` (the *prefix
property*): the stage-1 recall at several depths (:mod:`songspace.evaluation.stage1`) is
read off one deep list, and the union at depth ``N`` is the union of each member's top
``N``.

The generators here are built from what the evaluation layer already has:

- :class:`RankerCandidates`: any :class:`~songspace.evaluation.rankers.Ranker`'s own top
  ``n`` (the tuned kNN rankers: item-kNN, SKNN, V-SKNN, STAN, VSTAN), its popularity
  back-off included; with ``evidence_only`` only the tracks it scores above 0;
- :func:`successors`: the tracks that directly followed the last seed in the training
  sequences, by count (the bigram ranker, evidence only);
- :class:`EmbeddingNeighbours`: an embedding's nearest neighbours (cosine) of the last
  seed or of the normalised mean of the seeds, through any :class:`VectorSearch` (exact
  by default; the serving layer's ``VectorIndex`` has the same ``search``);
- :class:`PopularityCandidates`: the most popular tracks of the training view.

:class:`CandidateUnion` merges several generators' top ``n`` (each member capped by its
own limit, e.g. the 50 most popular tracks), deduplicated, remembering each generator's
score and rank (1-based) per candidate (:class:`CandidateSet`; not retrieved: NaN). The
second stage (:mod:`songspace.recommender`) reads them as features.

Every generator is built from the protocol's training view (and embeddings fitted on it);
nothing here reads held-out sequences.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from songspace._util import unit_rows
from songspace.errors import ParameterError
from songspace.evaluation.rankers import Bigram, Ranker, top_of_scores
from songspace.params import Interval, check_param

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import Embeddings

__all__ = [
    "CandidateGenerator",
    "CandidateSet",
    "CandidateUnion",
    "EmbeddingNeighbours",
    "ExactSearch",
    "PopularityCandidates",
    "RankerCandidates",
    "Scored",
    "VectorSearch",
    "found_ranks",
    "generator_ranks",
    "stage1_generator",
    "successors",
]

NeighboursOf = Literal["last", "mean"]
#: What an embedding's neighbours are taken of: the last seed, or the mean of the seeds.
NEIGHBOURS_OF: tuple[str, ...] = ("last", "mean")


def as_seeds(seeds: np.ndarray | Sequence[int]) -> np.ndarray:
    """Seed track indices as a flat int64 array."""
    return np.asarray(seeds, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class Scored:
    """Candidates of one query: ``tracks`` (int64, best first) and ``scores`` (float64,
    the generator's score of each)."""

    tracks: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Scored:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.tracks)


@runtime_checkable
class CandidateGenerator(Protocol):
    """Stage 1: at most ``n`` candidates for a seed list, best first (module docstring).

    ``candidates(seeds, n)`` never returns a seed, returns each track at most once, and its
    top ``n`` is the start of its top ``n + 1``. ``name`` labels its features and results.
    """

    name: str

    def candidates(self, seeds: np.ndarray, n: int) -> Scored: ...


def _check_n(n: int) -> int:
    """``n`` as an int: a number of candidates >= 0 (ParameterError otherwise)."""
    return int(check_param("n", n, Interval(int, 0, None, what="a number of candidates >= 0")))


@dataclass
class RankerCandidates:
    """A ranker's top ``n`` (the order of :func:`~songspace.evaluation.rankers.top_k`:
    score, then training popularity, then track index). With ``evidence_only`` only the
    tracks it scores above 0 (for the count rankers: the tracks it has evidence for),
    without the popularity back-off."""

    ranker: Ranker
    name: str = ""
    evidence_only: bool = False
    _fill: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.ranker.name

    def candidates(self, seeds: np.ndarray, n: int) -> Scored:
        seeds, n = as_seeds(seeds), _check_n(n)
        if hasattr(self.ranker, "evidence"):
            found = self._from_evidence(seeds, n)
            if found is not None:
                return found
        s = np.asarray(self.ranker.scores(seeds), dtype=np.float64)
        if self.evidence_only:
            s = np.where(s > 0, s, -np.inf)
        if n == 0:
            return Scored.empty()
        top = top_of_scores(s, self.ranker.popularity, n, exclude=seeds)
        return Scored(top, s[top])

    def _from_evidence(self, seeds: np.ndarray, n: int) -> Scored | None:
        """The same top ``n`` from the ranker's ``evidence`` (the tracks it scores above
        0; every other track scores 0) without the catalogue-sized score vector: the
        tracks with evidence in :func:`top_of_scores`' order, then (unless
        ``evidence_only``) the back-off's tracks in popularity order. None when the
        evidence breaks its contract (a negative or non-finite score): the caller then
        ranks the full vector."""
        tracks, values = self.ranker.evidence(seeds)  # type: ignore[attr-defined]
        tracks = np.asarray(tracks, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            return None
        if n == 0:
            return Scored.empty()
        pop = self.ranker.popularity
        keep = (values > 0) & ~np.isin(tracks, seeds)
        tracks, values = tracks[keep], values[keep]
        order = np.lexsort((tracks, -pop[tracks], -values))[:n]
        top, score = tracks[order], values[order]
        if len(top) == n or self.evidence_only:
            return Scored(top, score)
        if self._fill is None:  # the back-off order: popularity, then track index
            self._fill = np.lexsort((np.arange(len(pop)), -pop))
        taken = np.concatenate([tracks, seeds])
        need = n - len(top)
        head = self._fill[: need + len(np.unique(taken))]
        head = head[~np.isin(head, taken)][:need]
        return Scored(np.concatenate([top, head]), np.concatenate([score, np.zeros(len(head))]))


def successors(train: Dataset, *, name: str = "successors") -> RankerCandidates:
    """The tracks that directly followed the last seed in ``train``'s sequences, most
    frequent first (score: the count; ties by popularity, then index)."""
    return RankerCandidates(Bigram.fit(train), name=name, evidence_only=True)


class VectorSearch(Protocol):
    """Nearest-neighbour search over a fixed matrix of unit vectors: ``search(queries, k)``
    returns ``(scores, positions)`` of shape ``(len(queries), k)``, best first, positions
    into the indexed matrix, missing slots ``-inf`` / ``-1``. The serving layer's
    ``songspace.serving.index.VectorIndex`` is one (exact or HNSW)."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


class ExactSearch:
    """Exact inner-product search in numpy (ties by position), the default
    :class:`VectorSearch` of :class:`EmbeddingNeighbours`."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        # the last search (queries' bytes, k, answer): a generator of the last seed and
        # one of the seed mean ask the same query, as deep, for a one-seed list
        # (next-song); the second gets the first's answer
        self._last: tuple[bytes, int, tuple[np.ndarray, np.ndarray]] | None = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        n = len(self.vectors)
        k = max(0, min(int(k), n))
        key = q.tobytes() + str(q.shape).encode()
        if self._last is not None and self._last[0] == key and self._last[1] == k:
            scores, ids = self._last[2]
            return scores.copy(), ids.copy()
        answer = self._search(q, n, k)
        self._last = (key, k, answer)
        return answer[0].copy(), answer[1].copy()

    def _search(self, q: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        if k == 0:
            return scores, ids
        s = q @ self.vectors.T
        part = (
            np.argpartition(-s, k - 1, axis=1)[:, :k]
            if k < n
            else np.tile(np.arange(n), (len(q), 1))
        )
        ps = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)
        return np.take_along_axis(ps, order, axis=1), np.take_along_axis(part, order, axis=1)


class EmbeddingNeighbours:
    """An embedding's nearest neighbours (cosine) of the last seed (``of="last"``) or of
    the normalised mean of the seeds that have a vector (``of="mean"``); ties by track
    index. A query whose last seed (``last``) or every seed (``mean``) has no vector gets
    no candidate. ``search`` indexes the rows of the tracks that have a vector, in track
    order (``emb.vectors[emb.available]``); default: :class:`ExactSearch`."""

    def __init__(
        self,
        emb: Embeddings,
        of: NeighboursOf = "last",
        *,
        search: VectorSearch | None = None,
        name: str | None = None,
    ) -> None:
        if not emb.has_vectors:
            raise ParameterError(
                "emb",
                "embeddings with vectors",
                emb.name,
                fix="pass a model's embeddings; rank by a ranker with RankerCandidates",
            )
        if of not in NEIGHBOURS_OF:
            raise ParameterError("of", f"one of {NEIGHBOURS_OF}", of)
        self.emb, self.of = emb, of
        self.rows = np.flatnonzero(emb.available)
        self.search = search if search is not None else ExactSearch(emb.vectors[self.rows])
        self.name = name or f"{emb.name}.{of}"

    def query_vector(self, seeds: np.ndarray) -> np.ndarray | None:
        """The unit query vector of ``seeds`` (None: no usable seed)."""
        seeds = as_seeds(seeds)
        if self.of == "last":
            seeds = seeds[-1:]
        seeds = seeds[self.emb.available[seeds]]
        if len(seeds) == 0:
            return None
        q = self.emb.vectors[seeds].astype(np.float64).mean(axis=0, keepdims=True)
        if not np.any(q):
            return None
        return unit_rows(q)[0]

    def candidates(self, seeds: np.ndarray, n: int) -> Scored:
        seeds, n = as_seeds(seeds), _check_n(n)
        q = self.query_vector(seeds)
        if q is None or n == 0:
            return Scored.empty()
        k = min(n + len(np.unique(seeds)), len(self.rows))
        s, pos = self.search.search(q[None, :], k)
        s, pos = np.asarray(s[0], np.float64), np.asarray(pos[0], np.int64)
        ok = pos >= 0
        tracks, s = self.rows[pos[ok]], s[ok]
        keep = ~np.isin(tracks, seeds)
        tracks, s = tracks[keep], s[keep]
        order = np.lexsort((tracks, -s))[:n]
        return Scored(tracks[order], s[order])


@dataclass
class PopularityCandidates:
    """The most popular tracks (``popularity``: training sequences holding each), ties by
    track index; the score is the popularity."""

    popularity: np.ndarray
    name: str = "popular"
    _order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pop = np.asarray(self.popularity, dtype=np.float64)
        self.popularity = pop
        self._order = np.lexsort((np.arange(len(pop)), -pop))

    def candidates(self, seeds: np.ndarray, n: int) -> Scored:
        seeds, n = as_seeds(seeds), _check_n(n)
        head = self._order[: n + len(np.unique(seeds))]
        head = head[~np.isin(head, seeds)][:n]
        return Scored(head, self.popularity[head])


@dataclass(frozen=True)
class CandidateSet(Scored):
    """The union of several generators' candidates for one query.

    ``tracks`` are ordered by their best rank over the generators, then by how many
    generators retrieved them (more first), then by track index; ``scores`` is minus the
    best rank. ``generator_scores`` / ``generator_ranks`` (``len(tracks) x
    len(generators)``) hold each generator's score and 1-based rank, NaN where it did not
    retrieve the track.
    """

    generators: tuple[str, ...] = ()
    generator_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    generator_ranks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def best_rank(self) -> np.ndarray:
        """Each candidate's best (smallest) rank over the generators."""
        if self.generator_ranks.size == 0:
            return np.zeros(len(self.tracks))
        return np.nanmin(self.generator_ranks, axis=1)


class CandidateUnion:
    """Stage 1: the union of ``generators``' top ``n``, deduplicated (:class:`CandidateSet`).

    ``limits`` caps a member's depth by name (``{"popular": 50}``: never more than the 50
    most popular tracks, whatever ``n``). Generator names must be distinct.
    """

    def __init__(
        self,
        generators: Sequence[CandidateGenerator],
        *,
        limits: Mapping[str, int] | None = None,
        name: str = "union",
    ) -> None:
        self.generators = list(generators)
        names = [g.name for g in self.generators]
        if not names:
            raise ParameterError("generators", "at least one candidate generator", names)
        if len(set(names)) != len(names):
            raise ParameterError("generators", "distinct generator names", names)
        self.limits = {k: _check_n(v) for k, v in (limits or {}).items()}
        unknown = sorted(set(self.limits) - set(names))
        if unknown:
            raise ParameterError("limits", f"names among the generators {names}", unknown[0])
        self.name = name
        self._memo: OrderedDict[bytes, tuple[int, list[Scored]]] = OrderedDict()
        self._memo_size = 0
        self._memo_depth = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.generators)

    def remember(self, size: int, depth: int = 0) -> None:
        """Keep the generators' answers to the last ``size`` distinct seed lists (0: none,
        the default), each asked at least ``depth`` deep, so that asking the same seeds
        again, at that depth or less, costs a merge only (an evaluation asks each query at
        the recommender's depth and then at the stage-1 families' deeper one). By the
        prefix property a shallower answer is the start of the deeper one, so the
        candidates are exactly those computed afresh."""
        self._memo_size = _check_n(size)
        self._memo_depth = _check_n(depth)
        self._memo.clear()

    def _found(self, seeds: np.ndarray, n: int) -> list[Scored]:
        """Each generator's top ``n`` (capped by its limit) for ``seeds``, from the memo
        where it holds them deep enough."""
        if not self._memo_size:
            return [g.candidates(seeds, self._depth(g.name, n)) for g in self.generators]
        key = seeds.tobytes()
        hit = self._memo.get(key)
        if hit is None or hit[0] < n:
            deep = max(n, self._memo_depth)
            hit = (deep, [g.candidates(seeds, self._depth(g.name, deep)) for g in self.generators])
            self._memo[key] = hit
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        self._memo.move_to_end(key)
        return [
            Scored(f.tracks[: self._depth(g.name, n)], f.scores[: self._depth(g.name, n)])
            for g, f in zip(self.generators, hit[1], strict=True)
        ]

    def _depth(self, name: str, n: int) -> int:
        return min(n, self.limits.get(name, n))

    def candidates(self, seeds: np.ndarray, n: int) -> CandidateSet:
        seeds, n = as_seeds(seeds), _check_n(n)
        return merge(self._found(seeds, n), self.names)


def merge(found: Sequence[Scored], names: Sequence[str]) -> CandidateSet:
    """The :class:`CandidateSet` of several generators' answers to one query."""
    g = len(found)
    if not any(len(f) for f in found):
        return CandidateSet(
            np.zeros(0, np.int64),
            np.zeros(0),
            tuple(names),
            np.zeros((0, g)),
            np.zeros((0, g)),
        )
    tracks, inverse = np.unique(
        np.concatenate([f.tracks for f in found]).astype(np.int64), return_inverse=True
    )
    m = len(tracks)
    scores = np.full((m, g), np.nan)
    ranks = np.full((m, g), np.nan)
    start = 0
    for j, f in enumerate(found):
        rows = inverse[start : start + len(f)]
        start += len(f)
        # reversed: a generator that repeats a track keeps its first (best) place
        scores[rows[::-1], j] = np.asarray(f.scores, np.float64)[::-1]
        ranks[rows[::-1], j] = np.arange(len(f), 0, -1, dtype=np.float64)
    best = np.nanmin(ranks, axis=1)
    count = np.sum(~np.isnan(ranks), axis=1)
    order = np.lexsort((tracks, -count, best))
    return CandidateSet(tracks[order], -best[order], tuple(names), scores[order], ranks[order])


def found_ranks(found: Scored, targets: np.ndarray) -> np.ndarray:
    """The 1-based stage-1 rank of each target among ``found`` (0: not found): its position
    in a generator's list, or its best rank over the generators of a :class:`CandidateSet`
    (a target is in the union at depth ``N`` exactly when that rank is ``<= N``)."""
    targets = as_seeds(targets)
    rank = np.zeros(len(targets), dtype=np.int64)
    if len(found) == 0 or len(targets) == 0:
        return rank
    ranks = (
        found.best_rank
        if isinstance(found, CandidateSet)
        else np.arange(1, len(found) + 1, dtype=np.float64)
    )
    order = np.argsort(found.tracks, kind="stable")
    sorted_tracks = found.tracks[order]
    at = np.searchsorted(sorted_tracks, targets)
    at_ok = np.minimum(at, len(sorted_tracks) - 1)
    hit = sorted_tracks[at_ok] == targets
    rank[hit] = ranks[order[at_ok[hit]]].astype(np.int64)
    return rank


def generator_ranks(found: CandidateSet, targets: np.ndarray) -> np.ndarray:
    """Each target's 1-based rank in each generator's list of a :class:`CandidateSet`
    (``len(targets) x len(found.generators)``; 0: that generator did not retrieve it)."""
    targets = as_seeds(targets)
    out = np.zeros((len(targets), len(found.generators)), dtype=np.int64)
    if len(found) == 0 or len(targets) == 0:
        return out
    order = np.argsort(found.tracks, kind="stable")
    at = np.minimum(np.searchsorted(found.tracks[order], targets), len(order) - 1)
    hit = found.tracks[order[at]] == targets
    ranks = found.generator_ranks[order[at[hit]]]
    out[hit] = np.where(np.isnan(ranks), 0, ranks).astype(np.int64)
    return out


def stage1_generator(ranker: object) -> CandidateGenerator | None:
    """The stage 1 of a ranker that has one: its ``stage1`` attribute (a two-stage
    recommender's :class:`CandidateUnion`), or the ranker itself when it is a
    :class:`CandidateGenerator`; None for a ranker whose stage 1 is its own ranking."""
    inner = getattr(ranker, "stage1", None)
    if isinstance(inner, CandidateGenerator):
        return inner
    if isinstance(ranker, CandidateGenerator):
        return ranker
    return None
