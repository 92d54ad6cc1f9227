"""The ``songspace`` command line: thin wrappers over the library's public functions."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from songspace._cli_progress import RichBar, RichProgress
from songspace.assignments import parse_assignments, parse_model_assignments
from songspace.clierrors import RedactingFilter
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.errors import ParameterError
from songspace.evaluation.defaults import DEFAULT_SUITE
from songspace.tuning.settings import TuneSettings

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.data.dataset import Dataset
    from songspace.data.prepare import MetadataSpec
    from songspace.reports.compare import CompareResult
    from songspace.tuning.study import TuneResult

app = typer.Typer(
    name="songspace",
    help="Learn, evaluate and tune track embeddings for music recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
prepare_app = typer.Typer(
    help="Read playlists or listening logs (+ metadata) into a dataset directory.",
    no_args_is_help=True,
)
app.add_typer(prepare_app, name="prepare")

out_console = Console()
err_console = Console(stderr=True)


@dataclass(frozen=True)
class CliState:
    """What the global options decide for every command (held in typer's context)."""

    progress: bool = True


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide progress bars.")] = False,
) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logger = logging.getLogger("songspace")
    logger.handlers.clear()
    logger.addHandler(RichHandler(console=err_console, show_time=False, show_path=False))
    logger.handlers[0].addFilter(RedactingFilter())  # no password reaches the terminal
    logger.setLevel(level)
    logger.propagate = False
    ctx.obj = CliState(progress=not (no_progress or quiet))


@contextlib.contextmanager
def progress_bar(ctx: typer.Context, label: str = "") -> Iterator[RichBar | None]:
    """A progress callback for the library call in the block (None with --no-progress)."""
    state = ctx.find_object(CliState) or CliState()
    with RichProgress(err_console, enabled=state.progress) as bars:
        yield bars.callback(label)


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


# ------------------------------------------------------------ options shared by commands
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed (splits, sampling, cold tracks, models).")
]
TestFractionOpt = Annotated[
    float, typer.Option("--test-fraction", help="Share of sequences held out for test.")
]
#: train/evaluate: None = 1%, raised on small data (songspace.data.splits.default_test_fraction)
AutoTestFractionOpt = Annotated[
    float | None,
    typer.Option(
        "--test-fraction",
        help="Share of sequences held out for test (default: 1%, raised on small data so "
        "that about 100 test sequences exist; the log says so).",
    ),
]
MinTracksOpt = Annotated[
    int,
    typer.Option("--min-tracks", help="Completion test playlists need this many tracks."),
]
KOpt = Annotated[int, typer.Option("--k", help="Neighbours for next-song, HardNeg, buckets.")]
HardnegThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--hardneg-threshold",
        help="Chi-squared below which a frequent adjacent "
        "pair is a false neighbour (default: 1e-7 x song occurrences, W2V §2.2).",
    ),
]
HardnegMinCountOpt = Annotated[
    int,
    typer.Option(
        "--hardneg-min-count",
        help="Adjacent-pair count that makes a pair "
        "frequent enough to be a hard-negative candidate.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Fix a model parameter: NAME=VALUE (repeatable)."),
]
ModelOpt = Annotated[str, typer.Argument(help="Model name (see `songspace models`).")]
DatasetArg = Annotated[Path, typer.Argument(help="Dataset directory (songspace prepare).")]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Output dataset directory (must not exist).")
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing output directory.")
]
TracksOpt = Annotated[
    Path | None,
    typer.Option(
        "--tracks", help="Track metadata CSV/Parquet (e.g. the 114k Spotify tracks table)."
    ),
]
ArtistsOpt = Annotated[
    Path | None,
    typer.Option("--artists", help="Artist metadata CSV/Parquet (e.g. data_w_genres.csv)."),
]
#: The fields of songspace.data.metadata.TRACK_FIELDS / ARTIST_FIELDS (a test checks
#: that these lists match; the CLI does not import pandas to print its help).
_AUDIO_FIELDS = (
    "danceability, energy, key, loudness, mode, speechiness, acousticness, "
    "instrumentalness, liveness, valence, tempo"
)
TrackMapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--track-map",
        help="Track metadata column mapping FIELD=COLUMN (repeatable); FIELD is one of "
        f"track_id, track_name, genre, genres, artist_name, popularity, {_AUDIO_FIELDS}, "
        "acoustic_vector_N.",
    ),
]
ArtistMapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--artist-map",
        help="Artist metadata column mapping FIELD=COLUMN (repeatable); FIELD is one of "
        f"artist_name, genres, popularity, {_AUDIO_FIELDS}.",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict-duplicates", help="Fail on track rows that disagree instead of averaging them."
    ),
]
TopGenresOpt = Annotated[
    int, typer.Option("--top-genres", help="Size G of the genre one-hot (top-G genres + other).")
]

#: The metadata options of `prepare mpd` and `prepare csv`: (parameter, annotation, default).
_METADATA_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("tracks", TracksOpt, None),
    ("artists", ArtistsOpt, None),
    ("track_map", TrackMapOpt, None),
    ("artist_map", ArtistMapOpt, None),
    ("strict_duplicates", StrictOpt, False),
    ("top_genres", TopGenresOpt, 50),
)


def metadata_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the metadata options, passed to it as one ``metadata`` argument
    (a :class:`songspace.data.prepare.MetadataSpec`, empty when no table is named)."""
    names = [name for name, _, _ in _METADATA_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in names}
        kwargs["metadata"] = _metadata_spec(**values)
        command(*args, **kwargs)

    return _add_options(wrapper, command, _METADATA_OPTIONS, drop="metadata")


def _add_options(
    wrapper: Callable[..., None],
    command: Callable[..., None],
    options: tuple[tuple[str, Any, Any], ...],
    *,
    drop: str | None = None,
) -> Callable[..., None]:
    """Give ``wrapper`` the signature of ``command`` (less the parameter ``drop``) plus the
    keyword-only ``options`` (parameter, annotation, default), for typer to read."""
    # typer reads the options from the evaluated annotations; `metadata` names a type
    # imported only for type checkers (the data layer loads lazily).
    sig = inspect.signature(command, eval_str=True, locals={"MetadataSpec": object})
    params = [p for p in sig.parameters.values() if p.name != drop]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
        for name, ann, default in options
    ]
    wrapper.__signature__ = sig.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
    return wrapper


def _metadata_spec(
    *,
    tracks: Path | None,
    artists: Path | None,
    track_map: list[str] | None,
    artist_map: list[str] | None,
    strict_duplicates: bool,
    top_genres: int,
) -> MetadataSpec:
    from songspace.data.prepare import MetadataSpec

    duplicates: Literal["merge", "error"] = "error" if strict_duplicates else "merge"
    return MetadataSpec(
        tracks=tracks,
        artists=artists,
        track_columns=parse_assignments(
            track_map, "--track-map", example="artist_name=track_artist"
        ),
        artist_columns=parse_assignments(artist_map, "--artist-map", example="artist_name=artists"),
        duplicates=duplicates,
        top_genres=top_genres,
    )


#: The graph-table options of every `prepare` command: (parameter, annotation, default).
_GRAPH_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    (
        "graph",
        Annotated[
            bool,
            typer.Option(
                "--graph",
                help="Also write the graph tables (co-occurrence graph, bigram counts, "
                "popularity) into OUT/graph. Later steps reuse it: GraphSAGE, MUSIG and "
                "Node2Vec trained on all of OUT (train --full) with the same --min-weight "
                "load the saved graph instead of rebuilding it (never for a training split).",
            ),
        ],
        False,
    ),
    (
        "engine",
        Annotated[
            str,
            typer.Option(
                "--engine",
                help="Who computes the graph tables: memory or spark (the extra 'spark'; "
                "implies --graph). Both write identical files.",
            ),
        ],
        "memory",
    ),
    (
        "min_weight",
        Annotated[
            int,
            typer.Option(
                "--min-weight", help="Co-occurrence graph: keep edges in >= this many sequences."
            ),
        ],
        2,
    ),
    (
        "spark_master",
        Annotated[
            str | None,
            typer.Option(
                "--spark-master",
                help="Spark master URL (default $SONGSPACE_SPARK_MASTER, else local[2]).",
            ),
        ],
        None,
    ),
    (
        "spark_staging",
        Annotated[
            Path | None,
            typer.Option(
                "--spark-staging",
                help="Folder for Spark's staged entries and counts; with a cluster master, "
                "one every executor can read and write (default: a temporary folder).",
            ),
        ],
        None,
    ),
)
_GRAPH_META = "songspace.graph_tables"


@dataclass(frozen=True)
class _GraphRequest:
    engine: str
    min_weight: int
    master: str | None
    staging: Path | None


def graph_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a `prepare` command the graph-table options; they are checked before anything
    is read, and :func:`_write_graph` (called by :func:`_prepare`) acts on them."""
    names = [name for name, _, _ in _GRAPH_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in names}
        ctx = kwargs.get("ctx", args[0] if args else None)
        from songspace.graph.tables import check_engine

        engine = check_engine(values["engine"])
        if values["min_weight"] < 1:
            raise ParameterError("--min-weight", "an integer >= 1", values["min_weight"])
        if engine == "spark":
            from songspace.graph.spark import check_pyspark

            check_pyspark()
        if (values["graph"] or engine == "spark") and ctx is not None:
            ctx.meta[_GRAPH_META] = _GraphRequest(
                engine, values["min_weight"], values["spark_master"], values["spark_staging"]
            )
        command(*args, **kwargs)

    return _add_options(wrapper, command, _GRAPH_OPTIONS)


def _write_graph(ctx: typer.Context, ds: Dataset, out: Path) -> None:
    """Write OUT/graph when the command was given --graph or --engine spark."""
    request = ctx.meta.get(_GRAPH_META)
    if request is None:
        return
    from songspace.graph.tables import GRAPH_DIR, write_tables

    err_console.print(f"computing the graph tables ({request.engine} engine)")
    tables = write_tables(
        ds,
        out / GRAPH_DIR,
        min_weight=request.min_weight,
        engine=request.engine,
        master=request.master,
        staging=request.staging,
        overwrite=True,
    )
    out_console.print(
        f"[bold green]wrote[/] {out / GRAPH_DIR}: {tables.graph.n_edges:,} co-occurrence "
        f"edges (min_weight={request.min_weight}), {tables.bigrams.nnz:,} bigram pairs"
    )


def _prepare(
    ctx: typer.Context, prepare: Callable[..., Dataset], *args: Any, **kwargs: Any
) -> None:
    """Run one ``songspace.data.prepare`` function with a progress bar; report what it wrote."""
    with progress_bar(ctx) as progress:
        ds = prepare(*args, progress=progress, **kwargs)
    _write_graph(ctx, ds, kwargs["out"])
    _report_prepared(ds, kwargs["out"])


def _report_prepared(ds: Dataset, out: Path) -> None:
    s = ds.summary()
    out_console.print(
        f"[bold green]wrote[/] {out}: {s['sequences']:,} sequences, {s['tracks']:,} tracks, "
        f"{s['entries']:,} entries"
    )
    _print_coverage(s, ds.source.get("coverage", {}))


@prepare_app.command("mpd")
@graph_options
@metadata_options
def prepare_mpd_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="MPD slice folder, one slice JSON, or the MPD zip.")],
    out: OutOpt,
    metadata: MetadataSpec | None,
    drop_empty: Annotated[
        bool, typer.Option("--drop-empty", help="Skip empty playlists instead of failing.")
    ] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Spotify Million Playlist Dataset slices."""
    from songspace.data.prepare import prepare_mpd

    _prepare(
        ctx,
        prepare_mpd,
        path,
        out=out,
        metadata=metadata,
        drop_empty=drop_empty,
        overwrite=overwrite,
    )


@prepare_app.command("csv")
@graph_options
@metadata_options
def prepare_csv_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Long-format CSV/TSV/Parquet, one row per entry: sequence_id, track_id"
            "[, position, timestamp, skipped, track_name, artist_name]; no position = file "
            "(or timestamp) order. Give several files or a folder (its *.csv, *.tsv, "
            "*.parquet, *.pq files by name): one table, entries in the given order, one "
            "header. gzip, bz2, xz and zip files are read as they are."
        ),
    ],
    out: OutOpt,
    metadata: MetadataSpec | None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Column mapping FIELD=COLUMN, e.g. --map sequence_id=session (repeatable); "
            "FIELD is sequence_id, position, track_id, timestamp, skipped, track_name or "
            "artist_name; with --no-header COLUMN is its number from 1. position and "
            "timestamp may share a column.",
        ),
    ] = None,
    no_header: Annotated[
        bool,
        typer.Option("--no-header", help="The CSV has no header line; name columns by number."),
    ] = False,
    sep: Annotated[
        str | None,
        typer.Option(
            "--sep", help="Field separator (default: by suffix; tab/';'/'|' are detected)."
        ),
    ] = None,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="Keep only the first entry of a track in each sequence (repeats are kept by "
            "default; this also repairs a playlist listed once per genre).",
        ),
    ] = False,
    split_noncontiguous: Annotated[
        bool,
        typer.Option(
            "--split-noncontiguous",
            help="Read each run of consecutive rows of one sequence_id as a sequence of its "
            "own (ID, ID#2, ...), for files that reuse ids; by default all rows of an id "
            "form one sequence.",
        ),
    ] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Long-format sequences (one row per entry) from CSV or Parquet files."""
    from songspace.data.prepare import prepare_long

    columns = parse_assignments(map_, "--map")
    _prepare(
        ctx,
        prepare_long,
        paths,
        out=out,
        columns=columns,
        metadata=metadata,
        overwrite=overwrite,
        header=not no_header,
        sep="\t" if sep in ("\\t", "tab") else sep,
        dedupe=dedupe,
        split_noncontiguous=split_noncontiguous,
    )


@prepare_app.command("mssd")
@graph_options
def prepare_mssd_cmd(
    ctx: typer.Context,
    log: Annotated[
        Path,
        typer.Argument(
            help="MSSD session log CSV (session_id, session_position, track_id_clean, skip_*)."
        ),
    ],
    out: OutOpt,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features", help="MSSD track features CSV (acoustic_vector_0..7, audio features)."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Spotify Music Streaming Sessions Dataset logs (with skip flags)."""
    from songspace.data.prepare import prepare_mssd

    _prepare(ctx, prepare_mssd, log, out=out, features=features, overwrite=overwrite)


@prepare_app.command("lastfm")
@graph_options
def prepare_lastfm_cmd(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="Last.fm-1K listening log (TSV: user, timestamp, artist-mbid, artist,"
            " track-mbid, track)."
        ),
    ],
    out: OutOpt,
    gap: Annotated[
        float, typer.Option("--gap", help="Inactivity gap in minutes that starts a new session.")
    ] = 30.0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Last.fm-1K listening logs, sessionised by an inactivity gap."""
    from songspace.data.prepare import prepare_lastfm

    _prepare(ctx, prepare_lastfm, path, out=out, gap_minutes=gap, overwrite=overwrite)


@prepare_app.command("lines")
@graph_options
def prepare_lines_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Text files with one sequence per line, e.g. LFM-1b's train500 and test500 "
            "('user,item,item,...'); gzip, bz2, xz or zip files are read as they are. "
            "Sequence ids become FILE:LINE."
        ),
    ],
    out: OutOpt,
    sep: Annotated[str, typer.Option("--sep", help="Field separator.")] = ",",
    user_field: Annotated[
        bool,
        typer.Option(
            "--user-field/--no-user-field",
            help="The first field of a line is the user (LFM-1b), not a track.",
        ),
    ] = True,
    overwrite: OverwriteOpt = False,
) -> None:
    """One sequence per line (LFM-1b sub-sequences, session or pair lists)."""
    from songspace.data.prepare import prepare_lines

    _prepare(
        ctx, prepare_lines, paths, out=out, sep=sep, user_field=user_field, overwrite=overwrite
    )


@prepare_app.command("melon")
@graph_options
def prepare_melon_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Kakao Arena Melon playlist files (JSON arrays: train.json, "
            "arena_data/orig/val.json, ...; gzip, bz2, xz or zip compressed too). Titles are "
            "kept for the challenge protocol."
        ),
    ],
    out: OutOpt,
    tags_as_genres: Annotated[
        bool,
        typer.Option(
            "--tags-as-genres/--no-tags-as-genres",
            help="Give each song its playlists' tags as genre labels (for VRC and "
            "coherence only; never a model input).",
        ),
    ] = True,
    overwrite: OverwriteOpt = False,
) -> None:
    """Kakao Arena Melon playlists (Korean titles and tags)."""
    from songspace.data.prepare import prepare_melon

    _prepare(ctx, prepare_melon, paths, out=out, tags_as_genres=tags_as_genres, overwrite=overwrite)


@prepare_app.command("synthetic")
@graph_options
def prepare_synthetic_cmd(
    ctx: typer.Context,
    out: OutOpt,
    playlists: Annotated[int, typer.Option("--playlists", help="Number of playlists.")] = 2000,
    n_tracks: Annotated[int, typer.Option("--n-tracks", help="Catalogue size.")] = 3000,
    genres: Annotated[int, typer.Option("--genres", help="Number of planted genres.")] = 10,
    mean_length: Annotated[
        float, typer.Option("--mean-length", help="Mean playlist length.")
    ] = 30.0,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="'mpd': the Million Playlist Dataset's published shape (1M playlists, "
            "66.3M entries, 2.26M tracks, 296K artists, lengths 5-250, mean 66) times "
            "--scale; replaces --playlists, --n-tracks, --genres and --mean-length.",
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option("--scale", help="With --preset: share of the full size (0.01 = 10K).")
    ] = 1.0,
    slices: Annotated[
        Path | None,
        typer.Option(
            "--slices",
            help="Also write the playlists as MPD JSON slices (1,000 playlists each, the "
            "full schema) into this folder, for `prepare mpd`.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Synthetic playlists with planted genre/artist structure."""
    from songspace.data.prepare import prepare_synthetic

    if preset is not None:
        from songspace.data.synthetic import PRESETS

        if preset not in PRESETS:
            raise ParameterError("--preset", f"one of {sorted(PRESETS)}", preset)
        kwargs: dict[str, Any] = dict(PRESETS[preset](scale))
    else:
        kwargs = {
            "n_playlists": playlists,
            "n_tracks": n_tracks,
            "n_genres": genres,
            "mean_length": mean_length,
        }
    ds = prepare_synthetic(out, overwrite=overwrite, seed=seed, **kwargs)
    if slices is not None:
        from songspace.data.mpd import write_slices

        with progress_bar(ctx) as progress:
            paths = write_slices(ds, slices, seed=seed, progress=progress)
        err_console.print(f"wrote {len(paths)} MPD slices to {escape(str(slices))}")
    _write_graph(ctx, ds, out)
    _report_prepared(ds, out)


def _print_coverage(summary: dict[str, Any], levels: dict[str, Any]) -> None:
    """Coverage per feature group; by source level when metadata was joined."""
    table = Table(title="Feature coverage (share of tracks)")
    columns = ["group", "dim", "fully known"]
    if levels:
        columns += ["track-level", "artist-level", "entries covered"]
    for col in columns:
        table.add_column(col, justify="left" if col == "group" else "right")
    for name, cov in summary["coverage"].items():
        row = [name, str(cov["dim"]), f"{cov['coverage']:.1%}"]
        if levels:
            lv = levels.get(name) or levels.get(f"{name}_source")
            row += (
                [
                    f"{lv['track_level']:.1%}",
                    f"{lv['artist_level']:.1%}",
                    f"{lv['entries_track_level'] + lv['entries_artist_level']:.1%}",
                ]
                if lv
                else ["-", "-", "-"]
            )
        table.add_row(*row)
    out_console.print(table)


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title=f"Dataset ({s['source']})", show_header=False)
    table.add_column("field")
    table.add_column("value", justify="right")
    rows = [
        ("sequences", f"{s['sequences']:,}"),
        ("tracks", f"{s['tracks']:,}"),
        ("entries", f"{s['entries']:,}"),
        ("artists", f"{s['artists']:,}"),
        (
            "sequence length min / median / mean / max",
            f"{s['length_min']} / {s['length_median']:g} / "
            f"{s['length_mean']:.1f} / {s['length_max']}",
        ),
        ("timestamps", "yes" if s["has_timestamps"] else "no"),
        ("play/skip outcomes", "yes" if s["has_skips"] else "no"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out_console.print(table)


@app.command("info")
def info_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset directory written by `songspace prepare`.")],
    thresholds: Annotated[
        str,
        typer.Option(
            "--min-weights", help="Comma-separated min_weight values for the graph-size table."
        ),
    ] = "1,2,3,5,10",
) -> None:
    """Counts, feature coverage and co-occurrence graph size per min_weight."""
    from songspace.summary import dataset_info

    try:
        ts = [int(t) for t in thresholds.split(",") if t.strip()]
    except ValueError:
        raise ParameterError("--min-weights", "comma-separated integers", thresholds) from None
    info = dataset_info(path, thresholds=ts)
    _print_summary(info["summary"])
    _print_coverage(info["summary"], info["coverage_levels"])
    table = Table(title="Co-occurrence graph (weight = distinct sequences holding both tracks)")
    for col in ("min_weight", "edges", "tracks with an edge"):
        table.add_column(col, justify="right")
    for t, g in info["graph"].items():
        table.add_row(str(t), f"{g['edges']:,}", f"{g['nodes']:,}")
    out_console.print(table)


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A prepared dataset directory instead of the synthetic one."),
    ] = None,
    playlists: Annotated[int, typer.Option("--playlists", help="Synthetic playlists.")] = 3000,
    n_tracks: Annotated[int, typer.Option("--n-tracks", help="Synthetic catalogue size.")] = 4000,
    min_weight: Annotated[
        int, typer.Option("--min-weight", help="Co-occurrence edge threshold.")
    ] = 2,
    seed: SeedOpt = 0,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Run directory (models cached there, report written)."),
    ] = Path("runs/demo"),
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
) -> None:
    """Small end-to-end comparison: train every model with small settings, evaluate them
    on the same queries, print the table and write the HTML report."""
    from songspace.summary import run_demo

    with progress_bar(ctx) as progress:
        res = run_demo(
            data,
            out=out,
            n_playlists=playlists,
            n_tracks=n_tracks,
            min_weight=min_weight,
            min_tracks=min_tracks,
            seed=seed,
            progress=progress,
        )
    _print_summary(res.dataset_summary)
    _print_compare_result(res)
    if res.explore is not None:
        out_console.print(
            f"[bold green]wrote[/] the explorer page {res.explore} (open it in a browser)"
        )


@app.command("evaluate")
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
    _print_tables(t)
    if out is not None:
        out_console.print(f"[bold green]wrote[/] {out}")


@app.command("tune-rankers")
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
            help="What the settings are chosen for: next_song (out-of-set next-song HitRate@k "
            "of the validation sequences) or completion (completion HR of the validation "
            "playlists). Run once per task.",
        ),
    ] = "next_song",
    rankers: Annotated[
        str,
        typer.Option(
            "--rankers",
            help="Comma-separated rankers to tune: itemknn, sknn, vsknn, stan, vstan, bigram, "
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


@app.command("models")
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


def _space_text(p: Any) -> str:
    """A search-space entry as text: [low, high] (log), choices, or a tuple of those."""
    if p is None:
        return ""
    if hasattr(p, "items"):
        return "(" + ", ".join(_space_text(i) for i in p.items) + ")"
    if hasattr(p, "choices"):
        return "{" + ", ".join(repr(c) for c in p.choices) + "}"
    return f"[{p.low:g}, {p.high:g}]" + (" log" if p.log else "")


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    model: ModelOpt,
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (must not exist).")],
    param: ParamOpt = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file with a \\[params] table.")
    ] = None,
    seed: SeedOpt = 0,
    test_fraction: AutoTestFractionOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Train on every sequence (no held-out split).")
    ] = False,
    overwrite: OverwriteOpt = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Worker processes for data-parallel training (graphsage, musig; gloo on "
            "CPU, NCCL on GPUs, over 127.0.0.1). Across machines: torchrun -m "
            "songspace.models.distributed (docs/scaling.md).",
        ),
    ] = 1,
) -> None:
    """Train a model; write the model, embeddings.npz, Word2Vec text and Projector TSVs."""
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
        )
    out_console.print(
        f"[bold green]wrote[/] {out}: {model} trained in {fitted.training_time_:.1f}s, "
        f"{int(fitted.available_.sum()):,} of {len(fitted.available_):,} tracks embedded "
        f"(dimension {fitted.embeddings_.shape[1]}); "
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


@app.command("embed")
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


@app.command("cold-start")
def cold_start_cmd(
    ctx: typer.Context,
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (must not exist).")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model to compare (repeatable; first = reference)."),
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
    test_fraction: TestFractionOpt = 0.1,
    cold_share: Annotated[
        float, typer.Option("--cold-share", help="Share of training tracks made cold.")
    ] = 0.05,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Model cache (shared with compare and tune-report)."),
    ] = None,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    overwrite: OverwriteOpt = False,
) -> None:
    """Cold start: hide a share of tracks from training, then embed them from their new edges."""
    from songspace.reports.cold_start import cold_start_table, run_cold_start

    models = model or ["track2vec", "graphsage", "musig"]
    per_model = parse_model_assignments(param, "--param")
    with progress_bar(ctx, "cold start") as progress:
        rep = run_cold_start(
            dataset,
            models,
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
    _print_tables(cold_start_table(rep))
    out_console.print(f"[bold green]wrote[/] {out}")


@app.command("compare")
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
    _print_tables(res.main_table)
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


@app.command("explore")
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
            help="Projection: umap (cosine; extra `explore`), pca, tsne; auto = umap when "
            "installed, else pca. Cached in RUN/explore/.",
        ),
    ] = "auto",
    neighbours: Annotated[
        int, typer.Option("--neighbours", help="Nearest neighbours packed per track.")
    ] = 10,
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


@app.command("tune")
def tune_cmd(
    ctx: typer.Context,
    model: ModelOpt,
    dataset: DatasetArg,
    objective: Annotated[
        list[str] | None,
        typer.Option(
            "--objective",
            help="hit_rate, ndcg, vrc_genre, vrc_artist, hardneg (minimised) or completion_hr; "
            "repeat for a scalarised (with --alpha) or Pareto (without) study. Default hit_rate.",
        ),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(
            "--alpha",
            help="Scalarise two objectives: alpha*M + (1-alpha)*rVRC (W2V eq. 2), 0 <= alpha <= 1.",
        ),
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", help="Finished trials the study should hold.")
    ] = 20,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop starting trials after S seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Study storage: SQLite file path, RDB URL (postgresql://user@host/db shares "
            "a study between workers), or a journal file on a shared filesystem "
            "(journal:///path/study.log or a .log path; many workers, no database). "
            "Parallel workers: PostgreSQL or journal, not SQLite. "
            "Default: sqlite:///songspace-tune.db.",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default: model-objectives[-aALPHA][-rRATE])."),
    ] = None,
    sample_rate: Annotated[
        list[float] | None,
        typer.Option(
            "--sample-rate",
            help="Tune on this share of the training sequences; repeat for a scale study "
            "(one study per rate). Default 1.",
        ),
    ] = None,
    param: ParamOpt = None,
    seed: SeedOpt = 0,
    test_fraction: Annotated[
        float,
        typer.Option(
            "--test-fraction",
            "--heldout-fraction",
            help="Share of sequences held out for validation and (as much) for test "
            "(--heldout-fraction: the former name).",
        ),
    ] = 0.01,
    budget_factor: Annotated[
        float,
        typer.Option(
            "--budget-factor",
            help="Hard cap: reject trials training longer than this x the default's CPU "
            "time (0: no budget).",
        ),
    ] = 1.25,
    budget_mode: Annotated[
        str,
        typer.Option(
            "--budget-mode",
            help="equal_time (each trial gets the default's training CPU time: a cost model "
            "sets its epochs), reject (trials train as drawn, over-budget ones are "
            "rejected) or none.",
        ),
    ] = "equal_time",
    pruner: Annotated[
        str,
        typer.Option(
            "--pruner",
            help="none, sha (successive halving) or hyperband: stop hopeless "
            "trials from their per-epoch validation values.",
        ),
    ] = "none",
    sampler: Annotated[
        str, typer.Option("--sampler", help="tpe, gp, random or nsga2 (Pareto only).")
    ] = "tpe",
    startup_trials: Annotated[
        int, typer.Option("--startup-trials", help="Random trials before Bayesian search.")
    ] = 10,
    min_tracks: MinTracksOpt = DEFAULT_MIN_TRACKS,
    k: KOpt = DEFAULT_SUITE.k,
    hardneg_threshold: HardnegThresholdOpt = None,
    hardneg_min_count: HardnegMinCountOpt = DEFAULT_SUITE.hardneg_min_count,
    heartbeat: Annotated[
        float,
        typer.Option(
            "--heartbeat",
            help="Seconds between worker heartbeats; a trial silent for 3 heartbeats is "
            "marked failed and retried once.",
        ),
    ] = 10.0,
) -> None:
    """Tune a model's hyper-parameters (Bayesian search; resumable; shareable via PostgreSQL)."""
    from songspace.tuning import tune_rates
    from songspace.tuning.storage import redact

    settings = TuneSettings(
        objectives=objective or TuneSettings.objectives,
        alpha=alpha,
        trials=trials,
        timeout=timeout,
        seed=seed,
        heldout_fraction=test_fraction,
        min_tracks=min_tracks,
        params=parse_assignments(param, "--param", example="dim=64"),
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


@app.command("tune-report")
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
    ] = 3,
    significance: Annotated[
        float, typer.Option("--significance", help="Bonferroni-corrected level of the marks.")
    ] = 0.01,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Model cache (shared with compare and cold-start)."),
    ] = None,
    overwrite: OverwriteOpt = False,
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
        )
    if rep.table is not None:
        _print_tables(rep.table)
    for note in rep.notes:
        out_console.print(escape(note), highlight=False)
    for row in rep.rows:
        out_console.print(
            f"{escape(row.label)}: trained in {row.training_time:.1f}s; "
            + escape(", ".join(f"{k}={v}" for k, v in row.params.items())),
            highlight=False,
        )
    out_console.print(f"[bold green]wrote[/] {out}")


def _print_tables(table: Any) -> None:
    """A comparison table (songspace.reports.tables) and its legend, never a cut value or
    label: on a terminal, split into as many tables as fit its width (bold shown as
    bold); to a pipe or a log, one Markdown table at its full width (bold as ``**``)."""
    from rich.measure import Measurement

    from songspace.reports.tables import terminal_tables, to_markdown

    if not out_console.is_terminal:
        text = to_markdown(table, name_header="model")
        out_console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return
    wide = out_console.options.update_width(10**6)
    for part in terminal_tables(table, width=out_console.width):
        # a block wider than the terminal (one long column) is printed whole, not cropped
        need = Measurement.get(out_console, wide, part).minimum
        out_console.print(part, width=max(out_console.width, need))
        out_console.print()
    out_console.print(escape(table.legend()), highlight=False)
    for note in table.notes:
        out_console.print(escape(note), highlight=False)


def main() -> None:
    """Entry point: run the app; print every error as one line, without a traceback.

    Songspace errors print as they are; operating-system errors (disk full,
    read-only output, a parent that is a file, ...) through
    :func:`songspace.clierrors.describe_os_error`; anything else as one line that
    points to ``--verbose`` (which prints the traceback too).
    """
    from songspace.clierrors import describe_unexpected, error_message

    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        text = error_message(exc)
        if text is None:
            if logging.getLogger("songspace").isEnabledFor(logging.DEBUG):
                err_console.print_exception()
            text = describe_unexpected(exc)
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()


# ----------------------------------------------------------------- serving (issue 14)
IndexOpt = Annotated[
    str,
    typer.Option("--index", help="auto (exact up to --exact-max vectors, else hnsw), exact, hnsw."),
]
ExactMaxOpt = Annotated[
    int, typer.Option("--exact-max", help="--index auto is exact up to this many vectors.")
]
HnswMOpt = Annotated[
    int, typer.Option("--hnsw-m", help="HNSW links per vector (M): more is better recall, larger.")
]
EfConstructionOpt = Annotated[
    int,
    typer.Option(
        "--ef-construction", help="HNSW build-time candidate list: more is slower, better."
    ),
]
EfSearchOpt = Annotated[
    int,
    typer.Option(
        "--ef-search", help="HNSW search-time candidate list: more is better recall, slower."
    ),
]


def _index_options(index: str, exact_max: int, m: int, ef_construction: int, ef_search: int):
    return {
        "index": index,
        "exact_max": exact_max,
        "m": m,
        "ef_construction": ef_construction,
        "ef_search": ef_search,
    }


@app.command("recommend")
def recommend_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory written by `songspace train`.")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="The dataset the run was trained on; the run's rows are matched to its "
            "tracks by id.",
        ),
    ],
    similar: Annotated[
        str | None,
        typer.Option(
            "--similar",
            help="A track id, or a track name (case-insensitive; an ambiguous or unknown "
            "name lists the closest tracks with their ids).",
        ),
    ] = None,
    complete: Annotated[
        str | None,
        typer.Option(
            "--complete", help="Seed tracks, comma-separated (ids, or names as for --similar)."
        ),
    ] = None,
    embed_new: Annotated[
        Path | None, typer.Option("--embed-new", help="New-track JSON (inductive models).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 20,
    max_per_artist: Annotated[
        int | None,
        typer.Option(
            "--max-per-artist",
            min=1,
            help="Keep at most this many results by one artist (1: every result by another "
            "artist). Default: no cap.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    index: IndexOpt = "auto",
    exact_max: ExactMaxOpt = 500_000,
    m: HnswMOpt = 32,
    ef_construction: EfConstructionOpt = 200,
    ef_search: EfSearchOpt = 128,
) -> None:
    """Similar tracks, a playlist continuation, or a new track's neighbours, from a run.

    The index is cached in RUN/serving when the run is writable (kept in memory when not).
    """
    import json

    from songspace.serving import Recommender

    chosen = [x for x in (similar, complete, embed_new) if x is not None]
    if len(chosen) != 1:
        raise ParameterError(
            "--similar/--complete/--embed-new", "exactly one of them", f"{len(chosen)} given"
        )
    rec = Recommender.from_run(
        run,
        data,
        store=False,
        **_index_options(index, exact_max, m, ef_construction, ef_search),
    )
    if not as_json:
        err_console.print(escape(rec.index.stats.describe()), highlight=False)
    if similar is not None:
        track_id = rec.find_track(similar, "--similar")
        results = rec.similar(track_id, k, max_per_artist=max_per_artist)
        title = f"tracks similar to {track_id}"
    elif complete is not None:
        seeds = [rec.find_track(s.strip(), "--complete") for s in complete.split(",") if s.strip()]
        results = rec.complete(seeds, k, max_per_artist=max_per_artist)
        title = f"continuation of {len(seeds)} seed tracks"
    else:
        assert embed_new is not None
        try:
            doc = json.loads(embed_new.read_text())
        except (OSError, ValueError) as exc:
            from songspace.errors import FormatError

            raise FormatError(
                f"expected a readable JSON track object, found {exc}", path=embed_new
            ) from None
        new = rec.embed_new(doc, k, max_per_artist=max_per_artist)
        results = new.neighbours
        title = f"neighbours of the new track {new.track_id}"
    if as_json:
        out_console.print_json(
            json.dumps({"model": rec.name, "results": [r.to_dict() for r in results]})
        )
        return
    table = Table(title=escape(f"{rec.name}: {title}"))
    for col in ("#", "track id", "name", "artist", "genre", "score"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for i, r in enumerate(results, 1):
        table.add_row(
            str(i),
            escape(r.track_id),
            escape(r.track_name or ""),
            escape(r.artist_name or ""),
            escape(r.genre or ""),
            f"{r.score:.4f}",
        )
    out_console.print(table)


@app.command("serve")
def serve_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (one model each).")],
    data: Annotated[Path, typer.Option("--data", help="The dataset the runs were trained on.")],
    host: Annotated[str, typer.Option("--host", help="Bind address (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="Key for POST /tracks and /admin/reload. Other users see it in `ps`: "
            "prefer $SONGSPACE_API_KEY or --api-key-file. An empty key is refused; "
            "without any key the write endpoints answer 401.",
        ),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file",
            help="File holding the API key (its first line; preferred to --api-key).",
        ),
    ] = None,
    max_body: Annotated[int, typer.Option("--max-body", help="Largest request body (bytes).")] = (
        1 << 20
    ),
    index: IndexOpt = "auto",
    exact_max: ExactMaxOpt = 500_000,
    m: HnswMOpt = 32,
    ef_construction: EfConstructionOpt = 200,
    ef_search: EfSearchOpt = 128,
    search_threads: Annotated[
        int, typer.Option("--search-threads", help="faiss threads per search.")
    ] = 1,
) -> None:
    """Serve runs over HTTP (FastAPI + uvicorn; OpenAPI at /docs). Extra `serve`."""
    from songspace.serving.app import read_api_key, serve

    serve(
        runs,
        data,
        host=host,
        port=port,
        api_key=read_api_key(api_key, api_key_file),
        max_body_bytes=max_body,
        search_threads=search_threads,
        options=_index_options(index, exact_max, m, ef_construction, ef_search),
    )
