"""Datasets on one growing track vocabulary: the data side of incremental updates.

``songspace update`` (:mod:`songspace.models.update`) continues a model's training on a
new dataset whose tracks may be known to the model or new to it. Everything it combines
lives on one vocabulary that **extends** the model's: the known tracks first, in their
order (so a model's rows stay where they are), then the tracks the new data brings, in
the order that dataset lists them.

- :func:`extend_vocabulary` puts two datasets on such a vocabulary (track ids matched;
  the tracks table and the feature groups grown, the new rows of a group aligned to the
  old columns by name, :func:`songspace.data.align.align_features`);
- :func:`concat_sequences` is the union of two datasets' sequences (the first's, then
  the second's) on the second's vocabulary, which extends the first's;
- :func:`merge_counts` adds two count arrays or sparse matrices over vocabularies where
  one extends the other: the counts of a union are the sum of the counts of its parts,
  so a count-based model updated with it equals one built on the union, exactly;
- :func:`occurring_only` keeps a dataset's tracks that its sequences hold (a day's data
  as it would be prepared alone);
- :func:`sequence_keys` are per-sequence hashes (sequence id and track ids), which tell
  a sequence delivered again from a new one.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from songspace.data.dataset import Dataset, normalise_tracks
from songspace.data.features import FeatureGroup
from songspace.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "concat_sequences",
    "extend_vocabulary",
    "merge_counts",
    "occurring_only",
    "sequence_keys",
    "vocabulary_rows",
]


def vocabulary_rows(track_ids: pd.Series | np.ndarray, other: Dataset) -> tuple[np.ndarray, int]:
    """(the row of each of ``other``'s tracks in the vocabulary ``track_ids`` grown by
    ``other``'s unknown tracks, appended in ``other``'s order; how many were appended)."""
    row_of = {str(t): i for i, t in enumerate(np.asarray(track_ids).tolist())}
    rows = np.empty(other.n_tracks, dtype=np.int64)
    added = 0
    for i, t in enumerate(other.tracks["track_id"].astype(str).tolist()):
        r = row_of.get(t)
        if r is None:
            r = row_of[t] = len(row_of)
            added += 1
        rows[i] = r
    return rows, added


def occurring_only(ds: Dataset) -> Dataset:
    """``ds`` on the vocabulary of the tracks its sequences hold (in ``ds``'s order, with
    their feature rows): a day's data as a prepared dataset of its own would hold it.
    With :meth:`Dataset.subset` it cuts a dataset into a base and updates whose new
    tracks are really new."""
    used = np.flatnonzero(np.bincount(ds.indices, minlength=ds.n_tracks) > 0)
    rows = np.full(ds.n_tracks, -1, dtype=np.int64)
    rows[used] = np.arange(len(used))
    features = {
        name: FeatureGroup(g.name, list(g.columns), g.values[used], g.known[used], dict(g.scaling))
        for name, g in ds.features.items()
    }
    tracks = ds.tracks.iloc[used].reset_index(drop=True)
    return _with_vocabulary(ds, tracks, features, rows)


def _grown_group(old: FeatureGroup, other: Dataset, new_rows: np.ndarray) -> FeatureGroup:
    """``old`` with one row per track of ``other`` listed in ``new_rows`` appended, taken
    from ``other``'s group of that name aligned to ``old``'s columns (unknown where the
    group or a column is missing)."""
    from songspace.data.align import align_features

    n_new = len(new_rows)
    values = np.zeros((n_new, old.dim), dtype=np.float32)
    known = np.zeros((n_new, old.dim), dtype=bool)
    if old.name in other.features:
        aligned, report = align_features(other, {old.name: old.columns})
        group = aligned.features[old.name]
        values, known = group.values[new_rows], group.known[new_rows]
        if not report[0].exact:
            logger.warning("the new tracks' %s", report[0].describe())
    elif n_new:
        logger.warning(
            "the new data has no feature group '%s': its %d new tracks have it unknown",
            old.name,
            n_new,
        )
    return FeatureGroup(
        old.name,
        list(old.columns),
        np.vstack([old.values, values]).astype(np.float32),
        np.vstack([old.known, known]),
        dict(old.scaling),
    )


def extend_vocabulary(base: Dataset, other: Dataset) -> tuple[Dataset, Dataset]:
    """``base`` and ``other`` on one vocabulary: ``base``'s tracks (its rows unchanged),
    then ``other``'s tracks that ``base`` lacks, in ``other``'s order. Both results share
    the grown tracks table and ``base``'s feature groups, grown by the new tracks' rows
    of ``other`` (matched by column name; a group ``other`` lacks is unknown there, and
    ``other``'s groups that ``base`` lacks are dropped). ``other``'s sequences keep
    their ids, names, timestamps and skips, their track indices mapped to the rows."""
    rows, added = vocabulary_rows(base.tracks["track_id"], other)
    first_new = np.flatnonzero(rows >= base.n_tracks)
    first_new = first_new[np.argsort(rows[first_new], kind="stable")]
    tracks = base.tracks
    if added:
        extra = normalise_tracks(other.tracks.iloc[first_new].reset_index(drop=True))
        tracks = normalise_tracks(pd.concat([base.tracks, extra], ignore_index=True))
    features = {name: _grown_group(g, other, first_new) for name, g in base.features.items()}
    grown_base = _with_vocabulary(base, tracks, features, None)
    grown_other = _with_vocabulary(other, tracks, features, rows)
    return grown_base, grown_other


def _with_vocabulary(
    ds: Dataset,
    tracks: pd.DataFrame,
    features: dict[str, FeatureGroup],
    rows: np.ndarray | None,
) -> Dataset:
    """``ds``'s sequences on ``tracks`` (indices mapped through ``rows``, or kept)."""
    indices = np.asarray(ds.indices, dtype=np.int64)
    return Dataset(
        tracks=tracks,
        indptr=np.asarray(ds.indptr, dtype=np.int64),
        indices=indices if rows is None else rows[indices],
        sequence_ids=ds.sequence_ids,
        timestamps=ds.timestamps,
        skipped=ds.skipped,
        features=dict(features),
        source=dict(ds.source),
        sequence_names=ds.sequence_names,
    )


def _joined(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Per-entry or per-sequence arrays of two parts joined; None unless both have one."""
    return None if a is None or b is None else np.concatenate([a, b])


def concat_sequences(first: Dataset, second: Dataset) -> Dataset:
    """The sequences of ``first`` then those of ``second``, on ``second``'s vocabulary
    and feature groups, which must extend ``first``'s (its first rows are ``first``'s
    tracks, as :func:`extend_vocabulary` gives them). Timestamps, skips and names are
    kept where both parts have them."""
    n = first.n_tracks
    same = second.tracks["track_id"].iloc[:n].astype(str).tolist()
    if second.n_tracks < n or same != first.tracks["track_id"].astype(str).tolist():
        raise ParameterError(
            "second",
            f"a dataset whose vocabulary extends the first's ({n} tracks first, in order)",
            f"{second.n_tracks} tracks in another order",
            fix="put both on one vocabulary with extend_vocabulary",
        )
    offset = int(first.indptr[-1])
    return Dataset(
        tracks=second.tracks,
        indptr=np.concatenate([first.indptr, np.asarray(second.indptr[1:]) + offset]).astype(
            np.int64
        ),
        indices=np.concatenate([first.indices, second.indices]).astype(np.int64),
        sequence_ids=np.concatenate([first.sequence_ids, second.sequence_ids]),
        timestamps=_joined(first.timestamps, second.timestamps),
        skipped=_joined(first.skipped, second.skipped),
        features=dict(second.features),
        source={**second.source, "union_of": [first.source.get("name"), second.source.get("name")]},
        sequence_names=_joined(first.sequence_names, second.sequence_names),
    )


Counts = TypeVar("Counts", np.ndarray, sp.csr_matrix)


def merge_counts(old: Counts, new: Counts) -> Counts:
    """``old + new`` for counts over vocabularies where ``new``'s extends ``old``'s: a
    vector, or a square (track x track) or rectangular sparse matrix, padded with zeros to
    ``new``'s shape first. The counts of a union of sequences are the sum of its parts'
    counts, so this is exact (integer counts, in any float or integer dtype)."""
    if any(a < b for a, b in zip(new.shape, old.shape, strict=True)):
        raise ParameterError(
            "new",
            f"counts over a vocabulary extending the old one (shape at least {old.shape})",
            f"shape {new.shape}",
        )
    if isinstance(old, np.ndarray):
        out = np.array(new, copy=True)
        out[tuple(slice(0, k) for k in old.shape)] += old
        return out
    padded = sp.csr_matrix(old, copy=True)
    padded.resize(new.shape)
    merged = (padded + new).tocsr()
    merged.sum_duplicates()
    merged.sort_indices()
    return merged


def sequence_keys(ds: Dataset) -> np.ndarray:
    """One 16-byte key per sequence: BLAKE2b of its id and its track ids, in order. The
    same sequence delivered again has the same key; another one (another id, or other
    tracks) has another. Keys are compared as the array's ``bytes`` elements."""
    ids = ds.tracks["track_id"].astype(str).to_numpy(dtype=object)
    keys = np.empty(ds.n_sequences, dtype="S16")
    bounds = np.asarray(ds.indptr).tolist()
    for s, sid in enumerate(np.asarray(ds.sequence_ids).tolist()):
        tracks = "\x1f".join(ids[ds.indices[bounds[s] : bounds[s + 1]]].tolist())
        key = f"{sid}\x1e{tracks}".encode()
        keys[s] = hashlib.blake2b(key, digest_size=16).digest()
    return keys
