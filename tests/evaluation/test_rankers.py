"""Baseline rankers on a toy training set with hand-computed scores and rankings.

Training sequences (5 tracks): s0 = [0, 1, 2], s1 = [0, 1], s2 = [1, 3], s3 = [2, 3, 4].
Sequence counts (popularity): t0 2, t1 3, t2 2, t3 2, t4 1.
"""

import math

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.rankers import (
    SKNN,
    VSKNN,
    Bigram,
    EmbeddingRanker,
    ItemKNN,
    PopularityRanker,
    make_ranker,
    top_k,
)

SEQS = [[0, 1, 2], [0, 1], [1, 3], [2, 3, 4]]


@pytest.fixture()
def train():
    indptr = np.cumsum([0] + [len(s) for s in SEQS])
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(5)],
        indptr=indptr,
        indices=np.concatenate(SEQS),
        sequence_ids=np.array([f"s{i}" for i in range(4)], dtype=object),
    )


def test_popularity(train):
    r = PopularityRanker.fit(train)
    assert r.popularity.tolist() == [2, 3, 2, 2, 1]
    assert top_k(r, np.array([1]), 4).tolist() == [0, 2, 3, 4]


def test_itemknn_scores_and_ranking(train):
    r = ItemKNN.fit(train)
    s = r.scores(np.array([0]))
    # co(0,1) = 2, pop 2 and 3; co(0,2) = 1, pop 2 and 2
    assert s[1] == pytest.approx(2 / math.sqrt(6))
    assert s[2] == pytest.approx(1 / 2)
    assert s[3] == s[4] == 0
    # zero scores fall back to popularity: t3 (2) before t4 (1)
    assert top_k(r, np.array([0]), 4).tolist() == [1, 2, 3, 4]
    # a seed list sums the similarities: t2 = sim(0,2) + sim(1,2) = 1/2 + 1/sqrt(6)
    s01 = r.scores(np.array([0, 1]))
    assert s01[2] == pytest.approx(0.5 + 1 / math.sqrt(6))
    assert s01[3] == pytest.approx(1 / math.sqrt(6))


def test_sknn_votes_of_the_k_nearest_sequences(train):
    # seeds {0, 1}: overlaps s0 2, s1 2, s2 1; sims 2/sqrt(2*3), 2/sqrt(2*2), 1/sqrt(2*2)
    r2 = SKNN.fit(train, k=2)
    s = r2.scores(np.array([0, 1]))
    assert s[2] == pytest.approx(2 / math.sqrt(6))  # only s0 (of s1, s0) holds t2
    assert s[3] == 0  # s2 is the third neighbour: not among k=2
    assert top_k(r2, np.array([0, 1]), 3).tolist() == [2, 3, 4]
    r3 = SKNN.fit(train, k=3)
    s = r3.scores(np.array([0, 1]))
    assert s[3] == pytest.approx(0.5)
    assert top_k(r3, np.array([0, 1]), 3).tolist() == [2, 3, 4]
    with pytest.raises(ParameterError, match="k"):
        SKNN.fit(train, k=0)


def test_vsknn_weights_recent_seeds_more(train):
    # seeds [2, 0]: weights 0.9 (t2) and 1.0 (t0, the last)
    r = VSKNN.fit(train, k=10)
    s = r.scores(np.array([2, 0]))
    s0, s1, s3 = 1.9 / math.sqrt(6), 1.0 / 2, 0.9 / math.sqrt(6)
    assert s[1] == pytest.approx(s0 + s1)
    assert s[3] == pytest.approx(s3)
    assert s[4] == pytest.approx(s3)
    # reversed order [0, 2]: t0 weighs 0.9 now, so s1 (holding t0 only) counts less
    s_rev = r.scores(np.array([0, 2]))
    assert s_rev[1] == pytest.approx(1.9 / math.sqrt(6) + 0.9 / 2)
    assert top_k(r, np.array([2, 0]), 3).tolist() == [1, 3, 4]


def test_bigram_counts_successions_of_the_last_seed(train):
    r = Bigram.fit(train)
    # successions: 0->1 (twice), 1->2, 1->3, 2->3, 3->4; never across sequences (2 -> 0, 1 -> 1)
    assert r.transitions[0].toarray().ravel().tolist() == [0, 2, 0, 0, 0]
    assert r.transitions[1].toarray().ravel().tolist() == [0, 0, 1, 1, 0]
    assert r.transitions[2, 0] == 0
    assert top_k(r, np.array([0, 1]), 3).tolist() == [2, 3, 4]


def test_embedding_ranker_is_cosine_to_the_mean_seed():
    v = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    emb = Embeddings.from_array(v, available=np.array([True, True, True, False]))
    r = EmbeddingRanker(emb, popularity=np.zeros(4))
    s = r.scores(np.array([0, 1]))
    assert s[2] == pytest.approx(math.sqrt(2) / 2)
    assert s[3] == -np.inf
    assert top_k(r, np.array([0]), 5).tolist() == [2, 1]  # t3 has no vector


def test_make_ranker_names(train):
    assert make_ranker("itemknn", train).name == "itemknn"
    with pytest.raises(ParameterError, match="sknn"):
        make_ranker("nope", train)


def test_rankers_plug_into_next_song_and_completion(train):
    from songspace.evaluation.completion import playlist_completion
    from songspace.evaluation.knn import exact_topk
    from songspace.evaluation.next_song import next_song

    emb = Embeddings.from_ranker(Bigram.fit(train), train.n_tracks)
    assert not emb.has_vectors
    ids, _ = exact_topk(emb, np.array([0, 1]), 2)
    assert ids.tolist() == [[1, 2], [2, 3]]  # 0 -> 1 (count 2), then popularity back-off
    # pairs: 0 -> 1 found at rank 1; 1 -> 3 found at rank 2; 3 -> 0 not in the top 1
    res = {m.name: m for m in next_song(emb, [0, 1, 3], [1, 3, 0], k=2)}
    assert res["next_song_hit_rate"].per_query.tolist() == [1, 1, 0]
    assert res["next_song_ndcg"].per_query[1] == pytest.approx(1 / math.log2(3))
    # completion on s0 = [0, 1, 2] with the seed [0]: ItemKNN ranks hidden 1 and 2 first
    knn = Embeddings.from_ranker(ItemKNN.fit(train), train.n_tracks)
    out = {m.name: m for m in playlist_completion(train, knn, [0], seed_fraction=0.34)}
    assert out["completion_hr"].value == 1.0


@pytest.mark.parametrize("klass", [ItemKNN, SKNN, VSKNN, Bigram])
def test_batched_top_k_equals_the_one_query_path(klass):
    from songspace.data.synthetic import generate
    from songspace.evaluation.rankers import top_k_single

    ds = generate(n_playlists=300, n_tracks=400, seed=3)
    r = klass.fit(ds, k=5) if klass in (SKNN, VSKNN) else klass.fit(ds)
    queries = np.arange(0, 400, 7)
    batched = top_k_single(r, queries, 30, batch=16)
    for row, q in zip(batched, queries, strict=True):
        assert row.tolist() == top_k(r, np.array([q]), 30).tolist()
