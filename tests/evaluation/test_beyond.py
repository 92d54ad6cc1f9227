"""Beyond-accuracy metrics against hand-computed values."""

import math

import numpy as np

from songspace.evaluation.beyond import beyond_accuracy


def test_coverage_popularity_and_artist_diversity_by_hand():
    # 6 tracks; track 5 never occurs in training (outside the catalogue of 5)
    popularity = np.array([3, 1, 0, 7, 1, 0])
    popularity[2] = 2  # catalogue: tracks 0-4
    artist = np.array([0, 0, 1, -1, 2, 1])
    lists = [np.array([0, 1, 3]), np.array([3]), np.array([4, 5]), np.array([], np.int64)]
    got = {r.name: r for r in beyond_accuracy(lists, popularity, artist, prefix="x")}
    # recommended catalogue tracks: 0, 1, 3, 4 of 5
    assert got["x_coverage"].value == 4 / 5
    assert got["x_coverage"].per_query.size == 0  # one value for the set, not testable
    # mean log(1 + popularity) per non-empty list
    bias = [
        (math.log(4) + math.log(2) + math.log(8)) / 3,
        math.log(8),
        (math.log(2) + math.log(1)) / 2,
    ]
    np.testing.assert_allclose(got["x_popularity"].per_query, bias)
    # distinct known artists / known tracks: {0}/2; (none known); {2, 1}/2
    np.testing.assert_allclose(got["x_artist_diversity"].per_query, [0.5, 1.0])
    assert got["x_artist_diversity"].value == 0.75
