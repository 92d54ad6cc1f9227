"""Append-only store of the tracks added through ``POST /tracks``.

One JSON line per added track: the request's track document and the vector the model
gave it. What the store guarantees (tests in ``tests/serving/test_store.py`` and the
serving tests):

- **Durable.** A record is written, ``fsync``-ed (and its folder, when the file is new)
  before the request returns, so a track whose POST returned 2xx survives SIGKILL or a
  power cut.
- **Nothing partial.** A write that fails (disk full, I/O error) is cut off again before
  the error is raised (:class:`~songspace.serving.errors.StoreFullError` for ENOSPC and
  EDQUOT, :class:`~songspace.serving.errors.StoreError` otherwise), so later records
  never follow a partial one; if the cut fails too, the next append makes it first.
- **Every good record kept.** On start the lines are replayed in order. An unreadable
  line is skipped with a warning and the records after it are kept (a record appended
  on the same line right after a partial one, as older versions did after a full disk,
  is recovered). A torn last line (no newline: the process died while writing it and
  its POST never returned) is dropped, and cut from the file by the writer.
- **No duplicates.** A track id stored twice (two processes once accepted the same new
  track) is replayed once, the first record, with a warning.
- **One writer.** The process that reads the store while holding its lock file
  (``added-tracks.jsonl.lock``, ``flock``; the holder's process id inside) is the only
  one that writes it. Another process serving the same run serves the tracks stored
  when it read the store and refuses to add any
  (:class:`~songspace.serving.errors.StoreLockedError`, naming the lock and the
  holder) until it reads the store again (a reload or a restart) once the holder has
  ended. Stores of one process over the same file share the lock (a reload).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from songspace.serving.errors import StoreError, StoreFullError, StoreLockedError

logger = logging.getLogger(__name__)

STORE_FORMAT = "songspace-added-tracks"
#: The lock file is the store's path with this suffix.
LOCK_SUFFIX = ".lock"
#: How every record starts (``json.dumps`` keeps the key order of :meth:`TrackStore.append`).
_RECORD_START = b'{"format":"' + STORE_FORMAT.encode() + b'"'
_FULL = (errno.ENOSPC, errno.EDQUOT)

Record = tuple[dict[str, Any], np.ndarray]


@dataclass
class _Writer:
    """This process's hold on one store: the lock file's descriptor (open, and so locked,
    until the process ends), the lock of its threads' appends, and the store's size
    after its last complete record (None until known)."""

    fd: int
    threads: threading.Lock
    end: int | None = None


_WRITERS: dict[str, _Writer] = {}
_WRITERS_GUARD = threading.Lock()


def _claim(lock_path: Path) -> _Writer | str:
    """This process's writer of the store whose lock file is ``lock_path`` or, when
    another process holds the lock, who holds it ("process 1234"). OSError when the
    lock file cannot be created."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock_path.resolve())
    with _WRITERS_GUARD:
        held = _WRITERS.get(key)
        if held is not None:
            return held
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            return f"process {pid}" if pid.isdigit() else "another process"
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        writer = _WRITERS[key] = _Writer(fd, threading.Lock())
        return writer


def _decode(line: bytes) -> Record | None:
    """The (track document, vector) of one stored line, or None when it is not one."""
    try:
        rec = json.loads(line)
        doc, vec = rec["track"], np.asarray(rec["vector"], dtype=np.float32)
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if rec.get("format") != STORE_FORMAT or not isinstance(doc, dict) or vec.ndim != 1:
        return None
    return doc, vec


class TrackStore:
    """``path``: the JSON-lines file (created with its folder and lock file on the first
    read or append). See the module docstring for what it guarantees."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + LOCK_SUFFIX)
        self._writer: _Writer | None = None
        # why this store may not write, when it read the file without the lock
        self._refusal: StoreError | None = None

    # ------------------------------------------------------------------ the lock
    def _take_lock(self) -> None:
        try:
            claim = _claim(self.lock_path)
        except OSError as exc:
            self._writer = None
            self._refusal = StoreError(
                f"{self.path}: cannot add tracks: the store's lock file {self.lock_path} "
                f"cannot be created ({exc.strerror}). Fix: serve the run from a directory "
                f"this process may write"
            )
        else:
            if isinstance(claim, _Writer):
                self._writer, self._refusal = claim, None
                return
            self._writer = None
            self._refusal = StoreLockedError(
                f"{self.path}: expected this process to write the store of added tracks, "
                f"found {claim} holding its lock {self.lock_path}: one process at a time "
                f"writes a store, and this one serves the tracks stored when it read it. "
                f"Fix: send POST /tracks to the process holding the lock; once that one "
                f"has stopped, POST /admin/reload (or restart) this one to take the store over"
            )
        logger.info("%s; this process adds no track to it", self._refusal)

    def _writer_for_append(self) -> _Writer:
        if self._writer is None and self._refusal is None:  # never read: claim now
            self._take_lock()
        if self._writer is None:
            assert self._refusal is not None
            raise type(self._refusal)(str(self._refusal))
        return self._writer

    # ------------------------------------------------------------------ reading
    def read(self) -> list[Record]:
        """Every stored record as (track document, vector), in order; takes the store's
        lock when no other process holds it, and then cuts a torn last line."""
        self._take_lock()
        if self._writer is None:
            return self._read()[0]
        with self._writer.threads:
            records, complete = self._read()
            size = self.path.stat().st_size if self.path.exists() else 0
            if complete < size:
                logger.warning(
                    "%s: cutting %d bytes of an incomplete last record (its write was "
                    "interrupted; it was never acknowledged)",
                    self.path,
                    size - complete,
                )
                try:
                    with open(self.path, "r+b") as fh:
                        fh.truncate(complete)
                        os.fsync(fh.fileno())
                except OSError as exc:  # the next append cuts it (end is known)
                    logger.warning("%s: could not cut it now (%s)", self.path, exc.strerror)
            self._writer.end = complete
        return records

    def _read(self) -> tuple[list[Record], int]:
        """(the records, the end of the last complete line)."""
        if not self.path.is_file():
            return [], 0
        data = self.path.read_bytes()
        out: list[Record] = []
        first_line: dict[str, int] = {}
        pos = line_no = 0
        while (end := data.find(b"\n", pos)) >= 0:
            line_no += 1
            line, pos = data[pos:end], end + 1
            rec = _decode(line)
            if rec is None:
                rec = self._recover(line, line_no)
                if rec is None:
                    continue
            tid = rec[0].get("track_id")
            if isinstance(tid, str) and tid in first_line:
                logger.warning(
                    "%s, line %d: skipping a duplicate record of track %r (first stored at "
                    "line %d; two processes accepted it)",
                    self.path,
                    line_no,
                    tid,
                    first_line[tid],
                )
                continue
            if isinstance(tid, str):
                first_line[tid] = line_no
            out.append(rec)
        return out, pos

    def _recover(self, line: bytes, line_no: int) -> Record | None:
        """The record written right after a partial one on ``line``, if any."""
        start = line.rfind(_RECORD_START)
        rec = _decode(line[start:]) if start > 0 else None
        if rec is None:
            logger.warning("%s, line %d: skipping an unreadable record", self.path, line_no)
        else:
            logger.warning(
                "%s, line %d: skipping %d bytes of a partial record, keeping the record after them",
                self.path,
                line_no,
                start,
            )
        return rec

    # ------------------------------------------------------------------ writing
    def append(self, records: list[Record]) -> None:
        """Append records durably, all or none: StoreFullError (disk full) or StoreError
        (another write error, the lock held elsewhere: StoreLockedError) leave the file
        as it was."""
        if not records:
            return
        payload = b"".join(
            json.dumps(
                {"format": STORE_FORMAT, "track": doc, "vector": [float(v) for v in vec]},
                separators=(",", ":"),
            ).encode()
            + b"\n"
            for doc, vec in records
        )
        writer = self._writer_for_append()
        with writer.threads:
            new = not self.path.exists()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            try:
                fd = os.open(self.path, flags, 0o666)
            except OSError as exc:
                raise self._error(exc, len(records)) from exc
            try:
                writer.end = self._write(fd, payload, writer.end, new)
            except OSError as exc:
                raise self._error(exc, len(records)) from exc
            finally:
                os.close(fd)

    def _write(self, fd: int, payload: bytes, end: int | None, new: bool) -> int:
        """Write ``payload`` after the last complete record and sync it; on an error cut
        it off again and re-raise. Returns the new end of the last complete record."""
        start = self._cut_partial_tail(fd, end)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            if new:
                _fsync_dir(self.path.parent)
        except OSError:
            self._cut(fd, start)
            raise
        return start + len(payload)

    def _cut_partial_tail(self, fd: int, end: int | None) -> int:
        """Cut what follows the last complete record (a write that failed and could not
        be cut then); returns where the next record starts."""
        size = os.fstat(fd).st_size
        if end is None:  # appending without a read: up to the last newline
            end = _last_line_end(fd, size)
        if size <= end:
            return size
        logger.warning("%s: cutting %d bytes of a record whose write failed", self.path, size - end)
        os.ftruncate(fd, end)
        return end

    def _cut(self, fd: int, start: int) -> None:
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError as exc:
            logger.error(
                "%s: could not cut the partial record of a failed write (%s); the next "
                "append cuts it",
                self.path,
                exc.strerror,
            )

    def _error(self, exc: OSError, n: int) -> StoreError:
        what = (exc.strerror or str(exc)).rstrip(".")
        what = what[:1].lower() + what[1:]
        tracks = f"{n} track{'s' if n != 1 else ''}"
        if exc.errno in _FULL:
            return StoreFullError(
                f"{self.path}: {what} while storing {tracks}: expected room for the "
                f"records, found the disk full; none of them was added and nothing partial "
                f"was kept. Fix: free space on that file system, then send the request again"
            )
        return StoreError(
            f"{self.path}: {what} while storing {tracks}: none of them was added and "
            f"nothing partial was kept. Fix: check the file system of the run directory, "
            f"then send the request again"
        )


def _last_line_end(fd: int, size: int, chunk: int = 1 << 16) -> int:
    """The offset just after the last newline of the file (0 without one)."""
    pos = size
    while pos > 0:
        lo = max(0, pos - chunk)
        i = os.pread(fd, pos - lo, lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
