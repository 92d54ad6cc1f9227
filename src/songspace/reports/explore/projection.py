"""The explorer's 2-D projection: UMAP (cosine, extra ``explore``), PCA without it,
t-SNE on request; cached beside the run (``RUN/explore/<method>-<seed>.npz``, written
atomically, keyed by :func:`vectors_digest` of the embeddings)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from songspace._optional import installed, optional_import
from songspace._util import atomic_write_npz
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.reports.defaults import PROJECTION_METHODS as METHODS

logger = logging.getLogger(__name__)


#: The type of :data:`METHODS` (:data:`songspace.reports.defaults.PROJECTION_METHODS`).
Method = Literal["auto", "umap", "pca", "tsne"]
CACHE_VERSION = 1


@dataclass
class Projection:
    """2-D coordinates of one run's available tracks (NaN rows where unavailable)."""

    xy: np.ndarray
    method: str
    seconds: float
    cached: bool = False


def _have_umap() -> bool:
    return installed("umap")


def resolve_method(method: str) -> str:
    """``auto``: UMAP when the ``explore`` extra is installed, else PCA."""
    if method not in METHODS:
        raise ParameterError("method", f"`method in {METHODS}`", method)
    if method == "auto":
        if _have_umap():
            return "umap"
        logger.warning("umap-learn is not installed (extra `explore`): projecting with PCA")
        return "pca"
    if method == "umap" and not _have_umap():
        optional_import("umap", "`--method umap`")  # raises: not installed
    return method


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components of ``x`` (rows), signs fixed for determinism."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.zeros((0, 2), np.float32)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], x.shape[1]))])
    # the sign of a component is arbitrary: make its largest loading positive
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    return (centred @ (comps * signs[:, None]).T).astype(np.float32)


def project(vectors: np.ndarray, method: str, *, seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``vectors`` (already L2-normalised) by ``method``."""
    method = resolve_method(method)
    n = len(vectors)
    if n < 5 or method == "pca":
        return pca_2d(vectors)
    if method == "umap":
        import umap

        # no random_state: umap-learn then runs its optimisation on every core.
        # init="pca", not umap-learn's default spectral init: on the MPD-subset MUSIG run
        # (173,182 x 64) the spectral init spent about 10 minutes in ARPACK (eigsh, once
        # per connected component of the k-NN graph) and the whole fit took 718 s; with the
        # PCA init it took 139 s (BENCHMARKS.md, "Explorer projection").
        reducer = umap.UMAP(
            n_components=2,
            metric="cosine",
            n_neighbors=min(15, n - 1),
            low_memory=True,
            init="pca",
        )
        np.random.seed(seed)
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    tsne = TSNE(
        n_components=2, metric="cosine", init="pca", random_state=seed, perplexity=perplexity
    )
    return np.asarray(tsne.fit_transform(vectors), dtype=np.float32)


def _read_projection_file(
    path: Path, emb: Embeddings, method: str, digest: str
) -> Projection | None:
    """The projection cached in ``path`` when it was computed from the same vectors
    (``digest``) by this cache version; None when it is absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if (
                int(z["version"]) == CACHE_VERSION
                and str(z["digest"]) == digest
                and z["xy"].shape == (emb.n_tracks, 2)
            ):
                logger.info("projection read from %s", path)
                return Projection(np.asarray(z["xy"]), method, float(z["seconds"]), cached=True)
    except (OSError, KeyError, ValueError):
        logger.warning("ignoring an unreadable projection cache %s", path)
    return None


def cached_projection(
    emb: Embeddings,
    method: str,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    digest: str = "",
) -> Projection:
    """Project the available tracks of ``emb``; reuse ``cache_dir/<method>-<seed>.npz`` when
    it was computed from the same embeddings (``digest``)."""
    method = resolve_method(method)
    path = cache_dir / f"{method}-{seed}.npz" if cache_dir is not None else None
    if path is not None:
        cached = _read_projection_file(path, emb, method, digest)
        if cached is not None:
            return cached
    rows = np.flatnonzero(emb.available)
    start = time.perf_counter()
    xy_avail = project(emb.vectors[rows], method, seed=seed)
    seconds = time.perf_counter() - start
    logger.info("%s projection of %d x %d in %.1fs", method, len(rows), emb.dim, seconds)
    xy = np.full((emb.n_tracks, 2), np.nan, np.float32)
    xy[rows] = xy_avail
    if path is not None:
        arrays = {"xy": xy, "seconds": seconds, "digest": digest, "version": CACHE_VERSION}
        atomic_write_npz(path, arrays)
    return Projection(xy, method, seconds)


def vectors_digest(emb: Embeddings) -> str:
    """What a cached projection was computed from: the vectors and the availability mask."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(emb.vectors, dtype=np.float32).tobytes())
    h.update(np.asarray(emb.available, dtype=bool).tobytes())
    return h.hexdigest()


#: Projections a live page reuses from ``RUN/explore/``, best first.
LIVE_METHODS = ("umap", "tsne", "pca")


def read_cached_projection(emb: Embeddings, cache_dir: Path, digest: str) -> Projection | None:
    """The best projection of ``emb`` cached in ``cache_dir`` (UMAP, then t-SNE, then PCA;
    any seed) that was computed from the same vectors (``digest``); None without one.
    Computes nothing."""
    if not cache_dir.is_dir():
        return None
    for method in LIVE_METHODS:
        for path in sorted(cache_dir.glob(f"{method}-*.npz")):
            cached = _read_projection_file(path, emb, method, digest)
            if cached is not None:
                return cached
    return None
