"""Popularity buckets and HitRate heat map (W2V §4.5)."""

from __future__ import annotations

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.popularity import (
    bucket_hit_rates,
    diagonal_comparison,
    plot_bucket_heatmap,
    popularity_buckets,
)


def test_buckets_each_hold_20_percent():
    counts = np.array([5, 20, 10, 10, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0])
    assert counts.sum() == 100
    b = popularity_buckets(counts)
    assert b.tolist() == [2, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]
    share = np.bincount(b, weights=counts) / counts.sum()
    np.testing.assert_allclose(share, [0.2] * 5)
    assert popularity_buckets(np.zeros(3)).tolist() == [4, 4, 4]
    with pytest.raises(ParameterError):
        popularity_buckets(counts, n_buckets=0)
    with pytest.raises(ParameterError):
        popularity_buckets(np.array([1, -1]))


def test_buckets_on_dataset_roughly_balanced():
    ds = generate(300, 400, seed=0)
    b = popularity_buckets(ds)
    share = np.bincount(b, weights=ds.play_counts(), minlength=5) / ds.n_entries
    assert np.all(np.abs(share - 0.2) < 0.05)
    # bucket 0 most popular
    pc = ds.play_counts()
    assert pc[b == 0].min() >= pc[b == 4].max()


def test_bucket_hit_rates_by_hand():
    # 4 tracks; counts make buckets [0, 1, 2, 3] with n_buckets=4... use explicit buckets
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    emb = Embeddings.from_array(v, 4)
    buckets = np.array([0, 1, 0, 1])
    q = np.array([0, 0, 2, 2, 1])
    t = np.array([1, 2, 3, 1, 0])
    res = bucket_hit_rates(emb, None, q, t, k=1, buckets=buckets, n_buckets=2)
    # (0,1): 0->1 hit, 2->3 hit, 2->1 miss -> 2/3 ; (0,0): 0->2 miss ; (1,0): 1->0 hit
    np.testing.assert_allclose(res.matrix, [[0.0, 2 / 3], [1.0, np.nan]])
    assert res.counts.tolist() == [[1, 3], [1, 0]]
    small = bucket_hit_rates(emb, None, q, t, k=1, buckets=buckets, pairs_per_cell=1)
    assert small.counts.max() == 1 and small.available[0, 1] == 3
    with pytest.raises(ParameterError):
        bucket_hit_rates(emb, None, q, t[:2], buckets=buckets)


def test_heatmap_png_and_diagonal(tmp_path):
    ds = generate(200, 300, seed=0)
    emb = Embeddings.random(ds.n_tracks, 8, seed=0)
    a, b = ds.indices[:-1], ds.indices[1:]
    res = bucket_hit_rates(emb, ds, a, b, k=30, pairs_per_cell=50)
    assert res.matrix.shape == (5, 5) and (res.counts <= 50).all()
    out = plot_bucket_heatmap(res, tmp_path / "sub" / "heat.png", title="random")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["heat.png"]
    d = diagonal_comparison(np.eye(2) * 0.5, np.array([[0.6, 0], [0, 0.25]]))
    np.testing.assert_allclose(d.difference, [0.1, -0.25])
    np.testing.assert_allclose(d.relative, [0.2, -0.5])
    with pytest.raises(ParameterError):
        diagonal_comparison(np.eye(2), np.eye(3))
    with pytest.raises(ParameterError):
        plot_bucket_heatmap(np.zeros((2, 3)), tmp_path / "x.png")
