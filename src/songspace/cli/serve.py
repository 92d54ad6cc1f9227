"""`songspace recommend` and `serve`: answer queries from trained runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from songspace.cli._common import err_console, one_of, out_console
from songspace.errors import ParameterError
from songspace.serving.defaults import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_MAX,
    DEFAULT_HOST,
    DEFAULT_INDEX,
    DEFAULT_K,
    DEFAULT_M,
    DEFAULT_MAX_BODY,
    DEFAULT_PORT,
    DEFAULT_SEARCH_THREADS,
    INDEX_KINDS,
)

if TYPE_CHECKING:  # the library is imported lazily, inside each command
    from songspace.serving import Recommender
    from songspace.serving.recommender import Neighbour

IndexOpt = Annotated[
    str,
    typer.Option(
        "--index",
        help=f"{one_of(INDEX_KINDS)}; auto is exact up to --exact-max vectors, else hnsw.",
    ),
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


ServeRecommenderOpt = Annotated[
    Path | None,
    typer.Option(
        "--recommender",
        metavar="DIR",
        help="A fitted two-stage recommender (`songspace recommender fit -o DIR`, on the "
        "--data dataset): --complete and --next answer through both stages (candidates, "
        "then the learned ranker) instead of an embedding's neighbours.",
    ),
]


def recommend_cmd(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="The dataset the run (or the recommender) was trained on; the run's rows "
            "are matched to its tracks by id.",
        ),
    ],
    run: Annotated[
        Path | None,
        typer.Argument(
            help="Run directory written by `songspace train` (not needed with --recommender)."
        ),
    ] = None,
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
    next_: Annotated[
        str | None,
        typer.Option(
            "--next",
            help="The tracks played so far, comma-separated track ids in order (the last is "
            "the current track): the next tracks, by the two-stage recommender "
            "(--recommender).",
        ),
    ] = None,
    recommender: ServeRecommenderOpt = None,
    embed_new: Annotated[
        Path | None, typer.Option("--embed-new", help="New-track JSON (inductive models).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = DEFAULT_K,
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
    index: IndexOpt = DEFAULT_INDEX,
    exact_max: ExactMaxOpt = DEFAULT_EXACT_MAX,
    m: HnswMOpt = DEFAULT_M,
    ef_construction: EfConstructionOpt = DEFAULT_EF_CONSTRUCTION,
    ef_search: EfSearchOpt = DEFAULT_EF_SEARCH,
) -> None:
    """Similar tracks, a playlist continuation, the next tracks, or a new track's neighbours.

    From a run (its index is cached in RUN/serving when the run is writable), or with
    --recommender from a fitted two-stage recommender (--complete, --next).
    """
    from songspace.serving import Recommender

    chosen = [x for x in (similar, complete, next_, embed_new) if x is not None]
    if len(chosen) != 1:
        raise ParameterError(
            "--similar/--complete/--next/--embed-new", "exactly one of them", f"{len(chosen)} given"
        )
    if recommender is not None or next_ is not None:
        _two_stage(recommender, data, complete or next_, k, max_per_artist, as_json, bool(next_))
        return
    if run is None:
        raise ParameterError(
            "RUN", "a run directory of `songspace train`", "none", fix="pass RUN before --data"
        )
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.serving.lineage import served_dataset

    # an updated run is served over DATA grown by its updates' tracks, as `serve` does
    served = served_dataset(run, DatasetIdentity(Dataset.load(data), data))
    rec = Recommender.from_run(
        run,
        served,
        store=False,
        **_index_options(index, exact_max, m, ef_construction, ef_search),
    )
    if not as_json:
        err_console.print(escape(rec.index.stats.describe()), highlight=False)
    results, title = _recommendations(
        rec, similar, complete, embed_new, k=k, max_per_artist=max_per_artist
    )
    _print_recommendations(rec.name, title, results, as_json=as_json)


def _two_stage(
    recommender: Path | None,
    data: Path,
    seeds: str | None,
    k: int,
    max_per_artist: int | None,
    as_json: bool,
    is_next: bool,
) -> None:
    """``recommend --recommender DIR --complete/--next SEEDS``: the two-stage answer."""
    from songspace.serving.twostage import ServedRecommender

    if recommender is None or seeds is None:
        raise ParameterError(
            "--recommender",
            "--recommender DIR with --complete or --next",
            "--next without --recommender" if recommender is None else "another query",
            fix="fit one with `songspace recommender fit DATA -o DIR` and pass --recommender DIR",
        )
    rec = ServedRecommender.from_dir(recommender, data)
    ids = [s.strip() for s in seeds.split(",") if s.strip()]
    results = rec.recommend(ids, k, max_per_artist=max_per_artist)
    what = f"the next tracks after {ids[-1]}" if is_next else f"continuation of {len(ids)} seeds"
    _print_recommendations(rec.name, what, results, as_json=as_json)


def _recommendations(
    rec: Recommender,
    similar: str | None,
    complete: str | None,
    embed_new: Path | None,
    *,
    k: int,
    max_per_artist: int | None,
) -> tuple[list[Neighbour], str]:
    """The results of the one query given (``--similar``, ``--complete`` or
    ``--embed-new``) and the title that says what they answer."""
    if similar is not None:
        track_id = rec.find_track(similar, "--similar")
        results = rec.similar(track_id, k, max_per_artist=max_per_artist)
        return results, f"tracks similar to {track_id}"
    if complete is not None:
        seeds = [rec.find_track(s.strip(), "--complete") for s in complete.split(",") if s.strip()]
        results = rec.complete(seeds, k, max_per_artist=max_per_artist)
        return results, f"continuation of {len(seeds)} seed tracks"
    assert embed_new is not None
    new = rec.embed_new(_read_track_json(embed_new), k, max_per_artist=max_per_artist)
    return new.neighbours, f"neighbours of the new track {new.track_id}"


def _read_track_json(path: Path) -> Any:
    """The new-track JSON object of ``--embed-new`` (a FormatError when unreadable)."""
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        from songspace.errors import FormatError

        raise FormatError(
            f"expected a readable JSON track object, found {exc}", path=path
        ) from None


def _print_recommendations(
    name: str, title: str, results: list[Neighbour], *, as_json: bool
) -> None:
    """The results as JSON (``--json``) or as a table titled by the model and the query."""
    if as_json:
        import json

        out_console.print_json(
            json.dumps({"model": name, "results": [r.to_dict() for r in results]})
        )
        return
    table = Table(title=escape(f"{name}: {title}"))
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


def serve_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (one model each).")],
    data: Annotated[Path, typer.Option("--data", help="The dataset the runs were trained on.")],
    host: Annotated[
        str, typer.Option("--host", help="Bind address (loopback by default).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
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
    max_body: Annotated[
        int, typer.Option("--max-body", help="Largest request body (bytes).")
    ] = DEFAULT_MAX_BODY,
    index: IndexOpt = DEFAULT_INDEX,
    exact_max: ExactMaxOpt = DEFAULT_EXACT_MAX,
    m: HnswMOpt = DEFAULT_M,
    ef_construction: EfConstructionOpt = DEFAULT_EF_CONSTRUCTION,
    ef_search: EfSearchOpt = DEFAULT_EF_SEARCH,
    search_threads: Annotated[
        int, typer.Option("--search-threads", help="faiss threads per search.")
    ] = DEFAULT_SEARCH_THREADS,
    recommender: Annotated[
        Path | None,
        typer.Option(
            "--recommender",
            metavar="DIR",
            help="Also serve a fitted two-stage recommender (`songspace recommender fit -o "
            "DIR`, on --data): POST /complete (unless the request names a model) and POST "
            "/next answer through both stages.",
        ),
    ] = None,
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
        recommender=recommender,
        options=_index_options(index, exact_max, m, ef_construction, ef_search),
    )
