"""The segment breakdown of HitRate and stage-1 recall (issue 30, part 3; metric family
``segments``, opt-in).

Each target of a query falls in one segment, by the protocol's training view alone:

- ``cooccurred``: the target and the query track (completion: any seed track) are in a
  training sequence together;
- ``never``: the target occurs in training, but never with the query (any seed);
- ``unseen``: the target occurs in no training sequence.

Counting rankers can only reach the first segment; the second and third are where
embeddings, and inductive models with features, must earn their place.

The queries and ranks are those of the ``stage1`` family (:mod:`songspace.evaluation.stage1`).
Per part and segment, over the queries with a target in that segment:

- ``segments_{part}_hit_rate_{segment}``: the share of those targets in the ranker's top
  ``k`` (``SuiteSettings.k``). For next-song this is the next-song family's HitRate
  restricted to the segment's pairs (the segments' values, weighted by their shares, add
  up to it). For completion the top ``k`` is taken from the whole catalogue, seeds
  excluded (not the completion family's sampled candidates);
- ``segments_{part}_stage1_recall@{SEGMENT_DEPTH}_{segment}``: the share among the
  stage-1 candidates at depth :data:`SEGMENT_DEPTH`.

Every result's ``info`` holds the segment's ``share`` of the part's targets, its target
count and the number of queries its value averages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from songspace.evaluation.results import MetricResult
from songspace.evaluation.stage1 import (
    PARTS,
    STAGE1_DEPTHS,
    missing_parts,
    part_queries,
    target_ranks,
)
from songspace.evaluation.stage1 import unsupported as unsupported  # the same parts

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.defaults import SuiteSettings
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol
    from songspace.evaluation.stage1 import QuerySet

__all__ = ["SEGMENTS", "SEGMENT_DEPTH", "segment_breakdown", "segment_codes", "target_segments"]

#: The segments, in the order of their codes (0, 1, 2).
SEGMENTS: tuple[str, ...] = ("cooccurred", "never", "unseen")
#: The stage-1 depth of the segment breakdown.
SEGMENT_DEPTH = 200
assert SEGMENT_DEPTH in STAGE1_DEPTHS

METRICS: tuple[str, ...] = tuple(
    name
    for part in PARTS
    for seg in SEGMENTS
    for name in (
        f"segments_{part}_hit_rate_{seg}",
        f"segments_{part}_stage1_recall@{SEGMENT_DEPTH}_{seg}",
    )
)
#: Default report columns: out-of-set next-song and completion HitRate per segment.
COLUMNS: tuple[str, ...] = tuple(
    f"segments_{part}_hit_rate_{seg}"
    for part in ("next_song_out_of_set", "completion")
    for seg in SEGMENTS
)


def target_segments(
    train: Dataset, seeds: list[np.ndarray], targets: list[np.ndarray]
) -> np.ndarray:
    """The segment code (0 ``cooccurred``, 1 ``never``, 2 ``unseen``; :data:`SEGMENTS`) of
    every target, flat over the queries, from the training view ``train``."""
    by_track = train.incidence().tocsc()
    by_track.sort_indices()
    ptr, rows = by_track.indptr, by_track.indices
    out = []
    for s, t in zip(seeds, targets, strict=True):
        s = np.unique(np.asarray(s, dtype=np.int64))
        t = np.asarray(t, dtype=np.int64)
        seed_rows = np.unique(np.concatenate([rows[ptr[x] : ptr[x + 1]] for x in s] or [[]]))
        code = np.empty(len(t), dtype=np.int64)
        for j, x in enumerate(t.tolist()):
            mine = rows[ptr[x] : ptr[x + 1]]
            if len(mine) == 0:
                code[j] = 2
            else:
                code[j] = 0 if np.isin(mine, seed_rows, assume_unique=True).any() else 1
        out.append(code)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def segment_codes(protocol: Protocol, part: str, settings: SuiteSettings) -> np.ndarray:
    """:func:`target_segments` of ``part``'s queries, cached on the protocol."""
    key = f"segments:{part}:{settings.next_song_max_pairs}:{settings.seed_fraction}"
    if key not in protocol._cache:
        q: QuerySet = part_queries(protocol, part, settings)
        protocol._cache[key] = target_segments(protocol.train, q.seeds, q.targets)
    codes: np.ndarray = protocol._cache[key]
    return codes


def unsupported_metrics(protocol: Protocol) -> dict[str, str]:
    """The parts (their metric prefixes) the protocol lacks."""
    return {f"segments_{part}": why for part, why in missing_parts(protocol).items()}


def segment_breakdown(run: FamilyInput, part: str) -> list[MetricResult]:
    """The segment results of one part (module docstring) for ``run.emb``."""
    ranks = target_ranks(run, part)
    codes = segment_codes(run.protocol, part, run.settings)
    hit = ranks.final > 0
    reached = (ranks.stage1 > 0) & (ranks.stage1 <= SEGMENT_DEPTH)
    out = []
    for c, seg in enumerate(SEGMENTS):
        inside = codes == c
        info = {
            "segment": seg,
            "share": float(inside.mean()) if len(inside) else float("nan"),
            "n_targets": int(inside.sum()),
            "n_queries": len(np.unique(ranks.query[inside])),
            "k": ranks.k,
            "depth": min(SEGMENT_DEPTH, ranks.depth),
        }
        out.append(
            MetricResult.mean_of(
                f"segments_{part}_hit_rate_{seg}",
                ranks.per_query(hit, among=inside),
                info=dict(info),
            )
        )
        out.append(
            MetricResult.mean_of(
                f"segments_{part}_stage1_recall@{SEGMENT_DEPTH}_{seg}",
                ranks.per_query(reached, among=inside),
                info=dict(info),
            )
        )
    return out


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``segments`` family (module docstring)."""
    missing = missing_parts(run.protocol)
    return [r for part in PARTS if part not in missing for r in segment_breakdown(run, part)]
