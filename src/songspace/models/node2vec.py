"""Node2Vec (SPEC §3): biased (p, q) random walks on the co-occurrence graph + skip-gram.

The weighted co-occurrence graph (``build_cooccurrence(dataset, min_weight=...)``, or the
saved ``DATA/graph`` of the same sequences, :func:`songspace.graph.tables.cooccurrence_graph`)
is walked from every track with at least one edge (``walks_per_node`` walks of
``walk_length`` nodes each, :func:`songspace.graph.walks.random_walks`,
vectorised), then gensim's skip-gram with negative sampling (``sg=1``) is
trained on the walks, streamed chunk by chunk as string tokens (the walks stay
one int32 array; no list of all walks is built). Tracks without an edge never
appear in a walk and are unavailable (``available_`` False, zero row).

gensim is seeded with ``seed`` and a deterministic token hash, so with
``workers=1`` two fits give identical embeddings (in any process).
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import numpy as np

from songspace.data.dataset import Dataset
from songspace.graph.limits import raise_if_no_edges
from songspace.graph.tables import cooccurrence_graph
from songspace.graph.walks import random_walks
from songspace.models.base import EmbeddingModel
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.models.track2vec import CsrCorpus
from songspace.params import SEED, Constraint, Interval
from songspace.progress import ProgressCallback, report


def _stable_hash(s: str) -> int:
    """Deterministic replacement for ``hash`` (gensim seeds each vector with it)."""
    return zlib.crc32(s.encode("utf-8"))


def _walk_corpus(walks: np.ndarray) -> CsrCorpus:
    """The walks as a re-iterable token corpus (``-1`` padding after dead ends dropped)."""
    keep = walks >= 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return CsrCorpus(indptr, walks[keep])


@register
class Node2Vec(EmbeddingModel):
    """node2vec (Grover & Leskovec 2016) on the weighted track co-occurrence graph."""

    name: ClassVar[str] = "node2vec"
    inductive: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 1, 4096),
        "walk_length": Interval(int, 2, 10_000),
        "walks_per_node": Interval(int, 1, 10_000),
        "p": Interval(float, 1e-3, 100.0),
        "q": Interval(float, 1e-3, 100.0),
        "window": Interval(int, 1, 100),
        "negative": Interval(int, 1, 100),
        "epochs": Interval(int, 1, 1000),
        "min_weight": Interval(int, 1, None),
        "workers": Interval(int, 1, 256),
        "seed": SEED,
    }
    #: node2vec's return/in-out biases on a log scale around 1 (Grover & Leskovec 2016
    #: search p, q in {0.25, 0.5, 1, 2, 4}), and the skip-gram settings of W2V Table 3.
    search_space: ClassVar[SearchSpace] = {
        "dim": IntParam(25, 200),
        "p": FloatParam(0.25, 4.0, log=True),
        "q": FloatParam(0.25, 4.0, log=True),
        "walk_length": IntParam(10, 80),
        "walks_per_node": IntParam(2, 20),
        "window": IntParam(1, 20),
        "negative": IntParam(1, 20),
    }
    #: Equal-time tuning sets the walks per node (walks and skip-gram cost scale with it).
    budget_param: ClassVar[str | None] = "walks_per_node"

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Work per walk per node: walk length x (window + 1) x (negative + 1) x dim x epochs
        (skip-gram over the walks; the walks themselves cost about walk length)."""
        p = {**cls.default_params(), **params}
        return float(
            int(p["walk_length"])
            * (int(p["window"]) + 1)
            * (int(p["negative"]) + 1)
            * int(p["dim"])
            * int(p["epochs"])
        )

    def __init__(
        self,
        dim: int = 100,
        walk_length: int = 20,
        walks_per_node: int = 10,
        p: float = 1.0,
        q: float = 1.0,
        window: int = 5,
        negative: int = 5,
        epochs: int = 1,
        min_weight: int = 2,
        workers: int = 1,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.walk_length = walk_length
        self.walks_per_node = walks_per_node
        self.p = p
        self.q = q
        self.window = window
        self.negative = negative
        self.epochs = epochs
        self.min_weight = min_weight
        self.workers = workers
        self.seed = seed

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        from gensim.models import Word2Vec
        from gensim.models.callbacks import CallbackAny2Vec

        n = dataset.n_tracks
        report(progress, 0, 3, "co-occurrence graph")
        graph = cooccurrence_graph(dataset, min_weight=int(self.min_weight))
        starts = np.flatnonzero(np.diff(graph.adjacency.indptr))
        embeddings = np.zeros((n, int(self.dim)), dtype=np.float32)
        available = np.zeros(n, dtype=bool)
        raise_if_no_edges(graph, dataset)  # nothing to walk: an error, not "0 embedded"

        report(progress, 1, 3, "random walks")
        walks = random_walks(
            graph.adjacency,
            walk_length=int(self.walk_length),
            walks_per_node=int(self.walks_per_node),
            p=float(self.p),
            q=float(self.q),
            start_nodes=starts,
            seed=int(self.seed),
        )
        # shuffle the walk order (node2vec shuffles the start nodes of every pass)
        walks = walks[np.random.default_rng(int(self.seed) + 1).permutation(len(walks))]

        epochs = int(self.epochs)

        class _Progress(CallbackAny2Vec):
            def __init__(self) -> None:
                self.epoch = 0

            def on_epoch_end(self, model: Any) -> None:
                self.epoch += 1
                report(progress, self.epoch, epochs, "skip-gram epochs")

        report(progress, 2, 3, "skip-gram")
        w2v = Word2Vec(
            sentences=_walk_corpus(walks),
            vector_size=int(self.dim),
            window=int(self.window),
            min_count=1,
            sg=1,
            hs=0,
            negative=int(self.negative),
            epochs=epochs,
            workers=int(self.workers),
            seed=int(self.seed),
            hashfxn=_stable_hash,
            callbacks=[_Progress()],
        )
        keys = np.array([int(k) for k in w2v.wv.index_to_key], dtype=np.int64)
        embeddings[keys] = w2v.wv.vectors
        available[keys] = True
        report(progress, 3, 3, "done")
        return embeddings, available


__all__ = ["Node2Vec"]
