"""TuneSettings (the one home of tune's defaults, validated) and StudySettings (what a study
records, migrated when read); studies stored by earlier versions resume on this code."""

from __future__ import annotations

import dataclasses
import gzip
import re
import shutil
from pathlib import Path

import pytest

from songspace.errors import ParameterError
from songspace.testing import bad_values
from songspace.tuning import StudySettings, TuneSettings, tune
from songspace.tuning.settings import STORED_BEFORE, _rules
from songspace.tuning.study import _check_settings
from tests.tuning.conftest import FAST
from tests.tuning.workers import trials_of

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", list(_rules()))
def test_every_setting_refuses_a_bad_value_and_names_it(name):
    constraint = _rules()[name].constraint
    bad = bad_values(constraint)
    assert bad, f"no bad value built for {name}"
    expected = re.escape(f"parameter `{name}`: expected {constraint.describe()}, got ")
    for value in bad:
        with pytest.raises(ParameterError, match=expected):
            TuneSettings(**{name: value})


def test_settings_that_depend_on_each_other_are_checked_together():
    with pytest.raises(ParameterError, match="with --alpha, exactly two objectives"):
        TuneSettings(objectives=["hit_rate"], alpha=0.1)
    with pytest.raises(ParameterError, match="no pruner for a Pareto study"):
        TuneSettings(objectives=["hit_rate", "vrc_genre"], pruner="sha")
    with pytest.raises(ParameterError, match="`sampler != 'nsga2'` for a single objective"):
        TuneSettings(sampler="nsga2")
    with pytest.raises(ParameterError, match="`params`: expected a mapping"):
        TuneSettings(params=["epochs=1"])  # type: ignore[arg-type]
    # the same pruner is fine for a scalarised study, NSGA-II for a Pareto one
    TuneSettings(objectives=["hit_rate", "vrc_genre"], alpha=0.1, pruner="sha")
    TuneSettings(objectives=["hit_rate", "vrc_genre"], sampler="nsga2")


def test_settings_are_normalised_and_the_budget_is_effective():
    s = TuneSettings(objectives=["ndcg", "vrc_genre"], params={"dim": "64"})
    assert s.objectives == ("ndcg", "vrc_genre") and s.params == {"dim": "64"}
    assert s.objective.mode == "pareto"
    assert TuneSettings().budget() == (TuneSettings.budget_mode, TuneSettings.budget_factor)
    assert TuneSettings(budget_factor=None).budget() == ("none", None)
    assert TuneSettings(budget_mode="none").budget() == ("none", None)
    assert TuneSettings(budget_mode="reject", budget_factor=2).budget() == ("reject", 2.0)


def test_resolve_replaces_fields_and_refuses_unknown_names():
    base = TuneSettings(trials=7, seed=3)
    assert TuneSettings.resolve(None, trials=5) == TuneSettings(trials=5)
    assert TuneSettings.resolve(base, seed=1) == TuneSettings(trials=7, seed=1)
    assert TuneSettings.resolve(base) == base
    with pytest.raises(ParameterError, match="`trails`: expected a tune setting, one of"):
        TuneSettings.resolve(None, trails=5)
    with pytest.raises(ParameterError, match="`settings`: expected a TuneSettings"):
        TuneSettings.resolve(["hit_rate"])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="`trials`: expected an integer >= 1"):
        TuneSettings.resolve(base, trials=0)


def _record(**settings) -> StudySettings:
    return StudySettings.create("track2vec", "", "fp", TuneSettings(**settings), {})


def test_a_new_study_records_the_defaults_of_the_one_home():
    rec = _record()
    assert rec.budget_mode == TuneSettings.budget_mode == "equal_time"
    assert rec.budget_factor == TuneSettings.budget_factor
    assert (rec.pruner, rec.sampler) == (TuneSettings.pruner, TuneSettings.sampler)
    assert rec.objectives == list(TuneSettings.objectives)
    assert rec.heldout_fraction == TuneSettings.heldout_fraction
    assert _record(budget_factor=None).budget_mode == "none"
    assert StudySettings.from_attrs(rec.as_attrs()) == rec  # stored and read back


def test_a_record_gives_its_study_s_protocols(tiny_dataset_dir):
    """`StudySettings.protocols`: the split, sample and replicate the study's trials train
    on (one place maps a record to its protocols: the tuner and the experiment scripts)."""
    from songspace.data.dataset import Dataset

    ds = Dataset.load(tiny_dataset_dir)
    kw = {"heldout_fraction": 0.1, "min_tracks": 10, "sample_rate": 0.5}
    first, again = _record(**kw).protocols(ds), _record(**kw).protocols(ds)
    other = _record(**kw, replicate=1).protocols(ds)
    whole = _record(**{**kw, "sample_rate": 1.0}).protocols(ds)

    def ids(p):
        return set(p.train.sequence_ids)

    assert ids(first.validation) == ids(again.validation)
    assert ids(first.validation) != ids(other.validation)  # another sample of the playlists
    assert len(ids(first.validation)) < len(ids(whole.validation))
    assert ids(first.test) == ids(other.test) == ids(whole.test)  # one test protocol
    assert whole.validation.train is whole.test.train


def test_a_record_stored_before_budget_modes_is_migrated_explicitly():
    legacy = {k: v for k, v in _record().as_attrs().items() if k not in STORED_BEFORE}
    read = StudySettings.from_attrs(legacy)
    assert (read.budget_mode, read.pruner) == ("reject", "none")
    # facts about those studies, not today's defaults
    assert read.budget_mode != TuneSettings.budget_mode
    # so such a study resumes under reject only
    _check_settings(legacy, dataclasses.replace(read, budget_mode="reject"), "s")
    with pytest.raises(ParameterError, match=r"the same budget_mode as study 's'.*'reject'"):
        _check_settings(legacy, dataclasses.replace(read, budget_mode="equal_time"), "s")


def test_a_record_this_version_cannot_read_is_a_clear_error():
    attrs = _record().as_attrs()
    with pytest.raises(ParameterError, match=r"study 'x' stored by.*unknown \['future'\]"):
        StudySettings.from_attrs({**attrs, "future": 1}, "x")
    del attrs["seed"]
    with pytest.raises(ParameterError, match=r"missing \['seed'\]"):
        StudySettings.from_attrs(attrs, "x")


def _unpack(name: str, tmp_path: Path) -> str:
    db = tmp_path / "study.db"
    with gzip.open(DATA / name) as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return f"sqlite:///{db}"


def _snapshot(url: str, study: str) -> dict[int, tuple]:
    return {
        t.number: (t.state.name, t.params, t.values, t.user_attrs)
        for t in trials_of(url, study)
        if t.state.name != "WAITING"
    }


def _trained(url: str, study: str) -> int:
    return sum(
        t.state.name in ("COMPLETE", "PRUNED") and not t.user_attrs.get("untrained")
        for t in trials_of(url, study)
    )


#: The settings the fixtures were written with (tests/tuning/data/README.md).
WRITTEN_WITH = {"heldout_fraction": 0.1, "min_tracks": 10, "startup_trials": 2, "heartbeat": None}


def test_a_study_stored_by_the_code_before_this_refactor_resumes(tiny_dataset_dir, tmp_path):
    import optuna

    url = _unpack("study-9473330.db.gz", tmp_path)
    stored = optuna.load_study(study_name="today", storage=url).user_attrs
    before = _snapshot(url, "today")
    assert len(before) >= 2
    trials = _trained(url, "today") + 1
    res = tune(
        "track2vec", tiny_dataset_dir, trials=trials, storage=url, study="today", **WRITTEN_WITH
    )
    after = _snapshot(url, "today")
    assert {n: after[n] for n in before} == before  # every stored trial kept as it was
    assert len(after) > len(before)  # and the study went on
    now = optuna.load_study(study_name="today", storage=url).user_attrs
    assert now["songspace"] == stored["songspace"]  # the record is not rewritten
    assert res.reference == stored["reference"]  # the stored reference is reused
    # this run defines the same study (the record's dataset path aside: it was given a Dataset)
    assert dataclasses.replace(res.settings, dataset="") == StudySettings.from_attrs(
        stored["songspace"]
    )


def test_a_study_stored_before_budget_modes_resumes_under_reject(tiny_dataset_dir, tmp_path):
    import optuna

    url = _unpack("study-b072cca-before-budget-modes.db.gz", tmp_path)
    stored = optuna.load_study(study_name="legacy", storage=url).user_attrs["songspace"]
    assert "budget_mode" not in stored and "pruner" not in stored
    before = _snapshot(url, "legacy")
    assert len(before) == 2
    res = tune("track2vec", tiny_dataset_dir, trials=3, storage=url, study="legacy", **FAST)
    assert (res.settings.budget_mode, res.settings.pruner) == ("reject", "none")
    after = _snapshot(url, "legacy")
    assert {n: after[n] for n in before} == before
    assert len(after) == 3
    now = optuna.load_study(study_name="legacy", storage=url).user_attrs["songspace"]
    assert now == stored


#: `songspace tune` options that set a TuneSettings field of another name.
OPTION_FIELDS = {"objective": "objectives", "test_fraction": "heldout_fraction"}


def _cli_params(command: str) -> dict:
    import typer.main

    from songspace.cli import app

    return {p.name: p for p in typer.main.get_command(app).commands[command].params}


def test_the_tune_command_shows_the_defaults_of_the_one_home():
    fields = {f.name: f.default for f in dataclasses.fields(TuneSettings)}
    params = _cli_params("tune")
    compared = set()
    for name, param in params.items():
        field = OPTION_FIELDS.get(name, name)
        # the list options show their default in their help (--enqueue has none)
        if field in fields and name not in ("objective", "sample_rate", "enqueue"):
            assert param.default == fields[field], name
            compared.add(field)
    # every setting is an option (params: --param; sample_rate, enqueue: lists)
    assert compared == set(fields) - {"objectives", "params", "sample_rate", "enqueue"}
    assert params["enqueue"].default is None
    assert "Default hit_rate." in params["objective"].help
    assert "Default 1." in params["sample_rate"].help


CLI_READS_THE_HOME = """
import json
import songspace.tuning.settings as s

s.TuneSettings.trials = 7
s.TuneSettings.budget_mode = "reject"
s.SAMPLERS["toy"] = "a toy sampler"
s.PRUNERS["toy_pruner"] = "a toy pruner"
s.BUDGET_MODES["toy_mode"] = "a toy mode"
s.OBJECTIVES["toy_objective"] = s.Objective("toy_objective", "m", "f", "minimize", "Toy")
s.DEFAULT_STORAGE = "sqlite:///toy.db"
s.DEFAULT_SIGNIFICANCE = 0.123
import typer.main
from songspace.cli import app

commands = typer.main.get_command(app).commands
out = {f"{c}.{p.name}": [p.default, p.help] for c in ("tune", "tune-report")
       for p in commands[c].params}
print(json.dumps(out))
"""


def test_the_tune_commands_read_defaults_and_choice_lists_from_the_one_home():
    """Changing a default or a choice list in songspace.tuning.settings alone changes the
    commands' defaults and help texts."""
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", CLI_READS_THE_HOME], capture_output=True, text=True, check=True
    )
    params = json.loads(run.stdout)
    assert params["tune.trials"][0] == 7
    assert params["tune.budget_mode"][0] == "reject"
    assert "or toy (a toy sampler)." in params["tune.sampler"][1]
    assert "or toy_pruner (a toy pruner)" in params["tune.pruner"][1]
    assert "or toy_mode (a toy mode)." in params["tune.budget_mode"][1]
    assert "or toy_objective (minimised);" in params["tune.objective"][1]
    assert "Default: sqlite:///toy.db." in params["tune.storage"][1]
    assert params["tune-report.significance"][0] == 0.123
