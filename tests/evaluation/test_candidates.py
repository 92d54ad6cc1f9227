"""Stage-1 candidate generators and their union, against hand-computed answers.

Training sequences (5 tracks, as tests/evaluation/test_rankers.py): s0 = [0, 1, 2],
s1 = [0, 1], s2 = [1, 3], s3 = [2, 3, 4]. Popularity: t0 2, t1 3, t2 2, t3 2, t4 1.
Successors: 0 -> 1 twice, 1 -> 2, 1 -> 3, 2 -> 3, 3 -> 4 once each.
"""

import math

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.errors import ParameterError
from songspace.evaluation.candidates import (
    CandidateGenerator,
    CandidateSet,
    CandidateUnion,
    EmbeddingNeighbours,
    ExactSearch,
    PopularityCandidates,
    RankerCandidates,
    Scored,
    found_ranks,
    generator_ranks,
    merge,
    stage1_generator,
    successors,
)
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.rankers import ItemKNN

SEQS = [[0, 1, 2], [0, 1], [1, 3], [2, 3, 4]]
S2 = 1 / math.sqrt(2)


@pytest.fixture()
def train():
    indptr = np.cumsum([0] + [len(s) for s in SEQS])
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(5)],
        indptr=indptr,
        indices=np.concatenate(SEQS),
        sequence_ids=np.array([f"s{i}" for i in range(4)], dtype=object),
    )


@pytest.fixture()
def emb():
    # t0 (1, 0), t1 (0, 1), t2 (1, 1)/sqrt 2, t3 (-1, 0); t4 has no vector
    v = np.array([[1, 0], [0, 1], [S2, S2], [-1, 0], [0, 0]], dtype=float)
    return Embeddings.from_array(v, 5, available=np.array([1, 1, 1, 1, 0], bool), name="toy")


class Fixed:
    """A plug-in generator: always the same list (minus the seeds)."""

    def __init__(self, name, tracks, scores):
        self.name, self.tracks, self.scores = name, np.array(tracks), np.array(scores, float)

    def candidates(self, seeds, n):
        keep = ~np.isin(self.tracks, seeds)
        return Scored(self.tracks[keep][:n], self.scores[keep][:n])


def test_a_rankers_top_n_with_and_without_its_popularity_back_off(train):
    r = ItemKNN.fit(train)
    # seed 0: sim(0, 1) = 2 / sqrt(2 * 3), sim(0, 2) = 1 / 2, t3 and t4 score 0
    got = RankerCandidates(r).candidates(np.array([0]), 3)
    assert got.tracks.tolist() == [1, 2, 3]  # t3 before t4: popularity 2 > 1
    np.testing.assert_allclose(got.scores, [2 / math.sqrt(6), 0.5, 0.0])
    only = RankerCandidates(r, evidence_only=True).candidates(np.array([0]), 3)
    assert only.tracks.tolist() == [1, 2]
    assert RankerCandidates(r).name == "itemknn"
    assert isinstance(RankerCandidates(r), CandidateGenerator)


def test_successors_follow_the_last_seed_only(train):
    gen = successors(train)
    got = gen.candidates(np.array([2, 0]), 5)  # last seed 0: 0 -> 1 twice
    assert got.tracks.tolist() == [1]
    assert got.scores.tolist() == [2.0]
    # last seed 1: 1 -> 2 and 1 -> 3 once each, tie by popularity (2, 2), then index
    assert gen.candidates(np.array([1]), 5).tracks.tolist() == [2, 3]
    assert gen.candidates(np.array([4]), 5).tracks.tolist() == []  # t4 never followed


def test_popular_tracks_without_the_seeds(train):
    gen = PopularityCandidates(train.occurrences())
    got = gen.candidates(np.array([1]), 3)
    assert got.tracks.tolist() == [0, 2, 3]  # popularity 2 each, ties by index
    assert got.scores.tolist() == [2.0, 2.0, 2.0]


def test_embedding_neighbours_of_the_last_seed_and_of_the_mean(emb):
    last = EmbeddingNeighbours(emb, "last")
    got = last.candidates(np.array([2, 0]), 5)  # query t0 = (1, 0); t4 has no vector
    assert got.tracks.tolist() == [1, 3]
    np.testing.assert_allclose(got.scores, [0.0, -1.0], atol=1e-7)
    mean = EmbeddingNeighbours(emb, "mean").candidates(np.array([2, 0]), 5)
    norm = math.sqrt(2 + math.sqrt(2))  # |(1 + 1/sqrt 2, 1/sqrt 2)|
    assert mean.tracks.tolist() == [1, 3]
    np.testing.assert_allclose(mean.scores, [S2 / norm, -(1 + S2) / norm], rtol=1e-6)
    assert last.name == "toy.last"
    # a last seed without a vector: no candidate
    assert len(last.candidates(np.array([0, 4]), 5)) == 0
    assert EmbeddingNeighbours(emb, "mean").candidates(np.array([0, 4]), 1).tracks.tolist() == [2]
    with pytest.raises(ParameterError, match="of"):
        EmbeddingNeighbours(emb, "first")  # type: ignore[arg-type]


def test_exact_search_orders_ties_by_position():
    s, pos = ExactSearch(np.array([[1, 0], [1, 0], [0, 1]], float)).search(np.array([1, 0]), 5)
    assert pos.tolist() == [[0, 1, 2]]
    assert s.tolist() == [[1.0, 1.0, 0.0]]


def test_the_union_remembers_each_generators_score_and_rank():
    a = Scored(np.array([5, 3, 7]), np.array([0.9, 0.8, 0.7]))
    b = Scored(np.array([3, 9]), np.array([10.0, 5.0]))
    got = merge([a, b], ["a", "b"])
    # best ranks: t3 1 (b; and 2 in a), t5 1, t9 2, t7 3; ties: more generators first
    assert got.tracks.tolist() == [3, 5, 9, 7]
    nan = np.nan
    np.testing.assert_array_equal(got.generator_ranks, [[2, 1], [1, nan], [nan, 2], [3, nan]])
    np.testing.assert_array_equal(
        got.generator_scores, [[0.8, 10.0], [0.9, nan], [nan, 5.0], [0.7, nan]]
    )
    assert got.best_rank.tolist() == [1, 1, 2, 3]
    assert found_ranks(got, np.array([7, 9, 4, 3])).tolist() == [3, 2, 0, 1]
    assert generator_ranks(got, np.array([7, 9, 4, 3])).tolist() == [[3, 0], [0, 2], [0, 0], [2, 1]]
    # a single generator's list: the position
    assert found_ranks(a, np.array([7, 5, 1])).tolist() == [3, 1, 0]


def test_a_union_caps_a_member_by_its_limit_and_holds_the_prefix_property():
    a = Fixed("a", [10, 11, 12, 13], [4, 3, 2, 1])
    pop = Fixed("popular", [13, 20, 21], [9, 8, 7])
    union = CandidateUnion([a, pop], limits={"popular": 1})
    got = union.candidates(np.array([11]), 3)  # a: 10, 12, 13; popular: 13 only
    assert isinstance(got, CandidateSet)
    assert got.tracks.tolist() == [13, 10, 12]
    assert got.generators == ("a", "popular")
    deep = union.candidates(np.array([11]), 3)
    shallow = union.candidates(np.array([11]), 2)
    # the union at depth 2 is every track of the deeper union with best rank <= 2
    assert set(shallow.tracks) == set(deep.tracks[deep.best_rank <= 2])
    with pytest.raises(ParameterError, match="distinct generator names"):
        CandidateUnion([a, a])
    with pytest.raises(ParameterError, match="limits"):
        CandidateUnion([a], limits={"nope": 3})


def test_stage1_generator_finds_a_recommenders_candidates(train):
    union = CandidateUnion([PopularityCandidates(train.occurrences())])

    class TwoStage:
        name = "two"
        stage1 = union

    assert stage1_generator(TwoStage()) is union
    assert stage1_generator(union) is union
    assert stage1_generator(ItemKNN.fit(train)) is None


class Counting(Fixed):
    """A ``Fixed`` generator that counts its calls."""

    calls = 0

    def candidates(self, seeds, n):
        self.calls += 1
        return super().candidates(seeds, n)


def _same(a, b):
    assert a.tracks.tolist() == b.tracks.tolist()
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.generator_scores, b.generator_scores)
    np.testing.assert_array_equal(a.generator_ranks, b.generator_ranks)


def test_a_remembering_union_answers_exactly_as_afresh_and_asks_each_query_once():
    def union():
        a = Counting("a", [10, 11, 12, 13, 14, 15], [6, 5, 4, 3, 2, 1])
        b = Counting("b", [15, 13, 11, 20, 21], [9, 8, 7, 6, 5])
        pop = Counting("popular", [13, 20, 21, 22], [9, 8, 7, 6])
        return CandidateUnion([a, b, pop], limits={"popular": 2}), (a, b, pop)

    plain, _ = union()
    cached, members = union()
    cached.remember(2, depth=5)
    asks = [([11], 2), ([11], 5), ([11], 1), ([12], 3), ([11], 4), ([12], 6), ([13], 2)]
    for seeds, n in asks:
        _same(cached.candidates(np.array(seeds), n), plain.candidates(np.array(seeds), n))
    # [11] at 2 (asked 5 deep), again at 5, 1, 4: remembered; [12] at 3, then 6 (deeper:
    # asked again); [13]; each member once per such call
    assert [g.calls for g in members] == [4, 4, 4]
    # the memo holds the last 2 queries: [11] was dropped, so it is asked again
    cached.candidates(np.array([11]), 2)
    assert members[0].calls == 5
    cached.remember(0)  # off: every call asks
    cached.candidates(np.array([13]), 2)
    cached.candidates(np.array([13]), 2)
    assert members[0].calls == 7


def test_exact_search_answers_a_repeated_query_as_afresh():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((50, 4)).astype(np.float32)
    search, fresh = ExactSearch(v), ExactSearch(v)
    q = rng.standard_normal((1, 4)).astype(np.float32)
    for k in (5, 5, 7, 3):
        got, want = search.search(q, k), ExactSearch(v).search(q, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    got = search.search(q, 5)
    got[1][:] = -7  # a caller may write into the answer: the memo keeps its own copy
    np.testing.assert_array_equal(search.search(q, 5)[1], fresh.search(q, 5)[1])
    other = q + 1
    np.testing.assert_array_equal(search.search(other, 5)[1], fresh.search(other, 5)[1])
