import numpy as np
import pytest

from songspace.data.features import (
    genre_group,
    popularity_group,
    primary_genres,
    scale_columns,
    top_genres,
)
from songspace.errors import ParameterError


def test_scale_columns_fixed_and_data_ranges():
    raw = np.array([[-30.0, 5.0], [np.nan, 7.0], [0.0, np.nan], [-90.0, 9.0]])
    g = scale_columns("audio", ["loudness", "custom"], raw)
    # loudness has the fixed range [-60, 0] (clipped); custom uses min/max of known values
    np.testing.assert_allclose(g.values[:, 0], [0.5, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(g.values[:, 1], [0.0, 0.5, 0.0, 1.0])
    assert g.known.tolist() == [[True, True], [False, True], [True, False], [True, True]]
    assert g.scaling == {"loudness": [-60.0, 0.0], "custom": [5.0, 9.0]}
    g.validate(4)


def test_genre_group_top_g_and_other():
    lists = [["rock"], ["rock", "pop"], ["jazz"], [], ["pop"]]
    # weights make pop the most popular genre
    w = np.array([1, 1, 1, 1, 5])
    assert top_genres(lists, w, 2) == ["pop", "rock"]
    g = genre_group(lists, w, top_g=2)
    assert g.columns == ["genre:pop", "genre:rock", "genre:other"]
    np.testing.assert_array_equal(g.values, [[0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
    assert g.known_tracks.tolist() == [True, True, True, False, True]
    with pytest.raises(ParameterError, match="top_g >= 1"):
        genre_group(lists, top_g=0)


def test_primary_genre_is_most_common():
    lists = [["b", "a"], ["a"], ["c", "b"], []]
    # counts: a=2, b=2, c=1 -> ties by name
    assert primary_genres(lists) == ["a", "a", "b", None]


def test_popularity_group_with_source():
    g = popularity_group(np.array([0, 1, 3]), 3, np.array([50.0, np.nan, 100.0]))
    np.testing.assert_allclose(g.values[:, 0], np.log1p([0, 1, 3]) / np.log1p(3), rtol=1e-6)
    np.testing.assert_allclose(g.values[:, 1], [0.5, 0.0, 1.0])
    assert g.known.tolist() == [[True, True], [True, False], [True, True]]
    assert g.coverage() == pytest.approx(2 / 3)
