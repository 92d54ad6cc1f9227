"""Track and artist metadata tables, and their join onto a dataset (SPEC §1).

Track metadata (e.g. the 114k Spotify tracks table) joins by track id; artist
metadata (e.g. ``data_w_genres.csv``) joins by normalised artist name. For every
feature the track's own value is used where present, else its artist's, else it
is marked unknown: nothing is invented. The join reports, per feature group,
which share of tracks (and of sequence entries) got values at each level.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from songspace.data.builder import normalise_name
from songspace.data.dataset import Dataset, normalise_tracks
from songspace.data.features import (
    AUDIO_COLUMNS,
    genre_group,
    popularity_group,
    primary_genres,
    scale_columns,
)
from songspace.errors import (
    DuplicateError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
    ParameterError,
)

logger = logging.getLogger("songspace")

ACOUSTIC_PREFIX = "acoustic_vector_"
NUMERIC_FIELDS = ("popularity", *AUDIO_COLUMNS)


# ---------------------------------------------------------------- file access
def iter_chunks(path: str | Path, chunk_rows: int = 50_000) -> Iterator[tuple[pd.DataFrame, int]]:
    """Yield (chunk, line number of its first row) from a CSV (as strings) or Parquet file.

    CSV cells are kept as text (empty = missing) so that values can be checked
    and reported with their line; Parquet keeps its types.
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(
            "expected a CSV or Parquet file, found nothing" if not path.exists()
            else "expected a file, found a directory",
            path=path,
            fix="check the path",
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        pf = pq.ParquetFile(path)
        line = 1
        for batch in pf.iter_batches(batch_size=chunk_rows):
            df = batch.to_pandas()
            yield df, line
            line += len(df)
        return
    try:
        reader = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[], chunksize=chunk_rows
        )
        line = 2
        for df in reader:
            yield df, line
            line += len(df)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise FormatError(
            f"expected a readable CSV file with a header row, found a parse error ({exc})",
            path=path,
            fix="repair the file or export it again as CSV",
        ) from exc


def resolve_columns(
    available: list[str],
    wanted: Mapping[str, str],
    required: tuple[str, ...],
    path: str | Path,
) -> dict[str, str]:
    """Map canonical names to file columns; raise MissingFieldError for required ones."""
    out = {}
    for canonical, col in wanted.items():
        if col in available:
            out[canonical] = col
        elif canonical in required:
            raise MissingFieldError(
                f"expected a column {col!r} for {canonical!r}, found columns {available}",
                path=path,
                field=col,
                fix=f"rename the column, or map it with --map {canonical}=COLUMN "
                f"(columns={{'{canonical}': 'COLUMN'}})",
            )
    return out


def to_float(values: pd.Series, *, path: str | Path, field: str, first_line: int) -> np.ndarray:
    """Parse a column to float64. Empty cells become NaN (missing); text that is not a
    finite number (``abc``, ``nan``, ``inf``) raises InvalidValueError naming its line."""
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = values.fillna("").astype(str).str.strip()
        num = pd.to_numeric(text.where(text != ""), errors="coerce").to_numpy(dtype=np.float64)
        bad = (text.to_numpy() != "") & ~np.isfinite(num)
    else:
        num = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isinf(num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"expected a finite number or an empty cell, found {values.iloc[i]!r}",
            path=path,
            line=first_line + i,
            field=field,
            fix="correct the value, or leave the cell empty to mark it unknown",
        )
    return num


def parse_genre_list(text: Any, *, path: str | Path, line: int, field: str) -> list[str]:
    """Parse a genres cell: a Python/JSON list string ``['a', 'b']`` or ``a;b``."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    if isinstance(text, list | tuple | np.ndarray):
        return [str(g).strip() for g in text if str(g).strip()]
    s = str(text).strip()
    if not s:
        return []
    if s.startswith("["):
        try:
            value = ast.literal_eval(s)
        except (ValueError, SyntaxError) as exc:
            raise InvalidValueError(
                f"expected a list of genre strings like ['pop', 'rock'], found {s[:60]!r}",
                path=path, line=line, field=field,
                fix="repair the quoting of this cell",
            ) from exc
        if not isinstance(value, list | tuple) or not all(isinstance(g, str) for g in value):
            raise InvalidValueError(
                f"expected a list of strings, found {s[:60]!r}",
                path=path, line=line, field=field, fix="repair this cell",
            )
        return [g.strip() for g in value if g.strip()]
    return [g.strip() for g in s.split(";") if g.strip()]


# ------------------------------------------------------------------- readers
def _numeric_fields(available: list[str], columns: Mapping[str, str]) -> dict[str, str]:
    names = list(NUMERIC_FIELDS) + [c for c in available if c.startswith(ACOUSTIC_PREFIX)]
    return {n: columns.get(n, n) for n in names}


def read_track_metadata(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    duplicates: Literal["merge", "error"] = "merge",
    chunk_rows: int = 50_000,
) -> pd.DataFrame:
    """Read a track metadata table into a frame indexed by ``track_id``.

    Canonical fields: ``track_id`` (required); ``genre`` (one genre per row; a
    track listed under several genres has several rows, as in the 114k table,
    whose ``track_genre`` is used by default) and/or ``genres`` (a list cell);
    ``artist_name``; ``popularity`` (0-100) and the audio descriptors of
    :data:`AUDIO_COLUMNS`; any ``acoustic_vector_*`` columns. ``columns`` maps a
    canonical field to the file's column.

    Rows of one track that differ only in genre are merged (genres unioned).
    Rows that disagree on a numeric value are a DuplicateError with
    ``duplicates="error"``; with ``"merge"`` (default) the values are averaged and
    the number of such tracks is logged.
    """
    if duplicates not in ("merge", "error"):
        raise ParameterError("duplicates", "`duplicates in ('merge', 'error')`", duplicates)
    columns = dict(columns or {})
    frames = []
    mapping: dict[str, str] | None = None
    for df, first in iter_chunks(path, chunk_rows):
        if mapping is None:
            available = list(df.columns)
            wanted = {"track_id": columns.get("track_id", "track_id")}
            genre_col = columns.get("genre", "track_genre" if "track_genre" in available else "genre")
            wanted["genre"] = genre_col
            wanted["genres"] = columns.get("genres", "genres")
            wanted["artist_name"] = columns.get("artist_name", "artists" if "artists" in available else "artist_name")
            wanted.update(_numeric_fields(available, columns))
            mapping = resolve_columns(available, wanted, ("track_id",), path)
        out = pd.DataFrame({"_line": np.arange(first, first + len(df))})
        ids = df[mapping["track_id"]].astype(str).str.strip()
        empty = (ids == "") | df[mapping["track_id"]].isna().to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise InvalidValueError(
                "expected a track id, found an empty cell",
                path=path, line=first + i, field=mapping["track_id"],
                fix="fill in the id or remove the row",
            )
        out["track_id"] = ids.to_numpy()
        genre_lists = [[] for _ in range(len(df))]
        if "genre" in mapping:
            for k, g in enumerate(df[mapping["genre"]].tolist()):
                if isinstance(g, str) and g.strip():
                    genre_lists[k].append(g.strip())
        if "genres" in mapping:
            for k, g in enumerate(df[mapping["genres"]].tolist()):
                genre_lists[k].extend(parse_genre_list(g, path=path, line=first + k, field=mapping["genres"]))
        out["genres"] = genre_lists
        if "artist_name" in mapping:
            out["artist_name"] = df[mapping["artist_name"]].to_numpy()
        for canonical, col in mapping.items():
            if canonical in ("track_id", "genre", "genres", "artist_name"):
                continue
            out[canonical] = to_float(df[col], path=path, field=col, first_line=first)
        frames.append(out)
    if not frames:
        raise FormatError("expected at least one data row, found none", path=path,
                          fix="pass a non-empty metadata table")
    table = pd.concat(frames, ignore_index=True)
    return _merge_duplicate_tracks(table, path=path, duplicates=duplicates, mapping=mapping or {})


def _merge_duplicate_tracks(
    table: pd.DataFrame, *, path: str | Path, duplicates: str, mapping: Mapping[str, str]
) -> pd.DataFrame:
    numeric = [c for c in table.columns if c not in ("_line", "track_id", "genres", "artist_name")]
    dup_mask = table["track_id"].duplicated(keep=False)
    if not dup_mask.any():
        return table.drop(columns="_line").set_index("track_id")
    d = table[dup_mask]
    conflicts = d.groupby("track_id", sort=False)[numeric].nunique(dropna=False) > 1
    conflicting = conflicts.any(axis=1)
    if conflicting.any() and duplicates == "error":
        tid = conflicting.index[np.flatnonzero(conflicting.to_numpy())[0]]
        field = conflicts.columns[np.flatnonzero(conflicts.loc[tid].to_numpy())[0]]
        rows = d[d["track_id"] == tid]
        raise DuplicateError(
            f"expected one value of {field!r} per track, found {rows[field].tolist()} for "
            f"track {tid!r} on lines {rows['_line'].tolist()}",
            path=path, line=int(rows["_line"].iloc[1]), field=mapping.get(field, field),
            fix="remove the duplicate rows, or pass duplicates='merge' (--merge-duplicates) "
            "to average them",
        )
    if conflicting.any():
        counts = conflicts.sum(axis=0)
        logger.warning(
            "%s: %d track ids have rows with differing values (%s); averaged",
            path, int(conflicting.sum()),
            ", ".join(f"{c}: {int(n)}" for c, n in counts.items() if n),
        )
    agg: dict[str, Any] = {c: "mean" for c in numeric}
    agg["genres"] = lambda s: list(dict.fromkeys(g for gl in s for g in gl))
    if "artist_name" in table.columns:
        agg["artist_name"] = "first"
    merged = table.groupby("track_id", sort=False).agg(agg)
    return merged


def read_artist_metadata(
    path: str | Path, *, columns: Mapping[str, str] | None = None, chunk_rows: int = 50_000
) -> pd.DataFrame:
    """Read an artist table (e.g. ``data_w_genres.csv``) indexed by normalised artist name.

    Canonical fields: ``artist_name`` (default column ``artists``, required),
    ``genres`` (a list cell), ``popularity`` and the audio descriptors (artist
    means). Names that normalise to the same key belong to different artists we
    cannot tell apart: they are left out (unknown) and counted in the log.
    """
    columns = dict(columns or {})
    frames = []
    mapping: dict[str, str] | None = None
    for df, first in iter_chunks(path, chunk_rows):
        if mapping is None:
            available = list(df.columns)
            default_name = "artists" if "artists" in available else "artist_name"
            wanted = {
                "artist_name": columns.get("artist_name", default_name),
                "genres": columns.get("genres", "genres"),
                **_numeric_fields(available, columns),
            }
            mapping = resolve_columns(available, wanted, ("artist_name",), path)
        out = pd.DataFrame({"_line": np.arange(first, first + len(df))})
        keys = [normalise_name(n) for n in df[mapping["artist_name"]].tolist()]
        if any(k is None for k in keys):
            i = next(k for k, v in enumerate(keys) if v is None)
            raise InvalidValueError(
                "expected an artist name, found an empty cell",
                path=path, line=first + i, field=mapping["artist_name"],
                fix="fill in the name or remove the row",
            )
        out["artist_key"] = keys
        out["genres"] = (
            [parse_genre_list(g, path=path, line=first + k, field=mapping["genres"])
             for k, g in enumerate(df[mapping["genres"]].tolist())]
            if "genres" in mapping else [[] for _ in range(len(df))]
        )
        for canonical, col in mapping.items():
            if canonical not in ("artist_name", "genres"):
                out[canonical] = to_float(df[col], path=path, field=col, first_line=first)
        frames.append(out)
    if not frames:
        raise FormatError("expected at least one data row, found none", path=path,
                          fix="pass a non-empty artist table")
    table = pd.concat(frames, ignore_index=True)
    ambiguous = table["artist_key"].duplicated(keep=False)
    if ambiguous.any():
        logger.warning(
            "%s: %d artist names are shared by several rows (%d names); they are left "
            "unknown because the rows cannot be told apart",
            path, int(ambiguous.sum()), table.loc[ambiguous, "artist_key"].nunique(),
        )
        table = table[~ambiguous]
    return table.drop(columns="_line").set_index("artist_key")


# ---------------------------------------------------------------------- join
def attach_metadata(
    dataset: Dataset,
    *,
    tracks: pd.DataFrame | None = None,
    artists: pd.DataFrame | None = None,
    top_genres: int = 50,
) -> Dataset:
    """Join metadata onto ``dataset``; return it with genre/popularity/audio/acoustic groups.

    ``tracks`` is a frame from :func:`read_track_metadata` (or the MSSD track
    features reader), ``artists`` one from :func:`read_artist_metadata`. Values
    come from the track first, then the artist; the rest stay unknown. The
    coverage of each group, by level, is stored in ``dataset.source["coverage"]``
    and logged.
    """
    if top_genres < 1:
        raise ParameterError("top_genres", "`top_genres >= 1`", top_genres)
    n = dataset.n_tracks
    ids = dataset.tracks["track_id"].tolist()
    tm = tracks.reindex(ids) if tracks is not None else pd.DataFrame(index=ids)
    keys = [normalise_name(a) for a in dataset.tracks["artist_name"].tolist()]
    am = artists.reindex(keys) if artists is not None else pd.DataFrame(index=keys)
    plays = dataset.play_counts().astype(np.float64)
    report: dict[str, dict[str, float]] = {}

    def levels(track_known: np.ndarray, known: np.ndarray) -> dict[str, float]:
        """Shares of tracks (and entries) known from the track, from the artist, or not."""
        from_artist = known & ~track_known
        total = max(plays.sum(), 1.0)
        return {
            "track_level": float(track_known.mean()) if n else 0.0,
            "artist_level": float(from_artist.mean()) if n else 0.0,
            "unknown": float((~known).mean()) if n else 0.0,
            "entries_track_level": float(plays[track_known].sum() / total),
            "entries_artist_level": float(plays[from_artist].sum() / total),
        }

    # Genres.
    def lists(frame: pd.DataFrame) -> list[list[str]]:
        if "genres" not in frame.columns:
            return [[] for _ in range(n)]
        return [g if isinstance(g, list) else [] for g in frame["genres"].tolist()]

    t_genres, a_genres = lists(tm), lists(am)
    genres = [tg if tg else ag for tg, ag in zip(t_genres, a_genres, strict=True)]
    t_has = np.array([bool(g) for g in t_genres])
    a_has = np.array([bool(g) for g in a_genres])
    occ = dataset.occurrences()
    if tracks is not None or artists is not None:
        out_tracks = dataset.tracks.copy()
        out_tracks["genres"] = genres
        out_tracks["genre"] = primary_genres(genres, occ)
        out_tracks = normalise_tracks(out_tracks)
    else:
        out_tracks = dataset.tracks
    features = dict(dataset.features)
    if t_has.any() or a_has.any():
        features["genre"] = genre_group(genres, occ, top_g=top_genres)
        report["genre"] = levels(t_has, t_has | a_has)

    # Numeric fields: track value, else artist value, per column.
    def pick(cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        def block(frame: pd.DataFrame) -> np.ndarray:
            return np.column_stack([
                frame[c].to_numpy(dtype=np.float64, na_value=np.nan) if c in frame.columns
                else np.full(n, np.nan) for c in cols
            ])
        t, a = block(tm), block(am)
        return np.where(np.isnan(t), a, t), ~np.isnan(t).any(axis=1)

    audio_cols = [c for c in AUDIO_COLUMNS if c in tm.columns or c in am.columns]
    if audio_cols:
        raw, track_known = pick(audio_cols)
        features["audio"] = scale_columns("audio", audio_cols, raw)
        report["audio"] = levels(track_known, features["audio"].known_tracks)
    if "popularity" in tm.columns or "popularity" in am.columns:
        raw, track_known = pick(["popularity"])
        features["popularity"] = popularity_group(occ, dataset.n_sequences, raw[:, 0], "source")
        report["popularity_source"] = levels(track_known, ~np.isnan(raw[:, 0]))
    acoustic = sorted((c for c in tm.columns if c.startswith(ACOUSTIC_PREFIX)),
                      key=lambda c: int(c[len(ACOUSTIC_PREFIX):]) if c[len(ACOUSTIC_PREFIX):].isdigit() else 0)
    if acoustic:
        raw = tm[acoustic].to_numpy(dtype=np.float64, na_value=np.nan)
        features["acoustic"] = scale_columns("acoustic", acoustic, raw)
        known = features["acoustic"].known_tracks
        report["acoustic"] = levels(known, known)
    for group, rep in report.items():
        logger.info(
            "coverage %-18s track-level %5.1f%%  artist-level %5.1f%%  unknown %5.1f%% "
            "(entries: %5.1f%% track, %5.1f%% artist)",
            group, 100 * rep["track_level"], 100 * rep["artist_level"], 100 * rep["unknown"],
            100 * rep["entries_track_level"], 100 * rep["entries_artist_level"],
        )
    out = Dataset(
        tracks=out_tracks,
        indptr=dataset.indptr,
        indices=dataset.indices,
        sequence_ids=dataset.sequence_ids,
        timestamps=dataset.timestamps,
        skipped=dataset.skipped,
        features=features,
        source={**dataset.source, "coverage": report},
    )
    return out.validate()
