"""Run tuning workers as separate processes (for the kill / shared-study tests)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

WORKER = """
import json, sys
from songspace.tuning import tune
args = json.loads(sys.argv[1])
tune("track2vec", args.pop("dataset"), **args)
"""


def start_worker(dataset: Path, storage: str, study: str, trials: int, **kw) -> subprocess.Popen:
    args = {
        "dataset": str(dataset),
        "objectives": ["hit_rate"],
        "storage": storage,
        "study": study,
        "trials": trials,
        "params": {"epochs": 10, "window": 5, "negative": 5},
        "heldout_fraction": 0.1,
        "min_tracks": 10,
        "startup_trials": 2,
        "budget_factor": None,
        "heartbeat": 1.0,
        **kw,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def trials_of(storage: str, study: str) -> list:
    import optuna

    from songspace.tuning.storage import open_storage

    try:
        st = optuna.load_study(study_name=study, storage=open_storage(storage, heartbeat=None))
    except KeyError:
        return []
    return st.get_trials(deepcopy=False)


def kill_mid_trial(proc: subprocess.Popen, storage: str, study: str, limit: float = 120.0) -> int:
    """Wait until ``proc`` is training a trial (RUNNING, parameters drawn), SIGKILL it, and
    return that trial's number."""
    import optuna

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker ended before a trial ran:\n{proc.stdout.read()}")
        running = [
            t
            for t in trials_of(storage, study)
            if t.state == optuna.trial.TrialState.RUNNING
            and t.user_attrs.get("model_params")
            and has_heartbeat(storage, t._trial_id)
        ]
        if running:
            proc.kill()
            proc.wait()
            # the trial may have finished between the look and the kill (a tiny trial on a
            # loaded machine): the killed one is the trial left RUNNING, if any
            left = [
                t
                for t in trials_of(storage, study)
                if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("model_params")
            ]
            if left:
                return left[0].number
            raise KilledBetweenTrials
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("no trial started in time")


def has_heartbeat(storage: str, trial_id: int) -> bool:
    """Whether the trial's heartbeat thread has written once. Optuna only ever marks a
    trial stale (FAIL) from its heartbeat record: a worker killed before the first one, which
    a loaded machine can delay past the trial's start, leaves the trial RUNNING for good."""
    if not storage.startswith(("sqlite", "postgresql")):
        return True  # journal storage has no heartbeats
    import sqlalchemy

    from songspace.tuning.storage import open_storage

    rdb = open_storage(storage, heartbeat=None)  # the engine songspace's own URL handling gives
    try:
        with rdb.engine.connect() as conn:
            n = conn.execute(
                sqlalchemy.text("SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = :t"),
                {"t": int(trial_id)},
            ).scalar()
    finally:
        rdb.engine.dispose()
    return bool(n)


class KilledBetweenTrials(RuntimeError):
    """The worker was killed after its trial had finished: no trial was left mid-way."""


def kill_a_worker_mid_trial(
    start: Callable[[], subprocess.Popen], storage: str, study: str, attempts: int = 5
) -> int:
    """:func:`kill_mid_trial` of a worker from ``start()``, retried with a new worker when
    the kill landed between two trials; the number of the trial left RUNNING."""
    for _ in range(attempts - 1):
        try:
            return kill_mid_trial(start(), storage, study)
        except KilledBetweenTrials:
            continue
    return kill_mid_trial(start(), storage, study)


def finish(proc: subprocess.Popen, limit: float = 300.0) -> str:
    out, _ = proc.communicate(timeout=limit)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{out}")
    return out
