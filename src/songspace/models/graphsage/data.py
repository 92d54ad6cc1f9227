"""What GraphSAGE and MUSIG train on, in numpy (no torch): the inputs h^0, the auxiliary
tasks' targets, the validation split and the held-out pairs early stopping scores, and
:class:`TrainingData`, which gathers them with the pair samplers
(:func:`training_data`, called by :meth:`GraphSAGE.prepare
<songspace.models.graphsage.GraphSAGE.prepare>`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from songspace.data.dataset import Dataset
from songspace.data.features import known_share_block
from songspace.errors import ParameterError
from songspace.graph.sampling import DegreeNegativeSampler, WeightedNeighbourSampler
from songspace.graph.tables import cooccurrence_graph

#: How early stopping's held-out pairs are drawn (the ``validation_draw`` parameter).
VALIDATION_DRAWS = ("anchors", "edges")
#: Held-out pairs scored after every epoch.
VALIDATION_PAIRS = 4096


# ----------------------------------------------------------------------------- inputs
def node_features(dataset: Dataset, groups: Sequence[str], degree: np.ndarray | None) -> np.ndarray:
    """h^0: per group its values (unknown cells 0) and the share of known columns,
    then, unless ``degree`` is None, ``log1p(degree) / log1p(1000)`` (graph
    structure, available inductively; left out of the features-only encoder)."""
    blocks = [np.zeros((dataset.n_tracks, 0), dtype=np.float32)]
    blocks += [known_share_block(dataset.features[g]) for g in groups]
    if degree is not None:
        blocks.append((np.log1p(degree) / np.log1p(1000.0)).astype(np.float32)[:, None])
    return np.hstack(blocks).astype(np.float32)


def model_inputs(
    dataset: Dataset, adj: sp.csr_matrix, groups: Sequence[str], aggregate: bool
) -> np.ndarray:
    """h^0 of every track of ``dataset`` on the graph ``adj``: :func:`node_features` of
    ``groups``, with the log-degree when the encoder aggregates neighbours."""
    degree = np.diff(adj.indptr) if aggregate else None
    return node_features(dataset, list(groups), degree)


def genre_codes(dataset: Dataset) -> np.ndarray:
    """Primary genre of every track as an integer code, -1 where unknown."""
    genre = dataset.tracks["genre"].to_numpy(dtype=object)
    known = np.array([g is not None and g == g for g in genre], dtype=bool)
    codes = np.full(len(genre), -1, dtype=np.int64)
    if known.any():
        codes[known] = np.unique(genre[known].astype(str), return_inverse=True)[1]
    return codes


def similarity_vectors(dataset: Dataset, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised, L2-normalised vectors of ``group`` and the fully-known mask.

    Standardising (per column, over known tracks) centres the [0, 1] values, so the
    inner product of two vectors spans [-1, 1] instead of crowding near 1.
    """
    fg = dataset.features[group]
    known = fg.known.all(axis=1)
    v = np.zeros(fg.values.shape, dtype=np.float32)
    if known.any():
        x = fg.values[known].astype(np.float64)
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        v[known] = (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)
    return v, np.asarray(known, dtype=bool)


# ------------------------------------------------------------------ validation split
def validation_pairs(
    adj: sp.csr_matrix,
    held: np.ndarray,
    rng: np.random.Generator,
    *,
    how: str = "edges",
    n: int = VALIDATION_PAIRS,
) -> np.ndarray:
    """Up to ``n`` held-out (anchor, positive) pairs for early stopping.

    ``how="edges"`` (the default) takes held-out edges uniformly, so a track appears in
    proportion to its held-out degree: on the 5% MPD-shaped preset the anchors' mean degree
    was 2,187 against training's 190, and the loss on such pairs rose from epoch 3 while
    the loss on pairs drawn as in training kept falling. ``how="anchors"`` draws them as
    training draws its pairs: distinct anchors uniformly over the tracks with a held-out
    edge, then one positive per anchor in proportion to the edge weight (``adj``'s weights)
    among its held-out edges. Measured (docs/results.md, "Early stopping on pairs drawn as
    training draws them"): "anchors" keeps later epochs, and those rank no better; on the
    preset, next-song HitRate fell from 0.060 to 0.048 (significant), completion unchanged.
    The evaluation's targets are drawn in proportion to popularity, as held-out edges are,
    so the edge-uniform loss is the better stopping signal here.
    """
    if len(held) == 0 or how == "edges":
        return held if len(held) <= n else held[rng.choice(len(held), size=n, replace=False)]
    u, v = held[:, 0], held[:, 1]
    w = np.asarray(adj[u, v], dtype=np.float64).ravel()
    both = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))),
        shape=adj.shape,
    ).tocsr()
    both.sort_indices()
    nodes = np.flatnonzero(np.diff(both.indptr) > 0)
    anchors = rng.choice(nodes, size=min(n, len(nodes)), replace=False)
    positives = WeightedNeighbourSampler(both.indptr, both.indices, both.data).sample(anchors, rng)
    return np.stack([anchors, positives], axis=1).astype(np.int64)


def split_edges(
    adj: sp.csr_matrix, share: float, rng: np.random.Generator
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Remove ``share`` of the undirected edges; return (training graph, held-out (u, v))."""
    upper = sp.triu(adj, k=1).tocoo()
    n_val = round(share * upper.nnz)
    if n_val == 0:
        return adj, np.zeros((0, 2), dtype=np.int64)
    pick = np.zeros(upper.nnz, dtype=bool)
    pick[rng.choice(upper.nnz, size=n_val, replace=False)] = True
    held = np.stack([upper.row[pick], upper.col[pick]], axis=1).astype(np.int64)
    keep = sp.coo_matrix((upper.data[~pick], (upper.row[~pick], upper.col[~pick])), shape=adj.shape)
    train = (keep + keep.T).tocsr()
    train.sort_indices()
    return train, held


# ---------------------------------------------------------------------- training data
@dataclass
class TrainingData:
    """Everything a training loop needs from the dataset (:func:`training_data`).

    ``full_adj``: the co-occurrence graph (inference); ``indptr``/``indices``: the
    training graph (validation edges removed); ``held``: held-out edges (u, v);
    ``anchors``: tracks with a training edge; ``x``: h^0 for every track;
    ``targets``: the auxiliary tasks' per-track targets (numpy, moved to the device
    by :meth:`GraphSAGE.build_training <songspace.models.graphsage.GraphSAGE.build_training>`).
    """

    full_adj: sp.csr_matrix
    indptr: np.ndarray
    indices: np.ndarray
    held: np.ndarray
    anchors: np.ndarray
    x: np.ndarray
    genres: np.ndarray
    similarity: np.ndarray
    similarity_known: np.ndarray
    positives: WeightedNeighbourSampler
    negatives: DegreeNegativeSampler
    n_edges: int


def training_data(
    dataset: Dataset,
    rng: np.random.Generator,
    *,
    groups: Sequence[str],
    aggregate: bool,
    min_weight: int,
    validation_share: float,
    supervision_share: float,
    regression_group: str | None,
) -> TrainingData:
    """The graph, the validation split (drawn from ``rng``), inputs, targets and pair
    samplers of ``dataset`` (see :meth:`GraphSAGE.prepare
    <songspace.models.graphsage.GraphSAGE.prepare>`, whose parameters these are;
    ``regression_group``: the audio task's group, None when that task is off)."""
    graph = cooccurrence_graph(dataset, min_weight=min_weight)
    full_adj = graph.adjacency
    train_adj, held = split_edges(full_adj, validation_share, rng)
    deg = np.diff(train_adj.indptr)
    if supervision_share > 0:
        mp_adj, _ = split_edges(train_adj, supervision_share, rng)
        sup_adj = (train_adj - mp_adj).tocsr()
        sup_adj.eliminate_zeros()
        sup_adj.sort_indices()
        del train_adj
    else:
        mp_adj = sup_adj = train_adj
    indptr, indices = mp_adj.indptr.astype(np.int64), mp_adj.indices.astype(np.int64)
    anchors = np.flatnonzero(np.diff(sup_adj.indptr) > 0)
    if len(anchors) == 0:
        raise ParameterError(
            "min_weight",
            "a graph with at least one edge",
            f"min_weight={min_weight} leaves no edge",
            fix="lower min_weight",
        )
    x = model_inputs(dataset, full_adj, groups, aggregate)
    if x.shape[1] == 0:
        raise ParameterError(
            "feature_groups", "at least one feature group when aggregate is false", groups
        )
    if regression_group is not None:
        sim_v, sim_known = similarity_vectors(dataset, regression_group)
    else:
        sim_v = np.zeros((dataset.n_tracks, 1), np.float32)
        sim_known = np.zeros(dataset.n_tracks, bool)
    return TrainingData(
        full_adj=full_adj,
        indptr=indptr,
        indices=indices,
        held=held,
        anchors=anchors,
        x=x,
        genres=genre_codes(dataset),
        similarity=sim_v,
        similarity_known=sim_known,
        positives=WeightedNeighbourSampler(
            sup_adj.indptr, sup_adj.indices, sup_adj.data.astype(np.float64)
        ),
        negatives=DegreeNegativeSampler(deg),
        n_edges=graph.n_edges,
    )
