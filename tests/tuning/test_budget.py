"""Equal-time budgets (fake clock, fake model of known cost), CPU-time budgets, the pruner."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pytest

from songspace.models.base import EmbeddingModel
from songspace.models.space import IntParam
from songspace.params import SEED, Constraint, Interval
from songspace.progress import report
from songspace.tuning import budget as budget_mod
from songspace.tuning import study as study_mod
from songspace.tuning.budget import CostModel, EpochTimer, Observation
from songspace.tuning.study import FitTiming, TimeBudgetExceeded, fit_config, tune
from tests.tuning.conftest import FAST
from tests.tuning.workers import trials_of


class FakeClock:
    """A CPU clock that only the fake model advances."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


class FakeCost(EmbeddingModel):
    """Training CPU time = SETUP + epochs * (C0 + C1 * dim * window), on ``CLOCK``."""

    name = "fake_cost"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 1, 1000),
        "window": Interval(int, 1, 100),
        "epochs": Interval(int, 1, 1000),
        "seed": SEED,
    }
    search_space: ClassVar = {
        "dim": IntParam(8, 64),
        "window": IntParam(1, 20),
        "epochs": IntParam(1, 50),
    }
    budget_param: ClassVar[str | None] = "epochs"
    SETUP, C0, C1 = 0.5, 0.2, 0.001

    def __init__(self, dim: int = 16, window: int = 5, epochs: int = 10, seed: int = 0):
        self.dim = dim
        self.window = window
        self.epochs = epochs
        self.seed = seed

    @classmethod
    def cost_units(cls, params, dataset) -> float:
        p = {**cls.default_params(), **params}
        return float(p["dim"] * p["window"])

    def _fit(self, dataset, progress):
        CLOCK.now += self.SETUP
        for e in range(1, self.epochs + 1):
            CLOCK.now += self.C0 + self.C1 * self.dim * self.window
            report(progress, e, self.epochs, f"epoch {e}")
        rng = np.random.default_rng([self.seed, self.dim, self.window, self.epochs])
        emb = rng.normal(size=(dataset.n_tracks, self.dim)).astype(np.float32)
        return emb, np.ones(dataset.n_tracks, dtype=bool)


def expected_cpu(klass, dim, window, epochs):
    return klass.SETUP + epochs * (klass.C0 + klass.C1 * dim * window)


@pytest.fixture
def fake_model(monkeypatch):
    def make(**costs):
        klass = type("FakeCostX", (FakeCost,), dict(costs))
        monkeypatch.setattr(study_mod, "get_model_class", lambda name: klass)
        return klass

    return make


FAKE = {k: v for k, v in FAST.items() if k not in ("params", "budget_mode")}


def test_cost_model_recovers_a_known_cost_and_respects_the_cap():
    truth = lambda units, work: 0.5 + units * (0.2 + 0.001 * work)  # noqa: E731
    ref = Observation(10, 80, truth(10, 80), setup=0.5)
    m = CostModel.calibrated([ref])
    # one run cannot separate overhead and work: the prior gives it 10% overhead
    assert m.setup == pytest.approx(0.5)
    assert m.c0 == pytest.approx(0.1 * 0.28, rel=0.2)
    assert m.predict(10, 80) == pytest.approx(truth(10, 80), rel=1e-6)
    m.add(Observation(3, 600, truth(3, 600)))
    m.add(Observation(40, 10, truth(40, 10)))
    assert (m.c0, m.c1) == (pytest.approx(0.2, rel=1e-6), pytest.approx(0.001, rel=1e-6))
    units, predicted = m.units_for(600, target=3.4, cap=4.125, low=1, high=50)
    assert units == 4 and predicted == pytest.approx(truth(4, 600))
    # closest to the target, but never past 0.95 x the cap
    units, predicted = m.units_for(600, target=3.3, cap=3.4, low=1, high=50)
    assert units == 3 and predicted <= 0.95 * 3.4
    # even the smallest value is over the cap: reported, the caller rejects
    units, predicted = m.units_for(5000, target=3.3, cap=4.125, low=1, high=50)
    assert units == 1 and predicted > 4.125
    # clamped to the budget parameter's range
    assert m.units_for(1, target=3.3, cap=4.125, low=1, high=12)[0] == 12


def test_epoch_timer_measures_setup_from_epoch_ends():
    t = EpochTimer(4)
    for done, total, elapsed in [(0.5, 4, 1.0), (1, 4, 2.5), (2, 4, 4.5), (3, 4, 6.5), (4, 4, 8.5)]:
        t.record(done, total, elapsed)
    t.record(1, 3, 99.0)  # another phase's report (other total): ignored
    assert t.setup() == pytest.approx(0.5)
    assert EpochTimer(1).setup() is None


def test_equal_time_trials_train_for_the_reference_time(fake_model, tiny_dataset_dir, tmp_path):
    klass = fake_model()
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune(
        "fake_cost", tiny_dataset_dir, trials=10, storage=url, study="e", clock=CLOCK, **FAKE
    )
    ref = res.reference["training_time"]
    assert ref == pytest.approx(expected_cpu(klass, 16, 5, 10))
    assert res.reference["cost_observation"]["setup"] == pytest.approx(klass.SETUP)
    trials = trials_of(url, "e")
    assert len(trials) == 10
    per_epoch = []
    for t in trials:
        cfg = t.user_attrs["model_params"]
        assert "epochs" not in t.params  # set by the budget, not searched
        assert t.user_attrs["budget_units"] == {"epochs": cfg["epochs"]}
        if t.state.name == "COMPLETE":
            cpu = t.user_attrs["training_time"]
            assert cpu == pytest.approx(
                expected_cpu(klass, cfg["dim"], cfg["window"], cfg["epochs"])
            )
            assert cpu <= 1.25 * ref
            if t.number >= 2:
                # trial 0 is the default (the reference's cost again); once trial 1 (other
                # work) is measured the cost model knows the cost exactly: each trial is
                # within half an epoch of the reference's time
                step = klass.C0 + klass.C1 * cfg["dim"] * cfg["window"]
                if cfg["epochs"] > 1:
                    assert abs(cpu - ref) <= step / 2 + 1e-9
                assert t.user_attrs["predicted_time"] == pytest.approx(cpu)
            per_epoch.append((cfg["dim"] * cfg["window"], cfg["epochs"]))
    # costlier configurations get fewer epochs
    per_epoch.sort()
    assert per_epoch[0][1] >= per_epoch[-1][1]
    assert len({e for _, e in per_epoch}) > 1


def test_equal_time_rejects_unfittable_configurations_untrained(
    fake_model, tiny_dataset_dir, tmp_path
):
    # one epoch of dim x window > 1080 costs more than the budget (33 s)
    space = {**FakeCost.search_space, "dim": IntParam(8, 256)}
    klass = fake_model(C1=0.03, search_space=space)
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune(
        "fake_cost", tiny_dataset_dir, trials=15, storage=url, study="r", clock=CLOCK, **FAKE
    )
    budget = 1.25 * res.reference["training_time"]
    rejected = 0
    for t in trials_of(url, "r"):
        cfg = t.user_attrs["model_params"]
        one_epoch = expected_cpu(klass, cfg["dim"], cfg["window"], 1)
        if t.state.name == "PRUNED":
            assert t.user_attrs["rejected"] == "time budget"
        if t.user_attrs["predicted_time"] > budget:
            assert t.state.name == "PRUNED" and "not trained" in t.user_attrs["rejected_detail"]
            assert "training_time" not in t.user_attrs
            assert t.user_attrs["untrained"] is True
            rejected += 1
        elif t.number >= 2:  # the cost model is exact from here: what it lets train fits
            assert one_epoch <= budget
        if t.state.name == "COMPLETE":
            assert t.user_attrs["training_time"] <= budget
    assert rejected >= 1
    # untrained rejections cost about a second and do not count: 15 trials trained
    trained = [
        t
        for t in trials_of(url, "r")
        if t.state.name in ("COMPLETE", "PRUNED") and not t.user_attrs.get("untrained")
    ]
    assert len(trained) == 15


def test_budget_modes_reject_and_none(fake_model, tiny_dataset_dir, tmp_path):
    klass = fake_model()
    url = f"sqlite:///{tmp_path / 's.db'}"
    tune(
        "fake_cost",
        tiny_dataset_dir,
        trials=8,
        storage=url,
        study="j",
        clock=CLOCK,
        budget_mode="reject",
        **FAKE,
    )
    ref = expected_cpu(klass, 16, 5, 10)
    for t in trials_of(url, "j"):
        cfg = t.user_attrs["model_params"]
        assert "epochs" in t.params  # searched
        over = expected_cpu(klass, cfg["dim"], cfg["window"], cfg["epochs"]) > 1.25 * ref
        assert (t.state.name == "PRUNED") == over
    tune(
        "fake_cost",
        tiny_dataset_dir,
        trials=8,
        storage=url,
        study="n",
        clock=CLOCK,
        budget_mode="none",
        **FAKE,
    )
    assert {t.state.name for t in trials_of(url, "n")} == {"COMPLETE"}
    with pytest.raises(Exception, match="budget_mode"):
        tune("fake_cost", tiny_dataset_dir, storage=url, budget_mode="equal", **FAKE)


def test_equal_time_refuses_a_fixed_budget_parameter(fake_model, tiny_dataset_dir, tmp_path):
    fake_model()
    with pytest.raises(Exception, match="equal-time trials set it"):
        tune(
            "fake_cost",
            tiny_dataset_dir,
            storage=f"sqlite:///{tmp_path / 's.db'}",
            params={"epochs": 3},
            clock=CLOCK,
            **FAKE,
        )


class _Sleeper(FakeCost):
    """Sleeps (wall time, no CPU) between progress reports."""

    def _fit(self, dataset, progress):
        for e in range(1, self.epochs + 1):
            time.sleep(0.15)
            report(progress, e, self.epochs, "epoch")
        return np.ones((dataset.n_tracks, 2), np.float32), np.ones(dataset.n_tracks, bool)


class _Burner(FakeCost):
    """Burns CPU in a worker thread (as gensim's native workers do)."""

    def _fit(self, dataset, progress):
        def burn() -> None:
            end = time.process_time() + 0.4
            x = 0
            while time.process_time() < end:
                x += 1

        for e in range(1, self.epochs + 1):
            th = threading.Thread(target=burn)
            th.start()
            th.join()
            report(progress, e, self.epochs, "epoch")
        return np.ones((dataset.n_tracks, 2), np.float32), np.ones(dataset.n_tracks, bool)


def test_budgets_count_cpu_time_not_wall_time(tiny_dataset_dir):
    from songspace.data.dataset import Dataset

    ds = Dataset.load(tiny_dataset_dir)
    timing: list[FitTiming] = []
    # 0.6 s asleep: past a 0.3 s budget in wall time, not in CPU time
    _, cpu = fit_config(_Sleeper, {"epochs": 4}, ds, budget=0.3, timing=timing)
    assert timing[0].wall >= 0.6 and cpu < 0.3
    # CPU burnt by another thread of the process counts
    timing.clear()
    _, cpu = fit_config(_Burner, {"epochs": 1}, ds, budget=None, timing=timing)
    assert cpu >= 0.35
    with pytest.raises(TimeBudgetExceeded, match="CPU s"):
        fit_config(_Burner, {"epochs": 3}, ds, budget=0.5)
    assert budget_mod.cpu_clock is not time.perf_counter


def test_the_pruner_stops_a_trial_whose_intermediate_values_are_worse(tiny_dataset_dir, tmp_path):
    import optuna

    from songspace.tuning.storage import open_storage

    url = f"sqlite:///{tmp_path / 's.db'}"
    st = optuna.create_study(
        study_name="p", storage=open_storage(url, heartbeat=None), direction="maximize"
    )
    good = {
        "alpha": 0.025,
        "epochs": 8,
        "dim": 50,
        "window": 5,
        "negative": 5,
        "ns_exponent": 0.75,
        "sample": 1e-3,
    }
    for _ in range(3):
        st.enqueue_trial(good)
    st.enqueue_trial({**good, "alpha": 0.001})  # learns almost nothing: worse every epoch
    kw = {k: v for k, v in FAST.items() if k not in ("params", "budget_mode")}
    tune(
        "track2vec",
        tiny_dataset_dir,
        trials=4,
        storage=url,
        study="p",
        budget_mode="none",
        pruner="sha",
        sampler="random",
        **kw,
    )
    trials = trials_of(url, "p")
    assert [t.state.name for t in trials[:3]] == ["COMPLETE"] * 3
    bad = trials[3]
    assert bad.params["alpha"] == 0.001
    assert bad.state.name == "PRUNED" and "pruner" in bad.user_attrs["pruned"]
    # stopped early: its last reported value is at an earlier step than the good trials' last
    assert max(bad.intermediate_values) < max(trials[0].intermediate_values)
    assert max(bad.intermediate_values.values()) < min(
        min(t.intermediate_values.values()) for t in trials[:3]
    )


def test_cost_model_learns_a_superlinear_work_exponent():
    truth = lambda units, work: units * (0.1 + 1e-3 * work**1.3)  # noqa: E731
    obs = [Observation(5, w, truth(5, w), setup=0.0) for w in (50, 100, 400, 1000)]
    m = CostModel.calibrated(obs[:2])
    assert m.exponent == 1.0  # two runs: linear in the work
    m = CostModel.calibrated(obs)
    # the prior pulls towards 1 (one 10%-miss per 0.15 of departure): between the two
    assert 1.15 <= m.exponent <= 1.3
    assert m.predict(5, 700) == pytest.approx(truth(5, 700), rel=0.05)
    assert CostModel.calibrated(obs).predict(5, 700) > CostModel.calibrated(obs[:2]).predict(5, 700)


def test_cpu_hours_stops_the_study_once_its_trials_trained_that_long(
    fake_model, tiny_dataset_dir, tmp_path
):
    """`cpu_hours`: an equal compute budget for studies of different models. The study
    stops after the trial whose training crosses it, and a resumed run adds none."""
    fake_model()
    url = f"sqlite:///{tmp_path / 's.db'}"
    limit = 10.0  # CPU seconds: about three equal-time trials of 3.3 s
    kw = {"trials": 50, "storage": url, "study": "c", "clock": CLOCK, **FAKE}
    tune("fake_cost", tiny_dataset_dir, cpu_hours=limit / 3600, **kw)
    times = [t.user_attrs["training_time"] for t in trials_of(url, "c")]
    assert 3 <= len(times) < 50
    assert sum(times) >= limit > sum(times[:-1])
    tune("fake_cost", tiny_dataset_dir, cpu_hours=limit / 3600, **kw)
    assert len(trials_of(url, "c")) == len(times)
    with pytest.raises(study_mod.ParameterError, match="cpu_hours"):
        tune("fake_cost", tiny_dataset_dir, cpu_hours=0, **kw)
