"""Play prediction (W2V §4.6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songspace.data.builder import finish_dataset
from songspace.data.synthetic import generate
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.play import play_prediction


def genre_embeddings(ds, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(ds.tracks["genre"])
    m = np.zeros((ds.n_tracks, codes.max() + 2))
    m[np.arange(ds.n_tracks), np.where(codes >= 0, codes, codes.max() + 1)] = 1.0
    return Embeddings.from_array(m + noise * rng.standard_normal(m.shape), ds.n_tracks)


def test_pair_aggregation_by_hand():
    # seq: 0 1 0 1 | 2 3 ; skipped marks the *next* entry
    ds = finish_dataset(
        track_ids=["a", "b", "c", "d"],
        indptr=np.array([0, 4, 6]),
        indices=np.array([0, 1, 0, 1, 2, 3]),
        sequence_ids=np.array(["s0", "s1"], dtype=object),
        skipped=np.array([False, False, True, True, False, False]),
    )
    v = np.array([[1, 0], [0.6, 0.8], [0, 1], [1, 0]])
    emb = Embeddings.from_array(v, 4)
    # pairs: (0,1) played, (1,0) skipped, (0,1) skipped, (2,3) played
    # distinct: (0,1): cos .6 rate .5 ; (1,0): cos .6 rate 0 ; (2,3): cos 0 rate 1
    allp, freq = play_prediction(emb, ds, min_pair_count=2)
    want = np.corrcoef([0.6, 0.6, 0.0], [0.5, 0.0, 1.0])[0, 1]
    assert allp.name == "play_corr" and allp.value == pytest.approx(want)
    assert freq.name == "play_corr_frequent" and np.isnan(freq.value)  # one frequent pair
    occ, _ = play_prediction(emb, ds, min_pair_count=2, aggregate="occurrence")
    assert occ.value == pytest.approx(np.corrcoef([0.6, 0.6, 0.6, 0.0], [1, 0, 0, 1])[0, 1])
    assert allp.info["n_occurrences"] == 4


def test_genre_embeddings_predict_plays():
    ds = generate(500, 300, seed=0)
    good = play_prediction(genre_embeddings(ds), ds, min_pair_count=3)
    rand = play_prediction(Embeddings.random(ds.n_tracks, 12, seed=0), ds, min_pair_count=3)
    assert good[0].value > 0.15 and good[0].value > rand[0].value + 0.1
    assert abs(rand[0].value) < 0.1
    assert good[1].info["n_pairs"] < good[0].info["n_pairs"]
    assert good[1].value > rand[1].value
    pop = play_prediction(Embeddings.popularity_baseline(ds), ds)
    assert np.isnan(pop[0].value)


def test_errors():
    ds = generate(20, 30, seed=0, skips=False)
    emb = Embeddings.random(ds.n_tracks, 4)
    with pytest.raises(InvalidValueError, match="skip"):
        play_prediction(emb, ds)
    ds = generate(20, 30, seed=0)
    with pytest.raises(ParameterError):
        play_prediction(emb, ds, min_pair_count=0)
    with pytest.raises(ParameterError):
        play_prediction(emb, ds, aggregate="mean")
