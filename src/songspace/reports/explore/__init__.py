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

The code is in three modules: :mod:`~songspace.reports.explore.projection` (the 2-D
projection and its cache), :mod:`~songspace.reports.explore.page` (colouring, packing,
the HTML page and the Parquet export) and :mod:`~songspace.reports.explore.runners`
(per-run data and the runners); their public names are importable from here.
"""

from songspace.reports.explore.page import (
    POPULARITY_BUCKETS,
    TOP_CATEGORIES,
    ExploreRun,
    UnknownGenreError,
    build_payload,
    explorer_html,
    export_parquet,
    genre_colouring,
    parse_genres,
    popularity_buckets,
)
from songspace.reports.explore.projection import (
    CACHE_VERSION,
    LIVE_METHODS,
    METHODS,
    Method,
    Projection,
    cached_projection,
    pca_2d,
    project,
    read_cached_projection,
    resolve_method,
    vectors_digest,
)
from songspace.reports.explore.runners import (
    DEFAULT_NEIGHBOURS,
    DEMO_PREFERENCE,
    ExploreResult,
    check_explore_outputs,
    cold_start_tracks,
    explore_compare,
    live_explorer_html,
    load_run,
    neighbours_of,
    prepare_run,
    run_explore,
    run_metrics,
    unseen_in,
    write_explorer,
)

__all__ = [
    "CACHE_VERSION",
    "DEFAULT_NEIGHBOURS",
    "DEMO_PREFERENCE",
    "LIVE_METHODS",
    "METHODS",
    "POPULARITY_BUCKETS",
    "TOP_CATEGORIES",
    "ExploreResult",
    "ExploreRun",
    "Method",
    "Projection",
    "UnknownGenreError",
    "build_payload",
    "cached_projection",
    "check_explore_outputs",
    "cold_start_tracks",
    "explore_compare",
    "explorer_html",
    "export_parquet",
    "genre_colouring",
    "live_explorer_html",
    "load_run",
    "neighbours_of",
    "parse_genres",
    "pca_2d",
    "popularity_buckets",
    "prepare_run",
    "project",
    "read_cached_projection",
    "resolve_method",
    "run_explore",
    "run_metrics",
    "unseen_in",
    "vectors_digest",
    "write_explorer",
]
