"""Reader for Last.fm-1K style listening logs, sessionised by inactivity (SPEC §1).

The log is tab separated without a header, one play per line::

    userid  timestamp  artist-mbid  artist-name  track-mbid  track-name

(timestamp ISO-8601, e.g. ``2009-05-04T23:08:57Z``; the Last.fm-1K file lists
each user's plays newest first). Quotes are ordinary characters (track names
contain them), so lines are split on tabs only. The file is read in chunks of
``chunk_rows`` lines, keeping only integer arrays per play (user code, seconds,
track code, line number), plus names for each distinct track.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songspace.data._tabular import check_chunk_rows, check_file, open_text, undecodable_error
from songspace.data.builder import KeyIndex, finish_dataset
from songspace.data.dataset import Dataset
from songspace.data.defaults import DEFAULT_GAP_MINUTES
from songspace.errors import FormatError, InvalidValueError
from songspace.params import Interval, check_param
from songspace.progress import ProgressCallback, track

logger = logging.getLogger(__name__)

FIELDS = ("userid", "timestamp", "artist-mbid", "artist-name", "track-mbid", "track-name")
_EPOCH = pd.Timestamp(0, tz="UTC")


def _iter_lines(path: Path, chunk_rows: int) -> Iterator[tuple[pa.Array, int]]:
    """Yield (lines without their line break, number of the first line) per chunk."""
    first = 1
    with open_text(path, newline="\n") as fh:
        while True:
            try:
                lines = list(itertools.islice(fh, chunk_rows))
            except UnicodeDecodeError as exc:
                err = undecodable_error(path, exc)
                raise FormatError(
                    f"{err.detail} in lines {first}..{first + chunk_rows - 1}",
                    path=path,
                    fix=err.fix,
                ) from exc
            if not lines:
                return
            yield pc.utf8_rtrim(pa.array(lines, pa.string()), characters="\r\n"), first
            first += len(lines)


def _column(parts: pa.Array, i: int) -> pd.Series:
    return pc.list_element(parts, i).to_pandas()


def _require(values: pd.Series, lines: np.ndarray, path: Path, field: str, what: str) -> None:
    empty = (values.str.strip() == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InvalidValueError(
            f"expected {what}, found an empty field",
            path=path,
            line=int(lines[i]),
            field=field,
            fix="fill it in or remove the line",
        )


def read_lastfm(
    path: str | Path,
    *,
    gap_minutes: float = DEFAULT_GAP_MINUTES,
    progress: ProgressCallback | None = None,
    chunk_rows: int = 200_000,
) -> Dataset:
    """Read a Last.fm-1K style log into listening sessions (SPEC §1).

    Sessions: each user's plays sorted by time ascending (ties in reverse file
    order, since the Last.fm-1K file is newest first); a new session starts
    where the gap to the user's previous play exceeds ``gap_minutes``. Sequence
    id = ``"{userid}:{start ISO-8601 UTC}"`` (unique, as sessions of one user
    start at distinct times). Per-entry ``timestamps`` are int64 seconds.

    Track id = ``track-mbid`` when present, else ``"{artist}\\t{track}"`` from the
    case-folded, stripped artist name (the artist mbid if the name is empty) and
    track name, so the same song written with other capitalisation is one
    track. Track attributes (first occurrence in the file wins): ``track_name``,
    ``artist_id`` (artist-mbid, else the normalised artist name) and
    ``artist_name``. Blank lines are ignored; line numbers count them.

    Raises FormatError (a line without exactly 6 tab-separated fields),
    InvalidValueError (bad timestamp, empty user, no way to identify the track)
    naming file, line and field, and ParameterError for ``gap_minutes <= 0``.
    """
    check_param(
        "gap_minutes",
        gap_minutes,
        Interval(
            float,
            0,
            None,
            closed="neither",
            finite=False,
            what="a number of minutes > 0 (inf: one session per user)",
        ),
        fix="pass the inactivity gap in minutes that separates sessions (default 30)",
    )
    check_chunk_rows(chunk_rows)
    p = check_file(path, "a Last.fm-1K style listening log (tab-separated)")
    log = _PlayLog(p)
    for lines_arr, first in track(_iter_lines(p, chunk_rows), progress, f"reading {p.name}"):
        log.add_chunk(lines_arr, first)
    return log.to_dataset(gap_minutes)


def _split_fields(lines_arr: pa.Array, line_no: np.ndarray, path: Path) -> pa.Array:
    """Each line's tab-separated fields; FormatError for a line without exactly 6."""
    parts = pc.split_pattern(lines_arr, "\t")
    n_fields = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(n_fields != len(FIELDS))
    if len(wrong):
        i = int(wrong[0])
        raise FormatError(
            f"expected {len(FIELDS)} tab-separated fields ({', '.join(FIELDS)}), "
            f"found {n_fields[i]}",
            path=path,
            line=int(line_no[i]),
            fix="repair or remove the line (a tab inside a name, or a truncated line?)",
        )
    return parts


def _parse_seconds(stamp: pd.Series, line_no: np.ndarray, path: Path) -> np.ndarray:
    """ISO-8601 timestamps as int64 seconds since the epoch (InvalidValueError for the
    first one that does not parse)."""
    parsed = pd.to_datetime(stamp, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"expected an ISO-8601 date-time like 2009-05-04T23:08:57Z, found {stamp.iloc[i]!r}",
            path=path,
            line=int(line_no[i]),
            field="timestamp",
            fix="correct the timestamp or remove the line",
        )
    return ((parsed - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _track_keys(
    track_mbid: pd.Series,
    artist_mbid: pd.Series,
    artist_name: pd.Series,
    track_name: pd.Series,
    line_no: np.ndarray,
    path: Path,
) -> np.ndarray:
    """Track ids: the track mbid, else ``"{artist}\\t{track}"`` (see :func:`read_lastfm`)."""
    key = track_mbid.str.strip()
    no_mbid = (key == "").to_numpy()
    if not no_mbid.any():
        return key.to_numpy(dtype=object)
    idx = np.flatnonzero(no_mbid)
    artist_key = artist_name.iloc[idx].str.strip().str.casefold()
    artist_key = artist_key.where(artist_key != "", artist_mbid.iloc[idx].str.strip())
    title_key = track_name.iloc[idx].str.strip().str.casefold()
    unusable = ((artist_key == "") | (title_key == "")).to_numpy()
    if unusable.any():
        i = int(idx[np.flatnonzero(unusable)[0]])
        raise InvalidValueError(
            "expected a track mbid, or a track name and an artist name or mbid, "
            "found too little to identify the track",
            path=path,
            line=int(line_no[i]),
            field="track-mbid",
            fix="fill in the track and artist, or remove the line",
        )
    keys = key.to_numpy(dtype=object, copy=True)
    keys[idx] = (artist_key + "\t" + title_key).to_numpy(dtype=object)
    return keys


class _PlayLog:
    """The plays read so far, as integer arrays per chunk (user code, seconds, track code,
    line number), plus the attributes of each distinct track."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users, self.tracks = KeyIndex(), KeyIndex()
        self.attrs: dict[str, list[Any]] = {"track_name": [], "artist_id": [], "artist_name": []}
        self.parts_user: list[np.ndarray] = []
        self.parts_time: list[np.ndarray] = []
        self.parts_track: list[np.ndarray] = []
        self.parts_line: list[np.ndarray] = []

    def add_chunk(self, lines_arr: pa.Array, first: int) -> None:
        """Parse one chunk of lines (the first numbered ``first``); blank lines are skipped."""
        line_no = np.arange(first, first + len(lines_arr), dtype=np.int64)
        nonblank = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines_arr)), 0)
        keep = nonblank.to_numpy(zero_copy_only=False)
        if not keep.all():
            lines_arr, line_no = pc.filter(lines_arr, nonblank), line_no[keep]
            if len(lines_arr) == 0:
                return
        parts = _split_fields(lines_arr, line_no, self.path)
        user, stamp = _column(parts, 0), _column(parts, 1)
        artist_mbid, artist_name = _column(parts, 2), _column(parts, 3)
        track_mbid, track_name = _column(parts, 4), _column(parts, 5)
        _require(user, line_no, self.path, "userid", "a user id")
        seconds = _parse_seconds(stamp, line_no, self.path)
        key = _track_keys(track_mbid, artist_mbid, artist_name, track_name, line_no, self.path)
        codes, new = self.tracks.encode(key)
        if new.any():
            idx = np.flatnonzero(new)
            self._add_track_attrs(
                track_name.iloc[idx], artist_mbid.iloc[idx], artist_name.iloc[idx]
            )
        self.parts_user.append(self.users.encode(user.to_numpy(dtype=object))[0])
        self.parts_time.append(seconds)
        self.parts_track.append(codes)
        self.parts_line.append(line_no)

    def _add_track_attrs(
        self, track_name: pd.Series, artist_mbid: pd.Series, artist_name: pd.Series
    ) -> None:
        """Record the attributes of newly seen tracks (empty fields become None)."""
        aid = artist_mbid.str.strip()
        self.attrs["track_name"].extend(None if t.strip() == "" else t for t in track_name.tolist())
        self.attrs["artist_id"].extend(None if a == "" else a for a in aid.tolist())
        self.attrs["artist_name"].extend(
            None if a.strip() == "" else a for a in artist_name.tolist()
        )

    def to_dataset(self, gap_minutes: float) -> Dataset:
        """Sessionise the plays read (see :func:`read_lastfm`) into a Dataset."""
        p, users, tracks = self.path, self.users, self.tracks
        if not self.parts_user:
            raise FormatError(
                "expected at least one listening event, found an empty file",
                path=p,
                fix="check that this is the right file",
            )
        user_c = np.concatenate(self.parts_user)
        time_s = np.concatenate(self.parts_time)
        track_c = np.concatenate(self.parts_track)
        line_c = np.concatenate(self.parts_line)
        indptr, order, starts = sessionise(user_c, time_s, line_c, gap_minutes * 60.0)
        start_iso = np.datetime_as_string(
            time_s[order[starts]].astype("datetime64[s]"), unit="s", timezone="UTC"
        )
        user_keys = np.asarray(users.keys, dtype=object)
        sequence_ids = np.asarray(
            [f"{u}:{t}" for u, t in zip(user_keys[user_c[order[starts]]], start_iso, strict=True)],
            dtype=object,
        )
        logger.info(
            "%s: %d plays of %d users -> %d sessions (gap %.4g min) over %d tracks",
            p,
            len(user_c),
            len(users),
            len(starts),
            gap_minutes,
            len(tracks),
        )
        return finish_dataset(
            track_ids=tracks.keys,
            indptr=indptr,
            indices=track_c[order],
            sequence_ids=sequence_ids,
            track_attrs=self.attrs,
            timestamps=time_s[order],
            source={
                "name": "lastfm",
                "path": str(p),
                "gap_minutes": float(gap_minutes),
                "users": len(users),
                "plays": len(user_c),
            },
        )


def sessionise(
    users: np.ndarray, times: np.ndarray, lines: np.ndarray, gap_seconds: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split plays into sessions by an inactivity gap (vectorised).

    Returns (indptr over the sorted plays, permutation sorting plays by user,
    time and reverse line, start offsets of the sessions in that order). A
    session ends where the next play of the same user is more than
    ``gap_seconds`` later.
    """
    order = np.lexsort((-lines, times, users))
    u, t = users[order], times[order]
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        gap = np.diff(t).astype(np.float64) > gap_seconds
        new[1:] = (u[1:] != u[:-1]) | gap
    starts = np.flatnonzero(new)
    indptr = np.append(starts, len(order)).astype(np.int64)
    return indptr, order, starts
