"""Reader for long-format sequence tables in CSV or Parquet (SPEC §1).

One row per sequence entry with the canonical columns ``sequence_id, position,
track_id`` and optionally ``timestamp``, ``skipped``, ``track_name`` and
``artist_name``; a column mapping names the file's own columns. Several files
(or a folder of them) with one header are read as one table, in the given order.
Each file is read in chunks of ``chunk_rows`` rows and only compact integer
arrays are kept per entry (sequence code, position, track code, file, line,
optional timestamp and skip flag), plus one name per track, so memory grows with
the number of entries and the catalogue, not with the text of the files.

Locations in error messages: for CSV the line number with the header as line 1
(exact unless a quoted field holds a line break); for Parquet the 0-based row
index.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songspace.data._tabular import (
    check_chunk_rows,
    csv_header,
    float_cells,
    input_files,
    iter_csv_chunks,
    iter_parquet_chunks,
    location,
    open_parquet,
    resolve_format,
    select_columns,
    separator,
    sniff_separator,
    text_cells,
)
from songspace.data.builder import (
    SPOTIFY_SCHEME,
    KeyIndex,
    assemble_entries,
    finish_dataset,
    spotify_uri_kind,
    wrong_uri_message,
)
from songspace.data.dataset import Dataset
from songspace.errors import (
    DuplicateError,
    FormatError,
    InvalidValueError,
    ParameterError,
)
from songspace.progress import ProgressCallback, track

logger = logging.getLogger(__name__)

#: Canonical column names of the long format, required ones first.
CANONICAL_COLUMNS = (
    "sequence_id",
    "position",
    "track_id",
    "timestamp",
    "skipped",
    "track_name",
    "artist_name",
)
REQUIRED_COLUMNS = ("sequence_id", "position", "track_id")
#: Track attributes a long table may carry (a track's first non-empty value is kept).
NAME_COLUMNS = ("track_name", "artist_name")

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_EPOCH = pd.Timestamp(0, tz="UTC")
#: Largest |seconds since the epoch| accepted (exactly representable as float64).
_MAX_SECONDS = 2.0**53
#: Epoch values above this (year 5138) are almost surely milliseconds.
_MILLIS_HINT = 1e11


# ------------------------------------------------------------------ locations
@dataclass(frozen=True)
class _Place:
    """Where a row lives: CSV line numbers or Parquet row indices."""

    path: str
    parquet: bool

    def at(self, row: int, field: str) -> dict[str, Any]:
        return location(self.path, row, field, parquet=self.parquet)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _is_float_text(value: Any) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _shown(value: Any) -> str:
    """A cell for an error message: its repr, or words for a null/NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "a missing value"
    if isinstance(value, float | np.floating) and math.isnan(value):
        return "NaN"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _empty_msg(s: pd.Series, what: str) -> str:
    """Message for an empty cell: text columns have empty cells, typed ones nulls/NaN."""
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        return f"expected {what}, found an empty cell"
    return f"expected {what}, found a missing or NaN value"


_ROW_FIX = "correct or remove this row"


# -------------------------------------------------------------- value parsers
def _parse_ids(s: pd.Series, rows: np.ndarray, place: _Place, field: str, what: str) -> np.ndarray:
    """Identifier strings (kept verbatim); empty or white-space-only cells raise."""
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        raw = s.astype(object).where(s.notna(), "")
    else:
        raw = s.astype(str)
    values = raw.to_numpy(dtype=object)
    empty = (raw.astype(str).str.strip() == "").to_numpy()
    bad = _first(empty)
    if bad is not None:
        raise InvalidValueError(
            f"expected a non-empty {what}, found an empty cell",
            **place.at(rows[bad], field),
            fix=f"fill in the {what} or remove this row",
        )
    return values


def _check_track_uris(values: np.ndarray, rows: np.ndarray, place: _Place, field: str) -> None:
    """InvalidValueError for a track id that is a Spotify URI of another kind
    (``spotify:album:...``); ``spotify:track:<id>`` and other ids are kept verbatim."""
    text = pa.array(values, pa.string())
    uri = pc.starts_with(text, SPOTIFY_SCHEME, ignore_case=True)
    if not pc.any(uri).as_py():
        return
    for i in np.flatnonzero(uri.to_numpy(zero_copy_only=False)).tolist():
        value = str(values[i])
        kind = spotify_uri_kind(value)
        if kind != "track":
            raise InvalidValueError(
                wrong_uri_message(value, kind or "", "track"),
                **place.at(rows[i], field),
                fix="map the column that holds the tracks (--map track_id=COLUMN), or "
                "correct this row",
            )


def _parse_positions(s: pd.Series, rows: np.ndarray, place: _Place, field: str) -> np.ndarray:
    """Whole-number positions as int64; empty, non-numeric, non-finite or fractional raise."""
    if pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    values, empty = float_cells(s)
    with np.errstate(invalid="ignore"):
        bad_mask = empty | ~np.isfinite(values) | (values != np.floor(values))
        bad_mask |= np.abs(values) >= _MAX_SECONDS
    bad = _first(bad_mask)
    if bad is not None:
        raw = s.iloc[bad]
        if empty[bad]:
            msg = _empty_msg(s, "a position number")
        elif not _is_float_text(raw):
            msg = f"expected a numeric position, found {_shown(raw)}"
        elif not np.isfinite(values[bad]):
            msg = f"expected a finite position, found {_shown(raw)}"
        else:
            msg = f"expected a whole-number position, found {_shown(raw)}"
        raise InvalidValueError(msg, **place.at(rows[bad], field), fix=_ROW_FIX)
    return values.astype(np.int64)


def _parse_timestamps(s: pd.Series, rows: np.ndarray, place: _Place, field: str) -> np.ndarray:
    """Seconds since the epoch (int64) from integers or ISO-8601 strings.

    Numbers are seconds (fractions dropped); strings that are not numbers are
    parsed as ISO-8601, naive ones taken as UTC.
    """
    n = len(s)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        bad = _first(s.isna().to_numpy())
        if bad is not None:
            raise InvalidValueError(
                "expected a timestamp, found a missing value",
                **place.at(rows[bad], field),
                fix=_ROW_FIX,
            )
        ser = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        return ((ser - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    values, empty = float_cells(s)
    numeric = ~np.isnan(values)
    out = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    iso = ~numeric & ~empty
    if iso.any():
        text = text_cells(s)[iso]
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        secs = np.zeros(len(parsed), dtype=np.int64)
        if ok.any():
            secs[ok] = ((parsed[ok] - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
        out[iso] = secs
        failed[np.flatnonzero(iso)[~ok]] = True
    with np.errstate(invalid="ignore"):
        out_of_range = numeric & ~(np.abs(values) < _MAX_SECONDS)
    bad = _first(empty | failed | out_of_range)
    if bad is not None:
        raw = s.iloc[bad]
        if empty[bad]:
            msg = _empty_msg(s, "a timestamp")
        elif _is_float_text(raw) and not np.isfinite(float(str(raw))):
            msg = f"expected a finite timestamp, found {_shown(raw)}"
        elif out_of_range[bad]:
            msg = f"expected seconds since the epoch, found the out-of-range {_shown(raw)}"
        else:
            msg = (
                "expected seconds since the epoch (integer) or an ISO-8601 date-time, "
                f"found {_shown(raw)}"
            )
        raise InvalidValueError(msg, **place.at(rows[bad], field), fix=_ROW_FIX)
    if numeric.any():
        out[numeric] = np.floor(values[numeric]).astype(np.int64)
        if float(np.nanmax(values)) > _MILLIS_HINT:
            logger.warning(
                "%s: column '%s' holds epoch values above %.0e; songspace expects seconds, "
                "these look like milliseconds",
                place.path,
                field,
                _MILLIS_HINT,
            )
    return out


def _parse_flags(s: pd.Series, rows: np.ndarray, place: _Place, field: str) -> np.ndarray:
    """Booleans from bool columns, 0/1 numbers or text true/false/t/f/yes/no/1/0."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        values, empty = float_cells(s)
        bad_mask = empty | ~np.isin(values, (0.0, 1.0))
        out = values == 1.0
    else:
        text = text_cells(s).str.lower()
        is_true = text.isin(_TRUE).to_numpy()
        bad_mask = ~(is_true | text.isin(_FALSE).to_numpy())
        out = is_true
    bad = _first(bad_mask)
    if bad is not None:
        raise InvalidValueError(
            f"expected a skip flag (true/false, 1/0, yes/no), found {_shown(s.iloc[bad])}",
            **place.at(rows[bad], field),
            fix=_ROW_FIX,
        )
    return np.asarray(out, dtype=bool)


# ------------------------------------------------------------- the long reader
def _check_mapping(columns: Mapping[str, str] | None) -> dict[str, str]:
    mapping = dict(columns or {})
    for key, value in mapping.items():
        if key not in CANONICAL_COLUMNS:
            raise ParameterError(
                "columns",
                f"`key in {CANONICAL_COLUMNS}`",
                key,
                fix="map canonical names to the file's columns, e.g. "
                "{'sequence_id': 'session', 'track_id': 'song'}",
            )
        if not isinstance(value, str) or not value:
            raise ParameterError(
                "columns",
                f"a non-empty column name for columns[{key!r}]",
                value,
                fix="give the file's column name as a string",
            )
    # A listening log's time is its order: position and timestamp may share a column.
    targets = [
        v for k, v in mapping.items() if not (k == "position" and v == mapping.get("timestamp"))
    ]
    if len(set(targets)) != len(targets):
        raise ParameterError(
            "columns",
            "`each canonical name maps to its own file column`",
            mapping,
            fix="map each canonical name to its own column (only position and timestamp "
            "may share one)",
        )
    return mapping


class _Accumulator:
    """Compact per-entry arrays collected chunk by chunk, and one name per track."""

    def __init__(self, optional: Sequence[str], names: Sequence[str]) -> None:
        self.sequences = KeyIndex()
        self.tracks = KeyIndex()
        self.parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("seq", "pos", "track", "row", "file", *optional)
        }
        self.names: dict[str, list[Any]] = {c: [] for c in names}

    def add(
        self,
        cols: Mapping[str, pd.Series],
        rows: np.ndarray,
        place: _Place,
        names: Mapping[str, str],
        use_position: bool,
        file: int,
    ) -> None:
        seq = _parse_ids(cols["sequence_id"], rows, place, names["sequence_id"], "sequence id")
        trk = _parse_ids(cols["track_id"], rows, place, names["track_id"], "track id")
        _check_track_uris(trk, rows, place, names["track_id"])
        self.parts["seq"].append(self.sequences.encode(seq)[0])
        if use_position:
            self.parts["pos"].append(
                _parse_positions(cols["position"], rows, place, names["position"])
            )
        codes = self.tracks.encode(trk)[0]
        self.parts["track"].append(codes)
        self.parts["row"].append(np.asarray(rows, dtype=np.int64))
        self.parts["file"].append(np.full(len(rows), file, dtype=np.int32))
        if "timestamp" in self.parts:
            self.parts["timestamp"].append(
                _parse_timestamps(cols["timestamp"], rows, place, names["timestamp"])
            )
        if "skipped" in self.parts:
            self.parts["skipped"].append(
                _parse_flags(cols["skipped"], rows, place, names["skipped"])
            )
        for c, values in self.names.items():
            self._add_names(values, codes, text_cells(cols[c]).to_numpy(dtype=object))

    def _add_names(self, values: list[Any], codes: np.ndarray, cells: np.ndarray) -> None:
        """Give each track without a name yet its first non-empty cell."""
        values.extend([None] * (len(self.tracks) - len(values)))
        named = cells != ""
        if not named.any():
            return
        firsts = pd.DataFrame({"code": codes[named], "value": cells[named]})
        firsts = firsts.drop_duplicates("code")
        for code, value in zip(firsts["code"].tolist(), firsts["value"].tolist(), strict=True):
            if values[code] is None:
                values[code] = value

    def array(self, key: str, dtype: Any) -> np.ndarray:
        parts = self.parts[key]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


@dataclass(frozen=True)
class _Input:
    """One input file: where it is, its format, its columns and how to read it (a
    Parquet file is opened only while it is read, so a folder of many parts does not
    hold a file handle per part)."""

    path: Path
    fmt: str
    columns: list[str]
    sep: str = ","

    @property
    def parquet(self) -> bool:
        return self.fmt == "parquet"

    @classmethod
    def open(cls, path: Path, file_format: str | None, sep: str | None, header: bool) -> _Input:
        fmt = resolve_format(path, file_format)
        if fmt == "parquet":
            with open_parquet(path) as pf:
                return cls(path, fmt, list(pf.schema_arrow.names))
        sep = sep if sep is not None else sniff_separator(path, separator(fmt))
        return cls(path, fmt, csv_header(path, sep, header=header), sep)

    def frames(
        self, columns: Sequence[str], ids: set[str], chunk_rows: int, header: bool
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(chunk, CSV lines or Parquet row indices) for ``columns``; ``ids`` are read
        as text from a typed Parquet column."""
        if self.parquet:
            with open_parquet(self.path) as pf:
                yield from iter_parquet_chunks(pf, self.path, columns, chunk_rows, as_text=ids)
        else:
            yield from iter_csv_chunks(self.path, columns, chunk_rows, self.sep, header=header)


def _open_inputs(
    paths: str | Path | Sequence[str | Path],
    what: str,
    file_format: str | None,
    sep: str | None,
    header: bool,
) -> list[_Input]:
    """The input files, opened; FormatError when two files have different columns."""
    inputs = [_Input.open(p, file_format, sep, header) for p in input_files(paths, what)]
    first = inputs[0]
    for other in inputs[1:]:
        if other.columns != first.columns:
            raise FormatError(
                f"expected the columns of {first.path} in every file, found {other.columns} "
                f"(the first file has {first.columns})",
                path=other.path,
                fix="pass files with the same header (same names, same order), or prepare "
                "them separately",
            )
    return inputs


def _blocks(seq: np.ndarray) -> np.ndarray:
    """Index of the first entry of each run of consecutive entries with one sequence."""
    if len(seq) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], seq[1:] != seq[:-1]]))


def _split_blocks(seq: np.ndarray, keys: list[str], label: str) -> tuple[np.ndarray, list[str]]:
    """(sequence code per entry, sequence ids) with each run of consecutive entries of
    one id its own sequence: the first keeps the id, later ones are ``ID#2``, ``ID#3``..."""
    starts = _blocks(seq)
    is_start = np.zeros(len(seq), dtype=bool)
    is_start[starts] = True
    block = np.cumsum(is_start) - 1
    first_seq = seq[starts]
    rank = pd.Series(first_seq).groupby(first_seq).cumcount().to_numpy() + 1
    ids = [
        keys[s] if r == 1 else f"{keys[s]}#{r}"
        for s, r in zip(first_seq.tolist(), rank.tolist(), strict=True)
    ]
    taken = set(keys)
    clash = next((i for i, r in zip(ids, rank.tolist(), strict=True) if r > 1 and i in taken), None)
    if clash is not None:
        raise DuplicateError(
            f"expected the id {clash!r} for a later block of its sequence, found it already "
            "used by another sequence",
            path=label,
            field="sequence_id",
            fix="read without split_noncontiguous (--split-noncontiguous), or rename the sequences",
        )
    return block.astype(np.int64), ids


def _warn_blocks(
    seq: np.ndarray, tracks: np.ndarray, keys: list[str], label: str, n_tracks: int
) -> None:
    """Warn when sequence ids occur in several runs of consecutive rows (file order)."""
    starts = _blocks(seq)
    runs = np.bincount(seq[starts], minlength=len(keys))
    affected = np.flatnonzero(runs > 1)
    if not len(affected):
        return
    mask = np.isin(seq, affected)
    distinct = len(np.unique(seq[mask].astype(np.int64) * n_tracks + tracks[mask]))
    worst = int(affected[np.argmax(runs[affected])])
    logger.warning(
        "%s: %d sequence id(s) occur in more than one block of consecutive rows (%d entries, "
        "%d distinct tracks; e.g. %r in %d blocks); each is read as one sequence, its blocks "
        "joined in file order. If a sequence is listed more than once (e.g. a playlist once "
        "per genre), pass dedupe=True (--dedupe) to keep each track's first entry, or "
        "split_noncontiguous=True (--split-noncontiguous) to read each block as a sequence "
        "of its own",
        label,
        len(affected),
        int(mask.sum()),
        distinct,
        keys[worst],
        int(runs[worst]),
    )


def _first_entries(seq: np.ndarray, tracks: np.ndarray, n_tracks: int) -> np.ndarray:
    """Mask of the entries whose track does not occur earlier in their sequence
    (entries in sequence order)."""
    keep = np.zeros(len(seq), dtype=bool)
    keep[np.unique(seq.astype(np.int64) * n_tracks + tracks, return_index=True)[1]] = True
    return keep


def read_long_table(
    path: str | Path | Sequence[str | Path],
    *,
    columns: Mapping[str, str] | None,
    file_format: str | None,
    chunk_rows: int,
    progress: ProgressCallback | None,
    required: Sequence[str] = REQUIRED_COLUMNS,
    source_name: str = "long",
    missing_fix: str | None = None,
    what: str = "a long-format CSV or Parquet file",
    header: bool = True,
    sep: str | None = None,
    dedupe: bool = False,
    split_noncontiguous: bool = False,
) -> Dataset:
    """Shared engine of :func:`read_long` and the MSSD reader (SPEC §1).

    ``path`` is a file, a folder (its data files in name order) or a list of them,
    read as one table in that order (the same columns in each). ``required`` lists
    the canonical columns that must be present (optional ones are used when found);
    ``missing_fix`` is the fix text for a missing column (``{canon}`` is replaced by
    the canonical name). Without a position column entries are ordered by
    ``timestamp`` (ties by input order) or else by input order, and the log says so.
    ``header=False`` numbers a CSV's columns "1", "2", ... for ``columns`` to map;
    ``sep`` overrides the separator (by default the format's, or tab/semicolon/pipe
    when the first line has only those). ``dedupe`` and ``split_noncontiguous`` as in
    :func:`read_long`.
    """
    check_chunk_rows(chunk_rows)
    mapping = _check_mapping(columns)
    inputs = _open_inputs(path, what, file_format, sep, header)
    first = inputs[0]
    label = str(path) if isinstance(path, str | Path) else str(first.path)
    wanted = {canon: mapping.get(canon, canon) for canon in CANONICAL_COLUMNS}
    names = select_columns(
        first.columns,
        wanted,
        required=required,
        mapped=mapping,
        path=first.path,
        fix=_missing_column_fix(missing_fix, header, first),
    )
    optional = [c for c in ("timestamp", "skipped") if c in names]
    acc = _Accumulator(optional, [c for c in NAME_COLUMNS if c in names])
    use_position = _use_position(names, label)
    _read_inputs(acc, inputs, names, use_position, chunk_rows, header, progress)
    tracks = acc.array("track", np.int64)
    n_tracks = len(acc.tracks)
    file_order = not use_position and "timestamp" not in names
    seq, sequence_ids = _sequence_codes(
        acc, tracks, label, split_noncontiguous=split_noncontiguous, file_order=file_order
    )
    perm, indptr = _order_entries(acc, seq, tracks, len(sequence_ids), inputs, names, use_position)
    perm, indptr = _repeated_tracks(seq, tracks, perm, indptr, n_tracks, dedupe, label)
    timestamps = acc.array("timestamp", np.int64)[perm] if "timestamp" in optional else None
    skipped = acc.array("skipped", bool)[perm] if "skipped" in optional else None
    logger.info(
        "%s: %d entries in %d sequences over %d tracks",
        label,
        len(perm),
        len(sequence_ids),
        n_tracks,
    )
    for values in acc.names.values():
        values.extend([None] * (n_tracks - len(values)))
    return finish_dataset(
        track_ids=acc.tracks.keys,
        indptr=indptr,
        indices=tracks[perm],
        sequence_ids=np.asarray(sequence_ids, dtype=object),
        track_attrs=acc.names or None,
        timestamps=timestamps,
        skipped=skipped,
        source={
            "name": source_name,
            "path": label,
            "files": [str(i.path) for i in inputs],
            "format": first.fmt,
            "columns": names,
            **({"dedupe": True} if dedupe else {}),
            **({"split_noncontiguous": True} if split_noncontiguous else {}),
        },
    )


def _missing_column_fix(missing_fix: str | None, header: bool, first: _Input) -> str:
    """The fix text for a missing column (``{canon}`` stands for its canonical name)."""
    if not header and not first.parquet:
        return (
            "without a header, name the columns by number: --map {canon}=N (N from 1 to "
            f"{len(first.columns)}; library: columns={{{{'{{canon}}': 'N'}}}})"
        )
    return missing_fix or (
        "pass a column mapping, e.g. columns={{'{canon}': 'COLUMN'}} (CLI: --map {canon}=COLUMN)"
    )


def _use_position(names: Mapping[str, str], label: str) -> bool:
    """Whether entries are ordered by their position column; when not, log what orders
    them (the timestamp, or the file order)."""
    shared = "position" in names and names["position"] == names.get("timestamp")
    use_position = "position" in names and not shared
    if not use_position:
        by = (
            f"by '{names['timestamp']}' (the timestamp; plays in the same second keep their "
            "file order)"
            if "timestamp" in names
            else "in file order"
        )
        logger.info(
            "%s: %s, so each sequence is ordered %s",
            label,
            "position and timestamp share a column" if shared else "no position column",
            by,
        )
    return use_position


def _read_inputs(
    acc: _Accumulator,
    inputs: Sequence[_Input],
    names: Mapping[str, str],
    use_position: bool,
    chunk_rows: int,
    header: bool,
    progress: ProgressCallback | None,
) -> None:
    """Read every input file chunk by chunk into ``acc``."""
    file_cols = list(dict.fromkeys(names.values()))
    ids = {names["sequence_id"], names["track_id"]}
    for k, source in enumerate(inputs):
        place = _Place(str(source.path), source.parquet)
        frames = source.frames(file_cols, ids, chunk_rows, header)
        for df, rows in track(frames, progress, f"reading {source.path.name}"):
            cols = {canon: df[col] for canon, col in names.items()}
            acc.add(cols, rows, place, names, use_position, k)


def _sequence_codes(
    acc: _Accumulator,
    tracks: np.ndarray,
    label: str,
    *,
    split_noncontiguous: bool,
    file_order: bool,
) -> tuple[np.ndarray, list[str]]:
    """(sequence code per entry, sequence ids): FormatError when nothing was read; each
    block of consecutive rows its own sequence with ``split_noncontiguous``, else a
    warning for ids in several blocks when nothing but the file orders the entries."""
    seq = acc.array("seq", np.int64)
    if len(seq) == 0:
        raise FormatError(
            "expected at least one data row, found none",
            path=label,
            fix="check that this is the right file",
        )
    sequence_ids = list(acc.sequences.keys)
    if split_noncontiguous:
        seq, sequence_ids = _split_blocks(seq, sequence_ids, label)
    elif file_order:
        _warn_blocks(seq, tracks, sequence_ids, label, len(acc.tracks))
    return seq, sequence_ids


def _order_entries(
    acc: _Accumulator,
    seq: np.ndarray,
    tracks: np.ndarray,
    n_sequences: int,
    inputs: Sequence[_Input],
    names: Mapping[str, str],
    use_position: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(permutation into sequence order, indptr), ordered by position, else timestamp
    (ties by input order), else input order; errors name the file and line or row."""
    rows = acc.array("row", np.int64)
    files = acc.array("file", np.int32)
    ordinal = np.arange(len(seq), dtype=np.int64)
    if use_position:
        pos, order_field = acc.array("pos", np.int64), names["position"]
    elif "timestamp" in names:
        pos, order_field = acc.array("timestamp", np.int64), names["timestamp"]
    else:
        pos, order_field = ordinal, "file order"

    def locate(i: int) -> dict[str, Any]:
        source = inputs[int(files[i])]
        return location(source.path, int(rows[i]), parquet=source.parquet)

    return assemble_entries(
        seq,
        pos,
        tracks,
        ordinal,
        n_sequences,
        locate=locate,
        order_field=order_field,
        ties=not use_position,
    )


def _repeated_tracks(
    seq: np.ndarray,
    tracks: np.ndarray,
    perm: np.ndarray,
    indptr: np.ndarray,
    n_tracks: int,
    dedupe: bool,
    label: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the entries that repeat a track earlier in their sequence (``dedupe``), or
    count them in the log; returns the (new) permutation and indptr."""
    keep = _first_entries(seq[perm], tracks[perm], n_tracks)
    repeats = len(keep) - int(keep.sum())
    if repeats and dedupe:
        perm = perm[keep]
        lengths = np.bincount(seq[perm], minlength=len(indptr) - 1)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        logger.info(
            "%s: dropped %d repeated entries (a track already earlier in its sequence)",
            label,
            repeats,
        )
    elif repeats:
        logger.info(
            "%s: %d entries repeat a track already earlier in their sequence (kept: a "
            "playlist may repeat a song and a log its plays; dedupe=True (--dedupe) keeps "
            "each track's first entry)",
            label,
            repeats,
        )
    return perm, indptr


def read_long(
    path: str | Path | Sequence[str | Path],
    *,
    columns: Mapping[str, str] | None = None,
    file_format: str | None = None,
    chunk_rows: int = 200_000,
    progress: ProgressCallback | None = None,
    header: bool = True,
    sep: str | None = None,
    dedupe: bool = False,
    split_noncontiguous: bool = False,
) -> Dataset:
    """Read a long-format CSV/TSV/Parquet table of sequence entries (SPEC §1).

    ``path`` is one file, a folder (its ``*.csv``, ``*.tsv``, ``*.parquet``,
    ``*.pq`` files, compressed or not, in name order) or a list of files and
    folders: they are read as one table, entries concatenated in that order, so a
    sequence may span files. Every file must have the same columns (else a
    FormatError naming both files). Gzip, bz2, xz and single-file zip files are
    read as they are (recognised by their leading bytes).

    Only ``sequence_id`` and ``track_id`` are required. Without ``position`` each
    sequence is ordered by ``timestamp`` (ties by input order) or else by input
    order, as most playlist exports list them; ``position`` and ``timestamp`` may
    map to the same column (a listening log's time is its order). A CSV without a
    header (``header=False``) has its columns named "1", "2", ... for ``columns``
    to map; ``sep`` sets the separator (default: by format, or tab/semicolon/pipe
    when the first line has only those).

    Canonical columns: ``sequence_id, position, track_id`` and optional
    ``timestamp`` (integer seconds since the epoch, or ISO-8601; naive times are
    UTC), ``skipped`` (true/false, 1/0, yes/no), ``track_name`` and
    ``artist_name`` (a track's first non-empty value; the artist id is then the
    normalised artist name, as for MPD's reduced schema). ``columns`` maps
    canonical names to the file's columns, e.g. ``{"sequence_id": "session"}``;
    unmapped names are looked up under their own name. Sequence and track ids are
    strings, kept verbatim; a track id that is a Spotify URI of another kind
    (``spotify:album:...``) is an error. Entries are ordered by position within
    each sequence (positions are whole numbers, unique per sequence; gaps are
    allowed); sequences and tracks are numbered in order of first appearance.
    ``file_format`` ('csv', 'tsv', 'parquet') defaults to the file suffix.

    Sequences listed in several blocks. Rows of one sequence id need not be
    consecutive: every row with that id belongs to one sequence. Without a
    position or timestamp column the blocks are joined in file order and a warning
    counts the sequences and entries concerned. ``split_noncontiguous=True`` reads
    each run of consecutive rows as a sequence of its own (``ID``, ``ID#2``, ...;
    for files that reuse ids). Repeated tracks inside a sequence are kept (a
    playlist may repeat a song, a log its plays) and counted in the log;
    ``dedupe=True`` keeps only each track's first entry in its sequence (after
    ordering), which also repairs a playlist listed once per genre.

    Raises FormatError (missing or unparseable file, a row with more fields than
    the header), MissingFieldError (column not found), InvalidValueError (bad
    cell) or DuplicateError (repeated position), each naming the file, the line
    or row and the field.
    """
    return read_long_table(
        path,
        columns=columns,
        file_format=file_format,
        chunk_rows=chunk_rows,
        progress=progress,
        required=("sequence_id", "track_id"),
        header=header,
        sep=sep,
        dedupe=dedupe,
        split_noncontiguous=split_noncontiguous,
    )
