"""Synthetic playlists with planted structure, deterministic by seed.

genres -> artists -> tracks; power-law track popularity; audio and acoustic
features drawn around a per-genre centroid (plus an artist offset); playlists
that mostly stay inside one genre and favour a few of its artists; optional
skips that are more likely for off-genre tracks (a signal for play prediction,
W2V §4.6). It is the default dataset of ``songspace demo`` and of the tests,
and the source of large inputs for scale benchmarks. Generation is vectorised:
1M playlists take seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songspace._util import check_seed
from songspace.data.builder import finish_dataset
from songspace.data.dataset import Dataset
from songspace.data.defaults import (
    SYNTHETIC_GENRES,
    SYNTHETIC_MEAN_LENGTH,
    SYNTHETIC_PLAYLISTS,
    SYNTHETIC_SEQUENTIAL,
    SYNTHETIC_TRACKS,
)
from songspace.data.features import AUDIO_COLUMNS, genre_group, popularity_group, scale_columns
from songspace.errors import ParameterError

GENRE_NAMES = (
    "rock",
    "pop",
    "hip hop",
    "jazz",
    "classical",
    "electronic",
    "country",
    "metal",
    "folk",
    "reggae",
    "blues",
    "soul",
    "latin",
    "punk",
    "house",
    "techno",
    "ambient",
    "k-pop",
    "r&b",
    "indie",
)
ACOUSTIC_COLUMNS = tuple(f"acoustic_vector_{i}" for i in range(8))


def _genre_name(g: int) -> str:
    return GENRE_NAMES[g] if g < len(GENRE_NAMES) else f"genre {g}"


def _check(name: str, value: float, low: float, high: float | None = None) -> None:
    ok = value >= low and (high is None or value <= high)
    if not ok:
        rng = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
        raise ParameterError(name, f"`{rng}`", value)


def generate(
    n_playlists: int = SYNTHETIC_PLAYLISTS,
    n_tracks: int = SYNTHETIC_TRACKS,
    *,
    n_genres: int = SYNTHETIC_GENRES,
    tracks_per_artist: float = 8.0,
    mean_length: float = SYNTHETIC_MEAN_LENGTH,
    min_length: int = 5,
    max_length: int = 250,
    popularity_exponent: float = 0.9,
    popularity_offset: float = 0.0,
    p_off_genre: float = 0.1,
    p_favourite_artist: float = 0.3,
    favourite_artists: int = 2,
    skips: bool = True,
    timestamps: bool = True,
    missing_share: float = 0.1,
    compact: bool = False,
    sequential: float = SYNTHETIC_SEQUENTIAL,
    seed: int = 0,
) -> Dataset:
    """Generate a synthetic dataset; the same arguments and seed give the same dataset.

    Each playlist picks a home genre (genres have Zipf-like shares) and
    ``favourite_artists`` artists of that genre. Each entry is, with probability
    ``p_off_genre``, a popularity-weighted track of a random genre; else with
    probability ``p_favourite_artist`` a track of a favourite artist; else a
    popularity-weighted track of the home genre. Track popularity weights follow
    (rank + ``popularity_offset``)^-``popularity_exponent``. A share
    ``missing_share`` of tracks has unknown audio, acoustic and (half as often) genre
    features. With ``skips``, home-genre entries are skipped with probability 0.15
    and off-genre entries with 0.6.
    With ``compact``, catalogue tracks that no playlist drew are dropped (as in a
    real dataset, where every track occurs at least once; ``n_tracks`` is then the
    catalogue the draws come from, not the number of distinct tracks).
    With ``sequential`` > 0, order carries information, as in real playlists and
    sessions: each genre has a Markov chain over its tracks (every track has
    :data:`CHAIN_SUCCESSORS` successors of its genre, drawn by popularity), and an entry
    drawn from the home genre, after an entry of the home genre, is with probability
    ``sequential`` one of its predecessor's successors instead (:func:`_walk_chains`).
    The genre, favourite-artist and off-genre shares are those without it; it draws
    from its own generator, so every other draw is the same, and 0 gives the dataset of
    earlier versions.
    """
    _check_arguments(locals())
    # The stages draw from one generator in this order. A new optional stage draws
    # only when enabled and after the existing ones, so that a seed keeps its dataset.
    rng = check_seed(seed)
    cat = _Catalogue.draw(
        rng, n_tracks, n_genres, tracks_per_artist, popularity_exponent, popularity_offset
    )
    playlists = _draw_playlists(
        rng,
        cat,
        n_playlists,
        mean_length=mean_length,
        min_length=min_length,
        max_length=max_length,
        p_off_genre=p_off_genre,
        p_favourite_artist=p_favourite_artist,
        favourite_artists=favourite_artists,
    )
    if sequential > 0:
        _walk_chains(seed, cat, playlists, sequential)
    tracks = _PublicTracks.draw(rng, cat, playlists.internal, compact=compact)
    skipped = _draw_skips(rng, playlists, tracks) if skips else None
    ts = _draw_timestamps(rng, playlists) if timestamps else None
    genres = _draw_genre_lists(rng, tracks.genre, n_genres, missing_share)
    ds = finish_dataset(
        track_ids=[f"t{i:07d}" for i in range(tracks.n_tracks)],
        indptr=playlists.indptr,
        indices=tracks.indices,
        sequence_ids=np.asarray([f"p{i}" for i in range(n_playlists)], dtype=object),
        track_attrs={
            "track_name": [f"Track {i}" for i in range(tracks.n_tracks)],
            "artist_id": [f"a{a}" for a in tracks.artist.tolist()],
            "artist_name": [f"Artist {a}" for a in tracks.artist.tolist()],
            "genres": genres,
        },
        timestamps=ts,
        skipped=skipped,
        source={
            "name": "synthetic",
            "seed": seed,
            "n_playlists": n_playlists,
            "n_tracks": tracks.n_tracks,
            "n_genres": n_genres,
            **({"compact": True} if compact else {}),
            **({"sequential": sequential} if sequential > 0 else {}),
        },
    )
    _add_feature_groups(rng, ds, cat, tracks, genres, missing_share)
    return ds.validate()


def _check_arguments(args: dict[str, Any]) -> None:
    """Raise ParameterError for the first of :func:`generate`'s arguments out of range."""
    min_length, max_length, p_off_genre = (
        args["min_length"],
        args["max_length"],
        args["p_off_genre"],
    )
    for name, low, high in (
        ("n_playlists", 1, None),
        ("n_tracks", 2, None),
        ("n_genres", 1, None),
        ("tracks_per_artist", 1, None),
        ("min_length", 1, None),
        ("max_length", min_length, None),
        ("mean_length", min_length, max_length),
        ("popularity_exponent", 0, None),
        ("popularity_offset", 0, None),
        ("p_off_genre", 0, 1),
        ("p_favourite_artist", 0, 1 - p_off_genre),
        ("favourite_artists", 1, None),
        ("missing_share", 0, 1),
        ("sequential", 0, 1),
    ):
        _check(name, args[name], low, high)
    if args["n_genres"] > args["n_tracks"]:
        raise ParameterError(
            "n_genres", f"`n_genres <= n_tracks` ({args['n_tracks']})", args["n_genres"]
        )


def _blocks(sorted_keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each key 0..n-1's contiguous block in ``sorted_keys``."""
    keys = np.arange(n)
    return np.searchsorted(sorted_keys, keys, "left"), np.searchsorted(sorted_keys, keys, "right")


@dataclass
class _Catalogue:
    """The catalogue in internal order (sorted by genre, then artist), so that each genre
    and each artist is a contiguous block of tracks; public ids are permuted later."""

    genre_share: np.ndarray  # per genre, its share of artists and of home genres
    artist_genre: np.ndarray  # per artist
    track_artist: np.ndarray  # per track
    weight: np.ndarray  # per track, its popularity weight
    track_genre: np.ndarray = field(init=False)
    cum: np.ndarray = field(init=False)  # cumulative weights
    genre_start: np.ndarray = field(init=False)  # genre -> its block of tracks
    genre_end: np.ndarray = field(init=False)
    artist_start: np.ndarray = field(init=False)  # artist -> its block of tracks
    artist_end: np.ndarray = field(init=False)
    genre_artist_start: np.ndarray = field(init=False)  # genre -> its block of artists
    genre_artist_end: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n_genres, n_artists = len(self.genre_share), len(self.artist_genre)
        self.track_genre = self.artist_genre[self.track_artist]
        self.cum = np.cumsum(self.weight)
        self.genre_start, self.genre_end = _blocks(self.track_genre, n_genres)
        self.artist_start, self.artist_end = _blocks(self.track_artist, n_artists)
        self.genre_artist_start, self.genre_artist_end = _blocks(self.artist_genre, n_genres)

    @property
    def n_genres(self) -> int:
        return len(self.genre_share)

    @property
    def n_artists(self) -> int:
        return len(self.artist_genre)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        n_tracks: int,
        n_genres: int,
        tracks_per_artist: float,
        popularity_exponent: float,
        popularity_offset: float,
    ) -> _Catalogue:
        """Genres with Zipf-like shares, artists per genre, tracks per artist (every genre
        has an artist and every artist a track) and a power-law popularity weight."""
        genre_share = 1.0 / np.arange(1, n_genres + 1) ** 0.6
        genre_share /= genre_share.sum()
        n_artists = max(n_genres, round(n_tracks / tracks_per_artist))
        extra_artists = rng.choice(n_genres, n_artists - n_genres, p=genre_share)
        artist_genre = np.sort(np.concatenate([np.arange(n_genres), extra_artists]))
        # Every artist gets at least one track (n_artists <= n_tracks).
        extra_tracks = rng.integers(0, n_artists, n_tracks - n_artists)
        track_artist = np.sort(np.concatenate([np.arange(n_artists), extra_tracks]))
        weight = (rng.permutation(n_tracks) + 1.0 + popularity_offset) ** -popularity_exponent
        return cls(genre_share, artist_genre, track_artist, weight)

    def draw_in_blocks(
        self, rng: np.random.Generator, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray:
        """One popularity-weighted track from each block ``[start, end)``."""
        cum = self.cum
        lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        hi = cum[end - 1]
        u = lo + rng.random(len(start)) * (hi - lo)
        return np.minimum(np.searchsorted(cum, u, "right"), end - 1)


@dataclass
class _Playlists:
    """Drawn playlists: lengths, home genres and internal track indices per entry."""

    lengths: np.ndarray
    home: np.ndarray  # per playlist, its home genre
    internal: np.ndarray  # per entry, the internal track index
    playlist: np.ndarray  # per entry, its playlist
    home_draw: np.ndarray  # per entry, drawn by popularity from the home genre
    indptr: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.indptr = np.concatenate([[0], np.cumsum(self.lengths)])


def _draw_playlists(
    rng: np.random.Generator,
    cat: _Catalogue,
    n_playlists: int,
    *,
    mean_length: float,
    min_length: int,
    max_length: int,
    p_off_genre: float,
    p_favourite_artist: float,
    favourite_artists: int,
) -> _Playlists:
    """Lognormal lengths, a home genre and favourite artists per playlist, then the entries."""
    sigma = 0.8
    mu = np.log(mean_length) - sigma**2 / 2
    lengths = np.clip(
        np.round(rng.lognormal(mu, sigma, n_playlists)), min_length, max_length
    ).astype(np.int64)
    home = rng.choice(cat.n_genres, n_playlists, p=cat.genre_share)
    fav_lo, fav_hi = cat.genre_artist_start[home], cat.genre_artist_end[home]
    favs = fav_lo[:, None] + (
        rng.random((n_playlists, favourite_artists)) * (fav_hi - fav_lo)[:, None]
    ).astype(np.int64)
    pl = np.repeat(np.arange(n_playlists), lengths)
    internal, home_draw = _draw_entries(rng, cat, pl, home, favs, p_off_genre, p_favourite_artist)
    return _Playlists(lengths, home, internal, pl, home_draw)


def _draw_entries(
    rng: np.random.Generator,
    cat: _Catalogue,
    pl: np.ndarray,
    home: np.ndarray,
    favs: np.ndarray,
    p_off_genre: float,
    p_favourite_artist: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per entry (of playlist ``pl``, whose home genre is ``home[pl]`` and favourite
    artists ``favs[pl]``), an off-genre, favourite-artist or home-genre track, as
    internal track indices; and which entries are home-genre draws."""
    total = len(pl)
    r = rng.random(total)
    off = r < p_off_genre
    fav = (~off) & (r < p_off_genre + p_favourite_artist)
    entry_genre = home[pl].copy()
    entry_genre[off] = rng.choice(cat.n_genres, int(off.sum()), p=cat.genre_share)
    start = cat.genre_start[entry_genre]
    end = cat.genre_end[entry_genre]
    fav_artist = favs[pl[fav], rng.integers(0, favs.shape[1], int(fav.sum()))]
    start[fav] = cat.artist_start[fav_artist]
    end[fav] = cat.artist_end[fav_artist]
    ok = end > start
    internal = np.zeros(total, dtype=np.int64)
    internal[ok] = cat.draw_in_blocks(rng, start[ok], end[ok])
    if not ok.all():
        bad_home = home[pl[~ok]]
        internal[~ok] = cat.draw_in_blocks(rng, cat.genre_start[bad_home], cat.genre_end[bad_home])
    return internal, ~(off | fav)


#: Successors per track in its genre's Markov chain (``generate(sequential=...)``).
CHAIN_SUCCESSORS = 3
#: With the dataset's seed, seeds the generator of the sequential stage alone.
_CHAIN_STREAM = 0x5E9


def _walk_chains(seed: int, cat: _Catalogue, playlists: _Playlists, share: float) -> None:
    """Make order carry information: every track gets :data:`CHAIN_SUCCESSORS` successors
    of its genre (popularity-weighted draws), and, position by position, a home-genre draw
    whose predecessor is of the home genre becomes, with probability ``share``, one of the
    predecessor's successors (uniformly): each playlist walks its home genre's chain. The
    entries change in place; the draws come from a generator of their own (seeded by
    ``seed``), so the other stages draw as without it."""
    rng = np.random.default_rng([int(seed), _CHAIN_STREAM])
    genre = np.repeat(cat.track_genre, CHAIN_SUCCESSORS)
    successors = cat.draw_in_blocks(rng, cat.genre_start[genre], cat.genre_end[genre])
    successors = successors.reshape(-1, CHAIN_SUCCESSORS)
    internal, lengths = playlists.internal, playlists.lengths
    position = np.arange(len(internal)) - np.repeat(playlists.indptr[:-1], lengths)
    follows = playlists.home_draw & (position > 0) & (rng.random(len(internal)) < share)
    choice = rng.integers(0, CHAIN_SUCCESSORS, len(internal))
    home = playlists.home[playlists.playlist]
    by_position = np.argsort(position, kind="stable")
    bounds = np.searchsorted(position[by_position], np.arange(int(lengths.max()) + 2))
    for p in range(1, len(bounds) - 1):  # in order: a successor may follow a successor
        at = by_position[bounds[p] : bounds[p + 1]]
        at = at[follows[at] & (cat.track_genre[internal[at - 1]] == home[at])]
        internal[at] = successors[internal[at - 1], choice[at]]


@dataclass
class _PublicTracks:
    """The tracks in public order (a random permutation of the internal catalogue)."""

    indices: np.ndarray  # per entry, the public track index
    artist: np.ndarray  # per public track
    genre: np.ndarray  # per public track
    source_popularity: np.ndarray  # per public track, 0-100 from its popularity weight

    @property
    def n_tracks(self) -> int:
        return len(self.artist)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, cat: _Catalogue, internal: np.ndarray, *, compact: bool
    ) -> _PublicTracks:
        """Drop the tracks nothing drew (with ``compact``), then permute the catalogue."""
        track_artist, track_genre, weight = cat.track_artist, cat.track_genre, cat.weight
        if compact:
            used = np.unique(internal)
            if len(used) < len(weight):
                internal = np.searchsorted(used, internal)
                track_artist, track_genre, weight = (
                    track_artist[used],
                    track_genre[used],
                    weight[used],
                )
        public_of_internal = rng.permutation(len(weight))
        internal_of_public = np.argsort(public_of_internal)
        source_pop = np.clip(100 * (weight[internal_of_public] / weight.max()) ** 0.25, 0, 100)
        return cls(
            indices=public_of_internal[internal],
            artist=track_artist[internal_of_public],
            genre=track_genre[internal_of_public],
            source_popularity=source_pop,
        )


def _draw_skips(
    rng: np.random.Generator, playlists: _Playlists, tracks: _PublicTracks
) -> np.ndarray:
    """Skip flags per entry: 0.15 for a home-genre track, 0.6 for an off-genre one."""
    in_home = tracks.genre[tracks.indices] == playlists.home[playlists.playlist]
    p_skip = np.where(in_home, 0.15, 0.6)
    return rng.random(len(tracks.indices)) < p_skip


def _draw_timestamps(rng: np.random.Generator, playlists: _Playlists) -> np.ndarray:
    """Per entry, seconds: a playlist starts some time in 2024, then 2-5 minutes a track."""
    lengths, starts = playlists.lengths, playlists.indptr[:-1]
    start_ts = 1_704_067_200 + rng.integers(0, 365 * 86400, len(lengths))
    gaps = rng.integers(120, 300, len(playlists.internal))
    gaps[starts] = 0
    return np.repeat(start_ts, lengths) + (
        np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts], lengths)
    )


def _draw_genre_lists(
    rng: np.random.Generator, track_genre: np.ndarray, n_genres: int, missing_share: float
) -> list[list[str]]:
    """Per track, its genre names: its own, a second one for 10% of tracks, none for a
    share ``missing_share / 2``."""
    n_tracks = len(track_genre)
    second = rng.random(n_tracks) < 0.1
    second_genre = (track_genre + 1 + rng.integers(0, max(n_genres - 1, 1), n_tracks)) % n_genres
    genre_known = rng.random(n_tracks) >= missing_share / 2
    return [
        ([_genre_name(g)] + ([_genre_name(s)] if (sec and s != g) else [])) if known else []
        for g, s, sec, known in zip(
            track_genre.tolist(),
            second_genre.tolist(),
            second.tolist(),
            genre_known.tolist(),
            strict=True,
        )
    ]


def _draw_audio(
    rng: np.random.Generator, cat: _Catalogue, tracks: _PublicTracks, missing_share: float
) -> np.ndarray:
    """Raw audio features (in their natural units; NaN where unknown): genre centroid +
    artist offset + track noise."""
    n_tracks, n_cols = tracks.n_tracks, len(AUDIO_COLUMNS)
    audio_known = rng.random(n_tracks) >= missing_share
    centroid = rng.uniform(0.1, 0.9, (cat.n_genres, n_cols))
    art_off = rng.normal(0, 0.06, (cat.n_artists, n_cols))
    unit = np.clip(
        centroid[tracks.genre] + art_off[tracks.artist] + rng.normal(0, 0.04, (n_tracks, n_cols)),
        0,
        1,
    )
    raw = unit.copy()
    cols = list(AUDIO_COLUMNS)
    raw[:, cols.index("key")] = np.round(unit[:, cols.index("key")] * 11)
    raw[:, cols.index("mode")] = np.round(unit[:, cols.index("mode")])
    raw[:, cols.index("loudness")] = -60 + 60 * unit[:, cols.index("loudness")]
    raw[:, cols.index("tempo")] = 250 * unit[:, cols.index("tempo")]
    raw[~audio_known] = np.nan
    return raw


def _draw_acoustic(
    rng: np.random.Generator, cat: _Catalogue, tracks: _PublicTracks, missing_share: float
) -> np.ndarray:
    """Acoustic vectors (NaN where unknown): genre centroid + artist offset + track noise."""
    n_tracks, dim = tracks.n_tracks, len(ACOUSTIC_COLUMNS)
    acoustic_known = rng.random(n_tracks) >= missing_share
    a_cent = rng.normal(0, 0.6, (cat.n_genres, dim))
    acoustic = (
        a_cent[tracks.genre]
        + rng.normal(0, 0.15, (cat.n_artists, dim))[tracks.artist]
        + rng.normal(0, 0.1, (n_tracks, dim))
    )
    acoustic[~acoustic_known] = np.nan
    return acoustic


def _add_feature_groups(
    rng: np.random.Generator,
    ds: Dataset,
    cat: _Catalogue,
    tracks: _PublicTracks,
    genres: list[list[str]],
    missing_share: float,
) -> None:
    """Set the genre, popularity, audio and acoustic feature groups of ``ds``."""
    raw = _draw_audio(rng, cat, tracks, missing_share)
    acoustic = _draw_acoustic(rng, cat, tracks, missing_share)
    ds.features["genre"] = genre_group(genres, ds.occurrences(), top_g=min(50, cat.n_genres))
    ds.features["popularity"] = popularity_group(
        ds.occurrences(), ds.n_sequences, tracks.source_popularity, source_column="source"
    )
    ds.features["audio"] = scale_columns("audio", list(AUDIO_COLUMNS), raw)
    ds.features["acoustic"] = scale_columns("acoustic", list(ACOUSTIC_COLUMNS), acoustic)


#: The Million Playlist Dataset's published statistics (the ``stats.txt`` of the MPD
#: release): playlists, entries, distinct tracks and artists, length bounds and mean,
#: and the most frequent track's number of playlists ("HUMBLE.", 46,574).
MPD_STATS: dict[str, float] = {
    "playlists": 1_000_000,
    "entries": 66_346_428,
    "tracks": 2_262_292,
    "artists": 295_860,
    "min_length": 5,
    "max_length": 250,
    "mean_length": 66.346428,
    "top_track_playlists": 46_574,
}
#: Generator settings calibrated (at scales 0.01 and 0.05, seed 0) so that the generated
#: data meet MPD_STATS: the lognormal mean is above 66.35 because clipping at 250 lowers
#: it; ``top_share_factor`` corrects the head share for the per-genre normalisation of the
#: draws (measured: the top track is in 4.5% of playlists at scale 0.01, 4.0% at 0.05).
#: ``compact`` drops catalogue tracks that nothing drew (under 0.3% here).
_MPD_CALIBRATION = {
    "catalogue_factor": 1.0,
    "tracks_per_artist": 7.65,
    "mean_length": 68.2,
    "popularity_exponent": 1.0,
    "top_share_factor": 1.6,
}


def _popularity_offset(n_tracks: int, share: float, exponent: float) -> float:
    """The offset r0 for which the heaviest of ``n_tracks`` weights (r + r0)^-exponent
    holds ``share`` of their sum (bisection; 0 when even r0 = 0 gives less)."""
    ranks = np.arange(1, n_tracks + 1, dtype=np.float64)

    def top(r0: float) -> float:
        w = (ranks + r0) ** -exponent
        return float(w[0] / w.sum())

    if top(0.0) <= share:
        return 0.0
    lo, hi = 0.0, float(n_tracks)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if top(mid) > share else (lo, mid)
    return (lo + hi) / 2


def mpd_preset(scale: float = 1.0) -> dict[str, float | int | bool]:
    """Keyword arguments of :func:`generate` for MPD-shaped data at ``scale`` (1.0 = the
    full MPD: 1M playlists, ~66.3M entries, ~2.26M tracks, ~296K artists, lengths 5-250
    with a mean of ~66, 20 planted genres).

    Everything scales linearly with ``scale`` except the popularity law's offset, which
    is solved at each scale so that the most frequent track holds the MPD's share of the
    entries (46,574 of 66.3M) at every scale: a Zipf tail (exponent 1) behind a head
    that does not grow with the catalogue.
    """
    _check("scale", scale, 1e-6, 10.0)
    cal = _MPD_CALIBRATION
    n_playlists = max(1, round(MPD_STATS["playlists"] * scale))
    n_tracks = max(40, round(MPD_STATS["tracks"] * scale * cal["catalogue_factor"]))
    share = MPD_STATS["top_track_playlists"] / MPD_STATS["entries"] * cal["top_share_factor"]
    return {
        "n_playlists": n_playlists,
        "n_tracks": n_tracks,
        "n_genres": 20,
        "tracks_per_artist": cal["tracks_per_artist"],
        "mean_length": cal["mean_length"],
        "min_length": int(MPD_STATS["min_length"]),
        "max_length": int(MPD_STATS["max_length"]),
        "popularity_exponent": cal["popularity_exponent"],
        "popularity_offset": _popularity_offset(n_tracks, share, cal["popularity_exponent"]),
        "skips": False,
        "timestamps": False,
        "compact": True,
    }


PRESETS = {"mpd": mpd_preset}


def generate_preset(name: str, *, scale: float = 1.0, seed: int = 0) -> Dataset:
    """:func:`generate` with a named preset's settings (``"mpd"``) at ``scale``."""
    if name not in PRESETS:
        raise ParameterError("preset", f"one of {sorted(PRESETS)}", name)
    return generate(**PRESETS[name](scale), seed=seed)  # type: ignore[arg-type]
