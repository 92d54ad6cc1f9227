"""Feature groups of MUSIG Table 1: genre, popularity, audio, acoustic (SPEC §1).

Every group is float32 in [0, 1] with a known-mask; nothing missing is filled in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from songspace.errors import DatasetFormatError, InvalidValueError, ParameterError


@dataclass
class FeatureGroup:
    """A block of track features scaled to [0, 1] with a known-mask (MUSIG Table 1).

    ``values[i, j]`` is meaningful only where ``known[i, j]``; unknown cells hold 0
    and are never filled with invented values. ``scaling`` records, per column,
    the raw ``[low, high]`` range mapped onto [0, 1], so new tracks can be scaled
    identically.
    """

    name: str
    columns: list[str]
    values: np.ndarray
    known: np.ndarray
    scaling: dict[str, list[float]] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.columns)

    @property
    def known_tracks(self) -> np.ndarray:
        """Boolean per track: every column of the group is known."""
        return np.asarray(self.known.all(axis=1))

    def coverage(self) -> float:
        """Share of tracks whose group is fully known."""
        n = self.values.shape[0]
        return float(self.known_tracks.sum() / n) if n else 0.0

    def column_coverage(self) -> dict[str, float]:
        n = max(self.values.shape[0], 1)
        return {c: float(k) / n for c, k in zip(self.columns, self.known.sum(axis=0), strict=True)}

    def validate(self, n_tracks: int, where: str = "feature group") -> None:
        place = f"{where} '{self.name}'"
        if self.values.ndim != 2 or self.values.shape != (n_tracks, len(self.columns)):
            raise DatasetFormatError(
                f"expected values of shape ({n_tracks}, {len(self.columns)}), "
                f"found {self.values.shape}",
                record=place,
                fix="build feature groups with one row per track and one column per name",
            )
        if self.known.shape != self.values.shape or self.known.dtype != np.bool_:
            raise DatasetFormatError(
                f"expected a boolean known-mask of shape {self.values.shape}, found "
                f"{self.known.dtype} {self.known.shape}",
                record=place,
                fix="pass known as a boolean array shaped like values",
            )
        if not np.isfinite(self.values).all():
            raise InvalidValueError(
                "expected finite values, found NaN or inf",
                record=place,
                fix="mark missing values unknown instead of storing NaN",
            )
        kv = self.values[self.known]
        if kv.size and (kv.min() < 0.0 or kv.max() > 1.0):
            raise InvalidValueError(
                f"expected known values in [0, 1], found range [{kv.min()}, {kv.max()}]",
                record=place,
                fix="scale the group with songspace.data.features.scale_columns",
            )
        if np.any(self.values[~self.known] != 0.0):
            raise InvalidValueError(
                "expected 0 in every unknown cell, found non-zero values",
                record=place,
                fix="zero the values where known is False",
            )


#: The Spotify audio descriptors shared by the 114k track table and the artist table.
AUDIO_COLUMNS = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)

#: Fixed raw ranges for the Spotify descriptors (values outside are clipped), so a
#: track's scaled value does not depend on which other tracks are in the dataset.
KNOWN_RANGES: dict[str, tuple[float, float]] = {
    "danceability": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "key": (0.0, 11.0),
    "loudness": (-60.0, 0.0),
    "mode": (0.0, 1.0),
    "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0),
    "instrumentalness": (0.0, 1.0),
    "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0),
    "tempo": (0.0, 250.0),
    "popularity": (0.0, 100.0),
    "us_popularity_estimate": (0.0, 100.0),
}


def scale_columns(
    name: str,
    columns: Sequence[str],
    raw: np.ndarray,
    ranges: Mapping[str, Sequence[float]] | None = None,
) -> FeatureGroup:
    """Scale raw values (NaN = unknown) to [0, 1] per column.

    A column's range comes from ``ranges``, else :data:`KNOWN_RANGES`, else the
    min and max of its known values. A track is known per column where its raw
    value is not NaN.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(columns):
        raise ParameterError("raw", f"`raw.shape[1] == len(columns) == {len(columns)}`", raw.shape)
    known = ~np.isnan(raw)
    values = np.zeros(raw.shape, dtype=np.float32)
    scaling: dict[str, list[float]] = {}
    for j, col in enumerate(columns):
        k = known[:, j]
        if ranges is not None and col in ranges:
            lo, hi = (float(v) for v in ranges[col])
        elif col in KNOWN_RANGES:
            lo, hi = KNOWN_RANGES[col]
        elif k.any():
            lo, hi = float(raw[k, j].min()), float(raw[k, j].max())
        else:
            lo, hi = 0.0, 1.0
        scaling[col] = [lo, hi]
        span = hi - lo
        col_values = (raw[k, j] - lo) / span if span > 0 else np.zeros(int(k.sum()))
        values[k, j] = np.clip(col_values, 0.0, 1.0)
    return FeatureGroup(name, list(columns), values, known, scaling)


def top_genres(
    genre_lists: Sequence[Sequence[str]], weights: np.ndarray | None, top_g: int
) -> list[str]:
    """The ``top_g`` genres carried by the most (weighted) tracks; ties by name."""
    counts: Counter[str] = Counter()
    for i, gl in enumerate(genre_lists):
        w = 1 if weights is None else int(weights[i])
        for g in set(gl):
            counts[g] += w
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [g for g, _ in ranked[:top_g]]


def genre_group(
    genre_lists: Sequence[Sequence[str]], weights: np.ndarray | None = None, top_g: int = 50
) -> FeatureGroup:
    """Multi-hot over the top-G genres plus an ``other`` column (MUSIG Table 1).

    Genres rank by the summed ``weights`` (playlist occurrences) of the tracks
    carrying them. A track with genres is known; if none of its genres is in the
    top G, ``other`` is set. Tracks without any genre are unknown.
    """
    if top_g < 1:
        raise ParameterError("top_g", "`top_g >= 1`", top_g)
    top = top_genres(genre_lists, weights, top_g)
    return encode_genres(genre_lists, [f"{GENRE_PREFIX}{g}" for g in top] + [GENRE_OTHER])


#: Column names of the genre group: ``genre:<name>`` per genre, then ``genre:other``.
GENRE_PREFIX = "genre:"
GENRE_OTHER = "genre:other"


def encode_genres(genre_lists: Sequence[Sequence[str]], columns: Sequence[str]) -> FeatureGroup:
    """The genre group over fixed ``columns`` (``genre:<name>`` ..., ``genre:other``):
    a track with genres is known, with 1 on each of its genres among the columns, or on
    ``genre:other`` when none is; a track without genres is unknown."""
    columns = list(columns)
    pos = {c[len(GENRE_PREFIX) :]: j for j, c in enumerate(columns) if c != GENRE_OTHER}
    other = columns.index(GENRE_OTHER) if GENRE_OTHER in columns else None
    n = len(genre_lists)
    values = np.zeros((n, len(columns)), dtype=np.float32)
    has = np.zeros(n, dtype=bool)
    for i, gl in enumerate(genre_lists):
        if not gl:
            continue
        has[i] = True
        hit = [pos[g] for g in gl if g in pos]
        if hit:
            values[i, hit] = 1.0
        elif other is not None:
            values[i, other] = 1.0
    known = np.repeat(has[:, None], len(columns), axis=1)
    return FeatureGroup("genre", columns, values, known, {})


def primary_genres(
    genre_lists: Sequence[Sequence[str]], weights: np.ndarray | None = None
) -> list[str | None]:
    """Each track's primary genre: its genre carried by the most (weighted) tracks."""
    counts: Counter[str] = Counter()
    for i, gl in enumerate(genre_lists):
        w = 1 if weights is None else int(weights[i])
        for g in set(gl):
            counts[g] += w
    return [min(gl, key=lambda g: (-counts[g], g)) if gl else None for gl in genre_lists]


def global_popularity(occurrences: np.ndarray, n_sequences: int) -> np.ndarray:
    """log(1 + count) / log(1 + n_sequences): log-scaled share of sequences holding a track."""
    denom = np.log1p(max(n_sequences, 1))
    return (np.log1p(occurrences.astype(np.float64)) / denom).astype(np.float32)


def popularity_group(
    occurrences: np.ndarray,
    n_sequences: int,
    source_popularity: np.ndarray | None = None,
    source_column: str = "source",
    source_range: tuple[float, float] = (0.0, 100.0),
) -> FeatureGroup:
    """Global popularity (always known) plus the source's own popularity column if any."""
    g = global_popularity(occurrences, n_sequences)[:, None]
    if source_popularity is None:
        values = g
        known = np.ones_like(values, dtype=bool)
        return FeatureGroup("popularity", ["global"], values, known, {"global": [0.0, 1.0]})
    src = scale_columns(
        "popularity",
        [source_column],
        np.asarray(source_popularity, dtype=np.float64)[:, None],
        {source_column: source_range},
    )
    values = np.concatenate([g, src.values], axis=1)
    known = np.concatenate([np.ones_like(g, dtype=bool), src.known], axis=1)
    return FeatureGroup(
        "popularity",
        ["global", source_column],
        values,
        known,
        {"global": [0.0, 1.0], **src.scaling},
    )


def with_global_popularity(
    group: FeatureGroup, occurrences: np.ndarray, n_sequences: int
) -> FeatureGroup:
    """A copy of a popularity group with its ``global`` column recomputed."""
    values = group.values.copy()
    if "global" in group.columns:
        values[:, group.columns.index("global")] = global_popularity(occurrences, n_sequences)
    return FeatureGroup(
        group.name, list(group.columns), values, group.known.copy(), dict(group.scaling)
    )


def known_share_block(group: FeatureGroup) -> np.ndarray:
    """The model-input form of a group: ``[values ; known share]``, float32 (n, c + 1).

    The group's [0, 1] values with unknown cells 0 (nothing is imputed), then one
    column holding the share of the group's columns known for the track (1 when
    known, 0 when unknown), so that "unknown" is not confused with a true 0. Used by
    every model that reads feature groups (Track2Vec-Feature, CF-WARP item features,
    GraphSAGE/MUSIG h^0; MUSIG §3.3).
    """
    values = np.where(group.known, group.values, 0.0).astype(np.float32)
    known_share = group.known.mean(axis=1, dtype=np.float32)[:, None]
    return np.hstack([values, known_share])
