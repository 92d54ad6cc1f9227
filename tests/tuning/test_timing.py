"""Where a trial's time goes: the phases every trial and the reference run record
(songspace.tuning.timing), and the summary the tune report prints."""

from __future__ import annotations

import logging

import pytest

from songspace.tuning import tune
from songspace.tuning.timing import (
    PHASE_ATTR,
    PhaseClock,
    PhaseRow,
    breakdown_markdown,
    phase_breakdown,
)
from tests.tuning.conftest import FAST
from tests.tuning.workers import trials_of


class FakeClock:
    """(wall, CPU) readings handed out in order."""

    def __init__(self, *readings: tuple[float, float]):
        self.readings = list(readings)

    def __call__(self) -> tuple[float, float]:
        return self.readings.pop(0)


def test_a_phase_leaves_out_the_phases_timed_inside_it_and_the_rest_is_other():
    clock = PhaseClock(clock=FakeClock((0, 0), (1, 0.5), (3, 1.5), (4, 1.75), (10, 4), (12, 5)))
    clock.add("optuna", 2, 1)  # before the clock started: not part of `other`
    # fit reads (1, 0.5) ... (10, 4); prune, inside it, (3, 1.5) ... (4, 1.75)
    with clock.phase("fit", exclude=("prune",)), clock.phase("prune"):
        pass
    clock.finish()  # reads (12, 5)
    assert clock.as_attr() == {
        "optuna": {"wall": 2, "cpu": 1},
        "prune": {"wall": 1, "cpu": 0.25},
        "fit": {"wall": 9 - 1, "cpu": 3.5 - 0.25},
        "other": {"wall": 12 - 8 - 1, "cpu": 5 - 3.25 - 0.25},
    }


def test_a_phase_that_raises_is_still_counted():
    clock = PhaseClock(clock=FakeClock((0, 0), (1, 1), (4, 2)))
    with pytest.raises(RuntimeError), clock.phase("fit"):
        raise RuntimeError("stopped for the budget")
    assert clock.as_attr() == {"fit": {"wall": 3, "cpu": 1}}


def test_the_breakdown_of_hand_made_trials():
    def rec(**phases):
        return {k.replace("_", ":"): {"wall": w, "cpu": c} for k, (w, c) in phases.items()}

    complete = [
        rec(fit=(6, 3), score_next=(3, 1), other=(1, 0)),  # 10 s
        rec(fit=(2, 2), other=(2, 1)),  # 4 s
        rec(fit=(4, 4), score_next=(4, 2), prune=(2, 1)),  # 10 s
    ]
    untrained = rec(suggest=(1, 0), budget=(1, 0))  # 2 s, rejected before training
    rows = {r.phase: r for r in phase_breakdown(complete, [*complete, untrained])}
    # the order trials run them
    assert list(rows) == ["suggest", "budget", "fit", "prune", "score:next", "other"]
    # medians over the complete trials; shares of each one's wall time (fit: 0.6, 0.5,
    # 0.4), a phase not run counting 0; the last column over all 26 s
    assert rows["fit"] == PhaseRow("fit", 3, 4.0, 3.0, 0.5, 12 / 26)
    assert rows["score:next"] == PhaseRow("score:next", 2, 3.5, 1.5, 0.3, 7 / 26)
    assert rows["prune"] == PhaseRow("prune", 1, 2.0, 1.0, 0.0, 2 / 26)
    assert rows["other"] == PhaseRow("other", 2, 1.5, 0.5, 0.1, 3 / 26)
    assert rows["suggest"] == PhaseRow("suggest", 0, 0.0, 0.0, 0.0, 1 / 26)
    # without `everything`, the last column is over the compared trials alone
    assert phase_breakdown(complete)[0] == PhaseRow("fit", 3, 4.0, 3.0, 0.5, 12 / 24)


def test_trials_are_sorted_by_how_they_ended():
    from datetime import datetime
    from types import SimpleNamespace

    from songspace.tuning.timing import StudyPhases

    def trial(state, **attrs):
        done = None if state == "RUNNING" else datetime(2026, 1, 1)
        st = SimpleNamespace(name=state)
        return SimpleNamespace(state=st, user_attrs=attrs, datetime_complete=done)

    rec = {"fit": {"wall": 1.0, "cpu": 1.0}}
    found = StudyPhases.of(
        [
            trial("COMPLETE", phase_seconds=rec),
            trial("PRUNED", phase_seconds=rec, rejected="time budget"),  # stopped at the cap
            trial("PRUNED", phase_seconds=rec, pruned="pruner at epoch 1"),
            trial("PRUNED", phase_seconds=rec, rejected="time budget", untrained=True),
            trial("COMPLETE"),  # recorded before trials recorded their phases
            trial("RUNNING", phase_seconds=rec),
        ]
    )
    assert (len(found.complete), len(found.stopped), len(found.untrained)) == (1, 2, 1)
    assert len(found.everything) == 4


def _phases_ok(phases: dict) -> None:
    for name, v in phases.items():
        assert set(v) == {"wall", "cpu"}, name
        assert v["wall"] >= 0 and v["cpu"] >= 0, name


def test_every_trial_and_the_reference_record_their_phases(tiny_dataset_dir, tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with caplog.at_level(logging.INFO, logger="songspace.tuning"):
        res = tune(
            "track2vec",
            tiny_dataset_dir,
            objectives=["hit_rate", "vrc_genre"],
            alpha=0.01,
            trials=3,
            storage=url,
            study="s",
            budget_factor=None,
            **FAST,
        )
    trials = trials_of(url, "s")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for t in trials:
        phases = t.user_attrs[PHASE_ATTR]
        _phases_ok(phases)
        # the validation scoring is timed per metric family the objective needs
        want = {"suggest", "budget", "fit", "embed", "score:next_song", "score:clustering"}
        assert want | {"other"} <= set(phases), t.number
        assert "prune" not in phases  # no pruner
        # Optuna's bookkeeping between two trials of one run belongs to the later one
        assert ("optuna" in phases) == (t.number > 0)
    ref = res.reference[PHASE_ATTR]
    _phases_ok(ref)
    assert {"warm_up", "fit", "embed", "score:next_song", "score:clustering"} <= set(ref)
    assert set(res.phases) == {"load", "fingerprint", "protocols", "study", "reference"}
    # the log line of each trial names where its time went
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("trial ")]
    assert sum("; time: " in m and " CPU)" in m for m in lines) == 3
    # the tune report's section: one row per phase, the reference run below
    md = breakdown_markdown(_study(url), "s")
    assert "Where the trials' time went (s: 3 complete trials; all 3 finished trials" in md
    assert "| fit | 3 |" in md and "| score:clustering | 3 |" in md and "| optuna | 2 |" in md
    assert "The reference run (once per study): " in md and "warm_up" in md


def _study(url: str):
    import optuna

    return optuna.load_study(study_name="s", storage=url)


def test_the_pruners_scoring_is_its_own_phase_not_training(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    tune(
        "track2vec",
        tiny_dataset_dir,
        trials=2,
        storage=url,
        study="s",
        budget_factor=None,
        **{**FAST, "pruner": "sha"},
    )
    for t in trials_of(url, "s"):
        phases = t.user_attrs[PHASE_ATTR]
        _phases_ok(phases)
        assert "prune" in phases and "fit" in phases, t.number


def test_a_study_without_recorded_phases_has_no_breakdown_section(tmp_path):
    """Studies stored before trials recorded their phases report nothing, not zeros."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.create_study(storage=f"sqlite:///{tmp_path / 'old.db'}", study_name="old")
    st.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert breakdown_markdown(st, "old") == ""


# ---------------------------------------------------------------- cutting what is not training
def test_a_vrc_study_does_not_compute_the_local_coherences(tiny_dataset_dir, tmp_path, monkeypatch):
    """The clustering family's local coherences (a k-NN search each) are not part of any
    objective: neither the reference run nor the trials compute them."""
    from songspace.evaluation import clustering

    def refuse(*args, **kwargs):
        raise AssertionError("a tuning trial computed a local coherence")

    monkeypatch.setattr(clustering, "local_coherence", refuse)
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune(
        "track2vec",
        tiny_dataset_dir,
        objectives=["hit_rate", "vrc_genre"],
        alpha=0.1,
        trials=2,
        storage=url,
        study="s",
        budget_factor=None,
        **{**FAST, "pruner": "sha"},  # the pruner's per-epoch scoring too
    )
    assert res.counts.get("COMPLETE", 0) + res.counts.get("PRUNED", 0) == 2
    assert {"vrc_genre", "vrc_artist"} <= set(res.reference["metrics"])


def test_trial_values_are_those_of_a_full_evaluation_of_the_same_configuration(
    tiny_dataset_dir, tmp_path
):
    """What the cuts leave unchanged: each trial's stored metrics (and the reference's) are
    bit-identical to the evaluation suite's full run (every metric of each family) on the
    same configuration retrained on the same view."""
    from songspace.data.dataset import Dataset
    from songspace.evaluation.suite import evaluate
    from songspace.models import get_model_class
    from songspace.tuning import tuning_protocols
    from songspace.tuning.study import _embeddings, fit_config

    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune(
        "track2vec",
        tiny_dataset_dir,
        objectives=["hit_rate", "vrc_genre"],
        alpha=0.01,
        trials=3,
        storage=url,
        study="s",
        budget_factor=None,
        **FAST,
    )
    protocol = tuning_protocols(
        Dataset.load(tiny_dataset_dir),
        seed=0,
        heldout_fraction=FAST["heldout_fraction"],
        min_tracks=FAST["min_tracks"],
    ).validation
    klass = get_model_class("track2vec")
    runs = [(res.reference["params"], res.reference["metrics"])]
    runs += [(t.user_attrs["model_params"], t.user_attrs["metrics"]) for t in trials_of(url, "s")]
    assert len(runs) == 4
    for params, stored in runs:
        fitted, _ = fit_config(klass, params, protocol.train)
        full = evaluate(protocol, _embeddings(fitted, "again"), families=None)
        assert {"genre_coherence", "vrc_genre", "next_song_hit_rate"} <= set(full.metrics)
        assert stored == {m: full.metrics[m].value for m in stored}, params
