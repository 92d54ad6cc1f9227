"""Next-song HitRate by query/target popularity bucket (W2V §4.5, Figure 2).

Buckets: tracks sorted by number of listening events (dataset entries, ties by
index); a track goes to bucket ``floor(n_buckets * events_before_it / total)``,
so each bucket holds ~1/n_buckets of all events (exactly when boundaries fall
between tracks), bucket 0 holds the most popular tracks (W2V footnote 2) and
tracks never played go to the last bucket.

For each (query bucket, target bucket) cell up to ``pairs_per_cell`` (paper: 1k)
(query, target) pairs are sampled without replacement and the HitRate@k of the
exact top-k neighbours of the query is averaged; a query without an embedding
is a miss (unrankable). Cells with no pair are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from songspace._optional import pyplot
from songspace._util import atomic_write_figure, check_seed
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.evaluation.defaults import DEFAULT_PAIRS_PER_CELL
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.knn import DEFAULT_K, exact_topk
from songspace.evaluation.results import MetricResult
from songspace.params import POSITIVE_INT, check_param

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

#: Popularity buckets (W2V §4.5, Figure 2: five).
N_BUCKETS = 5


def popularity_buckets(dataset: Dataset | np.ndarray, n_buckets: int = N_BUCKETS) -> np.ndarray:
    """Bucket (0 = most popular) of every track; see the module docstring.

    ``dataset`` may be a :class:`Dataset` (events = ``play_counts()``) or an array
    of non-negative event counts per track.
    """
    n_buckets = check_param("n_buckets", n_buckets, POSITIVE_INT)
    counts = dataset.play_counts() if isinstance(dataset, Dataset) else np.asarray(dataset)
    if counts.ndim != 1 or (counts.size and (not np.isfinite(counts).all() or counts.min() < 0)):
        raise ParameterError("dataset", "a Dataset or a 1-D array of counts >= 0", counts.shape)
    counts = counts.astype(np.float64)
    buckets = np.full(len(counts), n_buckets - 1, dtype=np.int64)
    total = counts.sum()
    if total <= 0:
        return buckets
    order = np.lexsort((np.arange(len(counts)), -counts))
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]])
    b = np.minimum((n_buckets * before / total + 1e-9).astype(np.int64), n_buckets - 1)
    b[counts[order] == 0] = n_buckets - 1
    buckets[order] = b
    return buckets


#: Metric names the popularity family produces (W2V §4.5): the mean same-bucket HitRate.
SAME_BUCKET_HR = "popularity_same_bucket_hr"
METRICS: tuple[str, ...] = (SAME_BUCKET_HR,)


@dataclass
class BucketHitRates:
    """HitRate per (query bucket, target bucket): ``matrix[i, j]``, NaN where no pair.

    ``counts``: pairs evaluated per cell; ``available``: pairs in the input per cell.
    """

    matrix: np.ndarray
    counts: np.ndarray
    available: np.ndarray
    k: int
    info: dict = field(default_factory=dict)

    @property
    def n_buckets(self) -> int:
        return self.matrix.shape[0]


def bucket_hit_rates(
    emb: Embeddings,
    dataset: Dataset | None,
    queries: np.ndarray,
    targets: np.ndarray,
    *,
    k: int = DEFAULT_K,
    n_buckets: int = N_BUCKETS,
    pairs_per_cell: int = DEFAULT_PAIRS_PER_CELL,
    seed: int = 0,
    buckets: np.ndarray | None = None,
) -> BucketHitRates:
    """HitRate@k matrix by (query bucket, target bucket) over (query, target) pairs.

    ``buckets`` defaults to :func:`popularity_buckets` of ``dataset`` (the
    training data; ``dataset`` may be None when ``buckets`` is given). ``k`` is
    lowered to the number of embedded tracks - 1 when needed.
    """
    queries = np.asarray(queries, dtype=np.int64).ravel()
    targets = np.asarray(targets, dtype=np.int64).ravel()
    if queries.shape != targets.shape:
        raise ParameterError(
            "targets", f"as many targets as queries ({len(queries)})", len(targets)
        )
    for name, arr in (("queries", queries), ("targets", targets)):
        if arr.size and (arr.min() < 0 or arr.max() >= emb.n_tracks):
            raise ParameterError(name, f"`0 <= track < {emb.n_tracks}`", int(arr.max()))
    if not isinstance(pairs_per_cell, int | np.integer) or pairs_per_cell < 1:
        raise ParameterError("pairs_per_cell", "an int >= 1", pairs_per_cell)
    if buckets is None:
        if dataset is None:
            raise ParameterError("dataset", "a Dataset when `buckets` is not given", None)
        buckets = popularity_buckets(dataset, n_buckets)
    buckets = np.asarray(buckets, dtype=np.int64)
    n_buckets = max(n_buckets, int(buckets.max()) + 1) if buckets.size else n_buckets
    rng = check_seed(seed)
    cell = buckets[queries] * n_buckets + buckets[targets]
    available = np.bincount(cell, minlength=n_buckets * n_buckets)
    chosen = []
    for c in np.flatnonzero(available):
        idx = np.flatnonzero(cell == c)
        if len(idx) > pairs_per_cell:
            idx = rng.choice(idx, size=pairs_per_cell, replace=False)
        chosen.append(idx)
    sel = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
    q, t = queries[sel], targets[sel]
    hit = np.zeros(len(sel), dtype=np.float64)
    k = min(k, int(emb.available.sum()) - 1)
    if k < 1:
        raise ParameterError("k", "`k >= 1` with at least 2 embedded tracks", k)
    uq, inv = np.unique(q, return_inverse=True)
    if len(uq):
        ids, _ = exact_topk(emb, uq, k, exclude_self=True)
        hit = (ids[inv] == t[:, None]).any(axis=1).astype(np.float64)
    sums = np.bincount(cell[sel], weights=hit, minlength=n_buckets * n_buckets)
    counts = np.bincount(cell[sel], minlength=n_buckets * n_buckets)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    shape = (n_buckets, n_buckets)
    return BucketHitRates(
        matrix.reshape(shape),
        counts.reshape(shape),
        available.reshape(shape),
        k,
        {"model": emb.name, "pairs_per_cell": int(pairs_per_cell), "seed": seed},
    )


def plot_bucket_heatmap(
    matrix: BucketHitRates | np.ndarray,
    path: str | Path,
    *,
    title: str = "HitRate by popularity bucket",
) -> Path:
    """Write a PNG heat map (query bucket rows, target bucket columns); atomic write."""
    plt = pyplot("the popularity heat map")
    m = matrix.matrix if isinstance(matrix, BucketHitRates) else np.asarray(matrix, float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ParameterError("matrix", "a square n_buckets x n_buckets matrix", m.shape)
    path = Path(path)
    n = m.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 * n + 2, 1.2 * n + 1))
    try:
        im = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", origin="upper")
        fig.colorbar(im, ax=ax, label="HitRate")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xlabel("target bucket (0 = most popular)")
        ax.set_ylabel("query bucket (0 = most popular)")
        ax.set_title(title)
        finite = m[np.isfinite(m)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(n):
            for j in range(n):
                if np.isfinite(m[i, j]):
                    colour = "black" if m[i, j] > mid else "white"
                    ax.text(j, i, f"{m[i, j]:.3f}", ha="center", va="center", color=colour)
        fig.tight_layout()
        atomic_write_figure(path, fig, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


@dataclass
class DiagonalComparison:
    """Same-bucket HitRate of two configurations (W2V Figure 2c).

    ``difference = b - a``; ``relative = (b - a) / a`` (NaN where a is 0 or NaN).
    """

    a: np.ndarray
    b: np.ndarray
    difference: np.ndarray
    relative: np.ndarray


def diagonal_comparison(
    matrix_a: BucketHitRates | np.ndarray, matrix_b: BucketHitRates | np.ndarray
) -> DiagonalComparison:
    """Compare the diagonals (query and target in the same bucket) of two matrices."""
    a, b = (
        m.matrix if isinstance(m, BucketHitRates) else np.asarray(m, float)
        for m in (matrix_a, matrix_b)
    )
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError(
            "matrix_b", f"a square matrix of the same shape as matrix_a {a.shape}", b.shape
        )
    da, db = np.diag(a).copy(), np.diag(b).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(da > 0, (db - da) / np.where(da > 0, da, 1.0), np.nan)
    return DiagonalComparison(da, db, db - da, rel)


__all__ = [
    "BucketHitRates",
    "DiagonalComparison",
    "bucket_hit_rates",
    "diagonal_comparison",
    "plot_bucket_heatmap",
    "popularity_buckets",
]


# ------------------------------------------------------------ the metric family
#: Default report-table columns (W2V Figure 2c's diagonal).
COLUMNS: tuple[str, ...] = METRICS


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support the popularity buckets (None: it can): they
    need next-song pairs."""
    from songspace.evaluation.next_song import no_pairs

    return no_pairs(protocol)


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``popularity`` family of :func:`songspace.evaluation.suite.evaluate`: the
    same-bucket HitRate (the bucket matrix in its info; the heatmap drawn when asked)."""
    protocol, emb, st = run.protocol, run.emb, run.settings
    q = np.concatenate([protocol.in_set[0], protocol.out_of_set[0]])
    t = np.concatenate([protocol.in_set[1], protocol.out_of_set[1]])
    hr = bucket_hit_rates(
        emb, protocol.train, q, t, k=st.k, pairs_per_cell=st.pairs_per_cell, seed=protocol.seed
    )
    diag = np.diag(hr.matrix)
    result = MetricResult(
        SAME_BUCKET_HR,
        float(np.nanmean(diag)) if np.isfinite(diag).any() else float("nan"),
        info={"matrix": hr.matrix.tolist(), "counts": hr.counts.tolist(), "k": st.k},
    )
    if run.heatmap is not None:
        plot_bucket_heatmap(
            hr, run.heatmap, title=f"{emb.name}: HitRate@{st.k} by popularity bucket"
        )
    return [result]
