"""``songspace tune-rankers``: load, tune the baseline rankers, write their settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from songspace._util import check_output_free
from songspace.data.dataset import Dataset
from songspace.data.splits import DEFAULT_MIN_TRACKS, resolve_test_fraction
from songspace.evaluation.suite import DEFAULT_SUITE
from songspace.progress import ProgressCallback
from songspace.tuning.rankers import RankerTuning, check_task, tune_rankers, write_ranker_settings

__all__ = ["run_tune_rankers"]


def run_tune_rankers(
    dataset_dir: str | Path,
    out: str | Path,
    *,
    task: str = "next_song",
    rankers: Sequence[str] | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    k: int = DEFAULT_SUITE.k,
    max_pairs: int | None = DEFAULT_SUITE.next_song_max_pairs,
    test: bool = True,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> RankerTuning:
    """What ``songspace tune-rankers`` runs: :func:`songspace.tuning.rankers.tune_rankers`
    on the dataset at ``dataset_dir`` (``test_fraction``: the validation and test share
    each; None: as ``evaluate`` chooses it), written to ``out`` (JSON, atomically)."""
    check_task(task)
    check_output_free(out, overwrite=overwrite, inputs=(dataset_dir,))
    ds = Dataset.load(dataset_dir)
    fraction = resolve_test_fraction(ds.n_sequences, test_fraction)
    result = tune_rankers(
        ds,
        task,
        rankers=rankers,
        seed=seed,
        heldout_fraction=fraction,
        min_tracks=min_tracks,
        settings=replace(DEFAULT_SUITE, k=k, next_song_max_pairs=max_pairs),
        test=test,
        progress=progress,
    )
    result.protocol["dataset"] = str(dataset_dir)
    write_ranker_settings(result, out)
    return result
