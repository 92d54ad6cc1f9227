"""The constraint types of songspace.params and the model base's parameter path."""

import warnings

import numpy as np
import pytest

from songspace.errors import NotFittedError, ParameterError
from songspace.models import available_models, create, get_model_class
from songspace.params import (
    SEED,
    AnyOf,
    Boolean,
    Interval,
    Names,
    NoneValue,
    Options,
    Text,
    Tuple,
)
from songspace.testing import planted_dataset


def test_interval_checks_type_and_bounds_and_describes_itself():
    c = Interval(int, 25, 200)
    assert c.is_satisfied_by(25) and c.is_satisfied_by(np.int64(200))
    assert not c.is_satisfied_by(24) and not c.is_satisfied_by(201)
    assert not c.is_satisfied_by(30.0) and not c.is_satisfied_by(True)
    assert c.describe() == "an integer in [25, 200]"
    f = Interval(float, 0, 1, closed="left")
    assert f.is_satisfied_by(0) and f.is_satisfied_by(0.5) and not f.is_satisfied_by(1.0)
    assert not f.is_satisfied_by(float("nan"))
    assert f.describe() == "a number in [0, 1)"
    assert Interval(int, 1, None).describe() == "an integer >= 1"
    assert Interval(float, None, 0, closed="neither").describe() == "a number < 0"
    assert c.from_string("30") == 30
    with pytest.raises(ValueError):
        c.from_string("3.5")
    assert SEED.is_satisfied_by(2**32 - 1) and not SEED.is_satisfied_by(2**32)


def test_tuple_names_options_and_any_of():
    fan = Tuple(Interval(int, 1, None))
    assert fan.from_string("25, 10") == (25, 10) and fan.convert([25, 10]) == (25, 10)
    assert fan.is_satisfied_by((25, 10)) and not fan.is_satisfied_by((25, 0))
    assert fan.describe() == "a tuple of integers >= 1"
    three = Tuple(Interval(float, 0, None), length=3)
    assert three.describe() == "a tuple of 3 numbers >= 0"
    assert not three.is_satisfied_by((1, 2))
    names = Names(("genre", "audio"), what="feature-group names")
    assert names.from_string("genre,audio") == ("genre", "audio")
    assert names.is_satisfied_by(()) and not names.is_satisfied_by(("genre", "genre"))
    assert not names.is_satisfied_by("genre") and not names.is_satisfied_by(("mood",))
    assert not Names(min_len=1).is_satisfied_by(())
    weights = AnyOf(three, Options(("1-1-1", "1-0-0")))
    assert weights.from_string("0.7,0.1,0.2") == (0.7, 0.1, 0.2)
    assert weights.from_string("1-1-1") == "1-1-1"
    assert weights.convert(["1-0-0"]) == "1-0-0"  # the old one-element-list form
    assert weights.convert([1, 0, 0]) == (1, 0, 0)
    assert Boolean().from_string("no") is False and Boolean().is_satisfied_by(np.bool_(True))
    optional = AnyOf(NoneValue(), Text("a directory path", path=True))
    assert optional.from_string("none") is None and optional.from_string("ck") == "ck"


def test_every_registered_model_declares_every_parameter():
    for name in available_models():
        klass = get_model_class(name)
        assert klass.name == name
        assert set(klass.parameter_constraints) == set(klass.default_params()), name
        create(name, {}).check_params()  # defaults are valid


def test_check_params_is_public_and_names_the_parameter():
    model = get_model_class("warp")(dim=0)
    with pytest.raises(
        ParameterError, match=r"parameter `dim`: expected an integer in \[1, 4096\], got 0"
    ):
        model.check_params()


def test_setting_progress_as_an_attribute_is_refused_before_training():
    """Issue 29 part 6: `model.progress = ...` (deprecated) is no longer read; a model
    holding it says so instead of training without reporting."""
    calls = []
    model = get_model_class("warp")(dim=8, epochs=2)
    model.progress = lambda done, total, msg: calls.append(done)
    with pytest.raises(
        ParameterError, match=r"parameter `progress`: .*fit\(dataset, progress=callback\)"
    ):
        model.fit(planted_dataset())
    assert calls == [] and not hasattr(model, "embeddings_")
    del model.progress
    model.fit(planted_dataset(), progress=lambda done, total, msg: calls.append(done))
    assert calls == [0, 1, 2]


def test_not_fitted_error_is_a_parameter_error():
    model = get_model_class("warp")()
    with pytest.raises(NotFittedError, match="call fit"):
        model.check_fitted()
    assert issubclass(NotFittedError, ParameterError)


def test_create_warns_nothing_for_current_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create("musig", {"feature_groups": ["genre"], "task_weights": [1, 0, 0]})
