"""Reader for Kakao Arena Melon playlists (``train.json``/``val.json``/``test.json``).

Each file is one JSON array (one line, UTF-8, unescaped Korean text) of objects
with ``id`` (int), ``plylst_title`` (str, may be empty), ``tags`` (list of str),
``songs`` (list of int Melon song ids), ``like_cnt`` and ``updt_date``. A
playlist becomes a sequence with id ``str(id)``, its songs (as text ids, in the
published order; an id written as a string of digits is read too) as tracks and
its title as the sequence name (empty titles are None), and its ``updt_date`` (when the
playlist was last updated, ``YYYY-MM-DD HH:MM:SS.000``; naive, read as UTC like the CSV
reader's dates) as the ``timestamps`` of all its entries, in int64 seconds since the epoch:
the time of the playlist, not of a play (STAN's session recency uses it). A malformed date
is an error naming the file, playlist id and field; files whose playlists have no
``updt_date`` give a dataset without timestamps (one with it on some playlists only is an
error). A song entry that is no
id is an error showing its type, value and index. Playlists without songs
(frequent in the challenge's question files) are dropped and counted. The same
playlist id in two files is an error. A gzip, bz2, xz or single-file zip file
is read as its decompressed JSON.

Tags as labels. The dataset has no song metadata (no ``song_meta.json``), so
there are no artists or genres. With ``tags_as_genres=True`` each song's
``genres`` are the tags of the playlists that contain it, most frequent first
(ties alphabetical), and its primary genre the most frequent one: a genre-like
*label* for VRC and local coherence. It is never made a feature group, because a
playlist's own tags describe the playlist, and a model fed them would see the
test playlists' labels.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from songspace.data._tabular import check_file, open_binary, undecodable_error
from songspace.data.builder import SequenceBuilder, shown_value
from songspace.data.dataset import Dataset
from songspace.errors import (
    DuplicateError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
    ParameterError,
)
from songspace.params import POSITIVE_INT, check_param
from songspace.progress import ProgressCallback, report

logger = logging.getLogger(__name__)


def _is_song_id(value: Any) -> bool:
    """An integer song id, or one written as a string of digits."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _check_songs(songs: Any, where: dict[str, Any]) -> None:
    """FormatError naming the first entry of ``songs`` that is no song id, with its type
    and value (or what ``songs`` is when it is no list)."""
    if not isinstance(songs, list):
        raise FormatError(
            f"expected a list of integer song ids, found {shown_value(songs)}",
            field="songs",
            **where,
            fix="repair the file",
        )
    bad = next((j for j, s in enumerate(songs) if not _is_song_id(s)), None)
    if bad is not None:
        raise FormatError(
            f"expected a list of integer song ids, found {shown_value(songs[bad])} at songs[{bad}]",
            field="songs",
            **where,
            fix="correct or remove that entry",
        )


#: The playlist field holding its last update time.
DATE_FIELD = "updt_date"


def _playlist_time(pl: dict[str, Any], pid: Any, where: dict[str, Any]) -> int:
    """``pl``'s ``updt_date`` as int64 seconds since the epoch (naive dates read as UTC),
    or InvalidValueError naming the playlist id and the field."""
    raw = pl[DATE_FIELD]
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) and raw.strip() else None
    except ValueError:
        when = None
    if when is None:
        raise InvalidValueError(
            f"playlist id {pid}: expected a date like '2020-01-31 18:36:19.000', found "
            f"{shown_value(raw)}",
            field=DATE_FIELD,
            **where,
            fix="correct the date (YYYY-MM-DD HH:MM:SS) or remove the playlist",
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() // 1)


class _Times:
    """The update time of each kept playlist; every playlist has one, or none has."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.first_without: tuple[Any, dict[str, Any]] | None = None

    def add(self, pl: dict[str, Any], pid: Any, where: dict[str, Any]) -> None:
        """Record a kept playlist's time (MissingFieldError when only some have one)."""
        if DATE_FIELD in pl:
            self.values.append(_playlist_time(pl, pid, where))
        elif self.first_without is None:
            self.first_without = (pid, where)
        if self.values and self.first_without is not None:
            bad_id, bad_where = self.first_without
            raise MissingFieldError(
                f"playlist id {bad_id}: expected '{DATE_FIELD}' as on the other playlists, "
                "found none",
                field=DATE_FIELD,
                **bad_where,
                fix=f"give every playlist its {DATE_FIELD}, or remove it from all",
            )

    def per_sequence(self) -> np.ndarray | None:
        """One int64 time per kept playlist, or None when the files have no dates."""
        return np.asarray(self.values, dtype=np.int64) if self.values else None


def read_melon(
    paths: str | Path | Sequence[str | Path],
    *,
    tags_as_genres: bool = True,
    max_genres: int = 5,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Read Melon playlist JSON files into one dataset (see the module docstring)."""
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    if not files:
        raise ParameterError("paths", "at least one Melon JSON file", "none")
    max_genres = check_param("max_genres", max_genres, POSITIVE_INT)
    checked = [check_file(p, "a Melon playlist JSON file") for p in files]
    reader = _MelonReader(tags_as_genres)
    for n, path in enumerate(checked):
        report(progress, n, len(checked), f"reading {path.name}")
        for i, pl in enumerate(_load_playlists(path)):
            reader.add(pl, path, {"path": str(path), "record": f"playlist {i}"})
    report(progress, len(checked), len(checked), "read")
    return reader.build(checked, max_genres)


def _load_playlists(path: Path) -> list[Any]:
    """The JSON array of ``path`` (FormatError for undecodable text, invalid JSON or
    another kind of document)."""
    try:
        with open_binary(path) as fh:
            doc = json.loads(fh.read().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise undecodable_error(path, exc) from exc
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"expected a JSON array of playlists, found invalid JSON ({exc.msg} at "
            f"character {exc.pos})",
            path=path,
            fix="the file may be truncated: download or copy it again",
        ) from exc
    if not isinstance(doc, list):
        raise FormatError(
            f"expected a JSON array of playlists, found a {type(doc).__name__}",
            path=path,
            fix="pass train.json, val.json or test.json of the Melon dataset",
        )
    return doc


def _check_playlist(pl: Any, where: dict[str, Any]) -> tuple[int | str, list[Any]]:
    """(id, songs) of a playlist object; FormatError or MissingFieldError naming the
    first problem."""
    if not isinstance(pl, dict):
        raise FormatError(
            f"expected a playlist object, found {shown_value(pl)}",
            **where,
            fix="repair the file",
        )
    for key in ("id", "songs"):
        if key not in pl:
            raise MissingFieldError(
                f"expected '{key}', found keys {sorted(pl)}",
                field=key,
                **where,
                fix="every Melon playlist has an id and a songs list",
            )
    pid = pl["id"]
    if isinstance(pid, bool) or not isinstance(pid, int | str):
        raise FormatError(
            f"expected an integer id, found {pid!r}",
            field="id",
            **where,
            fix="repair the file",
        )
    songs = pl["songs"]
    _check_songs(songs, where)
    return pid, songs


class _MelonReader:
    """The playlists read so far (sequences, update times, ids seen and in which file)
    and, with ``tags_as_genres``, the tag counts of each song."""

    def __init__(self, tags_as_genres: bool) -> None:
        self.tags_as_genres = tags_as_genres
        self.builder = SequenceBuilder(drop_empty=True)
        self.tag_counts: dict[str, Counter[str]] = {}
        self.seen: dict[str, str] = {}
        self.times = _Times()

    def add(self, pl: Any, path: Path, where: dict[str, Any]) -> None:
        """Add one playlist of ``path`` (DuplicateError for an id read before)."""
        pid, songs = _check_playlist(pl, where)
        key = str(pid)
        if key in self.seen:
            raise DuplicateError(
                f"expected each playlist id once, found id {key} in {self.seen[key]} and again",
                field="id",
                **where,
                fix="read each playlist once: do not pass a question file together with "
                "the orig file it was cut from",
            )
        self.seen[key] = path.name
        if songs:
            self.times.add(pl, key, where)
        title = pl.get("plylst_title")
        self.builder.add(
            key,
            [str(s).strip() for s in songs],
            name=title if isinstance(title, str) and title.strip() else None,
            where=where,
        )
        tags = pl.get("tags") or []
        if self.tags_as_genres and songs and isinstance(tags, list):
            clean = [t.strip() for t in tags if isinstance(t, str) and t.strip()]
            for s in songs:
                self.tag_counts.setdefault(str(s).strip(), Counter()).update(clean)

    def build(self, checked: list[Path], max_genres: int) -> Dataset:
        """The dataset of the playlists read, with tag genres when asked for."""
        builder = self.builder
        if builder.dropped_empty:
            logger.info("dropped %d playlists without songs", builder.dropped_empty)
        ds = builder.build(
            {
                "name": "melon",
                "paths": [str(p) for p in checked],
                "dropped_empty": builder.dropped_empty,
                "genres": "playlist tags (labels only)" if self.tags_as_genres else None,
            },
            sequence_times=self.times.per_sequence(),
        )
        if self.tags_as_genres:
            genres = []
            for tid in ds.track_ids.tolist():
                c = self.tag_counts.get(tid, Counter())
                genres.append(
                    [t for t, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))][:max_genres]
                )
            ds.tracks["genres"] = genres
            ds.tracks["genre"] = [g[0] if g else None for g in genres]
        return ds
