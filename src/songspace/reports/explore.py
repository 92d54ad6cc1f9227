"""The embedding-space explorer (``songspace explore``): an offline HTML map of the tracks.

One self-contained HTML file: the page's script and style (``reports/explore_assets``,
plain JavaScript drawing on a canvas, no build step, no network) are inlined, and so is
the data, packed to stay small for the 173K-track MPD subset:

* 2-D coordinates per run, quantised to ``uint16`` (a 65,536-step grid over the map);
* metadata deduplicated: artists and genres are tables, tracks carry their codes;
* the ``k`` (10) nearest neighbours *in the embedding space* per track, from the exact
  cosine search the metrics use (:func:`songspace.evaluation.knn.exact_topk`), as
  little-endian ``uint24`` (``uint32`` above 16.7M tracks) track indices, their cosines
  as ``uint8`` over [-1, 1] (a step of 2/255, shown to 2 decimals);
* the run's VRC_genre and genre coherence (computed here, cheaply).

The projection (UMAP with cosine, extra ``explore``; PCA without it; t-SNE on request) is
computed once per run and cached beside it (``RUN/explore/<method>-<seed>.npz``, written
atomically, keyed by the embeddings file's digest). The same page is served live by
``songspace serve`` at ``/explore`` (:func:`live_explorer_html`: the cached projection
or PCA, no packed neighbours), where a click asks the service's ``/tracks/{id}/similar``
endpoint instead. ``genres`` (``--genres``) limits the genre colouring to chosen genres
(:func:`genre_colouring`).
:func:`export_parquet` writes the Embedding Atlas table (``--x x --y y --neighbors
neighbors``).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from songspace._optional import installed, optional_import
from songspace._util import (
    atomic_write_npz,
    atomic_write_parquet,
    atomic_write_text,
    check_output_free,
)
from songspace.data.dataset import Dataset
from songspace.errors import FormatError, ParameterError
from songspace.evaluation.embeddings import Embeddings, load_embeddings
from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)

Method = Literal["auto", "umap", "pca", "tsne"]
METHODS = ("auto", "umap", "pca", "tsne")
#: Neighbours packed per track.
DEFAULT_NEIGHBOURS = 10
#: Genres / artists given their own colour; the rest are "other".
TOP_CATEGORIES = 20
#: Popularity buckets (quantiles of the playlist occurrence count).
POPULARITY_BUCKETS = 5
CACHE_VERSION = 1


@dataclass
class Projection:
    """2-D coordinates of one run's available tracks (NaN rows where unavailable)."""

    xy: np.ndarray
    method: str
    seconds: float
    cached: bool = False


@dataclass
class ExploreRun:
    """One run on the page: its embeddings, projection, neighbours and metrics."""

    name: str
    embeddings: Embeddings
    projection: Projection
    neighbours: np.ndarray
    cosines: np.ndarray
    cold: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ExploreResult:
    """What :func:`run_explore` wrote."""

    path: Path
    runs: list[ExploreRun]
    size_bytes: int
    seconds: dict[str, float]
    parquet: Path | None = None


# ------------------------------------------------------------------ projection


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


# ------------------------------------------------------------------ per-run data


def unseen_in(train: Dataset, dataset: Dataset) -> np.ndarray:
    """Boolean per track of ``dataset``: no occurrence in the training view ``train``."""
    seen = np.zeros(dataset.n_tracks, bool)
    index = dataset.track_index()
    train_ids = train.track_ids[np.unique(train.indices)] if train.n_entries else []
    seen[[index[t] for t in train_ids if t in index]] = True
    return ~seen


def cold_start_tracks(
    dataset: Dataset, *, seed: int = 0, test_fraction: float | None = None, full: bool = False
) -> np.ndarray:
    """Boolean per track: unseen in training under ``songspace train``'s split (same
    ``seed`` / ``test_fraction`` / ``full``): a cold-start track or no training occurrence."""
    if full:
        return unseen_in(dataset, dataset)
    from songspace.data.splits import resolve_test_fraction, split_sequences

    tf = resolve_test_fraction(dataset.n_sequences, test_fraction)
    split = split_sequences(dataset, (1 - 2 * tf, tf, tf), seed=seed)
    return unseen_in(split.training_view(dataset), dataset)


def run_metrics(emb: Embeddings, dataset: Dataset, *, seed: int = 0) -> dict[str, float]:
    """VRC_genre and genre coherence of ``emb`` (NaN where the dataset has no genres)."""
    from songspace.evaluation.clustering import genre_coherence, vrc_genre

    out: dict[str, float] = {}
    for name, fn in (
        ("vrc_genre", lambda: vrc_genre(emb, dataset)),
        ("genre_coherence", lambda: genre_coherence(emb, dataset, seed=seed)),
    ):
        try:
            out[name] = float(fn().value)
        except Exception as exc:  # a metric that does not apply is left out, not fatal
            logger.warning("%s not computed for %s: %s", name, emb.name, exc)
    return out


def neighbours_of(
    emb: Embeddings, k: int, progress: ProgressCallback | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours of every available track (-1 rows elsewhere)."""
    from songspace.evaluation.knn import exact_topk

    k = min(k, int(emb.available.sum()) - 1)
    if k < 1:
        return np.full((emb.n_tracks, 0), -1, np.int64), np.zeros((emb.n_tracks, 0), np.float32)
    ids, scores = exact_topk(emb, np.arange(emb.n_tracks), k, progress=progress)
    return ids, scores


def vectors_digest(emb: Embeddings) -> str:
    """What a cached projection was computed from: the vectors and the availability mask."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(emb.vectors, dtype=np.float32).tobytes())
    h.update(np.asarray(emb.available, dtype=bool).tobytes())
    return h.hexdigest()


def prepare_run(
    emb: Embeddings,
    dataset: Dataset,
    cold: np.ndarray,
    *,
    method: str = "auto",
    k: int = DEFAULT_NEIGHBOURS,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> ExploreRun:
    """Projection (cached in ``cache_dir``), exact neighbours and metrics of ``emb``."""
    if not emb.has_vectors or not emb.available.any():
        raise FormatError(
            f"expected embedding vectors for at least one track in {emb.name}, found none",
            fix="explore a run of an embedding model",
        )
    proj = cached_projection(
        emb, method, seed=seed, cache_dir=cache_dir, digest=vectors_digest(emb)
    )
    ids, cos = neighbours_of(emb, k, progress)
    return ExploreRun(emb.name, emb, proj, ids, cos, cold, run_metrics(emb, dataset, seed=seed))


def load_run(
    run: Path,
    dataset: Dataset,
    *,
    method: str = "auto",
    k: int = DEFAULT_NEIGHBOURS,
    seed: int = 0,
    test_fraction: float | None = None,
    full: bool = False,
    cache: bool = True,
    progress: ProgressCallback | None = None,
) -> ExploreRun:
    """Everything the page shows about one ``songspace train`` run directory."""
    run = Path(run)
    path = run / "embeddings.npz" if run.is_dir() else run
    if not path.is_file():
        raise FormatError(
            "expected a run directory holding embeddings.npz (written by `songspace train`), "
            "found none",
            path=run,
            fix="pass the directory given to `songspace train -o`",
        )
    emb = load_embeddings(path, dataset)
    cold = cold_start_tracks(dataset, seed=seed, test_fraction=test_fraction, full=full)
    return prepare_run(
        emb,
        dataset,
        cold,
        method=method,
        k=k,
        seed=seed,
        cache_dir=path.parent / "explore" if cache else None,
        progress=progress,
    )


# ------------------------------------------------------------------ chosen genres


class UnknownGenreError(ParameterError):
    """A genre asked for with ``--genres`` that no track of the dataset carries."""

    def __init__(self, value: str, close: list[str], n_genres: int):
        self.close = close
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}? "
            if close
            else "no genre of the dataset is close; "
        )
        super().__init__(
            "genres",
            f"genre names the dataset's tracks carry ({n_genres} distinct, matched "
            "case-insensitively against each track's genres)",
            value,
            fix=hint + "pass names as the dataset spells them, comma-separated, "
            'e.g. --genres "jazz,classical,hip hop"',
        )


def _track_genres(dataset: Dataset) -> list[set[str]]:
    """Per track: its genres as the dataset spells them (the ``genres`` list and the
    primary genre), stripped, empty names dropped."""
    t = dataset.tracks
    lists = t["genres"].tolist() if "genres" in t.columns else [[] for _ in range(len(t))]
    prim = t["genre"].tolist() if "genre" in t.columns else [None] * len(t)
    out = []
    for gl, p in zip(lists, prim, strict=True):
        s = {str(g).strip() for g in (gl if gl is not None else [])}
        if isinstance(p, str):
            s.add(p.strip())
        s.discard("")
        out.append(s)
    return out


def parse_genres(genres: str | Sequence[str] | None) -> list[str] | None:
    """``"jazz,classical,hip hop"`` (or a list) -> the distinct names, in order."""
    if genres is None:
        return None
    items = genres.split(",") if isinstance(genres, str) else list(genres)
    names: list[str] = []
    for g in items:
        g = str(g).strip()
        if g and g.lower() not in {n.lower() for n in names}:
            names.append(g)
    if not names:
        raise ParameterError(
            "genres",
            "one or more comma-separated genre names",
            genres,
            fix='e.g. --genres "jazz,classical,hip hop"',
        )
    if len(names) > TOP_CATEGORIES:
        raise ParameterError(
            "genres",
            f"at most {TOP_CATEGORIES} genres (one colour each)",
            len(names),
            fix="pass fewer genres",
        )
    return names


def genre_colouring(dataset: Dataset, genres: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Colour classes for the chosen ``genres``: the labels (the dataset's spelling, in the
    order asked) and a code per track: the first chosen genre, in that order, among the
    track's genres (its ``genres`` list and its primary genre, case-insensitive);
    ``len(labels)`` ("other") for a track with genres but none chosen; -1 ("unknown") for
    a track without genres. Raises :class:`UnknownGenreError` for a name no track carries."""
    names = parse_genres(genres) or []
    per_track = _track_genres(dataset)
    sets = [{g.lower() for g in gs} for gs in per_track]
    spellings: dict[str, dict[str, int]] = {}  # lower-cased -> dataset spelling -> tracks
    for gs in per_track:
        for g in gs:
            d = spellings.setdefault(g.lower(), {})
            d[g] = d.get(g, 0) + 1
    wanted = [n.lower() for n in names]
    for n, w in zip(names, wanted, strict=True):
        if w not in spellings:
            close = difflib.get_close_matches(w, list(spellings), n=5, cutoff=0.6)
            best = [max(spellings[c], key=lambda s: (spellings[c][s], s)) for c in close]
            raise UnknownGenreError(n, best, len(spellings))
    labels = [min(spellings[w], key=lambda s: (-spellings[w][s], s)) for w in wanted]
    codes = np.full(len(sets), -1, np.int16)
    for i, s in enumerate(sets):
        if not s:
            continue
        codes[i] = next((j for j, w in enumerate(wanted) if w in s), len(wanted))
    return labels, codes


# ------------------------------------------------------------------ packing


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _pack_ids(ids: np.ndarray, n: int) -> tuple[str, int]:
    """Track indices (-1 = none, stored as the all-ones value) in 3 bytes, or 4 if needed."""
    width = 3 if n < (1 << 24) - 1 else 4
    u = np.where(ids < 0, (1 << (8 * width)) - 1, ids).astype("<u4")
    raw = u.view(np.uint8).reshape(-1, 4)[:, :width]
    return _b64(raw), width


def _categories(values: list[Any], counts_by: np.ndarray, top: int) -> tuple[list[str], np.ndarray]:
    """Codes into a table of distinct strings (index order = most tracks first);
    ``counts_by`` masks which tracks count towards the order."""
    codes = np.full(len(values), -1, np.int32)
    table: dict[str, int] = {}
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            continue
        s = str(v)
        codes[i] = table.setdefault(s, len(table))
    names = list(table)
    if not names:
        return [], codes
    weight = np.bincount(codes[(codes >= 0) & counts_by], minlength=len(names))
    order = np.lexsort((np.arange(len(names)), -weight))
    remap = np.empty(len(names), np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return [names[j] for j in order], codes


def popularity_buckets(
    counts: np.ndarray, n_buckets: int = POPULARITY_BUCKETS
) -> tuple[np.ndarray, list[str]]:
    """Bucket per track by quantiles of its playlist occurrences (labels give the ranges)."""
    counts = np.asarray(counts, dtype=np.int64)
    edges = np.unique(np.quantile(counts, np.linspace(0, 1, n_buckets + 1)[1:-1]).astype(int))
    bucket = np.searchsorted(edges, counts, side="left").astype(np.int32)
    labels = []
    bounds = [int(counts.min()) if len(counts) else 0, *edges.tolist()]
    for b in range(len(edges) + 1):
        lo = bounds[b] if b == 0 else bounds[b] + 1
        hi = edges[b] if b < len(edges) else (int(counts.max()) if len(counts) else 0)
        labels.append(f"{lo}-{hi} playlists" if lo != hi else f"{lo} playlists")
    return bucket, labels


def _feature_known(dataset: Dataset) -> np.ndarray | None:
    if not dataset.features:
        return None
    known = np.zeros(dataset.n_tracks, bool)
    for g in dataset.features.values():
        if g.name == "popularity":
            continue  # derived from the playlists for every track
        known |= np.asarray(g.known.any(axis=1))
    return known


def build_payload(
    runs: list[ExploreRun],
    dataset: Dataset,
    *,
    live: bool = False,
    title: str = "",
    genres: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The JSON the page reads (see the module docstring for the packing). ``genres``
    (names or ``"jazz,classical,hip hop"``): the genre colouring shows only those
    (:func:`genre_colouring`), the rest as "other"."""
    if not runs:
        raise ParameterError("runs", "at least one run", 0)
    chosen = None
    if genres is not None:
        labels, codes = genre_colouring(dataset, genres)
        chosen = {"labels": labels, "codes": _b64(codes.astype("<i2"))}
    n = dataset.n_tracks
    t = dataset.tracks
    drawn = np.zeros(n, bool)
    for r in runs:
        drawn |= r.embeddings.available
    names = (
        ["" if v is None else str(v) for v in t["track_name"].tolist()]
        if ("track_name" in t.columns)
        else [""] * n
    )
    artists, artist_codes = _categories(
        t["artist_name"].tolist() if "artist_name" in t.columns else [None] * n, drawn, 0
    )
    genre_table, genre_codes = _categories(
        t["genre"].tolist() if "genre" in t.columns else [None] * n, drawn, 0
    )
    bucket, bucket_labels = popularity_buckets(dataset.occurrences())
    known = _feature_known(dataset)
    packed_runs = []
    for r in runs:
        xy = r.projection.xy
        ok = ~np.isnan(xy[:, 0])
        lo = np.nanmin(xy, axis=0) if ok.any() else np.zeros(2)
        hi = np.nanmax(xy, axis=0) if ok.any() else np.ones(2)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        q = np.zeros((n, 2), "<u2")
        q[ok] = np.round((xy[ok] - lo) / span * 65534).astype("<u2")
        q[~ok] = 65535
        kk = r.neighbours.shape[1]
        ids, width = _pack_ids(r.neighbours, n)
        cos = np.clip(np.nan_to_num(r.cosines, neginf=-1.0), -1, 1)
        cos_q = np.round((cos + 1) / 2 * 255).astype(np.uint8)
        packed_runs.append(
            {
                "name": r.name,
                "method": r.projection.method,
                "projection_seconds": round(r.projection.seconds, 3),
                "xy": _b64(q),
                "k": kk,
                "id_width": width,
                "neighbours": ids,
                "cosines": _b64(cos_q),
                "available": _b64(np.packbits(r.embeddings.available, bitorder="little")),
                "cold": _b64(np.packbits(r.cold, bitorder="little")),
                "metrics": {
                    k: (None if np.isnan(v) else round(v, 4)) for k, v in r.metrics.items()
                },
                "coverage": round(r.embeddings.coverage, 4),
            }
        )
    return {
        "version": 1,
        "title": title or " vs ".join(r.name for r in runs),
        "live": live,
        "n": n,
        "track_ids": [str(x) for x in dataset.track_ids.tolist()] if live else None,
        "names": names,
        "artists": artists,
        "artist": _b64(artist_codes.astype("<i4")),
        "genres": genre_table,
        "genre": _b64(genre_codes.astype("<i2" if len(genre_table) < 32000 else "<i4")),
        "genre_width": 2 if len(genre_table) < 32000 else 4,
        "popularity": _b64(bucket.astype(np.uint8)),
        "popularity_labels": bucket_labels,
        "features": None if known is None else _b64(np.packbits(known, bitorder="little")),
        "top": TOP_CATEGORIES,
        "chosen_genres": chosen,
        "runs": packed_runs,
    }


def _asset(name: str) -> str:
    return (
        resources.files("songspace.reports")
        .joinpath("explore_assets", name)
        .read_text(encoding="utf-8")
    )


def explorer_html(payload: dict[str, Any]) -> str:
    """The self-contained page: template with the style, script and data inlined."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    # nothing in the JSON may close the script element
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    page = _asset("explore.html")
    title = str(payload["title"]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        page.replace("/*STYLE*/", _asset("explore.css"))
        .replace("/*SCRIPT*/", _asset("explore.js"))
        .replace("__TITLE__", title)
        .replace("/*DATA*/", data)
    )


def export_parquet(runs: list[ExploreRun], dataset: Dataset, path: str | Path) -> Path:
    """Embedding Atlas table: track id, metadata, ``x``/``y`` and ``neighbors`` (``{"ids",
    "distances"}`` with cosine distance) of the first run; further runs add
    ``x_<name>``/``y_<name>``/``neighbors_<name>``. Rows: tracks available in some run."""
    import pyarrow as pa

    path = Path(path)
    drawn = np.zeros(dataset.n_tracks, bool)
    for r in runs:
        drawn |= r.embeddings.available
    rows = np.flatnonzero(drawn)
    t = dataset.tracks.iloc[rows]
    cols: dict[str, Any] = {}
    for c in ("track_id", "track_name", "artist_name", "genre"):
        if c in t.columns:
            cols[c] = pa.array([None if v is None else str(v) for v in t[c].tolist()], pa.string())
    cols["playlists"] = pa.array(dataset.occurrences()[rows].astype(np.int64))
    ids_arr = dataset.track_ids
    for j, r in enumerate(runs):
        sfx = "" if j == 0 else f"_{r.name}"
        xy = r.projection.xy[rows]
        cols["x" + sfx] = pa.array(xy[:, 0], pa.float32(), from_pandas=True)
        cols["y" + sfx] = pa.array(xy[:, 1], pa.float32(), from_pandas=True)
        neigh = []
        for i in rows:
            ok = r.neighbours[i] >= 0
            neigh.append(
                {
                    "ids": [str(x) for x in ids_arr[r.neighbours[i][ok]].tolist()],
                    "distances": (1.0 - r.cosines[i][ok].astype(np.float64)).tolist(),
                }
                if r.embeddings.available[i]
                else None
            )
        cols["neighbors" + sfx] = pa.array(
            neigh,
            pa.struct([("ids", pa.list_(pa.string())), ("distances", pa.list_(pa.float64()))]),
        )
    return atomic_write_parquet(path, pa.table(cols))


def check_explore_outputs(
    out: Path,
    parquet: str | Path | None,
    *,
    inputs: Sequence[str | Path | None],
    overwrite: bool,
) -> None:
    """The rules of every songspace writer for the page ``out`` and the Parquet export:
    not the same file, neither is, contains or lies inside an input (a run, its
    embeddings, the dataset: ``-o ds/tracks.parquet`` would replace the dataset's
    tracks even with ``--overwrite``), and an existing one needs ``overwrite``."""
    check_output_free(out, overwrite=overwrite, inputs=inputs, inside=True)
    if parquet is None:
        return
    if Path(parquet).expanduser().resolve() == out.expanduser().resolve():
        raise ParameterError(
            "parquet",
            "two different paths for the page (-o) and the Parquet export (--parquet)",
            str(parquet),
            fix="give --parquet a .parquet path of its own",
        )
    check_output_free(parquet, overwrite=overwrite, inputs=inputs, inside=True)


def run_explore(
    runs: list[str | Path],
    data: str | Path | Dataset,
    out: str | Path,
    *,
    method: str = "auto",
    k: int = DEFAULT_NEIGHBOURS,
    seed: int = 0,
    test_fraction: float | None = None,
    full: bool = False,
    parquet: str | Path | None = None,
    genres: str | Sequence[str] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ExploreResult:
    """Write the explorer page ``out`` for one or two runs over ``data`` (the dataset they
    were trained on); ``parquet`` also writes the Embedding Atlas export; ``genres``
    limits the genre colouring to those genres (:func:`genre_colouring`).

    Both outputs are checked before anything is read (:func:`check_explore_outputs`):
    neither may be, contain or lie inside a run or the dataset, and an existing one is
    replaced only with ``overwrite``."""
    if not 1 <= len(runs) <= 2:
        raise ParameterError("runs", "one or two run directories", len(runs))
    if k < 1:
        raise ParameterError("k", "`k >= 1`", k)
    out = Path(out)
    inputs = [*runs, None if isinstance(data, Dataset) else data]
    check_explore_outputs(out, parquet, inputs=inputs, overwrite=overwrite)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    seconds["load"] = time.perf_counter() - start
    if genres is not None:
        genre_colouring(ds, genres)  # an unknown name fails before the projections
    loaded = []
    for r in runs:
        t0 = time.perf_counter()
        er = load_run(
            Path(r),
            ds,
            method=method,
            k=k,
            seed=seed,
            test_fraction=test_fraction,
            full=full,
            progress=progress,
        )
        seconds[f"projection:{er.name}"] = er.projection.seconds
        seconds[f"run:{er.name}"] = time.perf_counter() - t0
        loaded.append(er)
    return write_explorer(loaded, ds, out, parquet=parquet, seconds=seconds, genres=genres)


def write_explorer(
    runs: list[ExploreRun],
    dataset: Dataset,
    out: str | Path,
    *,
    parquet: str | Path | None = None,
    seconds: dict[str, float] | None = None,
    genres: str | Sequence[str] | None = None,
) -> ExploreResult:
    """Write the page (and the Parquet export) for prepared runs; ``genres`` as in
    :func:`build_payload`."""
    seconds = dict(seconds or {})
    out = Path(out)
    if len(runs) == 2 and runs[0].name == runs[1].name:
        runs[1].name += " (2)"
    t0 = time.perf_counter()
    html = explorer_html(build_payload(runs, dataset, genres=genres))
    atomic_write_text(out, html)
    seconds["write"] = time.perf_counter() - t0
    pq_path = export_parquet(runs, dataset, parquet) if parquet is not None else None
    return ExploreResult(out, runs, len(html.encode("utf-8")), seconds, pq_path)


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


def live_explorer_html(
    served: Sequence[Any],
    *,
    genres: str | Sequence[str] | None = None,
    k: int = DEFAULT_NEIGHBOURS,
    seed: int = 0,
    test_fraction: float | None = None,
    full: bool = False,
) -> str:
    """The explorer page of one or two served models (``songspace serve``'s ``/explore``):
    ``served`` are objects with ``name``, ``run`` (a ``songspace train`` directory) and
    ``dataset`` (:class:`~songspace.serving.Recommender`). Each map uses the projection
    cached beside the run (:func:`read_cached_projection`), else PCA (never UMAP or
    t-SNE on a request); nothing is written. No neighbours are packed: a click asks the
    service for ``k`` similar tracks. Cold start as :func:`cold_start_tracks` with
    ``seed`` / ``test_fraction`` / ``full`` (``songspace explore``'s defaults)."""
    if not 1 <= len(served) <= 2:
        raise ParameterError("models", "one or two served models", len(served))
    if k < 1:
        raise ParameterError("k", "`k >= 1`", k)
    ds: Dataset = served[0].dataset
    for other in served[1:]:
        if other.dataset is not ds and not np.array_equal(other.dataset.track_ids, ds.track_ids):
            raise ParameterError(
                "models",
                "models served over the same dataset (one map shares one vocabulary)",
                [s.name for s in served],
                fix="ask for models trained on the same dataset: /explore?models=a,b",
            )
    if genres is not None:
        genre_colouring(ds, genres)  # an unknown name fails before the projections
    cold = cold_start_tracks(ds, seed=seed, test_fraction=test_fraction, full=full)
    none = np.full((ds.n_tracks, 0), -1, np.int64)
    runs = []
    for m in served:
        emb = load_embeddings(Path(m.run) / "embeddings.npz", ds, name=m.name)
        proj = read_cached_projection(emb, Path(m.run) / "explore", vectors_digest(emb))
        if proj is None:
            proj = cached_projection(emb, "pca", seed=seed)  # no cache_dir: nothing written
        metrics = run_metrics(emb, ds, seed=seed)
        runs.append(ExploreRun(m.name, emb, proj, none, np.zeros((ds.n_tracks, 0)), cold, metrics))
    payload = build_payload(runs, ds, live=True, genres=genres)
    payload["live_k"] = int(k)
    return explorer_html(payload)


#: The models the demo's page shows side by side, first found first.
DEMO_PREFERENCE = ("musig", "track2vec", "graphsage", "node2vec")


def explore_compare(
    result: Any,
    out: str | Path,
    *,
    method: str = "auto",
    k: int = DEFAULT_NEIGHBOURS,
    progress: ProgressCallback | None = None,
) -> ExploreResult:
    """The explorer page for two models of a :class:`~songspace.reports.compare.CompareResult`
    (MUSIG and Track2Vec when trained), first seed, cold start from that seed's protocol.
    Projections are cached beside each model in the compare cache."""
    from songspace.models.base import EmbeddingModel
    from songspace.reports.compare import config_protocol, load_dataset

    cfg = result.config
    p = cfg.protocol
    seed = p.seeds[0]
    ds = load_dataset(cfg)
    protocol = config_protocol(ds, p, seed)
    cold = unseen_in(protocol.train, ds)
    models = [m for m in result.models if m.seed == seed]
    models.sort(
        key=lambda m: (
            DEMO_PREFERENCE.index(m.spec.model)
            if m.spec.model in DEMO_PREFERENCE
            else len(DEMO_PREFERENCE)
        )
    )
    runs = []
    for m in models:
        model = EmbeddingModel.load(m.path / "model")
        emb = Embeddings.from_array(
            model.embeddings_,
            ds.n_tracks,
            available=model.available_,
            name=m.spec.name,
            source=f"model {m.spec.name}",
        )
        if not emb.has_vectors or not emb.available.any():
            continue
        runs.append(
            prepare_run(
                emb,
                ds,
                cold,
                method=method,
                k=k,
                seed=seed,
                cache_dir=m.path / "explore",
                progress=progress,
            )
        )
        if len(runs) == 2:
            break
    if not runs:
        raise ParameterError("models", "at least one embedding model in the comparison", 0)
    return write_explorer(runs, ds, out)
