"""False-neighbour rejection: chi-squared hard negatives and the HardNeg metric (W2V §2.2).

The W2V paper computes "the X^2 coefficient for each unordered bigram of songs in
the play sequence dataset" and calls a *hard negative neighbour* of a song "any
other song having high co-occurrence but chi-squared statistic below a
significance threshold" (footnote 1: 1e-7 times the sum of all song occurrences).
It does not spell the contingency table out; songspace uses the standard 2x2 table
of the *adjacent-pair occurrences* (the unordered bigrams themselves are the
observations, a repeated track ``a, a`` is not a pair):

==================  ================  ======================
                    pair involves b   pair does not involve b
pair involves a     n_ab              n_a - n_ab
pair without a      n_b - n_ab        N - n_a - n_b + n_ab
==================  ================  ======================

``n_ab`` = adjacent occurrences of {a, b} in either order, ``n_a`` = adjacent pairs
involving a (row sum of the unordered bigram matrix), ``N`` = all adjacent pairs.
The statistic is Pearson's X^2 without Yates' continuity correction, i.e.
``scipy.stats.chi2_contingency(table, correction=False)[0]``, in closed form
``N (n_ab N - n_a n_b)^2 / (n_a n_b (N - n_a) (N - n_b))``. A pair whose table has
an empty margin (a track in every pair) has no defined statistic (NaN) and is
never a hard negative.

HardNeg = for every query track with at least one hard negative and an
embedding, the share of its hard negatives among its top-``k`` neighbours
(denominator ``k``), averaged over queries; lower is better.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.defaults import DEFAULT_HARDNEG_MIN_COUNT
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.knn import DEFAULT_K, exact_topk
from songspace.evaluation.results import MetricResult
from songspace.graph.bigrams import bigram_counts
from songspace.params import POSITIVE_INT, check_param

if TYPE_CHECKING:
    from songspace.evaluation.defaults import SuiteSettings
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

logger = logging.getLogger(__name__)

#: W2V §2.2 footnote 1: threshold = 1e-7 x the sum of all song occurrences.
DEFAULT_THRESHOLD_FACTOR = 1e-7
#: Metric names the HardNeg family produces (W2V §2.2).
METRICS: tuple[str, ...] = ("hardneg",)
#: "High co-occurrence" (:data:`songspace.evaluation.defaults.DEFAULT_HARDNEG_MIN_COUNT`).
DEFAULT_MIN_COUNT = DEFAULT_HARDNEG_MIN_COUNT


@dataclass
class ChiSquaredPairs:
    """Every unordered adjacent pair ``a < b`` with its count and chi-squared statistic.

    ``n_pairs`` is N, the total number of adjacent pairs (the table total).
    """

    a: np.ndarray
    b: np.ndarray
    count: np.ndarray
    chi2: np.ndarray
    n_pairs: int
    n_tracks: int

    def __len__(self) -> int:
        return len(self.a)


def chi_squared_statistic(
    n_ab: np.ndarray | float, n_a: np.ndarray | float, n_b: np.ndarray | float, n: float
) -> np.ndarray:
    """X^2 (no continuity correction) of the 2x2 table described in the module docstring.

    NaN where a margin of the table is zero.
    """
    n_ab, n_a, n_b = (np.asarray(x, dtype=np.float64) for x in (n_ab, n_a, n_b))
    n = float(n)
    denom = n_a * n_b * (n - n_a) * (n - n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = n * (n_ab * n - n_a * n_b) ** 2 / denom
    return np.where(denom > 0, out, np.nan)


def chi_squared_pairs(dataset: Dataset) -> ChiSquaredPairs:
    """Chi-squared statistic of every unordered adjacent pair of ``dataset`` (W2V §2.2)."""
    sym = bigram_counts(dataset, ordered=False, include_self=False)
    counts = sp.triu(sym, k=1).tocoo()
    n_a = np.asarray(sym.sum(axis=1)).ravel().astype(np.float64)
    n_total = int(counts.data.sum())
    a = counts.row.astype(np.int64)
    b = counts.col.astype(np.int64)
    order = np.lexsort((b, a))
    a, b, c = a[order], b[order], counts.data[order].astype(np.int64)
    chi2 = chi_squared_statistic(c, n_a[a], n_a[b], n_total)
    return ChiSquaredPairs(a, b, c, chi2, n_total, dataset.n_tracks)


def hard_negatives(
    dataset: Dataset | ChiSquaredPairs,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    threshold: float | None = None,
    n_occurrences: int | None = None,
) -> sp.csr_matrix:
    """Symmetric boolean ``n_tracks x n_tracks`` CSR: ``H[a, b]`` iff b is a hard negative of a.

    A hard negative pair co-occurs adjacently at least ``min_count`` times but its
    chi-squared statistic is below ``threshold`` (default: 1e-7 x the total number
    of song occurrences, i.e. dataset entries, W2V §2.2 footnote 1). Passing a
    precomputed :class:`ChiSquaredPairs` needs ``threshold`` or ``n_occurrences``.
    """
    min_count = check_param("min_count", min_count, POSITIVE_INT)
    if isinstance(dataset, ChiSquaredPairs):
        pairs = dataset
        if threshold is None and n_occurrences is None:
            raise ParameterError(
                "threshold",
                "neither `threshold` nor `n_occurrences` with precomputed pairs",
                None,
                fix="pass the dataset instead, or threshold=1e-7 * dataset.n_entries",
            )
    elif isinstance(dataset, Dataset):
        pairs = chi_squared_pairs(dataset)
        n_occurrences = dataset.n_entries
    else:
        raise ParameterError("dataset", "a Dataset or ChiSquaredPairs", dataset)
    if threshold is None:
        assert n_occurrences is not None  # required above when pairs are precomputed
        threshold = DEFAULT_THRESHOLD_FACTOR * float(n_occurrences)
    if not np.isfinite(threshold) or threshold < 0:
        raise ParameterError("threshold", "a finite number >= 0", threshold)
    keep = (pairs.count >= min_count) & (pairs.chi2 < threshold)  # NaN compares False
    a, b = pairs.a[keep], pairs.b[keep]
    n = pairs.n_tracks
    h = sp.coo_matrix(
        (np.ones(2 * len(a), dtype=bool), (np.concatenate([a, b]), np.concatenate([b, a]))),
        shape=(n, n),
    ).tocsr()
    h.sum_duplicates()
    logger.info(
        "hard negatives: %d pairs (min_count=%d, threshold=%.3g) over %d tracks",
        len(a),
        min_count,
        threshold,
        int((np.diff(h.indptr) > 0).sum()),
    )
    return h


def hardneg(
    emb: Embeddings,
    dataset_or_hardneg: Dataset | sp.spmatrix,
    *,
    k: int = DEFAULT_K,
    queries: np.ndarray | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    threshold: float | None = None,
    max_queries: int | None = None,
    seed: int = 0,
) -> MetricResult:
    """HardNeg (W2V §2.2): mean share of hard negatives among each query's top-``k``.

    With ``max_queries``, a uniform sample (by ``seed``) of that many of the eligible
    queries is scored (each is a k-NN search over every track); ``info`` gives
    ``n_eligible_queries`` and ``n_queries``.

    ``dataset_or_hardneg`` is the training dataset (hard negatives are computed
    with ``min_count`` / ``threshold``) or a precomputed matrix from
    :func:`hard_negatives`. Queries default to every track with at least one hard
    negative and an embedding; given ``queries`` are filtered the same way.
    ``k`` is lowered (with a warning) when fewer tracks have an embedding.
    Lower is better.
    """
    if isinstance(dataset_or_hardneg, Dataset):
        h = hard_negatives(dataset_or_hardneg, min_count=min_count, threshold=threshold)
    elif sp.issparse(dataset_or_hardneg):
        h = sp.csr_matrix(dataset_or_hardneg, dtype=bool)
    else:
        raise ParameterError(
            "dataset_or_hardneg",
            "a Dataset or a sparse matrix from hard_negatives()",
            type(dataset_or_hardneg).__name__,
        )
    if h.shape != (emb.n_tracks, emb.n_tracks):
        raise InvalidValueError(
            f"expected a {emb.n_tracks} x {emb.n_tracks} hard-negative matrix, found {h.shape}",
            record="hardneg",
            fix="compute hard negatives on the dataset the embeddings belong to",
        )
    has_hn = np.diff(h.indptr) > 0
    if queries is None:
        cand = np.flatnonzero(has_hn)
    else:
        cand = np.unique(np.asarray(queries, dtype=np.int64))
        if cand.size and (cand.min() < 0 or cand.max() >= emb.n_tracks):
            raise ParameterError("queries", f"`0 <= query < {emb.n_tracks}`", cand.max())
        cand = cand[has_hn[cand]]
    q = cand[emb.available[cand]]
    info = {
        "k": k,
        "n_hard_negative_pairs": int(h.nnz // 2),
        "n_candidate_queries": len(cand),
        "n_eligible_queries": len(q),
        "n_queries": len(q),
        "coverage": float(len(q) / len(cand)) if len(cand) else float("nan"),
    }
    if max_queries is not None:
        if max_queries < 1:
            raise ParameterError("max_queries", "`max_queries >= 1` or None", max_queries)
        if len(q) > max_queries:
            q = np.sort(check_seed(seed).choice(q, size=int(max_queries), replace=False))
            info["n_queries"] = len(q)
            logger.info("HardNeg: %d of %d eligible queries scored (a sample)", len(q), len(cand))
    if len(q) == 0:
        logger.warning(
            "HardNeg: no query track has both a hard negative and an embedding; "
            "the metric is undefined (NaN). Lower min_count or use a larger dataset."
        )
        return MetricResult("hardneg", float("nan"), np.zeros(0), False, info)
    limit = int(emb.available.sum()) - 1
    if k > limit:
        logger.warning("HardNeg: k=%d lowered to %d (tracks with an embedding - 1)", k, limit)
        k = limit
        info["k"] = k
    if k < 1:
        raise ParameterError("k", "`k >= 1` with at least 2 embedded tracks", k)
    ids, _ = exact_topk(emb, q, k, exclude_self=True)
    rows = np.repeat(np.arange(len(q)), k)
    cols = ids.ravel()
    ok = cols >= 0
    top = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.int8), (rows[ok], cols[ok])), shape=(len(q), emb.n_tracks)
    )
    hits = np.asarray(top.multiply(h[q]).sum(axis=1)).ravel()
    return MetricResult.mean_of("hardneg", hits / k, higher_is_better=False, info=info)


__all__ = [
    "ChiSquaredPairs",
    "chi_squared_pairs",
    "chi_squared_statistic",
    "hard_negatives",
    "hardneg",
]


# ------------------------------------------------------------ the metric family
#: Default report-table columns (W2V Table 4).
COLUMNS: tuple[str, ...] = METRICS


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support HardNeg (None: it can): it needs next-song pairs."""
    from songspace.evaluation.next_song import no_pairs

    return no_pairs(protocol)


def _hard_negatives(protocol: Protocol, st: SuiteSettings) -> Any:
    """The protocol's hard negatives, or None when there are none: HardNeg is skipped,
    with one warning per protocol and settings (not one per model evaluated)."""
    negs = protocol.hard_negatives(st.hardneg_min_count, st.hardneg_threshold)
    if negs.nnz:
        return negs
    key = f"hardneg_skip_warned:{st.hardneg_min_count}:{st.hardneg_threshold}"
    if not protocol._cache.get(key):
        protocol._cache[key] = True
        logger.warning(
            "no hard negatives (adjacent pairs seen >= %d times with chi-squared below "
            "%s): hardneg skipped for every model. The paper's threshold, 1e-7 x "
            "occurrences, needs billions of plays; on smaller data raise "
            "--hardneg-threshold (e.g. 100, its value at 1e9 occurrences) or lower "
            "--hardneg-min-count",
            st.hardneg_min_count,
            "1e-7 x occurrences" if st.hardneg_threshold is None else st.hardneg_threshold,
        )
    return None


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``hardneg`` family of :func:`songspace.evaluation.suite.evaluate` (no result
    when the protocol has no hard negatives: a warning says so, once)."""
    st = run.settings
    negs = _hard_negatives(run.protocol, st)
    if negs is None:
        return []
    return [
        hardneg(run.emb, negs, k=st.k, max_queries=st.hardneg_max_queries, seed=run.protocol.seed)
    ]
