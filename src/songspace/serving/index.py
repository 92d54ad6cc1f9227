"""Nearest-neighbour indexes for serving: exact (faiss flat inner product) and HNSW.

Vectors are L2-normalised, so inner product is cosine (as in the evaluation,
:mod:`songspace.evaluation.knn`). ``kind="auto"`` is exact up to ``exact_max`` vectors
and HNSW (faiss ``IndexHNSWFlat``, Malkov & Yashunin 2018) above; ``M``,
``ef_construction`` and ``ef_search`` are exposed. Every index reports its build time,
its memory size (the serialised index) and its recall@k against exact search on a
seeded sample of the indexed vectors (1.0 for the exact index, by definition).

:func:`load_or_build` saves the index beside the run (``RUN/serving/index-<kind>.faiss``
+ ``.json``) and reuses it while the embeddings file and the build parameters are
unchanged (a SHA-256 of ``embeddings.npz`` and the parameters is the key).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from songspace._optional import installed, optional_import
from songspace._util import atomic_write_bytes, atomic_write_text, unit_rows
from songspace.errors import ParameterError
from songspace.params import POSITIVE_INT, Interval, check_param
from songspace.serving.defaults import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_MAX,
    DEFAULT_INDEX,
    DEFAULT_M,
    INDEX_KINDS,
)

logger = logging.getLogger(__name__)

#: The type of :data:`songspace.serving.defaults.INDEX_KINDS` (the choices' home).
IndexKind = Literal["auto", "exact", "hnsw"]
RECALL_K = 100
RECALL_QUERIES = 500
INDEX_FORMAT_VERSION = 1


def _faiss():
    return optional_import("faiss", "the serving index")


def set_search_threads(n: int) -> None:
    """faiss' OpenMP threads per search, in every thread that searches (the service's
    worker threads included), and numpy's BLAS threads (through ``threadpoolctl``,
    process-wide: the recommender's exact neighbour search and its features are numpy
    products). The service uses 1: its concurrency is across requests, and thread teams
    per single-vector query oversubscribe the cores (measured: 22 ms with 1 thread vs 99
    ms with 2 for one exact faiss query over 169K x 100 on a loaded 2-core machine; a
    numpy 1 x 64 by 64 x 22K product: 0.09 ms with 1 BLAS thread, 24 ms with OpenBLAS'
    default threads; a /similar over 22K x 64 in a worker thread: 0.17 ms CPU with the
    setting repeated in that thread, 4.3 ms without, load average 17)."""
    global _SEARCH_THREADS
    n = check_param("search_threads", n, POSITIVE_INT)
    _faiss().omp_set_num_threads(n)
    # OpenMP's thread count is per thread: the service searches in its worker threads,
    # which start with the default (every core), so each search sets it again
    _SEARCH_THREADS = n
    if installed("threadpoolctl"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")  # kept until the process ends
    else:
        logger.warning(
            "threadpoolctl is not installed: numpy's BLAS keeps its default threads, which "
            "slows single-query products under load. Fix: pip install 'songspace[serve]'"
        )


#: The threads of a search in any thread (set_search_threads; None: OpenMP's default).
_SEARCH_THREADS: int | None = None


#: Rows scaled to unit length (zero rows stay zero), float32, C-contiguous: the one L2
#: normalisation of evaluation and serving, safe at any magnitude.
normalise = unit_rows


@dataclass
class IndexStats:
    """What an index costs and how good it is (printed by the CLI, served by /models)."""

    kind: str
    n: int
    dim: int
    build_time_s: float
    memory_bytes: int
    recall_k: int
    recall: float
    recall_queries: int
    params: dict[str, Any] = field(default_factory=dict)
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params.items())
        if self.kind == "exact":
            quality = "exact search (recall 1 by construction)"
        elif self.recall_queries == 0:
            quality = f"recall@{self.recall_k} vs exact not measured"
        else:
            quality = (
                f"recall@{self.recall_k} vs exact {self.recall:.4f} ({self.recall_queries} queries)"
            )
        return (
            f"{self.kind} index{f' ({p})' if p else ''}: {self.n} vectors x {self.dim}, "
            f"built in {self.build_time_s:.2f}s{' (reused)' if self.reused else ''}, "
            f"{self.memory_bytes / 2**20:.1f} MiB, {quality}"
        )


class VectorIndex:
    """A faiss index over normalised vectors; ids are positions in the indexed matrix."""

    def __init__(self, index: Any, kind: str, vectors: np.ndarray, stats: IndexStats):
        self.index = index
        self.kind = kind
        self.vectors = vectors
        self.stats = stats

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    def set_ef_search(self, ef_search: int) -> None:
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(ef_search)
            self.stats.params["ef_search"] = int(ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of shape (len(queries), k); missing slots are -1 / -inf."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(int(k), self.n)
        if k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if _SEARCH_THREADS is not None:  # this thread's OpenMP setting (set_search_threads)
            _faiss().omp_set_num_threads(_SEARCH_THREADS)
        scores, ids = self.index.search(q, k)
        scores = np.where(ids < 0, -np.inf, scores)
        return scores, ids


def _check_params(kind: str, m: int, ef_construction: int, ef_search: int, exact_max: int) -> None:
    if kind not in INDEX_KINDS:
        raise ParameterError("index", f"`index` in {INDEX_KINDS}", kind)
    for name, v, lo in (
        ("M", m, 4),
        ("ef_construction", ef_construction, 8),
        ("ef_search", ef_search, 1),
        ("exact_max", exact_max, 0),
    ):
        check_param(name, v, Interval(int, lo, None))


def resolve_kind(kind: str, n: int, exact_max: int = DEFAULT_EXACT_MAX) -> str:
    """The index ``kind="auto"`` gives for ``n`` vectors."""
    if kind == "auto":
        return "exact" if n <= exact_max else "hnsw"
    return kind


def build_index(
    vectors: np.ndarray,
    *,
    kind: IndexKind = DEFAULT_INDEX,
    exact_max: int = DEFAULT_EXACT_MAX,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ef_search: int = DEFAULT_EF_SEARCH,
    recall_k: int = RECALL_K,
    recall_queries: int = RECALL_QUERIES,
    seed: int = 0,
) -> VectorIndex:
    """Build an index over ``vectors`` (normalised here) and measure its recall@k."""
    _check_params(kind, m, ef_construction, ef_search, exact_max)
    faiss = _faiss()
    x = normalise(vectors)
    n, d = x.shape
    real = resolve_kind(kind, n, exact_max)
    t0 = time.perf_counter()
    if real == "exact":
        index = faiss.IndexFlatIP(d)
        params: dict[str, Any] = {}
    else:
        index = faiss.IndexHNSWFlat(d, int(m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(ef_construction)
        index.hnsw.efSearch = int(ef_search)
        params = {"M": int(m), "ef_construction": int(ef_construction), "ef_search": int(ef_search)}
    if n:
        index.add(x)
    build = time.perf_counter() - t0
    stats = IndexStats(real, n, d, build, _memory(faiss, index), recall_k, 1.0, 0, params)
    out = VectorIndex(index, real, x, stats)
    if real != "exact":
        measure_recall(out, k=recall_k, queries=recall_queries, seed=seed)
    return out


def _memory(faiss: Any, index: Any) -> int:
    return int(faiss.serialize_index(index).nbytes)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Positions of the exact top-``k`` by inner product (faiss flat index)."""
    faiss = _faiss()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return flat.search(np.ascontiguousarray(queries, dtype=np.float32), k)[1]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (rows of positions; -1 ignored)."""
    hits = []
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0]
        if len(t):
            hits.append(len(np.intersect1d(f[f >= 0], t)) / len(t))
    return float(np.mean(hits)) if hits else 1.0


def measure_recall(
    index: VectorIndex, *, k: int = RECALL_K, queries: int = RECALL_QUERIES, seed: int = 0
) -> float:
    """Recall@k of ``index`` against exact search on ``queries`` seeded indexed vectors;
    stored in ``index.stats``."""
    n = index.n
    if n == 0:
        return 1.0
    k = min(k, n)
    rng = np.random.default_rng(seed)
    q = index.vectors[rng.choice(n, size=min(queries, n), replace=False)]
    truth = exact_search(index.vectors, q, k)
    found = index.search(q, k)[1]
    r = recall_at_k(found, truth)
    index.stats.recall, index.stats.recall_k, index.stats.recall_queries = r, k, len(q)
    return r


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def load_or_build(
    vectors: np.ndarray,
    directory: str | Path,
    *,
    source_digest: str,
    kind: IndexKind = DEFAULT_INDEX,
    exact_max: int = DEFAULT_EXACT_MAX,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ef_search: int = DEFAULT_EF_SEARCH,
    seed: int = 0,
    save: bool = True,
) -> VectorIndex:
    """The index saved in ``directory`` when its key matches, else a new one (saved).

    The key is ``source_digest`` (of the embeddings the vectors come from) plus the
    build parameters; ``ef_search`` is a search-time setting and only applied.
    """
    _check_params(kind, m, ef_construction, ef_search, exact_max)
    faiss = _faiss()
    real = resolve_kind(kind, len(vectors), exact_max)
    build_params = {"M": m, "ef_construction": ef_construction} if real == "hnsw" else {}
    key = {
        "format_version": INDEX_FORMAT_VERSION,
        "source": source_digest,
        "kind": real,
        "n": len(vectors),
        **build_params,
    }
    directory = Path(directory)
    blob, meta = directory / f"index-{real}.faiss", directory / f"index-{real}.json"
    if blob.is_file() and meta.is_file():
        try:
            doc = json.loads(meta.read_text())
        except (OSError, ValueError):
            doc = {}
        if doc.get("key") == key:
            t0 = time.perf_counter()
            index = faiss.read_index(str(blob))
            stats = IndexStats(**doc["stats"])
            stats.reused = True
            out = VectorIndex(index, real, normalise(vectors), stats)
            out.set_ef_search(ef_search)
            if real == "hnsw" and ef_search != doc["stats"]["params"].get("ef_search"):
                measure_recall(out, seed=seed)
            logger.info("index reused from %s (%.2fs)", blob, time.perf_counter() - t0)
            return out
    out = build_index(
        vectors,
        kind=real,  # type: ignore[arg-type]
        exact_max=exact_max,
        m=m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        seed=seed,
    )
    if save:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(blob, faiss.serialize_index(out.index).tobytes())
            doc = {"key": key, "stats": out.stats.to_dict()}
            atomic_write_text(meta, json.dumps(doc, indent=2) + "\n")
        except OSError as exc:  # a read-only run still serves: the cache is best effort
            _warn_not_saved(directory, exc)
    logger.info("%s", out.stats.describe())
    return out


#: Directories whose index could not be saved, warned about once per process.
_NOT_SAVED: set[str] = set()


def _warn_not_saved(directory: Path, exc: OSError) -> None:
    """Warn, once per directory, that the index stays in memory only."""
    where = str(directory)
    if where in _NOT_SAVED:
        logger.info("index not saved in %s (%s); kept in memory", where, exc.strerror or exc)
        return
    _NOT_SAVED.add(where)
    logger.warning(
        "the index cache could not be written in %s (%s): the index is kept in memory "
        "and rebuilt at each start. Fix: make the run directory writable to reuse it",
        where,
        exc.strerror or exc,
    )
