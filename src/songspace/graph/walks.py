"""Second-order biased random walks (node2vec, Grover & Leskovec 2016) on a weighted graph.

A walk that arrived at ``v`` from ``t`` moves to a neighbour ``x`` of ``v`` with
unnormalised probability ``w(v, x) * alpha(t, x)``, where ``alpha = 1/p`` if
``x == t`` (return), ``1`` if ``x`` is a neighbour of ``t``, and ``1/q`` otherwise
(move outward). The first step of a walk is proportional to the edge weight.

:func:`random_walks` advances **all walks together**, one step at a time, with
numpy: the only Python loop is over the ``walk_length`` steps (and a few
vectorised rejection rounds inside a step), never over walks. Each step uses
rejection sampling (as in KnightKing / PecanPy / PyG): propose ``x`` from the
first-order weighted distribution of ``v`` (per-row cumulative weights +
``searchsorted``), accept with probability ``alpha / max(alpha)``, and redraw
the rejected ones in the next round. "Is ``x`` a neighbour of ``t``" is a
binary search of the key ``t * n + x`` in the sorted keys ``row * n + col`` of
the CSR matrix. Walks still rejected after a few rounds, when few remain, are
finished with an exact draw over the biased neighbour distribution of their
current node (also vectorised). Both paths sample the exact node2vec transition
distribution.

:func:`walks_reference` is a plain per-walk, per-step implementation used by the
tests and as the benchmark peer.

Walks that reach a node without out-going edges (an isolated start node, or a
sink of a non-symmetric matrix) stop there: the rest of their row is ``-1``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from songspace.errors import ParameterError
from songspace.params import POSITIVE, POSITIVE_INT, validate_params
from songspace.progress import ProgressCallback

#: Rejection rounds per step before the remaining walks are drawn exactly.
_MAX_REJECTION_ROUNDS = 32


# ----------------------------------------------------------------------- checks
#: The walk settings' constraints (:func:`random_walks`, :func:`walks_reference`).
WALK_CONSTRAINTS = {
    "walk_length": POSITIVE_INT,
    "walks_per_node": POSITIVE_INT,
    "p": POSITIVE,
    "q": POSITIVE,
}


def _prepare(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Canonical CSR copy: float64 weights, sorted indices, no duplicates, no zeros."""
    if not sp.issparse(adjacency) or adjacency.ndim != 2:
        raise ParameterError("adjacency", "a 2-D scipy.sparse matrix", type(adjacency).__name__)
    if adjacency.shape[0] != adjacency.shape[1]:
        raise ParameterError("adjacency", "a square matrix", adjacency.shape)
    a = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
    a.sum_duplicates()  # also sorts the indices
    a.eliminate_zeros()
    if a.nnz and (not np.all(np.isfinite(a.data)) or a.data.min() < 0):
        raise ParameterError(
            "adjacency", "edge weights are finite and >= 0", "negative or non-finite weights"
        )
    return a


def _start_nodes(start_nodes: object, n: int, walks_per_node: int) -> np.ndarray:
    if start_nodes is None:
        starts = np.arange(n, dtype=np.int64)
    else:
        starts = np.asarray(start_nodes)
        if starts.ndim != 1 or (len(starts) and not np.issubdtype(starts.dtype, np.integer)):
            raise ParameterError("start_nodes", "a 1-D integer array", repr(starts.dtype))
        starts = starts.astype(np.int64)
        if len(starts) and (starts.min() < 0 or starts.max() >= n):
            raise ParameterError(
                "start_nodes",
                f"`0 <= start_nodes < n_nodes` ({n})",
                f"values in [{starts.min()}, {starts.max()}]",
            )
    return np.tile(starts, walks_per_node)


# ---------------------------------------------------------------------- sampler
class _Sampler:
    """Vectorised samplers over a canonical CSR matrix."""

    def __init__(self, a: sp.csr_matrix, p: float, q: float) -> None:
        self.n = a.shape[0]
        self.indptr = a.indptr.astype(np.int64)
        self.indices = a.indices.astype(np.int64)
        self.data = a.data
        self.deg = np.diff(self.indptr)
        # cum[k] = total weight of entries [0, k); row v spans cum[indptr[v]]..cum[indptr[v+1]]
        self.cum = np.concatenate([[0.0], np.cumsum(self.data)])
        rows = np.repeat(np.arange(self.n, dtype=np.int64), self.deg)
        self.keys = rows * self.n + self.indices  # sorted: CSR rows ascending, sorted columns
        self.inv_p, self.inv_q = 1.0 / p, 1.0 / q
        self.max_bias = max(self.inv_p, 1.0, self.inv_q)

    def has_edges(self, v: np.ndarray) -> np.ndarray:
        return self.deg[v] > 0

    def first_order(self, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One neighbour of each ``v`` (all with edges), proportional to the edge weight."""
        lo, hi = self.indptr[v], self.indptr[v + 1]
        c_lo, c_hi = self.cum[lo], self.cum[hi]
        r = c_lo + rng.random(len(v)) * (c_hi - c_lo)
        pos = np.searchsorted(self.cum, r, side="right") - 1
        np.clip(pos, lo, hi - 1, out=pos)
        return self.indices[pos]

    def is_neighbor(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Whether ``(t, x)`` is an edge, by binary search of ``t*n + x`` in the CSR keys."""
        if not len(self.keys):
            return np.zeros(len(t), dtype=bool)
        key = t * self.n + x
        pos = np.searchsorted(self.keys, key)
        np.minimum(pos, len(self.keys) - 1, out=pos)
        return self.keys[pos] == key

    def bias(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        b = np.where(self.is_neighbor(t, x), 1.0, self.inv_q)
        b[x == t] = self.inv_p
        return b

    def second_order(self, v: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One node2vec step for each walk at ``v`` (with edges) coming from ``t``."""
        out = np.empty(len(v), dtype=np.int64)
        pending = np.arange(len(v))
        if self.max_bias == 1.0 and self.inv_p == 1.0 and self.inv_q == 1.0:
            return self.first_order(v, rng)  # p = q = 1: first-order walk
        for _ in range(_MAX_REJECTION_ROUNDS):
            pv, pt = v[pending], t[pending]
            x = self.first_order(pv, rng)
            accept = rng.random(len(pending)) * self.max_bias < self.bias(pt, x)
            out[pending[accept]] = x[accept]
            pending = pending[~accept]
            if not len(pending):
                return out
            # few left: an exact draw is cheaper than more rounds
            if self.deg[v[pending]].sum() <= max(4096, len(v) // 8):
                break
        out[pending] = self.exact(v[pending], t[pending], rng)
        return out

    def exact(
        self, v: np.ndarray, t: np.ndarray, rng: np.random.Generator, budget: int = 1 << 22
    ) -> np.ndarray:
        """Exact biased draw over all neighbours of each ``v``, in chunks of ~``budget`` entries."""
        out = np.empty(len(v), dtype=np.int64)
        deg = self.deg[v]
        ends = np.cumsum(deg)
        a = 0
        while a < len(v):
            base = ends[a - 1] if a else 0
            b = max(a + 1, int(np.searchsorted(ends, base + budget, side="right")))
            b = min(b, len(v))
            out[a:b] = self._exact_chunk(v[a:b], t[a:b], rng)
            a = b
        return out

    def _exact_chunk(self, v: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        deg = self.deg[v]
        seg_end = np.cumsum(deg)
        seg_start = seg_end - deg
        seg = np.repeat(np.arange(len(v)), deg)
        pos = self.indptr[v][seg] + (np.arange(seg_end[-1]) - seg_start[seg])
        x = self.indices[pos]
        wb = self.data[pos] * self.bias(t[seg], x)
        cs = np.concatenate([[0.0], np.cumsum(wb)])
        c_lo, c_hi = cs[seg_start], cs[seg_end]
        r = c_lo + rng.random(len(v)) * (c_hi - c_lo)
        k = np.searchsorted(cs, r, side="right") - 1
        np.clip(k, seg_start, seg_end - 1, out=k)
        return x[k]


# ------------------------------------------------------------------------ walks
@validate_params(WALK_CONSTRAINTS)
def random_walks(
    adjacency: sp.spmatrix,
    *,
    walk_length: int = 20,
    walks_per_node: int = 10,
    p: float = 1.0,
    q: float = 1.0,
    start_nodes: np.ndarray | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """node2vec walks on the weighted graph ``adjacency``, vectorised across walks.

    ``adjacency``: square scipy sparse matrix, ``adjacency[u, v]`` = weight of the
    edge ``u -> v`` (symmetric for an undirected graph; zero entries are no edge).
    ``start_nodes``: the nodes to start from (default: every node); each starts
    ``walks_per_node`` walks. Row ``i`` of the result starts at
    ``np.tile(start_nodes, walks_per_node)[i]``.
    ``p``: return parameter, ``q``: in-out parameter (both > 0); ``p = q = 1`` is a
    first-order walk proportional to the edge weights.

    Returns an array of shape ``(n_walks, walk_length)``, ``np.int32`` (``np.int64``
    when the graph has 2**31 nodes or more), the first column being the start
    nodes. A walk that reaches a node without edges stops; the rest of its row is
    ``-1``. Deterministic given ``seed``.
    """
    a = _prepare(adjacency)
    n = a.shape[0]
    starts = _start_nodes(start_nodes, n, walks_per_node)
    dtype = np.int32 if n < 2**31 else np.int64
    walks = np.full((len(starts), walk_length), -1, dtype=dtype)
    if not len(starts):
        return walks
    walks[:, 0] = starts
    sampler = _Sampler(a, p, q)
    rng = np.random.default_rng(seed)
    cur = starts
    prev = np.full(len(starts), -1, dtype=np.int64)
    live = np.arange(len(starts))  # walks still moving
    for step in range(1, walk_length):
        ok = sampler.has_edges(cur)
        live, cur, prev = live[ok], cur[ok], prev[ok]
        if not len(live):
            break
        nxt = sampler.first_order(cur, rng) if step == 1 else sampler.second_order(cur, prev, rng)
        walks[live, step] = nxt
        prev, cur = cur, nxt
        if progress is not None:
            progress(step, walk_length - 1, "random walks")
    return walks


@validate_params(WALK_CONSTRAINTS)
def walks_reference(
    adjacency: sp.spmatrix,
    *,
    walk_length: int = 20,
    walks_per_node: int = 10,
    p: float = 1.0,
    q: float = 1.0,
    start_nodes: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Straightforward per-walk, per-step node2vec walks (tests and benchmark peer).

    Same arguments, output layout and distribution as :func:`random_walks` (not
    the same draws): at each step the biased weights of all neighbours of the
    current node are computed and one is drawn with ``Generator.choice``.
    """
    a = _prepare(adjacency)
    n = a.shape[0]
    starts = _start_nodes(start_nodes, n, walks_per_node)
    walks = np.full((len(starts), walk_length), -1, dtype=np.int32 if n < 2**31 else np.int64)
    rng = np.random.default_rng(seed)
    indptr, indices, data = a.indptr, a.indices, a.data
    for i, s in enumerate(starts.tolist()):
        walk = [s]
        while len(walk) < walk_length:
            v = walk[-1]
            nbrs = indices[indptr[v] : indptr[v + 1]]
            if not len(nbrs):
                break
            w = data[indptr[v] : indptr[v + 1]].copy()
            if len(walk) > 1:
                t = walk[-2]
                t_nbrs = indices[indptr[t] : indptr[t + 1]]
                for j, x in enumerate(nbrs.tolist()):
                    if x == t:
                        w[j] /= p
                    elif not ((k := np.searchsorted(t_nbrs, x)) < len(t_nbrs) and t_nbrs[k] == x):
                        w[j] /= q
            walk.append(int(rng.choice(nbrs, p=w / w.sum())))
        walks[i, : len(walk)] = walk
    return walks


@validate_params({"p": POSITIVE, "q": POSITIVE})
def transition_probabilities(
    adjacency: sp.spmatrix, v: int, t: int | None, *, p: float = 1.0, q: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Exact node2vec transition distribution from ``v`` having come from ``t``.

    ``t=None`` is the first step (proportional to weight). Returns (neighbours of
    ``v``, probabilities).
    """
    a = _prepare(adjacency)
    lo, hi = a.indptr[v], a.indptr[v + 1]
    nbrs, w = a.indices[lo:hi].astype(np.int64), a.data[lo:hi].copy()
    if t is not None:
        t_nbrs = set(a.indices[a.indptr[t] : a.indptr[t + 1]].tolist())
        for j, x in enumerate(nbrs.tolist()):
            w[j] *= 1.0 / p if x == t else (1.0 if x in t_nbrs else 1.0 / q)
    return nbrs, w / w.sum()


__all__ = ["random_walks", "transition_probabilities", "walks_reference"]
