"""One fingerprint of a dataset's learnable content (used by the model cache and by studies).

:func:`sequences_fingerprint` is the narrower one of the sequences alone, recorded with the
saved graph tables.

:func:`dataset_fingerprint` hashes what a model can learn from: the sequences,
the track ids, the genre/artist columns, every feature group (values and known
masks) and the play/skip outcomes. Two datasets with the same fingerprint train
the same models; the compare cache (:mod:`songspace.reports.cache`) keys trained
models on it and a tuning study records it so that resumed runs, other workers
and ``songspace tune-report`` use the same data.
"""

from __future__ import annotations

import hashlib

import numpy as np

from songspace.data.dataset import Dataset


def dataset_fingerprint(ds: Dataset) -> str:
    """SHA-256 (hex) of what a model can learn from: sequences, track ids and feature values."""
    h = hashlib.sha256()
    for arr in (ds.indptr, ds.indices):
        a = np.ascontiguousarray(arr, dtype=np.int64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update("\x1f".join(map(str, ds.track_ids)).encode("utf-8"))
    for col in ("genre", "artist_id"):
        if col in ds.tracks:
            h.update(col.encode())
            h.update("\x1f".join(map(str, ds.tracks[col].tolist())).encode("utf-8"))
    for name in sorted(ds.features):
        g = ds.features[name]
        h.update(name.encode())
        h.update("\x1f".join(g.columns).encode())
        h.update(np.ascontiguousarray(g.values, dtype=np.float32).tobytes())
        h.update(np.packbits(np.asarray(g.known, dtype=bool)).tobytes())
    if ds.skipped is not None:
        h.update(np.packbits(np.asarray(ds.skipped, dtype=bool)).tobytes())
    return h.hexdigest()


def sequences_fingerprint(ds: Dataset) -> str:
    """SHA-256 (hex) of the sequences alone (``indptr``, ``indices``, the number of tracks):
    what the graph tables are a function of. Recorded with the saved graph
    (``songspace prepare --graph``), so that a model reuses it only for the same sequences
    (never for a training split of them)."""
    h = hashlib.sha256()
    h.update(f"n_tracks={ds.n_tracks}".encode())
    for arr in (ds.indptr, ds.indices):
        h.update(str(arr.shape).encode())
        for start in range(0, len(arr), 1 << 22):  # int64 chunks, no full-size copy
            h.update(np.ascontiguousarray(arr[start : start + (1 << 22)], np.int64).data)
    return h.hexdigest()


def _legacy_study_fingerprint(ds: Dataset) -> str:
    # What studies created before the fingerprint was shared recorded (16 hex digits of
    # the sequences and the vocabulary size); read only, never written.
    h = hashlib.sha256()
    h.update(np.asarray(ds.indptr, dtype=np.int64).tobytes())
    h.update(np.asarray(ds.indices, dtype=np.int64).tobytes())
    h.update(str(ds.n_tracks).encode())
    return h.hexdigest()[:16]


def fingerprint_matches(ds: Dataset, stored: str) -> bool:
    """Whether ``stored`` (a recorded fingerprint) is ``ds``'s: the current form, or the
    16-digit form that studies created by earlier versions recorded."""
    if len(stored) == 16:
        return _legacy_study_fingerprint(ds) == stored
    return dataset_fingerprint(ds) == stored
