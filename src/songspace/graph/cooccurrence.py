"""Track co-occurrence graph (MUSIG §3.1, SPEC §2).

weight(u, v) = number of distinct sequences that contain both u and v; a track
repeated inside one sequence counts once and there are no self-loops. Edges with
``weight >= min_weight`` are kept.

The graph is the off-diagonal part of ``X^T X``, with X the binary
sequence-by-track incidence matrix. It is computed in blocks of output rows
(tracks) and only above the diagonal: block ``R = [a, b)`` computes
``(X^T)[R, :] @ X[:, a:]``, keeps the entries right of the diagonal whose weight
reaches ``min_weight``, and discards the rest before the next block, so the full
unthresholded product never exists. Block boundaries come from a per-track
estimate of the partial products (``block_budget``), which bounds the memory of
one block; the stored graph is then mirrored into a symmetric CSR matrix.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from songspace._checks import check_format
from songspace._util import atomic_write, atomic_write_text
from songspace.data.dataset import Dataset
from songspace.data.dataset import incidence_matrix as dataset_incidence
from songspace.errors import FormatError, OutputExistsError, ParameterError
from songspace.graph.defaults import DEFAULT_BLOCK_BUDGET, DEFAULT_MIN_WEIGHT, DEFAULT_THRESHOLDS
from songspace.params import POSITIVE_INT, Interval, check_param, validate_params
from songspace.progress import ProgressCallback, track

logger = logging.getLogger(__name__)

FORMAT_NAME = "songspace-cooccurrence-graph"
FORMAT_VERSION = 1

#: ``Dataset`` or ``(indptr, indices, n_tracks)``.
SequencesLike = Dataset | tuple[np.ndarray, np.ndarray, int]


# ----------------------------------------------------------------------------- graph
@dataclass
class CooccurrenceGraph:
    """Undirected weighted track graph (MUSIG §3.1).

    ``adjacency`` is an ``n_tracks x n_tracks`` symmetric ``scipy.sparse.csr_matrix``
    with sorted column indices, no diagonal, and **int32** weights: a weight is an
    exact count of sequences (never larger than the number of sequences), so it is
    stored as an integer; cast with ``adjacency.astype(np.float32)`` where a float
    matrix is needed. Every undirected edge is stored twice, as ``[u, v]`` and
    ``[v, u]``. Rows follow the dataset's track vocabulary; tracks without an edge
    have empty rows.
    """

    adjacency: sp.csr_matrix
    min_weight: int
    #: :func:`~songspace.data.fingerprint.sequences_fingerprint` of the sequences the
    #: graph was counted from, where known (``songspace prepare --graph`` records it, so
    #: that a model reuses the saved graph only for the same sequences).
    sequences_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if not sp.issparse(self.adjacency) or self.adjacency.ndim != 2:
            raise ParameterError(
                "adjacency",
                "a 2-D scipy.sparse matrix",
                type(self.adjacency).__name__,
            )
        rows, cols = self.adjacency.shape
        if rows != cols:
            raise ParameterError("adjacency", "a square matrix", self.adjacency.shape)
        if not isinstance(self.adjacency, sp.csr_matrix):
            self.adjacency = sp.csr_matrix(self.adjacency)
        self.min_weight = check_param("min_weight", self.min_weight, POSITIVE_INT)

    @property
    def n_nodes(self) -> int:
        """Number of nodes: every track of the vocabulary, with or without edges."""
        return int(self.adjacency.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (each is stored twice)."""
        return int(self.adjacency.nnz // 2)

    @property
    def degree(self) -> np.ndarray:
        """Number of neighbours of each track (int64)."""
        return np.diff(self.adjacency.indptr).astype(np.int64)

    @property
    def weighted_degree(self) -> np.ndarray:
        """Sum of edge weights of each track (int64)."""
        return np.asarray(self.adjacency.sum(axis=1, dtype=np.int64)).ravel()

    @property
    def n_active_nodes(self) -> int:
        """Number of tracks with at least one edge."""
        return int(np.count_nonzero(np.diff(self.adjacency.indptr)))

    def neighbors(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour indices (ascending) and edge weights of track ``i`` (read-only views)."""
        i = check_param("i", i, Interval(int, 0, self.n_nodes, closed="left"))
        lo, hi = self.adjacency.indptr[i], self.adjacency.indptr[i + 1]
        idx, w = self.adjacency.indices[lo:hi], self.adjacency.data[lo:hi]
        idx.flags.writeable = False
        w.flags.writeable = False
        return idx, w

    # ------------------------------------------------------------------ storage
    def save(self, path: str | Path, *, overwrite: bool = False, compressed: bool = True) -> Path:
        """Write ``<path>.npz`` (scipy ``save_npz``) and the JSON sidecar ``<path>.json``.

        ``path`` may end in ``.npz`` or not. Each file is written to a temporary
        name and renamed, so an interrupted save leaves no partial file; the
        sidecar is written last. Returns the ``.npz`` path.
        """
        npz, meta_path = _paths(path)
        if not overwrite:
            for p in (npz, meta_path):
                if p.exists():
                    raise OutputExistsError(p, option="overwrite=True")
        atomic_write(npz, lambda fh: sp.save_npz(fh, self.adjacency, compressed=compressed))
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "min_weight": int(self.min_weight),
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "weight_dtype": str(self.adjacency.dtype),
            "npz": npz.name,
        }
        if self.sequences_fingerprint is not None:
            meta["sequences_fingerprint"] = self.sequences_fingerprint
        atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
        return npz

    @classmethod
    def load(cls, path: str | Path) -> CooccurrenceGraph:
        """Read a graph written by :meth:`save` (no pickle); check it against its sidecar."""
        npz, meta_path = _paths(path)
        for p in (npz, meta_path):
            if not p.is_file():
                raise FormatError(
                    "expected this file of a saved co-occurrence graph, found none",
                    path=p,
                    fix="save the graph with CooccurrenceGraph.save, which writes both files",
                )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(
                f"expected a JSON sidecar, found an unreadable file ({exc})",
                path=meta_path,
                fix="re-save the graph",
            ) from exc
        check_format(
            meta,
            name=FORMAT_NAME,
            version=FORMAT_VERSION,
            path=meta_path,
            error=FormatError,
            fix_format="point to a graph saved by songspace",
            fix_version="rebuild the graph with this songspace version",
        )
        try:
            adjacency = sp.load_npz(npz)
        except (OSError, ValueError, KeyError) as exc:
            raise FormatError(
                f"expected a scipy sparse .npz file, found an unreadable file ({exc})",
                path=npz,
                fix="re-save the graph",
            ) from exc
        adjacency = sp.csr_matrix(adjacency)
        for key, actual in (
            ("n_nodes", int(adjacency.shape[0])),
            ("n_edges", int(adjacency.nnz // 2)),
        ):
            if meta.get(key) != actual:
                raise FormatError(
                    f"expected {key}={meta.get(key)!r} (sidecar), found {actual} in {npz.name}",
                    path=meta_path,
                    field=key,
                    fix="the two files do not belong together; re-save the graph",
                )
        min_weight = meta.get("min_weight")
        if not POSITIVE_INT.is_satisfied_by(min_weight):
            raise FormatError(
                f"expected an integer min_weight >= 1, found {min_weight!r}",
                path=meta_path,
                field="min_weight",
                fix="re-save the graph",
            )
        fingerprint = meta.get("sequences_fingerprint")
        return cls(
            adjacency=adjacency,
            min_weight=min_weight,
            sequences_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        )


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    return p, p.with_suffix(".json")


# --------------------------------------------------------------------------- inputs
def _as_csr(data: SequencesLike) -> tuple[np.ndarray, np.ndarray, int]:
    """(indptr, indices, n_tracks) of a Dataset or of a checked tuple."""
    if isinstance(data, Dataset):
        return data.indptr, data.indices, data.n_tracks
    if not (isinstance(data, tuple) and len(data) == 3):
        raise ParameterError(
            "dataset",
            "a Dataset or an (indptr, indices, n_tracks) tuple",
            type(data).__name__,
        )
    indptr, indices, n_tracks = np.asarray(data[0]), np.asarray(data[1]), data[2]
    n_tracks = check_param("n_tracks", n_tracks, Interval(int, 0, None))
    fix = "pass the CSR arrays of the sequences (Dataset.indptr, Dataset.indices)"
    if indptr.ndim != 1 or len(indptr) < 1 or not np.issubdtype(indptr.dtype, np.integer):
        raise ParameterError(
            "indptr",
            "a 1-D integer array of length >= 1",
            f"{indptr.dtype} array of shape {indptr.shape}",
            fix,
        )
    if indices.ndim != 1 or (len(indices) and not np.issubdtype(indices.dtype, np.integer)):
        raise ParameterError(
            "indices",
            "a 1-D integer array",
            f"{indices.dtype} array of shape {indices.shape}",
            fix,
        )
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise ParameterError(
            "indptr",
            "`indptr[0] == 0`, `indptr[-1] == len(indices)` and indptr non-decreasing",
            f"indptr[0]={indptr[0]}, indptr[-1]={indptr[-1]}, len(indices)={len(indices)}",
            fix,
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= n_tracks):
        raise ParameterError(
            "indices",
            f"`0 <= indices < n_tracks` ({n_tracks})",
            f"values in [{indices.min()}, {indices.max()}]",
            fix,
        )
    return indptr.astype(np.int64, copy=False), indices, n_tracks


def incidence_matrix(data: SequencesLike) -> sp.csr_matrix:
    """Binary sequence-by-track matrix X (int32 ones, sorted indices; repeats counted once).

    ``X[s, t] = 1`` iff sequence ``s`` contains track ``t`` (MUSIG §3.1). The
    dataset's arrays are copied, never modified.
    """
    indptr, indices, n_tracks = _as_csr(data)
    return dataset_incidence(indptr, indices, n_tracks)


# ----------------------------------------------------------------------- block pass
def _block_bounds(x: sp.csr_matrix, block_budget: int) -> list[int]:
    """Track boundaries ``[0, b1, ..., n_tracks]`` of the blocks of :func:`_upper_blocks`.

    Estimate for track t: ``u(t)`` = partial products of its row restricted to
    columns ``>= t`` (sum over its sequences of the tracks at or after t in the
    sorted sequence). The true work of a block ``[a, b)`` is at most
    ``2 * sum(u[a:b])`` (the extra part, columns in ``[a, t)``, counts pairs inside
    the block, each already counted once in u), so blocks are cut where
    ``sum(u) <= block_budget / 2``: one block never exceeds ``block_budget``
    partial products unless a single track does on its own.
    """
    n_tracks = x.shape[1]
    idx = np.int32 if x.nnz < 2**31 else np.int64
    at_or_after = np.repeat(x.indptr[1:].astype(idx), np.diff(x.indptr))
    at_or_after -= np.arange(x.nnz, dtype=idx)  # entries of the sorted row from here on
    work = np.bincount(x.indices, weights=at_or_after, minlength=n_tracks)
    del at_or_after
    cum = np.concatenate([[0.0], np.cumsum(work)])
    half = block_budget / 2.0
    bounds = [0]
    while bounds[-1] < n_tracks:
        a = bounds[-1]
        b = int(np.searchsorted(cum, cum[a] + half, side="right")) - 1
        bounds.append(min(max(b, a + 1), n_tracks))
    n_blocks = len(bounds) - 1
    logger.debug(
        "co-occurrence: %d tracks, %.3g estimated upper partial products, %d block(s)",
        n_tracks,
        cum[-1],
        n_blocks,
    )
    return bounds


def _upper_blocks(
    x: sp.csr_matrix, bounds: list[int], progress: ProgressCallback | None, description: str
) -> Iterator[tuple[int, int, sp.csr_matrix]]:
    """Yield ``(a, b, P)`` with ``P = (X^T)[a:b] @ X[:, a:]`` (columns offset by ``a``),
    one per block of ``bounds`` (:func:`_block_bounds`)."""
    n_blocks = len(bounds) - 1
    xt = x.T.tocsr()
    right, offset = x, 0  # right == X[:, offset:], shrinking as the blocks advance
    for k in track(range(n_blocks), progress, description):
        a, b = bounds[k], bounds[k + 1]
        right = _drop_leading_columns(right, a - offset)
        offset = a
        yield a, b, xt[a:b] @ right


def _drop_leading_columns(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """``m[:, k:]`` of a CSR matrix in a few vectorised passes (scipy's slicing is slower)."""
    if k == 0:
        return m
    keep = m.indices >= k
    cs = np.zeros(m.nnz + 1, dtype=np.int32 if m.nnz < 2**31 else np.int64)
    np.cumsum(keep, out=cs[1:])
    indptr = cs[m.indptr]
    indices = m.indices[keep]
    indices -= np.asarray(k, dtype=indices.dtype)
    return sp.csr_matrix(
        (m.data[keep], indices, indptr), shape=(m.shape[0], m.shape[1] - k), copy=False
    )


def _strict_upper(p: sp.csr_matrix, min_weight: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row counts, column indices (block offset) and weights of the kept entries.

    Keeps entries strictly right of the diagonal with weight >= ``min_weight``.
    """
    n_rows = p.shape[0]
    rows = np.repeat(np.arange(n_rows, dtype=p.indices.dtype), np.diff(p.indptr))
    keep = p.indices > rows
    keep &= p.data >= min_weight
    kept_rows = rows[keep]
    del rows
    counts = np.bincount(kept_rows, minlength=n_rows)
    return counts, p.indices[keep], p.data[keep]


@validate_params({"min_weight": POSITIVE_INT, "block_budget": POSITIVE_INT})
def build_cooccurrence(
    dataset: SequencesLike,
    *,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    block_budget: int = DEFAULT_BLOCK_BUDGET,
    progress: ProgressCallback | None = None,
    memory_limit: int | None = None,
) -> CooccurrenceGraph:
    """Build the co-occurrence graph of ``dataset`` (MUSIG §3.1, SPEC §2).

    ``dataset`` is a :class:`Dataset` or ``(indptr, indices, n_tracks)``.
    ``min_weight``: keep edges present in at least this many distinct sequences.
    ``block_budget``: most partial products (multiply-adds of the sparse product)
    one block may need; a block's memory is about 12 bytes per partial product at
    worst, so the default 20M bounds it near 250 MB. Results do not depend on it.
    ``memory_limit``: bytes the graph may take while built (default
    ``$SONGSPACE_GRAPH_MEMORY``, else 80% of the available memory); a graph whose
    size exceeds it is refused (GraphTooLargeError): before the build when that is
    certain, else as soon as the entries kept so far need more (see
    :class:`songspace.graph.limits.GraphMemoryGuard`).
    """
    from songspace.graph.limits import check_graph_fits, warn_if_few_tracks_have_an_edge

    x = incidence_matrix(dataset)
    n_tracks = x.shape[1]
    guard = check_graph_fits((x.indptr, x.indices, n_tracks), min_weight, memory_limit)
    t0 = time.perf_counter()
    counts: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    kept = 0
    bounds = _block_bounds(x, block_budget)
    for done, (a, _b, p) in enumerate(_upper_blocks(x, bounds, progress, "co-occurrence graph"), 1):
        c, j, w = _strict_upper(p, min_weight)
        del p
        counts.append(c)
        cols.append((j + a).astype(np.int32 if n_tracks < 2**31 else np.int64, copy=False))
        weights.append(w.astype(np.int32, copy=False))
        kept += len(j)
        guard.check(kept, done, len(bounds) - 1)
    del x, guard
    if counts:
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
        upper = sp.csr_matrix(
            (np.concatenate(weights), np.concatenate(cols), indptr), shape=(n_tracks, n_tracks)
        )
    else:
        upper = sp.csr_matrix((n_tracks, n_tracks), dtype=np.int32)
    del counts, cols, weights
    upper.sort_indices()
    adjacency = (upper + upper.T).tocsr()
    del upper
    adjacency.sort_indices()
    if adjacency.dtype != np.int32:
        adjacency = adjacency.astype(np.int32)
    graph = CooccurrenceGraph(adjacency=adjacency, min_weight=min_weight)
    logger.info(
        "co-occurrence graph: %d edges over %d of %d tracks (min_weight=%d) in %.1fs",
        graph.n_edges,
        graph.n_active_nodes,
        n_tracks,
        min_weight,
        time.perf_counter() - t0,
    )
    warn_if_few_tracks_have_an_edge(graph, dataset)
    return graph


@validate_params({"block_budget": POSITIVE_INT})
def edge_counts_by_threshold(
    dataset: SequencesLike,
    thresholds: Iterable[int] = DEFAULT_THRESHOLDS,
    *,
    block_budget: int = DEFAULT_BLOCK_BUDGET,
    progress: ProgressCallback | None = None,
) -> dict[int, tuple[int, int]]:
    """Graph size for several ``min_weight`` values in one blocked pass, keeping no edges.

    Returns ``{threshold: (n_edges, n_nodes_with_an_edge)}`` in ascending threshold
    order; each value equals what :func:`build_cooccurrence` with
    ``min_weight=threshold`` reports as ``(n_edges, n_active_nodes)``.
    """
    values: Iterable[Any] = (
        (thresholds,) if isinstance(thresholds, int | np.integer) else thresholds
    )
    try:
        ths = sorted({check_param("thresholds", t, POSITIVE_INT) for t in values})
    except TypeError as exc:
        raise ParameterError("thresholds", "an iterable of integers >= 1", thresholds) from exc
    if not ths:
        raise ParameterError("thresholds", "a non-empty iterable of integers", thresholds)
    x = incidence_matrix(dataset)
    n_tracks = x.shape[1]
    n_edges = np.zeros(len(ths), dtype=np.int64)
    # active[k, t]: track t has an edge of weight >= ths[k]
    active = np.zeros((len(ths), n_tracks), dtype=bool)
    for a, _b, p in _upper_blocks(x, _block_bounds(x, block_budget), progress, "edge counts"):
        c, j, w = _strict_upper(p, ths[0])
        del p
        if not len(w):
            continue
        # rows: per-row max weight of the block; columns: marked per threshold
        nonempty = np.flatnonzero(c)
        starts = np.concatenate([[0], np.cumsum(c)[:-1]])[nonempty]
        row_max = np.maximum.reduceat(w, starts)
        j = j + a
        for k, t in enumerate(ths):
            sel = w >= t
            n_edges[k] += np.count_nonzero(sel)
            active[k, a + nonempty[row_max >= t]] = True
            active[k, j[sel]] = True
    return {t: (int(n_edges[k]), int(np.count_nonzero(active[k]))) for k, t in enumerate(ths)}


__all__ = [
    "CooccurrenceGraph",
    "SequencesLike",
    "build_cooccurrence",
    "edge_counts_by_threshold",
    "incidence_matrix",
]
