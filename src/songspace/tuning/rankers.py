"""Tuning the non-embedding rankers on the validation split (issue 30, part 1).

A win over an untuned baseline counts for nothing: :func:`tune_rankers` gives each
baseline ranker of :data:`songspace.evaluation.rankers.BASELINE_RANKERS` (item-kNN, SKNN,
V-SKNN, STAN, VSTAN, bigram) one configuration per dataset and task, chosen on the
validation protocol of :func:`songspace.tuning.tuning_protocols` (seed 0 by default):

- ``next_song``: out-of-set next-song HitRate@k (k = 100 by default), the pairs of the
  validation sequences;
- ``completion``: completion HR of the validation playlists.

Each ranker tries every point of its declared grid (``grid_points``: the defaults, the
product of ``search_grid``, the literature's ``starting_points``; parameters that cannot
act on the task or the data held at their defaults), keeps the best (ties: the earlier
point, so the default wins a tie), and, with ``test=True``, scores the chosen and the
default settings once on the test protocol, for the report. The test split never
chooses anything.

:func:`write_ranker_settings` writes the result as the JSON file that ``songspace
evaluate --rankers-config`` reads (:func:`songspace.evaluation.rankers.read_ranker_settings`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songspace._util import atomic_write_text, to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.splits import DEFAULT_MIN_TRACKS
from songspace.errors import ParameterError
from songspace.evaluation import completion, next_song
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.next_song import sample_pairs
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.rankers import (
    BASELINE_RANKERS,
    RANKER_SETTINGS_FORMAT,
    RANKER_SETTINGS_VERSION,
    Ranker,
    make_ranker,
    ranker_names,
)
from songspace.evaluation.suite import DEFAULT_SUITE, SuiteSettings
from songspace.progress import ProgressCallback, report
from songspace.tuning.protocols import tuning_protocols
from songspace.tuning.settings import RANKER_TASKS

__all__ = ["RANKER_TASKS", "RankerChoice", "RankerTuning", "tune_rankers", "write_ranker_settings"]

logger = logging.getLogger(__name__)

#: The validation and test share each of :func:`tune_rankers`' own split (90/5/5).
RANKER_HELDOUT_FRACTION = 0.05


@dataclass
class RankerChoice:
    """One ranker's tuning: the chosen and default settings, their values, every point."""

    name: str
    chosen: dict[str, Any]
    default: dict[str, Any]
    validation: float
    default_validation: float
    #: every grid point tried, in order: ``{"params": {...}, "validation": value}``
    grid: list[dict[str, Any]]
    test: float | None = None
    default_test: float | None = None
    seconds: float = 0.0


@dataclass
class RankerTuning:
    """What :func:`tune_rankers` returns (and :func:`write_ranker_settings` writes)."""

    task: str
    metric: str
    protocol: dict[str, Any]
    rankers: dict[str, RankerChoice] = field(default_factory=dict)

    def settings(self) -> dict[str, dict[str, Any]]:
        """The chosen settings per ranker (what ``evaluate --rankers-config`` applies)."""
        return {n: dict(c.chosen) for n, c in self.rankers.items()}

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "format": RANKER_SETTINGS_FORMAT,
                "format_version": RANKER_SETTINGS_VERSION,
                "task": self.task,
                "metric": self.metric,
                "protocol": self.protocol,
                "rankers": self.settings(),
                "tuning": {
                    n: {
                        "default": c.default,
                        "validation": c.validation,
                        "default_validation": c.default_validation,
                        "test": c.test,
                        "default_test": c.default_test,
                        "seconds": round(c.seconds, 1),
                        "grid": c.grid,
                    }
                    for n, c in self.rankers.items()
                },
            }
        )


def task_value(protocol: Protocol, ranker: Ranker, task: str, settings: SuiteSettings) -> float:
    """The task's metric (:data:`RANKER_TASKS`) of ``ranker`` (built from ``protocol``'s
    training view) on ``protocol``, computed as ``songspace evaluate`` computes it."""
    emb = Embeddings.from_ranker(ranker, protocol.dataset.n_tracks)
    if task == "next_song":
        q, t, _ = sample_pairs(protocol.out_of_set, settings.next_song_max_pairs, protocol.seed)
        res = next_song.next_song(emb, q, t, k=settings.k, prefix="next_song_out_of_set")
    else:
        res = completion.playlist_completion(
            protocol.dataset,
            emb,
            protocol.completion,
            seed_fraction=settings.seed_fraction,
            seed=protocol.seed,
        )
    return float(next(r.value for r in res if r.name == RANKER_TASKS[task]))


def check_task(task: str) -> str:
    if task not in RANKER_TASKS:
        raise ParameterError(
            "task",
            f"one of {', '.join(RANKER_TASKS)}",
            task,
            fix="tune once per task: --task next_song, then --task completion",
        )
    return task


def tune_rankers(
    dataset: Dataset,
    task: str,
    *,
    rankers: Sequence[str] | None = None,
    seed: int = 0,
    heldout_fraction: float = RANKER_HELDOUT_FRACTION,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    settings: SuiteSettings | None = None,
    test: bool = True,
    progress: ProgressCallback | None = None,
) -> RankerTuning:
    """Choose each ranker's settings from its declared grid on the validation protocol
    (module docstring). ``rankers``: names (default: every baseline ranker);
    ``heldout_fraction``: the validation and test share each (0.05: 90/5/5);
    ``test``: also score the chosen and the default settings on the test protocol."""
    check_task(task)
    names = ranker_names(rankers)
    st = settings or DEFAULT_SUITE
    tp = tuning_protocols(
        dataset, seed=seed, heldout_fraction=heldout_fraction, min_tracks=min_tracks
    )
    val = tp.validation
    single = task == "next_song"
    has_time = val.train.timestamps is not None
    most = int(val.train.occurrences().max(initial=0)) if single else val.train.n_sequences
    grids = {
        n: BASELINE_RANKERS[n].grid_points(
            single_seed=single, has_timestamps=has_time, max_candidates=most
        )
        for n in names
    }
    total = sum(len(g) for g in grids.values())
    summary = {
        **val.summary(),
        "heldout_fraction": heldout_fraction,
        "k": st.k,
        "next_song_max_pairs": st.next_song_max_pairs,
        "has_timestamps": has_time,
    }
    out = RankerTuning(task, RANKER_TASKS[task], summary)
    done = 0
    for name in names:
        t0 = time.perf_counter()
        base: Any = make_ranker(name, val.train)  # built once, then re-set per grid point
        points = []
        for params in grids[name]:
            report(progress, done, total, f"{name}: {_short(params)}")
            value = task_value(val, base.with_params(params), task, st)
            points.append({"params": params, "validation": value})
            done += 1
            logger.info("%s %s: validation %s = %.4f", name, params, RANKER_TASKS[task], value)
        best = max(range(len(points)), key=lambda i: (points[i]["validation"], -i))
        choice = RankerChoice(
            name,
            chosen=dict(points[best]["params"]),
            default=dict(points[0]["params"]),
            validation=points[best]["validation"],
            default_validation=points[0]["validation"],
            grid=points,
        )
        if test:
            if tp.test.train is not val.train:  # a sampled validation view (not used here)
                base = make_ranker(name, tp.test.train)
            choice.test = task_value(tp.test, base.with_params(choice.chosen), task, st)
            choice.default_test = (
                choice.test
                if choice.chosen == choice.default
                else task_value(tp.test, base.with_params(choice.default), task, st)
            )
        choice.seconds = time.perf_counter() - t0
        out.rankers[name] = choice
    report(progress, total, total, "done")
    return out


def _short(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"


def write_ranker_settings(tuning: RankerTuning, path: str | Path) -> Path:
    """Write ``tuning`` as a ranker settings file (JSON, atomically)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(tuning.to_json(), indent=2) + "\n")
    return path
