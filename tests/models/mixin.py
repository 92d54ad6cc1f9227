"""The shared test suite every embedding model must pass (as implicit's RecommenderBaseTestMixin).

Subclass ``ModelTestMixin`` in a ``Test...`` class and set ``model_class`` and
``fast_params`` (settings small enough to train in a few seconds).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.errors import ParameterError
from songspace.models.base import EmbeddingModel


def planted_dataset():
    return generate(800, 400, n_genres=5, mean_length=25, seed=0)


def same_genre_share(emb: np.ndarray, available: np.ndarray, genre: np.ndarray, k: int = 10):
    """Mean share of each track's k nearest neighbours (cosine) sharing its genre."""
    ok = available & (genre != None)  # noqa: E711
    x = emb[ok] / np.linalg.norm(emb[ok], axis=1, keepdims=True)
    g = genre[ok]
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1)[:, :k]
    share = (g[top] == g[:, None]).mean()
    counts = np.unique(g, return_counts=True)[1] / len(g)
    return float(share), float((counts**2).sum())


class ModelTestMixin:
    model_class: ClassVar[type[EmbeddingModel]]
    fast_params: ClassVar[dict[str, Any]] = {}

    def test_constructor_only_stores(self):
        bad = {p: -(10**9) for p in self.model_class.param_ranges}
        model = self.model_class(**bad)
        for p, v in bad.items():
            assert getattr(model, p) == v
        assert not hasattr(model, "embeddings_")

    def test_fit_returns_self_with_aligned_arrays(self, dataset, fitted):
        assert isinstance(fitted, self.model_class)
        assert fitted.embeddings_.dtype == np.float32
        assert fitted.embeddings_.shape[0] == dataset.n_tracks
        assert fitted.available_.shape == (dataset.n_tracks,)
        assert fitted.available_.mean() > 0.9
        assert np.isfinite(fitted.embeddings_).all()
        assert fitted.training_time_ > 0

    def test_deterministic_with_seed(self, dataset, fitted):
        again = self.model_class(**self.fast_params, seed=1).fit(dataset)
        np.testing.assert_array_equal(again.embeddings_, fitted.embeddings_)

    def test_save_load_round_trip(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        back = EmbeddingModel.load(tmp_path / "m")
        assert type(back) is self.model_class
        assert back.get_params() == fitted.get_params()
        np.testing.assert_array_equal(back.embeddings_, fitted.embeddings_)
        np.testing.assert_array_equal(back.available_, fitted.available_)

    @pytest.mark.parametrize("side", ["low", "high"])
    def test_parameter_validation(self, dataset, side):
        for p, (lo, hi) in self.model_class.param_ranges.items():
            value = lo - 1 if side == "low" else hi + 1
            model = self.model_class(**{**self.fast_params, p: value})
            with pytest.raises(ParameterError, match=p):
                model.fit(dataset)

    def test_get_set_params(self):
        m = self.model_class(**self.fast_params)
        params = m.get_params()
        assert set(params) == set(self.model_class.default_params())
        with pytest.raises(ParameterError, match="a parameter of"):
            m.set_params(no_such_parameter=1)

    def test_recovers_planted_genres(self, dataset, fitted):
        genre = dataset.tracks["genre"].to_numpy(dtype=object)
        share, chance = same_genre_share(fitted.embeddings_, fitted.available_, genre)
        assert share > 2 * chance, (share, chance)
