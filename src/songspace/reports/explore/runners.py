"""What the explorer computes per run (cold-start tracks, exact neighbours, metrics,
the cached projection) and the runners: ``songspace explore`` (:func:`run_explore`),
the live page of ``songspace serve`` (:func:`live_explorer_html`) and the demo's page
(:func:`explore_compare`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_write_text, check_output_free
from songspace.data.dataset import Dataset
from songspace.errors import FormatError, ParameterError
from songspace.evaluation.embeddings import Embeddings, load_embeddings
from songspace.progress import ProgressCallback
from songspace.reports.defaults import DEFAULT_NEIGHBOURS, DEFAULT_PROJECTION
from songspace.reports.explore.page import (
    ExploreRun,
    build_payload,
    explorer_html,
    export_parquet,
    genre_colouring,
)
from songspace.reports.explore.projection import (
    cached_projection,
    read_cached_projection,
    vectors_digest,
)

logger = logging.getLogger(__name__)


@dataclass
class ExploreResult:
    """What :func:`run_explore` wrote."""

    path: Path
    runs: list[ExploreRun]
    size_bytes: int
    seconds: dict[str, float]
    parquet: Path | None = None


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


def prepare_run(
    emb: Embeddings,
    dataset: Dataset,
    cold: np.ndarray,
    *,
    method: str = DEFAULT_PROJECTION,
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
    method: str = DEFAULT_PROJECTION,
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
    method: str = DEFAULT_PROJECTION,
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
    method: str = DEFAULT_PROJECTION,
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
