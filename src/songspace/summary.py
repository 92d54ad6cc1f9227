"""Dataset inspection (``songspace info``) and the end-to-end demo (``songspace demo``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from songspace.data.dataset import Dataset
from songspace.data.splits import completion_playlists, split_sequences
from songspace.errors import ParameterError
from songspace.graph import build_cooccurrence, edge_counts_by_threshold

logger = logging.getLogger("songspace")

DEFAULT_THRESHOLDS = (1, 2, 3, 5, 10)


def dataset_info(
    dataset: Dataset | str | Path, *, thresholds: Sequence[int] = DEFAULT_THRESHOLDS
) -> dict[str, Any]:
    """Counts, feature coverage (by level, when metadata was joined) and graph size per
    min_weight."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    t0 = time.perf_counter()
    counts = edge_counts_by_threshold(ds, thresholds=tuple(thresholds))
    return {
        "summary": ds.summary(),
        "coverage_levels": ds.source.get("coverage", {}),
        "graph": {int(t): {"edges": int(e), "nodes": int(n)} for t, (e, n) in counts.items()},
        "graph_seconds": time.perf_counter() - t0,
    }


def genre_assortativity(ds: Dataset, adjacency) -> tuple[float, float]:
    """Share of edge weight joining tracks of the same primary genre, and its expectation
    if edges ignored genre (sum of squared weight shares per genre)."""
    genre = ds.tracks["genre"].to_numpy(dtype=object)
    coo = adjacency.tocoo()
    gu, gv = genre[coo.row], genre[coo.col]
    known = np.array([a is not None and b is not None for a, b in zip(gu, gv, strict=True)], bool)
    if not known.any():
        return float("nan"), float("nan")
    w = coo.data[known].astype(np.float64)
    same = float(w[gu[known] == gv[known]].sum() / w.sum())
    strength = np.asarray(adjacency.sum(axis=1)).ravel()
    codes = {g: i for i, g in enumerate(sorted({g for g in genre if g is not None}))}
    per_genre = np.zeros(len(codes))
    for i, g in enumerate(genre):
        if g is not None:
            per_genre[codes[g]] += strength[i]
    share = per_genre / per_genre.sum()
    return same, float((share**2).sum())


def run_demo(
    data: str | Path | None = None,
    *,
    n_playlists: int = 3000,
    n_tracks: int = 4000,
    min_weight: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Load ``data`` (or generate the synthetic dataset), split it and build its graph.

    Returns the dataset summary, the split sizes, and graph statistics including
    how strongly co-occurrence edges stay inside a genre (the planted structure).
    """
    if min_weight < 1:
        raise ParameterError("min_weight", "`min_weight >= 1`", min_weight)
    t0 = time.perf_counter()
    if data is None:
        from songspace.data.synthetic import generate

        ds = generate(n_playlists, n_tracks, seed=seed)
    else:
        ds = Dataset.load(data)
    load_s = time.perf_counter() - t0
    split = split_sequences(ds, seed=seed, cold_start_share=0.05)
    completion = completion_playlists(ds, split, part="test")
    train = split.train_dataset(ds)
    t1 = time.perf_counter()
    graph = build_cooccurrence(train, min_weight=min_weight, progress=progress)
    graph_s = time.perf_counter() - t1
    same, expected = genre_assortativity(ds, graph.adjacency)
    degree = graph.degree
    active = degree > 0
    return {
        "summary": ds.summary(),
        "load_seconds": load_s,
        "split": {
            "train": len(split.train),
            "validation": len(split.validation),
            "test": len(split.test),
            "completion_test_playlists": len(completion),
            "cold_start_tracks": len(split.cold_tracks),
            "train_entries": train.n_entries,
        },
        "graph": {
            "min_weight": min_weight,
            "nodes_with_edges": int(active.sum()),
            "edges": graph.n_edges,
            "mean_degree": float(degree[active].mean()) if active.any() else 0.0,
            "max_degree": int(degree.max()) if len(degree) else 0,
            "seconds": graph_s,
            "same_genre_weight_share": same,
            "same_genre_share_if_random": expected,
        },
    }
