"""`songspace models`, `train`, `train-distributed` (one torchrun rank) and `embed`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from songspace.assignments import parse_assignments
from songspace.cli._common import (
    AutoTestFractionOpt,
    CliState,
    DatasetArg,
    ModelOpt,
    OverwriteOpt,
    ParamOpt,
    SeedOpt,
    out_console,
    progress_bar,
)
from songspace.errors import ParameterError

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)


def models_cmd() -> None:
    """List the registered models and their parameters (defaults and allowed ranges)."""
    from songspace.errors import MissingDependencyError
    from songspace.models import available_models, get_model_class

    for name in available_models():
        try:
            klass = get_model_class(name)
        except MissingDependencyError as exc:
            out_console.print(f"[bold]{name}[/]: unavailable ({escape(str(exc))})")
            continue
        table = Table(title=f"{name} ({klass.__name__})", title_justify="left")
        for col in ("parameter", "default", "allowed", "tuned over"):
            table.add_column(col)
        for p, v in klass.default_params().items():
            constraint = klass.parameter_constraints.get(p)
            searched = _space_text(klass.search_space.get(p))
            if p in klass.search_notes:
                searched += f" ({klass.search_notes[p]})"
            elif searched and p == klass.budget_param:
                searched += " (set by the budget in equal-time tuning)"
            table.add_row(
                p,
                repr(v),
                escape(constraint.describe()) if constraint else "",
                escape(searched),
            )
        out_console.print(table)
        for preset, values in klass.presets.items():
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            role = (
                " (the reference of `songspace tune`)" if preset == klass.reference_preset else ""
            )
            out_console.print(f"  preset {preset!r}{role}: {escape(shown)}")
        out_console.print(_update_text(klass))


def _update_text(klass: Any) -> str:
    """What `songspace update` does for a model class: its settings, or why it cannot."""
    if not klass.can_update():
        return f"  songspace update: not available ({escape(klass.update_unsupported)})"
    return "  songspace update settings (-s NAME=VALUE): " + ", ".join(klass.update_constraints)


def _space_text(p: Any) -> str:
    """A search-space entry as text: [low, high] (log), choices, or a tuple of those."""
    if p is None:
        return ""
    if hasattr(p, "items"):
        return "(" + ", ".join(_space_text(i) for i in p.items) + ")"
    if hasattr(p, "choices"):
        return "{" + ", ".join(repr(c) for c in p.choices) + "}"
    return f"[{p.low:g}, {p.high:g}]" + (" log" if p.log else "")


#: The options `train` and `train-distributed` share (besides those of _common).
RunOutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (must not exist).")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML file with a \\[params] table.")
]
FullOpt = Annotated[
    bool, typer.Option("--full", help="Train on every sequence (no held-out split).")
]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="Start from a named configuration of the model (`songspace models` lists each "
        "model's presets, e.g. track2vec's `paper`: the W2V paper's Table 3 defaults, "
        "instead of the defaults that adapt to the data); --config and --param override it.",
    ),
]


def train_cmd(
    ctx: typer.Context,
    model: ModelOpt,
    dataset: DatasetArg,
    out: RunOutOpt,
    param: ParamOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    full: FullOpt = False,
    overwrite: OverwriteOpt = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Worker processes for data-parallel training (graphsage, musig; gloo on "
            "CPU, NCCL on GPUs, over 127.0.0.1). Across machines: `songspace "
            "train-distributed` under torchrun (docs/scaling.md).",
        ),
    ] = 1,
) -> None:
    """Train a model; write the model, embeddings.npz, Word2Vec text and Projector TSVs."""
    from songspace.models.run import chosen_from_data
    from songspace.models.train import train_model

    params = parse_assignments(param, "--param", example="dim=64")
    with progress_bar(ctx, model) as progress:
        fitted = train_model(
            model,
            dataset,
            out,
            params=params,
            config=config,
            seed=seed,
            test_fraction=test_fraction,
            full=full,
            overwrite=overwrite,
            progress=progress,
            nproc=nproc,
            preset=preset,
        )
    chosen = chosen_from_data(fitted)
    note = f"; chose {chosen} from the data" if chosen else ""
    out_console.print(
        f"[bold green]wrote[/] {out}: {model} trained in {fitted.training_time_:.1f}s, "
        f"{int(fitted.available_.sum()):,} of {len(fitted.available_):,} tracks embedded "
        f"(dimension {fitted.embeddings_.shape[1]}{escape(note)}); "
        + escape(_evaluate_hint(dataset, out, seed=seed, test_fraction=test_fraction, full=full))
    )


def _evaluate_hint(
    dataset: Path, out: Path, *, seed: int, test_fraction: float | None, full: bool
) -> str:
    """The `evaluate` command matching a `train` run; after --full, what it would mean."""
    cmd = f"songspace evaluate {dataset} {out} --seed {seed}"
    if test_fraction is not None:
        cmd += f" --test-fraction {test_fraction}"
    if full:
        return (
            f"trained with --full on every sequence, so `songspace evaluate {dataset} {out}` is "
            "refused on this dataset (the model saw its test playlists); to evaluate, train "
            "without --full, or evaluate it on another dataset"
        )
    return f"evaluate with `{cmd}`"


def embed_cmd(
    ctx: typer.Context,
    run: Annotated[
        Path, typer.Argument(help="Run directory written by `songspace train` (its -o).")
    ],
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (must not exist).")],
    overwrite: OverwriteOpt = False,
) -> None:
    """Apply a trained model to another prepared dataset, with no retraining (for serving
    and export).

    GraphSAGE/MUSIG embed every track from its features and edges (feature columns
    matched by name), building the graph from every sequence of DATA; Track2Vec, Node2Vec
    and WARP map tracks by id, and tracks they never saw are unavailable. Writes the
    embeddings as `train` does. To evaluate a model on DATA, use `songspace evaluate DATA
    RUN`, which embeds from the protocol's training view only (evaluating this output on
    DATA would let the test playlists into the graph, and is refused)."""
    from songspace.models.apply import embed_run

    with progress_bar(ctx, "embed") as progress:
        res = embed_run(run, dataset, out, overwrite=overwrite, progress=progress)
    how = (
        "from their features and edges"
        if res.inductive
        else f"by track id; {res.unknown:,} not in the training vocabulary and "
        f"{res.no_embedding:,} without a trained vector are unavailable"
    )
    read = (
        f" (graph and popularity built from all {res.sequences:,} sequences of {dataset}; "
        "for serving and export)"
        if res.inductive
        else ""
    )
    out_console.print(
        f"[bold green]wrote[/] {out}: {res.model} embedded {res.embedded:,} of "
        f"{res.n_tracks:,} tracks {how}{escape(read)}; "
        + escape(
            f"to evaluate on {dataset}, score the run inside the protocol: "
            f"`songspace evaluate {dataset} {run}`"
        )
    )


def train_distributed_cmd(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(help="A model with data-parallel training: graphsage or musig.")
    ],
    dataset: Annotated[
        Path,
        typer.Argument(help="Dataset directory (songspace prepare); every node must read it."),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output directory, written by rank 0 (must not exist)."),
    ],
    param: ParamOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    full: FullOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """One rank of a data-parallel `train` across machines (graphsage, musig; torchrun).

    Start it under torchrun on every node, e.g. `torchrun --nnodes 2 --nproc-per-node 8
    --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m songspace.cli train-distributed
    graphsage DATA -o OUT` (docs/scaling.md).

    It takes the options of `train` and reads its place in the process group from the
    environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT);
    rank 0 logs the training steps and writes OUT. On one machine, `train --nproc N`
    starts the ranks itself."""
    from songspace.models.distributed import DISTRIBUTED_MODELS, TrainJob, worker_main

    if model not in DISTRIBUTED_MODELS:
        raise ParameterError(
            "MODEL",
            f"a model with data-parallel training, one of {list(DISTRIBUTED_MODELS)}",
            model,
            fix="train other models with `songspace train` on one machine",
        )
    params = parse_assignments(param, "--param", example="dim=64")
    job = TrainJob(
        model,
        str(dataset),
        str(out),
        dict(params),
        None if config is None else str(config),
        seed,
        test_fraction,
        full,
        overwrite,
    )
    fitted = worker_main(job, _step_logger(ctx))
    if fitted is not None:
        out_console.print(
            f"[bold green]wrote[/] {out}: {model} trained in {fitted.training_time_:.1f}s"
        )


def _step_logger(ctx: typer.Context) -> ProgressCallback | None:
    """Rank 0's progress as a log line every 50 steps (a torchrun log is read, not
    watched); None with --no-progress or --quiet."""
    state = ctx.find_object(CliState) or CliState()
    if not state.progress:
        return None

    def progress(done: float, total: float, message: str, /) -> None:
        if done % 50 == 0 or done == total:
            logger.info("step %d/%d %s", done, total, message)

    return progress


def _update_recommender(
    ctx: typer.Context,
    rec: Path,
    dataset: Path,
    out: Path,
    runs: list[str] | None,
    overwrite: bool,
    setting: list[str] | None,
    base_data: Path | None,
) -> None:
    """`songspace update REC NEW_DATA -o REC2` for a fitted recommender."""
    from songspace.reports.recommender import parse_runs
    from songspace.reports.recommender_update import update_recommender

    if setting or base_data is not None:
        raise ParameterError(
            "--setting/--base-data",
            "no update settings for a recommender (its model is kept; its counts grow)",
            "given",
            fix="update each run with its settings first, then pass them with --run NAME=RUN2",
        )
    chosen = parse_runs(parse_assignments(runs, "--run", example="t2v=runs/t2v-day1"))
    with progress_bar(ctx, "update") as progress:
        r = update_recommender(
            rec, dataset, out, runs=chosen, overwrite=overwrite, progress=progress
        )
    ups = r.description["provenance"]["updates"]
    out_console.print(
        f"[bold green]wrote[/] {out}: recommender updated ({len(ups)} update(s)); "
        f"{len(r.popularity):,} tracks; runs: "
        + ", ".join(f"{k}={v}" for k, v in r.description["provenance"]["runs"].items()),
        soft_wrap=True,
    )


def update_cmd(
    ctx: typer.Context,
    run: Annotated[
        Path,
        typer.Argument(help="Run directory of `songspace train` or `songspace update` (its -o)."),
    ],
    dataset: Annotated[
        Path,
        typer.Argument(
            help="Dataset directory (songspace prepare) holding the new sequences; their "
            "tracks may be known to the run or new."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output run directory (must not exist).")
    ],
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            "-s",
            help="An update setting NAME=VALUE (repeatable); `songspace models` lists each "
            "model's, docs/updates.md says what they do.",
        ),
    ] = None,
    repeats: Annotated[
        str,
        typer.Option(
            "--repeats",
            help="New sequences the run has trained on already (same id, same tracks): "
            "refuse (stop with an error), skip (leave them out) or allow (train on them "
            "again).",
        ),
    ] = "refuse",
    base_data: Annotated[
        Path | None,
        typer.Option(
            "--base-data",
            help="The dataset the run was trained on, when it is no longer at the path "
            "RUN/training.json records (checked by fingerprint).",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    run_update: Annotated[
        list[str] | None,
        typer.Option(
            "--run",
            help="A fitted recommender's run replaced by its update, NAME=RUN2 "
            "(repeatable; only when RUN is a recommender directory).",
        ),
    ] = None,
) -> None:
    """Continue a trained run on new sequences, without retraining: the vocabulary
    grows by the new tracks and the model trains on the new sequences (docs/updates.md).

    Writes a new run directory in the layout of `train` (RUN is never
    modified), whose training.json records the lineage. Every model can be
    updated (GraphSAGE and MUSIG embed the grown graph inductively).

    RUN may also be a fitted two-stage recommender (`songspace recommender fit
    -o`): its counts grow by the new sequences, its model is kept, and
    `--run NAME=RUN2` swaps in each updated run."""
    from songspace.models.update import update_run
    from songspace.reports.recommender_update import is_recommender

    if is_recommender(run):
        _update_recommender(ctx, run, dataset, out, run_update, overwrite, setting, base_data)
        return
    if run_update:
        raise ParameterError(
            "--run",
            "no --run for a model run (it names a recommender's updated runs)",
            run_update[0],
            fix="update the model run alone, then pass it to the recommender's update",
        )

    settings = parse_assignments(setting, "--setting", example="epochs=2")
    with progress_bar(ctx, "update") as progress:
        res = update_run(
            run,
            dataset,
            out,
            settings=settings,
            repeats=repeats,
            base_data=base_data,
            overwrite=overwrite,
            progress=progress,
        )
    model = res.model
    out_console.print(
        f"[bold green]wrote[/] {out}: {model.name} updated with {res.sequences:,} sequences "
        f"in {model.update_time_:.1f}s; {res.new_tracks:,} new tracks, "
        f"{int(model.available_.sum()):,} of {len(model.available_):,} tracks embedded"
    )
