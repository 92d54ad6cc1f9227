"""Track and artist metadata tables, and their join onto a dataset (SPEC §1).

Track metadata (e.g. the 114k Spotify tracks table) joins by track id; artist
metadata (e.g. ``data_w_genres.csv``) joins by normalised artist name. For every
feature the track's own value is used where present, else its artist's, else it
is marked unknown: nothing is invented. The join reports, per feature group,
which share of tracks (and of sequence entries) got values at each level.

Tables are CSV/TSV or Parquet (by file name, else by content), read in chunks
through :mod:`songspace.data._tabular`: CSV cells as text, only the columns
used. Errors name the CSV line (header = line 1, blank lines counted) or the
Parquet row index.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from songspace.data._tabular import (
    check_chunk_rows,
    check_file,
    csv_header,
    iter_csv_chunks,
    iter_parquet_chunks,
    location,
    open_parquet,
    resolve_format,
    select_columns,
    separator,
    text_cells,
    to_float,
)
from songspace.data.builder import normalise_name
from songspace.data.dataset import Dataset, normalise_tracks
from songspace.data.defaults import DEFAULT_TOP_GENRES
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
    ParameterError,
)

logger = logging.getLogger(__name__)

ACOUSTIC_PREFIX = "acoustic_vector_"
NUMERIC_FIELDS = ("popularity", *AUDIO_COLUMNS)
_MISSING_FIX = (
    "rename the column, or map it with {option} {{canon}}=COLUMN "
    "(columns={{{{'{{canon}}': 'COLUMN'}}}})"
)
#: Fields a track metadata table may map (``--track-map FIELD=COLUMN``), besides
#: ``acoustic_vector_<N>`` columns.
TRACK_FIELDS = ("track_id", "track_name", "genre", "genres", "artist_name", *NUMERIC_FIELDS)
#: Text fields of a track table, attached to the dataset's tracks where it has none.
_TRACK_TEXT = ("track_name", "artist_name")
#: Fields an artist metadata table may map (``--artist-map FIELD=COLUMN``).
ARTIST_FIELDS = ("artist_name", "genres", *NUMERIC_FIELDS)
#: Below this share of matched rows a join is almost surely on the wrong key.
LOW_JOIN_SHARE = 0.01


def _is_acoustic(field: str) -> bool:
    return field.startswith(ACOUSTIC_PREFIX) and field[len(ACOUSTIC_PREFIX) :].isdigit()


def check_mapped_fields(
    columns: Mapping[str, str],
    valid: Sequence[str],
    option: str,
    path: str | Path,
    *,
    acoustic: bool = False,
) -> None:
    """ParameterError naming the valid fields when ``columns`` maps an unknown one
    (``acoustic``: ``acoustic_vector_<N>`` fields are valid too)."""
    unknown = [f for f in columns if f not in valid and not (acoustic and _is_acoustic(f))]
    if unknown:
        listed = ", ".join(valid) + (f" or {ACOUSTIC_PREFIX}<N>" if acoustic else "")
        raise ParameterError(
            option,
            f"each FIELD one of {listed}",
            ", ".join(f"{f}={columns[f]}" for f in unknown),
            fix=f"correct the field name in {option} FIELD=COLUMN for {path}",
        )


# ---------------------------------------------------------------- file access
@dataclass(frozen=True)
class _Table:
    """An opened metadata table: where it is, how to read it and its column names."""

    path: Path
    columns: list[str]
    sep: str = ","
    parquet_file: pq.ParquetFile | None = None

    @property
    def parquet(self) -> bool:
        return self.parquet_file is not None

    @classmethod
    def open(cls, path: str | Path, what: str) -> _Table:
        p = check_file(path, what)
        fmt = resolve_format(p, None)
        if fmt == "parquet":
            pf = open_parquet(p)
            return cls(p, list(pf.schema_arrow.names), parquet_file=pf)
        sep = separator(fmt)
        return cls(p, csv_header(p, sep), sep)

    def select(
        self, wanted: Mapping[str, str], columns: Mapping[str, str], required: str, option: str
    ) -> dict[str, str]:
        """Canonical field -> column; ``columns`` holds the fields the user mapped
        (``option`` is the CLI option that maps them, for the fix)."""
        return select_columns(
            self.columns,
            wanted,
            required=(required,),
            mapped=[c for c in columns if c in wanted],
            path=self.path,
            fix=_MISSING_FIX.format(option=option),
        )

    def chunks(
        self, names: Mapping[str, str], chunk_rows: int, text: Collection[str]
    ) -> Iterator[tuple[dict[str, pd.Series], np.ndarray]]:
        """Yield ({canonical field: cells}, CSV lines or Parquet row indices) per chunk.

        Only the columns in ``names`` are read; CSV cells are strings, Parquet
        columns keep their types except the fields in ``text``, read as strings.
        """
        file_cols = list(dict.fromkeys(names.values()))
        frames: Iterator[tuple[pd.DataFrame, np.ndarray]]
        if self.parquet_file is not None:
            as_text = {names[c] for c in text if c in names}
            frames = iter_parquet_chunks(
                self.parquet_file, self.path, file_cols, chunk_rows, as_text=as_text
            )
        else:
            frames = iter_csv_chunks(self.path, file_cols, chunk_rows, self.sep)
        for df, rows in frames:
            yield {canon: df[col] for canon, col in names.items()}, rows

    def at(self, row: int, field: str) -> dict[str, Any]:
        """Error location of a row: CSV line or Parquet row index."""
        return location(self.path, row, field, parquet=self.parquet)


def _object_column(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of ``values`` (lists stay whole cells)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def parse_genre_list(
    text: Any,
    *,
    path: str | Path,
    field: str,
    line: int | None = None,
    record: str | None = None,
) -> list[str]:
    """Parse a genres cell: a Python/JSON list string ``['a', 'b']``, ``a;b``, or a list.

    ``line`` (CSV) or ``record`` (e.g. "row index 3") locates the cell in errors.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    if isinstance(text, list | tuple | np.ndarray):
        return [str(g).strip() for g in text if str(g).strip()]
    s = str(text).strip()
    if not s:
        return []
    where: dict[str, Any] = {"path": path, "line": line, "record": record, "field": field}
    if s.startswith("["):
        try:
            value = ast.literal_eval(s)
        except (ValueError, SyntaxError) as exc:
            raise InvalidValueError(
                f"expected a list of genre strings like ['pop', 'rock'], found {s[:60]!r}",
                **where,
                fix="repair the quoting of this cell",
            ) from exc
        if not isinstance(value, list | tuple) or not all(isinstance(g, str) for g in value):
            raise InvalidValueError(
                f"expected a list of strings, found {s[:60]!r}",
                **where,
                fix="repair this cell",
            )
        return [g.strip() for g in value if g.strip()]
    return [g.strip() for g in s.split(";") if g.strip()]


# ------------------------------------------------------------------- readers
def _numeric_fields(available: list[str], columns: Mapping[str, str]) -> dict[str, str]:
    names = list(NUMERIC_FIELDS) + [c for c in available if c.startswith(ACOUSTIC_PREFIX)]
    names += [c for c in columns if _is_acoustic(c) and c not in names]  # mapped: must exist
    return {n: columns.get(n, n) for n in names}


def _add_numeric(
    out: pd.DataFrame,
    cols: Mapping[str, pd.Series],
    names: Mapping[str, str],
    rows: np.ndarray,
    table: Any,
    skip: tuple[str, ...],
) -> None:
    """Parse every mapped field that is not text (``skip`` and ``artist_name``) as floats."""
    for canonical, col in names.items():
        if canonical not in (*skip, *_TRACK_TEXT):
            out[canonical] = to_float(cols[canonical], rows, table.path, col, parquet=table.parquet)


def _concat(frames: list[pd.DataFrame], table: Any, what: str) -> pd.DataFrame:
    if not frames:
        raise FormatError(
            "expected at least one data row, found none",
            path=table.path,
            fix=f"pass a non-empty {what}",
        )
    return pd.concat(frames, ignore_index=True)


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
    ``track_name`` and ``artist_name`` (attached to the dataset's tracks that have
    none); ``popularity`` (0-100) and the audio descriptors of
    :data:`AUDIO_COLUMNS`; any ``acoustic_vector_*`` columns. ``columns`` maps a
    canonical field to the file's column; a mapped column must exist.

    Rows of one track that differ only in genre are merged (genres unioned).
    Rows that disagree on a numeric value are a DuplicateError with
    ``duplicates="error"``; with ``"merge"`` (default) the values are averaged and
    the number of such tracks is logged.
    """
    if duplicates not in ("merge", "error"):
        raise ParameterError("duplicates", "`duplicates in ('merge', 'error')`", duplicates)
    check_chunk_rows(chunk_rows)
    columns = dict(columns or {})
    check_mapped_fields(columns, TRACK_FIELDS, "--track-map", path, acoustic=True)
    table = _Table.open(path, "a track metadata table (CSV or Parquet)")
    found = table.columns
    wanted = {
        "track_id": columns.get("track_id", "track_id"),
        "track_name": columns.get("track_name", "track_name"),
        "genre": columns.get("genre", "track_genre" if "track_genre" in found else "genre"),
        "genres": columns.get("genres", "genres"),
        "artist_name": columns.get(
            "artist_name", "artists" if "artists" in found else "artist_name"
        ),
        **_numeric_fields(found, columns),
    }
    names = table.select(wanted, columns, "track_id", "--track-map")
    frames = []
    for cols, rows in table.chunks(names, chunk_rows, text=("track_id", *_TRACK_TEXT)):
        ids = text_cells(cols["track_id"])
        empty = np.flatnonzero((ids == "").to_numpy())
        if len(empty):
            raise InvalidValueError(
                "expected a track id, found an empty cell",
                **table.at(rows[empty[0]], names["track_id"]),
                fix="fill in the id or remove the row",
            )
        out = pd.DataFrame({"_row": rows, "track_id": ids.to_numpy(dtype=object)})
        genre_lists: list[list[str]] = [[] for _ in range(len(rows))]
        if "genre" in names:
            for k, g in enumerate(cols["genre"].tolist()):
                if isinstance(g, str) and g.strip():
                    genre_lists[k].append(g.strip())
        if "genres" in names:
            for k, g in enumerate(cols["genres"].tolist()):
                genre_lists[k].extend(parse_genre_list(g, **table.at(rows[k], names["genres"])))
        out["genres"] = _object_column(genre_lists)
        for field in _TRACK_TEXT:
            if field in names:
                text = text_cells(cols[field])
                out[field] = text.where(text != "", None).to_numpy(dtype=object)
        _add_numeric(out, cols, names, rows, table, skip=("track_id", "genre", "genres"))
        frames.append(out)
    merged = _concat(frames, table, "metadata table")
    return _merge_duplicate_tracks(merged, source=table, duplicates=duplicates, names=names)


def _merge_duplicate_tracks(
    table: pd.DataFrame, *, source: _Table, duplicates: str, names: Mapping[str, str]
) -> pd.DataFrame:
    numeric = [c for c in table.columns if c not in ("_row", "track_id", "genres", *_TRACK_TEXT)]
    dup_mask = table["track_id"].duplicated(keep=False)
    if not dup_mask.any():
        return table.drop(columns="_row").set_index("track_id")
    d = table[dup_mask]
    conflicts = d.groupby("track_id", sort=False)[numeric].nunique(dropna=False) > 1
    conflicting = conflicts.any(axis=1)
    if conflicting.any() and duplicates == "error":
        tid = conflicting.index[np.flatnonzero(conflicting.to_numpy())[0]]
        field = conflicts.columns[np.flatnonzero(conflicts.loc[tid].to_numpy())[0]]
        rows = d[d["track_id"] == tid]
        where = "row indices" if source.parquet else "lines"
        raise DuplicateError(
            f"expected one value of {field!r} per track, found {rows[field].tolist()} for "
            f"track {tid!r} on {where} {rows['_row'].tolist()}",
            **source.at(int(rows["_row"].iloc[1]), names.get(field, field)),
            fix="remove the duplicate rows, or average them: duplicates='merge' (the CLI's "
            "default, without --strict-duplicates)",
        )
    if conflicting.any():
        counts = conflicts.sum(axis=0)
        logger.warning(
            "%s: %d track ids have rows with differing values (%s); averaged",
            source.path,
            int(conflicting.sum()),
            ", ".join(f"{c}: {int(n)}" for c, n in counts.items() if n),
        )
    agg: dict[str, Any] = {c: "mean" for c in numeric}
    agg["genres"] = lambda s: list(dict.fromkeys(g for gl in s for g in gl))
    for field in _TRACK_TEXT:
        if field in table.columns:
            agg[field] = "first"
    return table.groupby("track_id", sort=False).agg(agg)


def read_artist_metadata(
    path: str | Path, *, columns: Mapping[str, str] | None = None, chunk_rows: int = 50_000
) -> pd.DataFrame:
    """Read an artist table (e.g. ``data_w_genres.csv``) indexed by normalised artist name.

    Canonical fields: ``artist_name`` (default column ``artists``, required),
    ``genres`` (a list cell), ``popularity`` and the audio descriptors (artist
    means). Names that normalise to the same key belong to different artists we
    cannot tell apart: they are left out (unknown) and counted in the log.
    """
    check_chunk_rows(chunk_rows)
    columns = dict(columns or {})
    check_mapped_fields(columns, ARTIST_FIELDS, "--artist-map", path)
    table = _Table.open(path, "an artist metadata table (CSV or Parquet)")
    found = table.columns
    default_name = "artists" if "artists" in found else "artist_name"
    wanted = {
        "artist_name": columns.get("artist_name", default_name),
        "genres": columns.get("genres", "genres"),
        **_numeric_fields(found, columns),
    }
    names = table.select(wanted, columns, "artist_name", "--artist-map")
    frames = []
    for cols, rows in table.chunks(names, chunk_rows, text=("artist_name",)):
        keys = [normalise_name(n) for n in cols["artist_name"].tolist()]
        missing = [k for k, v in enumerate(keys) if v is None]
        if missing:
            raise InvalidValueError(
                "expected an artist name, found an empty cell",
                **table.at(rows[missing[0]], names["artist_name"]),
                fix="fill in the name or remove the row",
            )
        out = pd.DataFrame({"_row": rows, "artist_key": keys})
        genres = (
            [
                parse_genre_list(g, **table.at(rows[k], names["genres"]))
                for k, g in enumerate(cols["genres"].tolist())
            ]
            if "genres" in names
            else [[] for _ in range(len(rows))]
        )
        out["genres"] = _object_column(genres)
        _add_numeric(out, cols, names, rows, table, skip=("genres",))
        frames.append(out)
    merged = _concat(frames, table, "artist table")
    ambiguous = merged["artist_key"].duplicated(keep=False)
    if ambiguous.any():
        logger.warning(
            "%s: %d artist names are shared by several rows (%d names); they are left "
            "unknown because the rows cannot be told apart",
            table.path,
            int(ambiguous.sum()),
            merged.loc[ambiguous, "artist_key"].nunique(),
        )
        merged = merged[~ambiguous]
    return merged.drop(columns="_row").set_index("artist_key")


# ---------------------------------------------------------------------- join
def _names_from_track_table(dataset_tracks: pd.DataFrame, tm: pd.DataFrame) -> pd.DataFrame:
    """The dataset's tracks table with track names, and artist names (and ids: the
    normalised name), taken from the track metadata where the dataset has none
    (``--track-map track_name=...``, ``--track-map artist_name=...``)."""
    if not any(f in tm.columns for f in _TRACK_TEXT):
        return dataset_tracks
    out = dataset_tracks.copy()
    if "track_name" in tm.columns:
        names = out["track_name"].tolist()
        for i, extra in enumerate(tm["track_name"].tolist()):
            if names[i] is None and isinstance(extra, str) and extra.strip():
                names[i] = extra.strip()
        out["track_name"] = pd.Series(names, dtype=object)
    if "artist_name" in tm.columns:
        artists = out["artist_name"].tolist()
        ids = out["artist_id"].tolist()
        for i, extra in enumerate(tm["artist_name"].tolist()):
            if artists[i] is None and isinstance(extra, str) and normalise_name(extra):
                artists[i] = extra.strip()
                if ids[i] is None:
                    ids[i] = normalise_name(extra)
        out["artist_name"] = pd.Series(artists, dtype=object)
        out["artist_id"] = pd.Series(ids, dtype=object)
    return out


#: Share of sequences whose tracks all share a label above which the label is
#: probably the sequence's own (e.g. a playlist's genre copied onto its tracks).
SEQUENCE_LABEL_SHARE = 0.9


def _warn_if_sequence_label(dataset: Dataset, labels: list[list[str]], group: str) -> None:
    """Warn when, in nearly every sequence of 3+ labelled tracks, all tracks share a label.

    A track-level label varies inside a playlist; one copied from the playlist (the
    TidyTuesday export's ``playlist_genre``) does not, and as a feature it leaks the
    held-out answer (a completion model reads the playlist's genre off any seed track).
    """
    checked = shared = 0
    distinct: set[str] = set()
    for s in range(dataset.n_sequences):
        lists = [labels[t] for t in set(dataset.sequence(s).tolist()) if labels[t]]
        if len(lists) < 3:
            continue
        checked += 1
        common = set(lists[0]).intersection(*lists[1:])
        shared += bool(common)
        distinct.update(lists[0])
    if checked >= 10 and len(distinct) >= 2 and shared >= SEQUENCE_LABEL_SHARE * checked:
        logger.warning(
            "%s: in %d of %d sequences (%.0f%%) every track shares a %s label; if the "
            "column is a label of the sequence (e.g. the playlist's own genre) rather than "
            "of the track, it leaks the held-out answer into the features and inflates "
            "completion scores. Fix: map a track-level column (--track-map %s=COLUMN), or "
            "leave the column out",
            group,
            shared,
            checked,
            100 * shared / checked,
            group,
            group,
        )


def _warn_on_low_joins(
    ids: list[str],
    keys: list[str | None],
    tracks: pd.DataFrame | None,
    artists: pd.DataFrame | None,
) -> None:
    """Warn when a metadata table matches fewer than :data:`LOW_JOIN_SHARE` of the tracks."""
    n = len(ids)
    if not n:
        return
    if tracks is not None:
        hit = int(np.count_nonzero(pd.Index(ids).isin(tracks.index)))
        if hit < LOW_JOIN_SHARE * n:
            logger.warning(
                "track metadata matched %d of %d tracks (%.2f%%) by track id: the ids are "
                "probably of another kind (e.g. URIs vs bare ids, another catalogue). Fix: "
                "map the table's id column with --track-map track_id=COLUMN",
                hit,
                n,
                100 * hit / n,
            )
    if artists is not None:
        named = [k for k in keys if k is not None]
        hit = int(np.count_nonzero(pd.Index(named).isin(artists.index))) if named else 0
        if hit < LOW_JOIN_SHARE * n:
            why = (
                "the dataset's tracks have no artist names; map them from the track table "
                "with --track-map artist_name=COLUMN"
                if not named
                else "check the artist table's name column (--artist-map artist_name=COLUMN)"
            )
            logger.warning(
                "artist metadata matched %d of %d tracks (%.2f%%) by artist name. Fix: %s",
                hit,
                n,
                100 * hit / n,
                why,
            )


def attach_metadata(
    dataset: Dataset,
    *,
    tracks: pd.DataFrame | None = None,
    artists: pd.DataFrame | None = None,
    top_genres: int = DEFAULT_TOP_GENRES,
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
    ids = dataset.tracks["track_id"].tolist()
    tm = tracks.reindex(ids) if tracks is not None else pd.DataFrame(index=ids)
    base_tracks = _names_from_track_table(dataset.tracks, tm)
    keys = [normalise_name(a) for a in base_tracks["artist_name"].tolist()]
    am = artists.reindex(keys) if artists is not None else pd.DataFrame(index=keys)
    _warn_on_low_joins(ids, keys, tracks, artists)
    join = _MetadataJoin(dataset, tm, am)
    genres, t_has, a_has = join.genre_lists()
    if tracks is not None or artists is not None:
        out_tracks = base_tracks.copy()
        out_tracks["genres"] = genres
        out_tracks["genre"] = primary_genres(genres, join.occ)
        out_tracks = normalise_tracks(out_tracks)
    else:
        out_tracks = dataset.tracks
    join.add_genre(genres, t_has, a_has, top_genres)
    join.add_audio()
    join.add_popularity()
    join.add_acoustic()
    join.log_coverage()
    out = Dataset(
        tracks=out_tracks,
        indptr=dataset.indptr,
        indices=dataset.indices,
        sequence_ids=dataset.sequence_ids,
        sequence_names=dataset.sequence_names,
        timestamps=dataset.timestamps,
        skipped=dataset.skipped,
        features=join.features,
        source={**dataset.source, "coverage": join.report},
    )
    return out.validate()


def _acoustic_index(column: str) -> int:
    suffix = column[len(ACOUSTIC_PREFIX) :]
    return int(suffix) if suffix.isdigit() else 0


class _MetadataJoin:
    """The feature groups of :func:`attach_metadata` and their coverage report, from the
    track metadata ``tm`` and artist metadata ``am`` aligned to the dataset's tracks:
    per feature the track's value, else its artist's, else unknown."""

    def __init__(self, dataset: Dataset, tm: pd.DataFrame, am: pd.DataFrame) -> None:
        self.dataset, self.tm, self.am = dataset, tm, am
        self.n = dataset.n_tracks
        self.plays = dataset.play_counts().astype(np.float64)
        self.occ = dataset.occurrences()
        self.features = dict(dataset.features)
        self.report: dict[str, dict[str, float]] = {}

    def levels(self, track_known: np.ndarray, known: np.ndarray) -> dict[str, float]:
        """Shares of tracks (and entries) known from the track, from the artist, or not."""
        n, plays = self.n, self.plays
        from_artist = known & ~track_known
        total = max(plays.sum(), 1.0)
        return {
            "track_level": float(track_known.mean()) if n else 0.0,
            "artist_level": float(from_artist.mean()) if n else 0.0,
            "unknown": float((~known).mean()) if n else 0.0,
            "entries_track_level": float(plays[track_known].sum() / total),
            "entries_artist_level": float(plays[from_artist].sum() / total),
        }

    def _lists(self, frame: pd.DataFrame) -> list[list[str]]:
        """Each track's genre list from ``frame`` (empty where it has none)."""
        if "genres" not in frame.columns:
            return [[] for _ in range(self.n)]
        return [g if isinstance(g, list) else [] for g in frame["genres"].tolist()]

    def genre_lists(self) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
        """(each track's genres: its own, else its artist's; whether the track has genres;
        whether its artist has)."""
        t_genres, a_genres = self._lists(self.tm), self._lists(self.am)
        genres = [tg if tg else ag for tg, ag in zip(t_genres, a_genres, strict=True)]
        t_has = np.array([bool(g) for g in t_genres])
        a_has = np.array([bool(g) for g in a_genres])
        return genres, t_has, a_has

    def add_genre(
        self, genres: list[list[str]], t_has: np.ndarray, a_has: np.ndarray, top_genres: int
    ) -> None:
        """The genre group, where any track or artist has genres (warns when the genre
        looks like a label of the sequence)."""
        if t_has.any() or a_has.any():
            _warn_if_sequence_label(self.dataset, genres, "genre")
            self.features["genre"] = genre_group(genres, self.occ, top_g=top_genres)
            self.report["genre"] = self.levels(t_has, t_has | a_has)

    def _block(self, frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
        """``cols`` of ``frame`` as floats (NaN where missing or absent)."""
        return np.column_stack(
            [
                frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
                if c in frame.columns
                else np.full(self.n, np.nan)
                for c in cols
            ]
        )

    def pick(self, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(per column the track value, else the artist value; whether the track has all)."""
        t, a = self._block(self.tm, cols), self._block(self.am, cols)
        return np.where(np.isnan(t), a, t), ~np.isnan(t).any(axis=1)

    def add_audio(self) -> None:
        """The audio group over the audio columns either table has."""
        tm, am = self.tm, self.am
        audio_cols = [c for c in AUDIO_COLUMNS if c in tm.columns or c in am.columns]
        if audio_cols:
            raw, track_known = self.pick(audio_cols)
            self.features["audio"] = scale_columns("audio", audio_cols, raw)
            self.report["audio"] = self.levels(track_known, self.features["audio"].known_tracks)

    def add_popularity(self) -> None:
        """The popularity group with the tables' own popularity as its source column."""
        if "popularity" in self.tm.columns or "popularity" in self.am.columns:
            raw, track_known = self.pick(["popularity"])
            self.features["popularity"] = popularity_group(
                self.occ, self.dataset.n_sequences, raw[:, 0], "source"
            )
            self.report["popularity_source"] = self.levels(track_known, ~np.isnan(raw[:, 0]))

    def add_acoustic(self) -> None:
        """Acoustic vectors come from the track table only."""
        tm = self.tm
        acoustic = sorted(
            (c for c in tm.columns if c.startswith(ACOUSTIC_PREFIX)), key=_acoustic_index
        )
        if acoustic:
            raw = tm[acoustic].to_numpy(dtype=np.float64, na_value=np.nan)
            self.features["acoustic"] = scale_columns("acoustic", acoustic, raw)
            known = self.features["acoustic"].known_tracks
            self.report["acoustic"] = self.levels(known, known)

    def log_coverage(self) -> None:
        """Log each group's coverage by level."""
        for group, rep in self.report.items():
            logger.info(
                "coverage %-18s track-level %5.1f%%  artist-level %5.1f%%  unknown %5.1f%% "
                "(entries: %5.1f%% track, %5.1f%% artist)",
                group,
                100 * rep["track_level"],
                100 * rep["artist_level"],
                100 * rep["unknown"],
                100 * rep["entries_track_level"],
                100 * rep["entries_artist_level"],
            )
