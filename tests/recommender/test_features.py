"""The stage-2 feature blocks against hand-computed values.

Training sequences (5 tracks): s0 = [0, 1, 2], s1 = [0, 1], s2 = [1, 3], s3 = [2, 3, 4].
Artists: t0 a, t1 a, t2 b, t3 b, t4 unknown. Primary genres: t0 pop, t1 rock, t2 pop,
t3 unknown, t4 pop. Seeds [2, 0] (the last seed is t0); candidates t1, t3, t4.
"""

import math

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.errors import ParameterError
from songspace.evaluation.candidates import Scored, merge
from songspace.evaluation.embeddings import Embeddings
from songspace.recommender.features import (
    CountFeatures,
    EmbeddingFeatures,
    GeneratorFeatures,
    MetadataFeatures,
    PopularityFeatures,
    TrainingCounts,
    feature_matrix,
)

SEQS = [[0, 1, 2], [0, 1], [1, 3], [2, 3, 4]]
SEEDS = np.array([2, 0])
S2 = 1 / math.sqrt(2)
nan = np.nan


@pytest.fixture()
def train():
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(5)],
        indptr=np.cumsum([0] + [len(s) for s in SEQS]),
        indices=np.concatenate(SEQS),
        sequence_ids=np.array([f"s{i}" for i in range(4)], dtype=object),
        track_attrs={
            "artist_id": ["a", "a", "b", "b", None],
            "genres": [["pop"], ["rock"], ["pop"], [], ["pop"]],
        },
    )


@pytest.fixture()
def cands():
    # generator x ranks t1 first and t3 second; generator y ranks t4 first
    return merge(
        [Scored(np.array([1, 3]), np.array([0.5, 0.25])), Scored(np.array([4]), np.array([7.0]))],
        ["x", "y"],
    )


def test_generator_scores_and_ranks(cands):
    assert cands.tracks.tolist() == [1, 4, 3]
    f = GeneratorFeatures(["x", "y"])
    assert f.names == ("x.score", "x.rank", "y.score", "y.rank")
    np.testing.assert_array_equal(
        f.values(SEEDS, cands), [[0.5, 1, nan, nan], [nan, nan, 7.0, 1], [0.25, 2, nan, nan]]
    )
    with pytest.raises(ParameterError, match="generators"):
        GeneratorFeatures(["y", "x"]).values(SEEDS, cands)


def test_popularity_and_degree(train, cands):
    f = PopularityFeatures(TrainingCounts(train))
    # popularity t1 3, t4 1, t3 2; degree (other distinct tracks over its sequences):
    # t1: s0 2 + s1 1 + s2 1 = 4, t4: s3 2, t3: s2 1 + s3 2 = 3
    np.testing.assert_allclose(
        f.values(SEEDS, cands), [[math.log(4), 4], [math.log(2), 2], [math.log(3), 3]]
    )


def test_counts_with_the_seeds(train, cands):
    f = CountFeatures(TrainingCounts(train))
    # with the last seed t0: t1 shares s0 and s1 (2), t4 and t3 none; 0 -> 1 twice;
    # seeds sharing a sequence: t1 both (t0, t2), t4 t2 only (s3), t3 t2 only (s3);
    # the most recent such seed: t0 (1 back) for t1, t2 (2 back) for t4 and t3
    np.testing.assert_array_equal(
        f.values(SEEDS, cands),
        [[2, 2, 1.0, 1, 2], [0, 0, 0.5, 2, 2], [0, 0, 0.5, 2, 2]],
    )
    # a repeated seed counts by its last position: seeds [0, 2, 0]: t2 is 2 back
    got = f.values(np.array([0, 2, 0]), cands)
    assert got[:, 3].tolist() == [1, 2, 2] and got[:, 4].tolist() == [3, 3, 3]


def test_artist_overlap_and_genre_match(train, cands):
    f = MetadataFeatures(train.tracks)
    # seeds t2 (b, pop) and t0 (a, pop): t1 (a, rock) overlap 1/2, genre 0; t4 (?, pop):
    # artist unknown, genre 2/2; t3 (b, ?): overlap 1/2, genre unknown
    np.testing.assert_array_equal(f.values(SEEDS, cands), [[0.5, 0.0], [nan, 1.0], [0.5, nan]])


def test_cosines_under_an_embedding(cands):
    v = np.array([[1, 0], [0, 1], [S2, S2], [-1, 0], [0, 0]], dtype=float)
    emb = Embeddings.from_array(v, 5, available=np.array([1, 1, 1, 1, 0], bool), name="e")
    f = EmbeddingFeatures(emb)
    assert f.names == ("e.cos_last", "e.cos_mean", "e.cos_max")
    norm = math.sqrt(2 + math.sqrt(2))  # |t0 + t2| = |(1 + 1/sqrt 2, 1/sqrt 2)|
    np.testing.assert_allclose(
        f.values(SEEDS, cands),
        [[0.0, S2 / norm, S2], [nan, nan, nan], [-1.0, -(1 + S2) / norm, -S2]],
        atol=1e-7,
    )


def test_the_feature_matrix_puts_the_blocks_side_by_side(train, cands):
    blocks = [GeneratorFeatures(["x", "y"]), PopularityFeatures(TrainingCounts(train))]
    x = feature_matrix(blocks, SEEDS, cands)
    assert x.shape == (3, 6) and x.dtype == np.float32

    class Wrong:
        name, names = "wrong", ("a", "b")

        def values(self, seeds, candidates):
            return np.zeros((len(candidates), 1))

    with pytest.raises(ParameterError, match="feature 'wrong'"):
        feature_matrix([Wrong()], SEEDS, cands)
