"""Dataset inspection (``songspace info``) and the end-to-end demo (``songspace demo``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from songspace._optional import optional_import
from songspace.data.dataset import Dataset
from songspace.data.splits import DEFAULT_MIN_TRACKS
from songspace.errors import MissingDependencyError, ParameterError
from songspace.graph import edge_counts_by_threshold
from songspace.graph.defaults import DEFAULT_MIN_WEIGHT, DEFAULT_THRESHOLDS
from songspace.progress import ProgressCallback
from songspace.reports.defaults import DEMO_OUT, DEMO_PLAYLISTS, DEMO_SEQUENTIAL, DEMO_TRACKS

logger = logging.getLogger(__name__)


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


#: Small settings per model for the demo (a few seconds each on 2 cores); parameters a
#: model does not have are dropped, models not listed train with their defaults.
DEMO_PARAMS: dict[str, dict[str, Any]] = {
    "track2vec": {"dim": 32, "epochs": 5},
    "track2vec_feature": {"dim": 32, "epochs": 5},
    "node2vec": {"dim": 32, "walks_per_node": 4, "walk_length": 20},
    "warp": {"dim": 32, "epochs": 10},
    "graphsage": {"dim": 32, "hidden": 64, "epochs": 3},
    "musig": {"dim": 32, "hidden": 64, "epochs": 3},
}


#: The demo's counting baselines, rows beside the models: session kNN (tracks that share
#: sessions with the query; also the recommender's main generator) and the bigram counter
#: (the tracks that followed the query in training: order alone).
DEMO_RANKERS = ("sknn", "bigram")

#: The embeddings the demo's recommender uses, as candidate generator and as features (the
#: ``[[models]]`` rows of :func:`demo_config`; named in its parameters too, so that its
#: settings line reads them).
DEMO_RECOMMENDER_EMBEDDINGS = ["track2vec"]

#: The demo's two-stage recommender (an experiment's ``[recommender]`` table;
#: docs/recommender.md), with settings small enough for the demo: stage 1 at the library's
#: default depth (a shallower one reaches fewer completion targets), fewer popular tracks,
#: training queries and boosting rounds, and one LightGBM thread (the evaluation scores one
#: query at a time, where a thread pool per prediction costs more than it saves).
DEMO_RECOMMENDER: dict[str, Any] = {
    "name": "twostage",
    "embeddings": DEMO_RECOMMENDER_EMBEDDINGS,
    "params": {
        "popular": 20,
        "embedding_generators": DEMO_RECOMMENDER_EMBEDDINGS,
        "embedding_features": DEMO_RECOMMENDER_EMBEDDINGS,
        "next_song_queries": 1000,
        "completion_queries": 200,
        "num_iterations": 100,
        "early_stopping_rounds": 20,
        "min_data_in_leaf": 20,
        "num_threads": 1,
    },
}


def demo_recommender() -> tuple[dict[str, Any] | None, str | None]:
    """The demo's ``[recommender]`` table, or None and why not (LightGBM, extra
    ``recommender``, is not installed: the demo then runs without that row)."""
    try:
        optional_import("lightgbm", "the two-stage recommender row")
    except MissingDependencyError as exc:
        return None, str(exc)
    return DEMO_RECOMMENDER, None


def demo_config(
    data: str | Path | None = None,
    *,
    n_playlists: int = DEMO_PLAYLISTS,
    n_tracks: int = DEMO_TRACKS,
    sequential: float = DEMO_SEQUENTIAL,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    seed: int = 0,
    recommender: dict[str, Any] | None = DEMO_RECOMMENDER,
):
    """The demo experiment: every registered model with small settings, the random and
    popularity baselines, the counting baselines :data:`DEMO_RANKERS` and, unless
    ``recommender`` is None, the two-stage recommender (:data:`DEMO_RECOMMENDER`), with
    every metric family the data supports, on ``data`` or the synthetic dataset
    (``sequential``: its sequential signal, :func:`songspace.data.synthetic.generate`)."""
    from songspace.models.registry import available_models, get_model_class
    from songspace.reports.config import parse_config

    if min_weight < 1:
        raise ParameterError("min_weight", "`min_weight >= 1`", min_weight)
    models = []
    for name in available_models():
        defaults = get_model_class(name).default_params()
        params = {k: v for k, v in DEMO_PARAMS.get(name, {}).items() if k in defaults}
        if "min_weight" in defaults:
            params["min_weight"] = min_weight
        models.append({"name": name, "model": name, "label": name.upper(), "params": params})
    synthetic = {
        "n_playlists": n_playlists,
        "n_tracks": n_tracks,
        "sequential": sequential,
        "seed": seed,
    }
    dataset = {"synthetic": synthetic} if data is None else {"path": str(Path(data).resolve())}
    doc: dict[str, Any] = {
        "name": "demo",
        "description": "songspace demo: every registered model with small settings, evaluated "
        "on the same queries with the random and popularity baselines, the counting "
        "baselines and the two-stage recommender.",
        "dataset": dataset,
        "protocol": {
            "seeds": [seed],
            "test_fraction": 0.1,
            "min_tracks": min_tracks,
            "hardneg_threshold": 100.0,
            "hardneg_min_count": 2,
            "pairs_per_cell": 300,
            "rankers": list(DEMO_RANKERS),
        },
        "report": {"title": "songspace demo"},
        "models": models,
    }
    if recommender is not None:
        doc["recommender"] = recommender
    return parse_config(doc)


def run_demo(
    data: str | Path | None = None,
    *,
    out: str | Path = DEMO_OUT,
    n_playlists: int = DEMO_PLAYLISTS,
    n_tracks: int = DEMO_TRACKS,
    sequential: float = DEMO_SEQUENTIAL,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    seed: int = 0,
    progress: ProgressCallback | None = None,
):
    """The small end-to-end comparison (``songspace demo``): train every registered model
    with small settings on ``data`` (or the synthetic dataset with the sequential signal
    ``sequential``), fit the two-stage recommender, evaluate them together with the
    baselines and write the tables and the HTML report under ``out`` (models cached there,
    so a second run trains only the recommender again). Without LightGBM the recommender's
    row is left out and ``skipped`` says why. Returns the
    :class:`~songspace.reports.compare.CompareResult`."""
    from songspace.reports.compare import run_compare

    recommender, missing = demo_recommender()
    cfg = demo_config(
        data,
        n_playlists=n_playlists,
        n_tracks=n_tracks,
        sequential=sequential,
        min_weight=min_weight,
        min_tracks=min_tracks,
        seed=seed,
        recommender=recommender,
    )
    res = run_compare(cfg, out, progress=progress)
    if missing is not None:
        res.skipped[DEMO_RECOMMENDER["name"]] = missing
    # the demo ends with the explorer page of its models (MUSIG and Track2Vec side by side)
    from songspace.reports.explore import explore_compare

    page = explore_compare(res, Path(out) / "explore.html", progress=progress)
    res.explore = page.path
    return res


#: The next-song metrics the demo's closing lines quote (in-set, out-of-set).
_NEXT_SONG_HR = ("next_song_in_set_hit_rate", "next_song_out_of_set_hit_rate")


def demo_notes(res: Any) -> list[str]:
    """What the rows of a demo's table show, in sentences, and the next-song HitRate of
    the recommender, the baselines and the best model, read from ``res`` (a
    :class:`~songspace.reports.compare.CompareResult` of :func:`run_demo`)."""
    cfg = res.config
    models = [m.name for m in cfg.models]
    lines = [
        "What the rows show:",
        "- random, popularity: the yardsticks (a random vector per track; the most popular "
        "training tracks).",
    ]
    rankers = list(cfg.protocol.rankers)
    if rankers:
        lines.append(
            f"- {', '.join(rankers)}: counting baselines without embeddings (sknn: tracks "
            "that share training sequences with the seeds; bigram: the tracks that followed "
            "the last seed in training)."
        )
    lines.append(f"- {', '.join(models)}: each model's embeddings, ranked by cosine similarity.")
    rec = cfg.recommender
    if rec is not None:
        from songspace.recommender import DEFAULT_RANKERS

        used = ", ".join(rec.embeddings or models)
        lines.append(
            f"- {rec.name}: the two-stage recommender (docs/recommender.md): candidates from "
            f"{', '.join(DEFAULT_RANKERS)}, the successors of the last seed, {used}'s "
            "neighbours and the popular tracks, re-ranked by a LightGBM model fitted on the "
            "validation sequences."
        )
    sequential = (cfg.dataset.synthetic or {}).get("sequential", 0)
    if sequential:
        lines.append(
            f"The synthetic playlists follow a Markov chain per genre (sequential "
            f"{sequential:g}): the next track depends on the current one, which "
            "next-song rewards, popularity and an embedding's cosine hardly see, and the "
            "counts and the recommender read."
        )
    figures = _next_song_figures(res, rankers, models, rec.name if rec is not None else None)
    if figures:
        lines.append(f"Next-song HitRate@{cfg.protocol.k} (in-set / out-of-set): {figures}.")
    return lines


def _next_song_figures(
    res: Any, rankers: Sequence[str], models: Sequence[str], recommender: str | None
) -> str:
    """``"twostage 0.65 / 0.62, sknn ..., popularity ..., best model warp ..."`` from the
    main table's results; empty when next-song was not evaluated."""
    by_model = {r.model: r.metrics for r in res.results[res.config.protocol.seed_fractions[0]]}

    def pair(name: str) -> tuple[float, float] | None:
        m = by_model.get(name, {})
        if not all(k in m for k in _NEXT_SONG_HR):
            return None
        return m[_NEXT_SONG_HR[0]].value, m[_NEXT_SONG_HR[1]].value

    named = [n for n in (recommender, *rankers, "popularity") if n is not None]
    parts = [f"{n} {v[0]:.2f} / {v[1]:.2f}" for n in named if (v := pair(n)) is not None]
    scored = [(v, n) for n in models if (v := pair(n)) is not None]
    if scored:
        (v, best) = max(scored)
        parts.append(f"best model {best} {v[0]:.2f} / {v[1]:.2f}")
    return ", ".join(parts)
