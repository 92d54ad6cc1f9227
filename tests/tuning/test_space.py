"""Search spaces declared next to each model, and their translation to Optuna."""

from __future__ import annotations

import pytest

from songspace.errors import ParameterError
from songspace.models import available_models, get_model_class
from songspace.models.space import CategoricalParam, FloatParam, IntParam, TupleParam
from songspace.testing.models import search_space_ends
from songspace.tuning.space import decode, encode, flat_names, suggest


def test_track2vec_space_is_w2v_table_3_plus_epochs_and_sample():
    klass = get_model_class("track2vec")
    space = klass.search_space
    assert space == {
        "dim": IntParam(25, 200),
        "window": IntParam(1, 40),
        "ns_exponent": FloatParam(-1.0, 1.0),
        "negative": IntParam(1, 100),
        "alpha": FloatParam(0.001, 0.1, log=True),
        "epochs": IntParam(1, 50, log=True),
        "sample": FloatParam(1e-5, 1e-1, log=True),
    }
    # the additions beyond Table 3 are marked as such
    assert sorted(klass.search_notes) == ["epochs", "sample"]
    assert all("beyond W2V Table 3" in n for n in klass.search_notes.values())
    assert klass.budget_param == "epochs"
    feature = get_model_class("track2vec_feature").search_space
    assert {k: feature[k] for k in space} == space
    assert "feature_weight" in feature


@pytest.mark.parametrize(
    "name", ["track2vec", "track2vec_feature", "node2vec", "warp", "graphsage", "musig"]
)
def test_spaces_name_real_parameters_within_the_model_ranges(name):
    klass = get_model_class(name)
    params = klass.default_params()
    assert klass.search_space
    for p, spec in klass.search_space.items():
        assert p in params
        # both ends of every range lie inside the parameter's constraint (an integer
        # constraint rejects the float ends a FloatParam would produce)
        for value in search_space_ends(spec):
            assert klass.parameter_constraints[p].is_satisfied_by(value), (p, value)


def test_every_registered_model_space_is_well_typed():
    for name in available_models():
        try:
            klass = get_model_class(name)
        except ImportError:
            continue
        for spec in klass.search_space.values():
            assert isinstance(spec, FloatParam | IntParam | CategoricalParam | TupleParam)


def test_param_types_reject_bad_bounds():
    with pytest.raises(ParameterError, match="low < "):
        FloatParam(1.0, 1.0)
    with pytest.raises(ParameterError, match="log scale"):
        FloatParam(0.0, 1.0, log=True)
    with pytest.raises(ParameterError, match="integer"):
        IntParam(1.5, 3)
    with pytest.raises(ParameterError, match="non-empty"):
        CategoricalParam(())
    with pytest.raises(ParameterError, match="each item"):
        TupleParam(("x",))
    assert IntParam(2, 10, step=2).contains(4) and not IntParam(2, 10, step=2).contains(5)


def test_suggest_honours_bounds_and_decodes_tuples_and_categoricals():
    import optuna

    space = {
        "dim": IntParam(25, 200),
        "alpha": FloatParam(0.001, 0.1, log=True),
        "weights": TupleParam((FloatParam(0.0, 1.0),) * 3),
        "fanouts": CategoricalParam(((25, 10), (10, 5))),
        "kind": CategoricalParam(("a", "b")),
    }
    assert set(flat_names(space)) == {
        "dim",
        "alpha",
        "weights.0",
        "weights.1",
        "weights.2",
        "fanouts",
        "kind",
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = suggest(trial, space)
        assert 25 <= params["dim"] <= 200 and isinstance(params["dim"], int)
        assert 0.001 <= params["alpha"] <= 0.1
        assert len(params["weights"]) == 3 and all(0 <= w <= 1 for w in params["weights"])
        assert params["fanouts"] in ((25, 10), (10, 5))
        assert all(space[k].contains(v) for k, v in params.items())
        assert decode(trial.params, space) == params
        assert encode(params, space) == trial.params
        study.tell(trial, 0.0)


def test_encode_leaves_out_values_outside_the_space():
    space = {"a": FloatParam(1e-9, 1e-4, log=True), "w": TupleParam((FloatParam(0, 1),) * 2)}
    assert encode({"a": 0.0, "w": (0.5, 2.0)}, space) == {"w.0": 0.5}


def test_musig_space_tunes_task_weights_and_draws_valid_models():
    pytest.importorskip("torch", reason="MUSIG needs torch (extra `graph`)")
    optuna = pytest.importorskip("optuna")
    klass = get_model_class("musig")
    assert klass.search_space["task_weights"] == TupleParam((FloatParam(0.0, 1.0),) * 3)
    assert set(get_model_class("graphsage").search_space) < set(klass.search_space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = suggest(study.ask(), klass.search_space)
        model = klass(**params)
        model.check_params()  # every draw is a valid configuration
        assert len(model.task_weights_()) == 3 and len(model._fanouts()) == 2
