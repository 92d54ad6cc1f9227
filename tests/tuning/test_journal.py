"""Optuna journal storage: a study in one file that several workers share."""

from __future__ import annotations

import uuid

import pytest

from songspace.errors import ParameterError
from songspace.tuning.storage import journal_file, open_storage, storage_file, storage_url
from tests.tuning.workers import finish, start_worker, trials_of

optuna = pytest.importorskip("optuna", reason="tuning needs optuna (extra `tune`)")


def test_journal_urls_and_paths(tmp_path):
    p = tmp_path / "s.log"
    assert storage_url(p) == f"journal:///{str(p).lstrip('/')}"
    assert storage_url(f"journal://{tmp_path}/x/../s.log") == storage_url(p)
    assert journal_file(p) == p == storage_file(f"journal://{p}")
    assert storage_url(tmp_path / "s.db").startswith("sqlite:///")
    assert journal_file(tmp_path / "s.db") is None
    with pytest.raises(ParameterError, match="journal:///path"):
        storage_url("journal://relative.log")
    with pytest.raises(ParameterError, match="directory of the journal"):
        open_storage(tmp_path / "missing" / "s.log")
    with pytest.raises(ParameterError, match="existing journal"):
        open_storage(p, must_exist=True)


def test_journal_round_trip(tmp_path):
    store = open_storage(tmp_path / "s.log")
    assert isinstance(store, optuna.storages.JournalStorage)
    st = optuna.create_study(storage=store, study_name="a")
    st.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.5) ** 2, n_trials=5)
    again = optuna.load_study(
        study_name="a", storage=open_storage(tmp_path / "s.log", must_exist=True)
    )
    assert len(again.trials) == 5 and again.best_value == st.best_value


def test_two_workers_share_one_journal(tmp_path, tiny_dataset_dir):
    storage = f"journal://{tmp_path / 'study.log'}"
    study = f"journal-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(tiny_dataset_dir, storage, study, 4) for _ in range(2)]
    outputs = [finish(w) for w in workers]
    assert all("Traceback" not in o for o in outputs)
    trials = trials_of(storage, study)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(numbers)))  # each recorded once, none lost
    states = [t.state.name for t in trials]
    assert 4 <= states.count("COMPLETE") <= 5 and set(states) == {"COMPLETE"}
    st = optuna.load_study(study_name=study, storage=open_storage(storage, heartbeat=None))
    assert "songspace" in st.user_attrs and st.best_trial.state.name == "COMPLETE"


def test_two_workers_started_together_run_different_trials(tmp_path, tiny_dataset_dir):
    """Both workers open the study before either has a trial: each must draw its own
    sampler seed, or they run the same random trials (half the budget wasted)."""
    storage = f"journal://{tmp_path / 'study.log'}"
    study = f"together-{uuid.uuid4().hex[:8]}"
    workers = [
        start_worker(tiny_dataset_dir, storage, study, 7, startup_trials=20) for _ in range(2)
    ]
    for w in workers:
        finish(w)
    trials = trials_of(storage, study)
    drawn = [
        tuple(sorted(t.params.items()))
        for t in trials
        if t.state.name == "COMPLETE" and "enqueued" not in t.user_attrs
    ]
    assert len(drawn) >= 5
    assert len(set(drawn)) == len(drawn), f"workers repeated trials: {drawn}"
    defaults = [t for t in trials if "enqueued" in t.user_attrs]
    assert len(defaults) == 1  # the default configuration is enqueued once, by the creator
