"""`songspace prepare ...` (one command per input format) and `songspace info`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from songspace.assignments import parse_assignments
from songspace.cli._common import (
    OutOpt,
    OverwriteOpt,
    SeedOpt,
    err_console,
    one_of,
    out_console,
    progress_bar,
)
from songspace.data.defaults import (
    DEFAULT_GAP_MINUTES,
    DEFAULT_TOP_GENRES,
    SEQUENCE_ORDERS,
    SYNTHETIC_GENRES,
    SYNTHETIC_MEAN_LENGTH,
    SYNTHETIC_PLAYLISTS,
    SYNTHETIC_SEQUENTIAL,
    SYNTHETIC_TRACKS,
)
from songspace.errors import ParameterError
from songspace.graph.defaults import DEFAULT_ENGINE, DEFAULT_MIN_WEIGHT, DEFAULT_THRESHOLDS, ENGINES

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.data.dataset import Dataset
    from songspace.data.prepare import MetadataSpec

prepare_app = typer.Typer(
    help="Read playlists or listening logs (+ metadata) into a dataset directory.",
    no_args_is_help=True,
)


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
    ("top_genres", TopGenresOpt, DEFAULT_TOP_GENRES),
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
                help=f"Who computes the graph tables: {one_of(ENGINES)} (spark: the extra "
                "'spark'; implies --graph). They write identical files.",
            ),
        ],
        DEFAULT_ENGINE,
    ),
    (
        "min_weight",
        Annotated[
            int,
            typer.Option(
                "--min-weight", help="Co-occurrence graph: keep edges in >= this many sequences."
            ),
        ],
        DEFAULT_MIN_WEIGHT,
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
    ] = DEFAULT_GAP_MINUTES,
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
    playlists: Annotated[
        int, typer.Option("--playlists", help="Number of playlists.")
    ] = SYNTHETIC_PLAYLISTS,
    n_tracks: Annotated[int, typer.Option("--n-tracks", help="Catalogue size.")] = SYNTHETIC_TRACKS,
    genres: Annotated[
        int, typer.Option("--genres", help="Number of planted genres.")
    ] = SYNTHETIC_GENRES,
    mean_length: Annotated[
        float, typer.Option("--mean-length", help="Mean playlist length.")
    ] = SYNTHETIC_MEAN_LENGTH,
    sequential: Annotated[
        float,
        typer.Option(
            "--sequential",
            min=0.0,
            max=1.0,
            help="Make order carry information: the probability that a home-genre entry "
            "follows its predecessor along its genre's Markov chain (0: entries drawn "
            "independently of their order, the datasets of earlier versions).",
        ),
    ] = SYNTHETIC_SEQUENTIAL,
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
    ds = prepare_synthetic(out, overwrite=overwrite, seed=seed, sequential=sequential, **kwargs)
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


def print_summary(s: dict[str, Any]) -> None:
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


def info_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset directory written by `songspace prepare`.")],
    thresholds: Annotated[
        str,
        typer.Option(
            "--min-weights", help="Comma-separated min_weight values for the graph-size table."
        ),
    ] = ",".join(map(str, DEFAULT_THRESHOLDS)),
) -> None:
    """Counts, feature coverage and co-occurrence graph size per min_weight."""
    from songspace.reports.summary import dataset_info

    try:
        ts = [int(t) for t in thresholds.split(",") if t.strip()]
    except ValueError:
        raise ParameterError("--min-weights", "comma-separated integers", thresholds) from None
    info = dataset_info(path, thresholds=ts)
    print_summary(info["summary"])
    _print_coverage(info["summary"], info["coverage_levels"])
    table = Table(title="Co-occurrence graph (weight = distinct sequences holding both tracks)")
    for col in ("min_weight", "edges", "tracks with an edge"):
        table.add_column(col, justify="right")
    for t, g in info["graph"].items():
        table.add_row(str(t), f"{g['edges']:,}", f"{g['nodes']:,}")
    out_console.print(table)


def slice_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory (songspace prepare).")],
    out: OutOpt,
    start: Annotated[
        float,
        typer.Option(
            "--start", help="Share of the ordered sequences where the slice begins (0 to 1)."
        ),
    ],
    stop: Annotated[
        float,
        typer.Option("--stop", help="Share where it ends, excluded (0 to 1, above --start)."),
    ],
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help=f"Sequence order: {one_of(SEQUENCE_ORDERS)}.",
        ),
    ] = "stored",
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Cut a dataset into days: keep the sequences at [--start, --stop) of an order, on the
    tracks they hold, as a dataset of their own (a base to train, a day to `update` with).

    Consecutive slices of one order (0-0.8, 0.8-0.85, ...) never overlap and leave no
    sequence out (docs/updates.md).
    """
    from songspace._util import check_output_free
    from songspace.data.dataset import Dataset
    from songspace.data.slices import slice_dataset

    if by not in SEQUENCE_ORDERS:
        raise ParameterError("--by", f"one of {list(SEQUENCE_ORDERS)}", by)
    check_output_free(out, overwrite=overwrite, inputs=(dataset,), inside=True)
    part = slice_dataset(Dataset.load(dataset), start, stop, by=by, seed=seed)
    part.save(out, overwrite=overwrite)
    _report_prepared(part, out)
