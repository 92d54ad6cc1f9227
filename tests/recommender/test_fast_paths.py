"""The request path of a served recommender works on the candidates only (issue 30 part 6:
p99 at 2M tracks), and gives exactly what the catalogue-sized computations gave:
the rankers' ``evidence`` equals their ``scores`` bit for bit, ``RankerCandidates``
takes the same top ``n`` from it, ``TwoStageRanker.recommend`` equals ranking the full
score vector, and the successor-count feature equals scipy's column lookup."""

import numpy as np
import pytest

from songspace.evaluation.candidates import RankerCandidates
from songspace.evaluation.ranker_params import sum_by_track
from songspace.evaluation.rankers import make_ranker, top_of_scores
from songspace.recommender.features import TrainingCounts
from tests.recommender.conftest import N_TRACKS

#: Queries of 1 to 30 seeds, repeats included (the rankers dedupe or weight them).
QUERY_LENGTHS = (1, 1, 2, 3, 5, 8, 13, 30)
EVIDENCE_RANKERS = {
    "itemknn": {"alpha": 0.75, "lmbd": 20.0},
    "sknn": {"k": 50},
    "vsknn": {"k": 50},
    "bigram": {},
}


class DenseOnly:
    """The ranker without its ``evidence`` method: RankerCandidates' catalogue-sized path."""

    def __init__(self, ranker):
        self.name, self.popularity, self.scores = ranker.name, ranker.popularity, ranker.scores


def queries(seed=1):
    rng = np.random.default_rng(seed)
    out = [rng.integers(N_TRACKS, size=n) for n in QUERY_LENGTHS]
    return [*out, np.array([N_TRACKS - 1])]  # a rare track: the back-off fills the list


@pytest.mark.parametrize("name", sorted(EVIDENCE_RANKERS))
def test_evidence_equals_the_score_vector_bit_for_bit(planted, name):
    _, p, _ = planted
    ranker = make_ranker(name, p.train, EVIDENCE_RANKERS[name])
    for seeds in queries():
        dense = ranker.scores(seeds)
        tracks, values = ranker.evidence(seeds)
        assert np.all(np.diff(tracks) > 0)  # distinct, ascending
        np.testing.assert_array_equal(values, dense[tracks])  # exact, not approximate
        rest = np.ones(len(dense), bool)
        rest[tracks] = False
        assert np.all(dense[rest] == 0)


@pytest.mark.parametrize("evidence_only", [False, True])
@pytest.mark.parametrize("name", sorted(EVIDENCE_RANKERS))
def test_a_rankers_candidates_from_its_evidence_equal_the_dense_path(planted, name, evidence_only):
    _, p, _ = planted
    ranker = make_ranker(name, p.train, EVIDENCE_RANKERS[name])
    fast = RankerCandidates(ranker, evidence_only=evidence_only)
    dense = RankerCandidates(DenseOnly(ranker), evidence_only=evidence_only)
    for seeds in queries():
        for n in (0, 1, 7, 40, 250, N_TRACKS + 5):
            a, b = fast.candidates(seeds, n), dense.candidates(seeds, n)
            np.testing.assert_array_equal(a.tracks, b.tracks)
            np.testing.assert_array_equal(a.scores, b.scores)


def test_recommend_equals_ranking_the_full_score_vector(planted, fitted):
    for seeds in queries(2):
        cset, x = fitted.candidate_features(seeds)
        full = np.full(N_TRACKS, -np.inf)
        full[cset.tracks] = fitted._predict(x)
        for k in (1, 10, 25, N_TRACKS):
            want = top_of_scores(full, fitted.popularity, k, exclude=seeds)
            tracks, scores = fitted.recommend(seeds, k)
            np.testing.assert_array_equal(tracks, want)
            np.testing.assert_array_equal(scores, full[want])


def test_successor_counts_equal_scipys_column_lookup(planted):
    _, p, _ = planted
    counts = TrainingCounts(p.train)
    cand = np.random.default_rng(3).permutation(N_TRACKS)[:120]
    for last in range(N_TRACKS):
        want = counts.transitions[last][:, cand].toarray().ravel()
        np.testing.assert_array_equal(counts.successor_counts(last, cand), want)


def test_sum_by_track_sums_each_tracks_values_in_order_on_both_paths():
    tracks, values = np.array([3, 1, 3, 7]), np.array([0.5, 2.0, 0.25, 1.0])
    for n in (None, 10**6, 8):  # a sort; a sort (few entries); a catalogue-sized array
        got = sum_by_track(tracks, values, n)
        np.testing.assert_array_equal(got[0], [1, 3, 7])
        np.testing.assert_array_equal(got[1], [2.0, 0.75, 1.0])
    rng = np.random.default_rng(4)
    t, v = rng.integers(500, size=5000), rng.random(5000) ** 3 * 1e3
    a, b = sum_by_track(t, v), sum_by_track(t, v, 500)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])  # the same additions in the same order


def test_fit_and_build_use_the_neighbour_search_they_are_given(planted):
    """``search=`` reaches the embedding generators when fitting (a large catalogue fits
    with the index it is served with); None keeps the exact numpy search."""
    from songspace.evaluation.candidates import ExactSearch
    from songspace.recommender import TwoStageRanker

    _, p, embs = planted
    given = {}

    def search(emb):
        given[emb.name] = ExactSearch(emb.vectors[emb.available])
        return given[emb.name]

    stage1, _, _ = TwoStageRanker.build(p.train, embs, search=search)
    searches = {g.name: getattr(g, "search", None) for g in stage1.generators}
    assert searches["svd.last"] is given["svd"] and searches["svd.mean"] is given["svd"]
    stage1, _, _ = TwoStageRanker.build(p.train, embs, search=lambda emb: None)
    assert isinstance(dict((g.name, g) for g in stage1.generators)["svd.last"].search, ExactSearch)


def test_cooccurrence_counts_equal_the_sparse_product_on_both_paths(planted):
    """Counted from the seeds' sequences (few seeds, many candidates) or by the sparse
    product (many seeds, few candidates): the same counts as ``X[:, s].T @ X[:, c]``."""
    _, p, _ = planted
    counts = TrainingCounts(p.train)
    x = counts.by_track
    rng = np.random.default_rng(5)
    for n_seeds, n_cand in ((1, 200), (3, 150), (30, 2), (60, 1)):
        for _ in range(5):
            seeds = rng.choice(N_TRACKS, n_seeds, replace=False)
            cand = rng.choice(N_TRACKS, n_cand, replace=False)
            want = (x[:, seeds].T @ x[:, cand]).toarray()
            np.testing.assert_array_equal(counts.cooccurrence(seeds, cand), want)
