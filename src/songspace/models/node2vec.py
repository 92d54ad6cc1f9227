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

import logging
import zlib
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace.data.dataset import Dataset
from songspace.data.vocabulary import concat_sequences, merge_counts
from songspace.graph.limits import raise_if_no_edges
from songspace.graph.tables import cooccurrence_graph
from songspace.graph.walks import random_walks
from songspace.models.base import EmbeddingModel
from songspace.models.incremental import saved_before_updates
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.models.track2vec import CsrCorpus, restore_word2vec, word2vec_state
from songspace.params import SEED, Constraint, Interval
from songspace.progress import ProgressCallback, report

logger = logging.getLogger(__name__)


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
        self._keep_state(w2v, walks, n)
        report(progress, 3, 3, "done")
        return embeddings, available

    # ------------------------------------------------------------- the state
    def _keep_state(self, w2v: Any, walks: np.ndarray, n_tracks: int) -> None:
        """Keep what :meth:`update` needs: gensim's output weights (``syn1neg_``) and
        each track's count in the walks trained on so far (``walk_counts_``, gensim's
        vocabulary counts)."""
        self.syn1neg_ = word2vec_state(w2v, n_tracks)[0]
        self.walk_counts_ = np.bincount(walks[walks >= 0], minlength=n_tracks).astype(np.int64)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """The update state, when the model has it (models saved before updates existed
        load without it, and cannot be updated)."""
        if getattr(self, "syn1neg_", None) is None:
            return {}
        return {"syn1neg": self.syn1neg_, "walk_counts": self.walk_counts_}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        if "syn1neg" not in arrays:
            return
        syn1neg, counts = arrays["syn1neg"], arrays["walk_counts"]
        if syn1neg.shape != (self.n_tracks_, int(self.dim)) or syn1neg.dtype.kind != "f":
            raise ValueError(f"syn1neg of shape {syn1neg.shape}, expected (n_tracks, dim)")
        if counts.shape != (self.n_tracks_,) or counts.dtype.kind not in "iu":
            raise ValueError(f"walk_counts of {counts.dtype} {counts.shape}, expected (n_tracks,)")
        self.syn1neg_, self.walk_counts_ = syn1neg.astype(np.float32), counts.astype(np.int64)

    # --------------------------------------------------------------- updates
    update_constraints: ClassVar[dict[str, Constraint]] = {
        "walks_per_node": Interval(int, 1, 10_000),
        "epochs": Interval(int, 1, 1000),
        "alpha": Interval(float, 1e-5, 0.1),
        "seed": SEED,
    }

    def update_defaults(self) -> dict[str, Any]:
        """The model's walks per node and epochs, half gensim's learning rate (0.025;
        the vectors are trained already), its seed."""
        return {
            "walks_per_node": int(self.walks_per_node),
            "epochs": int(self.epochs),
            "alpha": 0.0125,
            "seed": int(self.seed),
        }

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Walks from the tracks whose neighbourhood changed, on the union's graph, then
        skip-gram continued on them (docs/updates.md)."""
        if getattr(self, "syn1neg_", None) is None:
            raise saved_before_updates(self.name, "its output weights")
        n = new.n_tracks
        report(progress, 0, 3, "co-occurrence graph of the union")
        graph = cooccurrence_graph(concat_sequences(history, new), min_weight=int(self.min_weight))
        starts = changed_nodes(graph.adjacency, new)
        logger.info("node2vec update: walks from %d tracks (neighbourhood changed)", len(starts))
        report(progress, 1, 3, "random walks")
        walks = self._walks(graph.adjacency, starts, settings)
        counts = merge_counts(self.walk_counts_, np.bincount(walks[walks >= 0], minlength=n))
        report(progress, 2, 3, "skip-gram")
        w2v = self._continued_word2vec(counts, settings)
        if len(walks):
            corpus = _walk_corpus(walks)
            w2v.train(corpus_iterable=corpus, total_examples=len(corpus), epochs=w2v.epochs)
        self.syn1neg_, vectors = word2vec_state(w2v, n)
        self.walk_counts_ = counts
        report(progress, 3, 3, "done")
        return vectors, counts > 0

    def _walks(self, adjacency: Any, starts: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
        """``walks_per_node`` seeded walks from each of ``starts``, in a shuffled order."""
        if len(starts) == 0:
            return np.zeros((0, int(self.walk_length)), dtype=np.int32)
        walks = random_walks(
            adjacency,
            walk_length=int(self.walk_length),
            walks_per_node=int(settings["walks_per_node"]),
            p=float(self.p),
            q=float(self.q),
            start_nodes=starts,
            seed=int(settings["seed"]),
        )
        return walks[np.random.default_rng(int(settings["seed"]) + 1).permutation(len(walks))]

    def _continued_word2vec(self, counts: np.ndarray, settings: dict[str, Any]) -> Any:
        """A gensim Word2Vec over every walked track (vocabulary counts: ``counts``) holding
        the trained vectors and output weights; new tracks start fresh."""
        from gensim.models import Word2Vec

        w2v = Word2Vec(
            vector_size=int(self.dim),
            window=int(self.window),
            min_count=1,
            sg=1,
            hs=0,
            negative=int(self.negative),
            epochs=int(settings["epochs"]),
            alpha=float(settings["alpha"]),
            workers=int(self.workers),
            seed=int(settings["seed"]),
            hashfxn=_stable_hash,
        )
        walked = np.flatnonzero(counts)
        w2v.build_vocab_from_freq({str(t): int(counts[t]) for t in walked.tolist()})
        restore_word2vec(w2v, self.embeddings_, self.available_, self.syn1neg_)
        return w2v


def changed_nodes(adjacency: sp.csr_matrix, new: Dataset) -> np.ndarray:
    """The tracks whose neighbourhood in the graph ``adjacency`` (the union's) ``new``'s
    sequences changed: those with an edge of the graph to a track they share a new
    sequence with (the edge is new, or its weight grew). Tracks new to the vocabulary
    with an edge are among them."""
    x = new.incidence().astype(np.float64)
    pairs = (x.T @ x).tocsr()
    pairs.setdiag(0.0)
    pairs.eliminate_zeros()
    touched = pairs.multiply(adjacency).tocsr()
    touched.eliminate_zeros()
    return np.flatnonzero(np.diff(touched.indptr)).astype(np.int64)


__all__ = ["Node2Vec"]
