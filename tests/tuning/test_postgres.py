"""Several workers share one study on a real PostgreSQL server (SPEC §5 scale-out path).

``python3 dev.py test`` starts a throwaway server on loopback and passes its URL in
SONGSPACE_TEST_POSTGRES_URL; run directly, the test starts one the same way, and
skips with the reason when no server can be started.
"""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from pathlib import Path

import pytest

from songspace.tuning.storage import open_storage
from tests.tuning.workers import finish, kill_a_worker_mid_trial, start_worker, trials_of

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("SONGSPACE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    pytest.importorskip("psycopg2", reason="the PostgreSQL storage needs psycopg2 (extra `tune`)")
    spec = importlib.util.spec_from_file_location("songspace_dev", REPO / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    env, stop = dev.start_postgres()
    try:
        if dev.PG_ENV not in env:
            reason = env.get(dev.PG_SKIP_ENV) or os.environ.get(dev.PG_SKIP_ENV, "unknown")
            pytest.skip(f"no PostgreSQL server could be started: {reason}")
        yield env[dev.PG_ENV]
    finally:
        stop()


@pytest.mark.slow
def test_two_workers_share_one_study_and_survive_a_kill(postgres_url, tiny_dataset_dir):
    import optuna

    study = f"shared-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(tiny_dataset_dir, postgres_url, study, 6) for _ in range(2)]
    outputs = [finish(w) for w in workers]
    assert all("Traceback" not in o for o in outputs)
    trials = trials_of(postgres_url, study)
    numbers = [t.number for t in trials]
    ids = [t._trial_id for t in trials]
    assert len(set(numbers)) == len(numbers) == len(set(ids))  # each recorded once
    assert sorted(numbers) == list(range(len(numbers)))  # none lost
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") >= 6  # both workers stop once 6 are finished
    assert states.count("COMPLETE") <= 7  # at most one trial in flight past the target
    assert set(states) == {"COMPLETE"}
    st = optuna.load_study(study_name=study, storage=open_storage(postgres_url, heartbeat=None))
    assert "reference" in st.user_attrs

    # a worker killed mid-trial leaves the study usable: the next worker marks its trial
    # FAIL (stale heartbeat), retries its parameters once and completes the study
    n = states.count("COMPLETE") + 2
    killed = kill_a_worker_mid_trial(
        lambda: start_worker(tiny_dataset_dir, postgres_url, study, n), postgres_url, study
    )
    time.sleep(3.5)
    finish(start_worker(tiny_dataset_dir, postgres_url, study, n))
    trials = trials_of(postgres_url, study)
    by_number = {t.number: t for t in trials}
    assert by_number[killed].state.name == "FAIL"
    assert [t.state.name for t in trials].count("COMPLETE") == n
    assert "RUNNING" not in {t.state.name for t in trials}
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].params == by_number[killed].params
