"""`songspace demo`, `compare`, `cold-start` and `explore`: the runners that train,
evaluate and write a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from songspace.assignments import parse_model_assignments
from songspace.cli._common import (
    AutoTestFractionOpt,
    DatasetArg,
    MinTracksOpt,
    OverwriteOpt,
    SeedOpt,
    TestFractionOpt,
    one_of,
    out_console,
    print_tables,
    progress_bar,
)
from songspace.cli.data import print_summary
from songspace.data.defaults import DEFAULT_COLD_SHARE, DEFAULT_MIN_TRACKS
from songspace.evaluation.defaults import DEFAULT_COLD_TEST_FRACTION
from songspace.graph.defaults import DEFAULT_MIN_WEIGHT
from songspace.reports.defaults import (
    DEFAULT_COLD_START_MODELS,
    DEFAULT_NEIGHBOURS,
    DEFAULT_PROJECTION,
    DEMO_OUT,
    DEMO_PLAYLISTS,
    DEMO_SEQUENTIAL,
    DEMO_TRACKS,
    PROJECTION_METHODS,
)

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.reports.compare import CompareResult


def demo_cmd(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A prepared dataset directory instead of the synthetic one."),
    ] = None,
    playlists: Annotated[
        int, typer.Option("--playlists", help="Synthetic playlists.")
    ] = DEMO_PLAYLISTS,
    n_tracks: Annotated[
        int, typer.Option("--n-tracks", help="Synthetic catalogue size.")
    ] = DEMO_TRACKS,
    sequential: Annotated[
        float,
        typer.Option(
            "--sequential",
            help="Synthetic data's sequential signal: the probability that a playlist's next "
            "track follows its genre's Markov chain (0: order carries nothing; see "
            "`songspace prepare synthetic --sequential`).",
        ),
    ] = DEMO_SEQUENTIAL,
    min_weight: Annotated[
        int, typer.Option("--min-weight", help="Co-occurrence edge threshold.")
    ] = DEFAULT_MIN_WEIGHT,
    seed: SeedOpt = 0,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Run directory (models cached there, report written)."),
    ] = Path(DEMO_OUT),
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
) -> None:
    """Small end-to-end comparison: train every model with small settings, fit the
    two-stage recommender, evaluate them with the baselines on the same queries, print the
    table and what its rows show, and write the HTML report."""
    from songspace.reports.summary import demo_notes, run_demo

    with progress_bar(ctx) as progress:
        res = run_demo(
            data,
            out=out,
            n_playlists=playlists,
            n_tracks=n_tracks,
            sequential=sequential,
            min_weight=min_weight,
            min_tracks=min_tracks,
            seed=seed,
            progress=progress,
        )
    print_summary(res.dataset_summary)
    _print_compare_result(res)
    for line in demo_notes(res):
        out_console.print(escape(line), highlight=False)
    if res.explore is not None:
        out_console.print(
            f"[bold green]wrote[/] the explorer page {res.explore} (open it in a browser)"
        )


def compare_cmd(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Argument(help="Experiment config (TOML; ready ones in experiments/).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Run directory: trained models are cached there and reused."
        ),
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset directory replacing the config's.")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Model cache shared between runs (default RUN_DIR/cache)."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated model names of the config to run."),
    ] = None,
) -> None:
    """Train what is missing, evaluate every model on the same queries, write the tables,
    figures and an HTML report (reproduces the papers' tables)."""
    from songspace.reports.compare import run_compare

    names = [n.strip() for n in only.split(",") if n.strip()] if only is not None else None
    with progress_bar(ctx) as progress:
        res = run_compare(config, out, data=data, cache_dir=cache, only=names, progress=progress)
    _print_compare_result(res)


def _print_compare_result(res: CompareResult) -> None:
    print_tables(res.main_table)
    for name, why in res.skipped.items():
        out_console.print(f"skipped {escape(name)}: {escape(why)}", highlight=False)
    out_console.print(
        f"trained {len(res.trained)} model(s) ({res.seconds.get('training', 0.0):.1f}s), reused "
        f"{len(res.reused)} from the cache; evaluation {res.seconds.get('evaluation', 0.0):.1f}s, "
        f"total {res.seconds.get('total', 0.0):.1f}s"
    )
    out_console.print(
        f"[bold green]wrote[/] {escape(str(res.report_dir))}: table.md, table.csv, "
        f"results.json, per_query/, figures/ and {escape(str(res.html))}"
    )


def cold_start_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (must not exist).")],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to compare (repeatable; first = reference; default: "
            f"{', '.join(DEFAULT_COLD_START_MODELS)}).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="MODEL.NAME=VALUE, e.g. musig.epochs=20 (repeatable)."),
    ] = None,
    features_only: Annotated[
        bool,
        typer.Option(
            "--features-only/--no-features-only",
            help="Add a features-only encoder (graphsage, aggregate=false) as `features_only`.",
        ),
    ] = True,
    seed: SeedOpt = 0,
    test_fraction: TestFractionOpt = DEFAULT_COLD_TEST_FRACTION,
    cold_share: Annotated[
        float, typer.Option("--cold-share", help="Share of training tracks made cold.")
    ] = DEFAULT_COLD_SHARE,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Model cache (shared with compare and tune-report)."),
    ] = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    overwrite: OverwriteOpt = False,
) -> None:
    """Cold start: hide a share of tracks from training, then embed them from their new edges."""
    from songspace.reports.cold_start import cold_start_table, run_cold_start

    per_model = parse_model_assignments(param, "--param")
    with progress_bar(ctx, "cold start") as progress:
        rep = run_cold_start(
            dataset,
            model or DEFAULT_COLD_START_MODELS,
            out=out,
            params=per_model,
            features_only=features_only,
            seed=seed,
            test_fraction=test_fraction,
            cold_share=cold_share,
            min_tracks=min_tracks,
            cache_dir=cache,
            overwrite=overwrite,
            progress=progress,
            on_model=progress.relabel if progress is not None else None,
        )
    print_tables(cold_start_table(rep))
    out_console.print(f"[bold green]wrote[/] {out}")


def explore_cmd(
    ctx: typer.Context,
    runs: Annotated[
        list[Path],
        typer.Argument(help="One or two run directories (songspace train -o), shown side by side."),
    ],
    data: Annotated[Path, typer.Option("--data", help="The dataset the runs were trained on.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The HTML page to write (not inside a run or the dataset; an existing "
            "page needs --overwrite).",
        ),
    ] = Path("explore.html"),
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help=f"Projection: {one_of(PROJECTION_METHODS)} (umap: cosine, extra `explore`; "
            "auto: umap when installed, else pca). Cached in RUN/explore/.",
        ),
    ] = DEFAULT_PROJECTION,
    neighbours: Annotated[
        int, typer.Option("--neighbours", help="Nearest neighbours packed per track.")
    ] = DEFAULT_NEIGHBOURS,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="The runs were trained with --full (no cold start).")
    ] = False,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet",
            help="Also write an Embedding Atlas table (track id, metadata, x, y, neighbors) "
            "to this .parquet file (same rules as --out).",
        ),
    ] = None,
    genres: Annotated[
        str | None,
        typer.Option(
            "--genres",
            help='Colour only these genres, e.g. "jazz,classical,hip hop" (any of a track\'s '
            'genres, case-insensitive; the rest "other").',
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing page (and --parquet file)."),
    ] = False,
) -> None:
    """Write a self-contained offline HTML map of the tracks (pan, zoom, colour, search,
    nearest neighbours, box selection; two runs side by side)."""
    from songspace.reports.explore import run_explore

    with progress_bar(ctx, "explore") as progress:
        res = run_explore(
            list(runs),
            data,
            out,
            method=method,
            k=neighbours,
            seed=seed,
            test_fraction=test_fraction,
            full=full,
            parquet=parquet,
            genres=genres,
            overwrite=overwrite,
            progress=progress,
        )
    for r in res.runs:
        cached = " (cached)" if r.projection.cached else ""
        out_console.print(
            f"{escape(r.name)}: {r.projection.method} projection of "
            f"{int(r.embeddings.available.sum()):,} tracks in {r.projection.seconds:.1f}s{cached}"
        )
    out_console.print(f"[bold green]wrote[/] {res.path} ({res.size_bytes / 1e6:.1f} MB)")
    if res.parquet is not None:
        out_console.print(f"[bold green]wrote[/] {res.parquet}")
