"""Genre and artist clustering: VRC and local coherence (W2V §2.3, §4.3).

* VRC (Calinski-Harabasz index, "Variance Ratio Criterion") of the available,
  L2-normalised embeddings grouped by a label: ``[B / (g - 1)] / [W / (n - g)]``
  with B the between-group and W the within-group sum of squared distances
  (same value as ``sklearn.metrics.calinski_harabasz_score``, 1.0 when W = 0).
  Tracks with no label (None/NaN) are left out; for artists only artists with at
  least ``min_tracks`` *embedded* tracks are kept. It is not a mean over queries,
  so ``per_query`` is empty. The popularity baseline has no vectors: NaN.
* Local coherence: for each sampled query, the share of its ``k`` (50) nearest
  neighbours sharing its label (neighbours without a label never match); the
  metric is the mean, per-query values kept. Results are named
  ``"genre_coherence"`` and ``"artist_coherence"``.
* Stratified samples (W2V §4.3): 500 songs over the top-10 played genres (equal
  share per genre; the paper also asks for >= 10k plays, ``min_plays`` here,
  default 1 for small catalogues), and 125 artists stratified by artist
  popularity (play count quintiles) x 5 songs each (the paper keeps artists
  with >= 25 songs; ``min_tracks`` here defaults to ``per_artist``).
  Fewer genres/artists than asked shrink the sample with a warning; none raises.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.defaults import DEFAULT_ARTIST_MIN_TRACKS, DEFAULT_COHERENCE_K
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.knn import exact_topk
from songspace.evaluation.results import MetricResult
from songspace.params import POSITIVE_INT, AnyOf, NoneValue, validate_params

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ helpers
#: Metric names the clustering family produces (W2V §2.3).
METRICS: tuple[str, ...] = ("vrc_genre", "vrc_artist", "genre_coherence", "artist_coherence")
#: The stratified samples of W2V §4.3: songs over the most played genres ...
GENRE_SAMPLE_SIZE = 500
TOP_GENRES = 10
#: ... the plays a sampled song needs (the paper: 10k; 1 suits small catalogues) ...
MIN_GENRE_PLAYS = 1
#: ... and artists stratified by popularity, with this many songs each.
ARTIST_SAMPLE_SIZE = 125
TRACKS_PER_ARTIST = 5


def _codes(labels: object, n: int, name: str = "labels") -> np.ndarray:
    """Integer codes per track, -1 for a missing label."""
    arr = pd.Series(np.asarray(labels, dtype=object))
    if len(arr) != n:
        raise ParameterError(name, f"one label per track (len == {n})", len(arr))
    codes, _ = pd.factorize(arr, use_na_sentinel=True)
    return codes.astype(np.int64)


def calinski_harabasz(x: np.ndarray, codes: np.ndarray) -> float:
    """Calinski-Harabasz index of points ``x`` grouped by integer ``codes`` (numpy only)."""
    x = np.asarray(x, dtype=np.float64)
    _, inv, sizes = np.unique(codes, return_inverse=True, return_counts=True)
    n, g = len(x), len(sizes)
    if not 1 < g < n:
        raise InvalidValueError(
            f"expected 2 <= groups < points, found {g} groups over {n} points",
            record="VRC",
            fix="evaluate on a dataset with at least two labelled groups and more tracks "
            "than groups (or lower min_tracks)",
        )
    mean = x.mean(axis=0)
    sums = np.zeros((g, x.shape[1]))
    np.add.at(sums, inv, x)
    centroids = sums / sizes[:, None]
    between = float((sizes * ((centroids - mean) ** 2).sum(axis=1)).sum())
    within = float(((x - centroids[inv]) ** 2).sum())
    if within == 0.0:
        return 1.0
    return between * (n - g) / (within * (g - 1))


# ---------------------------------------------------------------------- VRC
@validate_params({"min_size": POSITIVE_INT})
def vrc(emb: Embeddings, labels: object, *, min_size: int = 1, name: str = "vrc") -> MetricResult:
    """VRC of the available embeddings grouped by ``labels`` (one per track; None = unknown).

    Groups with fewer than ``min_size`` embedded tracks are dropped.
    """
    codes = _codes(labels, emb.n_tracks)
    keep = emb.available & (codes >= 0)
    if min_size > 1:
        sizes = np.bincount(codes[keep], minlength=max(int(codes.max()) + 1, 1))
        keep &= (codes >= 0) & (sizes[np.maximum(codes, 0)] >= min_size)
    info: dict[str, Any] = {
        "n_tracks": int(keep.sum()),
        "n_groups": len(np.unique(codes[keep])),
        "min_size": min_size,
    }
    if not emb.has_vectors or emb.dim == 0:
        info["reason"] = "the popularity baseline has no vectors"
        return MetricResult(name, float("nan"), np.zeros(0), True, info)
    value = calinski_harabasz(emb.vectors[keep], codes[keep])
    return MetricResult(name, value, np.zeros(0), True, info)


def vrc_genre(emb: Embeddings, dataset: Dataset) -> MetricResult:
    """VRC_Genre: embeddings grouped by primary genre (W2V §2.3)."""
    return vrc(emb, dataset.tracks["genre"], name="vrc_genre")


@validate_params({"min_tracks": POSITIVE_INT})
def vrc_artist(
    emb: Embeddings, dataset: Dataset, min_tracks: int = DEFAULT_ARTIST_MIN_TRACKS
) -> MetricResult:
    """VRC_Artist: embeddings grouped by artist, artists with >= ``min_tracks`` tracks."""
    return vrc(emb, dataset.tracks["artist_id"], min_size=min_tracks, name="vrc_artist")


def relative_vrc(value: float | MetricResult, reference: float | MetricResult) -> float:
    """rVRC = (VRC - VRC_ref) / VRC_ref (W2V eq. 1); the reference must be > 0."""
    v = value.value if isinstance(value, MetricResult) else float(value)
    r = reference.value if isinstance(reference, MetricResult) else float(reference)
    if not np.isfinite(r) or r <= 0:
        raise ParameterError(
            "reference",
            "`reference > 0` (the VRC of the reference configuration)",
            r,
            fix="use the VRC of a trained reference embedding (default configuration)",
        )
    return (v - r) / r


# ----------------------------------------------------------------- coherence
@validate_params({"k": POSITIVE_INT})
def local_coherence(
    emb: Embeddings,
    labels: object,
    *,
    sample: np.ndarray,
    k: int = DEFAULT_COHERENCE_K,
    name: str = "local_coherence",
) -> MetricResult:
    """Mean share of each sampled query's ``k`` nearest neighbours sharing its label.

    Queries without an embedding or without a label are skipped (coverage in
    ``info``). ``k`` is lowered with a warning when fewer tracks are embedded.
    """
    codes = _codes(labels, emb.n_tracks)
    sample = np.asarray(sample, dtype=np.int64)
    if sample.size and (sample.min() < 0 or sample.max() >= emb.n_tracks):
        raise ParameterError("sample", f"`0 <= track < {emb.n_tracks}`", int(sample.max()))
    q = sample[emb.available[sample] & (codes[sample] >= 0)]
    info: dict[str, Any] = {"k": k, "n_sample": len(sample), "n_queries": len(q)}
    info["coverage"] = float(len(q) / len(sample)) if len(sample) else float("nan")
    if len(q) == 0:
        raise InvalidValueError(
            "expected sampled tracks with an embedding and a label, found none",
            record=name,
            fix="sample tracks the model has embedded",
        )
    limit = int(emb.available.sum()) - 1
    if k > limit:
        logger.warning("%s: k=%d lowered to %d (tracks with an embedding - 1)", name, k, limit)
        k = info["k"] = limit
    ids, _ = exact_topk(emb, q, k, exclude_self=True)
    neigh = np.where(ids >= 0, codes[np.maximum(ids, 0)], -2)
    share = (neigh == codes[q][:, None]).mean(axis=1)
    return MetricResult.mean_of(name, share, info=info)


def _allocate(n: int, sizes: np.ndarray) -> np.ndarray:
    """Split ``n`` as evenly as possible over strata, capped by each stratum's size."""
    alloc = np.zeros(len(sizes), dtype=np.int64)
    remaining = n
    open_ = sizes > 0
    while remaining > 0 and open_.any():
        idx = np.flatnonzero(open_)
        share = np.full(len(idx), remaining // len(idx))
        share[: remaining % len(idx)] += 1
        add = np.minimum(share, sizes[idx] - alloc[idx])
        alloc[idx] += add
        remaining -= int(add.sum())
        open_ = alloc < sizes
        if add.sum() == 0:
            break
    return alloc


@validate_params({"n": POSITIVE_INT, "top": POSITIVE_INT, "min_plays": POSITIVE_INT})
def genre_sample(
    dataset: Dataset,
    n: int = GENRE_SAMPLE_SIZE,
    top: int = TOP_GENRES,
    seed: int = 0,
    *,
    min_plays: int = MIN_GENRE_PLAYS,
) -> np.ndarray:
    """``n`` tracks stratified over the ``top`` most played primary genres (W2V §4.3).

    Each genre gets an equal share (a genre with too few tracks with at least
    ``min_plays`` plays gives its remainder to the others). Sorted track indices.
    """
    rng = check_seed(seed)
    plays = dataset.play_counts()
    codes = _codes(dataset.tracks["genre"], dataset.n_tracks, "genre")
    ok = (codes >= 0) & (plays >= min_plays)
    if not ok.any():
        raise InvalidValueError(
            f"expected tracks with a known primary genre and >= {min_plays} plays, found none",
            record="genre sample",
            fix="use a dataset with genre metadata (e.g. synthetic or tagged MPD/LFM) "
            "or lower min_plays",
        )
    genre_plays = np.bincount(codes[ok], weights=plays[ok])
    order = np.lexsort((np.arange(len(genre_plays)), -genre_plays))
    genres = order[genre_plays[order] > 0][:top]
    if len(genres) < top:
        logger.warning("genre sample: only %d genres available (asked for %d)", len(genres), top)
    pools = [np.flatnonzero(ok & (codes == g)) for g in genres]
    alloc = _allocate(n, np.array([len(p) for p in pools]))
    if alloc.sum() < n:
        logger.warning("genre sample: only %d tracks available (asked for %d)", alloc.sum(), n)
    picked = [rng.choice(p, size=int(m), replace=False) for p, m in zip(pools, alloc, strict=True)]
    return np.sort(np.concatenate(picked)).astype(np.int64)


@validate_params(
    {
        "n_artists": POSITIVE_INT,
        "per_artist": POSITIVE_INT,
        "n_strata": POSITIVE_INT,
        "min_tracks": AnyOf(POSITIVE_INT, NoneValue()),
    }
)
def artist_sample(
    dataset: Dataset,
    n_artists: int = ARTIST_SAMPLE_SIZE,
    per_artist: int = TRACKS_PER_ARTIST,
    seed: int = 0,
    *,
    min_tracks: int | None = None,
    n_strata: int = 5,
) -> np.ndarray:
    """``per_artist`` tracks of ``n_artists`` artists stratified by popularity (W2V §4.3).

    Eligible artists have at least ``min_tracks`` tracks (default ``per_artist``;
    the paper uses 25). They are split into ``n_strata`` equal groups by total
    plays and artists are drawn evenly from each group. Sorted track indices.
    """
    min_tracks = per_artist if min_tracks is None else min_tracks
    if min_tracks < per_artist:
        raise ParameterError("min_tracks", f"`min_tracks >= per_artist` ({per_artist})", min_tracks)
    rng = check_seed(seed)
    codes = _codes(dataset.tracks["artist_id"], dataset.n_tracks, "artist_id")
    known = codes >= 0
    n_codes = int(codes.max()) + 1 if known.any() else 0
    sizes = np.bincount(codes[known], minlength=n_codes)
    eligible = np.flatnonzero(sizes >= min_tracks)
    if len(eligible) == 0:
        raise InvalidValueError(
            f"expected artists with >= {min_tracks} tracks, found none",
            record="artist sample",
            fix="lower min_tracks / per_artist or use a dataset with artist metadata",
        )
    if len(eligible) < n_artists:
        logger.warning(
            "artist sample: only %d artists have >= %d tracks (asked for %d)",
            len(eligible),
            min_tracks,
            n_artists,
        )
    pop = np.bincount(codes[known], weights=dataset.play_counts()[known], minlength=n_codes)
    ranked = eligible[np.lexsort((eligible, -pop[eligible]))]
    strata = [s for s in np.array_split(ranked, min(n_strata, len(ranked))) if len(s)]
    alloc = _allocate(min(n_artists, len(ranked)), np.array([len(s) for s in strata]))
    artists = np.concatenate(
        [rng.choice(s, size=int(m), replace=False) for s, m in zip(strata, alloc, strict=True)]
    )
    picked = [
        rng.choice(np.flatnonzero(codes == a), size=per_artist, replace=False) for a in artists
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def genre_coherence(
    emb: Embeddings,
    dataset: Dataset,
    *,
    k: int = DEFAULT_COHERENCE_K,
    n: int = GENRE_SAMPLE_SIZE,
    top: int = TOP_GENRES,
    seed: int = 0,
    min_plays: int = MIN_GENRE_PLAYS,
    sample: np.ndarray | None = None,
) -> MetricResult:
    """Local Genre Coherence on :func:`genre_sample` (or ``sample``), named ``genre_coherence``."""
    if sample is None:
        sample = genre_sample(dataset, n, top, seed, min_plays=min_plays)
    return local_coherence(emb, dataset.tracks["genre"], sample=sample, k=k, name="genre_coherence")


def artist_coherence(
    emb: Embeddings,
    dataset: Dataset,
    *,
    k: int = DEFAULT_COHERENCE_K,
    n_artists: int = ARTIST_SAMPLE_SIZE,
    per_artist: int = TRACKS_PER_ARTIST,
    seed: int = 0,
    min_tracks: int | None = None,
    sample: np.ndarray | None = None,
) -> MetricResult:
    """Local Artist Coherence on :func:`artist_sample` (or ``sample``).

    Named ``artist_coherence``.
    """
    if sample is None:
        sample = artist_sample(dataset, n_artists, per_artist, seed, min_tracks=min_tracks)
    return local_coherence(
        emb, dataset.tracks["artist_id"], sample=sample, k=k, name="artist_coherence"
    )


__all__ = [
    "artist_coherence",
    "artist_sample",
    "calinski_harabasz",
    "genre_coherence",
    "genre_sample",
    "local_coherence",
    "relative_vrc",
    "vrc",
    "vrc_artist",
    "vrc_genre",
]


# ------------------------------------------------------------ the metric family
#: Default report-table columns (W2V Table 4).
COLUMNS: tuple[str, ...] = ("vrc_genre", "vrc_artist")


def _labels(dataset: Dataset) -> tuple[bool, bool]:
    """Whether the dataset's tracks have any genre, any artist label."""
    tracks = dataset.tracks
    has_genre = "genre" in tracks and bool(tracks["genre"].notna().any())
    has_artist = "artist_id" in tracks and bool(tracks["artist_id"].notna().any())
    return has_genre, has_artist


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support any clustering metric (None: it can)."""
    if not any(_labels(protocol.dataset)):
        return "no genre or artist labels in the dataset's tracks"
    return None


def unsupported_metrics(protocol: Protocol) -> dict[str, str]:
    """The clustering metrics whose labels the dataset lacks."""
    has_genre, has_artist = _labels(protocol.dataset)
    out: dict[str, str] = {}
    for metric, ok, label in (
        ("vrc_genre", has_genre, "genre"),
        ("genre_coherence", has_genre, "genre"),
        ("vrc_artist", has_artist, "artist"),
        ("artist_coherence", has_artist, "artist"),
    ):
        if not ok:
            out[metric] = f"no {label} labels in the dataset's tracks"
    return out


def compute(run: FamilyInput) -> list[MetricResult] | None:
    """The ``clustering`` family of :func:`songspace.evaluation.suite.evaluate`: the
    metrics whose labels exist and that ``run.metrics`` asks for (None: all), or None for
    an embedding without vectors. (Tuning asks for the VRCs alone: each local coherence
    is a k-NN search over the catalogue, several times the VRCs' cost.)"""
    emb, protocol, st = run.emb, run.protocol, run.settings
    ds = protocol.dataset
    if not emb.has_vectors:
        logger.info("clustering metrics do not apply to %s (no vectors)", emb.name)
        return None
    skip = unsupported_metrics(protocol)
    metrics = {
        "vrc_genre": lambda: vrc_genre(emb, ds),
        "vrc_artist": lambda: vrc_artist(emb, ds, min_tracks=st.artist_min_tracks),
        "genre_coherence": lambda: genre_coherence(emb, ds, k=st.coherence_k, seed=protocol.seed),
        "artist_coherence": lambda: artist_coherence(emb, ds, k=st.coherence_k, seed=protocol.seed),
    }
    wanted = run.metrics
    return [
        compute()
        for m, compute in metrics.items()
        if m not in skip and (wanted is None or m in wanted)
    ]
