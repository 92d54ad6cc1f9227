"""`songspace recommender fit`: fit the two-stage recommender (docs/recommender.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from songspace.cli._common import (
    AutoTestFractionOpt,
    DatasetArg,
    MinTracksOpt,
    OverwriteOpt,
    SeedOpt,
    out_console,
    progress_bar,
)
from songspace.data.defaults import DEFAULT_MIN_TRACKS

app = typer.Typer(
    help="The two-stage recommender: candidates from the kNN rankers, successor counts, "
    "each embedding's neighbours and popularity (stage 1), re-ranked by a LightGBM "
    "LambdaRank model over features of each (seeds, candidate) pair (stage 2). "
    "docs/recommender.md.",
    no_args_is_help=True,
)

RunOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--run",
        metavar="NAME=RUN",
        help="An embedding the recommender uses as a candidate generator (its nearest "
        "neighbours of the last seed and of the seed mean) and as features (cosines): "
        "NAME labels it, RUN is a `songspace train` directory trained with the same "
        "--seed and --test-fraction (it is embedded from the protocol's training view; a "
        "run trained across the test split is refused). Repeatable; none: the counting "
        "generators and features alone.",
    ),
]
RecRankersConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--rankers-config",
        metavar="FILE",
        help="The kNN rankers of stage 1 and their settings: the JSON file "
        "`songspace tune-rankers -o FILE` wrote (tuned on the same split). Default: sknn "
        "and itemknn with their default settings.",
    ),
]
RecParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="NAME=VALUE",
        help="A recommender parameter (repeatable), e.g. depth=500, popular=50, "
        "next_song_queries=3000, num_iterations=500, num_threads=4; the table of "
        "parameters and defaults is in docs/recommender.md.",
    ),
]


@app.command("fit")
def fit_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The recommender directory to write (model.txt: LightGBM's text model; "
            "recommender.json: settings, runs, split and fingerprints). Must not exist "
            "unless --overwrite.",
        ),
    ],
    run: RunOpt = None,
    rankers_config: RecRankersConfigOpt = None,
    param: RecParamOpt = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    overwrite: OverwriteOpt = False,
) -> None:
    """Fit the two-stage recommender on DATA's validation queries and save it.

    The split is `evaluate`'s (--seed, --test-fraction); the test split is never read.
    Stage 1 and the features come from its training view, the ranker from validation.
    Score it: songspace evaluate DATA --recommender OUT (same --seed, --test-fraction).
    Serve it: songspace serve RUN --data DATA --recommender OUT.
    Example: songspace recommender fit data/mpd --run t2v=runs/t2v -o runs/rec
    """
    from songspace.assignments import parse_assignments
    from songspace.recommender import TwoStageRanker
    from songspace.reports.recommender import fit_recommender, parse_runs

    runs = parse_runs(parse_assignments(run, "--run", example="t2v=runs/t2v"))
    params = TwoStageRanker.parse_params(parse_assignments(param, "--param", example="depth=500"))
    with progress_bar(ctx) as progress:
        rec = fit_recommender(
            dataset,
            runs,
            out,
            seed=seed,
            test_fraction=test_fraction,
            min_tracks=min_tracks,
            rankers_config=rankers_config,
            params=params,
            overwrite=overwrite,
            progress=progress,
        )
    training = rec.description.get("training", {})
    out_console.print(
        f"fitted on {training.get('fitting_groups', 0)} validation queries "
        f"({training.get('early_stopping_groups', 0)} for early stopping), "
        f"{training.get('best_iteration', 0)} rounds, stage-1 recall "
        f"{training.get('stage1_recall', 0.0):.3f}; generators: "
        + escape(", ".join(rec.stage1.names)),
        soft_wrap=True,
    )
    backoff = rec.description.get("backoff", {})
    if backoff.get("tail_auc"):
        aucs = ", ".join(f"{k} {v:.4f}" for k, v in backoff["tail_auc"].items())
        out_console.print(
            f"tracks outside stage 1 ordered by {escape(backoff['chosen'])} "
            f"(tail AUC on {backoff['queries']} early-stopping queries: {escape(aucs)})",
            soft_wrap=True,
        )
    out_console.print(f"[bold green]wrote[/] {escape(str(out))}")
