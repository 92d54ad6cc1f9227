"""Reader for the Spotify Million Playlist Dataset JSON slices.

Accepts a folder of ``mpd.slice.*.json`` files, a single slice, or the official
zip. Both the full schema (``pos``, ``artist_uri``, ``album_uri``, ...) and the
reduced one (``track_uri``, ``track_name``, ``artist_name``) are read. Slices
are parsed one at a time, so memory holds one slice plus the growing CSR arrays.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from songspace.data.builder import SequenceBuilder
from songspace.data.dataset import Dataset
from songspace.errors import FormatError, InvalidValueError, MissingFieldError
from songspace.progress import ProgressCallback, track

logger = logging.getLogger("songspace")

_SLICE_RE = re.compile(r"mpd\.slice\.(\d+)-(\d+)\.json$")
TRACK_PREFIX = "spotify:track:"
ARTIST_PREFIX = "spotify:artist:"


def _slice_key(name: str) -> tuple[int, str]:
    m = _SLICE_RE.search(name)
    return (int(m.group(1)) if m else 2**62, name)


def list_slices(path: str | Path) -> list[tuple[str, Any]]:
    """The slices under ``path`` in slice order, as (display name, opener) pairs."""
    path = Path(path)
    if not path.exists():
        raise FormatError(
            "expected an MPD slice file, a folder of slices or the MPD zip, found nothing",
            path=path,
            fix="check the path",
        )
    if path.is_dir():
        files = sorted(path.glob("*.json"), key=lambda p: _slice_key(p.name))
        if not files:
            raise FormatError(
                "expected *.json MPD slice files in this folder, found none",
                path=path,
                fix="point to the folder that holds mpd.slice.*.json (the zip's data/ folder)",
            )
        return [(str(f), f) for f in files]
    if _looks_like_zip(path) and not zipfile.is_zipfile(path):
        raise FormatError(
            "expected a complete zip archive, found a truncated or damaged one (its central "
            "directory, at the end of the file, is missing)",
            path=path,
            fix="download the zip again (compare its size with the published one), or "
            "extract what you can and pass the folder of slices",
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = sorted(
                (n for n in zf.namelist() if n.endswith(".json") and "slice" in n),
                key=_slice_key,
            )
        if not members:
            raise FormatError(
                "expected mpd.slice.*.json members in the zip, found none",
                path=path,
                fix="pass the official spotify_million_playlist_dataset.zip",
            )
        return [(f"{path}!{m}", (path, m)) for m in members]
    return [(str(path), path)]


def _looks_like_zip(path: Path) -> bool:
    """A ``.zip`` name or the zip magic bytes (``PK``) at the start of the file."""
    if path.suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def _json_error(exc: json.JSONDecodeError) -> str:
    """``exc`` in words, e.g. "unterminated string starting at column 17" (the line is
    the error's location)."""
    what = exc.msg.removesuffix(" starting at")
    starting = " starting" if what != exc.msg else ""
    what = what[:1].lower() + what[1:]
    return f"{what}{starting} at column {exc.colno}"


def _open(src: Any) -> IO[bytes]:
    if isinstance(src, tuple):
        zf = zipfile.ZipFile(src[0])
        return zf.open(src[1])
    return open(src, "rb")


def iter_playlists(
    path: str | Path, *, progress: ProgressCallback | None = None
) -> Iterator[tuple[str, int, dict]]:
    """Yield (slice name, index in slice, playlist dict) for every playlist, in order."""
    slices = list_slices(path)
    for name, src in track(slices, progress, "MPD slices"):
        try:
            fh = _open(src)
            with fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise FormatError(
                f"expected valid JSON, found {_json_error(exc)} (truncated or damaged file?)",
                path=name,
                line=exc.lineno,
                fix="re-download or re-extract this slice, or remove it from the folder",
            ) from exc
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise FormatError(
                f"expected a readable zip member, found a damaged one ({exc})",
                path=name,
                fix="download the zip again, or extract what you can and pass the folder",
            ) from exc
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"expected UTF-8 JSON, found undecodable bytes ({exc.reason})",
                path=name,
                fix="re-download this slice",
            ) from exc
        if not isinstance(data, dict):
            raise FormatError(
                f"expected a JSON object with a 'playlists' list, found a {type(data).__name__}",
                path=name,
                fix="pass MPD slice files (mpd.slice.*.json)",
            )
        if "playlists" not in data:
            raise MissingFieldError(
                f"expected the top-level key 'playlists', found keys {sorted(data)}",
                path=name,
                field="playlists",
                fix="this is not an MPD slice; remove it from the input",
            )
        playlists = data["playlists"]
        if not isinstance(playlists, list):
            raise FormatError(
                f"expected a list, found a {type(playlists).__name__}",
                path=name,
                field="playlists",
                fix="pass MPD slice files (mpd.slice.*.json)",
            )
        for i, pl in enumerate(playlists):
            yield name, i, pl


def read_mpd(
    path: str | Path, *, drop_empty: bool = False, progress: ProgressCallback | None = None
) -> Dataset:
    """Read MPD slices into a :class:`Dataset` (sequence id = ``pid``; track id = bare id).

    Artist ids come from ``artist_uri`` when present, else the normalised artist name.
    """
    builder = SequenceBuilder(drop_empty=drop_empty)
    n_files = len(list_slices(path))
    for name, i, pl in iter_playlists(path, progress=progress):
        record = f"playlist {i}"
        if not isinstance(pl, dict):
            raise FormatError(
                f"expected a JSON object, found a {type(pl).__name__}",
                path=name,
                record=record,
                fix="repair the slice",
            )
        if "pid" not in pl:
            raise MissingFieldError(
                f"expected a 'pid', found keys {sorted(pl)}",
                path=name,
                record=record,
                field="pid",
                fix="every MPD playlist has a pid; repair the slice",
            )
        pid = pl["pid"]
        if isinstance(pid, bool) or not (
            isinstance(pid, int) or (isinstance(pid, str) and pid.strip())
        ):
            raise InvalidValueError(
                "expected a pid (an integer or a non-empty string), found "
                + ("null" if pid is None else repr(pid)),
                path=name,
                record=record,
                field="pid",
                fix="give the playlist its id, or remove the playlist",
            )
        record = f"playlist {i} (pid {pid})"
        tracks = pl.get("tracks")
        if not isinstance(tracks, list):
            raise (MissingFieldError if tracks is None else FormatError)(
                "expected a list of tracks, found "
                + ("nothing" if tracks is None else type(tracks).__name__),
                path=name,
                record=record,
                field="tracks",
                fix="repair the slice",
            )
        keys, names, artist_ids, artist_names = [], [], [], []
        for j, t in enumerate(tracks):
            uri = t.get("track_uri") if isinstance(t, dict) else None
            if not isinstance(uri, str) or not uri:
                raise (
                    MissingFieldError
                    if isinstance(t, dict) and "track_uri" not in t
                    else InvalidValueError
                )(
                    f"expected a track_uri string like 'spotify:track:<id>', found {uri!r}",
                    path=name,
                    record=f"{record}, track {j}",
                    field="track_uri",
                    fix="repair or remove this track entry",
                )
            key = uri.removeprefix(TRACK_PREFIX)
            if not key.strip():
                raise InvalidValueError(
                    f"expected a track id after {TRACK_PREFIX!r}, found {uri!r}",
                    path=name,
                    record=f"{record}, track {j}",
                    field="track_uri",
                    fix="repair or remove this track entry",
                )
            keys.append(key)
            names.append(t.get("track_name"))
            aid = t.get("artist_uri")
            artist_ids.append(aid.removeprefix(ARTIST_PREFIX) if isinstance(aid, str) else None)
            artist_names.append(t.get("artist_name"))
        builder.add(
            str(pid),
            keys,
            track_names=names,
            artist_ids=artist_ids,
            artist_names=artist_names,
            name=pl.get("name"),
            where={"path": name, "record": record},
        )
    if builder.dropped_empty:
        logger.warning("dropped %d empty playlists", builder.dropped_empty)
    return builder.build(
        {"name": "mpd", "path": str(path), "files": n_files, "dropped_empty": builder.dropped_empty}
    )
