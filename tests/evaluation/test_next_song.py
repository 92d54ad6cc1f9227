"""Next-song prediction (W2V §2.1): pairs, in-set masking, hand-computed metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.features import global_popularity
from songspace.data.splits import split_sequences
from songspace.data.synthetic import generate
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.next_song import (
    mask_last,
    next_song,
    next_song_pairs_heldout,
    next_song_report,
)
from songspace.evaluation.results import MetricResult


def make_dataset(seqs: list[list[int]], n_tracks: int, *, timestamps: bool = False) -> Dataset:
    lengths = [len(s) for s in seqs]
    n = sum(lengths)
    return Dataset(
        tracks=make_tracks_table([f"t{i}" for i in range(n_tracks)]),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
        timestamps=np.arange(n, dtype=np.int64) * 10 if timestamps else None,
    )


SEQS = [[0, 1, 2], [3, 4], [5], [6, 6, 7]]


def by_name(results: list[MetricResult]) -> dict[str, MetricResult]:
    return {r.name: r for r in results}


# ---------------------------------------------------------------- pairs
def test_heldout_pairs_never_cross_sequences():
    ds = make_dataset(SEQS, 8)
    q, t = next_song_pairs_heldout(ds, [0, 1, 2, 3])
    # (2, 3) and (4, 5) would cross sequences; (6, 6) repeats the query: skipped
    assert list(zip(q.tolist(), t.tolist(), strict=True)) == [(0, 1), (1, 2), (3, 4), (6, 7)]
    q, t = next_song_pairs_heldout(ds, [1, 3])
    assert list(zip(q.tolist(), t.tolist(), strict=True)) == [(3, 4), (6, 7)]
    q, t = next_song_pairs_heldout(ds, [2])
    assert q.size == 0 and t.size == 0
    assert q.dtype == np.int64


def test_heldout_pairs_match_loop_on_synthetic():
    ds = generate(n_playlists=200, n_tracks=300, seed=1)
    seqs = np.arange(0, 200, 3)
    q, t = next_song_pairs_heldout(ds, seqs)
    expect = [
        (a, b)
        for s in seqs
        for a, b in zip(ds.sequence(s)[:-1], ds.sequence(s)[1:], strict=True)
        if a != b
    ]
    assert list(zip(q.tolist(), t.tolist(), strict=True)) == [(int(a), int(b)) for a, b in expect]


def test_mask_last():
    ds = make_dataset(SEQS, 8, timestamps=True)
    view, q, t = mask_last(ds, [0, 1, 2, 3])
    # [0, 1, 2] -> [0, 1]; [6, 6, 7] -> [6, 6]; sequences of fewer than 3 entries are
    # not masked (it would leave them no context, issue 12 item 19) and give no query
    assert [view.sequence(s).tolist() for s in range(view.n_sequences)] == [
        [0, 1],
        [3, 4],
        [5],
        [6, 6],
    ]
    assert view.sequence_ids.tolist() == ["s0", "s1", "s2", "s3"]
    assert q.tolist() == [1, 6] and t.tolist() == [2, 7]
    # same vocabulary
    assert view.n_tracks == ds.n_tracks
    assert view.tracks["track_id"].tolist() == ds.tracks["track_id"].tolist()
    view.validate()


def test_mask_last_removes_each_target_at_its_position_synthetic():
    ds = generate(n_playlists=300, n_tracks=400, seed=2)
    split = split_sequences(ds, (0.9, 0.05, 0.05), seed=0)
    view, q, t = mask_last(ds, split.train)
    assert view.n_tracks == ds.n_tracks
    full = [ds.sequence(s) for s in split.train]
    kept = [s[:-1] if len(s) >= 3 else s for s in full]
    assert view.n_sequences == len(kept)
    for s, (orig, masked) in enumerate(zip(full, kept, strict=True)):
        np.testing.assert_array_equal(view.sequence(s), masked)
        assert len(view.sequence(s)) == len(orig) - (len(orig) >= 3)
    expect = [(s[-2], s[-1]) for s in full if len(s) >= 3 and s[-2] != s[-1]]
    assert list(zip(q.tolist(), t.tolist(), strict=True)) == [(int(a), int(b)) for a, b in expect]
    # the popularity feature is recomputed from the view (masked entries not counted)
    group = view.features["popularity"]
    col = group.columns.index("global")
    np.testing.assert_allclose(
        group.values[:, col], global_popularity(view.occurrences(), view.n_sequences)
    )


def test_mask_last_with_drop_tracks():
    ds = make_dataset(SEQS, 8)
    view, q, t = mask_last(ds, [0, 3], drop_tracks=[2])
    # [0, 1, 2] minus track 2 -> [0, 1]: too short to mask, kept whole, no pair
    assert [view.sequence(s).tolist() for s in range(view.n_sequences)] == [[0, 1], [6, 6]]
    assert q.tolist() == [6] and t.tolist() == [7]


# ---------------------------------------------------------------- metrics
def angle_embeddings(available: np.ndarray | None = None) -> Embeddings:
    # tracks 0..4 at 0, 10, 20, 30, 40 degrees; track 5 at 90 degrees
    deg = np.array([0, 10, 20, 30, 40, 90], dtype=np.float64)
    rad = np.deg2rad(deg)
    return Embeddings.from_array(np.column_stack([np.cos(rad), np.sin(rad)]), available=available)


def test_next_song_hand_computed():
    emb = angle_embeddings()
    # neighbours of 0 (self excluded): 1, 2, 3 (k = 3); of 4: 3, 2, 1
    q = np.array([0, 0, 0, 4, 4])
    t = np.array([1, 3, 4, 2, 0])
    res = by_name(next_song(emb, q, t, k=3))
    hit, ndcg = res["next_song_hit_rate"], res["next_song_ndcg"]
    # ranks: 1, 3, miss, 2, miss
    np.testing.assert_array_equal(hit.per_query, [1, 1, 0, 1, 0])
    np.testing.assert_allclose(ndcg.per_query, [1.0, 1 / math.log2(4), 0, 1 / math.log2(3), 0])
    assert hit.value == pytest.approx(3 / 5)
    assert ndcg.value == pytest.approx((1 + 0.5 + 1 / math.log2(3)) / 5)
    assert hit.info["coverage"] == 1.0 and hit.info["k"] == 3


def test_next_song_chunking_gives_same_result():
    emb = Embeddings.random(50, 8, seed=0)
    rng = np.random.default_rng(0)
    q, t = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    a = next_song(emb, q, t, k=10)
    b = next_song(emb, q, t, k=10, chunk_size=3, batch_size=2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.per_query, y.per_query)


def test_query_without_embedding_is_a_miss():
    avail = np.array([True, True, True, True, False, True])
    emb = angle_embeddings(avail)
    res = by_name(next_song(emb, [4, 0, 0, 1], [3, 1, 4, 0], k=2, prefix="ns"))
    # query 4 missing -> miss; (0, 1) rank 1; (0, 4) target missing -> miss; (1, 0) rank 1
    np.testing.assert_array_equal(res["ns_hit_rate"].per_query, [0, 1, 0, 1])
    assert res["ns_hit_rate"].info["coverage"] == pytest.approx(3 / 4)
    assert res["ns_hit_rate"].info["pair_coverage"] == pytest.approx(2 / 4)


def test_popularity_baseline_next_song():
    ds = make_dataset([[0, 1], [0, 2], [0, 3], [1, 2], [1, 4], [5, 0]], 6)
    emb = Embeddings.popularity_baseline(ds)
    # popularity order: 0 (4 sequences), 1 (3), 2 (2), 3, 4, 5 (1 each, ties by index)
    res = by_name(next_song(emb, [5, 0, 3], [0, 1, 4], k=2))
    # query 5: neighbours 0, 1 -> rank 1; query 0: 1, 2 -> rank 1; query 3: 0, 1 -> miss
    np.testing.assert_array_equal(res["next_song_hit_rate"].per_query, [1, 1, 0])


def genre_embeddings(ds: Dataset, noise: float = 0.3) -> Embeddings:
    codes = ds.tracks["genre"].astype("category").cat.codes.to_numpy()
    onehot = np.eye(codes.max() + 1)[codes]
    rng = np.random.default_rng(0)
    return Embeddings.from_array(onehot + noise * rng.standard_normal(onehot.shape))


def test_genre_embeddings_beat_random_and_report():
    ds = generate(n_playlists=800, n_tracks=600, seed=4)
    split = split_sequences(ds, (0.9, 0.0, 0.1), seed=0)
    _, qi, ti = mask_last(ds, split.train)
    qo, to = next_song_pairs_heldout(ds, split.test)
    vals = {}
    for emb in (genre_embeddings(ds), Embeddings.random(ds.n_tracks, 16, seed=3)):
        in_set = next_song(emb, qi, ti, k=50, prefix="next_song_in_set")
        out = next_song(emb, qo, to, k=50, prefix="next_song_out_of_set")
        rep = by_name(next_song_report(in_set, out))
        vals[emb.name] = rep["next_song_hit_rate"].value
        a, b = by_name(in_set), by_name(out)
        for m in ("hit_rate", "ndcg"):
            mean = rep[f"next_song_{m}"]
            expect = (a[f"next_song_in_set_{m}"].value + b[f"next_song_out_of_set_{m}"].value) / 2
            assert mean.value == pytest.approx(expect)
            assert mean.per_query.size == 0
    # chance is about k / n_tracks = 50 / 600
    assert vals["random"] < 0.15
    assert vals["embeddings"] > vals["random"] + 0.1


def test_report_needs_both_metrics():
    r = [MetricResult.mean_of("x_hit_rate", np.ones(2))]
    with pytest.raises(ParameterError, match="_ndcg"):
        next_song_report(r, r)


# ---------------------------------------------------------------- errors
def test_k_larger_than_catalogue():
    with pytest.raises(ParameterError, match="`1 <= k <= 5`"):
        next_song(angle_embeddings(), [0], [1], k=6)


def test_no_pairs():
    with pytest.raises(InvalidValueError, match="at least one"):
        next_song(angle_embeddings(), [], [])


def test_misaligned_and_out_of_range():
    emb = angle_embeddings()
    with pytest.raises(ParameterError, match="targets"):
        next_song(emb, [0, 1], [1], k=2)
    with pytest.raises(ParameterError, match="targets"):
        next_song(emb, [0], [9], k=2)
    with pytest.raises(ParameterError, match="sequences"):
        next_song_pairs_heldout(make_dataset(SEQS, 8), [4])
