"""Baseline rankers on a toy training set with hand-computed scores and rankings.

Training sequences (5 tracks): s0 = [0, 1, 2], s1 = [0, 1], s2 = [1, 3], s3 = [2, 3, 4].
Sequence counts (popularity): t0 2, t1 3, t2 2, t3 2, t4 1.
"""

import json
import math

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.rankers import (
    SKNN,
    STAN,
    VSKNN,
    VSTAN,
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


@pytest.mark.parametrize(
    ("klass", "params"),
    [
        (ItemKNN, {}),
        (ItemKNN, {"alpha": 0.8, "lmbd": 20.0}),
        (SKNN, {"k": 5}),
        (SKNN, {"k": 5, "sample": 4, "similarity": "jaccard"}),
        (VSKNN, {"k": 5}),
        (VSKNN, {"k": 5, "sample": 4, "similarity": "vec", "weighting_score": "div"}),
        (STAN, {"k": 5, "sample": 8}),
        (STAN, {"k": 5, "sample": None, "lambda_snh": None, "lambda_inh": None}),
        (VSTAN, {"k": 5, "sample": 8}),
        (Bigram, {}),
    ],
)
def test_batched_top_k_equals_the_one_query_path(klass, params):
    from songspace.data.synthetic import generate
    from songspace.evaluation.rankers import top_k_single

    ds = generate(n_playlists=300, n_tracks=400, seed=3)  # with timestamps
    r = klass.fit(ds, **params)
    queries = np.arange(0, 400, 7)
    batched = top_k_single(r, queries, 30, batch=16)
    for row, q in zip(batched, queries, strict=True):
        assert row.tolist() == top_k(r, np.array([q]), 30).tolist()


# --------------------------------------------------------------------- issue 30, part 1
def toy(seqs, n_tracks, timestamps=None):
    """A training view holding ``seqs`` (track indices), with optional entry timestamps."""
    indptr = np.cumsum([0] + [len(s) for s in seqs])
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=indptr,
        indices=np.concatenate(seqs),
        sequence_ids=np.array([f"s{i}" for i in range(len(seqs))], dtype=object),
        timestamps=None if timestamps is None else np.asarray(timestamps, dtype=np.int64),
    )


#: seed 0 is in two long sequences that hold track 5 and in one short one that holds track 1
LONG_SHORT = [[0, 5, 2, 3, 4], [0, 5, 6, 7, 8], [0, 1]]


def test_sknn_cosine_and_jaccard_rank_differently():
    train = toy(LONG_SHORT, 9)
    # seed [0]: |S| = 1; s0 and s1 have 5 tracks, s2 has 2.
    # cosine 1/sqrt(1*5) for s0, s1 and 1/sqrt(2) for s2:
    #   t5 = 2/sqrt(5) = 0.894 (s0 and s1), t1 = 1/sqrt(2) = 0.707 (s2)
    cos = SKNN.fit(train)
    s = cos.scores(np.array([0]))
    assert s[5] == pytest.approx(2 / math.sqrt(5))
    assert s[1] == pytest.approx(1 / math.sqrt(2))
    # jaccard |S ∩ n| / |S ∪ n|: 1/5 for s0, s1 and 1/2 for s2: t5 = 0.4, t1 = 0.5
    jac = SKNN.fit(train, similarity="jaccard")
    s = jac.scores(np.array([0]))
    assert s[5] == pytest.approx(2 / 5)
    assert s[1] == pytest.approx(1 / 2)
    assert s[2] == pytest.approx(1 / 5)
    assert top_k(cos, np.array([0]), 2).tolist() == [5, 1]
    assert top_k(jac, np.array([0]), 2).tolist() == [1, 5]


def test_sknn_sample_keeps_the_most_recent_candidates():
    # seed [0] is in s0, s1, s2. Without timestamps the most recent are the latest stored:
    # sample=2 keeps s1 and s2, so s0's tracks 2, 3, 4 get nothing:
    #   t1 = 1/sqrt(2) = 0.707 (s2), t5 = t6 = t7 = t8 = 1/sqrt(5) = 0.447 (s1)
    # ties by popularity: t5 (2 sequences) before t6, t7, t8 (1 each), then by index
    train = toy(LONG_SHORT, 9)
    r = SKNN.fit(train, sample=2)
    s = r.scores(np.array([0]))
    assert s[1] == pytest.approx(1 / math.sqrt(2))
    assert s[6] == pytest.approx(1 / math.sqrt(5))
    assert s[2] == s[3] == s[4] == 0
    assert top_k(r, np.array([0]), 5).tolist() == [1, 5, 6, 7, 8]
    # every candidate (the default): t5 = 2/sqrt(5), t1, then s0's and s1's tracks
    assert top_k(SKNN.fit(train), np.array([0]), 5).tolist() == [5, 1, 2, 3, 4]
    # with timestamps, recency is time: s0 (time 300) and s2 (200) are kept, s1 (100) not
    times = [300] * 5 + [100] * 5 + [200] * 2
    r = SKNN.fit(toy(LONG_SHORT, 9, times), sample=2)
    s = r.scores(np.array([0]))
    assert s[2] == pytest.approx(1 / math.sqrt(5)) and s[6] == 0
    assert top_k(r, np.array([0]), 5).tolist() == [1, 5, 2, 3, 4]


#: seeds [0, 1]: s0 and s1 hold the earlier seed 0 and track 2, s2 the last seed 1 and track 3
EARLY_LATE = [[0, 2, 4], [0, 2, 5], [1, 3]]


def test_vsknn_weighting_and_score_decay():
    train = toy(EARLY_LATE, 6)
    seeds = np.array([0, 1])  # L = 2: p(0) = 1, p(1) = 2
    # linear (default): w(0) = 1 - 0.1 * (2 - 1) = 0.9, w(1) = 1; cosine over sqrt(|S| |n|):
    #   s0 = s1 = 0.9/sqrt(2*3) = 0.367, s2 = 1/sqrt(2*2) = 0.5
    #   t2 = 1.8/sqrt(6) = 0.735 > t3 = 0.5
    lin = VSKNN.fit(train)
    s = lin.scores(seeds)
    assert s[2] == pytest.approx(1.8 / math.sqrt(6))
    assert s[3] == pytest.approx(0.5)
    assert top_k(lin, seeds, 2).tolist() == [2, 3]
    # quadratic: w(0) = (1/2)^2 = 0.25: t2 = 0.5/sqrt(6) = 0.204 < t3 = 0.5
    quad = VSKNN.fit(train, weighting="quadratic")
    s = quad.scores(seeds)
    assert s[2] == pytest.approx(0.5 / math.sqrt(6))
    assert top_k(quad, seeds, 2).tolist() == [3, 2]
    # div: w(0) = 1/2: t2 = 1/sqrt(6) = 0.408 < 0.5
    assert VSKNN.fit(train, weighting="div").scores(seeds)[2] == pytest.approx(1 / math.sqrt(6))
    # same: w = 1: t2 = 2/sqrt(6)
    assert VSKNN.fit(train, weighting="same").scores(seeds)[2] == pytest.approx(2 / math.sqrt(6))
    # weighting_score=div: s0 and s1 hold seed 0 only: step = L - p* + 1 = 2, vote halved:
    #   t2 = 2 * 0.9/sqrt(6) / 2 = 0.367; s2 holds the last seed: step 1, t3 = 0.5
    dec = VSKNN.fit(train, weighting_score="div")
    s = dec.scores(seeds)
    assert s[2] == pytest.approx(0.9 / math.sqrt(6))
    assert s[3] == pytest.approx(0.5)
    assert top_k(dec, seeds, 2).tolist() == [3, 2]
    # quadratic decay: 1/step^2 = 1/4
    s = VSKNN.fit(train, weighting_score="quadratic").scores(seeds)
    assert s[2] == pytest.approx(2 * 0.9 / math.sqrt(6) / 4)
    # vec (session-rec's V-SKNN): overlap / |S|: s0 = s1 = 0.9/2, s2 = 1/2
    s = VSKNN.fit(train, similarity="vec").scores(seeds)
    assert s[2] == pytest.approx(0.9) and s[3] == pytest.approx(0.5)
    # jaccard: overlap / |S ∪ n|: s0 = 0.9/(2+3-1) = 0.225, s2 = 1/(2+2-1) = 1/3
    s = VSKNN.fit(train, similarity="jaccard").scores(seeds)
    assert s[2] == pytest.approx(0.45) and s[3] == pytest.approx(1 / 3)


#: STAN's toy: seeds [0, 1]; s3 holds no seed (it only changes the IDF and popularity)
POSITIONS = [[2, 0, 3, 4, 1], [0, 5, 6], [7, 1], [5, 3]]


def _stan_hand(lam_spw=1.0, lam_inh=1.0):
    """STAN's scores of seeds [0, 1] on POSITIONS, by hand (lambda_snh off: no times).

    L = 2; w(0) = exp((1 - 2)/lam_spw), w(1) = exp(0) = 1; norm = sqrt(w0^2 + w1^2).
    sim(s0) = (w0 + 1) / (norm sqrt(5)); sim(s1) = w0 / (norm sqrt(3)); sim(s2) = 1 / (norm
    sqrt(2)). Last position of a seed: s0 5 (track 1), s1 1 (track 0), s2 2 (track 1).
    Votes sim * exp(-|q - q*| / lam_inh): s0 votes t2 (q 1, gap 4), t3 (gap 2), t4 (gap 1);
    s1 votes t5 (gap 1), t6 (gap 2); s2 votes t7 (gap 1).
    """
    w0 = math.exp(-1 / lam_spw)
    norm = math.sqrt(w0**2 + 1)
    sim = [(w0 + 1) / (norm * math.sqrt(5)), w0 / (norm * math.sqrt(3)), 1 / (norm * math.sqrt(2))]
    d = lambda gap: math.exp(-gap / lam_inh)  # noqa: E731
    return sim, {
        2: sim[0] * d(4),
        3: sim[0] * d(2),
        4: sim[0] * d(1),
        5: sim[1] * d(1),
        6: sim[1] * d(2),
        7: sim[2] * d(1),
    }


def test_stan_against_the_hand_computed_scores():
    train = toy(POSITIONS, 8)
    seeds = np.array([0, 1])
    r = STAN.fit(train, k=10, sample=None, lambda_spw=1.0, lambda_inh=1.0)
    sim, want = _stan_hand()
    # sims 0.574, 0.199, 0.664; votes t2 0.0105, t3 0.0777, t4 0.211, t5 0.0733, t6 0.0270,
    # t7 0.244
    assert sim == pytest.approx([0.5741, 0.1993, 0.6636], abs=1e-4)
    s = r.scores(seeds)
    for t, v in want.items():
        assert s[t] == pytest.approx(v)
    assert top_k(r, seeds, 6).tolist() == [7, 4, 3, 5, 6, 2]
    # no item-position decay: each neighbour votes its similarity: t7 0.664, then t2, t3, t4
    # (0.574; t3 first: in 2 sequences), then t5, t6 (0.199)
    flat_r = STAN.fit(train, k=10, sample=None, lambda_spw=1.0, lambda_inh=None)
    assert top_k(flat_r, seeds, 6).tolist() == [7, 3, 2, 4, 5, 6]
    # k = 2: s2 (0.664) and s0 (0.574); s1 (0.199) is not a neighbour, t5 and t6 get nothing
    s = STAN.fit(train, k=2, sample=None, lambda_spw=1.0, lambda_inh=1.0).scores(seeds)
    assert s[5] == s[6] == 0 and s[7] == pytest.approx(want[7])
    # lambda_spw=None: seed weights 1: sim(s1) = 1 / (sqrt(2) sqrt(3))
    s = STAN.fit(train, k=10, sample=None, lambda_spw=None, lambda_inh=None).scores(seeds)
    assert s[5] == pytest.approx(1 / math.sqrt(6))


def test_stan_session_recency_uses_timestamps_and_is_off_without():
    # s0 ends on day 0, s1 on day 2, s2 on day 1, s3 on day 3 (the latest: t* = day 3)
    day = 86_400
    times = [0] * 5 + [2 * day] * 3 + [day] * 2 + [3 * day] * 2
    timed = toy(POSITIONS, 8, times)
    params = {"k": 2, "sample": None, "lambda_spw": 1.0, "lambda_snh": 1.0, "lambda_inh": None}
    sim, _ = _stan_hand()
    # decay exp(-(t* - t(n)) / 1 day): s0 e^-3, s1 e^-1, s2 e^-2
    #   s0 0.574 e^-3 = 0.0286, s1 0.199 e^-1 = 0.0733, s2 0.664 e^-2 = 0.0898:
    # the two neighbours are s2 and s1 (s0, the most similar untimed, is the oldest)
    s = STAN.fit(timed, **params).scores(np.array([0, 1]))
    assert s[7] == pytest.approx(sim[2] * math.exp(-2))
    assert s[5] == pytest.approx(sim[1] * math.exp(-1))
    assert s[2] == s[3] == s[4] == 0
    # the same sequences without timestamps: no decay, the neighbours are s2 and s0
    s = STAN.fit(toy(POSITIONS, 8), **params).scores(np.array([0, 1]))
    assert s[7] == pytest.approx(sim[2]) and s[2] == pytest.approx(sim[0]) and s[5] == 0


def test_vstan_adds_position_and_idf_weights():
    train = toy(POSITIONS, 8)
    seeds = np.array([0, 1])
    _, stan = _stan_hand()
    # idf(j) = ln(4 sequences / sequences holding j): t3 and t5 are in 2 (ln 2), the others
    # in 1 (ln 4); a vote is multiplied by 1 + lambda_idf * idf(j) (lambda_idf = 1) and by
    # exp((p* - L) / lambda_ipw) (lambda_ipw = 1): p* = 2 for s0 and s2 (they hold seed 1),
    # p* = 1 for s1 (seed 0 only): s1's votes t5 and t6 are multiplied by e^-1.
    #   t7 0.244 * 2.386 = 0.583, t4 0.211 * 2.386 = 0.504, t3 0.0777 * 1.693 = 0.132,
    #   t5 0.0733 * 1.693 * e^-1 = 0.0457, t2 0.0105 * 2.386 = 0.0251,
    #   t6 0.0270 * 2.386 * e^-1 = 0.0237: t2 now before t6 (STAN: t6 before t2)
    ln2, ln4 = math.log(2), math.log(4)
    want = {
        2: stan[2] * (1 + ln4),
        3: stan[3] * (1 + ln2),
        4: stan[4] * (1 + ln4),
        5: stan[5] * (1 + ln2) * math.exp(-1),
        6: stan[6] * (1 + ln4) * math.exp(-1),
        7: stan[7] * (1 + ln4),
    }
    r = VSTAN.fit(
        train, k=10, sample=None, lambda_spw=1.0, lambda_inh=1.0, lambda_ipw=1.0, lambda_idf=1.0
    )
    s = r.scores(seeds)
    for t, v in want.items():
        assert s[t] == pytest.approx(v)
    assert top_k(r, seeds, 6).tolist() == [7, 4, 3, 5, 2, 6]
    # lambda_ipw and lambda_idf off: VSTAN is STAN
    off = VSTAN.fit(
        train,
        k=10,
        sample=None,
        lambda_spw=1.0,
        lambda_inh=1.0,
        lambda_ipw=None,
        lambda_idf=None,
    )
    assert off.scores(seeds)[6] == pytest.approx(stan[6])
    # session-rec's lambda_ipw = 1e-5: only neighbours holding the last seed vote
    s = VSTAN.fit(
        train,
        k=10,
        sample=None,
        lambda_spw=1.0,
        lambda_inh=1.0,
        lambda_ipw=1e-5,
        lambda_idf=None,
    ).scores(seeds)
    assert s[5] == s[6] == 0 and s[7] == pytest.approx(stan[7])


def test_itemknn_alpha_and_lambda(train):
    # seed 2: co(2, j) = 1 for j = 0, 1, 3, 4; sequence counts n = [2, 3, 2, 2, 1]
    # alpha = 0.5, lmbd = 0 (default): 1/sqrt(2 n_j): t4 0.707, t0 = t3 0.5, t1 0.408
    assert top_k(ItemKNN.fit(train), np.array([2]), 4).tolist() == [4, 0, 3, 1]
    # alpha = 1: 1 / n_2 = 0.5 for all: popularity decides: t1 (3), t0, t3 (2), t4 (1)
    r = ItemKNN.fit(train, alpha=1.0)
    assert r.scores(np.array([2]))[[0, 1, 3, 4]].tolist() == pytest.approx([0.5] * 4)
    assert top_k(r, np.array([2]), 4).tolist() == [1, 0, 3, 4]
    # alpha = 0: 1 / n_j: t4 1, t0 = t3 1/2, t1 1/3
    s = ItemKNN.fit(train, alpha=0.0).scores(np.array([2]))
    assert s[[0, 1, 3, 4]].tolist() == pytest.approx([1 / 2, 1 / 3, 1 / 2, 1])
    # lmbd = 20: 1 / sqrt((2 + 20)(n_j + 20)): t1 = 1/sqrt(22 * 23)
    s = ItemKNN.fit(train, lmbd=20.0).scores(np.array([2]))
    assert s[1] == pytest.approx(1 / math.sqrt(22 * 23))
    assert s[4] == pytest.approx(1 / math.sqrt(22 * 21))


def test_ranker_parameters_are_checked_against_their_constraints(train):
    with pytest.raises(ParameterError, match=r"sknn\.similarity.*'cosine', 'jaccard'"):
        SKNN.fit(train, similarity="dice")
    with pytest.raises(ParameterError, match=r"stan\.lambda_inh.*> 0"):
        STAN.fit(train, lambda_inh=0.0)
    with pytest.raises(ParameterError, match=r"vsknn\.lambda_spw.*parameters: k, sample"):
        VSKNN.fit(train, lambda_spw=1.0)
    with pytest.raises(ParameterError, match=r"sknn\.sample"):
        SKNN.fit(train, sample=0)
    with pytest.raises(ParameterError, match=r"bigram\.k"):
        Bigram.fit(train, k=3)
    assert make_ranker("stan", train, {"k": 7}).params["k"] == 7
    assert STAN.parse_params({"k": "9", "lambda_snh": "none"}) == {
        **STAN.defaults,
        "k": 9,
        "lambda_snh": None,
    }


def test_grids_hold_the_literature_starting_settings():
    def tried(cls, **kw):
        return [dict(p) for p in cls.grid_points(**kw)]

    # session-rec's 30Music settings (conf/save/30music)
    assert {
        "k": 500,
        "sample": 10_000,
        "lambda_spw": 2.1,
        "lambda_snh": 100.0,
        "lambda_inh": 16.8,
    } in tried(STAN)
    assert {
        "k": 1000,
        "sample": 5000,
        "lambda_spw": 33.6,
        "lambda_snh": 100.0,
        "lambda_inh": 8.4,
        "lambda_ipw": 1e-5,
        "lambda_idf": 5.0,
    } in tried(VSTAN)
    # APC-RTA's MPD settings: k = 1500, sample 2500 for SKNN, V-SKNN and STAN
    for cls in (SKNN, VSKNN, STAN):
        assert any(p["k"] == 1500 and p["sample"] == 2500 for p in tried(cls)), cls.name
    for cls in (ItemKNN, SKNN, VSKNN, STAN, VSTAN, Bigram):
        points = tried(cls)
        assert points[0] == cls.defaults  # the untuned default comes first
        assert len({tuple(p.items()) for p in points}) == len(points)


def test_grid_points_hold_parameters_that_cannot_act():
    # one seed: V-SKNN's weightings cannot change a ranking; no timestamps: nor lambda_snh
    one = VSKNN.grid_points(single_seed=True)
    assert {p["weighting"] for p in one} == {"linear"}
    assert len(one) < len(VSKNN.grid_points())
    untimed = STAN.grid_points(has_timestamps=False)
    assert {p["lambda_snh"] for p in untimed} == {100.0}
    assert len(untimed) < len(STAN.grid_points())
    # with timestamps the recency decay can also be switched off (on Melon that wins)
    for cls in (STAN, VSTAN):
        assert {100.0, None} <= {p["lambda_snh"] for p in cls.grid_points()}, cls.name
        assert {p["lambda_snh"] for p in cls.grid_points(has_timestamps=False)} == {100.0}
    # a sample at least as large as any candidate set is the same setting as no sample
    assert len(SKNN.grid_points(max_candidates=100)) < len(SKNN.grid_points())


def test_read_ranker_settings(tmp_path):
    from songspace.errors import FormatError, InvalidValueError
    from songspace.evaluation.rankers import read_ranker_settings

    path = tmp_path / "r.json"
    head = {"format": "songspace-ranker-settings", "format_version": 1}
    path.write_text(json.dumps({**head, "rankers": {"sknn": {"k": 500}, "bigram": {}}}))
    got = read_ranker_settings(path)
    assert got == {"sknn": {**SKNN.defaults, "k": 500}, "bigram": {}}
    path.write_text(json.dumps({**head, "rankers": {"sknn": {"k": 0}}}))
    with pytest.raises(InvalidValueError, match=r"r\.json, field 'rankers\.sknn\.k'"):
        read_ranker_settings(path)
    path.write_text(json.dumps({**head, "rankers": {"knn": {}}}))
    with pytest.raises(InvalidValueError, match=r"field 'rankers\.knn'"):
        read_ranker_settings(path)
    path.write_text(json.dumps({"rankers": {}}))
    with pytest.raises(FormatError, match="songspace-ranker-settings"):
        read_ranker_settings(path)
    path.write_text("{")
    with pytest.raises(FormatError, match="expected JSON"):
        read_ranker_settings(path)


@pytest.mark.parametrize("name", ["itemknn", "sknn", "vsknn", "stan", "vstan", "bigram"])
def test_with_params_equals_a_fresh_fit(name):
    from songspace.data.synthetic import generate
    from songspace.evaluation.rankers import BASELINE_RANKERS

    ds = generate(n_playlists=200, n_tracks=300, seed=5)
    base = make_ranker(name, ds)
    seeds = np.array([3, 17, 40])
    for params in BASELINE_RANKERS[name].grid_points()[1:4]:
        got = base.with_params(params)
        assert got.params == params
        fresh = make_ranker(name, ds, params)
        np.testing.assert_array_equal(got.scores(seeds), fresh.scores(seeds))
    assert base.params == BASELINE_RANKERS[name].defaults  # unchanged


def test_the_evaluation_layer_does_not_import_the_models_layer():
    """docs/architecture.md: evaluation never imports the model registry; the rankers'
    constraint types come from the leaf module songspace.params."""
    import subprocess
    import sys

    code = (
        "import sys, songspace.evaluation.rankers, songspace.evaluation.suite, "
        "songspace.evaluation.ranker_params, songspace.evaluation.session_knn; "
        "print(sorted(m for m in sys.modules if m.startswith('songspace.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_top_of_scores_equals_a_full_sort_with_many_ties():
    from songspace.evaluation.rankers import top_of_scores

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        scores = rng.choice([0.0, 0.0, 0.0, 1.0, 2.5, -np.inf], size=n)
        if trial % 3 == 0:
            scores = rng.random(n)
        popularity = rng.integers(0, 4, size=n).astype(float)
        exclude = rng.choice(n, size=int(rng.integers(0, min(n, 5) + 1)), replace=False)
        k = int(rng.integers(1, n + 3))
        s = scores.copy()
        s[exclude] = -np.inf
        ok = np.flatnonzero(np.isfinite(s))
        want = ok[np.lexsort((ok, -popularity[ok], -s[ok]))][:k]
        got = top_of_scores(scores, popularity, k, exclude=exclude)
        assert got.tolist() == want.tolist(), trial
