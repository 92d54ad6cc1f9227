"""Read a source, join metadata, save a dataset directory: what ``songspace prepare`` runs.

Each function checks that the output does not exist *before* reading anything,
reads, joins, and writes the directory atomically; on any error nothing is left
behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from songspace._util import check_output_free
from songspace.data.dataset import Dataset
from songspace.data.metadata import attach_metadata, read_artist_metadata, read_track_metadata

logger = logging.getLogger("songspace")


def _check_output(
    out: str | Path | None, overwrite: bool, inputs: tuple[str | Path | None, ...] = ()
) -> None:
    """Before reading anything: the output is free (or --overwrite) and is no input."""
    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=inputs)


def _finish(
    ds: Dataset,
    out: str | Path | None,
    *,
    tracks: str | Path | None,
    artists: str | Path | None,
    track_columns: Mapping[str, str] | None,
    artist_columns: Mapping[str, str] | None,
    duplicates: Literal["merge", "error"],
    top_genres: int,
    overwrite: bool,
) -> Dataset:
    if tracks is not None or artists is not None:
        tm = (
            read_track_metadata(tracks, columns=track_columns, duplicates=duplicates)
            if tracks
            else None
        )
        am = read_artist_metadata(artists, columns=artist_columns) if artists else None
        ds = attach_metadata(ds, tracks=tm, artists=am, top_genres=top_genres)
        ds.source["metadata"] = {
            "tracks": str(tracks) if tracks else None,
            "artists": str(artists) if artists else None,
        }
    if out is not None:
        ds.save(out, overwrite=overwrite)
        logger.info("wrote %s", out)
    return ds


def prepare_mpd(
    path: str | Path,
    out: str | Path | None = None,
    *,
    tracks: str | Path | None = None,
    artists: str | Path | None = None,
    track_columns: Mapping[str, str] | None = None,
    artist_columns: Mapping[str, str] | None = None,
    duplicates: Literal["merge", "error"] = "merge",
    top_genres: int = 50,
    drop_empty: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """MPD slices (+ optional track/artist metadata) -> dataset directory ``out``."""
    from songspace.data.mpd import read_mpd

    _check_output(out, overwrite, (path, tracks, artists))
    ds = read_mpd(path, drop_empty=drop_empty, progress=progress)
    return _finish(
        ds,
        out,
        tracks=tracks,
        artists=artists,
        track_columns=track_columns,
        artist_columns=artist_columns,
        duplicates=duplicates,
        top_genres=top_genres,
        overwrite=overwrite,
    )


def prepare_long(
    path: str | Path,
    out: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    tracks: str | Path | None = None,
    artists: str | Path | None = None,
    track_columns: Mapping[str, str] | None = None,
    artist_columns: Mapping[str, str] | None = None,
    duplicates: Literal["merge", "error"] = "merge",
    top_genres: int = 50,
    overwrite: bool = False,
    progress: bool = False,
    header: bool = True,
    sep: str | None = None,
) -> Dataset:
    """Long-format CSV/Parquet (sequence_id, track_id[, position, ...]) -> dataset directory.

    ``header`` and ``sep`` as in :func:`songspace.data.longformat.read_long`.
    """
    from songspace.data.longformat import read_long

    _check_output(out, overwrite, (path, tracks, artists))
    ds = read_long(path, columns=columns, progress=progress, header=header, sep=sep)
    return _finish(
        ds,
        out,
        tracks=tracks,
        artists=artists,
        track_columns=track_columns,
        artist_columns=artist_columns,
        duplicates=duplicates,
        top_genres=top_genres,
        overwrite=overwrite,
    )


def prepare_mssd(
    log: str | Path,
    out: str | Path | None = None,
    *,
    features: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """MSSD session log (+ MSSD track features) -> dataset directory."""
    from songspace.data.mssd import read_mssd, read_mssd_track_features

    _check_output(out, overwrite, (log, features))
    ds = read_mssd(log, progress=progress)
    if features is not None:
        ds = attach_metadata(ds, tracks=read_mssd_track_features(features))
        ds.source["metadata"] = {"tracks": str(features)}
    if out is not None:
        ds.save(out, overwrite=overwrite)
    return ds


def prepare_lastfm(
    path: str | Path,
    out: str | Path | None = None,
    *,
    gap_minutes: float = 30.0,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """Last.fm-1K listening log, sessionised by inactivity gap -> dataset directory."""
    from songspace.data.lastfm import read_lastfm

    _check_output(out, overwrite, (path,))
    ds = read_lastfm(path, gap_minutes=gap_minutes, progress=progress)
    if out is not None:
        ds.save(out, overwrite=overwrite)
    return ds


def prepare_synthetic(
    out: str | Path | None = None, *, overwrite: bool = False, **kwargs: object
) -> Dataset:
    """Synthetic dataset (see :func:`songspace.data.synthetic.generate`) -> dataset directory."""
    from songspace.data.synthetic import generate

    _check_output(out, overwrite)
    ds = generate(**kwargs)  # type: ignore[arg-type]
    if out is not None:
        ds.save(out, overwrite=overwrite)
    return ds
