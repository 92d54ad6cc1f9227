"""The settings of :func:`songspace.tuning.tune`: each default and choice list written once.

Two records, because a study is defined by fewer things than a run chooses:

- :class:`TuneSettings` is what a caller chooses (the objectives, the sampler, the time
  budget, the number of trials, ...). Its field defaults are the one home of ``tune``'s
  defaults: :func:`~songspace.tuning.tune`, :func:`~songspace.tuning.tune_rates`,
  :func:`~songspace.reports.scale_study.scale_study` and the ``songspace tune`` options
  read them (the CLI as class attributes, ``TuneSettings.trials``, which builds no
  instance).
  Building one validates every field against a constraint of :mod:`songspace.params`
  (``parameter `trials`: expected an integer >= 1, got 0``) and the fields that depend on
  each other (``alpha`` and the objectives, a pruner or NSGA-II and the study's mode).
- :class:`StudySettings` is what a study records (the study's ``songspace`` user
  attribute): the model, the dataset and its fingerprint, the fixed parameters as
  coerced, and the settings that define the study (a resumed run must match them:
  :data:`IDENTITY`). It has no defaults of its own: a new study's record is made from a
  :class:`TuneSettings` (:meth:`StudySettings.create`), and a stored record is read by
  :meth:`StudySettings.from_attrs`, which migrates older records explicitly
  (:data:`STORED_BEFORE`): a study stored before budget modes existed ran with
  ``budget_mode="reject"`` and no pruner, whatever today's defaults are.

The choice lists (:data:`OBJECTIVES`, :data:`SAMPLERS`, :data:`PRUNERS`,
:data:`BUDGET_MODES`: each choice with what it is, which the CLI's help texts list),
:data:`DEFAULT_STORAGE` and the tuning report's defaults live here too. This module
imports nothing heavy (numpy, pandas, Optuna are loaded only when a settings object is
built), so ``songspace tune --help`` reads it without loading numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from songspace.data.defaults import DEFAULT_MIN_TRACKS, DEFAULT_TEST_FRACTION
from songspace.errors import ParameterError
from songspace.evaluation.defaults import DEFAULT_SUITE, SuiteSettings

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.params import Constraint
    from songspace.tuning.objectives import StudyObjective
    from songspace.tuning.protocols import TuningProtocols


@dataclass(frozen=True)
class Objective:
    """One tunable objective: the suite metric it reads and its direction."""

    name: str
    metric: str
    family: str
    direction: Literal["maximize", "minimize"]
    label: str


#: The tunable objectives (W2V §2, §4.4; MUSIG §4.1), by name.
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("hit_rate", "next_song_hit_rate", "next_song", "maximize", "HitRate"),
        Objective("ndcg", "next_song_ndcg", "next_song", "maximize", "NDCG"),
        Objective("vrc_genre", "vrc_genre", "clustering", "maximize", "VRC_genre"),
        Objective("vrc_artist", "vrc_artist", "clustering", "maximize", "VRC_artist"),
        Objective("hardneg", "hardneg", "hardneg", "minimize", "HardNeg"),
        Objective("completion_hr", "completion_hr", "completion", "maximize", "completion HR"),
    )
}
VRC_OBJECTIVES = ("vrc_genre", "vrc_artist")
RECOMMENDATION_OBJECTIVES = ("hit_rate", "ndcg", "completion_hr")
#: Samplers, each with what it is (the ``--sampler`` help reads them).
SAMPLERS = {
    "tpe": "tree-structured Parzen estimator",
    "gp": "Gaussian process; needs torch",
    "random": "random search",
    "nsga2": "NSGA-II; Pareto studies only",
}
#: Pruners (:mod:`songspace.tuning.study`), each with what it is.
PRUNERS = {
    "none": "no pruning",
    "sha": "successive halving",
    "hyperband": "Hyperband: successive halving over several brackets",
}
#: Time-budget modes (:mod:`songspace.tuning.budget`), each with what it does.
BUDGET_MODES = {
    "equal_time": "each trial gets the default's training CPU time: a cost model sets its "
    "budget parameter, e.g. epochs",
    "reject": "trials train as drawn; over-budget ones are rejected",
    "none": "no budget",
}
#: Where studies are stored when no storage is given.
DEFAULT_STORAGE = "sqlite:///songspace-tune.db"
#: The tuning report: Pareto-set members retrained per study, and the
#: Bonferroni-corrected level of its significance marks (W2V Table 4: 0.01).
DEFAULT_MAX_PARETO = 3
DEFAULT_SIGNIFICANCE = 0.01
#: ``tune-rankers``' tasks -> the validation metric that chooses the settings (issue 30).
RANKER_TASKS: dict[str, str] = {
    "next_song": "next_song_out_of_set_hit_rate",
    "completion": "completion_hr",
}
DEFAULT_RANKER_TASK = "next_song"


@dataclass(frozen=True)
class Rule:
    """A field's constraint (:mod:`songspace.params`) and the fix its error suggests."""

    constraint: Constraint
    fix: str | None = None


_BUDGET_MODE_FIX = (
    "equal_time (default) gives every trial the default's training time; reject stops "
    "trials past --budget-factor x it; none has no budget"
)


def _rules() -> dict[str, Rule]:
    """:class:`TuneSettings`' constraint table (built on use: :mod:`songspace.params`
    imports numpy). The constraints that other checks share are theirs: ``alpha``
    (:data:`~songspace.tuning.objectives.ALPHA`), ``sample_rate``
    (:data:`~songspace.tuning.protocols.SAMPLE_RATE`), the held-out share
    (:data:`songspace._checks.HELDOUT_SHARE`)."""
    from songspace._checks import HELDOUT_SHARE
    from songspace.params import (
        POSITIVE,
        POSITIVE_INT,
        SEED,
        AnyOf,
        Interval,
        Names,
        NoneValue,
        Options,
    )
    from songspace.tuning.objectives import ALPHA
    from songspace.tuning.protocols import SAMPLE_RATE

    return {
        "objectives": Rule(
            Names(OBJECTIVES, min_len=1, what="objectives"),
            "pass --objective NAME (repeatable); `songspace tune --help` lists them",
        ),
        "alpha": Rule(AnyOf(ALPHA, NoneValue()), "the paper uses 0.01 and 0.1 (W2V §4.4)"),
        "trials": Rule(POSITIVE_INT),
        "timeout": Rule(
            AnyOf(Interval(float, 0, None, closed="neither", finite=False), NoneValue()),
            "give the study's time limit in seconds, or None for no limit",
        ),
        "cpu_hours": Rule(
            AnyOf(Interval(float, 0, None, closed="neither"), NoneValue()),
            "give the study's training CPU-hours, e.g. 2, or None for no limit",
        ),
        "sample_rate": Rule(
            SAMPLE_RATE, "give the share of training sequences to tune on, e.g. 0.05 for 5%"
        ),
        "seed": Rule(SEED),
        "replicate": Rule(
            Interval(int, 0, None),
            "0 is the first study; 1, 2, ... repeat it with other draws (same split)",
        ),
        "heldout_fraction": Rule(HELDOUT_SHARE, f"e.g. {DEFAULT_TEST_FRACTION}"),
        "min_tracks": Rule(Interval(int, 2, None)),
        "budget_factor": Rule(
            AnyOf(Interval(float, 1, None, finite=False), NoneValue()),
            "give a factor >= 1 of the reference's training CPU time, or None for no time budget",
        ),
        "budget_mode": Rule(Options(BUDGET_MODES), _BUDGET_MODE_FIX),
        "pruner": Rule(Options(PRUNERS)),
        "sampler": Rule(Options(SAMPLERS)),
        "startup_trials": Rule(Interval(int, 0, None)),
        "k": Rule(POSITIVE_INT),
        "hardneg_min_count": Rule(POSITIVE_INT),
        "hardneg_threshold": Rule(AnyOf(Interval(float, 0, None), NoneValue())),
        "heartbeat": Rule(AnyOf(POSITIVE, NoneValue()), "give seconds, or None for no heartbeat"),
    }


@dataclass(frozen=True)
class TuneSettings:
    """What :func:`~songspace.tuning.tune` runs: the one home of its defaults.

    - ``objectives``, ``alpha``: one objective, two and ``alpha`` (scalarised), or several
      without ``alpha`` (Pareto); names from :data:`OBJECTIVES`.
    - ``trials``: finished (trained) trials the study should hold; ``timeout``: seconds
      after which this process starts no new trial; ``cpu_hours``: training CPU-hours
      (summed over the study's trials, the reference's excluded) after which no new trial
      starts: an equal compute budget for studies of different models.
    - ``sample_rate``, ``seed``, ``heldout_fraction``, ``min_tracks``: the tuning
      protocols (:func:`~songspace.tuning.tuning_protocols`).
    - ``replicate``: 0 for the study; 1, 2, ... for independent repeats of it on the same
      split and test queries (another sampler seed and, below rate 1, another sample of
      the training sequences): how much of a result is the search's luck.
    - ``params``: model parameters fixed for every trial (``NAME=VALUE`` strings are
      parsed by the model's constraints).
    - ``enqueue``: configurations tried first, after the default one: each a mapping of
      searched parameters to values (strings are parsed as ``params`` are); a parameter
      it leaves out takes the default configuration's value. Enqueued once per study (a
      configuration the study already holds is skipped), e.g. MUSIG's paper grid of task
      weights.
    - ``budget_factor``, ``budget_mode``: the time budget (:mod:`songspace.tuning.budget`);
      ``budget_factor=None`` or ``budget_mode="none"``: no budget.
    - ``pruner``, ``sampler``, ``startup_trials``: the search.
    - ``k``, ``hardneg_min_count``, ``hardneg_threshold``: the evaluation settings.
    - ``heartbeat``: seconds between worker heartbeats (None: none).

    Every field is checked when the object is built (ParameterError naming the field).
    """

    objectives: Sequence[str] = ("hit_rate",)
    alpha: float | None = None
    trials: int = 20
    timeout: float | None = None
    cpu_hours: float | None = None
    sample_rate: float = 1.0
    seed: int = 0
    replicate: int = 0
    heldout_fraction: float = DEFAULT_TEST_FRACTION
    min_tracks: int = DEFAULT_MIN_TRACKS
    params: Mapping[str, Any] = field(default_factory=dict)
    enqueue: Sequence[Mapping[str, Any]] = ()
    budget_factor: float | None = 1.25
    budget_mode: str = "equal_time"
    pruner: str = "none"
    sampler: str = "tpe"
    startup_trials: int = 10
    k: int = DEFAULT_SUITE.k
    hardneg_min_count: int = DEFAULT_SUITE.hardneg_min_count
    hardneg_threshold: float | None = DEFAULT_SUITE.hardneg_threshold
    heartbeat: float | None = 10.0

    def __post_init__(self) -> None:
        from songspace.params import check_param

        for name, rule in _rules().items():
            value = check_param(name, getattr(self, name), rule.constraint, fix=rule.fix)
            object.__setattr__(self, name, value)
        if not isinstance(self.params, Mapping):
            raise ParameterError("params", "a mapping of model parameters to values", self.params)
        object.__setattr__(self, "params", dict(self.params))
        if isinstance(self.enqueue, Mapping | str) or not all(
            isinstance(c, Mapping) for c in self.enqueue
        ):
            raise ParameterError(
                "enqueue",
                "a sequence of configurations (mappings of parameters to values)",
                self.enqueue,
                fix='pass e.g. enqueue=[{"task_weights": (1, 0, 0)}]',
            )
        object.__setattr__(self, "enqueue", tuple(dict(c) for c in self.enqueue))
        self._check_search()

    def _check_search(self) -> None:
        """The rules between fields: the objectives with ``alpha``; a pruner and NSGA-II
        with the study's mode."""
        pareto = self.objective.mode == "pareto"
        if pareto and self.pruner != "none":
            raise ParameterError(
                "pruner",
                "no pruner for a Pareto study (Optuna prunes single-value studies)",
                self.pruner,
                fix="drop --pruner, or give --alpha for the scalarised objective",
            )
        if self.sampler == "nsga2" and not pareto:
            raise ParameterError(
                "sampler",
                "`sampler != 'nsga2'` for a single objective",
                self.sampler,
                fix="use tpe or gp, or give several objectives without --alpha",
            )

    @property
    def objective(self) -> StudyObjective:
        """What the study optimises (:func:`~songspace.tuning.objectives.check_objectives`)."""
        from songspace.tuning.objectives import check_objectives

        return check_objectives(self.objectives, self.alpha)

    def budget(self) -> tuple[str, float | None]:
        """The effective (budget mode, budget factor): no factor means mode ``"none"``,
        and mode ``"none"`` means no factor."""
        if self.budget_factor is None or self.budget_mode == "none":
            return "none", None
        return self.budget_mode, float(self.budget_factor)

    @classmethod
    def resolve(cls, settings: TuneSettings | None = None, **options: Any) -> TuneSettings:
        """``settings`` (None: the defaults) with ``options`` replacing its fields: what
        ``tune(model, dataset, trials=5, ...)`` builds from its keywords. ParameterError
        for a name that is no field."""
        if settings is not None and not isinstance(settings, cls):
            raise ParameterError(
                "settings",
                "a TuneSettings (or None)",
                settings,
                fix="pass objectives=[...] by keyword, or TuneSettings(objectives=[...])",
            )
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ParameterError(unknown[0], f"a tune setting, one of {names}", options[unknown[0]])
        base = {f.name: getattr(settings, f.name) for f in fields(cls)} if settings else {}
        return cls(**{**base, **options})


#: Settings that define a study; a resumed run or another worker must match them.
IDENTITY = (
    "model",
    "objectives",
    "alpha",
    "sample_rate",
    "seed",
    "replicate",
    "heldout_fraction",
    "min_tracks",
    "fixed_params",
    "budget_factor",
    "budget_mode",
    "dataset_fingerprint",
    "k",
    "hardneg_min_count",
    "hardneg_threshold",
)

#: Fields a stored record may lack, and the value the study ran with: studies stored
#: before budget modes and pruners existed (December 2026, commit 6c91071) rejected
#: over-budget trials and pruned none; studies stored before replicates (December 2026)
#: are the first of their kind. Facts about those studies, not defaults: they stay
#: as they are whatever :class:`TuneSettings`' defaults become.
STORED_BEFORE = {"budget_mode": "reject", "pruner": "none", "replicate": 0}


@dataclass
class StudySettings:
    """What a study records (its ``songspace`` user attribute, :func:`dataclasses.asdict`
    of this record). No defaults: see :meth:`create` and :meth:`from_attrs`."""

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
    k: int
    hardneg_min_count: int
    hardneg_threshold: float | None
    budget_mode: str
    pruner: str
    replicate: int

    @classmethod
    def create(
        cls,
        model: str,
        dataset: str,
        dataset_fingerprint: str,
        settings: TuneSettings,
        fixed_params: dict[str, Any],
    ) -> StudySettings:
        """The record of a study run with ``settings`` (``fixed_params``: the model's
        coerced, JSON-ready fixed parameters; ``dataset``: its path, or "")."""
        objective = settings.objective
        budget_mode, budget_factor = settings.budget()
        return cls(
            model=model,
            dataset=dataset,
            dataset_fingerprint=dataset_fingerprint,
            objectives=list(objective.objectives),
            alpha=objective.alpha,
            sample_rate=float(settings.sample_rate),
            seed=int(settings.seed),
            heldout_fraction=float(settings.heldout_fraction),
            min_tracks=int(settings.min_tracks),
            fixed_params=fixed_params,
            budget_factor=budget_factor,
            sampler=settings.sampler,
            startup_trials=settings.startup_trials,
            k=settings.k,
            hardneg_min_count=settings.hardneg_min_count,
            hardneg_threshold=settings.hardneg_threshold,
            budget_mode=budget_mode,
            pruner=settings.pruner,
            replicate=int(settings.replicate),
        )

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], study: str = "?") -> StudySettings:
        """A stored record, migrated: fields of :data:`STORED_BEFORE` that an older record
        lacks get the value its study ran with. ParameterError for a record this version
        cannot read (a field missing or unknown)."""
        migrated = {**STORED_BEFORE, **attrs}
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(migrated))
        unknown = sorted(set(migrated) - names)
        if missing or unknown:
            raise ParameterError(
                "study",
                f"study '{study}' stored by a songspace version this one reads (fields "
                f"{sorted(names)})",
                f"missing {missing}, unknown {unknown}",
                fix="continue it with the songspace version that created it",
            )
        return cls(**migrated)

    def as_attrs(self) -> dict[str, Any]:
        """The record as stored (a JSON-ready dict)."""
        return asdict(self)

    @property
    def objective(self) -> StudyObjective:
        from songspace.tuning.objectives import check_objectives

        return check_objectives(self.objectives, self.alpha)

    def protocols(self, dataset: Dataset) -> TuningProtocols:
        """The study's validation and test protocols on ``dataset`` (its split, and the
        sample of the training sequences its trials train on)."""
        from songspace.tuning.protocols import tuning_protocols

        return tuning_protocols(
            dataset,
            seed=self.seed,
            heldout_fraction=self.heldout_fraction,
            sample_rate=self.sample_rate,
            min_tracks=self.min_tracks,
            replicate=self.replicate,
        )

    def suite(self) -> SuiteSettings:
        """The evaluation settings trials are scored with."""
        return SuiteSettings(
            k=self.k,
            hardneg_min_count=self.hardneg_min_count,
            hardneg_threshold=self.hardneg_threshold,
        )
