"""The shipped model test suite (songspace.testing.ModelTestMixin) catches a model that
does not validate a parameter, whatever the parameter's constraint kind."""

from typing import Any, ClassVar

import numpy as np
import pytest

from songspace.data.dataset import Dataset
from songspace.models.base import EmbeddingModel
from songspace.params import (
    SEED,
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
from songspace.testing import ModelTestMixin, bad_values, planted_dataset

#: One constraint of every kind songspace.params defines, with a value it accepts.
KINDS: dict[str, tuple[Constraint, Any]] = {
    "interval-int": (Interval(int, 1, 10), 5),
    "interval-float": (Interval(float, 0.0, 1.0, closed="left"), 0.5),
    "options": (Options(("edges", "anchors")), "edges"),
    "boolean": (Boolean(), True),
    "names": (Names(("genre", "audio"), min_len=1), ("genre",)),
    "text": (Text("a directory path", path=True), "somewhere"),
    "device": (Device(), "cpu"),
    "none-or-interval": (AnyOf(NoneValue(), Interval(int, 1, None)), None),
    "tuple": (Tuple(Interval(int, 1, None), length=2), (25, 10)),
    "tuple-or-options": (
        AnyOf(Tuple(Interval(float, 0.0, None), length=3), Options(("1-1-1",))),
        "1-1-1",
    ),
}


def _toy_model(constraint: Constraint, good: Any, *, validates: bool) -> type[EmbeddingModel]:
    """A model with one parameter ``p`` under ``constraint`` (and a seed); with
    ``validates=False`` its ``check_params`` forgets to check ``p``."""

    class Toy(EmbeddingModel):
        name = "toy-mixin"
        parameter_constraints: ClassVar[dict[str, Constraint]] = {"p": constraint, "seed": SEED}

        def __init__(self, p: Any = good, seed: int = 0):
            self.p = p
            self.seed = seed

        def check_params(self) -> None:
            if validates or not SEED.is_satisfied_by(self.seed):
                super().check_params()

        def _fit(self, dataset: Dataset, progress: Any) -> tuple[np.ndarray, np.ndarray]:
            n = dataset.n_tracks
            return np.ones((n, 2), dtype=np.float32), np.ones(n, dtype=bool)

    return Toy


def _mixin_for(model: type[EmbeddingModel]) -> ModelTestMixin:
    class TestToy(ModelTestMixin):
        model_class = model

    return TestToy()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return planted_dataset()


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_bad_value_breaks_its_constraint(kind):
    constraint, good = KINDS[kind]
    assert constraint.is_satisfied_by(good)
    bad = bad_values(constraint)
    assert bad, f"no bad value built for {constraint!r}"
    for value in bad:
        assert not constraint.is_satisfied_by(value), (constraint, value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_parameter_validation_catches_a_model_that_does_not_check_the_parameter(kind, dataset):
    constraint, good = KINDS[kind]
    lenient = _mixin_for(_toy_model(constraint, good, validates=False))
    with pytest.raises(pytest.fail.Exception, match="ParameterError"):
        lenient.test_parameter_validation(dataset)


@pytest.mark.parametrize("kind", list(KINDS))
def test_parameter_validation_passes_a_model_that_checks_its_constraints(kind, dataset):
    constraint, good = KINDS[kind]
    _mixin_for(_toy_model(constraint, good, validates=True)).test_parameter_validation(dataset)
