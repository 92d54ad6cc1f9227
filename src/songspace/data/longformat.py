"""Reader for long-format sequence tables in CSV or Parquet (SPEC §1).

One row per sequence entry with the canonical columns ``sequence_id, position,
track_id`` and optionally ``timestamp`` and ``skipped``; a column mapping names
the file's own columns. The file is read in chunks of ``chunk_rows`` rows and
only compact integer arrays are kept per entry (sequence code, position, track
code, line, optional timestamp and skip flag), so memory grows with the number
of entries and the catalogue, not with the text of the file.

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

from songspace.data._tabular import (
    check_chunk_rows,
    check_file,
    csv_header,
    float_cells,
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
from songspace.data.builder import KeyIndex, assemble_entries, finish_dataset
from songspace.data.dataset import Dataset
from songspace.errors import (
    FormatError,
    InvalidValueError,
    ParameterError,
)
from songspace.progress import ProgressCallback, track

logger = logging.getLogger("songspace")

#: Canonical column names of the long format, required ones first.
CANONICAL_COLUMNS = ("sequence_id", "position", "track_id", "timestamp", "skipped")
REQUIRED_COLUMNS = ("sequence_id", "position", "track_id")

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
    """Compact per-entry arrays collected chunk by chunk."""

    def __init__(self, optional: Sequence[str]) -> None:
        self.sequences = KeyIndex()
        self.tracks = KeyIndex()
        self.parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("seq", "pos", "track", "row", *optional)
        }

    def add(
        self,
        cols: Mapping[str, pd.Series],
        rows: np.ndarray,
        place: _Place,
        names: Mapping[str, str],
        use_position: bool = True,
    ) -> None:
        seq = _parse_ids(cols["sequence_id"], rows, place, names["sequence_id"], "sequence id")
        trk = _parse_ids(cols["track_id"], rows, place, names["track_id"], "track id")
        self.parts["seq"].append(self.sequences.encode(seq)[0])
        if use_position:
            self.parts["pos"].append(
                _parse_positions(cols["position"], rows, place, names["position"])
            )
        self.parts["track"].append(self.tracks.encode(trk)[0])
        self.parts["row"].append(np.asarray(rows, dtype=np.int64))
        if "timestamp" in self.parts:
            self.parts["timestamp"].append(
                _parse_timestamps(cols["timestamp"], rows, place, names["timestamp"])
            )
        if "skipped" in self.parts:
            self.parts["skipped"].append(
                _parse_flags(cols["skipped"], rows, place, names["skipped"])
            )

    def array(self, key: str, dtype: Any) -> np.ndarray:
        parts = self.parts[key]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def read_long_table(
    path: str | Path,
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
) -> Dataset:
    """Shared engine of :func:`read_long` and the MSSD reader (SPEC §1).

    ``required`` lists the canonical columns that must be present (optional
    ones are used when found); ``missing_fix`` is the fix text for a missing
    column (``{canon}`` is replaced by the canonical name). Without a position
    column entries are ordered by ``timestamp`` (ties by file order) or else by
    file order, and the log says so. ``header=False`` numbers a CSV's columns
    "1", "2", ... for ``columns`` to map; ``sep`` overrides the separator (by
    default the format's, or tab/semicolon/pipe when the first line has only those).
    """
    check_chunk_rows(chunk_rows)
    mapping = _check_mapping(columns)
    p = check_file(path, what)
    fmt = resolve_format(p, file_format)
    fix = missing_fix or (
        "pass a column mapping, e.g. columns={{'{canon}': 'COLUMN'}} (CLI: --map {canon}=COLUMN)"
    )
    parquet = fmt == "parquet"
    place = _Place(str(p), parquet)
    if parquet:
        pf = open_parquet(p)
        found = list(pf.schema_arrow.names)
    else:
        sep = sep if sep is not None else sniff_separator(p, separator(fmt))
        found = csv_header(p, sep, header=header)
        if not header:
            fix = (
                "without a header, name the columns by number: --map {canon}=N (N from 1 to "
                f"{len(found)}; library: columns={{{{'{{canon}}': 'N'}}}})"
            )
    wanted = {canon: mapping.get(canon, canon) for canon in CANONICAL_COLUMNS}
    names = select_columns(found, wanted, required=required, mapped=mapping, path=p, fix=fix)
    optional = [c for c in ("timestamp", "skipped") if c in names]
    acc = _Accumulator(optional)
    file_cols = list(dict.fromkeys(names.values()))
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
            p,
            "position and timestamp share a column" if shared else "no position column",
            by,
        )

    frames: Iterator[tuple[pd.DataFrame, np.ndarray]]
    if parquet:
        ids = {names["sequence_id"], names["track_id"]}
        frames = iter_parquet_chunks(pf, p, file_cols, chunk_rows, as_text=ids)
    else:
        frames = iter_csv_chunks(p, file_cols, chunk_rows, sep or ",", header=header)
    for df, rows in track(frames, progress, f"reading {p.name}"):
        acc.add({canon: df[col] for canon, col in names.items()}, rows, place, names, use_position)

    seq = acc.array("seq", np.int64)
    if len(seq) == 0:
        raise FormatError(
            "expected at least one data row, found none",
            path=p,
            fix="check that this is the right file",
        )
    rows = acc.array("row", np.int64)
    tracks = acc.array("track", np.int64)
    if use_position:
        pos, order_field = acc.array("pos", np.int64), names["position"]
    elif "timestamp" in names:
        pos, order_field = acc.array("timestamp", np.int64), names["timestamp"]
    else:
        pos, order_field = rows, "file order"
    perm, indptr = assemble_entries(
        seq,
        pos,
        tracks,
        rows,
        len(acc.sequences),
        path=str(p),
        order_field=order_field,
        row_label="row index" if parquet else "line",
        ties=not use_position,
    )
    timestamps = acc.array("timestamp", np.int64)[perm] if "timestamp" in optional else None
    skipped = acc.array("skipped", bool)[perm] if "skipped" in optional else None
    logger.info(
        "%s: %d entries in %d sequences over %d tracks",
        p,
        len(seq),
        len(acc.sequences),
        len(acc.tracks),
    )
    return finish_dataset(
        track_ids=acc.tracks.keys,
        indptr=indptr,
        indices=tracks[perm],
        sequence_ids=np.asarray(acc.sequences.keys, dtype=object),
        timestamps=timestamps,
        skipped=skipped,
        source={"name": source_name, "path": str(p), "format": fmt, "columns": names},
    )


def read_long(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    file_format: str | None = None,
    chunk_rows: int = 200_000,
    progress: ProgressCallback | None = None,
    header: bool = True,
    sep: str | None = None,
) -> Dataset:
    """Read a long-format CSV/TSV/Parquet table of sequence entries (SPEC §1).

    Only ``sequence_id`` and ``track_id`` are required. Without ``position`` each
    sequence is ordered by ``timestamp`` (ties by file order) or else by file
    order, as most playlist exports list them; ``position`` and ``timestamp`` may
    map to the same column (a listening log's time is its order). A CSV without a
    header (``header=False``) has its columns named "1", "2", ... for ``columns``
    to map; ``sep`` sets the separator (default: by format, or tab/semicolon/pipe
    when the first line has only those).

    Canonical columns: ``sequence_id, position, track_id`` and optional
    ``timestamp`` (integer seconds since the epoch, or ISO-8601; naive times are
    UTC) and ``skipped`` (true/false, 1/0, yes/no). ``columns`` maps canonical
    names to the file's columns, e.g. ``{"sequence_id": "session"}``; unmapped
    names are looked up under their own name. Sequence and track ids are
    strings, kept verbatim. Entries are ordered by position within each
    sequence (positions are whole numbers, unique per sequence; gaps are
    allowed); sequences and tracks are numbered in order of first appearance.
    ``file_format`` ('csv', 'tsv', 'parquet') defaults to the file suffix.

    Raises FormatError (missing or unparseable file), MissingFieldError (column
    not found), InvalidValueError (bad cell) or DuplicateError (repeated
    position), each naming the file, the line or row and the field.
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
    )
