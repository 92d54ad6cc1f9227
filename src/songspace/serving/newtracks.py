"""Tracks that arrive after training: their description, the grown dataset, hold-outs.

A new track is described by a JSON object (``POST /tracks``, ``songspace recommend
--embed-new track.json``, :meth:`songspace.serving.Recommender.embed_new`)::

    {
      "track_id": "7ouMYWpwJ422jRcDASZB7P",          # required, not yet served
      "track_name": "...", "artist_name": "...", "artist_id": "...", "genre": "...",
      "genres": ["dance pop", "pop"],                # fills the `genre` feature group
      "features": {"audio": {"danceability": 0.61, "tempo": 121.0},
                   "popularity": {"source": 55}},   # raw values, scaled like the dataset
      "playlists": ["2365", "2401"],                 # existing sequence ids it was added to
      "cooccurring": ["5Wj1rJnCLpMHdLaxsFtJLs", ...] # tracks of one new sequence with it
    }

A track needs at least one input to be embedded from: a feature value, ``genres`` (when
the dataset has a genre group), ``playlists`` or ``cooccurring``. A bare track has no
feature and no edge, the tracks training marks unavailable, and would get one vector
shared by every bare track: :func:`parse_track` refuses it.

Feature values are *raw* (tempo in BPM, popularity 0-100): each column is scaled with
the range the dataset recorded for it (``FeatureGroup.scaling``), so the new track's
inputs are what preparation would have given it. A column left out is unknown (never
invented). The ``global`` popularity column is computed from the playlists, as for every
track. The grown dataset (:func:`grow`) holds the new tracks at the end of the
vocabulary and inside their playlists, so an inductive model's ``embed`` on it gives the
vector the track would have had, had it been there when the model was applied
(MUSIG §3.4, inductive inference).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from songspace.data.dataset import Dataset, FeatureGroup
from songspace.data.features import with_global_popularity
from songspace.errors import DuplicateError, InvalidValueError, MissingFieldError

_META = ("track_name", "artist_id", "artist_name", "genre")
_KEYS = {"track_id", *_META, "genres", "features", "playlists", "cooccurring"}


@dataclass
class NewTrack:
    """A validated new-track description (see the module docstring)."""

    track_id: str
    meta: dict[str, str | None]
    genres: list[str]
    features: dict[str, dict[str, float]]
    playlists: list[str] = field(default_factory=list)
    cooccurring: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def parse_track(
    doc: Mapping[str, Any],
    dataset: Dataset,
    *,
    where: str = "track",
    require_inputs: bool = True,
) -> NewTrack:
    """Validate one new-track object against ``dataset``'s feature groups.

    Raises :class:`~songspace.errors.InputError` subclasses naming the field; unknown
    feature groups or columns list the accepted names. ``require_inputs``: refuse a
    track with nothing to embed it from (:func:`check_inputs`); replaying tracks stored
    before that check existed passes False.
    """
    if not isinstance(doc, Mapping):
        raise InvalidValueError(
            f"expected a JSON object, found {type(doc).__name__}", record=where, field="track"
        )
    extra = sorted(set(doc) - _KEYS)
    if extra:
        raise InvalidValueError(
            f"expected only the keys {sorted(_KEYS)}, found {extra}",
            record=where,
            field=extra[0],
            fix="remove the unknown keys",
        )
    tid = doc.get("track_id")
    if not isinstance(tid, str) or not tid.strip():
        raise MissingFieldError(
            f"expected a non-empty string track_id, found {tid!r}", record=where, field="track_id"
        )
    meta: dict[str, str | None] = {}
    for key in _META:
        v = doc.get(key)
        if v is not None and not isinstance(v, str):
            raise InvalidValueError(
                f"expected a string or null, found {type(v).__name__}", record=where, field=key
            )
        meta[key] = v
    genres = _str_list(doc.get("genres", []), where, "genres")
    feats: dict[str, dict[str, float]] = {}
    raw_feats = doc.get("features", {}) or {}
    if not isinstance(raw_feats, Mapping):
        raise InvalidValueError(
            f"expected an object {{group: {{column: value}}}}, found {type(raw_feats).__name__}",
            record=where,
            field="features",
        )
    numeric = {g: grp for g, grp in dataset.features.items() if g != "genre"}
    for g, cols in raw_feats.items():
        if g == "genre":
            raise InvalidValueError(
                "expected the genre group through the `genres` list, found features.genre",
                record=where,
                field="features.genre",
                fix='pass "genres": ["pop", ...]',
            )
        if g not in numeric:
            raise InvalidValueError(
                f"expected a feature group of the dataset ({sorted(numeric)}), found {g!r}",
                record=where,
                field=f"features.{g}",
            )
        if not isinstance(cols, Mapping):
            raise InvalidValueError(
                f"expected an object {{column: value}}, found {type(cols).__name__}",
                record=where,
                field=f"features.{g}",
            )
        allowed = [c for c in numeric[g].columns if not (g == "popularity" and c == "global")]
        out: dict[str, float] = {}
        for c, v in cols.items():
            if c not in allowed:
                raise InvalidValueError(
                    f"expected a column of group {g!r} ({allowed}), found {c!r}"
                    + (" (computed from the playlists)" if c == "global" else ""),
                    record=where,
                    field=f"features.{g}.{c}",
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InvalidValueError(
                    f"expected a finite number, found {v!r}",
                    record=where,
                    field=f"features.{g}.{c}",
                )
            out[c] = float(v)
        feats[g] = out
    playlists = _str_list(doc.get("playlists", []), where, "playlists")
    cooc = _str_list(doc.get("cooccurring", []), where, "cooccurring")
    track = NewTrack(tid, meta, genres, feats, playlists, cooc, dict(doc))
    if require_inputs:
        check_inputs(track, dataset, where=where)
    return track


def check_inputs(track: NewTrack, dataset: Dataset, *, where: str = "track") -> None:
    """Refuse a track with no input to embed it from: no feature value, no genres (or a
    dataset without a genre group), no playlists and no co-occurring tracks. Training
    marks such a track unavailable (no feature, no edge); embedding it anyway gives
    every such track one and the same vector."""
    has_genres = bool(track.genres) and "genre" in dataset.features
    if any(track.features.values()) or has_genres or track.playlists or track.cooccurring:
        return
    groups = sorted(g for g in dataset.features if g != "genre")
    genres = (
        "`genres` (a list of genre names)"
        if "genre" in dataset.features
        else "`genres` (not here: the dataset has no genre group)"
    )
    raise InvalidValueError(
        "expected at least one input to embed the track from: a feature value "
        f"(`features`: {{group: {{column: value}}}}, groups {groups}), {genres}, "
        "`playlists` (existing sequence ids) or `cooccurring` (served track ids); found "
        "none. A track without any has no feature and no edge, as the tracks training "
        "marks unavailable",
        record=where,
        fix="describe the track with its features, genres or the playlists it was added to",
    )


def _str_list(v: Any, where: str, name: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidValueError(
            f"expected a list of strings, found {v!r}"[:200], record=where, field=name
        )
    return list(v)


def _feature_rows(group: FeatureGroup, tracks: Sequence[NewTrack]) -> tuple[np.ndarray, np.ndarray]:
    values = np.zeros((len(tracks), group.dim), dtype=np.float32)
    known = np.zeros((len(tracks), group.dim), dtype=bool)
    if group.name == "genre":
        pos = {c[len("genre:") :]: j for j, c in enumerate(group.columns)}
        other = pos.get("other")
        for i, t in enumerate(tracks):
            if not t.genres:
                continue
            known[i] = True
            hit = [pos[g] for g in t.genres if g in pos and g != "other"]
            if hit:
                values[i, hit] = 1.0
            elif other is not None:
                values[i, other] = 1.0
        return values, known
    if group.name == "popularity" and "global" in group.columns:
        known[:, group.columns.index("global")] = True  # computed from the playlists
    for i, t in enumerate(tracks):
        for c, v in t.features.get(group.name, {}).items():
            j = group.columns.index(c)
            lo, hi = group.scaling.get(c, [0.0, 1.0])
            span = hi - lo
            values[i, j] = np.clip((v - lo) / span, 0.0, 1.0) if span > 0 else 0.0
            known[i, j] = True
    return values, known


def grow(dataset: Dataset, tracks: Sequence[NewTrack]) -> Dataset:
    """``dataset`` with ``tracks`` appended to the vocabulary, inserted at the end of the
    playlists they name, and one new sequence per track with ``cooccurring`` tracks.

    Track ids in ``cooccurring`` may name tracks added earlier in ``tracks``. Per-entry
    timestamps and skip flags are dropped (inference does not use them).
    """
    if not tracks:
        return dataset
    index = dataset.track_index()
    seq_index = {s: i for i, s in enumerate(dataset.sequence_ids.tolist())}
    n0 = dataset.n_tracks
    for i, t in enumerate(tracks):
        if t.track_id in index:
            raise DuplicateError(
                f"expected a new track id, found {t.track_id!r} already served",
                record=f"track {i}",
                field="track_id",
                fix="GET /tracks/{id} shows the served track; choose another id",
            )
        index[t.track_id] = n0 + i
    add_seq: list[int] = []
    add_track: list[int] = []
    new_seqs: list[np.ndarray] = []
    new_ids: list[str] = []
    for i, t in enumerate(tracks):
        row = n0 + i
        for p in t.playlists:
            if p not in seq_index:
                raise InvalidValueError(
                    f"expected an existing playlist (sequence) id, found {p!r}",
                    record=f"track {t.track_id}",
                    field="playlists",
                    fix="name playlists of the served dataset, or list the co-occurring "
                    "tracks in `cooccurring`",
                )
            add_seq.append(seq_index[p])
            add_track.append(row)
        if t.cooccurring:
            missing = [c for c in t.cooccurring if c not in index]
            if missing:
                raise InvalidValueError(
                    f"expected served track ids, found unknown {missing[:5]}",
                    record=f"track {t.track_id}",
                    field="cooccurring",
                )
            new_seqs.append(np.array([row] + [index[c] for c in t.cooccurring], dtype=np.int64))
            new_ids.append(f"added:{t.track_id}")
    # existing sequences with the new tracks appended (stable: old entries first)
    lengths = dataset.lengths.astype(np.int64)
    seq_of = np.concatenate(
        [np.repeat(np.arange(dataset.n_sequences), lengths), np.asarray(add_seq, dtype=np.int64)]
    )
    entries = np.concatenate([dataset.indices.astype(np.int64), np.asarray(add_track, np.int64)])
    order = np.argsort(seq_of, kind="stable")
    entries = entries[order]
    lengths = lengths + np.bincount(np.asarray(add_seq, dtype=np.int64), minlength=len(lengths))
    if new_seqs:
        entries = np.concatenate([entries, *new_seqs])
        lengths = np.concatenate([lengths, [len(s) for s in new_seqs]])
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rows = []
    for t in tracks:
        r: dict[str, Any] = {"track_id": t.track_id, **t.meta}
        if "genres" in dataset.tracks.columns:
            r["genres"] = list(t.genres)
        rows.append(r)
    new_rows = pd.DataFrame(rows, columns=list(dataset.tracks.columns))
    table = pd.concat([dataset.tracks, new_rows], ignore_index=True)
    features = {}
    for g, grp in dataset.features.items():
        v, k = _feature_rows(grp, tracks)
        features[g] = FeatureGroup(
            g,
            list(grp.columns),
            np.concatenate([grp.values, v]),
            np.concatenate([grp.known, k]),
            dict(grp.scaling),
        )
    out = Dataset(
        tracks=table,
        indptr=indptr,
        indices=entries,
        sequence_ids=np.concatenate(
            [dataset.sequence_ids, np.asarray(new_ids, dtype=dataset.sequence_ids.dtype)]
        ),
        features=features,
        source={**dataset.source, "grown_by": len(tracks)},
    )
    if "popularity" in out.features:
        out.features["popularity"] = with_global_popularity(
            out.features["popularity"], out.occurrences(), out.n_sequences
        )
    return out


def track_document(dataset: Dataset, row: int) -> dict[str, Any]:
    """The new-track JSON object that describes track ``row`` of ``dataset`` as it is there:
    metadata, genres, raw feature values (the scaling undone) and its playlists."""
    t = dataset.tracks.iloc[row]
    doc: dict[str, Any] = {"track_id": str(t["track_id"])}
    for key in _META:
        if key in dataset.tracks.columns:
            v = t[key]
            doc[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if "genres" in dataset.tracks.columns and "genre" in dataset.features:
        g = t["genres"]
        doc["genres"] = [str(x) for x in g] if g is not None and len(g) else []
    feats: dict[str, dict[str, float]] = {}
    for name, grp in dataset.features.items():
        if name == "genre":
            continue
        cols = {}
        for j, c in enumerate(grp.columns):
            if (name == "popularity" and c == "global") or not grp.known[row, j]:
                continue
            lo, hi = grp.scaling.get(c, [0.0, 1.0])
            cols[c] = float(lo + float(grp.values[row, j]) * (hi - lo))
        if cols:
            feats[name] = cols
    doc["features"] = feats
    inc = dataset.incidence().tocsc()
    seqs = inc[:, row].indices
    doc["playlists"] = [str(dataset.sequence_ids[s]) for s in np.sort(seqs)]
    return doc


def hold_out_tracks(
    dataset: Dataset, track_ids: Iterable[str]
) -> tuple[Dataset, list[dict[str, Any]]]:
    """Remove ``track_ids`` from ``dataset`` entirely (vocabulary, sequences, features).

    Returns the reduced dataset, to train and serve on, and one new-track document per
    removed track (:func:`track_document`), to ``POST /tracks`` later. Growing the reduced
    dataset by those documents gives back ``dataset``'s graph and features (the tracks at
    the end of the vocabulary), so the served vector can be checked against
    ``model.embed(dataset)``. Sequences left empty are dropped (and their ids are then
    left out of the documents).
    """
    index = dataset.track_index()
    ids = list(track_ids)
    missing = [t for t in ids if t not in index]
    if missing:
        raise InvalidValueError(
            f"expected track ids of the dataset, found unknown {missing[:5]}", field="track_id"
        )
    rows = np.array([index[t] for t in ids], dtype=np.int64)
    docs = [track_document(dataset, int(r)) for r in rows]
    drop = np.zeros(dataset.n_tracks, dtype=bool)
    drop[rows] = True
    reduced = dataset.subset(np.arange(dataset.n_sequences), drop_tracks=rows, name="held-out")
    kept = reduced.sequence_ids.tolist()
    keep_ids = set(kept)
    for d in docs:
        d["playlists"] = [p for p in d["playlists"] if p in keep_ids]
    new_row = np.cumsum(~drop) - 1
    out = Dataset(
        tracks=dataset.tracks[~drop].reset_index(drop=True),
        indptr=reduced.indptr,
        indices=new_row[reduced.indices].astype(np.int64),
        sequence_ids=reduced.sequence_ids,
        features={
            g: FeatureGroup(g, list(f.columns), f.values[~drop], f.known[~drop], dict(f.scaling))
            for g, f in reduced.features.items()
        },
        source={**dataset.source, "held_out": ids},
    )
    return out.validate(), docs
