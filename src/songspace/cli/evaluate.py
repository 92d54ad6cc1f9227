"""`songspace evaluate`: score embeddings with every metric family."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from songspace.cli._common import (
    AutoTestFractionOpt,
    DatasetArg,
    HardnegMinCountOpt,
    HardnegThresholdOpt,
    KOpt,
    MinTracksOpt,
    OverwriteOpt,
    SeedOpt,
    out_console,
    print_tables,
    progress_bar,
)
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.evaluation.defaults import DEFAULT_SUITE


def _families_help() -> str:
    """The --metrics help, from the metric-family registry (names only: imports no numpy)."""
    from songspace.evaluation import families

    opt_in = "".join(
        f", except {n}, {why}, which is opt-in" for n, why in families.opt_in().items()
    )
    return (
        f"Comma-separated families: {', '.join(families.names())} "
        f"(default: all the data supports{opt_in})."
    )


def evaluate_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    embeddings: Annotated[
        list[Path] | None,
        typer.Argument(
            help="What to score: run directories of `songspace train` (the model embeds the "
            "tracks inside the protocol, from its training view only: the way to evaluate "
            "GraphSAGE/MUSIG on new data), or embeddings files: .npy/.npz rows in vocabulary "
            "order, an embeddings.npz of train, or Parquet with track_id + one column per "
            "dimension. An inductive `songspace embed` output of DATA itself is refused "
            "(its graph held the test playlists): pass its RUN instead."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write results here.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help=_families_help(),
        ),
    ] = None,
    baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="Add random and popularity.")
    ] = True,
    rankers: Annotated[
        str | None,
        typer.Option(
            "--rankers",
            help="Comma-separated non-embedding baselines to add: itemknn, sknn, vsknn, "
            "stan, vstan, bigram, or 'all' (with their default settings, or those of "
            "--rankers-config).",
        ),
    ] = None,
    rankers_config: Annotated[
        Path | None,
        typer.Option(
            "--rankers-config",
            metavar="FILE",
            help="Ranker settings: the JSON file `songspace tune-rankers -o FILE` wrote (or "
            "one written by hand, docs/evaluation.md). Its rankers are added (with --rankers, "
            "those listed there), each with the settings of the file; the table prints them.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    k: KOpt = DEFAULT_SUITE.k,
    hardneg_threshold: HardnegThresholdOpt = None,
    hardneg_min_count: HardnegMinCountOpt = DEFAULT_SUITE.hardneg_min_count,
    max_pairs: Annotated[
        int,
        typer.Option(
            "--max-pairs",
            min=0,
            help="Next-song (query, target) pairs scored per protocol (in-set, out-of-set): "
            "a seeded uniform sample where there are more, since each query is a k-NN search "
            "over every track; 0 = all. The counts are in the results.",
        ),
    ] = DEFAULT_SUITE.next_song_max_pairs or 0,
    max_queries: Annotated[
        int,
        typer.Option(
            "--max-queries",
            min=0,
            help="HardNeg query tracks: a seeded uniform sample where more tracks have a "
            "hard negative; 0 = all.",
        ),
    ] = DEFAULT_SUITE.hardneg_max_queries or 0,
    drop_unknown: Annotated[
        bool,
        typer.Option(
            "--drop-unknown",
            help="Embeddings keyed by track id (Parquet, or an embeddings.npz of train/embed) "
            "may hold ids the dataset does not have: drop them (the count is printed) "
            "instead of failing.",
        ),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="MODEL",
            help="Also test every other row against this model with paired t-tests "
            "(Bonferroni over the metrics, as for the baselines): its name (the file's stem, "
            "or the run directory's name) or one of the EMBEDDINGS files. Marked ‡ in the "
            "table; the tests are in summary.json under its name.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Score embeddings with every metric family of both papers."""
    from songspace.evaluation.rankers import BASELINE_RANKERS, read_ranker_settings
    from songspace.evaluation.suite import SuiteSettings, reference_name, run_evaluation
    from songspace.models.apply import evaluation_input

    fams = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    ranker_list = [r.strip() for r in (rankers or "").split(",") if r.strip()]
    if ranker_list == ["all"]:
        ranker_list = list(BASELINE_RANKERS)
    ranker_params = read_ranker_settings(rankers_config) if rankers_config else None
    if ranker_params and not ranker_list:
        ranker_list = list(ranker_params)
    settings = SuiteSettings(
        k=k,
        hardneg_threshold=hardneg_threshold,
        hardneg_min_count=hardneg_min_count,
        next_song_max_pairs=max_pairs or None,
        hardneg_max_queries=max_queries or None,
    )
    with progress_bar(ctx) as progress:
        protocol, results, _ = run_evaluation(
            dataset,
            [evaluation_input(p) for p in embeddings or []],
            out=out,
            families=fams,
            baselines=baselines,
            seed=seed,
            test_fraction=test_fraction,
            min_tracks=min_tracks,
            settings=settings,
            rankers=ranker_list,
            ranker_params=ranker_params,
            drop_unknown=drop_unknown,
            overwrite=overwrite,
            against=against,
            progress=progress,
        )
    p = protocol.summary()
    out_console.print(
        f"protocol (seed {seed}): {p['completion_playlists']} completion playlists, "
        f"{p['in_set_pairs']:,} in-set and {p['out_of_set_pairs']:,} out-of-set next-song pairs",
        soft_wrap=not out_console.is_terminal,  # one line in a pipe or a log
    )
    from songspace.reports.tables import build_table

    names = list(dict.fromkeys(k_ for r in results for k_ in r.metrics))
    inputs = embeddings or []
    ref = reference_name(against, inputs, [r.model for r in results[len(results) - len(inputs) :]])
    t = build_table(
        results,
        names,
        baselines=(*(("random", "popularity") if baselines else ()), *ranker_list),
        title="Evaluation",
        against={"‡": ref} if ref is not None else None,
        best_baseline=True,
    )
    print_tables(t)
    if out is not None:
        out_console.print(f"[bold green]wrote[/] {out}")
