"""Assemble sequences of string keys into the CSR arrays of a :class:`Dataset`.

Readers stream their input in chunks; the builder keeps only compact integer
arrays (plus one dict entry per distinct track and sequence), never a Python
object per entry, so memory grows with the catalogue, not with the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.features import popularity_group
from songspace.errors import DuplicateError, EmptySequenceError


def normalise_name(name: Any) -> str | None:
    """Join key for artist names: case-folded, surrounding white space removed."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return None
    key = str(name).strip().casefold()
    return key or None


def shown_value(value: Any, limit: int = 60) -> str:
    """A value for an error message, with its type: "a str 'x'", "a dict {...}", "null"."""
    if value is None:
        return "null"
    text = repr(value)
    kind = type(value).__name__
    short = text if len(text) <= limit else text[:limit] + "..."
    return f"{_article(kind)} {kind} {short}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


#: The scheme of Spotify URIs (``spotify:<kind>:<id>``).
SPOTIFY_SCHEME = "spotify:"


def spotify_uri_kind(value: str) -> str | None:
    """The kind of a Spotify URI ('track', 'album', 'artist', ...), case-folded; None
    when ``value`` is not one (a bare id)."""
    if value[: len(SPOTIFY_SCHEME)].lower() != SPOTIFY_SCHEME:
        return None
    return value[len(SPOTIFY_SCHEME) :].split(":", 1)[0].lower()


def wrong_uri_message(value: str, kind: str, expected: str) -> str:
    """ "expected a track URI like 'spotify:track:<id>' (or a bare id), found an album URI
    'spotify:album:x'" for a Spotify URI of another kind than ``expected``."""
    return (
        f"expected {_article(expected)} {expected} URI like 'spotify:{expected}:<id>' (or a "
        f"bare {expected} id), found {_article(kind or 'x')} {kind or 'unnamed'} URI {value!r}"
    )


class KeyIndex:
    """Dense integer codes for string keys, in order of first appearance.

    Keys must be ``str`` (readers pass identifiers as text, verbatim); they are
    stored as given, never converted, so ``"7"`` and ``7`` could not both occur
    unnoticed: :meth:`encode` raises TypeError for any other type.
    """

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.keys: list[str] = []

    def __len__(self) -> int:
        return len(self.keys)

    def encode(self, keys: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int64 codes of ``keys``, mask of the positions where a new key first occurs).

        A key is new if no earlier call saw it; the mask marks only its first
        position in ``keys``. New keys get the next codes in order of appearance.
        """
        local, uniques = pd.factorize(np.asarray(keys, dtype=object), use_na_sentinel=False)
        if len(uniques) and pd.api.types.infer_dtype(uniques, skipna=False) != "string":
            bad = next(k for k in uniques if not isinstance(k, str))
            raise TypeError(f"KeyIndex keys must be str, got {type(bad).__name__} {bad!r}")
        get = self.codes.get
        mapping = np.array([get(k, -1) for k in uniques], dtype=np.int64)
        new_local = mapping < 0
        first = np.zeros(len(local), dtype=bool)
        n_new = int(np.count_nonzero(new_local))
        if n_new:
            start = len(self.keys)
            new_keys = uniques[new_local].tolist()
            self.codes.update(zip(new_keys, range(start, start + n_new), strict=True))
            self.keys.extend(new_keys)
            mapping[new_local] = np.arange(start, start + n_new)
            # factorize numbers keys by first appearance, so a key occurs first where
            # its local code exceeds every earlier one.
            running = np.maximum.accumulate(local)
            first[0] = True
            first[1:] = running[1:] > running[:-1]
            first &= new_local[local]
        return mapping[local], first


class SequenceBuilder:
    """Collect whole sequences (MPD playlists) one at a time.

    Track attributes (name, artist) are taken from a track's first occurrence.
    """

    def __init__(self, *, drop_empty: bool = False) -> None:
        self.drop_empty = drop_empty
        self.tracks = KeyIndex()
        self.attrs: dict[str, list[Any]] = {"track_name": [], "artist_id": [], "artist_name": []}
        self._indices: list[np.ndarray] = []
        self._lengths: list[int] = []
        self._seq_ids: dict[str, int] = {}
        self._names: list[str | None] = []
        self.dropped_empty = 0

    def add(
        self,
        seq_id: str,
        track_keys: Sequence[str],
        *,
        track_names: Sequence[Any] | None = None,
        artist_ids: Sequence[Any] | None = None,
        artist_names: Sequence[Any] | None = None,
        name: str | None = None,
        where: dict[str, Any] | None = None,
    ) -> None:
        where = where or {}
        if seq_id in self._seq_ids:
            raise DuplicateError(
                f"expected unique sequence ids, found {seq_id!r} a second time",
                fix="remove the repeated playlist or give it a distinct id",
                **where,
            )
        if len(track_keys) == 0:
            if self.drop_empty:
                self.dropped_empty += 1
                return
            raise EmptySequenceError(
                "expected at least one track, found an empty sequence",
                fix="remove the empty playlist or pass --drop-empty (drop_empty=True) to skip it",
                **where,
            )
        self._seq_ids[seq_id] = len(self._seq_ids)
        self._names.append(name if isinstance(name, str) else None)
        codes, new = self.tracks.encode(track_keys)
        if new.any():
            for name, vals in (
                ("track_name", track_names),
                ("artist_id", artist_ids),
                ("artist_name", artist_names),
            ):
                if vals is None:
                    self.attrs[name].extend([None] * int(new.sum()))
                else:
                    self.attrs[name].extend(vals[i] for i in np.flatnonzero(new).tolist())
        self._indices.append(codes.astype(np.int64))
        self._lengths.append(len(codes))

    def build(self, source: dict[str, Any], *, sequence_times: np.ndarray | None = None) -> Dataset:
        """The Dataset; ``sequence_names`` is kept when any sequence has a name.

        ``sequence_times`` (one int64 seconds value per kept sequence, in order of
        :meth:`add`) becomes the ``timestamps`` of every entry of its sequence.
        """
        timestamps = None
        if sequence_times is not None:
            timestamps = np.repeat(np.asarray(sequence_times, dtype=np.int64), self._lengths)
        names = (
            np.asarray(self._names, dtype=object)
            if any(n is not None for n in self._names)
            else None
        )
        return finish_dataset(
            sequence_names=names,
            track_ids=self.tracks.keys,
            indptr=np.concatenate([[0], np.cumsum(self._lengths, dtype=np.int64)]),
            indices=np.concatenate(self._indices) if self._indices else np.zeros(0, np.int64),
            sequence_ids=np.asarray(list(self._seq_ids), dtype=object),
            track_attrs=self.attrs,
            timestamps=timestamps,
            source=source,
        )


def assemble_entries(
    seq_codes: np.ndarray,
    order: np.ndarray,
    track_codes: np.ndarray,
    ordinal: np.ndarray,
    n_sequences: int,
    *,
    locate: Callable[[int], dict[str, Any]],
    order_field: str = "position",
    ties: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Sort long-format entries by (sequence, order); return (permutation, indptr).

    ``ordinal`` is each entry's place in the input (file order, across files), which
    breaks ties: with ``ties`` (the order is a timestamp, where two plays in one second
    are normal) equal values keep their input order instead of being an error.
    ``locate(i)`` gives entry ``i``'s place as InputError keywords (``path`` and
    ``line``, or ``path`` and ``record`` such as "row index 3"). Raises DuplicateError
    naming both places if a sequence repeats a value of ``order``.
    """
    perm = np.lexsort((ordinal, order, seq_codes))
    s, o = seq_codes[perm], order[perm]
    dup = np.flatnonzero((s[1:] == s[:-1]) & (o[1:] == o[:-1]))
    if len(dup) and not ties:
        first, where = locate(int(perm[dup[0]])), locate(int(perm[dup[0] + 1]))
        where = {k: v for k, v in where.items() if k != "field"}
        raise DuplicateError(
            f"expected each {order_field} once per sequence, found {order_field} "
            f"{o[dup[0]]} on {_place(first, where.get('path'))} and again",
            field=order_field,
            fix=f"remove the duplicated row, or renumber that sequence so that no value "
            f"of '{order_field}' repeats",
            **where,
        )
    lengths = np.bincount(seq_codes, minlength=n_sequences)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return perm, indptr


def _place(where: Mapping[str, Any], path: str | None) -> str:
    """'line 5' / 'row index 5', or 'FILE:5' / 'FILE row index 5' when not in ``path``."""
    same = where.get("path") == path
    if where.get("line") is not None:
        return f"line {where['line']}" if same else f"{where['path']}:{where['line']}"
    return str(where.get("record")) if same else f"{where['path']} {where.get('record')}"


def finish_dataset(
    *,
    track_ids: Sequence[str],
    indptr: np.ndarray,
    indices: np.ndarray,
    sequence_ids: np.ndarray,
    track_attrs: Mapping[str, Sequence[Any]] | None = None,
    timestamps: np.ndarray | None = None,
    skipped: np.ndarray | None = None,
    source: dict[str, Any] | None = None,
    sequence_names: np.ndarray | None = None,
) -> Dataset:
    """Make a validated Dataset with the always-available global popularity group."""
    n_tracks = len(track_ids)
    attrs = track_attrs or {}
    artist_names = attrs.get("artist_name")
    artist_ids = attrs.get("artist_id")
    if artist_names is not None:
        # An artist id is the source's own id where it has one, else the normalised name.
        artist_ids = [
            aid if aid is not None else normalise_name(an)
            for aid, an in zip(
                artist_ids if artist_ids is not None else [None] * n_tracks,
                artist_names,
                strict=True,
            )
        ]
    tracks = make_tracks_table(
        track_ids,
        track_names=attrs.get("track_name"),
        artist_ids=artist_ids,
        artist_names=artist_names,
        genres=attrs.get("genres"),
    )
    dtype = np.int32 if n_tracks < 2**31 - 1 else np.int64
    ds = Dataset(
        tracks=tracks,
        indptr=np.asarray(indptr, dtype=np.int64),
        indices=np.asarray(indices, dtype=dtype),
        sequence_ids=np.asarray(sequence_ids, dtype=object),
        sequence_names=sequence_names,
        timestamps=timestamps,
        skipped=skipped,
        source=dict(source or {}),
    )
    ds.features["popularity"] = popularity_group(ds.occurrences(), ds.n_sequences)
    return ds.validate()
