"""`songspace evaluate`: score embeddings with every metric family."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from songspace.evaluation.defaults import BASELINE_RANKER_NAMES, DEFAULT_SUITE

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.evaluation.protocol import Protocol
    from songspace.evaluation.results import EvaluationResult


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


#: `evaluate`'s own options (the shared ones are in songspace.cli._common).
EmbeddingsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="What to score: run directories of `songspace train` (the model embeds the "
        "tracks inside the protocol, from its training view only: the way to evaluate "
        "GraphSAGE/MUSIG on new data), or embeddings files: .npy/.npz rows in vocabulary "
        "order, an embeddings.npz of train, or Parquet with track_id + one column per "
        "dimension. An inductive `songspace embed` output of DATA itself is refused "
        "(its graph held the test playlists): pass its RUN instead."
    ),
]
BaselinesOpt = Annotated[
    bool, typer.Option("--baselines/--no-baselines", help="Add random and popularity.")
]
RankersOpt = Annotated[
    str | None,
    typer.Option(
        "--rankers",
        help="Comma-separated non-embedding baselines to add: "
        f"{', '.join(BASELINE_RANKER_NAMES)}, or 'all' (with their default settings, or "
        "those of --rankers-config).",
    ),
]
RankersConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--rankers-config",
        metavar="FILE",
        help="Ranker settings: the JSON file `songspace tune-rankers -o FILE` wrote (or "
        "one written by hand, docs/evaluation.md). Its rankers are added (with --rankers, "
        "those listed there), each with the settings of the file; the table prints them.",
    ),
]
MaxPairsOpt = Annotated[
    int,
    typer.Option(
        "--max-pairs",
        min=0,
        help="Next-song (query, target) pairs scored per protocol (in-set, out-of-set): "
        "a seeded uniform sample where there are more, since each query is a k-NN search "
        "over every track; 0 = all. The counts are in the results.",
    ),
]
MaxQueriesOpt = Annotated[
    int,
    typer.Option(
        "--max-queries",
        min=0,
        help="HardNeg query tracks: a seeded uniform sample where more tracks have a "
        "hard negative; 0 = all.",
    ),
]
DropUnknownOpt = Annotated[
    bool,
    typer.Option(
        "--drop-unknown",
        help="Embeddings keyed by track id (Parquet, or an embeddings.npz of train/embed) "
        "may hold ids the dataset does not have: drop them (the count is printed) "
        "instead of failing.",
    ),
]
RecommenderOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--recommender",
        metavar="DIR",
        help="A fitted two-stage recommender (`songspace recommender fit -o DIR`), scored "
        "as a row beside the baselines and tested against them (repeatable). It is "
        "rebuilt on this protocol's training view with its runs, and refused when it was "
        "fitted on another dataset or another split (pass its --seed and --test-fraction).",
    ),
]
AgainstOpt = Annotated[
    str | None,
    typer.Option(
        "--against",
        metavar="MODEL",
        help="Also test every other row against this model with paired t-tests "
        "(Bonferroni over the metrics, as for the baselines): its name (the file's stem, "
        "or the run directory's name) or one of the EMBEDDINGS files. Marked ‡ in the "
        "table; the tests are in summary.json under its name.",
    ),
]


def evaluate_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    embeddings: EmbeddingsArg = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write results here.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help=_families_help(),
        ),
    ] = None,
    baselines: BaselinesOpt = True,
    rankers: RankersOpt = None,
    rankers_config: RankersConfigOpt = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    k: KOpt = DEFAULT_SUITE.k,
    hardneg_threshold: HardnegThresholdOpt = None,
    hardneg_min_count: HardnegMinCountOpt = DEFAULT_SUITE.hardneg_min_count,
    max_pairs: MaxPairsOpt = DEFAULT_SUITE.next_song_max_pairs or 0,
    max_queries: MaxQueriesOpt = DEFAULT_SUITE.hardneg_max_queries or 0,
    drop_unknown: DropUnknownOpt = False,
    recommender: RecommenderOpt = None,
    against: AgainstOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Score embeddings with every metric family of both papers."""
    from songspace.evaluation.suite import SuiteSettings, run_evaluation
    from songspace.models.apply import evaluation_input
    from songspace.reports.recommender import FittedRecommender

    fams = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    ranker_list, ranker_params = _rankers_to_add(rankers, rankers_config)
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
            [
                *(evaluation_input(p) for p in embeddings or []),
                *(FittedRecommender(p) for p in recommender or []),
            ],
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
    _print_evaluation(
        protocol,
        results,
        seed=seed,
        inputs=[*(embeddings or []), *(recommender or [])],
        baselines=(*(("random", "popularity") if baselines else ()), *ranker_list),
        against=against,
    )
    if out is not None:
        out_console.print(f"[bold green]wrote[/] {out}")


def _rankers_to_add(
    rankers: str | None, rankers_config: Path | None
) -> tuple[list[str], dict[str, dict[str, Any]] | None]:
    """The non-embedding rankers `evaluate` adds and their settings: ``--rankers`` (a
    comma-separated list, or ``all``), else the rankers of ``--rankers-config``."""
    from songspace.evaluation.rankers import BASELINE_RANKERS, read_ranker_settings

    ranker_list = [r.strip() for r in (rankers or "").split(",") if r.strip()]
    if ranker_list == ["all"]:
        ranker_list = list(BASELINE_RANKERS)
    ranker_params = read_ranker_settings(rankers_config) if rankers_config else None
    if ranker_params and not ranker_list:
        ranker_list = list(ranker_params)
    return ranker_list, ranker_params


def _print_evaluation(
    protocol: Protocol,
    results: list[EvaluationResult],
    *,
    seed: int,
    inputs: list[Path],
    baselines: tuple[str, ...],
    against: str | None,
) -> None:
    """The protocol's size in one line, then the results table (``--against`` marked ‡)."""
    from songspace.evaluation.suite import reference_name
    from songspace.reports.tables import build_table

    p = protocol.summary()
    out_console.print(
        f"protocol (seed {seed}): {p['completion_playlists']} completion playlists, "
        f"{p['in_set_pairs']:,} in-set and {p['out_of_set_pairs']:,} out-of-set next-song pairs",
        soft_wrap=not out_console.is_terminal,  # one line in a pipe or a log
    )
    names = list(dict.fromkeys(k_ for r in results for k_ in r.metrics))
    ref = reference_name(against, inputs, [r.model for r in results[len(results) - len(inputs) :]])
    t = build_table(
        results,
        names,
        baselines=baselines,
        title="Evaluation",
        against={"‡": ref} if ref is not None else None,
        best_baseline=True,
    )
    print_tables(t)
