"""Playlist completion (MUSIG §4.1, §4.3): hand-computed metrics and baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.splits import completion_playlists, split_sequences
from songspace.data.synthetic import generate
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.completion import playlist_completion, split_seed_hidden
from songspace.evaluation.embeddings import Embeddings


def make_dataset(seqs: list[list[int]], n_tracks: int) -> Dataset:
    lengths = [len(s) for s in seqs]
    return Dataset(
        tracks=make_tracks_table([f"t{i}" for i in range(n_tracks)]),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
    )


def unit(scores: list[float]) -> np.ndarray:
    """Rows (s, sqrt(1 - s^2)): cosine s to the seed direction (1, 0)."""
    s = np.asarray(scores, dtype=np.float64)
    return np.column_stack([s, np.sqrt(1.0 - s**2)])


def metrics(results) -> dict[str, float]:
    return {r.name: r.value for r in results}


def dcg(ranks: list[int]) -> float:
    return sum(1.0 / math.log2(r + 1) for r in ranks)


# ---------------------------------------------------------------- seed / hidden
def test_split_seed_hidden_distinct_first_occurrence():
    seed, hidden = split_seed_hidden(np.array([5, 3, 5, 7, 3, 9]), 0.5)
    # distinct in first-occurrence order: 5, 3, 7, 9 -> seed 2, hidden 2
    assert seed.tolist() == [5, 3]
    assert hidden.tolist() == [7, 9]
    # clipped to [1, n - 1]
    assert split_seed_hidden(np.array([1, 2, 3]), 0.01)[0].tolist() == [1]
    assert split_seed_hidden(np.array([1, 2, 3]), 0.99)[1].tolist() == [3]


# ---------------------------------------------------------------- hand-computed
def small_case():
    # Catalogue of 6 tracks; the playlist holds 0..3, so the only possible
    # negatives are 4 and 5 (whatever the seed). Seed = {0, 1}, hidden = {2, 3}.
    ds = make_dataset([[0, 1, 2, 3]], 6)
    # cosine to the seed mean (1, 0): 2 -> 1.0, 3 -> 0.0, 4 -> 0.8, 5 -> -1.0
    vec = unit([1.0, 1.0, 1.0, 0.0, 0.8, -1.0])
    return ds, vec


def test_small_hand_computed():
    ds, vec = small_case()
    res = metrics(playlist_completion(ds, Embeddings.from_array(vec), [0], ks=(1, 2, 3)))
    # ranking: 2 (1.0), 4 (0.8), 3 (0.0), 5 (-1.0) -> relevance [1, 0, 1, 0]
    assert res["completion_hr"] == pytest.approx(0.5)  # top |hidden| = 2 holds one hidden
    assert res["completion_mrr"] == pytest.approx(1.0)  # ranks 1, 3 -> 1/ceil(0.1), 1/ceil(0.3)
    assert res["completion_p@1"] == pytest.approx(1.0)
    assert res["completion_p@2"] == pytest.approx(0.5)
    assert res["completion_p@3"] == pytest.approx(2 / 3)
    assert res["completion_ndcg@1"] == pytest.approx(1.0)
    assert res["completion_ndcg@2"] == pytest.approx(1.0 / (1.0 + 1 / math.log2(3)))
    # k = 3: hits at ranks 1, 3; ideal min(3, 2) = 2 hits at ranks 1, 2
    assert res["completion_ndcg@3"] == pytest.approx(dcg([1, 3]) / dcg([1, 2]))
    assert res["completion_coverage"] == pytest.approx(1.0)


def test_larger_hand_computed_scaled_mrr():
    # 24 distinct tracks: seed 0..11, hidden 12..23; catalogue 36, so the
    # negatives are exactly 24..35. Scores interleave hidden and negatives:
    # hidden 12 + j gets 0.9 - 0.02 * (2j), negative 24 + j gets 0.9 - 0.02 * (2j + 1)
    # -> relevance 1, 0, 1, 0, ... ; hidden ranks 1, 3, 5, ..., 23.
    ds = make_dataset([list(range(24))], 36)
    s = [1.0] * 12 + [0.9 - 0.04 * j for j in range(12)] + [0.88 - 0.04 * j for j in range(12)]
    res = metrics(playlist_completion(ds, Embeddings.from_array(unit(s)), [0], ks=(1, 5, 10)))
    assert res["completion_hr"] == pytest.approx(6 / 12)  # ranks 1..11 odd in top 12
    # 1/ceil(r/10): r in 1..9 -> 1 (5 ranks), 11..19 -> 1/2 (5), 21, 23 -> 1/3 (2)
    assert res["completion_mrr"] == pytest.approx((5 * 1 + 5 * 0.5 + 2 / 3) / 12)
    assert res["completion_p@1"] == pytest.approx(1.0)
    assert res["completion_p@5"] == pytest.approx(3 / 5)
    assert res["completion_p@10"] == pytest.approx(5 / 10)
    assert res["completion_ndcg@1"] == pytest.approx(1.0)
    assert res["completion_ndcg@5"] == pytest.approx(dcg([1, 3, 5]) / dcg([1, 2, 3, 4, 5]))
    assert res["completion_ndcg@10"] == pytest.approx(
        dcg([1, 3, 5, 7, 9]) / dcg(list(range(1, 11)))
    )


def test_ties_broken_by_track_index():
    # all candidates score 0 -> order 2, 3, 4, 5 by index -> relevance [1, 1, 0, 0]
    ds = make_dataset([[0, 1, 2, 3]], 6)
    vec = unit([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    res = metrics(playlist_completion(ds, Embeddings.from_array(vec), [0]))
    assert res["completion_hr"] == pytest.approx(1.0)


def test_popularity_baseline():
    ds = make_dataset([[0, 1, 2, 3]], 6)
    pop = np.array([0.0, 0.0, 5.0, 1.0, 3.0, 2.0])
    emb = Embeddings(np.zeros((6, 0), np.float32), np.ones(6, bool), "popularity", pop)
    res = metrics(playlist_completion(ds, emb, [0], ks=(1, 4)))
    # ranking by popularity: 2 (5), 4 (3), 5 (2), 3 (1) -> relevance [1, 0, 0, 1]
    assert res["completion_hr"] == pytest.approx(0.5)
    assert res["completion_p@1"] == pytest.approx(1.0)
    assert res["completion_ndcg@4"] == pytest.approx(dcg([1, 4]) / dcg([1, 2]))


def test_popularity_baseline_from_dataset_runs():
    ds = generate(n_playlists=300, n_tracks=500, seed=3)
    split = split_sequences(ds, (0.8, 0.0, 0.2), seed=0)
    pls = completion_playlists(ds, split, min_tracks=10)
    emb = Embeddings.popularity_baseline(split.train_dataset(ds))
    res = metrics(playlist_completion(ds, emb, pls))
    # popular tracks are over-represented in playlists: beats the 0.5 of chance
    assert res["completion_hr"] > 0.55


# ---------------------------------------------------------------- unavailable
def test_unavailable_hidden_placed_last_and_coverage():
    ds, vec = small_case()
    avail = np.array([True, True, False, True, True, True])  # hidden track 2 missing
    emb = Embeddings.from_array(vec, available=avail)
    res = metrics(playlist_completion(ds, emb, [0], ks=(1,)))
    # ranking: 4 (0.8), 3 (0.0), 5 (-1.0), then unrankable 2 -> relevance [0, 1, 0, 1]
    assert res["completion_hr"] == pytest.approx(0.5)
    assert res["completion_p@1"] == pytest.approx(0.0)
    assert res["completion_coverage"] == pytest.approx(0.5)


def test_unavailable_negative_placed_last():
    ds, vec = small_case()
    vec = unit([1.0, 1.0, 0.5, 0.4, 0.8, -1.0])
    avail = np.array([True, True, True, True, True, False])  # negative 5 missing
    res = playlist_completion(ds, Embeddings.from_array(vec, available=avail), [0])
    # rankable 4 (0.8), 2 (0.5), 3 (0.4), then unrankable 5 (SPEC: placed last)
    # -> relevance [0, 1, 1, 0]: HR 0.5, exactly as if 5 were available at -1.0.
    cov = {r.name: r for r in res}["completion_coverage"]
    assert metrics(res)["completion_hr"] == pytest.approx(0.5)
    assert cov.value == pytest.approx(1.0)
    assert cov.info["negative_coverage"] == pytest.approx(0.5)


def test_seed_without_embeddings_all_unrankable():
    ds, vec = small_case()
    avail = np.array([False, False, True, True, True, True])
    res = metrics(playlist_completion(ds, Embeddings.from_array(vec, available=avail), [0]))
    assert res["completion_hr"] == pytest.approx(0.0)
    assert res["completion_coverage"] == pytest.approx(0.0)


# ---------------------------------------------------------------- synthetic
@pytest.fixture(scope="module")
def synthetic():
    ds = generate(n_playlists=1500, n_tracks=2000, seed=7, missing_share=0.0)
    split = split_sequences(ds, (0.6, 0.1, 0.3), seed=0)
    pls = completion_playlists(ds, split, min_tracks=10)
    assert len(pls) >= 200
    return ds, pls


def genre_embeddings(ds: Dataset, noise: float = 0.3, seed: int = 0) -> Embeddings:
    codes = ds.tracks["genre"].astype("category").cat.codes.to_numpy()
    onehot = np.eye(codes.max() + 1)[codes]
    rng = np.random.default_rng(seed)
    return Embeddings.from_array(onehot + noise * rng.standard_normal(onehot.shape))


def test_random_embeddings_score_half(synthetic):
    ds, pls = synthetic
    res = metrics(playlist_completion(ds, Embeddings.random(ds.n_tracks, 32, seed=1), pls))
    assert abs(res["completion_hr"] - 0.5) < 0.05


def test_genre_embeddings_beat_random(synthetic):
    ds, pls = synthetic
    good = metrics(playlist_completion(ds, genre_embeddings(ds), pls))
    rand = metrics(playlist_completion(ds, Embeddings.random(ds.n_tracks, 32, seed=1), pls))
    assert good["completion_hr"] > rand["completion_hr"] + 0.2
    assert good["completion_mrr"] > rand["completion_mrr"]
    assert good["completion_ndcg@10"] > rand["completion_ndcg@10"]


def test_deterministic_by_seed(synthetic):
    ds, pls = synthetic
    emb = Embeddings.random(ds.n_tracks, 16, seed=2)
    a = playlist_completion(ds, emb, pls[:50], seed=5)
    b = playlist_completion(ds, emb, pls[:50], seed=5)
    c = playlist_completion(ds, emb, pls[:50], seed=6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.per_query, y.per_query)
    assert not np.array_equal(a[0].per_query, c[0].per_query)
    assert a[0].per_query.shape == (50,)


# ---------------------------------------------------------------- errors
def test_empty_test_set():
    ds, vec = small_case()
    with pytest.raises(InvalidValueError, match=r"empty test set.*min_tracks"):
        playlist_completion(ds, Embeddings.from_array(vec), np.zeros(0, np.int64))


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.2, 1.5])
def test_bad_seed_fraction(frac):
    ds, vec = small_case()
    with pytest.raises(ParameterError, match="seed_fraction"):
        playlist_completion(ds, Embeddings.from_array(vec), [0], seed_fraction=frac)


def test_playlist_with_one_distinct_track():
    ds = make_dataset([[0, 1, 2, 3], [4, 4, 4]], 6)
    with pytest.raises(InvalidValueError, match=r"'s1'.*2 distinct"):
        playlist_completion(ds, Embeddings.from_array(unit([0.5] * 6)), [0, 1])


def test_catalogue_too_small_for_negatives():
    ds = make_dataset([[0, 1, 2, 3]], 5)  # 2 hidden, only 1 track outside
    with pytest.raises(InvalidValueError, match="larger catalogue"):
        playlist_completion(ds, Embeddings.from_array(unit([0.5] * 5)), [0])


def test_bad_ks_and_playlists():
    ds, vec = small_case()
    emb = Embeddings.from_array(vec)
    with pytest.raises(ParameterError, match="ks"):
        playlist_completion(ds, emb, [0], ks=(0,))
    with pytest.raises(ParameterError, match="playlists"):
        playlist_completion(ds, emb, [3])


# ------------------------------------------ issue 27, item 28: coverage beside HR
def test_negative_coverage_is_a_metric_hand_computed():
    ds, vec = small_case()
    vec = unit([1.0, 1.0, 0.5, 0.4, 0.8, -1.0])
    avail = np.array([True, True, True, True, True, False])  # negative 5 missing
    res = playlist_completion(ds, Embeddings.from_array(vec, available=avail), [0])
    # candidates: hidden 2, 3 (both rankable), negatives 4, 5 (5 unrankable)
    assert [r.name for r in res][:3] == [
        "completion_hr",
        "completion_coverage",
        "completion_negative_coverage",
    ]
    assert metrics(res)["completion_negative_coverage"] == pytest.approx(0.5)


def test_on_sparse_data_a_seen_in_training_flag_beats_random_and_coverage_shows_why():
    """A public playlist CSV scored a 2-d "was this track in training" vector at HR 0.667:
    test playlists draw on the training playlists' tracks far more often than a uniform
    draw from a sparse catalogue does, so HR rewards coverage (docs/evaluation.md)."""
    from scipy import stats

    from songspace.evaluation.protocol import make_protocol
    from songspace.evaluation.suite import evaluate

    ds = generate(1000, 50000, mean_length=50, popularity_exponent=1.0, seed=3)
    p = make_protocol(ds, seed=0, fractions=(0.8, 0.1, 0.1), min_tracks=20)
    seen = np.bincount(p.train.indices, minlength=ds.n_tracks) > 0
    assert seen.mean() < 0.5  # sparse: most catalogue tracks never occur in training
    flag = Embeddings.from_array(np.c_[seen, ~seen].astype(float), name="seen")
    rnd = Embeddings.random(ds.n_tracks, 16, seed=0)
    hr = {
        e.name: evaluate(p, e, families=["completion"]).metrics["completion_hr"]
        for e in (flag, rnd)
    }
    assert abs(hr["random"].value - 0.5) < 0.05
    assert hr["seen"].value > 0.6  # two dimensions, no notion of taste
    assert stats.ttest_rel(hr["seen"].per_query, hr["random"].per_query).pvalue < 1e-3
    # Random vectors for the tracks seen in training only (what a transductive model has):
    # the same lift, and the two coverages beside HR show where it comes from.
    vectors = np.random.default_rng(0).normal(size=(ds.n_tracks, 16))
    only_seen = Embeddings.from_array(vectors, available=seen, name="only_seen")
    res = evaluate(p, only_seen, families=["completion"])
    assert list(res.metrics)[:3] == [
        "completion_hr",
        "completion_coverage",
        "completion_negative_coverage",
    ]
    v = res.values()
    assert v["completion_hr"] > 0.6
    assert v["completion_coverage"] > v["completion_negative_coverage"] + 0.3


# ---------------------------------------------------------------- magnitude (issue 27 item 4)
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale", [1.0, 1e37, 1e-30])
def test_vectors_near_the_float32_limits_give_the_hand_computed_metrics(scale):
    """The larger hand-computed case with every vector scaled by 1e37 (near the float32
    limit) or 1e-30: the same HR, MRR and P@k, and no RuntimeWarning (the norm of a
    1e37 row overflowed float32: HR fell from 0.64 to 0.50 on real data)."""
    ds = make_dataset([list(range(24))], 36)
    s = [1.0] * 12 + [0.9 - 0.04 * j for j in range(12)] + [0.88 - 0.04 * j for j in range(12)]
    emb = Embeddings.from_array(unit(s) * scale)
    res = metrics(playlist_completion(ds, emb, [0], ks=(1, 5, 10)))
    assert res["completion_hr"] == pytest.approx(6 / 12)
    assert res["completion_mrr"] == pytest.approx((5 * 1 + 5 * 0.5 + 2 / 3) / 12)
    assert res["completion_p@1"] == pytest.approx(1.0)
    assert res["completion_p@5"] == pytest.approx(3 / 5)
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, rtol=1e-6)


# ------------------------------------- issue 29: playlist after playlist, hand-computed
def test_two_playlists_per_query_values_hand_computed():
    """Each playlist's values land in its own row; the counts behind the negative coverage
    add up over playlists (the loop of playlist_completion, checked by hand)."""
    # Catalogue 6; playlist 0 = 0..3 (negatives must be 4, 5), playlist 1 = 4, 5, 2, 3
    # (negatives must be 0, 1). Track 2 (hidden in both) and track 1 (a seed of playlist 0,
    # a negative of playlist 1) have no embedding.
    ds = make_dataset([[0, 1, 2, 3], [4, 5, 2, 3]], 6)
    vec = unit([1.0, 1.0, 1.0, 0.0, 0.8, -1.0])
    avail = np.array([True, False, False, True, True, True])
    res = playlist_completion(ds, Embeddings.from_array(vec, available=avail), [0, 1], ks=(1, 3))
    by_name = {r.name: r for r in res}
    assert list(by_name) == [
        "completion_hr",
        "completion_coverage",
        "completion_negative_coverage",
        "completion_mrr",
        "completion_p@1",
        "completion_ndcg@1",
        "completion_p@3",
        "completion_ndcg@3",
    ]
    # playlist 0: seed query (1, 0) from track 0 only; 4 (0.8), 3 (0.0), 5 (-1.0), then the
    # unrankable hidden 2 -> relevance [0, 1, 0, 1]
    # playlist 1: seed query (-0.1, 0.3); 3 (0.3), 0 (-0.1), then the unrankable negative 1,
    # then the unrankable hidden 2 -> relevance [1, 0, 0, 1]
    expected = {
        "completion_hr": [0.5, 0.5],
        "completion_coverage": [0.5, 0.5],
        "completion_negative_coverage": [1.0, 0.5],
        "completion_mrr": [1.0, 1.0],
        "completion_p@1": [0.0, 1.0],
        "completion_ndcg@1": [0.0, 1.0],
        "completion_p@3": [1 / 3, 1 / 3],
        "completion_ndcg@3": [dcg([2]) / dcg([1, 2]), dcg([1]) / dcg([1, 2])],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(by_name[name].per_query, values, err_msg=name)
    assert by_name["completion_coverage"].info["negative_coverage"] == pytest.approx(0.75)
    assert by_name["completion_hr"].info["n_playlists"] == 2
    assert by_name["completion_hr"].info["random_baseline"] == 0.5


def test_embeddings_of_another_catalogue_refused():
    ds, vec = small_case()
    with pytest.raises(ParameterError, match=r"one embedding row per track of the dataset \(6\)"):
        playlist_completion(ds, Embeddings.from_array(vec[:5]), [0])
