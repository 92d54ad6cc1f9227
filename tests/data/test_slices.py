"""Slices of a dataset in an order (songspace.data.slices, `songspace slice`)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.features import FeatureGroup
from songspace.data.slices import sequence_order, slice_dataset, slice_positions
from songspace.errors import ParameterError

# Five sequences stored out of time order; "s1" and "s3" share their newest time.
SEQS = [["a", "b"], ["b", "c", "d"], ["e"], ["a", "e"], ["c", "f"]]
TIMES = [[5, 50], [10, 20, 30], [1], [7, 30], [40, 45]]


def _dataset(times: list[list[int]] | None = TIMES) -> Dataset:
    ids = ["a", "b", "c", "d", "e", "f"]
    row = {t: i for i, t in enumerate(ids)}
    lengths = [len(s) for s in SEQS]
    n = len(ids)
    return Dataset(
        tracks=make_tracks_table(ids),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([row[t] for s in SEQS for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(SEQS))], dtype=object),
        timestamps=None if times is None else np.asarray([t for s in times for t in s], np.int64),
        features={
            "popularity": FeatureGroup(
                "popularity", ["global"], np.zeros((n, 1), np.float32), np.ones((n, 1), bool)
            )
        },
    )


def _ids(ds: Dataset) -> list[str]:
    return [str(s) for s in ds.sequence_ids]


def test_time_order_is_by_the_newest_entry_with_ties_in_stored_order():
    # newest: s0 50, s1 30, s2 1, s3 30, s4 45
    assert sequence_order(_dataset(), "time").tolist() == [2, 1, 3, 4, 0]


def test_consecutive_slices_partition_the_sequences_in_order():
    ds = _dataset()
    cuts = [0.0, 0.4, 0.6, 0.8, 1.0]
    parts = [slice_dataset(ds, a, b, by="time") for a, b in itertools.pairwise(cuts)]
    assert [_ids(p) for p in parts] == [["s2", "s1"], ["s3"], ["s4"], ["s0"]]


def test_a_slice_holds_only_its_tracks_and_counts_only_its_popularity():
    part = slice_dataset(_dataset(), 0.0, 0.4, by="time")  # s2 = [e], s1 = [b, c, d]
    assert part.tracks["track_id"].tolist() == ["b", "c", "d", "e"]
    assert [part.tracks["track_id"][i] for i in part.sequence(1)] == ["b", "c", "d"]
    assert part.timestamps.tolist() == [1, 10, 20, 30]
    # each of the four tracks is in one of the slice's two sequences (not of the five):
    # global popularity log(1 + 1) / log(1 + 2)
    expected = np.log(2) / np.log(3)
    np.testing.assert_allclose(part.features["popularity"].values[:, 0], [expected] * 4, rtol=1e-6)
    assert part.source["slice"] == {"by": "time", "start": 0.0, "stop": 0.4}
    part.validate()


def test_seeded_order_is_a_permutation_fixed_by_the_seed():
    ds = _dataset()
    a = sequence_order(ds, "seeded", seed=3)
    assert sorted(a.tolist()) == list(range(5))
    assert a.tolist() == sequence_order(ds, "seeded", seed=3).tolist()
    others = {tuple(sequence_order(ds, "seeded", seed=s).tolist()) for s in range(10)}
    assert len(others) > 1
    assert slice_dataset(ds, 0, 0.4, by="seeded", seed=3).source["slice"]["seed"] == 3


def test_a_key_per_sequence_orders_them():
    ds = _dataset(None)
    assert sequence_order(ds, np.array([0.5, 0.0, 0.9, 0.0, 0.1])).tolist() == [1, 3, 4, 0, 2]
    with pytest.raises(ParameterError, match="one key per sequence"):
        sequence_order(ds, np.zeros(3))


def test_time_order_without_timestamps_says_what_to_do():
    with pytest.raises(ParameterError, match="seeded"):
        sequence_order(_dataset(None), "time")
    assert sequence_order(_dataset(None), "stored").tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("start", "stop"), [(0.5, 0.5), (0.6, 0.2), (-0.1, 0.5), (0.2, 1.5)])
def test_bad_shares_are_refused(start, stop):
    with pytest.raises(ParameterError):
        slice_positions(10, start, stop)


def test_an_empty_slice_is_refused():
    with pytest.raises(ParameterError, match="at least one"):
        slice_dataset(_dataset(), 0.0, 0.1)  # floor(0.5) = 0: no sequence


def test_slice_command_writes_a_dataset_and_never_writes_into_its_input(tmp_path):
    data = _dataset().save(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "songspace.cli", "slice", str(data), *args]
        return subprocess.run(cmd, capture_output=True, text=True)

    done = run("-o", str(tmp_path / "day"), "--start", "0.8", "--stop", "1", "--by", "time")
    assert done.returncode == 0, done.stderr
    day = Dataset.load(tmp_path / "day")
    assert _ids(day) == ["s0"]
    assert day.tracks["track_id"].tolist() == ["a", "b"]
    inside = run("-o", str(data / "day"), "--start", "0", "--stop", "1")
    assert inside.returncode == 1 and "Traceback" not in inside.stderr
    assert not (data / "day").exists()
    bad = run("-o", str(tmp_path / "x"), "--start", "0", "--stop", "1", "--by", "newest")
    assert bad.returncode == 1 and "--by" in bad.stderr
