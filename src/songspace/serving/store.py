"""Append-only store of the tracks added through ``POST /tracks``.

One JSON line per added track: the request's track document and the vector the model
gave it. A line is written, flushed and ``fsync``-ed before the request returns, so a
track whose POST returned 2xx survives SIGKILL or a power cut. On start the lines are
replayed in order. A torn last line (the process died while writing it; its POST never
returned) is dropped and the file truncated to the last complete line.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("songspace")

STORE_FORMAT = "songspace-added-tracks"


class TrackStore:
    """``path``: the JSON-lines file (created with its folder on the first append)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> list[tuple[dict[str, Any], np.ndarray]]:
        """Every complete record as (track document, vector); repairs a torn tail."""
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        out: list[tuple[dict[str, Any], np.ndarray]] = []
        good = 0
        pos = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            if end < 0:
                break
            line = data[pos:end]
            try:
                rec = json.loads(line)
                out.append((rec["track"], np.asarray(rec["vector"], dtype=np.float32)))
            except (ValueError, KeyError, TypeError):
                logger.warning("%s: dropping an unreadable record at byte %d", self.path, pos)
                break
            pos = end + 1
            good = pos
        if good < len(data):
            logger.warning(
                "%s: truncating %d bytes of an incomplete last record", self.path, len(data) - good
            )
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())
        return out

    def append(self, records: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        """Append records durably (write, flush, fsync of the file and, when new, its folder)."""
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
        with self._lock:
            new = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            if new:
                fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
