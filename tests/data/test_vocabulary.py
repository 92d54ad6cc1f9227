"""Datasets on one growing vocabulary (songspace.data.vocabulary): the data side of updates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.features import FeatureGroup
from songspace.data.vocabulary import (
    concat_sequences,
    extend_vocabulary,
    merge_counts,
    occurring_only,
    sequence_keys,
)
from songspace.errors import ParameterError


def _dataset(seqs: list[list[str]], ids: list[str], *, names: list[str] | None = None) -> Dataset:
    """Sequences of track ids over the vocabulary ``ids``, one feature group 'f' whose
    value is the track's position in ``ids`` / 10."""
    row = {t: i for i, t in enumerate(ids)}
    lengths = [len(s) for s in seqs]
    n = len(ids)
    return Dataset(
        tracks=make_tracks_table(ids, track_names=[f"name {t}" for t in ids]),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([row[t] for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray(names or [f"s{i}" for i in range(len(seqs))], dtype=object),
        features={
            "f": FeatureGroup(
                "f", ["x"], (np.arange(n, dtype=np.float32) / 10)[:, None], np.ones((n, 1), bool)
            )
        },
    )


def _tracks(ds: Dataset, s: int) -> list[str]:
    return ds.tracks["track_id"].to_numpy()[ds.sequence(s)].tolist()


def test_extend_vocabulary_keeps_the_known_rows_and_appends_the_new_tracks():
    base = _dataset([["a", "b"], ["b", "c"]], ["a", "b", "c"])
    other = _dataset([["d", "b", "e"]], ["e", "b", "d"], names=["n0"])
    grown_base, grown_other = extend_vocabulary(base, other)
    # base's rows first, then other's unknown tracks in other's order (e before d)
    assert grown_base.tracks["track_id"].tolist() == ["a", "b", "c", "e", "d"]
    assert grown_other.tracks["track_id"].tolist() == ["a", "b", "c", "e", "d"]
    assert grown_base.tracks["track_name"].tolist()[3:] == ["name e", "name d"]
    np.testing.assert_array_equal(grown_base.indices, base.indices)
    assert _tracks(grown_other, 0) == ["d", "b", "e"]
    assert grown_other.sequence_ids.tolist() == ["n0"]
    # the new tracks' feature rows come from other (e: row 0 there, d: row 2)
    np.testing.assert_allclose(grown_other.features["f"].values[:, 0], [0, 0.1, 0.2, 0.0, 0.2])
    grown_base.validate()
    grown_other.validate()


def test_a_feature_group_the_new_data_lacks_is_unknown_for_its_new_tracks():
    base = _dataset([["a", "b"]], ["a", "b"])
    other = _dataset([["b", "z"]], ["b", "z"])
    other.features = {}
    grown, _ = extend_vocabulary(base, other)
    np.testing.assert_array_equal(grown.features["f"].known[:, 0], [True, True, False])


def test_concat_sequences_is_the_union_on_the_second_vocabulary():
    base = _dataset([["a", "b"], ["b", "c"]], ["a", "b", "c"])
    grown_base, other = extend_vocabulary(base, _dataset([["d", "a"]], ["d", "a"], names=["x"]))
    union = concat_sequences(grown_base, other)
    assert [_tracks(union, s) for s in range(3)] == [["a", "b"], ["b", "c"], ["d", "a"]]
    assert union.sequence_ids.tolist() == ["s0", "s1", "x"]
    union.validate()
    with pytest.raises(ParameterError, match="extends the first"):
        concat_sequences(other, base)


def test_merge_counts_pads_to_the_grown_vocabulary_and_adds():
    old = sp.csr_matrix(np.array([[0, 2], [1, 0]], dtype=np.float64))
    new = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 3], [4, 0, 0]], dtype=np.float64))
    expected = [[0, 3, 0], [1, 0, 3], [4, 0, 0]]
    np.testing.assert_array_equal(merge_counts(old, new).toarray(), expected)
    np.testing.assert_array_equal(
        merge_counts(np.array([1.0, 2.0]), np.array([0.0, 1, 5])), [1, 3, 5]
    )
    with pytest.raises(ParameterError, match="extending the old one"):
        merge_counts(np.array([1, 2, 3]), np.array([1, 2]))


def test_occurring_only_keeps_the_tracks_the_sequences_hold():
    ds = _dataset([["c", "a"]], ["a", "b", "c"])
    small = occurring_only(ds)
    assert small.tracks["track_id"].tolist() == ["a", "c"]
    assert _tracks(small, 0) == ["c", "a"]
    np.testing.assert_allclose(small.features["f"].values[:, 0], [0.0, 0.2])
    small.validate()


def test_sequence_keys_tell_a_repeated_sequence_from_a_new_one():
    ds = _dataset(
        [["a", "b"], ["a", "b"], ["b", "a"], ["a", "b"]], ["a", "b"], names=["p", "q", "p", "p"]
    )
    keys = sequence_keys(ds)
    assert keys[0] == keys[3]  # same id, same tracks
    assert keys[0] != keys[1]  # another id
    assert keys[0] != keys[2]  # other order
    # keys are by track id: the same sequence on another vocabulary has the same key
    other = _dataset([["a", "b"]], ["b", "a"], names=["p"])
    assert sequence_keys(other)[0] == keys[0]
