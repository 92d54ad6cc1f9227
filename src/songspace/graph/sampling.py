"""Uniform fixed-size neighbour sampling on a CSR graph (GraphSAGE, MUSIG §3.4).

Every node gets exactly ``k`` sampled neighbours, so each layer of a mini-batch is
a dense ``(n, k)`` block:

- degree >= k: ``k`` distinct neighbours, each k-subset equally likely
  (Floyd's algorithm, vectorised across nodes: ``k`` numpy steps, no per-node loop);
- 0 < degree < k: ``k`` draws with replacement, each neighbour equally likely;
- degree 0: the node itself ``k`` times (a self-loop), so that an isolated or brand-new
  track aggregates its own features; :func:`mean_adjacency` applies the same rule,
  which keeps sampled training and full-graph inference consistent.

Edge weights are ignored here, as in the papers: the sampler is uniform.

The training pairs of GraphSAGE/MUSIG (MUSIG §3.4) are drawn by two more samplers:
:class:`WeightedNeighbourSampler` (one neighbour per anchor, in proportion to the edge
weight: a one-step weighted random walk) and :class:`DegreeNegativeSampler` (negatives
drawn in proportion to degree^0.75, as word2vec draws negatives by count^0.75).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from songspace.errors import ParameterError
from songspace.params import POSITIVE_INT, check_param


def _check(indptr: np.ndarray, nodes: np.ndarray, k: int) -> None:
    check_param("k", k, POSITIVE_INT)
    n = len(indptr) - 1
    if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
        raise ParameterError(
            "nodes", f"node ids in [0, {n})", f"ids in [{nodes.min()}, {nodes.max()}]"
        )


def sample_neighbors(
    indptr: np.ndarray,
    indices: np.ndarray,
    nodes: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(len(nodes), k)`` neighbour ids sampled uniformly (see the module docstring)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    _check(indptr, nodes, k)
    if len(indices) == 0:
        return np.repeat(nodes[:, None], k, axis=1)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    m = len(nodes)
    pos = np.empty((m, k), dtype=np.int64)

    small = deg < k
    # Below k: k independent uniform draws (with replacement); degree 0 handled below.
    if small.any():
        d = np.maximum(deg[small], 1)
        pos[small] = (rng.random((int(small.sum()), k)) * d[:, None]).astype(np.int64)
    big = ~small
    if big.any():
        # Floyd: for j = d-k .. d-1 draw t in [0, j]; take t unless already chosen,
        # else take j. Yields a uniformly random k-subset of [0, d).
        d = deg[big]
        chosen = np.empty((len(d), k), dtype=np.int64)
        for step in range(k):
            j = d - k + step
            t = (rng.random(len(d)) * (j + 1)).astype(np.int64)
            t = np.minimum(t, j)  # guard against rounding to j + 1
            dup = (chosen[:, :step] == t[:, None]).any(axis=1) if step else np.zeros(len(d), bool)
            chosen[:, step] = np.where(dup, j, t)
        pos[big] = chosen
    # Isolated rows point past their (empty) slice; clip, then overwrite with self.
    out = indices[np.minimum(start[:, None] + pos, len(indices) - 1)].astype(np.int64)
    isolated = deg == 0
    if isolated.any():
        out[isolated] = nodes[isolated, None]
    return out


def sample_neighbors_reference(
    indptr: np.ndarray,
    indices: np.ndarray,
    nodes: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-node ``rng.choice`` version of :func:`sample_neighbors` (for tests)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    _check(indptr, nodes, k)
    out = np.empty((len(nodes), k), dtype=np.int64)
    for i, v in enumerate(nodes):
        neigh = indices[indptr[v] : indptr[v + 1]]
        if len(neigh) == 0:
            out[i] = v
        else:
            out[i] = rng.choice(neigh, size=k, replace=len(neigh) < k)
    return out


def sample_blocks(
    indptr: np.ndarray,
    indices: np.ndarray,
    targets: np.ndarray,
    fanouts: tuple[int, ...] | list[int],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """The node lists of a K-hop mini-batch: ``[targets, hop1, ..., hopK]``.

    ``hop_{l+1}`` holds ``fanouts[l]`` sampled neighbours of every entry of
    ``hop_l`` (flattened, entry-major), so ``len(hop_{l+1}) = len(hop_l) * fanouts[l]``.
    The first fan-out applies to the targets (PyG's ``num_neighbors`` order).
    """
    layers = [np.asarray(targets, dtype=np.int64)]
    for k in fanouts:
        layers.append(sample_neighbors(indptr, indices, layers[-1], int(k), rng).ravel())
    return layers


def mean_adjacency(indptr: np.ndarray, indices: np.ndarray, n: int | None = None) -> sp.csr_matrix:
    """Row-normalised (unweighted) adjacency with a self-loop on isolated nodes.

    ``mean_adjacency(...) @ H`` is the mean of each node's neighbours' rows of H:
    the expectation of the sampled mean, used for full-graph inference.
    """
    n = len(indptr) - 1 if n is None else n
    deg = np.zeros(n, dtype=np.int64)
    deg[: len(indptr) - 1] = np.diff(indptr)
    # built in CSR directly (no COO row/column copies: at 2.2M tracks and 323M entries
    # those took ~12 GB); an isolated node's one slot is its self-loop
    deg1 = np.maximum(deg, 1)
    nnz = int(deg1.sum())
    index_dtype = np.int32 if max(nnz, n) < 2**31 else np.int64
    out_indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(deg1, out=out_indptr[1:])
    out_indices = np.empty(nnz, dtype=index_dtype)
    iso = np.flatnonzero(deg == 0)
    if len(iso):
        own = np.ones(nnz, dtype=bool)
        own[out_indptr[iso]] = False
        out_indices[own] = indices[: int(indptr[-1])]
        del own
        out_indices[out_indptr[iso]] = iso
    else:
        out_indices[:] = indices[: int(indptr[-1])]
    vals = np.repeat((1.0 / deg1).astype(np.float32), deg1)
    a = sp.csr_matrix((vals, out_indices, out_indptr), shape=(n, n))
    a.sort_indices()
    return a


class WeightedNeighbourSampler:
    """One neighbour per anchor, drawn in proportion to the edge weight (CSR graph).

    ``sample(anchors, rng)`` draws one uniform number per anchor; every anchor must
    have at least one edge.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.cdf = np.cumsum(np.asarray(weights, dtype=np.float64))

    def sample(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        indptr, cdf, a = self.indptr, self.cdf, anchors
        lo = np.where(indptr[a] > 0, cdf[indptr[a] - 1], 0.0)
        u = lo + rng.random(len(a)) * (cdf[indptr[a + 1] - 1] - lo)
        pos = np.searchsorted(cdf, u, side="right")
        return self.indices[np.clip(pos, indptr[a], indptr[a + 1] - 1)]


class DegreeNegativeSampler:
    """Nodes drawn with probability proportional to ``degree ** exponent`` (0.75)."""

    def __init__(self, degree: np.ndarray, exponent: float = 0.75):
        cdf = np.cumsum(np.asarray(degree).astype(np.float64) ** exponent)
        if not len(cdf) or cdf[-1] <= 0:
            raise ParameterError("degree", "a graph with at least one edge", "no edge")
        cdf /= cdf[-1]
        self.cdf = cdf

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(
            np.searchsorted(self.cdf, rng.random(int(n)), side="right"), len(self.cdf) - 1
        )
