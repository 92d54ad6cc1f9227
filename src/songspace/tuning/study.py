"""Bayesian hyper-parameter search of any registered model (SPEC §5; W2V §4).

:func:`tune` runs (or continues) an Optuna study:

1. The *reference* (default configuration, plus the fixed parameters) is
   trained on the validation protocol's training view and scored first; its
   training time sets the time budget and its VRC the rVRC reference of the
   scalarised objective (W2V eq. 1). It is stored in the study, so resumed runs
   and other workers reuse it.
2. Trials draw the model's declared ``search_space``: ``startup_trials`` random
   trials, then TPE (default) or a Gaussian process (``sampler="gp"``), as in
   W2V §4 (random start-up, then Bayesian search). Pareto studies use the
   multi-objective form of the sampler (TPE, GP or NSGA-II).
3. A trial whose training exceeds ``budget_factor`` x the reference's training
   time is stopped at the model's next progress report (between epochs) and
   recorded as PRUNED with the user attribute ``rejected = "time budget"``
   (W2V §4.7): never kept as a value.
4. ``trials`` is the number of finished (complete or rejected) trials the study
   should hold: re-running the same command after an interruption continues
   where it stopped; several processes (PostgreSQL storage) share the count.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint, fingerprint_matches
from songspace.errors import ParameterError, SongspaceError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.suite import DEFAULT_MIN_TRACKS, DEFAULT_SUITE, SuiteSettings
from songspace.models.base import EmbeddingModel
from songspace.models.registry import create, get_model_class
from songspace.progress import ProgressCallback
from songspace.tuning.objectives import (
    OBJECTIVES,
    StudyObjective,
    check_objectives,
    finite,
    score,
)
from songspace.tuning.protocols import TuningProtocols, check_fractions, tuning_protocols
from songspace.tuning.space import encode, suggest
from songspace.tuning.storage import (
    fail_stale_trials,
    open_storage,
    optuna_module,
    redact,
    storage_url,
)

logger = logging.getLogger("songspace")

SAMPLERS = ("tpe", "gp", "random", "nsga2")
#: Settings that define a study; a resumed run or another worker must match them.
IDENTITY = (
    "model",
    "objectives",
    "alpha",
    "sample_rate",
    "seed",
    "heldout_fraction",
    "min_tracks",
    "fixed_params",
    "budget_factor",
    "dataset_fingerprint",
    "k",
    "hardneg_min_count",
    "hardneg_threshold",
)


class TimeBudgetExceeded(SongspaceError):
    """A trial's training ran past its time budget (raised inside the model's progress hook).

    ``ratio`` is the (projected) training time divided by the budget.
    """

    def __init__(self, message: str, ratio: float = float("nan")):
        super().__init__(message)
        self.ratio = ratio


def budget_constraint(trial: Any) -> list[float]:
    """Optuna constraint: training time / budget - 1 (<= 0 within the budget).

    Rejected trials carry their (projected) overrun, so the samplers learn where the
    budget holds (constrained TPE/GP/NSGA-II) instead of seeing equal failures.
    """
    return [float(trial.user_attrs.get("budget_violation", 0.0))]


@dataclass
class StudySettings:
    """Everything that defines a study (stored as the study's ``songspace`` user attribute)."""

    model: str
    dataset: str
    dataset_fingerprint: str
    objectives: list[str]
    alpha: float | None
    sample_rate: float
    seed: int
    heldout_fraction: float
    min_tracks: int
    fixed_params: dict[str, Any]
    budget_factor: float | None
    sampler: str
    startup_trials: int
    k: int = DEFAULT_SUITE.k
    hardneg_min_count: int = DEFAULT_SUITE.hardneg_min_count
    hardneg_threshold: float | None = DEFAULT_SUITE.hardneg_threshold

    @property
    def objective(self) -> StudyObjective:
        return check_objectives(self.objectives, self.alpha)

    def suite(self) -> SuiteSettings:
        return SuiteSettings(
            k=self.k,
            hardneg_min_count=self.hardneg_min_count,
            hardneg_threshold=self.hardneg_threshold,
        )

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> StudySettings:
        return cls(**attrs)


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


def default_study_name(
    model: str, objectives: Sequence[str], alpha: float | None, sample_rate: float
) -> str:
    name = f"{model}-" + "+".join(objectives)
    if alpha is not None:
        name += f"-a{alpha:g}"
    if sample_rate < 1:
        name += f"-r{sample_rate:g}"
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
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            from songspace.errors import MissingDependencyError

            raise MissingDependencyError("torch", "graph", "the Gaussian-process sampler") from exc
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


def _budget_hook(
    start: list[float], budget: float | None, report: Callable[[str], None]
) -> ProgressCallback:
    """Progress hook raising TimeBudgetExceeded once training is past ``budget`` seconds, or
    clearly projected to end past it: past 1.5 x ``budget`` at the speed measured since the
    first report (so setup time does not count), once 3% of the work lies in between."""
    first: list[tuple[float, float]] = []

    def hook(done: float, total: float, message: str) -> None:
        now = time.perf_counter()
        elapsed = now - start[0]
        if budget is not None:
            if elapsed > budget:
                raise TimeBudgetExceeded(
                    f"training ran {elapsed:.1f}s, past its time budget of {budget:.1f}s",
                    elapsed / budget if budget > 0 else float("inf"),
                )
            fraction = float(done) / total if total else 0.0
            if not first:
                first.append((now, fraction))
            else:
                t1, f1 = first[0]
                if fraction - f1 >= 0.03 and now > t1:
                    projected = elapsed + (1.0 - fraction) * (now - t1) / (fraction - f1)
                    if projected > 1.5 * budget:
                        raise TimeBudgetExceeded(
                            f"training projected to take {projected:.0f}s at {fraction:.1%} "
                            f"done ({elapsed:.1f}s), past its time budget of {budget:.1f}s",
                            projected / budget,
                        )
        report(message)

    return hook


def fit_config(
    klass: type[EmbeddingModel],
    params: Mapping[str, Any],
    train: Dataset,
    *,
    budget: float | None = None,
    report: Callable[[str], None] | None = None,
) -> tuple[EmbeddingModel, float]:
    """Fit ``klass(**params)`` on ``train`` within ``budget`` seconds; (model, seconds).

    Raises TimeBudgetExceeded when the model reports progress after the budget
    ran out, or finishes past it.
    """
    model = create(klass, params)
    start = [time.perf_counter()]
    model.fit(train, progress=_budget_hook(start, budget, report or (lambda m: None)))
    seconds = time.perf_counter() - start[0]
    if budget is not None and seconds > budget:
        raise TimeBudgetExceeded(
            f"training took {seconds:.1f}s, past its budget of {budget:.1f}s",
            seconds / budget if budget > 0 else float("inf"),
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
    mine = asdict(new)
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
    objectives: Sequence[str] = ("hit_rate",),
    *,
    alpha: float | None = None,
    trials: int = 20,
    timeout: float | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    sample_rate: float = 1.0,
    seed: int = 0,
    heldout_fraction: float = 0.01,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    params: Mapping[str, Any] | None = None,
    budget_factor: float | None = 1.25,
    sampler: str = "tpe",
    startup_trials: int = 10,
    k: int = DEFAULT_SUITE.k,
    hardneg_min_count: int = DEFAULT_SUITE.hardneg_min_count,
    hardneg_threshold: float | None = None,
    heartbeat: float | None = 10.0,
    progress: ProgressCallback | None = None,
) -> TuneResult:
    """Run or continue the study (see the module docstring); return its best trial(s).

    ``params`` fixes model parameters (e.g. ``epochs``, ``workers``) for every
    trial and the reference; fixed parameters are not searched.
    ``budget_factor=None`` disables the time budget. ``timeout`` (seconds) stops
    this process after the trial running when it expires.
    """
    t_start = time.perf_counter()
    objective = check_objectives(objectives, alpha)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ParameterError("trials", "`trials >= 1` (an integer)", trials)
    if timeout is not None and not timeout > 0:
        raise ParameterError("timeout", "`timeout > 0` seconds", timeout)
    if budget_factor is not None and not budget_factor >= 1:
        raise ParameterError(
            "budget_factor", "`budget_factor >= 1` (or None for no budget)", budget_factor
        )
    if sampler not in SAMPLERS:
        raise ParameterError("sampler", f"one of {list(SAMPLERS)}", sampler)
    if (
        isinstance(startup_trials, bool)
        or not isinstance(startup_trials, int)
        or startup_trials < 0
    ):
        raise ParameterError("startup_trials", "`startup_trials >= 0` (an integer)", startup_trials)
    check_fractions(heldout_fraction, sample_rate)
    klass = get_model_class(model)
    fixed = klass.coerce_params(dict(params or {}), from_strings=True)
    create(klass, fixed)  # the fixed values are valid (fails before any expensive work)
    space = {k_: p for k_, p in klass.search_space.items() if k_ not in fixed}
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
    multi = objective.mode == "pareto"
    sampler_obj_check = make_sampler(sampler, seed=seed, startup_trials=startup_trials, multi=multi)
    del sampler_obj_check  # validated before any expensive work
    optuna = optuna_module()
    url = storage_url(storage)
    store = open_storage(url, heartbeat=heartbeat)

    ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    dataset_path = "" if isinstance(dataset, Dataset) else str(Path(dataset).resolve())
    settings = StudySettings(
        model=model,
        dataset=dataset_path,
        dataset_fingerprint=dataset_fingerprint(ds),
        objectives=list(objective.objectives),
        alpha=objective.alpha,
        sample_rate=float(sample_rate),
        seed=int(seed),
        heldout_fraction=float(heldout_fraction),
        min_tracks=int(min_tracks),
        fixed_params=to_jsonable(fixed),
        budget_factor=None if budget_factor is None else float(budget_factor),
        sampler=sampler,
        startup_trials=startup_trials,
        k=k,
        hardneg_min_count=hardneg_min_count,
        hardneg_threshold=hardneg_threshold,
    )
    name = study or default_study_name(model, objective.objectives, objective.alpha, sample_rate)
    protocols = tuning_protocols(
        ds,
        seed=seed,
        heldout_fraction=heldout_fraction,
        sample_rate=sample_rate,
        min_tracks=min_tracks,
    )
    study_obj = _open_study(optuna, store, url, name, objective)
    stored = study_obj.user_attrs.get("songspace")
    if stored is None:
        study_obj.set_user_attr("songspace", asdict(settings))
        # the first trial is the default configuration: a known point inside the time
        # budget from which the (constrained) Bayesian search can move
        study_obj.enqueue_trial(
            encode({**klass.default_params(), **fixed}, space),
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
    n_existing = len(study_obj.get_trials(deepcopy=False))
    sampler_seed = int(seed) if n_existing == 0 else _worker_seed(seed, n_existing)
    study_obj.sampler = make_sampler(
        sampler,
        seed=sampler_seed,
        startup_trials=startup_trials,
        multi=multi,
        budget=budget_factor is not None,
    )

    def say(done: int, message: str) -> None:
        if progress is not None:
            progress(done, trials, message)

    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def n_finished() -> int:
        return len(study_obj.get_trials(deepcopy=False, states=finished_states))

    reference = _reference(study_obj, klass, fixed, protocols, settings, objective, say)
    budget = None if budget_factor is None else budget_factor * reference["training_time"]
    if budget is not None:
        logger.info(
            "time budget per trial: %.1fs (%.2f x the default's %.1fs)",
            budget,
            budget_factor,
            reference["training_time"],
        )

    def run_trial(trial: Any) -> float | list[float]:
        cfg = {**fixed, **suggest(trial, space)}
        trial.set_user_attr("model_params", to_jsonable(cfg))
        done = n_finished()
        say(done, f"trial {trial.number}: training")
        try:
            fitted, seconds = fit_config(
                klass,
                cfg,
                protocols.validation.train,
                budget=budget,
                report=lambda m: say(done, f"trial {trial.number}: {m}"),
            )
        except TimeBudgetExceeded as exc:
            trial.set_user_attr("rejected", "time budget")
            trial.set_user_attr("rejected_detail", str(exc))
            if np.isfinite(exc.ratio):
                trial.set_user_attr("budget_violation", exc.ratio - 1.0)
            logger.info("trial %d rejected: %s", trial.number, exc)
            raise optuna.TrialPruned(f"time budget: {exc}") from None
        trial.set_user_attr("training_time", seconds)
        if budget is not None:
            trial.set_user_attr("budget_violation", seconds / budget - 1.0)
        say(done, f"trial {trial.number}: scoring")
        results = score(
            protocols.validation,
            _embeddings(fitted, f"trial{trial.number}"),
            _needed_metrics(objective),
            settings.suite(),
        )
        metrics = _metric_values(results)
        values = objective.values(metrics, reference["metrics"])
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

    def after_trial(st: Any, trial: Any) -> None:
        best = best_trials(st, objective)
        if not best:
            text = "no complete trial yet"
        elif objective.mode != "pareto":
            b = best[0]
            text = f"best {objective.value_names[0]} {b.value:.4g} (trial {b.number})"
        else:
            text = f"Pareto set: {len(best)} trial(s)"
        state = trial.state.name.lower()
        if trial.user_attrs.get("rejected"):
            state = f"rejected ({trial.user_attrs['rejected']})"
        elif trial.values:
            state = ", ".join(
                f"{n} {v:.4g}" for n, v in zip(objective.value_names, trial.values, strict=True)
            )
        logger.info("trial %d: %s; %s", trial.number, state, text)
        say(n_finished(), f"trial {trial.number}: {state} | {text}")

    remaining = trials - n_finished()
    if remaining <= 0:
        logger.info("study '%s' already holds %d finished trials", name, n_finished())
    else:
        say(n_finished(), "starting")
        study_obj.optimize(
            run_trial,
            n_trials=remaining,
            timeout=timeout,
            callbacks=[
                optuna.study.MaxTrialsCallback(trials, states=finished_states),
                after_trial,
            ],
            catch=(ParameterError,),
            gc_after_trial=False,
        )
    best = best_trials(study_obj, objective)
    return TuneResult(
        study=name,
        storage=redact(url),
        settings=settings,
        reference=reference,
        best=[trial_summary(t, objective) for t in best],
        counts=count_states(study_obj),
        seconds=time.perf_counter() - t_start,
    )


def _worker_seed(seed: int, n_existing: int) -> int:
    """A sampler seed for a resumed run or an extra worker: not repeating the first run's draws."""
    ss = np.random.SeedSequence([int(seed), int(n_existing), os.getpid()])
    return int(ss.generate_state(1)[0])


def _needed_metrics(objective: StudyObjective) -> list[str]:
    """The objectives' metrics, plus next-song and VRC (cheap; they show the trade-off)."""
    extra = ["next_song_hit_rate", "next_song_ndcg", "vrc_genre", "vrc_artist"]
    return list(dict.fromkeys([*objective.metrics(), *extra]))


def _open_study(optuna: Any, store: Any, url: str, name: str, objective: StudyObjective) -> Any:
    try:
        st = optuna.create_study(
            storage=store,
            study_name=name,
            directions=objective.directions,
            load_if_exists=True,
        )
    except ValueError as exc:  # existing study with other directions
        raise ParameterError(
            "study",
            f"a study whose directions match {objective.directions}",
            name,
            fix=f"{exc}; give a new --study name",
        ) from None
    have = [d.name.lower() for d in st.directions]
    if have != objective.directions:
        raise ParameterError(
            "study",
            f"study '{name}' in {redact(url)} optimises {objective.directions}",
            have,
            fix="give a new --study name for these objectives",
        )
    return st


def _reference(
    study: Any,
    klass: type[EmbeddingModel],
    fixed: Mapping[str, Any],
    protocols: TuningProtocols,
    settings: StudySettings,
    objective: StudyObjective,
    say: Callable[[int, str], None],
) -> dict[str, Any]:
    """The default configuration's training time and validation metrics (stored once)."""
    ref = study.user_attrs.get("reference")
    if ref is not None:
        return ref
    cfg = {**klass.default_params(), **fixed}
    train = protocols.validation.train
    say(0, "warming up (imports) before timing the default configuration")
    warm_up(klass, cfg, train)
    say(0, "training the default configuration (reference)")
    t0 = time.perf_counter()
    fitted, seconds = fit_config(klass, cfg, protocols.validation.train, budget=None)
    needed = [OBJECTIVES[o].metric for o in OBJECTIVES]  # all: the reference row of the report
    if "hardneg" not in objective.objectives:
        needed.remove("hardneg")  # may be undefined on small data without tuned thresholds
    if "completion_hr" not in objective.objectives and len(protocols.validation.completion) == 0:
        needed.remove("completion_hr")
    results = score(protocols.validation, _embeddings(fitted, "default"), needed, settings.suite())
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
        "training_time": seconds,
        "seconds": time.perf_counter() - t0,
        "metrics": metrics,
    }
    latest = study.user_attrs.get("reference")  # another worker may have finished first
    if latest is not None:
        return latest
    study.set_user_attr("reference", ref)
    logger.info(
        "reference (default configuration): trained in %.1fs; %s",
        seconds,
        ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
    )
    return ref
