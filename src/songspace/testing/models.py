"""The shared test suite every embedding model must pass (as implicit's
``RecommenderBaseTestMixin``).

Usage, in a test module of the project that defines the model::

    from songspace.testing import ModelTestMixin

    class TestMyModel(ModelTestMixin):
        model_class = MyModel
        fast_params = {"dim": 16, "epochs": 2}  # trains in a few seconds

What it checks (on a small synthetic dataset with planted genres):

- the constructor only stores; every parameter has a constraint; every search-space
  entry lies inside its constraint; ``create`` rebuilds the model from JSON values;
- ``fit`` returns ``self`` with aligned float32 arrays; the same seed gives identical
  embeddings; bad values of every parameter raise ParameterError naming the parameter
  (:func:`bad_values` builds them for every constraint kind of :mod:`songspace.params`);
- the progress callback is called, and an exception it raises propagates from ``fit``;
- tracks absent from training get zero rows and ``available_`` False (unless the
  model is inductive and embeds them from their features);
- ``save``/``load`` and ``pickle`` round trips keep the embeddings; saving an unfitted
  model raises NotFittedError and writes nothing;
- the registry returns the class under ``cls.name``;
- the embeddings learn: a track's nearest neighbours share its planted genre far more
  often than chance.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from songspace._util import to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.synthetic import generate
from songspace.errors import NotFittedError, ParameterError
from songspace.models.base import EmbeddingModel, InductiveModel
from songspace.models.registry import create, get_model_class
from songspace.models.space import CategoricalParam, FloatParam, IntParam, TupleParam
from songspace.params import (
    AnyOf,
    Boolean,
    Constraint,
    Device,
    Interval,
    Names,
    NoneValue,
    Options,
    Text,
    Tuple,
)


def planted_dataset() -> Dataset:
    """800 playlists over 400 tracks in 5 planted genres (seeded)."""
    return generate(800, 400, n_genres=5, mean_length=25, seed=0)


def same_genre_share(
    emb: np.ndarray, available: np.ndarray, genre: np.ndarray, k: int = 10
) -> tuple[float, float]:
    """(mean share of each track's k nearest neighbours (cosine) sharing its genre,
    the share expected by chance)."""
    ok = available & (genre != None)  # noqa: E711
    x = emb[ok] / np.linalg.norm(emb[ok], axis=1, keepdims=True)
    g = genre[ok]
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1)[:, :k]
    share = (g[top] == g[:, None]).mean()
    counts = np.unique(g, return_counts=True)[1] / len(g)
    return float(share), float((counts**2).sum())


def search_space_ends(spec: Any) -> list[Any]:
    """The extreme values a search-space entry can produce (both ends of each range,
    every categorical choice; for a tuple, the tuple of lows and of highs)."""
    if isinstance(spec, FloatParam | IntParam):
        return [spec.low, spec.high]
    if isinstance(spec, CategoricalParam):
        return list(spec.choices)
    if isinstance(spec, TupleParam):
        ends = [search_space_ends(item) for item in spec.items]
        return [tuple(e[0] for e in ends), tuple(e[-1] for e in ends)]
    raise TypeError(f"unknown search-space entry {spec!r}")


def _interval_candidates(c: Interval) -> list[Any]:
    """Wrong types and the values just past (or on an open) end of an interval."""
    step = 1 if c.kind is int else 1e-3 + abs(c.low or 0) * 1e-3
    out: list[Any] = ["not a number", True, None]
    if c.low is not None:
        out += [c.low, c.low - step]
    if c.high is not None:
        out += [c.high, c.high + step]
    out.append(float((c.low or 0) + 1) + 0.5 if c.kind is int else float("nan"))
    return out


def _inside(c: Interval) -> Any:
    """A value the interval accepts (None when none of the few tried is)."""
    low = c.low if c.low is not None else 0
    tried = [low, low + 1, c.high, 0, 1]
    return next((v for v in tried if v is not None and c.is_satisfied_by(v)), None)


def _tuple_candidates(c: Tuple) -> list[Any]:
    """Not a tuple, too short, one too long, and items that break the item constraint."""
    n = c.length if c.length is not None else max(c.min_len, 1)
    out: list[Any] = [5, "25,10", ()]
    good = _inside(c.item)
    if good is not None and c.length is not None:
        out.append((good,) * (c.length + 1))
    out += [(bad,) * n for bad in bad_values(c.item)]
    return out


def _candidates(c: Constraint) -> list[Any]:
    """Values likely to break ``c``, filtered by :func:`bad_values`."""
    if isinstance(c, Interval):
        return _interval_candidates(c)
    if isinstance(c, Options):
        return [f"not {'/'.join(map(str, c.values))}", None, 3.5, [list(c.values)]]
    if isinstance(c, Boolean):
        return ["true", 1, None]
    if isinstance(c, Names):
        first = c.choices[0] if c.choices else "name"
        return [first, 5, (first, first), ("no such name",), (1,), ()]
    if isinstance(c, Text):
        return ["", 5, None, Path("somewhere")]
    if isinstance(c, Device):
        return ["gpu", "cuda:x", "cuda:", "", 0, None]
    if isinstance(c, NoneValue):
        return [0, False, "none"]
    if isinstance(c, Tuple):
        return _tuple_candidates(c)
    if isinstance(c, AnyOf):
        return [v for member in c.constraints for v in _candidates(member)]
    return []


def bad_values(constraint: Constraint) -> list[Any]:
    """Values that break ``constraint``, for every constraint kind of
    :mod:`songspace.params` (wrong types, values past an end, an unknown option or name,
    a repeated name, an empty text, an unknown device, a tuple of the wrong length or with
    a bad item); none for a constraint kind of one's own."""
    return [v for v in _candidates(constraint) if not constraint.is_satisfied_by(v)]


class _Stop(Exception):
    """Raised by the test's progress callback."""


class ModelTestMixin:
    """See the module docstring. Subclasses set ``model_class`` and ``fast_params``."""

    model_class: ClassVar[type[EmbeddingModel]]
    fast_params: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------- fixtures
    @pytest.fixture(scope="class")
    @classmethod
    def dataset(cls) -> Dataset:
        return planted_dataset()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, dataset: Dataset) -> EmbeddingModel:
        return cls.model_class(**{**cls.fast_params, "seed": 1}).fit(dataset)

    # ----------------------------------------------------------- parameters
    def test_constructor_only_stores(self):
        marks = {p: ("stored", p) for p in self.model_class.default_params()}
        model = self.model_class(**marks)
        for p, v in marks.items():
            assert getattr(model, p) == v
        assert not hasattr(model, "embeddings_")

    def test_every_parameter_has_a_constraint(self):
        params = set(self.model_class.default_params())
        assert params == set(self.model_class.parameter_constraints), (
            "parameter_constraints must name exactly the constructor's parameters"
        )
        self.model_class().check_params()  # the defaults are valid
        self.model_class(**self.fast_params).check_params()

    def test_search_space_inside_constraints(self):
        constraints = self.model_class.parameter_constraints
        for name, spec in self.model_class.search_space.items():
            assert name in constraints, f"search_space names unknown parameter {name!r}"
            for value in search_space_ends(spec):
                assert constraints[name].is_satisfied_by(value), (name, value)

    def test_create_rebuilds_from_json_values(self):
        model = self.model_class(**self.fast_params)
        stored = json.loads(json.dumps(to_jsonable(model.get_params())))
        again = create(self.model_class.name, stored)
        assert type(again) is self.model_class
        assert again.get_params() == model.get_params()

    def test_parameter_validation(self, dataset):
        """Every bad value of every parameter's constraint (:func:`bad_values`) raises a
        ParameterError naming the parameter; ``fit`` validates before training."""
        for p, constraint in self.model_class.parameter_constraints.items():
            for value in bad_values(constraint):
                model = self.model_class(**{**self.fast_params, p: value})
                with pytest.raises(ParameterError, match=f"parameter `{p}`"):
                    model.check_params()
        bounded = [
            (p, c.low - 1)
            for p, c in self.model_class.parameter_constraints.items()
            if isinstance(c, Interval) and c.low is not None
        ]
        if bounded:  # fit validates before training
            p, value = bounded[0]
            with pytest.raises(ParameterError, match=f"parameter `{p}`"):
                self.model_class(**{**self.fast_params, p: value}).fit(dataset)

    def test_get_set_params(self):
        m = self.model_class(**self.fast_params)
        params = m.get_params()
        assert set(params) == set(self.model_class.default_params())
        with pytest.raises(ParameterError, match="a parameter of"):
            m.set_params(no_such_parameter=1)

    def test_registry_name_is_the_class_name_attribute(self):
        assert self.model_class.name
        assert get_model_class(self.model_class.name) is self.model_class

    # -------------------------------------------------------------- fitting
    def test_fit_returns_self_with_aligned_arrays(self, dataset, fitted):
        assert isinstance(fitted, self.model_class)
        assert fitted.embeddings_.dtype == np.float32
        assert fitted.embeddings_.shape[0] == dataset.n_tracks
        assert fitted.available_.shape == (dataset.n_tracks,)
        assert fitted.available_.mean() > 0.9
        assert np.isfinite(fitted.embeddings_).all()
        assert fitted.training_time_ > 0
        assert not fitted.embeddings_[~fitted.available_].any()

    def test_deterministic_with_seed(self, dataset, fitted):
        again = self.model_class(**{**self.fast_params, "seed": 1}).fit(dataset)
        np.testing.assert_array_equal(again.embeddings_, fitted.embeddings_)

    def test_progress_is_reported_and_its_exception_propagates(self, dataset):
        calls: list[tuple[float, float, str]] = []
        small = dataset.subset(np.arange(300))
        self.model_class(**self.fast_params).fit(
            small, progress=lambda done, total, msg: calls.append((done, total, msg))
        )
        assert calls, "fit never called progress"
        assert all(isinstance(m, str) and t > 0 and 0 <= d <= t for d, t, m in calls), calls

        def stop(done: float, total: float, message: str) -> None:
            raise _Stop(message)

        model = self.model_class(**self.fast_params)
        with pytest.raises(_Stop):
            model.fit(small, progress=stop)
        assert not hasattr(model, "embeddings_")

    def test_tracks_absent_from_training(self, dataset):
        absent = np.arange(0, dataset.n_tracks, 10)
        train = dataset.subset(np.arange(dataset.n_sequences), drop_tracks=absent)
        assert train.n_tracks == dataset.n_tracks and not train.occurrences()[absent].any()
        model = self.model_class(**self.fast_params).fit(train)
        assert model.embeddings_.shape[0] == dataset.n_tracks
        assert not model.embeddings_[~model.available_].any(), "unavailable rows must be 0"
        if not issubclass(self.model_class, InductiveModel):
            assert not model.available_[absent].any()
            assert not model.embeddings_[absent].any()
        assert model.available_[np.setdiff1d(np.arange(dataset.n_tracks), absent)].mean() > 0.9

    # --------------------------------------------------------------- saving
    def test_save_load_round_trip(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        back = EmbeddingModel.load(tmp_path / "m")
        assert type(back) is self.model_class
        assert back.get_params() == fitted.get_params()
        np.testing.assert_array_equal(back.embeddings_, fitted.embeddings_)
        np.testing.assert_array_equal(back.available_, fitted.available_)

    def test_pickle_round_trip(self, dataset, fitted):
        back = pickle.loads(pickle.dumps(fitted))
        assert type(back) is self.model_class
        np.testing.assert_array_equal(back.embeddings_, fitted.embeddings_)
        np.testing.assert_array_equal(back.available_, fitted.available_)
        if isinstance(fitted, InductiveModel):
            np.testing.assert_array_equal(back.embed(dataset), fitted.embed(dataset))

    def test_saving_an_unfitted_model_is_refused(self, tmp_path):
        with pytest.raises(NotFittedError, match="fit"):
            self.model_class(**self.fast_params).save(tmp_path / "m")
        assert not (tmp_path / "m").exists()

    # ------------------------------------------------------------- learning
    def test_recovers_planted_genres(self, dataset, fitted):
        genre = dataset.tracks["genre"].to_numpy(dtype=object)
        share, chance = same_genre_share(fitted.embeddings_, fitted.available_, genre)
        assert share > 2 * chance, (share, chance)
