"""Read a source, join metadata, save a dataset directory: what ``songspace prepare`` runs.

Each function checks that the output does not exist *before* reading anything,
reads, joins, and writes the directory atomically; on any error nothing is left
behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from songspace._util import check_output_free
from songspace.data.dataset import Dataset
from songspace.data.defaults import DEFAULT_GAP_MINUTES, DEFAULT_TOP_GENRES
from songspace.data.metadata import attach_metadata, read_artist_metadata, read_track_metadata
from songspace.errors import EmptySequenceError, FormatError
from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)


def _check_output(
    out: str | Path | None, overwrite: bool, inputs: tuple[str | Path | None, ...] = ()
) -> None:
    """Before reading anything: every input exists, the output is free (or --overwrite)
    and is no input."""
    for p in inputs:
        if p is not None and not Path(p).exists():
            raise FormatError(
                "expected an input file or folder, found nothing",
                path=p,
                fix="check the path (relative paths start at the current directory)",
            )
    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=inputs)


def _check_not_empty(ds: Dataset) -> None:
    """A dataset without entries is an error, not an empty directory written with exit 0."""
    if ds.n_entries == 0:
        src = ds.source
        raise EmptySequenceError(
            f"expected at least one sequence entry, found none ({ds.n_sequences} sequences"
            + (f", {src['dropped_empty']} empty ones dropped" if src.get("dropped_empty") else "")
            + "): the dataset would be empty",
            path=src.get("path"),
            fix="check the input (and its column mapping); nothing was written",
        )


@dataclass(frozen=True)
class MetadataSpec:
    """Track and artist metadata to join onto a dataset (SPEC §1); what the CLI's
    ``--tracks``, ``--artists``, ``--track-map``, ``--artist-map``, ``--strict-duplicates``
    and ``--top-genres`` options describe.

    ``tracks`` joins by track id, ``artists`` by normalised artist name (see
    :mod:`songspace.data.metadata`); ``track_columns``/``artist_columns`` map canonical
    field names to the file's columns; ``duplicates`` says what to do with track rows that
    disagree ("merge": average them, "error": fail); ``top_genres`` is the size G of the
    genre one-hot (top-G genres + other).
    """

    tracks: str | Path | None = None
    artists: str | Path | None = None
    track_columns: Mapping[str, str] | None = None
    artist_columns: Mapping[str, str] | None = None
    duplicates: Literal["merge", "error"] = "merge"
    top_genres: int = DEFAULT_TOP_GENRES

    @property
    def empty(self) -> bool:
        """True when there is nothing to join (no track and no artist table)."""
        return self.tracks is None and self.artists is None

    def attach(self, ds: Dataset) -> Dataset:
        """``ds`` with the metadata joined (``ds`` itself when the spec is empty)."""
        if self.empty:
            return ds
        tm = (
            read_track_metadata(self.tracks, columns=self.track_columns, duplicates=self.duplicates)
            if self.tracks
            else None
        )
        am = (
            read_artist_metadata(self.artists, columns=self.artist_columns)
            if self.artists
            else None
        )
        ds = attach_metadata(ds, tracks=tm, artists=am, top_genres=self.top_genres)
        ds.source["metadata"] = {
            "tracks": str(self.tracks) if self.tracks else None,
            "artists": str(self.artists) if self.artists else None,
        }
        return ds


def _metadata_inputs(metadata: MetadataSpec | None) -> tuple[str | Path | None, ...]:
    """The metadata files a prepare reads (an output must not be one of them)."""
    return () if metadata is None else (metadata.tracks, metadata.artists)


def _finish(
    ds: Dataset, out: str | Path | None, metadata: MetadataSpec | None, overwrite: bool
) -> Dataset:
    if metadata is not None:
        ds = metadata.attach(ds)
    _check_not_empty(ds)
    if out is not None:
        ds.save(out, overwrite=overwrite)
        logger.info("wrote %s", out)
    return ds


def prepare_mpd(
    path: str | Path,
    out: str | Path | None = None,
    *,
    metadata: MetadataSpec | None = None,
    drop_empty: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """MPD slices (+ optional track/artist metadata) -> dataset directory ``out``."""
    from songspace.data.mpd import read_mpd

    _check_output(out, overwrite, (path, *_metadata_inputs(metadata)))
    ds = read_mpd(path, drop_empty=drop_empty, progress=progress)
    return _finish(ds, out, metadata, overwrite)


def prepare_long(
    path: str | Path | Sequence[str | Path],
    out: str | Path | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    metadata: MetadataSpec | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    header: bool = True,
    sep: str | None = None,
    dedupe: bool = False,
    split_noncontiguous: bool = False,
) -> Dataset:
    """Long-format CSV/Parquet (sequence_id, track_id[, position, ...]) -> dataset directory.

    ``path`` is a file, a folder or a list of them, read as one table; ``header``,
    ``sep``, ``dedupe`` and ``split_noncontiguous`` as in
    :func:`songspace.data.longformat.read_long`.
    """
    from songspace.data.longformat import read_long

    items = (path,) if isinstance(path, str | Path) else tuple(path)
    _check_output(out, overwrite, (*items, *_metadata_inputs(metadata)))
    ds = read_long(
        path,
        columns=columns,
        progress=progress,
        header=header,
        sep=sep,
        dedupe=dedupe,
        split_noncontiguous=split_noncontiguous,
    )
    return _finish(ds, out, metadata, overwrite)


def prepare_mssd(
    log: str | Path,
    out: str | Path | None = None,
    *,
    features: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """MSSD session log (+ MSSD track features) -> dataset directory."""
    from songspace.data.mssd import read_mssd, read_mssd_track_features

    _check_output(out, overwrite, (log, features))
    ds = read_mssd(log, progress=progress)
    if features is not None:
        ds = attach_metadata(ds, tracks=read_mssd_track_features(features))
        ds.source["metadata"] = {"tracks": str(features)}
    return _finish(ds, out, None, overwrite)


def prepare_lastfm(
    path: str | Path,
    out: str | Path | None = None,
    *,
    gap_minutes: float = DEFAULT_GAP_MINUTES,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Last.fm-1K listening log, sessionised by inactivity gap -> dataset directory."""
    from songspace.data.lastfm import read_lastfm

    _check_output(out, overwrite, (path,))
    ds = read_lastfm(path, gap_minutes=gap_minutes, progress=progress)
    return _finish(ds, out, None, overwrite)


def prepare_synthetic(
    out: str | Path | None = None, *, overwrite: bool = False, **kwargs: object
) -> Dataset:
    """Synthetic dataset (see :func:`songspace.data.synthetic.generate`) -> dataset directory."""
    from songspace.data.synthetic import generate

    _check_output(out, overwrite)
    ds = generate(**kwargs)  # type: ignore[arg-type]
    return _finish(ds, out, None, overwrite)


def prepare_lines(
    paths: str | Path | list[str | Path],
    out: str | Path | None = None,
    *,
    sep: str = ",",
    user_field: bool = True,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """One sequence per line (LFM-1b sub-sequences ``user,item,...``) -> dataset directory."""
    from songspace.data.lines import read_lines

    _check_output(out, overwrite, tuple([paths] if isinstance(paths, str | Path) else paths))
    ds = read_lines(paths, sep=sep, user_field=user_field, progress=progress)
    return _finish(ds, out, None, overwrite)


def prepare_melon(
    paths: str | Path | list[str | Path],
    out: str | Path | None = None,
    *,
    tags_as_genres: bool = True,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Kakao Arena Melon playlist JSON files -> dataset directory (tags as genre labels)."""
    from songspace.data.melon import read_melon

    _check_output(out, overwrite, tuple([paths] if isinstance(paths, str | Path) else paths))
    ds = read_melon(paths, tags_as_genres=tags_as_genres, progress=progress)
    return _finish(ds, out, None, overwrite)
