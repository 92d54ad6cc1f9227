"""The graph tables of a dataset: co-occurrence graph, bigram counts, popularity.

:func:`build_tables` computes them with an engine: ``"memory"`` (the in-memory
builders :func:`~songspace.graph.build_cooccurrence`, :func:`~songspace.graph.bigram_counts`,
``Dataset.occurrences``) or ``"spark"`` (:mod:`songspace.graph.spark`, the same
counts with Spark DataFrames). Both give identical arrays, so :meth:`GraphTables.save`
writes the same files whichever engine ran:

- ``cooccurrence.npz`` + ``cooccurrence.json``: :meth:`CooccurrenceGraph.save`;
- ``bigrams.npz``: ordered adjacent-pair counts without self pairs (int64 CSR);
- ``popularity.npy``: number of distinct sequences containing each track (int64).

:func:`write_tables` records the sequences' fingerprint in ``cooccurrence.json``;
:func:`cooccurrence_graph`, which GraphSAGE, MUSIG and Node2Vec call, reads the saved
graph of a dataset directory (``DATA/graph``) instead of rebuilding it when it was built
from the same sequences at the same ``min_weight`` (so never for a training split).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from songspace._util import atomic_directory
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import sequences_fingerprint
from songspace.errors import FormatError, ParameterError
from songspace.graph.bigrams import bigram_counts
from songspace.graph.cooccurrence import CooccurrenceGraph, build_cooccurrence
from songspace.graph.defaults import DEFAULT_ENGINE, DEFAULT_MIN_WEIGHT, ENGINES

logger = logging.getLogger(__name__)

#: The folder of a dataset directory that ``songspace prepare --graph`` writes.
GRAPH_DIR = "graph"


@dataclass
class GraphTables:
    """Co-occurrence graph (``min_weight``), ordered bigram counts and popularity."""

    graph: CooccurrenceGraph
    bigrams: sp.csr_matrix
    popularity: np.ndarray

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the three tables into directory ``path`` atomically; return ``path``."""
        path = Path(path)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.graph.save(tmp / "cooccurrence")
            sp.save_npz(tmp / "bigrams.npz", self.bigrams, compressed=True)
            np.save(tmp / "popularity.npy", self.popularity, allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GraphTables:
        """Read the tables written by :meth:`save`."""
        path = Path(path)
        for name in ("bigrams.npz", "popularity.npy"):
            if not (path / name).is_file():
                raise FormatError(
                    "expected this file of the graph tables, found none",
                    path=path / name,
                    fix="write them with `songspace prepare ... --graph`",
                )
        graph = CooccurrenceGraph.load(path / "cooccurrence")
        bigrams = sp.csr_matrix(sp.load_npz(path / "bigrams.npz"))
        popularity = np.load(path / "popularity.npy", allow_pickle=False)
        return cls(graph=graph, bigrams=bigrams, popularity=popularity)


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`ENGINES`; else a ParameterError listing them."""
    if engine not in ENGINES:
        raise ParameterError(
            "engine", f"one of {', '.join(ENGINES)}", engine, fix="choose one of those engines"
        )
    return engine


def build_tables(
    dataset: Dataset,
    *,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    engine: str = DEFAULT_ENGINE,
    master: str | None = None,
    staging: str | Path | None = None,
) -> GraphTables:
    """The graph tables of ``dataset`` computed by ``engine`` (see the module docstring).

    ``master`` and ``staging`` are for the Spark engine (see
    :func:`songspace.graph.spark.build_tables_spark`); the memory engine ignores them.
    """
    check_engine(engine)
    if engine == "spark":
        from songspace.graph.spark import build_tables_spark

        return build_tables_spark(dataset, min_weight=min_weight, master=master, staging=staging)
    return GraphTables(
        graph=build_cooccurrence(dataset, min_weight=min_weight),
        bigrams=bigram_counts(dataset),
        popularity=dataset.occurrences(),
    )


def write_tables(
    dataset: Dataset,
    path: str | Path,
    *,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    engine: str = DEFAULT_ENGINE,
    master: str | None = None,
    staging: str | Path | None = None,
    overwrite: bool = False,
) -> GraphTables:
    """:func:`build_tables`, then :meth:`GraphTables.save` to ``path``, with the sequences'
    fingerprint in ``cooccurrence.json`` (see :func:`cooccurrence_graph`)."""
    tables = build_tables(
        dataset, min_weight=min_weight, engine=engine, master=master, staging=staging
    )
    tables.graph.sequences_fingerprint = sequences_fingerprint(dataset)
    tables.save(path, overwrite=overwrite)
    logger.info("wrote the graph tables (%s engine) to %s", engine, path)
    return tables


def saved_graph(dataset: Dataset, min_weight: int) -> CooccurrenceGraph | None:
    """The co-occurrence graph saved in ``dataset``'s directory (``DATA/graph``), when it
    is at ``min_weight`` and was built from exactly ``dataset``'s sequences; else None.

    Only a dataset read by :meth:`Dataset.load` has a directory; a subset (a training
    split) has none, and its sequences would not match the saved fingerprint either.
    """
    if dataset.directory is None:
        return None
    folder = Path(dataset.directory) / GRAPH_DIR
    meta_path = folder / "cooccurrence.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("not using the saved graph in %s: unreadable sidecar (%s)", folder, exc)
        return None
    if not isinstance(meta, dict) or meta.get("min_weight") != int(min_weight):
        logger.info(
            "not using the saved graph in %s: min_weight %s there, %d here",
            folder,
            meta.get("min_weight") if isinstance(meta, dict) else None,
            min_weight,
        )
        return None
    stored = meta.get("sequences_fingerprint")
    if not isinstance(stored, str):
        logger.info(
            "not using the saved graph in %s: it records no sequences fingerprint "
            "(written by an older songspace; rerun `songspace prepare ... --graph`)",
            folder,
        )
        return None
    if stored != sequences_fingerprint(dataset):
        logger.info(
            "not using the saved graph in %s: built from other sequences than these "
            "(a split or a changed dataset)",
            folder,
        )
        return None
    graph = CooccurrenceGraph.load(folder / "cooccurrence")
    if graph.n_nodes != dataset.n_tracks:
        return None
    logger.info(
        "using the saved graph from %s (%d edges, min_weight=%d)",
        folder,
        graph.n_edges,
        graph.min_weight,
    )
    return graph


def cooccurrence_graph(
    dataset: Dataset, *, min_weight: int = DEFAULT_MIN_WEIGHT
) -> CooccurrenceGraph:
    """``dataset``'s co-occurrence graph: :func:`saved_graph` where it applies, else
    :func:`~songspace.graph.build_cooccurrence`. Both give the same arrays."""
    saved = saved_graph(dataset, min_weight)
    if saved is not None:
        return saved
    return build_cooccurrence(dataset, min_weight=min_weight)


__all__ = [
    "ENGINES",
    "GRAPH_DIR",
    "GraphTables",
    "build_tables",
    "check_engine",
    "cooccurrence_graph",
    "saved_graph",
    "write_tables",
]
