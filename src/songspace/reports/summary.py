"""Dataset inspection (``songspace info``) and the end-to-end demo (``songspace demo``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from songspace.data.dataset import Dataset
from songspace.data.splits import DEFAULT_MIN_TRACKS
from songspace.errors import ParameterError
from songspace.graph import edge_counts_by_threshold
from songspace.graph.defaults import DEFAULT_MIN_WEIGHT, DEFAULT_THRESHOLDS
from songspace.progress import ProgressCallback
from songspace.reports.defaults import DEMO_OUT, DEMO_PLAYLISTS, DEMO_TRACKS

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


def demo_config(
    data: str | Path | None = None,
    *,
    n_playlists: int = DEMO_PLAYLISTS,
    n_tracks: int = DEMO_TRACKS,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    seed: int = 0,
):
    """The demo experiment: every registered model with small settings, every metric
    family the data supports, on ``data`` or the synthetic dataset."""
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
    doc = {
        "name": "demo",
        "description": "songspace demo: every registered model with small settings, evaluated "
        "on the same queries with the random and popularity baselines.",
        "dataset": (
            {"synthetic": {"n_playlists": n_playlists, "n_tracks": n_tracks, "seed": seed}}
            if data is None
            else {"path": str(Path(data).resolve())}
        ),
        "protocol": {
            "seeds": [seed],
            "test_fraction": 0.1,
            "min_tracks": min_tracks,
            "hardneg_threshold": 100.0,
            "hardneg_min_count": 2,
            "pairs_per_cell": 300,
        },
        "report": {"title": "songspace demo"},
        "models": models,
    }
    return parse_config(doc)


def run_demo(
    data: str | Path | None = None,
    *,
    out: str | Path = DEMO_OUT,
    n_playlists: int = DEMO_PLAYLISTS,
    n_tracks: int = DEMO_TRACKS,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    seed: int = 0,
    progress: ProgressCallback | None = None,
):
    """The small end-to-end comparison (``songspace demo``): train every registered model
    with small settings on ``data`` (or the synthetic dataset), evaluate them together and
    write the tables and the HTML report under ``out`` (models cached there, so a second
    run only re-evaluates). Returns the :class:`~songspace.reports.compare.CompareResult`."""
    from songspace.reports.compare import run_compare

    cfg = demo_config(
        data,
        n_playlists=n_playlists,
        n_tracks=n_tracks,
        min_weight=min_weight,
        min_tracks=min_tracks,
        seed=seed,
    )
    res = run_compare(cfg, out, progress=progress)
    # the demo ends with the explorer page of its models (MUSIG and Track2Vec side by side)
    from songspace.reports.explore import explore_compare

    page = explore_compare(res, Path(out) / "explore.html", progress=progress)
    res.explore = page.path
    return res
