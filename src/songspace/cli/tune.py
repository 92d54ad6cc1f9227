"""`songspace tune`, `tune-report` and `tune-rankers`.

`tune`'s and `tune-report`'s option defaults and the choice lists in their help come from
:mod:`songspace.tuning.settings` (``TuneSettings`` and the choice tables), which loads no
numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from songspace.assignments import parse_assignments, parse_configurations
from songspace.cli._common import (
    AutoTestFractionOpt,
    DatasetArg,
    HardnegMinCountOpt,
    HardnegThresholdOpt,
    KOpt,
    MinTracksOpt,
    ModelOpt,
    OverwriteOpt,
    ParamOpt,
    SeedOpt,
    one_of,
    out_console,
    print_tables,
    progress_bar,
)
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.evaluation.defaults import BASELINE_RANKER_NAMES, DEFAULT_SUITE
from songspace.tuning.settings import (
    BUDGET_MODES,
    DEFAULT_MAX_PARETO,
    DEFAULT_RANKER_TASK,
    DEFAULT_SIGNIFICANCE,
    DEFAULT_STORAGE,
    OBJECTIVES,
    PRUNERS,
    RANKER_TASKS,
    SAMPLERS,
    TuneSettings,
)

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.tuning.study import TuneResult


def _objectives_help() -> str:
    """The objectives, the minimised ones marked."""
    marks = {o.name: "minimised" if o.direction == "minimize" else "" for o in OBJECTIVES.values()}
    return one_of(marks)


#: `tune`'s own options (the shared ones are in songspace.cli._common).
ObjectiveOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--objective",
        help=f"{_objectives_help()}; repeat for a scalarised (with --alpha) or Pareto "
        f"(without) study. Default {', '.join(TuneSettings.objectives)}.",
    ),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        help="Scalarise two objectives: alpha*M + (1-alpha)*rVRC (W2V eq. 2), 0 <= alpha <= 1.",
    ),
]
TrialsOpt = Annotated[
    int,
    typer.Option(
        "--trials",
        help="Trained trials the study should hold (configurations rejected before "
        "training do not count).",
    ),
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Stop starting trials after S seconds.")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Study storage: SQLite file path, RDB URL (postgresql://user@host/db shares "
        "a study between workers), or a journal file on a shared filesystem "
        "(journal:///path/study.log or a .log path; many workers, no database). "
        f"Parallel workers: PostgreSQL or journal, not SQLite. Default: {DEFAULT_STORAGE}.",
    ),
]
StudyNameOpt = Annotated[
    str | None,
    typer.Option("--study", help="Study name (default: model-objectives[-aALPHA][-rRATE])."),
]
SampleRateOpt = Annotated[
    list[float] | None,
    typer.Option(
        "--sample-rate",
        help="Tune on this share of the training sequences; repeat for a scale study "
        f"(one study per rate). Default {TuneSettings.sample_rate:g}.",
    ),
]
HeldOutShareOpt = Annotated[
    float,
    typer.Option(
        "--test-fraction",
        help="Share of sequences held out for validation and (as much) for test.",
    ),
]
BudgetFactorOpt = Annotated[
    float | None,
    typer.Option(
        "--budget-factor",
        help="Hard cap: reject trials training longer than this x the default's CPU "
        "time (0: no budget).",
    ),
]
BudgetModeOpt = Annotated[str, typer.Option("--budget-mode", help=f"{one_of(BUDGET_MODES)}.")]
PrunerOpt = Annotated[
    str,
    typer.Option(
        "--pruner",
        help=f"{one_of(PRUNERS)}: stop hopeless trials from their per-epoch validation values.",
    ),
]
SamplerOpt = Annotated[str, typer.Option("--sampler", help=f"{one_of(SAMPLERS)}.")]
StartupTrialsOpt = Annotated[
    int, typer.Option("--startup-trials", help="Random trials before Bayesian search.")
]
ReplicateOpt = Annotated[
    int,
    typer.Option(
        "--replicate",
        help="Repeat a study independently on the same split and test queries (another "
        "sampler seed and, below --sample-rate 1, another sample): 1, 2, ...; the name "
        "gets -repN.",
    ),
]
CpuHoursOpt = Annotated[
    float | None,
    typer.Option(
        "--cpu-hours",
        help="Start no trial once the study's trials have trained this many CPU-hours in "
        "all (an equal compute budget for studies of different models).",
    ),
]
EnqueueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--enqueue",
        help="Try this configuration first (after the default): NAME=VALUE pairs of "
        "searched parameters joined by ';', the rest as the default; repeatable, e.g. "
        "--enqueue 'task_weights=0.7,0.1,0.2' --enqueue 'task_weights=1,0,0;negatives=10'.",
    ),
]
HeartbeatOpt = Annotated[
    float | None,
    typer.Option(
        "--heartbeat",
        help="Seconds between worker heartbeats; a trial silent for 3 heartbeats is "
        "marked failed and retried once.",
    ),
]


def tune_cmd(
    ctx: typer.Context,
    model: ModelOpt,
    dataset: DatasetArg,
    objective: ObjectiveOpt = None,
    alpha: AlphaOpt = TuneSettings.alpha,
    trials: TrialsOpt = TuneSettings.trials,
    timeout: TimeoutOpt = TuneSettings.timeout,
    cpu_hours: CpuHoursOpt = TuneSettings.cpu_hours,
    storage: StorageOpt = None,
    study: StudyNameOpt = None,
    sample_rate: SampleRateOpt = None,
    param: ParamOpt = None,
    enqueue: EnqueueOpt = None,
    seed: SeedOpt = TuneSettings.seed,
    replicate: ReplicateOpt = TuneSettings.replicate,
    test_fraction: HeldOutShareOpt = TuneSettings.heldout_fraction,
    budget_factor: BudgetFactorOpt = TuneSettings.budget_factor,
    budget_mode: BudgetModeOpt = TuneSettings.budget_mode,
    pruner: PrunerOpt = TuneSettings.pruner,
    sampler: SamplerOpt = TuneSettings.sampler,
    startup_trials: StartupTrialsOpt = TuneSettings.startup_trials,
    min_tracks: MinTracksOpt = TuneSettings.min_tracks,
    k: KOpt = TuneSettings.k,
    hardneg_threshold: HardnegThresholdOpt = TuneSettings.hardneg_threshold,
    hardneg_min_count: HardnegMinCountOpt = TuneSettings.hardneg_min_count,
    heartbeat: HeartbeatOpt = TuneSettings.heartbeat,
) -> None:
    """Tune a model's hyper-parameters (Bayesian search; resumable; shareable via PostgreSQL)."""
    from songspace.tuning import tune_rates

    settings = TuneSettings(
        objectives=objective or TuneSettings.objectives,
        alpha=alpha,
        trials=trials,
        timeout=timeout,
        cpu_hours=cpu_hours,
        seed=seed,
        replicate=replicate,
        heldout_fraction=test_fraction,
        min_tracks=min_tracks,
        params=parse_assignments(param, "--param", example="dim=64"),
        enqueue=parse_configurations(enqueue, "--enqueue", example="'task_weights=1,0,0'"),
        budget_factor=budget_factor or None,
        budget_mode=budget_mode,
        pruner=pruner,
        sampler=sampler,
        startup_trials=startup_trials,
        k=k,
        hardneg_min_count=hardneg_min_count,
        hardneg_threshold=hardneg_threshold,
        heartbeat=heartbeat,
    )
    with progress_bar(ctx) as progress:
        results = tune_rates(
            model, dataset, settings, sample_rate, study=study, storage=storage, progress=progress
        )
    _print_tune_results(results, storage)


def _print_tune_results(results: list[TuneResult], storage: str | None) -> None:
    """Each study's counts and best trials, then the `tune-report` command that compares
    them (its storage URL with the password hidden)."""
    from songspace.tuning.storage import redact

    for result in results:
        _print_tune_result(result)
    names = [r.study for r in results]
    studies = " ".join(f"--study {n}" for n in names)
    store = f" --storage {redact(storage)}" if storage else ""
    out_console.print(f"report: songspace tune-report{store} {studies} -o REPORT_DIR")


def _print_tune_result(result: TuneResult) -> None:
    c = result.counts
    out_console.print(
        f"study [bold]{escape(result.study)}[/] in {escape(result.storage)}: "
        f"{c.get('COMPLETE', 0)} complete, {c.get('PRUNED', 0)} rejected (time budget) or pruned, "
        f"{c.get('FAIL', 0)} failed, {c.get('RUNNING', 0)} running; this run {result.seconds:.0f}s"
    )
    ref = result.reference
    table = Table(title="best trial(s) (validation split)", title_justify="left")
    table.add_column("trial")
    names = result.best[0]["value_names"] if result.best else []
    for n in names:
        table.add_column(n, justify="right")
    table.add_column("parameters")
    table.add_row(
        "default",
        *[
            f"{ref['metrics'][_metric_of(n)]:.4g}" if _metric_of(n) in ref["metrics"] else "-"
            for n in names
        ],
        ", ".join(f"{k}={v}" for k, v in ref["params"].items()),
    )
    for b in result.best:
        table.add_row(
            str(b["number"]),
            *[f"{v:.4g}" for v in b["values"]],
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in b["params"].items()
            ),
        )
    out_console.print(table)


def _metric_of(objective: str) -> str:
    from songspace.tuning import OBJECTIVES

    return OBJECTIVES[objective].metric if objective in OBJECTIVES else objective


def tune_report_cmd(
    ctx: typer.Context,
    study: Annotated[
        list[str], typer.Option("--study", help="Study name (repeat to compare several).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory (must not exist).")],
    storage: Annotated[
        str | None, typer.Option("--storage", help="Study storage (as for tune).")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", help="Dataset directory, if not where the studies recorded it."),
    ] = None,
    max_pareto: Annotated[
        int, typer.Option("--pareto-max", help="Pareto-set members to retrain per study.")
    ] = DEFAULT_MAX_PARETO,
    significance: Annotated[
        float, typer.Option("--significance", help="Bonferroni-corrected level of the marks.")
    ] = DEFAULT_SIGNIFICANCE,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Model cache (shared with compare and cold-start)."),
    ] = None,
    overwrite: OverwriteOpt = False,
    hardneg_threshold: Annotated[
        float | None,
        typer.Option(
            "--hardneg-threshold",
            help="HardNeg column: chi-squared threshold of a hard negative on the test split "
            "(default: the studies'; the paper's 1e-7 x occurrences can leave a small corpus "
            "without any).",
        ),
    ] = None,
    hardneg_min_count: Annotated[
        int | None,
        typer.Option(
            "--hardneg-min-count",
            help="HardNeg column: adjacent occurrences that make a pair frequent "
            "(default: the studies').",
        ),
    ] = None,
) -> None:
    """Retrain the default and each study's best configuration; compare them on the test split."""
    from songspace.reports.tune_report import tune_report

    with progress_bar(ctx) as progress:
        rep = tune_report(
            study,
            out,
            storage=storage,
            dataset=dataset,
            max_pareto=max_pareto,
            significance=significance,
            overwrite=overwrite,
            cache_dir=cache,
            progress=progress,
            hardneg_threshold=hardneg_threshold,
            hardneg_min_count=hardneg_min_count,
        )
    if rep.table is not None:
        print_tables(rep.table)
    for note in rep.notes:
        out_console.print(escape(note), highlight=False)
    for row in rep.rows:
        out_console.print(
            f"{escape(row.label)}: trained in {row.training_time:.1f}s; "
            + escape(", ".join(f"{k}={v}" for k, v in row.params.items())),
            highlight=False,
        )
    out_console.print(f"[bold green]wrote[/] {out}")


def tune_rankers_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="JSON file to write: the chosen settings (what `evaluate --rankers-config` "
            "reads), the validation value of every grid point, and the test values of the "
            "chosen and default settings.",
        ),
    ],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="What the settings are chosen for, by its validation metric: "
            f"{one_of({t: m for t, m in RANKER_TASKS.items()})}. Run once per task.",
        ),
    ] = DEFAULT_RANKER_TASK,
    rankers: Annotated[
        str,
        typer.Option(
            "--rankers",
            help=f"Comma-separated rankers to tune: {', '.join(BASELINE_RANKER_NAMES)}, "
            "or 'all'. Each tries its declared grid (docs/evaluation.md).",
        ),
    ] = "all",
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    k: KOpt = DEFAULT_SUITE.k,
    max_pairs: Annotated[
        int,
        typer.Option(
            "--max-pairs",
            min=0,
            help="Next-song pairs scored per grid point: a seeded uniform sample where there "
            "are more; 0 = all (as in `evaluate`).",
        ),
    ] = DEFAULT_SUITE.next_song_max_pairs or 0,
    test: Annotated[
        bool,
        typer.Option(
            "--test/--no-test",
            help="Also score the chosen and the default settings once on the test split (for "
            "the report; the test split chooses nothing).",
        ),
    ] = True,
    overwrite: OverwriteOpt = False,
) -> None:
    """Choose each non-embedding ranker's settings (item-kNN, SKNN, V-SKNN, STAN, VSTAN) on
    the validation split, from its declared grid; `evaluate --rankers-config FILE` then uses
    them and prints them under every table."""
    from songspace.evaluation.ranker_params import format_settings
    from songspace.reports.tune_rankers import run_tune_rankers

    names = [r.strip() for r in rankers.split(",") if r.strip()]
    with progress_bar(ctx, "tune-rankers") as progress:
        result = run_tune_rankers(
            dataset,
            out,
            task=task,
            rankers=None if names == ["all"] else names,
            seed=seed,
            test_fraction=test_fraction,
            min_tracks=min_tracks,
            k=k,
            max_pairs=max_pairs or None,
            test=test,
            overwrite=overwrite,
            progress=progress,
        )
    table = Table(title=f"{task}: {result.metric} (validation; test)", title_justify="left")
    for col in ("ranker", "grid points", "default", "tuned", "chosen settings"):
        table.add_column(col)
    for name, c in result.rankers.items():
        table.add_row(
            name,
            str(len(c.grid)),
            _value_pair(c.default_validation, c.default_test),
            _value_pair(c.validation, c.test),
            escape(format_settings(c.chosen)),
        )
    out_console.print(table)
    out_console.print(f"[bold green]wrote[/] {out} (use it with `evaluate --rankers-config`)")


def _value_pair(validation: float, test: float | None) -> str:
    """``0.1935; 0.1902``: a validation value and, when scored, the test value."""
    return f"{validation:.4f}" + ("" if test is None else f"; {test:.4f}")
