"""Shared fixtures for the tuning tests: a small synthetic dataset saved once."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna", reason="tuning needs the `tune` extra (optuna)")
pytest.importorskip("gensim", reason="the tuning tests tune Track2Vec (the `models` extra)")

#: Tiny, fast settings shared by the tests (every trial takes well under a second).
FAST = {
    "params": {"epochs": 1},
    "heldout_fraction": 0.1,
    "min_tracks": 10,
    "startup_trials": 2,
    "heartbeat": None,
    # epochs is fixed above: trials over the budget are rejected (equal-time sets epochs)
    "budget_mode": "reject",
}


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    from songspace.data import synthetic

    path = tmp_path_factory.mktemp("tune") / "ds"
    synthetic.generate(300, 400, seed=3).save(path)
    return path
