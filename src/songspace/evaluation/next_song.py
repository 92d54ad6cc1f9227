"""Next-song prediction (W2V §2.1; SPEC §4).

For each (query, target) pair, the exact top-``k`` nearest neighbours of the
query (excluding the query itself) are retrieved; HitRate is 1 when the target
is among them, NDCG is ``1 / log2(rank + 1)`` at the target's 1-based rank (one
relevant item, so the ideal DCG is 1), else 0.

Two protocols give the pairs:

- *in-set* (:func:`mask_last`): the last entry of every training sequence is
  removed from the training view and predicted from the second-to-last entry;
- *out-of-set* (:func:`next_song_pairs_heldout`): every consecutive pair of the
  held-out sequences.

Pairs whose query equals its target (a track repeated back to back) are left
out of both protocols: the query is excluded from its own neighbours, so such a
pair could never be a hit. :func:`next_song_report` averages the two protocols.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.data.splits import mask_last
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.knn import DEFAULT_K, exact_topk
from songspace.evaluation.results import MetricResult
from songspace.progress import ProgressCallback

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

logger = logging.getLogger(__name__)

__all__ = ["mask_last", "next_song", "next_song_pairs_heldout", "next_song_report"]


#: Metric names the next-song family produces (W2V §2.1): in-set, out-of-set and their
#: mean (:func:`next_song_report`).
METRICS: tuple[str, ...] = tuple(
    f"{prefix}_{m}"
    for prefix in ("next_song", "next_song_in_set", "next_song_out_of_set")
    for m in ("hit_rate", "ndcg")
)


def _check_sequences(dataset: Dataset, sequences: np.ndarray | Sequence[int]) -> np.ndarray:
    seqs = np.asarray(sequences, dtype=np.int64).reshape(-1)
    if seqs.size and (seqs.min() < 0 or seqs.max() >= dataset.n_sequences):
        bad = int(seqs[(seqs < 0) | (seqs >= dataset.n_sequences)][0])
        raise ParameterError("sequences", f"`0 <= sequence < {dataset.n_sequences}`", bad)
    return seqs


def _entries(dataset: Dataset, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry positions of ``seqs`` (concatenated in order) and each entry's row in ``seqs``."""
    lengths = dataset.lengths[seqs]
    starts = dataset.indptr[seqs]
    row = np.repeat(np.arange(len(seqs), dtype=np.int64), lengths)
    offset = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return np.repeat(starts, lengths) + offset, row


def next_song_pairs_heldout(
    dataset: Dataset, sequences: np.ndarray | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-set pairs: every consecutive ``(s[i], s[i + 1])`` of the given sequences.

    Pairs never cross from one sequence into the next; pairs with
    ``query == target`` are skipped (see the module docstring). Returns
    ``(queries, targets)`` as int64 track indices, in sequence order.
    """
    seqs = _check_sequences(dataset, sequences)
    entry, row = _entries(dataset, seqs)
    if len(entry) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    same = row[:-1] == row[1:]
    q = dataset.indices[entry[:-1]][same].astype(np.int64)
    t = dataset.indices[entry[1:]][same].astype(np.int64)
    keep = q != t
    return q[keep], t[keep]


def next_song(
    emb: Embeddings,
    queries: np.ndarray | Sequence[int],
    targets: np.ndarray | Sequence[int],
    *,
    k: int = DEFAULT_K,
    prefix: str = "next_song",
    batch_size: int = 2048,
    chunk_size: int = 65536,
    progress: ProgressCallback | None = None,
) -> list[MetricResult]:
    """``{prefix}_hit_rate`` and ``{prefix}_ndcg`` with one value per pair.

    Neighbours are computed once per distinct query, ``chunk_size`` distinct
    queries at a time (memory stays bounded), with :func:`exact_topk`. Pairs
    whose query has no embedding are misses; ``info["coverage"]`` is the share of
    pairs whose query has an embedding (``info["pair_coverage"]``: query and
    target both have one; a target without one can never be found).
    """
    q = np.asarray(queries, dtype=np.int64).reshape(-1)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    if q.shape != t.shape:
        raise ParameterError(
            "targets", f"one target per query ({len(q)})", len(t), fix="pass aligned arrays"
        )
    if q.size == 0:
        raise InvalidValueError(
            "expected at least one (query, target) pair, found none",
            record=f"next-song prediction ({prefix})",
            fix="evaluate on sequences of at least two tracks, or hold out more sequences",
        )
    for label, arr in (("queries", q), ("targets", t)):
        if arr.min() < 0 or arr.max() >= emb.n_tracks:
            bad = int(arr[(arr < 0) | (arr >= emb.n_tracks)][0])
            raise ParameterError(label, f"`0 <= track < {emb.n_tracks}`", bad)
    if chunk_size < 1:
        raise ParameterError("chunk_size", "`chunk_size >= 1`", chunk_size)
    uq, inv = np.unique(q, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(0, len(uq) + chunk_size, chunk_size))
    rank = np.zeros(len(q), dtype=np.int64)  # 0 = not found
    for c, start in enumerate(range(0, len(uq), chunk_size)):
        ids, _ = exact_topk(
            emb,
            uq[start : start + chunk_size],
            k,
            exclude_self=True,
            batch_size=batch_size,
            progress=progress,
        )
        pairs = order[bounds[c] : bounds[c + 1]]
        match = ids[inv[pairs] - start] == t[pairs, None]
        found = match.any(axis=1)
        rank[pairs] = np.where(found, match.argmax(axis=1) + 1, 0)
    hit = (rank > 0).astype(np.float64)
    ndcg = np.zeros(len(q))
    ndcg[rank > 0] = 1.0 / np.log2(rank[rank > 0] + 1.0)
    q_ok = emb.available[q]
    info = {
        "k": int(k),
        "n_pairs": len(q),
        "coverage": float(q_ok.mean()),
        "pair_coverage": float((q_ok & emb.available[t]).mean()),
        "model": emb.name,
    }
    return [
        MetricResult.mean_of(f"{prefix}_hit_rate", hit, info=dict(info)),
        MetricResult.mean_of(f"{prefix}_ndcg", ndcg, info=dict(info)),
    ]


def _find(results: list[MetricResult], suffix: str, which: str) -> MetricResult:
    found = [r for r in results if r.name.endswith(suffix)]
    if len(found) != 1:
        raise ParameterError(
            which,
            f"exactly one metric named '*{suffix}'",
            [r.name for r in results],
            fix="pass the list returned by next_song for that protocol",
        )
    return found[0]


def next_song_report(
    in_set: list[MetricResult],
    out_of_set: list[MetricResult],
    *,
    prefix: str = "next_song",
) -> list[MetricResult]:
    """``{prefix}_hit_rate`` and ``{prefix}_ndcg``: the mean of the in-set and out-of-set values.

    The two protocols have different pairs, so the means carry no per-query
    values (not testable); ``info`` holds both components. Return them together
    with the two input lists to report all three (SPEC: "Report both and their
    mean").
    """
    out = []
    for suffix in ("_hit_rate", "_ndcg"):
        a = _find(in_set, suffix, "in_set")
        b = _find(out_of_set, suffix, "out_of_set")
        out.append(
            MetricResult(
                f"{prefix}{suffix}",
                (a.value + b.value) / 2.0,
                info={
                    "in_set": a.value,
                    "out_of_set": b.value,
                    "in_set_metric": a.name,
                    "out_of_set_metric": b.name,
                },
            )
        )
    return out


# ------------------------------------------------------------ the metric family
#: Default report-table columns (W2V Table 4): in-set and out-of-set.
COLUMNS: tuple[str, ...] = (
    "next_song_in_set_hit_rate",
    "next_song_in_set_ndcg",
    "next_song_out_of_set_hit_rate",
    "next_song_out_of_set_ndcg",
)


def no_pairs(protocol: Protocol) -> str | None:
    """Why the protocol has no next-song pairs at all (None: it has some); the
    next-song, popularity and HardNeg families all need them."""
    if len(protocol.in_set[0]) + len(protocol.out_of_set[0]) == 0:
        return "no next-song pairs (every sequence has fewer than 2 entries)"
    return None


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support next-song prediction (None: it can)."""
    return no_pairs(protocol)


def unsupported_metrics(protocol: Protocol) -> dict[str, str]:
    """The in-set or out-of-set half a protocol may lack (then no mean either)."""
    out: dict[str, str] = {}
    for part, pairs in (("in_set", protocol.in_set), ("out_of_set", protocol.out_of_set)):
        if not len(pairs[0]):
            out[f"next_song_{part}"] = (
                "no training sequence of 3 or more entries to mask"
                if part == "in_set"
                else "no held-out sequence of 2 or more entries"
            ) + " (so no next_song mean either)"
    return out


def sample_pairs(
    pairs: tuple[np.ndarray, np.ndarray], limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``pairs`` or a uniform sample of ``limit`` of them (in their order), with the counts."""
    q, t = pairs
    info: dict[str, Any] = {"pairs_total": len(q), "pairs_evaluated": len(q)}
    if limit is None or len(q) <= limit:
        return q, t, info
    idx = np.sort(check_seed(seed).choice(len(q), size=int(limit), replace=False))
    info["pairs_evaluated"] = int(limit)
    logger.info("next-song: %d of %d pairs evaluated (a uniform sample)", limit, len(q))
    return q[idx], t[idx], info


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``next_song`` family of :func:`songspace.evaluation.suite.evaluate`: in-set,
    out-of-set and their mean, on at most ``next_song_max_pairs`` pairs of each."""
    protocol, emb, st = run.protocol, run.emb, run.settings
    # one protocol may have no pairs (a list of pairs has no in-set query: its
    # sequences are too short to mask); the mean needs both
    in_set = sample_pairs(protocol.in_set, st.next_song_max_pairs, protocol.seed)
    out_set = sample_pairs(protocol.out_of_set, st.next_song_max_pairs, protocol.seed)
    a = (
        next_song(emb, *in_set[:2], k=st.k, prefix="next_song_in_set", progress=run.progress)
        if len(in_set[0])
        else []
    )
    b = (
        next_song(emb, *out_set[:2], k=st.k, prefix="next_song_out_of_set", progress=run.progress)
        if len(out_set[0])
        else []
    )
    for results, sampled in ((a, in_set), (b, out_set)):
        for r in results:
            r.info.update(sampled[2])
    return [*a, *b, *(next_song_report(a, b) if a and b else [])]
