import numpy as np
import pytest

from songspace.data.splits import (
    cold_start_tracks,
    completion_playlists,
    split_sequences,
)
from songspace.data.synthetic import generate
from songspace.errors import ParameterError


@pytest.fixture(scope="module")
def ds():
    return generate(1000, 1500, mean_length=40, seed=5)


def test_sizes_and_partition(ds):
    sp = split_sequences(ds, seed=1)
    assert (len(sp.validation), len(sp.test)) == (10, 10)
    allidx = np.concatenate([sp.train, sp.validation, sp.test])
    assert len(np.unique(allidx)) == ds.n_sequences == len(allidx)


def test_deterministic_by_seed(ds):
    a, b, c = (split_sequences(ds, seed=s, cold_start_share=0.1) for s in (3, 3, 4))
    for part in ("train", "validation", "test", "cold_tracks"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)


def test_completion_playlists_are_heldout_and_long(ds):
    sp = split_sequences(ds, (0.8, 0.1, 0.1), seed=2)
    comp = completion_playlists(ds, sp, part="test")
    assert len(comp) > 0
    assert np.isin(comp, sp.test).all()
    assert not np.isin(comp, sp.train).any()
    for s in comp:
        assert len(set(ds.sequence(s).tolist())) >= 40
    # every test playlist with >= 40 distinct tracks is included
    expected = [s for s in sp.test if len(set(ds.sequence(s).tolist())) >= 40]
    assert comp.tolist() == expected
    with pytest.raises(ParameterError, match="held-out sequences only"):
        completion_playlists(ds, sp, part="train")


def test_cold_start_tracks_never_reach_training(ds):
    sp = split_sequences(ds, seed=0, cold_start_share=0.1)
    train = sp.train_dataset(ds)
    assert len(sp.cold_tracks) == round(0.1 * np.count_nonzero(ds.subset(sp.train).play_counts()))
    assert not np.isin(train.indices, sp.cold_tracks).any()
    assert set(train.sequence_ids) <= set(ds.sequence_ids[sp.train])
    # held-out views keep the cold tracks, so they can be scored there
    test = sp.heldout_dataset(ds, "test")
    assert test.n_entries == ds.lengths[sp.test].sum()
    # training popularity counts only training sequences
    pop_train = train.features["popularity"].values[:, 0]
    assert (pop_train[sp.cold_tracks] == 0).all()


def test_bad_arguments(ds):
    with pytest.raises(ParameterError, match="summing to 1"):
        split_sequences(ds, (0.5, 0.1, 0.1))
    with pytest.raises(ParameterError, match="leaves at least one sequence to train on"):
        split_sequences(ds, (0.0, 0.5, 0.5))
    with pytest.raises(ParameterError, match="0 < share < 1"):
        cold_start_tracks(ds, share=1.5)
