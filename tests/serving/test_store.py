"""The append-only store of added tracks (``RUN/serving/added-tracks.jsonl``): every
acknowledged record is kept whatever damage lies before it, a failed write leaves nothing
behind, duplicates are skipped, and one process at a time writes (issue 27, items 12-13)."""

import errno
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from songspace.serving.errors import StoreFullError, StoreLockedError
from songspace.serving.store import STORE_FORMAT, TrackStore
from tests.serving.diskfull import DiskFull
from tests.serving.server import SRC


def record(tid: str, dim: int = 3) -> bytes:
    vec = [float(len(tid)), 1.0, 2.0][:dim]
    doc = {"format": STORE_FORMAT, "track": {"track_id": tid}, "vector": vec}
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def ids(records) -> list[str]:
    return [doc["track_id"] for doc, _ in records]


def test_read_keeps_every_good_record_after_a_bad_one(tmp_path, caplog):
    path = tmp_path / "added-tracks.jsonl"
    partial = record("p")[:25]  # a write cut short by a full disk ...
    path.write_bytes(
        record("a")
        + b"not json at all\n"
        + record("b")
        + partial
        + record("c")  # ... and the next append written right after it, on the same line
        + record("d")
        + record("e")[:20]  # a torn tail: its POST never answered
    )
    with caplog.at_level(logging.WARNING, logger="songspace"):
        got = TrackStore(path).read()
    assert ids(got) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(got[2][1], np.array([1.0, 1.0, 2.0], dtype=np.float32))
    # only the torn tail is cut; every complete record stays in the file
    data = path.read_bytes()
    assert data.endswith(record("d")) and record("a") in data and record("b") in data
    assert ids(TrackStore(path).read()) == ["a", "b", "c", "d"]
    text = caplog.text
    assert "line 2" in text and "line 4" in text and str(path) in text


def test_read_skips_duplicate_records_with_a_warning(tmp_path, caplog):
    path = tmp_path / "added-tracks.jsonl"
    path.write_bytes(record("a") + record("b") + record("a") + record("c"))
    with caplog.at_level(logging.WARNING, logger="songspace"):
        got = TrackStore(path).read()
    assert ids(got) == ["a", "b", "c"]
    assert "duplicate" in caplog.text and "'a'" in caplog.text and "line 3" in caplog.text


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_failed_write_leaves_nothing_and_later_records_survive(tmp_path, monkeypatch):
    path = tmp_path / "serving" / "added-tracks.jsonl"
    store = TrackStore(path)
    assert store.read() == []
    vec = np.ones(3, dtype=np.float32)
    store.append([({"track_id": "a"}, vec)])
    size = path.stat().st_size
    disk = DiskFull(path, room=30).install(monkeypatch)
    with pytest.raises(StoreFullError) as err:
        store.append([({"track_id": "b"}, vec), ({"track_id": "b2"}, vec)])
    assert str(path) in str(err.value) and "no space left" in str(err.value)
    assert "Fix:" in str(err.value)
    assert path.stat().st_size == size  # the partial record was cut
    disk.room = 10**6  # space freed
    store.append([({"track_id": "c"}, vec)])
    store.append([({"track_id": "d"}, vec)])
    monkeypatch.undo()
    assert ids(TrackStore(path).read()) == ["a", "c", "d"]


def test_a_failed_fsync_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "added-tracks.jsonl"
    store = TrackStore(path)
    store.read()
    vec = np.ones(3, dtype=np.float32)
    store.append([({"track_id": "a"}, vec)])
    real = os.fsync

    def failing(fd):
        if os.fstat(fd).st_ino == path.stat().st_ino:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(StoreFullError):
        store.append([({"track_id": "b"}, vec)])
    monkeypatch.undo()
    store.append([({"track_id": "c"}, vec)])
    assert ids(TrackStore(path).read()) == ["a", "c"]


def test_an_append_cuts_a_partial_tail_left_before_it(tmp_path):
    path = tmp_path / "added-tracks.jsonl"
    store = TrackStore(path)
    store.read()
    vec = np.ones(3, dtype=np.float32)
    store.append([({"track_id": "a"}, vec)])
    with open(path, "ab") as fh:  # a write that died half-way (no answer was given)
        fh.write(record("x")[:15])
    store.append([({"track_id": "b"}, vec)])
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["track"]["track_id"] for line in lines] == ["a", "b"]


HOLDER = """
import sys, time
from songspace.serving.store import TrackStore
TrackStore(sys.argv[1]).read()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_refuses_to_write_and_names_the_lock(tmp_path):
    path = tmp_path / "serving" / "added-tracks.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        store = TrackStore(path)
        store.read()
        with pytest.raises(StoreLockedError) as err:
            store.append([({"track_id": "a"}, np.ones(3, dtype=np.float32))])
        msg = str(err.value)
        assert str(path) + ".lock" in msg and f"process {holder.pid}" in msg and "Fix:" in msg
        assert not path.exists() or path.read_bytes() == b""
    finally:
        holder.kill()
        holder.wait(10)
    # the holder is gone, but this store read the file while another process could
    # write it: it still refuses; a fresh read (a reload or a restart) takes the store over
    with pytest.raises(StoreLockedError, match="reload"):
        store.append([({"track_id": "a"}, np.ones(3, dtype=np.float32))])
    fresh = TrackStore(path)
    fresh.read()
    fresh.append([({"track_id": "a"}, np.ones(3, dtype=np.float32))])
    assert ids(TrackStore(path).read()) == ["a"]


def test_stores_of_one_process_share_the_lock(tmp_path):
    """A reload builds a second TrackStore over the same file in the same process."""
    path = tmp_path / "added-tracks.jsonl"
    first, second = TrackStore(path), TrackStore(path)
    first.read()
    second.read()
    vec = np.ones(3, dtype=np.float32)
    first.append([({"track_id": "a"}, vec)])
    second.append([({"track_id": "b"}, vec)])
    first.append([({"track_id": "c"}, vec)])
    assert ids(TrackStore(path).read()) == ["a", "b", "c"]
