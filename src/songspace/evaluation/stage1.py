"""Stage-1 recall: the share of the test targets among a ranker's candidates, at several
depths (issue 30, part 3; metric family ``stage1``, opt-in).

Three query sets, those of the next-song and completion families:

- ``next_song_in_set`` / ``next_song_out_of_set``: the seed is the query track, the
  target the next track (the same pairs, and the same sample of at most
  ``SuiteSettings.next_song_max_pairs``, as the ``next_song`` family);
- ``completion``: the seeds are the first half of a test playlist's distinct tracks
  (``SuiteSettings.seed_fraction``), the targets its hidden rest; candidates come from the
  whole catalogue (not the completion family's sampled negatives).

Per query, ``stage1_{part}_recall@N`` is the share of its targets among the candidates at
depth ``N`` (one target for next-song: 0 or 1). For a two-stage recommender (a ranker with a
``stage1`` :class:`~songspace.evaluation.candidates.CandidateUnion`) the candidates at depth
``N`` are the union of each generator's top ``N``; for any other ranker or embedding they
are its own top ``N`` (so its stage-1 recall at ``N`` is its HitRate@N). Depths beyond the
rankable tracks are cut to them.

:func:`part_queries` and :func:`target_ranks` are shared with the segment breakdown
(:mod:`songspace.evaluation.segments`): the ranks of one embedding are computed once per
protocol for both families.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace.evaluation.candidates import (
    CandidateSet,
    Scored,
    as_seeds,
    found_ranks,
    generator_ranks,
    stage1_generator,
)
from songspace.evaluation.completion import split_seed_hidden
from songspace.evaluation.knn import exact_topk
from songspace.evaluation.next_song import sample_pairs
from songspace.evaluation.ranker_params import popularity_of
from songspace.evaluation.rankers import EmbeddingRanker, Ranker, top_k
from songspace.evaluation.results import MetricResult
from songspace.progress import track

if TYPE_CHECKING:
    from songspace.evaluation.candidates import CandidateGenerator
    from songspace.evaluation.defaults import SuiteSettings
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol
    from songspace.progress import ProgressCallback

__all__ = [
    "PARTS",
    "STAGE1_DEPTHS",
    "QuerySet",
    "Stage1Recall",
    "part_queries",
    "ranker_of",
    "stage1_recall",
    "target_ranks",
]

#: The query sets (module docstring).
PARTS: tuple[str, ...] = ("next_song_in_set", "next_song_out_of_set", "completion")
#: The depths ``N`` at which stage-1 recall is reported.
STAGE1_DEPTHS: tuple[int, ...] = (100, 200, 500, 1000)

#: Metric names of the family: every part at every depth.
METRICS: tuple[str, ...] = tuple(
    f"stage1_{part}_recall@{n}" for part in PARTS for n in STAGE1_DEPTHS
)
#: Default report columns: each part at the shallowest and the deepest depth.
COLUMNS: tuple[str, ...] = tuple(
    f"stage1_{part}_recall@{n}" for part in PARTS for n in (STAGE1_DEPTHS[0], STAGE1_DEPTHS[-1])
)


@dataclass
class QuerySet:
    """The queries of one part: ``seeds[i]`` and ``targets[i]`` (track indices), and the
    sampling counts (``info``)."""

    part: str
    seeds: list[np.ndarray]
    targets: list[np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seeds)


def part_queries(protocol: Protocol, part: str, settings: SuiteSettings) -> QuerySet:
    """The queries of ``part`` (module docstring), cached on the protocol."""
    key = f"stage1_queries:{part}:{settings.next_song_max_pairs}:{settings.seed_fraction}"
    cache = protocol._cache
    if key not in cache:
        if part == "completion":
            seeds, targets = [], []
            for p in protocol.completion.tolist():
                s, h = split_seed_hidden(protocol.dataset.sequence(p), settings.seed_fraction)
                seeds.append(s)
                targets.append(h)
            info: dict[str, Any] = {"n_playlists": len(seeds)}
        else:
            pairs = protocol.in_set if part == "next_song_in_set" else protocol.out_of_set
            q, t, info = sample_pairs(pairs, settings.next_song_max_pairs, protocol.seed)
            seeds = [q[i : i + 1] for i in range(len(q))]
            targets = [t[i : i + 1] for i in range(len(t))]
        cache[key] = QuerySet(part, seeds, targets, info)
    result: QuerySet = cache[key]
    return result


def ranker_of(emb: Embeddings, popularity: np.ndarray) -> Ranker:
    """The ranker behind ``emb``: its own ranker, or the cosine to the mean seed vector
    (the popularity baseline: its popularity scores), ties by ``popularity``."""
    if emb.ranker is not None:
        ranker: Ranker = emb.ranker
        return ranker
    return EmbeddingRanker(emb, popularity)


@dataclass
class TargetRanks:
    """The 1-based rank of every target of a part, in the final ranking (``final``, up to
    ``k``) and in stage 1 (``stage1``, up to ``depth``), 0: not found; flat over the
    queries, ``query[j]`` the query of target ``j``."""

    final: np.ndarray
    stage1: np.ndarray
    query: np.ndarray
    n_queries: int
    k: int
    depth: int

    def per_query(self, hit: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
        """Per query, the share of its targets (of those in ``among``) with ``hit``; only
        the queries with such a target (all of them when ``among`` is None)."""
        use = np.ones(len(hit), bool) if among is None else np.asarray(among, bool)
        total = np.bincount(self.query[use], minlength=self.n_queries)
        got = np.bincount(self.query[use], weights=hit[use], minlength=self.n_queries)
        keep = total > 0 if among is not None else np.ones(self.n_queries, bool)
        return got[keep] / np.maximum(total[keep], 1)


def _depth_limit(emb: Embeddings, exclude_self: bool) -> int:
    """The most tracks a ranking of ``emb`` can hold (its rankable tracks)."""
    n = int(emb.available.sum())
    return max(n - (1 if exclude_self else 0), 0)


def target_ranks(run: FamilyInput, part: str) -> TargetRanks:
    """The ranks of ``part``'s targets for ``run.emb`` (cached on the protocol while the
    embedding object lives, for the ``stage1`` and ``segments`` families)."""
    protocol, emb, st = run.protocol, run.emb, run.settings
    store = protocol._cache.setdefault("stage1_ranks", {})
    for stale in [key for key, (ref, _) in store.items() if ref() is None]:
        del store[stale]
    key = (id(emb), part, st.k, st.next_song_max_pairs, st.seed_fraction)
    hit = store.get(key)
    if hit is not None and hit[0]() is emb:
        ranks: TargetRanks = hit[1]
        return ranks
    queries = part_queries(protocol, part, st)
    generator = stage1_generator(emb.ranker)
    if part == "completion":
        ranks = _completion_ranks(protocol, emb, queries, st.k, generator, run.progress)
    else:
        ranks = _next_song_ranks(emb, queries, st.k, generator, run.progress)
    store[key] = (weakref.ref(emb), ranks)
    return ranks


def _next_song_ranks(
    emb: Embeddings,
    queries: QuerySet,
    k: int,
    generator: CandidateGenerator | None,
    progress: ProgressCallback | None,
) -> TargetRanks:
    n = len(queries)
    q = np.array([s[0] for s in queries.seeds], dtype=np.int64)
    t = np.array([x[0] for x in queries.targets], dtype=np.int64)
    depth = min(STAGE1_DEPTHS[-1], _depth_limit(emb, exclude_self=True))
    final = _ranks_in(emb, q, t, k, progress)  # as the next_song family ranks them
    if generator is None:
        stage1 = _ranks_in(emb, q, t, depth, progress)
    else:
        stage1 = np.zeros(n, dtype=np.int64)
        for i in track(range(n), progress, "stage-1 candidates"):
            stage1[i] = found_ranks(generator.candidates(q[i : i + 1], depth), t[i : i + 1])[0]
    return TargetRanks(final, stage1, np.arange(n), n, k, depth)


def _ranks_in(
    emb: Embeddings, q: np.ndarray, t: np.ndarray, k: int, progress: ProgressCallback | None
) -> np.ndarray:
    """Rank (1-based, 0: not in the top ``k``) of each target among its query's exact
    top-``k`` (:func:`~songspace.evaluation.knn.exact_topk`, the query excluded)."""
    rank = np.zeros(len(q), dtype=np.int64)
    if len(q) == 0 or k < 1:
        return rank
    uq, inv = np.unique(q, return_inverse=True)
    ids, _ = exact_topk(emb, uq, k, exclude_self=True, progress=progress)
    match = ids[inv.reshape(-1)] == t[:, None]
    found = match.any(axis=1)
    rank[found] = match[found].argmax(axis=1) + 1
    return rank


def _completion_ranks(
    protocol: Protocol,
    emb: Embeddings,
    queries: QuerySet,
    k: int,
    generator: CandidateGenerator | None,
    progress: ProgressCallback | None,
) -> TargetRanks:
    ranker = ranker_of(emb, popularity_of(protocol.train))
    depth = min(STAGE1_DEPTHS[-1], _depth_limit(emb, exclude_self=False))
    final, stage1 = [], []
    pairs = list(zip(queries.seeds, queries.targets, strict=True))
    for seeds, targets in track(pairs, progress, "completion ranks"):
        seeds = as_seeds(seeds)
        top = top_k(ranker, seeds, max(k, depth if generator is None else 0))
        f = found_ranks(Scored(top, np.zeros(len(top))), targets)
        final.append(np.where(f <= k, f, 0))
        if generator is None:
            stage1.append(np.where(f <= depth, f, 0))
        else:
            stage1.append(found_ranks(generator.candidates(seeds, depth), targets))
    counts = [len(t) for t in queries.targets]
    query = np.repeat(np.arange(len(pairs)), counts)
    return TargetRanks(_flat(final), _flat(stage1), query.astype(np.int64), len(pairs), k, depth)


def _flat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


@dataclass
class Stage1Recall:
    """What :func:`stage1_recall` measured, per query: ``ranks`` (each target's 1-based
    stage-1 rank at the deepest depth, 0: not found; flat, ``query[j]`` the query of
    target ``j``), ``recall[N]`` (the share of its targets among the candidates at depth
    ``N``) and ``candidates[N]`` (how many candidates it had at depth ``N``)."""

    ranks: np.ndarray
    query: np.ndarray
    recall: dict[int, np.ndarray]
    candidates: dict[int, np.ndarray]
    #: For a union, each target's rank in each generator's list (0: not retrieved), by
    #: generator name: what each generator alone reaches, from the same calls.
    by_generator: dict[str, np.ndarray] = field(default_factory=dict)


def stage1_recall(
    generator: CandidateGenerator,
    seeds: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    depths: Sequence[int] = STAGE1_DEPTHS,
    *,
    progress: ProgressCallback | None = None,
) -> Stage1Recall:
    """The stage-1 recall of ``generator`` (any :class:`CandidateGenerator`: one generator
    or a union) for each query at each depth. One generator call per query, at the deepest
    depth; the prefix property gives the others (for a union: a candidate is in the union
    at depth ``N`` when its best rank over the generators is ``<= N``)."""
    deepest = max(depths)
    n = len(seeds)
    recall = {int(d): np.zeros(n) for d in depths}
    count = {int(d): np.zeros(n, dtype=np.int64) for d in depths}
    ranks, query, per_generator = [], [], []
    pairs = list(zip(seeds, targets, strict=True))
    for i, (s, t) in enumerate(track(pairs, progress, "stage-1 candidates")):
        found = generator.candidates(as_seeds(s), deepest)
        r = found_ranks(found, t)
        if isinstance(found, CandidateSet):
            per_generator.append((found.generators, generator_ranks(found, t)))
        best = (
            found.best_rank
            if isinstance(found, CandidateSet)
            else np.arange(1, len(found) + 1, dtype=np.float64)
        )
        for d in recall:
            recall[d][i] = np.mean((r > 0) & (r <= d)) if len(r) else 0.0
            count[d][i] = int(np.sum(best <= d))
        ranks.append(r)
        query.append(np.full(len(r), i, dtype=np.int64))
    by_generator: dict[str, np.ndarray] = {}
    if per_generator and len(per_generator) == n:
        names = per_generator[0][0]
        stacked = np.vstack([g for _, g in per_generator])
        by_generator = {name: stacked[:, j] for j, name in enumerate(names)}
    return Stage1Recall(_flat(ranks), _flat(query), recall, count, by_generator)


# ------------------------------------------------------------ the metric family
def missing_parts(protocol: Protocol) -> dict[str, str]:
    """The parts this protocol has no query for, each with the reason."""
    out = {}
    if not len(protocol.in_set[0]):
        out["next_song_in_set"] = "no training sequence of 3 or more entries to mask"
    if not len(protocol.out_of_set[0]):
        out["next_song_out_of_set"] = "no held-out sequence of 2 or more entries"
    if not len(protocol.completion):
        out["completion"] = "no completion playlist"
    return out


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol has no query at all (None: it has some)."""
    missing = missing_parts(protocol)
    return "; ".join(missing.values()) if len(missing) == len(PARTS) else None


def unsupported_metrics(protocol: Protocol) -> dict[str, str]:
    """The parts (their metric prefixes) the protocol lacks."""
    return {f"stage1_{part}": why for part, why in missing_parts(protocol).items()}


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``stage1`` family: recall at every depth of :data:`STAGE1_DEPTHS`, per part."""
    out = []
    missing = missing_parts(run.protocol)
    for part in PARTS:
        if part in missing:
            continue
        ranks = target_ranks(run, part)
        info = {**part_queries(run.protocol, part, run.settings).info, "depth": ranks.depth}
        for n in STAGE1_DEPTHS:
            values = ranks.per_query((ranks.stage1 > 0) & (ranks.stage1 <= n))
            out.append(MetricResult.mean_of(f"stage1_{part}_recall@{n}", values, info=dict(info)))
    return out
