"""What a model can learn from a dataset's structure, checked before training (SPEC §2-3).

- :func:`tracks_with_context`: tracks that occur in at least one sequence (chunk)
  of two or more entries. A skip-gram model (Track2Vec) trains a track's vector
  only from its neighbours in a sequence; a track seen only in one-entry
  sequences keeps its random initialisation, so it is *unavailable*, not embedded.
- :func:`estimate_graph_bytes` / :func:`check_graph_fits`: an upper bound on the
  size of the co-occurrence graph (MUSIG §3.1) before it is built, so that a
  dataset whose graph cannot fit in memory is refused with the numbers and the fix
  instead of being killed by the kernel.
- :func:`tracks_with_an_edge_at_1`: how many tracks would have an edge if every
  co-occurrence counted (``min_weight=1``), for the hint when a higher threshold
  leaves almost every track without one.

Graph bound. A stored entry of the symmetric graph is an ordered pair ``(u, v)``,
``u != v``, whose weight (number of distinct sequences holding both) is at least
``min_weight``. Counting, per sequence ``i``, the ordered pairs of its distinct
tracks that occur in at least ``min_weight`` sequences (only those can reach the
threshold), ``P = sum_i m_i (m_i - 1)``, every kept pair consumes at least
``min_weight`` of them, so ``entries <= min(P / min_weight, m (m - 1))`` with
``m`` the number of such tracks. Building the graph holds about
:data:`BYTES_PER_ENTRY` bytes per stored entry at its peak (the kept blocks, their
concatenation, the upper triangle and its mirrored sum; measured with tracemalloc
at 16-20 bytes on random playlists).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from songspace.errors import GraphTooLargeError, InvalidValueError, ParameterError
from songspace.params import POSITIVE_INT, check_param

logger = logging.getLogger(__name__)

#: Peak bytes per stored graph entry while building (int32 index + int32 weight,
#: held about 2.5 times over; measured 16-20 bytes, rounded up).
BYTES_PER_ENTRY = 24
#: Environment variable that sets the memory limit of the graph (bytes, or with a
#: K/M/G/T suffix, e.g. ``64G``); default: 80% of the memory available now.
MEMORY_ENV = "SONGSPACE_GRAPH_MEMORY"
#: ``min_weight`` values the refusal message sizes the graph for.
_SUGGESTED_WEIGHTS = (2, 3, 5, 10, 20, 50, 100)


def _csr(data) -> tuple[np.ndarray, np.ndarray, int]:
    from songspace.graph.cooccurrence import _as_csr

    return _as_csr(data)


def tracks_with_context(data, max_len: int | None = None) -> np.ndarray:
    """Bool per track: it occurs in a sequence of at least two entries.

    ``data`` is a Dataset or ``(indptr, indices, n_tracks)``. With ``max_len``
    sequences count as the consecutive chunks of at most that many entries that a
    trainer feeds (gensim cuts sentences at 10,000 tokens), so a track only in a
    one-entry tail chunk has no context either.
    """
    indptr, indices, n_tracks = _csr(data)
    lengths = np.diff(indptr)
    entry_len = np.repeat(lengths, lengths)
    if max_len is not None:
        offset = np.arange(len(indices), dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        start = offset - offset % max_len
        entry_len = np.minimum(entry_len - start, max_len)
    out = np.zeros(n_tracks, dtype=bool)
    out[np.asarray(indices)[entry_len >= 2]] = True
    return out


def drop_tracks_without_context(data, available: np.ndarray, *, max_len: int) -> np.ndarray:
    """``available`` without the tracks that have no context (:func:`tracks_with_context`).

    Logs how many were dropped; raises InvalidValueError when no track is left,
    since a model without any context has learnt nothing.
    """
    context = tracks_with_context(data, max_len=max_len)
    out = np.asarray(available, dtype=bool) & context
    dropped = int(np.count_nonzero(np.asarray(available, dtype=bool) & ~context))
    if not out.any():
        raise InvalidValueError(
            "expected at least one sequence of two or more entries to learn from, found "
            "only one-entry sequences, so no track has a neighbour and nothing can be learnt",
            fix="train on sequences of two or more entries (check the sequence_id mapping "
            "of `prepare csv`: one id per row makes every sequence a single entry)",
        )
    if dropped:
        logger.warning(
            "%d of %d tracks occur only in one-entry sequences: with no neighbour to learn "
            "from they are unavailable (their vectors would be the random initialisation)",
            dropped,
            len(out),
        )
    return out


def raise_if_no_edges(graph, data) -> None:
    """ParameterError on ``min_weight`` when ``graph`` has no edge (nothing to walk)."""
    if graph.n_edges:
        return
    at_1 = tracks_with_an_edge_at_1(data)
    fix = (
        f"lower min_weight (--param min_weight=1): at min_weight=1, {at_1} of "
        f"{graph.n_nodes} tracks would have an edge"
        if at_1 and graph.min_weight > 1
        else "no two tracks share a sequence: a graph model needs sequences of two or "
        "more distinct tracks"
    )
    raise ParameterError(
        "min_weight",
        "the co-occurrence graph has at least one edge at `min_weight` (no edge, no track "
        "can be embedded)",
        graph.min_weight,
        fix=fix,
    )


def tracks_with_an_edge_at_1(data) -> int:
    """Number of tracks sharing a sequence with at least one other distinct track."""
    from songspace.graph.cooccurrence import incidence_matrix

    x = incidence_matrix(data)
    rows = np.flatnonzero(np.diff(x.indptr) >= 2)
    if not len(rows):
        return 0
    return int(np.unique(x[rows].indices).size)


def warn_if_few_tracks_have_an_edge(graph, data, share: float = 0.1) -> None:
    """Log a warning when fewer than ``share`` of the tracks have an edge at the
    graph's ``min_weight`` (> 1), saying how many would have one at 1."""
    n = graph.n_nodes
    active = graph.n_active_nodes
    if graph.min_weight <= 1 or n == 0 or active >= share * n:
        return
    at_1 = tracks_with_an_edge_at_1(data)
    logger.warning(
        "co-occurrence graph at min_weight=%d: only %d of %d tracks (%.1f%%) have an edge, "
        "so the others cannot be embedded from the graph; at min_weight=1, %d would "
        "(%.1f%%). Fix: pass min_weight=1 (--param min_weight=1) on data this sparse",
        graph.min_weight,
        active,
        n,
        100 * active / n,
        at_1,
        100 * at_1 / n,
    )


def _pair_bound(x: sp.csr_matrix, min_weight: int, df: np.ndarray) -> int:
    frequent = df >= min_weight
    m = int(np.count_nonzero(frequent))
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    per_row = np.bincount(rows, weights=frequent[x.indices], minlength=x.shape[0])
    per_row = per_row.astype(np.int64)
    pairs = int(np.sum(per_row * (per_row - 1)))
    return min(pairs // min_weight, m * (m - 1))


def estimate_graph_entries(data, min_weight: int) -> int:
    """Upper bound on the stored entries (2 per edge) of the graph at ``min_weight``."""
    from songspace.graph.cooccurrence import incidence_matrix

    x = incidence_matrix(data)
    df = np.bincount(x.indices, minlength=x.shape[1])
    return _pair_bound(x, int(min_weight), df)


def estimate_graph_bytes(data, min_weight: int) -> int:
    """Upper bound on the peak bytes of building the graph at ``min_weight``."""
    return BYTES_PER_ENTRY * estimate_graph_entries(data, min_weight)


def _parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    if not m:
        raise ParameterError(
            MEMORY_ENV,
            "a number of bytes, optionally with a K, M, G or T suffix (e.g. 64G)",
            text,
            fix=f"set {MEMORY_ENV}=64G, or unset it to use 80% of the available memory",
        )
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1


def graph_memory_limit(limit: int | None = None) -> int:
    """``limit``, else ``$SONGSPACE_GRAPH_MEMORY``, else 80% of the available memory."""
    if limit is not None:
        return int(check_param("memory_limit", limit, POSITIVE_INT))
    env = os.environ.get(MEMORY_ENV)
    if env:
        return _parse_bytes(env)
    return int(0.8 * available_memory())


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.0f} MB"


def _advice(x: sp.csr_matrix, min_weight: int, df: np.ndarray, limit: int) -> list[str]:
    distinct = np.diff(x.indptr)
    longest = int(distinct.max()) if len(distinct) else 0
    fits = [
        w
        for w in _SUGGESTED_WEIGHTS
        if w > min_weight and BYTES_PER_ENTRY * _pair_bound(x, w, df) <= limit
    ]
    advice = []
    if fits:
        size = BYTES_PER_ENTRY * _pair_bound(x, fits[0], df)
        advice.append(f"raise min_weight to {fits[0]} (its graph takes at most {_gb(size)})")
    else:
        advice.append("raise min_weight")
    advice.append(
        f"split or drop the longest sequences (the longest has {longest:,} distinct "
        f"tracks, i.e. {longest * (longest - 1):,} pair entries on its own)"
    )
    advice.append(f"or set {MEMORY_ENV} (e.g. {MEMORY_ENV}=256G) if the machine has the memory")
    return advice


@dataclass
class GraphMemoryGuard:
    """The graph's memory check: before the build (:func:`check_graph_fits`) and during it.

    The bound on the entries (module docstring) is safe but loose on real playlists: 47 GB
    against the 8.3 GB the full MPD-shaped graph really takes (BENCHMARKS.md), because
    most co-occurring pairs reach ``min_weight`` many times over. So a graph is refused
    *before* the build only when it certainly exceeds the limit: when even a lower bound
    does (at ``min_weight`` 1, the longest sequence's own pairs). When only the upper bound
    exceeds it, the build starts and :meth:`check` runs after every block of the pass:
    the entries kept so far are a lower bound on the final graph, so the build stops
    (GraphTooLargeError) as soon as they alone would need more than the limit. The
    blocks hold about 12 bytes per kept entry, a quarter of what finishing needs, so the
    check fires long before the memory runs out.
    """

    limit: int
    bound: int
    min_weight: int
    x: sp.csr_matrix
    df: np.ndarray

    @property
    def certain(self) -> bool:
        """The bound already fits: no check is needed while building."""
        return BYTES_PER_ENTRY * self.bound <= self.limit

    def check(self, kept_upper: int, done: int, total: int) -> None:
        """Raise GraphTooLargeError when ``kept_upper`` entries above the diagonal (after
        ``done`` of ``total`` blocks) alone need more than the limit."""
        if self.certain:
            return
        need = BYTES_PER_ENTRY * 2 * kept_upper
        if need <= self.limit:
            return
        advice = _advice(self.x, self.min_weight, self.df, self.limit)
        raise GraphTooLargeError(
            f"the co-occurrence graph at min_weight={self.min_weight} does not fit: after "
            f"{done:,} of {total:,} blocks ({100 * done / max(total, 1):.0f}% of the pass) it "
            f"already holds {2 * kept_upper:,} entries, about {_gb(need)} to build "
            f"({BYTES_PER_ENTRY} bytes each), more than the limit of {_gb(self.limit)} "
            f"(its upper bound was {self.bound:,} entries). Fix: " + "; ".join(advice)
        )


def check_graph_fits(data, min_weight: int, memory_limit: int | None = None) -> GraphMemoryGuard:
    """Refuse (GraphTooLargeError) a graph that certainly exceeds the memory limit.

    Returns the guard whose :meth:`GraphMemoryGuard.check` the builder calls after every
    block (see :class:`GraphMemoryGuard`). The message gives the bound, the limit, the
    longest sequence and the smallest ``min_weight`` whose bound fits.
    """
    from songspace.graph.cooccurrence import incidence_matrix

    limit = graph_memory_limit(memory_limit)
    x = incidence_matrix(data)
    df = np.bincount(x.indices, minlength=x.shape[1])
    entries = _pair_bound(x, int(min_weight), df)
    guard = GraphMemoryGuard(limit=limit, bound=entries, min_weight=int(min_weight), x=x, df=df)
    if guard.certain:
        return guard
    distinct = np.diff(x.indptr)
    longest = int(distinct.max()) if len(distinct) else 0
    # At min_weight 1 every pair of the longest sequence is an edge: a lower bound.
    lower = longest * (longest - 1) if min_weight <= 1 else 0
    if BYTES_PER_ENTRY * lower <= limit:
        logger.info(
            "co-occurrence graph at min_weight=%d may hold up to %d entries (%s), more than "
            "the limit of %s; checking its real size while it is built",
            min_weight,
            entries,
            _gb(BYTES_PER_ENTRY * entries),
            _gb(limit),
        )
        return guard
    need = BYTES_PER_ENTRY * entries
    raise GraphTooLargeError(
        f"the co-occurrence graph at min_weight={min_weight} may hold up to {entries:,} "
        f"entries, about {_gb(need)} to build ({BYTES_PER_ENTRY} bytes each), more than the "
        f"limit of {_gb(limit)}. Fix: " + "; ".join(_advice(x, int(min_weight), df, limit))
    )


__all__ = [
    "BYTES_PER_ENTRY",
    "MEMORY_ENV",
    "GraphMemoryGuard",
    "available_memory",
    "check_graph_fits",
    "drop_tracks_without_context",
    "estimate_graph_bytes",
    "estimate_graph_entries",
    "graph_memory_limit",
    "raise_if_no_edges",
    "tracks_with_an_edge_at_1",
    "tracks_with_context",
    "warn_if_few_tracks_have_an_edge",
]
