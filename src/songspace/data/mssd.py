"""Readers for the Spotify Music Streaming Sessions Dataset (MSSD) (SPEC §1).

Session logs (``log_*.csv``) are long-format tables and go through the shared
engine of :mod:`songspace.data.longformat`; the track-features file
(``tf_*.csv``) becomes a DataFrame of raw feature values indexed by track id.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.data._tabular import (
    check_chunk_rows,
    check_file,
    csv_header,
    iter_csv_chunks,
    to_float,
)
from songspace.data.dataset import Dataset
from songspace.data.features import AUDIO_COLUMNS
from songspace.data.longformat import read_long_table
from songspace.errors import DuplicateError, InvalidValueError, MissingFieldError
from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)

#: Canonical long-format column -> MSSD log column.
MSSD_LOG_COLUMNS = {
    "sequence_id": "session_id",
    "position": "session_position",
    "track_id": "track_id_clean",
    "skipped": "skip_2",
}
ACOUSTIC_COLUMNS = tuple(f"acoustic_vector_{i}" for i in range(8))
POPULARITY_SOURCE = "us_popularity_estimate"
_MODE = {"major": 1.0, "minor": 0.0}


def read_mssd(
    log_path: str | Path, *, progress: ProgressCallback | None = None, chunk_rows: int = 200_000
) -> Dataset:
    """Read an MSSD session log (``log_*.csv``) into a :class:`Dataset` (SPEC §1).

    Sequence id = ``session_id``, entries ordered by ``session_position``, track
    id = ``track_id_clean``. The per-entry ``skipped`` flag is ``skip_2``: the
    challenge's definition of a skip (the track was played only briefly), which
    approximates "played < 30 s", the play/skip outcome of SPEC §4 (play
    prediction). The other skip columns (``skip_1``, ``skip_3``,
    ``not_skipped``) and the context columns are not kept. The file is read in
    chunks of ``chunk_rows`` rows.
    """
    return read_long_table(
        log_path,
        columns=MSSD_LOG_COLUMNS,
        file_format="csv",
        chunk_rows=chunk_rows,
        progress=progress,
        required=tuple(MSSD_LOG_COLUMNS),
        source_name="mssd",
        missing_fix=(
            "pass an MSSD session log (log_*.csv with session_id, session_position, "
            "track_id_clean, skip_2); for other session tables use read_long with a "
            "column mapping"
        ),
        what="an MSSD session log (log_*.csv)",
    )


def read_mssd_track_features(path: str | Path, *, chunk_rows: int = 200_000) -> pd.DataFrame:
    """Read an MSSD track-features file (``tf_*.csv``) into raw float columns (SPEC §1).

    Returns a DataFrame indexed by ``track_id`` with ``acoustic_vector_0..7``,
    the audio columns of :data:`songspace.data.features.AUDIO_COLUMNS` that the
    file has (``mode`` 'major' -> 1, 'minor' -> 0; numeric 0/1 also accepted)
    and ``popularity`` from ``us_popularity_estimate`` (0..100), when present.
    Values are unscaled; an empty cell is missing (NaN, to be marked unknown,
    never filled in). Rows without a track id cannot be joined to sessions and
    are dropped with a warning; if no row has one, MissingFieldError.
    """
    check_chunk_rows(chunk_rows)
    p = check_file(path, "an MSSD track-features file (tf_*.csv)")
    header = csv_header(p)
    required = ("track_id", *ACOUSTIC_COLUMNS)
    missing = [c for c in required if c not in header]
    if missing:
        raise MissingFieldError(
            f"expected the MSSD track-feature columns {missing}, found columns {header}",
            path=p,
            field=missing[0],
            fix="pass the MSSD track-features file (tf_*.csv)",
        )
    audio = [c for c in AUDIO_COLUMNS if c in header]
    sources = [*ACOUSTIC_COLUMNS, *audio]
    if POPULARITY_SOURCE in header:
        sources.append(POPULARITY_SOURCE)
    out_names = [("popularity" if c == POPULARITY_SOURCE else c) for c in sources]

    ids: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    n_rows = 0
    for chunk, chunk_lines in iter_csv_chunks(p, ["track_id", *sources], chunk_rows):
        n_rows += len(chunk)
        tid = chunk["track_id"].str.strip()
        keep = (tid != "").to_numpy()
        values = np.empty((len(chunk), len(sources)), dtype=np.float64)
        for j, col in enumerate(sources):
            values[:, j] = _feature_values(chunk[col], chunk_lines, p, col)
        ids.append(tid.to_numpy(dtype=object)[keep])
        lines.append(chunk_lines[keep])
        blocks.append(values[keep])
    track_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=object)
    if len(track_ids) == 0:
        raise MissingFieldError(
            f"expected track ids, found the track_id column empty in all {n_rows} rows, so "
            "the features cannot be joined to any session",
            path=p,
            field="track_id",
            fix="use a track-features file whose track_id column is filled (the original "
            "MSSD tf_*.csv files are), with the ids of the logs' track_id_clean column",
        )
    dropped = n_rows - len(track_ids)
    if dropped:
        logger.warning(
            "%s: dropped %d of %d rows with an empty track_id (they cannot be joined to sessions)",
            p,
            dropped,
            n_rows,
        )
    row_lines = np.concatenate(lines)
    index = pd.Index(track_ids, name="track_id")
    dup = index.duplicated()
    if dup.any():
        second = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(track_ids == track_ids[second])[0])
        raise DuplicateError(
            f"expected each track once, found track {track_ids[second]!r} on line "
            f"{row_lines[first]} and again",
            path=p,
            line=int(row_lines[second]),
            field="track_id",
            fix="remove the repeated row",
        )
    return pd.DataFrame(np.concatenate(blocks), index=index, columns=out_names)


def _feature_values(s: pd.Series, lines: np.ndarray, path: Path, field: str) -> np.ndarray:
    """Floats from string cells via :func:`to_float`; ``mode`` also takes 'major'/'minor'."""
    if field != "mode":
        return to_float(s, lines, path, field)
    expected = "'major', 'minor', 1 or 0"
    named = s.str.strip().str.lower().map(_MODE)
    is_named = named.notna().to_numpy()
    values = to_float(s.where(~is_named, "0"), lines, path, field, expected=expected)
    values[is_named] = named.to_numpy(dtype=np.float64)[is_named]
    bad = np.flatnonzero(~np.isnan(values) & ~np.isin(values, (0.0, 1.0)))
    if len(bad):
        i = int(bad[0])
        raise InvalidValueError(
            f"expected {expected} or an empty cell (missing), found {s.iloc[i]!r}",
            path=path,
            line=int(lines[i]),
            field=field,
            fix="correct the value, or leave the cell empty to mark it unknown",
        )
    return values
