"""Bayesian hyper-parameter search of any registered model (SPEC §5; W2V §4).

:func:`tune` runs (or continues) an Optuna study:

1. The *reference* (the model's ``reference_params()``: its defaults, or the preset it
   names, e.g. Track2Vec's W2V Table 3 ``paper`` preset; plus the fixed parameters) is
   trained on the validation protocol's training view and scored first; its
   training time sets the time budget and its VRC the rVRC reference of the
   scalarised objective (W2V eq. 1). It is stored in the study, so resumed runs
   and other workers reuse it.
2. Trials draw the model's declared ``search_space``: ``startup_trials`` random
   trials, then TPE (default) or a Gaussian process (``sampler="gp"``), as in
   W2V §4 (random start-up, then Bayesian search). Pareto studies use the
   multi-objective form of the sampler (TPE, GP or NSGA-II).
3. The time budget (:mod:`songspace.tuning.budget`, training CPU time): by default
   (``budget_mode="equal_time"``) a calibrated cost model sets each trial's
   ``budget_param`` (e.g. ``epochs``) so that it trains for about the reference's
   CPU time; with ``"reject"`` trials train as drawn. In both, a trial whose training
   exceeds ``budget_factor`` x the reference's CPU time is stopped at the model's next
   progress report and recorded as PRUNED with the user attribute
   ``rejected = "time budget"``: never kept as a value. ``"none"``: no budget.
   An optional pruner (``pruner="sha"`` or ``"hyperband"``) stops trials whose
   per-epoch validation value on a fixed query sample is hopeless (multi-fidelity).
4. ``trials`` is the number of finished trials the study should hold: complete, pruned
   or rejected after training started. Configurations rejected *before* training (even
   the smallest budget value predicted past the cap: about a second each) do not count,
   so ``trials`` is the number of trained trials; at most ``UNTRAINED_ATTEMPTS`` x
   ``trials`` of them are tried before the study stops with a warning. Re-running the
   same command after an interruption continues where it stopped; several processes
   (PostgreSQL storage) share the count.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint, fingerprint_matches
from songspace.errors import ParameterError, SongspaceError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.suite import unsupported
from songspace.models.base import EmbeddingModel
from songspace.models.registry import create, get_model_class
from songspace.models.space import Param
from songspace.progress import EpochProgressCallback, ProgressCallback
from songspace.tuning.budget import Clock, CostModel, EpochTimer, Observation, cpu_clock
from songspace.tuning.objectives import OBJECTIVES, StudyObjective, finite, score
from songspace.tuning.protocols import TuningProtocols
from songspace.tuning.settings import IDENTITY, SAMPLERS, StudySettings, TuneSettings
from songspace.tuning.space import encode, suggest
from songspace.tuning.storage import (
    fail_stale_trials,
    open_storage,
    optuna_module,
    redact,
    storage_file,
    storage_url,
)
from songspace.tuning.timing import PHASE_ATTR, PhaseClock, describe

logger = logging.getLogger(__name__)

#: Queries of each next-song kind scored per epoch for the pruner (a fixed seeded sample).
FIDELITY_QUERIES = 500
#: Configurations rejected before training (cheap, they do not count toward ``trials``)
#: that a study tries, per requested trial, before it stops with a warning.
UNTRAINED_ATTEMPTS = 5


class TimeBudgetExceeded(SongspaceError):
    """A trial's training ran past its time budget (raised inside the model's progress hook).

    ``ratio`` is the (projected) training time divided by the budget.
    """

    def __init__(
        self,
        message: str,
        ratio: float = float("nan"),
        elapsed: float = float("nan"),
        fraction: float = float("nan"),
    ):
        super().__init__(message)
        self.ratio = ratio
        #: CPU seconds trained and share of the work done when stopped.
        self.elapsed = elapsed
        self.fraction = fraction


def budget_constraint(trial: Any) -> list[float]:
    """Optuna constraint: training time / budget - 1 (<= 0 within the budget).

    Rejected trials carry their (projected) overrun, so the samplers learn where the
    budget holds (constrained TPE/GP/NSGA-II) instead of seeing equal failures.
    """
    return [float(trial.user_attrs.get("budget_violation", 0.0))]


@dataclass
class TuneResult:
    """What :func:`tune` returns: where the study is and its best trial(s)."""

    study: str
    storage: str
    settings: StudySettings
    reference: dict[str, Any]
    best: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: This run's one-off phases before its trials (loading the data, its fingerprint, the
    #: protocols, opening the study, the reference run): ``{phase: {"wall", "cpu"}}``
    #: (:mod:`songspace.tuning.timing`; the trials' phases are in their user attributes).
    phases: dict[str, dict[str, float]] = field(default_factory=dict)


def default_study_name(
    model: str,
    objectives: Sequence[str],
    alpha: float | None,
    sample_rate: float,
    replicate: int = 0,
) -> str:
    name = f"{model}-" + "+".join(objectives)
    if alpha is not None:
        name += f"-a{alpha:g}"
    if sample_rate < 1:
        name += f"-r{sample_rate:g}"
    if replicate:
        name += f"-rep{replicate}"
    return name


def make_sampler(
    name: str, *, seed: int, startup_trials: int, multi: bool, budget: bool = False
) -> Any:
    """TPE (default), GP, random or NSGA-II, started by ``startup_trials`` random trials.

    With ``budget``, the time budget is the samplers' constraint (:func:`budget_constraint`).
    """
    optuna = optuna_module()
    cons = {"constraints_func": budget_constraint} if budget else {}
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constraints_func is "experimental"
            return optuna.samplers.TPESampler(
                n_startup_trials=startup_trials, seed=seed, constant_liar=True, **cons
            )
    if name == "gp":
        from songspace._optional import optional_import

        optional_import("torch", "the Gaussian-process sampler")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.GPSampler(n_startup_trials=startup_trials, seed=seed, **cons)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        if not multi:
            raise ParameterError(
                "sampler",
                "`sampler != 'nsga2'` for a single objective",
                name,
                fix="use tpe or gp, or give several objectives without --alpha",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.NSGAIISampler(seed=seed, **cons)
    raise ParameterError("sampler", f"one of {list(SAMPLERS)}", name)


class _Meter:
    """CPU seconds of training: ``clock`` since the start, less the time spent in hooks."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.start = clock()
        self.excluded = 0.0

    def elapsed(self) -> float:
        return self.clock() - self.start - self.excluded


def _budget_hook(
    meter: _Meter,
    budget: float | None,
    report: Callable[[str], None],
    timer: EpochTimer | None = None,
) -> ProgressCallback:
    """Progress hook raising TimeBudgetExceeded once training is past ``budget`` CPU seconds,
    or clearly projected to end past it: past 1.5 x ``budget`` at the speed measured since
    the first report (so setup time does not count), once 3% of the work lies in between."""
    first: list[tuple[float, float]] = []

    def hook(done: float, total: float, message: str, /) -> None:
        elapsed = meter.elapsed()
        fraction = float(done) / total if total else 0.0
        if timer is not None:
            timer.record(done, total, elapsed)
        if budget is not None:
            if elapsed > budget:
                raise TimeBudgetExceeded(
                    f"training ran {elapsed:.1f} CPU s, past its time budget of {budget:.1f}s",
                    elapsed / budget if budget > 0 else float("inf"),
                    elapsed,
                    fraction,
                )
            if not first:
                first.append((elapsed, fraction))
            else:
                t1, f1 = first[0]
                if fraction - f1 >= 0.03 and elapsed > t1:
                    projected = elapsed + (1.0 - fraction) * (elapsed - t1) / (fraction - f1)
                    if projected > 1.5 * budget:
                        raise TimeBudgetExceeded(
                            f"training projected to take {projected:.0f} CPU s at "
                            f"{fraction:.1%} done ({elapsed:.1f}s), past its time budget of "
                            f"{budget:.1f}s",
                            projected / budget,
                            elapsed,
                            fraction,
                        )
        report(message)

    return hook


class _EpochProgress:
    """The budget hook as an :class:`~songspace.progress.EpochProgressCallback`: its
    ``epoch_end(epoch, embeddings, available)`` calls
    ``callback(epoch, embeddings, available, cpu_seconds)``; the callback's own CPU time is
    not counted."""

    def __init__(
        self,
        hook: ProgressCallback,
        meter: _Meter,
        callback: Callable[[int, np.ndarray, np.ndarray, float], None],
    ):
        self.hook = hook
        self.meter = meter
        self.callback = callback

    def __call__(self, done: float, total: float, message: str, /) -> None:
        self.hook(done, total, message)

    def epoch_end(self, epoch: int, embeddings: np.ndarray, available: np.ndarray) -> None:
        t0 = self.meter.clock()
        try:
            self.callback(epoch, embeddings, available, self.meter.elapsed())
        finally:
            self.meter.excluded += self.meter.clock() - t0


@dataclass
class FitTiming:
    """What :func:`fit_config` measured: CPU and wall seconds, setup CPU seconds (or None)."""

    cpu: float
    wall: float
    setup: float | None = None


def fit_config(
    klass: type[EmbeddingModel],
    params: Mapping[str, Any],
    train: Dataset,
    *,
    budget: float | None = None,
    report: Callable[[str], None] | None = None,
    clock: Clock = cpu_clock,
    epoch_callback: Callable[[int, np.ndarray, np.ndarray, float], None] | None = None,
    timing: list[FitTiming] | None = None,
) -> tuple[EmbeddingModel, float]:
    """Fit ``create(klass, params)`` on ``train`` within ``budget`` CPU seconds.

    Returns (model, CPU seconds).

    Raises TimeBudgetExceeded when the model reports progress after the budget
    ran out, or finishes past it. ``epoch_callback(epoch, embeddings, available,
    cpu_seconds)`` is called after each epoch by models that have an epoch hook; its own
    CPU time is not counted. ``timing`` (a list) receives the :class:`FitTiming`.
    """
    model = create(klass, params)
    budget_param = klass.budget_param
    units = params.get(budget_param) if budget_param else None
    timer = EpochTimer(int(units)) if isinstance(units, int | np.integer) else None
    wall0 = time.perf_counter()
    meter = _Meter(clock)
    hook = _budget_hook(meter, budget, report or (lambda m: None), timer)
    progress: ProgressCallback = hook
    if epoch_callback is not None:
        with_epochs: EpochProgressCallback = _EpochProgress(hook, meter, epoch_callback)
        progress = with_epochs
    model.fit(train, progress=progress)
    seconds = meter.elapsed()
    if timing is not None:
        timing.append(
            FitTiming(seconds, time.perf_counter() - wall0, timer.setup() if timer else None)
        )
    if budget is not None and seconds > budget:
        raise TimeBudgetExceeded(
            f"training took {seconds:.1f} CPU s, past its budget of {budget:.1f}s",
            seconds / budget if budget > 0 else float("inf"),
            seconds,
            1.0,
        )
    return model, seconds


def warm_up(klass: type[EmbeddingModel], params: Mapping[str, Any], train: Dataset) -> None:
    """Fit on a few sequences so that imports do not count in the next timed fit."""
    with contextlib.suppress(SongspaceError):
        create(klass, params).fit(train.subset(np.arange(min(20, train.n_sequences))))


def _embeddings(model: EmbeddingModel, name: str) -> Embeddings:
    return Embeddings.from_array(
        model.embeddings_, model.n_tracks_, available=model.available_, name=name
    )


def _metric_values(results: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v.value) for k, v in results.items()}


def _check_settings(stored: Mapping[str, Any], new: StudySettings, study: str) -> None:
    """ParameterError unless ``new`` defines the same study as the ``stored`` record (read
    through :meth:`StudySettings.from_attrs`, which migrates older records)."""
    mine = new.as_attrs()
    stored = StudySettings.from_attrs(stored, study).as_attrs()
    diff = [k for k in IDENTITY if _norm(stored.get(k)) != _norm(mine.get(k))]
    if diff:
        k = diff[0]
        raise ParameterError(
            k,
            f"the same {k} as study '{study}' was created with ({stored.get(k)!r})",
            mine.get(k),
            fix="repeat the original options to continue it, or give a new --study name",
        )


def _norm(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items())}
    if isinstance(v, float) and v.is_integer():
        return v
    return v


def trial_summary(trial: Any, objective: StudyObjective) -> dict[str, Any]:
    return {
        "number": trial.number,
        "values": list(trial.values or []),
        "value_names": objective.value_names,
        "params": trial.user_attrs.get("model_params", dict(trial.params)),
        "metrics": trial.user_attrs.get("metrics", {}),
        "training_time": trial.user_attrs.get("training_time"),
        "wall_time": trial.user_attrs.get("wall_time"),
    }


def best_trials(study: Any, objective: StudyObjective) -> list[Any]:
    """The best complete trial, or the Pareto set of a multi-objective study."""
    optuna = optuna_module()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return []
    if objective.mode == "pareto":
        return sorted(study.best_trials, key=lambda t: t.number)
    return [study.best_trial]


def count_states(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def tune(
    model: str,
    dataset: Dataset | str | Path,
    settings: TuneSettings | None = None,
    *,
    storage: str | Path | None = None,
    study: str | None = None,
    progress: ProgressCallback | None = None,
    clock: Clock = cpu_clock,
    **options: Any,
) -> TuneResult:
    """Run or continue the study (see the module docstring); return its best trial(s).

    ``settings`` (:class:`~songspace.tuning.settings.TuneSettings`, the one home of the
    defaults) says what to run; ``options`` are a convenience that replaces its fields,
    so ``tune("track2vec", data, trials=5, seed=1)`` runs the defaults with 5 trials and
    seed 1. ``storage`` holds the study (default: :data:`~songspace.tuning.settings.
    DEFAULT_STORAGE`), ``study`` names it (default: :func:`default_study_name`).
    ``clock`` measures training time (CPU time; tests pass a fake clock).
    """
    t_start = time.perf_counter()
    setup = PhaseClock()
    settings = TuneSettings.resolve(settings, **options)
    klass = get_model_class(model)
    fixed = klass.coerce_params(dict(settings.params), from_strings=True)
    # the fixed values are valid, and a path they write (checkpoint_dir) spares the inputs
    source = None if isinstance(dataset, Dataset) else dataset
    create(klass, fixed).check_write_paths(inputs=(source, storage_file(storage)))
    space = _searched_space(klass, model, fixed, settings.budget()[0])
    starts = starting_points(klass, space, settings.enqueue)
    _check_sampler(settings)
    url = storage_url(storage)
    store = open_storage(url, heartbeat=settings.heartbeat)
    with setup.phase("load"):
        ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    with setup.phase("fingerprint"):
        fingerprint = dataset_fingerprint(ds)
    record = StudySettings.create(
        model,
        "" if isinstance(dataset, Dataset) else str(Path(dataset).resolve()),
        fingerprint,
        settings,
        to_jsonable(fixed),
    )
    objective = record.objective
    name = study or default_study_name(
        model, objective.objectives, objective.alpha, record.sample_rate, record.replicate
    )
    with setup.phase("protocols"):
        protocols = record.protocols(ds)
    with setup.phase("study"):
        study_obj = _prepare_study(
            store, url, name, ds, record, klass, fixed, space, settings.heartbeat
        )
        _enqueue_starts(study_obj, klass, fixed, space, starts)
    with setup.phase("reference"):
        run = _TrialObjective(
            study_obj,
            name,
            record,
            klass,
            fixed,
            space,
            protocols,
            settings.trials,
            progress,
            clock,
            cpu_hours=settings.cpu_hours,
        )
    logger.info("study '%s' set up: %s", name, setup.describe(longest=len(setup.wall)))
    run.optimize(settings.timeout)
    best = best_trials(study_obj, objective)
    return TuneResult(
        study=name,
        storage=redact(url),
        settings=record,
        reference=run.reference,
        best=[trial_summary(t, objective) for t in best],
        counts=count_states(study_obj),
        seconds=time.perf_counter() - t_start,
        phases=setup.as_attr(),
    )


def _check_sampler(settings: TuneSettings) -> None:
    """Build the sampler once before any expensive work (the Gaussian process needs
    torch); the settings themselves are checked when they are built."""
    make_sampler(
        settings.sampler,
        seed=settings.seed,
        startup_trials=settings.startup_trials,
        multi=settings.objective.mode == "pareto",
    )


def _searched_space(
    klass: type[EmbeddingModel], model: str, fixed: Mapping[str, Any], budget_mode: str
) -> dict[str, Param]:
    """The model's search space less the fixed parameters and, under equal time, the
    ``budget_param`` (set from the budget); ParameterError when nothing is left to search."""
    space = {k: p for k, p in klass.search_space.items() if k not in fixed}
    if budget_mode == "equal_time":
        bp = klass.budget_param
        if bp is None:
            raise ParameterError(
                "budget_mode",
                "a model with a `budget_param` for equal-time trials",
                f"{model} (none)",
                fix="use --budget-mode reject or none",
            )
        if bp in fixed:
            raise ParameterError(
                "params",
                f"`{bp}` not fixed (equal-time trials set it from the budget)",
                fixed[bp],
                fix=f"drop --param {bp}=..., or use --budget-mode reject",
            )
        space.pop(bp, None)
    if not klass.search_space:
        raise ParameterError(
            "model",
            "a model that declares a search_space",
            model,
            fix="declare `search_space` on the model class (songspace.models.space)",
        )
    if not space:
        raise ParameterError(
            "params",
            "at least one searched parameter left unfixed",
            sorted(fixed),
            fix=f"do not fix all of {sorted(klass.search_space)}",
        )
    return space


def starting_points(
    klass: type[EmbeddingModel], space: dict[str, Param], configs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``configs`` (``TuneSettings.enqueue``) as model parameters, each checked: every name
    is searched, every value parses and lies inside the search space (ParameterError
    naming the configuration otherwise)."""
    out = []
    for i, config in enumerate(configs):
        where = f"enqueue[{i}]"
        unsearched = sorted(set(config) - set(space))
        if unsearched:
            raise ParameterError(
                where,
                f"parameters the study searches ({', '.join(sorted(space))})",
                ", ".join(unsearched),
                fix="enqueue only searched parameters (fixed ones are set by --param, the "
                "budget parameter by the time budget)",
            )
        params = klass.coerce_params(dict(config), from_strings=True)
        outside = sorted(k for k, v in params.items() if not space[k].contains(v))
        if outside:
            raise ParameterError(
                where,
                "values inside the search space ("
                + "; ".join(f"{k}: {space[k]}" for k in outside)
                + ")",
                ", ".join(f"{k}={params[k]}" for k in outside),
                fix="give values inside the searched ranges",
            )
        out.append(params)
    return out


def _enqueue_starts(
    study: Any,
    klass: type[EmbeddingModel],
    fixed: Mapping[str, Any],
    space: dict[str, Param],
    starts: Sequence[Mapping[str, Any]],
) -> None:
    """Enqueue each starting point (the default configuration with its values) unless the
    study already holds it."""
    for params in starts:
        label = ";".join(f"{k}={v}" for k, v in params.items())
        study.enqueue_trial(
            encode({**reference_config(study, klass, fixed), **params}, space),
            user_attrs={"enqueued": f"--enqueue {label}"},
            skip_if_exists=True,
        )


def _prepare_study(
    store: Any,
    url: str,
    name: str,
    ds: Dataset,
    settings: StudySettings,
    klass: type[EmbeddingModel],
    fixed: Mapping[str, Any],
    space: dict[str, Param],
    heartbeat: float | None,
) -> Any:
    """Open (or create) the study, record or check its settings, and give it its sampler.

    A new study records ``settings`` and enqueues the default configuration as its first
    trial; a resumed one must match them (:func:`_check_settings`)."""
    optuna = optuna_module()
    objective = settings.objective
    pruner = _make_pruner(optuna, settings.pruner)
    study_obj, created = _open_study(optuna, store, url, name, objective, pruner)
    stored = study_obj.user_attrs.get("songspace") if created else _settings_of(study_obj)
    if stored is None:
        study_obj.set_user_attr("songspace", settings.as_attrs())
        # the first trial is the default configuration: a known point inside the time
        # budget from which the (constrained) Bayesian search can move
        study_obj.enqueue_trial(
            encode(reference_config(study_obj, klass, fixed), space),
            user_attrs={"enqueued": "default configuration"},
            skip_if_exists=True,
        )
    else:
        if fingerprint_matches(ds, str(stored.get("dataset_fingerprint", ""))):
            # a study created by an earlier version records the older, shorter form
            settings.dataset_fingerprint = stored["dataset_fingerprint"]
        _check_settings(stored, settings, name)
    if heartbeat is not None:
        fail_stale_trials(study_obj)
    # Only the process that created the study seeds its sampler by `seed` alone, so a fresh
    # study run by one process is reproducible. Every other process (a resumed run, or an
    # extra worker started at the same moment, which sees no trial yet either) draws its
    # own seed: two workers seeded alike would run the same trials.
    n_existing = len(
        [
            t
            for t in study_obj.get_trials(deepcopy=False)
            if t.state != optuna.trial.TrialState.WAITING
        ]
    )
    seed = replicate_seed(settings.seed, settings.replicate)
    study_obj.sampler = make_sampler(
        settings.sampler,
        seed=seed if created else _worker_seed(seed, n_existing),
        startup_trials=settings.startup_trials,
        multi=objective.mode == "pareto",
        budget=settings.budget_factor is not None,
    )
    return study_obj


class _TrialObjective:
    """The Optuna objective of a study: ``__call__(trial)`` trains and scores one trial
    under the time budget; :meth:`after_trial` (an Optuna callback) reports it and stops
    the study once it holds ``trials`` trained trials.

    Building it trains and scores the reference (:func:`_reference`), which sets the
    time budget; it holds what every trial shares (the training view, the budget, the
    equal-time bounds, the pruner's fidelity protocol).
    """

    def __init__(
        self,
        study: Any,
        name: str,
        settings: StudySettings,
        klass: type[EmbeddingModel],
        fixed: Mapping[str, Any],
        space: dict[str, Param],
        protocols: TuningProtocols,
        trials: int,
        progress: ProgressCallback | None,
        clock: Clock,
        *,
        cpu_hours: float | None = None,
    ):
        self.optuna = optuna_module()
        self.study = study
        self.name = name
        self.settings = settings
        self.objective = settings.objective
        self.klass = klass
        self.fixed = fixed
        self.space = space
        self.protocols = protocols
        self.trials = trials
        self.cpu_hours = cpu_hours
        self.progress = progress
        self.clock = clock
        self.finished_states = (
            self.optuna.trial.TrialState.COMPLETE,
            self.optuna.trial.TrialState.PRUNED,
        )
        self.reference = _reference(
            study, klass, fixed, protocols, settings, self.objective, self.say, clock
        )
        self.ref_cpu = float(self.reference["training_time"])
        factor = settings.budget_factor
        self.budget = None if factor is None else factor * self.ref_cpu
        if self.budget is not None:
            logger.info(
                "time budget per trial (%s): %.1f CPU s (%.2f x the default's %.1f CPU s)",
                settings.budget_mode,
                self.budget,
                factor,
                self.ref_cpu,
            )
        self.train = protocols.validation.train
        self.bp = klass.budget_param
        self.units_low, self.units_high = self._units_bounds()
        self.fidelity = (
            _fidelity_protocol(protocols, settings.seed) if settings.pruner != "none" else None
        )
        #: (wall, CPU) when the previous trial of this run ended: Optuna's bookkeeping
        #: until the next trial starts is that trial's ``optuna`` phase.
        self.last_end: tuple[float, float] | None = None

    # -- reporting ------------------------------------------------------------------------
    def say(self, done: int, message: str) -> None:
        """Report progress: ``done`` of ``trials`` trained trials, and what happens now."""
        if self.progress is not None:
            self.progress(done, self.trials, message)

    def n_finished(self) -> int:
        """Finished trials that trained (untrained budget rejections do not count)."""
        return sum(
            not t.user_attrs.get("untrained")
            for t in self.study.get_trials(deepcopy=False, states=self.finished_states)
        )

    def n_untrained(self) -> int:
        """Configurations rejected before training (they do not count toward ``trials``)."""
        return sum(
            bool(t.user_attrs.get("untrained"))
            for t in self.study.get_trials(deepcopy=False, states=self.finished_states)
        )

    def training_hours(self) -> float:
        """Training CPU-hours the study's trials have spent (their recorded training time,
        whatever their state; the reference's excluded)."""
        seconds = sum(
            float(t.user_attrs["training_time"])
            for t in self.study.get_trials(deepcopy=False)
            if "training_time" in t.user_attrs
        )
        return seconds / 3600

    def optimize(self, timeout: float | None) -> None:
        """Run trials until the study holds ``trials`` trained trials, its trials have
        trained ``cpu_hours`` CPU-hours, or ``timeout`` seconds have passed."""
        remaining = self.trials - self.n_finished()
        if remaining <= 0:
            logger.info("study '%s' already holds %d finished trials", self.name, self.n_finished())
            return
        if self.cpu_spent():
            return
        self.say(self.n_finished(), "starting")
        self.study.optimize(
            self,
            # after_trial stops the study once it holds `trials` trained trials; this bound
            # also ends a run whose configurations keep failing (ParameterError)
            n_trials=remaining * (UNTRAINED_ATTEMPTS + 1),
            timeout=timeout,
            callbacks=[self.after_trial],
            catch=(ParameterError,),
            gc_after_trial=False,
        )

    # -- the time budget and the cost model -----------------------------------------------
    def _units_bounds(self) -> tuple[int, int]:
        """Equal-time bounds of ``budget_param``: the search space's, else the constraints
        table's, else [1, 10**6]."""
        bp = self.bp
        if bp is None:
            return 1, 10**6
        bp_space = self.klass.search_space.get(bp)
        bp_con = self.klass.parameter_constraints.get(bp)
        con_low = getattr(bp_con, "low", None)
        con_high = getattr(bp_con, "high", None)
        low = int(getattr(bp_space, "low", 1 if con_low is None else max(con_low, 1)))
        high = int(getattr(bp_space, "high", 10**6 if con_high is None else con_high))
        return low, high

    def cost_model(self) -> CostModel:
        """The cost model calibrated on the reference's and every trial's observations."""
        obs = [Observation.from_dict(self.reference["cost_observation"])]
        for t in self.study.get_trials(deepcopy=False):
            o = t.user_attrs.get("cost_observation")
            if o is not None:
                obs.append(Observation.from_dict(o))
        return CostModel.calibrated(obs)

    def observe(
        self, trial: Any, cfg: Mapping[str, Any], cpu: float, fraction: float, setup: float | None
    ) -> None:
        """Record the trial's cost observation (``fraction`` of its units trained)."""
        bp = self.bp
        if bp is None or not isinstance(cfg.get(bp), int | np.integer) or not fraction > 0:
            return
        obs = Observation(
            float(cfg[bp]) * fraction,
            self.klass.cost_units(dict(cfg), self.train),
            float(cpu),
            setup,
        )
        trial.set_user_attr("cost_observation", obs.as_dict())

    def set_equal_time_units(self, trial: Any, cfg: dict[str, Any]) -> None:
        """Under equal time, set ``cfg[budget_param]`` so that the trial trains for about
        the reference's CPU time; prune it untrained when even that is predicted past the
        budget."""
        bp, budget = self.bp, self.budget
        if self.settings.budget_mode != "equal_time" or bp is None or budget is None:
            return
        work = self.klass.cost_units(dict(cfg), self.train)
        units, predicted = self.cost_model().units_for(
            work, self.ref_cpu, budget, self.units_low, self.units_high
        )
        cfg[bp] = units
        trial.set_user_attr("budget_units", {bp: units})
        trial.set_user_attr("predicted_time", predicted)
        if predicted > budget:
            trial.set_user_attr("model_params", to_jsonable(cfg))
            trial.set_user_attr("rejected", "time budget")
            trial.set_user_attr("untrained", True)
            trial.set_user_attr(
                "rejected_detail",
                f"predicted {predicted:.1f} CPU s with {bp}={units}, past the budget of "
                f"{budget:.1f}s (not trained)",
            )
            trial.set_user_attr("budget_violation", predicted / budget - 1.0)
            logger.info(
                "trial %d rejected before training: predicted %.1fs > %.1fs",
                trial.number,
                predicted,
                budget,
            )
            raise self.optuna.TrialPruned("time budget (predicted)")

    def reject_over_budget(
        self, trial: Any, cfg: Mapping[str, Any], exc: TimeBudgetExceeded
    ) -> Any:
        """Record a trial stopped past its budget; return the TrialPruned to raise."""
        trial.set_user_attr("rejected", "time budget")
        trial.set_user_attr("rejected_detail", str(exc))
        if np.isfinite(exc.ratio):
            trial.set_user_attr("budget_violation", exc.ratio - 1.0)
        if np.isfinite(exc.elapsed):
            trial.set_user_attr("training_time", exc.elapsed)
            self.observe(trial, cfg, exc.elapsed, exc.fraction, None)
        logger.info("trial %d rejected: %s", trial.number, exc)
        return self.optuna.TrialPruned(f"time budget: {exc}")

    # -- one trial ------------------------------------------------------------------------
    def __call__(self, trial: Any) -> float | list[float]:
        """Train and score one trial: its objective value(s). The wall and CPU seconds of
        each phase go to the trial's ``phase_seconds`` (:mod:`songspace.tuning.timing`)."""
        phases = PhaseClock()
        if self.last_end is not None:
            wall, cpu = phases.started
            phases.add("optuna", wall - self.last_end[0], cpu - self.last_end[1])
        try:
            return self.run_trial(trial, phases)
        finally:
            phases.finish()
            trial.set_user_attr(PHASE_ATTR, phases.as_attr())
            self.last_end = phases.clock()

    def run_trial(self, trial: Any, phases: PhaseClock) -> float | list[float]:
        """What :meth:`__call__` does, each phase timed on ``phases``."""
        with phases.phase("suggest"):
            cfg = {**self.fixed, **suggest(trial, self.space)}
        with phases.phase("budget"):
            self.set_equal_time_units(trial, cfg)
        trial.set_user_attr("model_params", to_jsonable(cfg))
        done = self.n_finished()
        self.say(done, f"trial {trial.number}: training")
        timing: list[FitTiming] = []
        try:
            with phases.phase("fit", exclude=("prune",)):
                fitted, seconds = fit_config(
                    self.klass,
                    cfg,
                    self.train,
                    budget=self.budget,
                    report=lambda m: self.say(done, f"trial {trial.number}: {m}"),
                    clock=self.clock,
                    epoch_callback=self.epoch_callback(trial, cfg, phases),
                    timing=timing,
                )
        except TimeBudgetExceeded as exc:
            with phases.phase("budget"):
                rejected = self.reject_over_budget(trial, cfg, exc)
            raise rejected from None
        trial.set_user_attr("training_time", seconds)
        trial.set_user_attr("wall_time", timing[0].wall if timing else None)
        with phases.phase("budget"):
            self.observe(trial, cfg, seconds, 1.0, timing[0].setup if timing else None)
        if self.budget is not None:
            trial.set_user_attr("budget_violation", seconds / self.budget - 1.0)
        self.say(done, f"trial {trial.number}: scoring")
        return self.score(trial, fitted, phases)

    def epoch_callback(
        self, trial: Any, cfg: Mapping[str, Any], phases: PhaseClock | None = None
    ) -> Callable[[int, np.ndarray, np.ndarray, float], None] | None:
        """With a pruner: the per-epoch hook reporting the fidelity value to the trial
        (its time is the phase ``prune`` of ``phases``)."""
        fidelity = self.fidelity
        if fidelity is None:
            return None
        objective, bp = self.objective, self.bp
        clock = phases if phases is not None else PhaseClock()

        def score_epoch(epoch: int, emb: np.ndarray, available: np.ndarray, cpu: float) -> None:
            e = Embeddings.from_array(
                emb,
                self.train.n_tracks,
                available=available,
                name=f"trial{trial.number}-epoch{epoch}",
            )
            res = score(fidelity, e, _needed_metrics(objective, extra=False), self.settings.suite())
            value = objective.values(_metric_values(res), self.reference["metrics"])[0]
            # step: percent of the trial's epochs done (under equal time: of the budget)
            step = max(1, round(100 * epoch / max(int(cfg.get(bp or "", epoch)), 1)))
            if not np.isfinite(value):
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # reporting a step twice warns
                trial.report(float(value), step)
            if trial.should_prune():
                trial.set_user_attr("pruned", f"pruner at epoch {epoch} ({step}% done)")
                trial.set_user_attr("training_time", cpu)
                raise self.optuna.TrialPruned(f"pruned at epoch {epoch}: value {value:.4g}")

        def on_epoch(epoch: int, emb: np.ndarray, available: np.ndarray, cpu: float) -> None:
            with clock.phase("prune"):
                score_epoch(epoch, emb, available, cpu)

        return on_epoch

    def score(
        self, trial: Any, fitted: EmbeddingModel, phases: PhaseClock | None = None
    ) -> float | list[float]:
        """Score the trained model on the validation protocol: the objective value(s)
        (the phases ``embed`` and ``score:<family>`` timed on ``phases``)."""
        clock = phases if phases is not None else PhaseClock()
        with clock.phase("embed"):
            emb = _embeddings(fitted, f"trial{trial.number}")
        results = score(
            self.protocols.validation,
            emb,
            _needed_metrics(self.objective),
            self.settings.suite(),
            phases=clock,
        )
        metrics = _metric_values(results)
        values = self.objective.values(metrics, self.reference["metrics"])
        trial.set_user_attr("metrics", metrics)
        if not finite(values):
            trial.set_user_attr("rejected", "non-finite objective")
            raise ParameterError(
                "objective",
                "finite objective values",
                values,
                fix="a metric is undefined for this configuration (see the trial's metrics)",
            )
        return values[0] if len(values) == 1 else values

    # -- after each trial -----------------------------------------------------------------
    def after_trial(self, study: Any, trial: Any) -> None:
        """Optuna callback: report the trial and the best so far; stop the study once it
        holds ``trials`` trained trials, or after too many untrained rejections."""
        state, text = self.trial_state(trial), self.best_text(study)
        phases = trial.user_attrs.get(PHASE_ATTR)
        logger.info(
            "trial %d: %s; %s%s",
            trial.number,
            state,
            text,
            f"; time: {describe(phases)}" if phases else "",
        )
        done = self.n_finished()
        self.say(done, f"trial {trial.number}: {state} | {text}")
        if done >= self.trials or self.cpu_spent():
            study.stop()
        elif self.n_untrained() >= UNTRAINED_ATTEMPTS * self.trials:
            logger.warning(
                "study '%s': stopping after %d configurations rejected before training "
                "(their cheapest %s was predicted past the budget) and %d of %d trained "
                "trials. Fix: narrow the search space (--param fixes a parameter) or raise "
                "--budget-factor",
                self.name,
                self.n_untrained(),
                self.bp,
                done,
                self.trials,
            )
            study.stop()

    def cpu_spent(self) -> bool:
        """Whether the study's trials have trained its ``cpu_hours`` (logged when so)."""
        limit = self.cpu_hours
        if limit is None:
            return False
        spent = self.training_hours()
        if spent < limit:
            return False
        logger.info(
            "study '%s': its trials have trained %.2f CPU-hours, the limit of %.2f "
            "(--cpu-hours); %d trained trials",
            self.name,
            spent,
            limit,
            self.n_finished(),
        )
        return True

    def best_text(self, study: Any) -> str:
        """The best value so far, or the size of the Pareto set."""
        best = best_trials(study, self.objective)
        if not best:
            return "no complete trial yet"
        if self.objective.mode != "pareto":
            b = best[0]
            return f"best {self.objective.value_names[0]} {b.value:.4g} (trial {b.number})"
        return f"Pareto set: {len(best)} trial(s)"

    def trial_state(self, trial: Any) -> str:
        """How a finished trial ended: rejected, pruned, or its values."""
        if trial.user_attrs.get("rejected"):
            return f"rejected ({trial.user_attrs['rejected']})"
        if trial.user_attrs.get("pruned"):
            return f"pruned ({trial.user_attrs['pruned']})"
        if trial.values:
            names = self.objective.value_names
            return ", ".join(f"{n} {v:.4g}" for n, v in zip(names, trial.values, strict=True))
        return str(trial.state.name.lower())


def replicate_seed(seed: int, replicate: int) -> int:
    """The sampler seed of a study's ``replicate`` (0: ``seed`` itself)."""
    if replicate == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(replicate)]).generate_state(1)[0])


def _worker_seed(seed: int, n_existing: int) -> int:
    """A sampler seed for a resumed run or an extra worker: not repeating the first run's draws."""
    ss = np.random.SeedSequence([int(seed), int(n_existing), os.getpid()])
    return int(ss.generate_state(1)[0])


def _needed_metrics(objective: StudyObjective, extra: bool = True) -> list[str]:
    """The objectives' metrics, plus next-song HitRate and NDCG and, when the objectives
    already compute the clustering family, both VRCs (they show the trade-off; the VRCs of
    a 173K-track dataset cost about as much as training, so they are not added otherwise).
    A completion-only study gets no extra: its trials score no next-song query (on the MPD
    subset's 25% sample that scoring took 9-27 CPU s of a MUSIG trial that trained for
    43-91 CPU s; the reference row still has every metric)."""
    extra = extra and objective.families() != ["completion"]
    more = ["next_song_hit_rate", "next_song_ndcg"] if extra else []
    if extra and "clustering" in objective.families():
        more += ["vrc_genre", "vrc_artist"]
    return list(dict.fromkeys([*objective.metrics(), *more]))


def _make_pruner(optuna: Any, pruner: str) -> Any:
    """Successive halving or Hyperband over steps = percent of the trial's epochs done
    (first rung at 10%, reduction factor 3), or no pruning."""
    if pruner == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=3)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=10, max_resource=100, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _fidelity_protocol(protocols: TuningProtocols, seed: int) -> Any:
    """The validation protocol cut to a fixed seeded sample of FIDELITY_QUERIES next-song
    queries of each kind: what the pruner scores after every epoch."""
    import dataclasses

    val = protocols.validation
    rng = np.random.default_rng([int(seed), 0xF1DE])

    def cut(pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = len(pairs[0])
        if n <= FIDELITY_QUERIES:
            return pairs
        idx = np.sort(rng.choice(n, size=FIDELITY_QUERIES, replace=False))
        return pairs[0][idx], pairs[1][idx]

    return dataclasses.replace(
        val, in_set=cut(val.in_set), out_of_set=cut(val.out_of_set), _cache={}
    )


def _open_study(
    optuna: Any, store: Any, url: str, name: str, objective: StudyObjective, pruner: Any = None
) -> tuple[Any, bool]:
    """(the study, whether this call created it). Creation is atomic in every storage
    (a unique name in an RDB, the log's order in a journal), so of several workers started
    together exactly one is told it created the study."""
    try:
        st = optuna.create_study(
            storage=store,
            study_name=name,
            directions=objective.directions,
            load_if_exists=False,
            pruner=pruner,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        st = optuna.load_study(study_name=name, storage=store, pruner=pruner)
        created = False
    have = [d.name.lower() for d in st.directions]
    if have != objective.directions:
        raise ParameterError(
            "study",
            f"study '{name}' in {redact(url)} optimises {objective.directions}",
            have,
            fix="give a new --study name for these objectives",
        )
    return st, created


#: How long a worker that opened an existing study waits for its creator to record the
#: study's settings (the creator does so right after creating it).
SETTINGS_WAIT_S = 30.0


def _settings_of(study: Any, wait: float = SETTINGS_WAIT_S) -> dict[str, Any] | None:
    """The songspace settings of a study this process did not create. A worker started
    together with the creator may open the study before the creator has recorded them:
    wait for them (up to ``wait`` seconds) rather than record (and enqueue) a second time.
    None when they never appear (a study created by another tool)."""
    deadline = time.monotonic() + wait
    while True:
        stored = study.user_attrs.get("songspace")
        if stored is not None or time.monotonic() >= deadline:
            return stored
        time.sleep(0.2)


def reference_config(
    study: Any, klass: type[EmbeddingModel], fixed: Mapping[str, Any]
) -> dict[str, Any]:
    """The configuration ``study`` measures against: the reference it stored (a study keeps
    its reference, whatever the model's defaults or presets are now), else the model's
    ``reference_params()`` (Track2Vec: W2V Table 3) with the ``fixed`` parameters."""
    stored = study.user_attrs.get("reference")
    if stored is not None and isinstance(stored.get("params"), Mapping):
        return {**klass.reference_params(), **stored["params"]}
    return {**klass.reference_params(), **fixed}


def _reference(
    study: Any,
    klass: type[EmbeddingModel],
    fixed: Mapping[str, Any],
    protocols: TuningProtocols,
    settings: StudySettings,
    objective: StudyObjective,
    say: Callable[[int, str], None],
    clock: Clock = cpu_clock,
) -> dict[str, Any]:
    """The reference configuration's (``klass.reference_params()`` with ``fixed``) training
    CPU time, its cost observation and validation metrics, stored once: a study that holds
    one keeps it (and its parameters), whatever the model's defaults or presets are now."""
    ref = study.user_attrs.get("reference")
    if ref is not None and ("cost_observation" in ref or klass.budget_param is None):
        return ref
    cfg = reference_config(study, klass, fixed)
    train = protocols.validation.train
    phases = PhaseClock()
    say(0, "warming up (imports) before timing the default configuration")
    with phases.phase("warm_up"):
        warm_up(klass, cfg, train)
    say(0, "training the default configuration (reference)")
    t0 = time.perf_counter()
    timing: list[FitTiming] = []
    with phases.phase("fit"):
        fitted, seconds = fit_config(
            klass, cfg, protocols.validation.train, budget=None, clock=clock, timing=timing
        )
    needed = [OBJECTIVES[o].metric for o in OBJECTIVES]  # all: the reference row of the report
    if "hardneg" not in objective.objectives:
        needed.remove("hardneg")  # may be undefined on small data without tuned thresholds
    if "completion_hr" not in objective.objectives and len(protocols.validation.completion) == 0:
        needed.remove("completion_hr")
    # metrics the data cannot support (e.g. VRC without genre labels) are left out unless
    # an objective needs them (then scoring raises the clear error)
    lacking = unsupported(protocols.validation)
    for o in OBJECTIVES:
        m = OBJECTIVES[o].metric
        if (
            o not in objective.objectives
            and m in needed
            and (m in lacking or OBJECTIVES[o].family in lacking)
        ):
            logger.info(
                "reference: %s left out (%s)",
                m,
                lacking.get(m) or lacking.get(OBJECTIVES[o].family),
            )
            needed.remove(m)
    with phases.phase("embed"):
        emb = _embeddings(fitted, "default")
    results = score(protocols.validation, emb, needed, settings.suite(), phases=phases)
    metrics = _metric_values(results)
    if objective.mode == "scalarised":
        vrc = metrics[OBJECTIVES[objective.vrc].metric]
        if not (np.isfinite(vrc) and vrc > 0):
            raise ParameterError(
                "objective",
                f"a default configuration whose {objective.vrc} is > 0 (the rVRC reference)",
                vrc,
                fix="check the dataset's genre/artist labels",
            )
    ref = {
        "params": to_jsonable(cfg),
        "training_time": seconds,  # CPU seconds (songspace.tuning.budget)
        "wall_time": timing[0].wall,
        "seconds": time.perf_counter() - t0,
        "metrics": metrics,
        PHASE_ATTR: phases.as_attr(),
    }
    bp = klass.budget_param
    if bp is not None and isinstance(cfg.get(bp), int | np.integer):
        work = klass.cost_units(dict(cfg), protocols.validation.train)
        ref["cost_observation"] = Observation(
            float(cfg[bp]), work, seconds, timing[0].setup
        ).as_dict()
    latest = study.user_attrs.get("reference")  # another worker may have finished first
    if latest is not None and ("cost_observation" in latest or bp is None):
        return latest
    study.set_user_attr("reference", ref)
    logger.info(
        "reference (default configuration): trained in %.1fs; %s; time: %s",
        seconds,
        ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
        phases.describe(longest=len(phases.wall)),
    )
    return ref
