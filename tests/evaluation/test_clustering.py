"""Genre/artist clustering (W2V §2.3): VRC, relative VRC, local coherence, samplers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score

from songspace.data.synthetic import generate
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.clustering import (
    artist_coherence,
    artist_sample,
    calinski_harabasz,
    genre_coherence,
    genre_sample,
    local_coherence,
    relative_vrc,
    vrc,
    vrc_artist,
    vrc_genre,
)
from songspace.evaluation.embeddings import Embeddings


@pytest.fixture(scope="module")
def synth():
    return generate(400, 600, seed=0)


def label_embeddings(ds, column, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    codes, _ = __import__("pandas").factorize(ds.tracks[column])
    m = np.zeros((ds.n_tracks, codes.max() + 2))
    m[np.arange(ds.n_tracks), np.where(codes >= 0, codes, codes.max() + 1)] = 1.0
    return Embeddings.from_array(m + noise * rng.standard_normal(m.shape), ds.n_tracks)


def test_calinski_harabasz_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3))
    labels = rng.integers(0, 4, 60)
    assert calinski_harabasz(x, labels) == pytest.approx(calinski_harabasz_score(x, labels))
    # hand-computed: two groups on a line {0, 2} and {10, 12}
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    # B = 4 * 25 = 100 (k-1 = 1); W = 4 (n-k = 2) -> 100 / 2 = 50
    assert calinski_harabasz(x, np.array([0, 0, 1, 1])) == pytest.approx(50.0)


def test_vrc_ignores_missing_labels_and_small_groups():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((30, 4))
    emb = Embeddings.from_array(v, 30)
    labels = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 3 + [None] * 7, dtype=object)
    got = vrc(emb, labels, min_size=5)
    keep = slice(0, 20)
    assert got.value == pytest.approx(
        calinski_harabasz_score(emb.vectors[keep], labels[keep].astype(str)), rel=1e-5
    )
    assert got.info["n_groups"] == 2 and got.per_query.size == 0
    all_known = vrc(emb, labels)
    assert all_known.info["n_groups"] == 3
    with pytest.raises(InvalidValueError):
        vrc(emb, np.array(["a"] * 30, dtype=object))
    with pytest.raises(ParameterError):
        vrc(emb, labels[:5])


def test_relative_vrc():
    assert relative_vrc(150.0, 100.0) == pytest.approx(0.5)
    with pytest.raises(ParameterError, match="reference"):
        relative_vrc(1.0, 0.0)


def test_local_coherence_hand_layout():
    # 2-D layout: three points near (1,0) labelled A, one B among them; two near (0,1) labelled B
    v = np.array([[1, 0], [1, 0.05], [1, -0.05], [1, 0.1], [0, 1], [0.05, 1]])
    labels = np.array(["A", "A", "A", "B", "B", "B"], dtype=object)
    emb = Embeddings.from_array(v, 6)
    res = local_coherence(emb, labels, sample=np.array([0, 3, 4]), k=2)
    # 0: nn = 1 (A), 2 or 3 -> cos(0,1)=cos(0,2) > cos(0,3): {1, 2} -> 1.0
    # 3: nn = 1, 0 -> both A -> 0.0 ; 4: nn = 5 (B), then 3 (B) -> 1.0
    np.testing.assert_allclose(res.per_query, [1.0, 0.0, 1.0])
    assert res.value == pytest.approx(2 / 3)


def test_planted_genres_beat_random(synth):
    good = label_embeddings(synth, "genre")
    rand = Embeddings.random(synth.n_tracks, good.dim, seed=0)
    assert vrc_genre(good, synth).value > 5 * vrc_genre(rand, synth).value
    g, r = genre_coherence(good, synth), genre_coherence(rand, synth)
    assert g.name == "genre_coherence" and g.per_query.size == r.per_query.size > 0
    assert g.value > r.value + 0.3
    art = label_embeddings(synth, "artist_id", noise=0.05)
    ar = Embeddings.random(synth.n_tracks, art.dim, seed=0)
    assert vrc_artist(art, synth).value > vrc_artist(ar, synth).value
    a, b = artist_coherence(art, synth, k=5), artist_coherence(ar, synth, k=5)
    assert a.name == "artist_coherence" and a.value > b.value + 0.3
    assert relative_vrc(vrc_genre(good, synth), vrc_genre(rand, synth)) > 0


def test_genre_sample_stratified(synth, caplog):
    s = genre_sample(synth, n=100, top=5, seed=0)
    assert len(s) == len(np.unique(s)) == 100
    counts = synth.tracks["genre"].iloc[s].value_counts()
    assert len(counts) == 5 and (counts == 20).all()
    assert np.array_equal(s, genre_sample(synth, n=100, top=5, seed=0))
    with caplog.at_level(logging.WARNING, logger="songspace"):
        s = genre_sample(synth, n=50, top=50)
    assert "genres available" in caplog.text and len(s) == 50


def test_artist_sample_and_errors(synth, caplog):
    s = artist_sample(synth, n_artists=20, per_artist=5, seed=0)
    counts = synth.tracks["artist_id"].iloc[s].value_counts()
    assert len(counts) == 20 and (counts == 5).all()
    with caplog.at_level(logging.WARNING, logger="songspace"):
        s = artist_sample(synth, n_artists=10_000, per_artist=3)
    assert "artists have" in caplog.text
    with pytest.raises(InvalidValueError, match="min_tracks"):
        artist_sample(synth, per_artist=5, min_tracks=1000)
    ds = generate(20, 30, seed=3)
    ds.tracks = ds.tracks.assign(genre=None)
    with pytest.raises(InvalidValueError, match="genre"):
        genre_sample(ds)
