"""The configuration a study measures against: the model's reference (Track2Vec: the W2V
paper's Table 3 preset, not its adaptive defaults) for a new study, the stored one for a
study that holds one."""

from __future__ import annotations

from songspace._util import to_jsonable
from songspace.models.track2vec import Track2Vec
from songspace.tuning import tune
from songspace.tuning.study import reference_config
from tests.tuning.conftest import FAST
from tests.tuning.workers import trials_of

PAPER = {"dim": 100, "window": 5, "ns_exponent": 0.75, "negative": 5, "alpha": 0.025}


def test_track2vec_tunes_against_the_paper_preset_not_its_adaptive_defaults():
    ref = Track2Vec.reference_params()
    assert {k: ref[k] for k in PAPER} == PAPER
    assert ref["epochs"] == 5 and ref["sample"] == 1e-3
    assert Track2Vec.default_params()["epochs"] == "auto"  # the defaults differ
    assert Track2Vec.default_params()["window"] == "auto"


def test_a_new_study_stores_the_paper_preset_as_its_reference(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune("track2vec", tiny_dataset_dir, trials=1, storage=url, study="s", **FAST)
    expected = {**Track2Vec.reference_params(), **FAST["params"]}
    assert res.reference["params"] == to_jsonable(expected)
    # the first trial is the reference's point of the search space
    first = trials_of(url, "s")[0]
    assert first.params == {k: expected[k] for k in first.params}
    assert first.params["window"] == 5


def test_a_stored_study_keeps_its_stored_reference(tiny_dataset_dir, tmp_path):
    """A study whose stored reference differs from today's reference configuration (one
    written when the defaults were other) keeps it: reports use it, and a reference stored
    without a cost observation (older code) is retrained with its stored parameters."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = {**FAST, "storage": url, "study": "s"}
    tune("track2vec", tiny_dataset_dir, trials=1, **kw)
    st = optuna.load_study(study_name="s", storage=url)
    old = dict(st.user_attrs["reference"])
    old["params"] = {**old["params"], "window": 2, "dim": 32}
    del old["cost_observation"]
    st.set_user_attr("reference", old)
    assert reference_config(st, Track2Vec, {})["window"] == 2
    res = tune("track2vec", tiny_dataset_dir, trials=2, **kw)
    assert res.reference["params"]["window"] == 2
    assert res.reference["params"]["dim"] == 32
    assert "cost_observation" in res.reference  # retrained as stored, now with its cost
    st = optuna.load_study(study_name="s", storage=url)
    assert st.user_attrs["reference"]["params"] == res.reference["params"]
