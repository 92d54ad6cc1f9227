"""Playlist completion (MUSIG §4.1, §4.3; SPEC §4).

For each test playlist, its distinct tracks in first-occurrence order are cut
into a *seed* (the first ``round(seed_fraction * n)`` tracks, clipped to
``[1, n - 1]``) and the *hidden* rest. The candidates are the hidden tracks plus
as many random catalogue tracks that are not in the playlist (uniform, without
replacement). Each candidate is scored by cosine to the mean embedding of the
seed tracks that have one (the popularity baseline scores by popularity
instead), and the candidates are ranked by decreasing score, ties by
increasing track index.

A candidate without an embedding is unrankable and placed last, after every
rankable candidate (SPEC §4); within that tail, negatives come before hidden
tracks, so missing embeddings never help: a hidden track without an embedding
is a miss, and an unrankable negative ranks as if it scored lowest. When no
seed track has an embedding, every candidate is unrankable and every hidden
track ranks below every negative. A random ranking scores HR = 0.5 on average.

Per playlist (``H`` = number of hidden tracks, ranks 1-based):

- ``completion_hr``: share of hidden tracks among the top ``H`` candidates
  (MUSIG eq. 7 with K set to the hidden size);
- ``completion_mrr``: scaled MRR as in PinSAGE, mean over hidden tracks of
  ``1 / ceil(rank / 10)``;
- ``completion_p@k``: hidden tracks among the top ``k``, divided by ``k``;
- ``completion_ndcg@k``: binary-relevance DCG of the top ``k`` over the ideal
  DCG with ``min(k, H)`` hits at the top;
- ``completion_coverage``: share of hidden tracks that are rankable (have an
  embedding, and at least one seed track has one);
- ``completion_negative_coverage``: the same share of the random candidates.

HR measures ranking only where both coverages are 1. Unrankable candidates go
last, so when a model covers more hidden tracks than random candidates (a
transductive model trained on sparse data knows the tracks of the training
playlists, and test playlists draw on the same tracks far more often than a
uniform catalogue draw does) its HR rises above 0.5 for coverage alone, and any
"seen in training" signal in the vectors does the same (docs/evaluation.md).
Both coverages sit beside HR (:data:`METRICS` order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.defaults import DEFAULT_SEED_FRACTION
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.results import MetricResult
from songspace.params import POSITIVE_INT, Tuple, check_param

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

__all__ = ["playlist_completion", "split_seed_hidden"]


#: Cut-offs of Prec@k / NDCG@k (MUSIG §4.3).
DEFAULT_KS = (1, 5, 10)
#: Metric names :func:`playlist_completion` produces with the default cut-offs.
METRICS: tuple[str, ...] = (
    "completion_hr",
    "completion_coverage",
    "completion_negative_coverage",
    "completion_mrr",
    *(f"completion_{m}@{k}" for m in ("p", "ndcg") for k in DEFAULT_KS),
)


def split_seed_hidden(sequence: np.ndarray, seed_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct tracks of ``sequence`` in first-occurrence order, cut into (seed, hidden).

    The seed holds ``round(seed_fraction * n)`` tracks clipped to ``[1, n - 1]``
    (Python's ``round``: halves go to the even integer).
    """
    seq = np.asarray(sequence, dtype=np.int64)
    _, first = np.unique(seq, return_index=True)
    distinct = seq[np.sort(first)]
    n = len(distinct)
    n_seed = min(max(round(seed_fraction * n), 1), n - 1)
    return distinct[:n_seed], distinct[n_seed:]


def playlist_completion(
    dataset: Dataset,
    emb: Embeddings,
    playlists: np.ndarray | Sequence[int],
    *,
    seed_fraction: float = DEFAULT_SEED_FRACTION,
    ks: Sequence[int] = DEFAULT_KS,
    seed: int | np.random.Generator = 0,
) -> list[MetricResult]:
    """Playlist-completion metrics of ``emb`` on the sequences ``playlists``.

    ``playlists`` are sequence indices of ``dataset`` (e.g. from
    :func:`songspace.data.splits.completion_playlists`). Negatives are drawn
    with one ``numpy`` Generator seeded by ``seed``, playlist after playlist in
    the given order, so the candidate sets depend only on the dataset, the
    playlists, ``seed_fraction`` and ``seed`` — never on the embeddings (paired
    tests across models compare the same candidates). Returns
    ``completion_hr``, ``completion_mrr``, ``completion_p@k``,
    ``completion_ndcg@k`` (for each ``k``), ``completion_coverage`` and
    ``completion_negative_coverage``, each with one value per playlist, in the order
    of :data:`METRICS` (the coverages beside HR).
    """
    pls = np.asarray(playlists, dtype=np.int64).reshape(-1)
    ks = _check_arguments(dataset, emb, pls, seed_fraction, ks)
    rng = check_seed(seed)
    tally = _CompletionTally(len(pls), ks)
    for row, p in enumerate(pls):
        seq = dataset.sequence(int(p))
        _check_playlist(dataset, seq, int(p))
        seed_tracks, hidden = split_seed_hidden(seq, seed_fraction)
        negatives = _draw_negatives(rng, dataset.n_tracks, seq, len(hidden), int(p))
        tally.add(row, emb, seed_tracks, hidden, negatives)
    info = {
        "n_playlists": len(pls),
        "seed_fraction": float(seed_fraction),
        "seed": seed if isinstance(seed, int) else None,
        "model": emb.name,
    }
    return tally.results(info)


def _check_arguments(
    dataset: Dataset, emb: Embeddings, pls: np.ndarray, seed_fraction: float, ks: Sequence[int]
) -> tuple[int, ...]:
    """Refuse what :func:`playlist_completion` cannot evaluate; return ``ks`` as a tuple."""
    if pls.size == 0:
        raise InvalidValueError(
            "expected at least one completion playlist, found an empty test set",
            record="playlist completion",
            fix="lower min_tracks in completion_playlists, or hold out a larger test "
            "(or validation) fraction in split_sequences",
        )
    if not 0.0 < float(seed_fraction) < 1.0:
        raise ParameterError("seed_fraction", "`0 < seed_fraction < 1`", seed_fraction)
    ks = tuple(check_param("ks", tuple(ks), Tuple(POSITIVE_INT, min_len=0)))
    if pls.min() < 0 or pls.max() >= dataset.n_sequences:
        bad = int(pls[(pls < 0) | (pls >= dataset.n_sequences)][0])
        raise ParameterError("playlists", f"`0 <= playlist < {dataset.n_sequences}`", bad)
    if emb.n_tracks != dataset.n_tracks:
        raise ParameterError(
            "emb",
            f"one embedding row per track of the dataset ({dataset.n_tracks})",
            emb.n_tracks,
            fix="evaluate embeddings trained on this dataset's vocabulary",
        )
    return ks


def _check_playlist(dataset: Dataset, seq: np.ndarray, p: int) -> None:
    """Refuse a playlist with fewer than 2 distinct tracks (no seed/hidden split)."""
    distinct_n = len(np.unique(seq))
    if distinct_n < 2:
        raise InvalidValueError(
            f"expected at least 2 distinct tracks to split into seed and hidden, "
            f"found {distinct_n}",
            record=f"playlist {dataset.sequence_ids[p]!r} (sequence {p})",
            fix="select completion playlists with completion_playlists(min_tracks>=2)",
        )


class _CompletionTally:
    """The per-playlist values of :func:`playlist_completion`, filled playlist by playlist."""

    def __init__(self, n_playlists: int, ks: tuple[int, ...]) -> None:
        self.ks = ks
        self.hr = np.zeros(n_playlists)
        self.mrr = np.zeros(n_playlists)
        self.cov = np.zeros(n_playlists)
        self.neg_cov = np.zeros(n_playlists)
        self.p_at = {k: np.zeros(n_playlists) for k in ks}
        self.ndcg_at = {k: np.zeros(n_playlists) for k in ks}
        self.n_unrankable_neg = 0
        self.n_neg_total = 0

    def add(
        self,
        row: int,
        emb: Embeddings,
        seed_tracks: np.ndarray,
        hidden: np.ndarray,
        negatives: np.ndarray,
    ) -> None:
        """Rank one playlist's candidates (hidden, then negatives) and record its values."""
        cand = np.concatenate([hidden, negatives])
        is_hidden = np.zeros(len(cand), dtype=bool)
        is_hidden[: len(hidden)] = True
        rankable, score = _score(emb, seed_tracks, cand)
        # Group 0: rankable, 1: unrankable negatives, 2: unrankable hidden tracks.
        group = np.where(rankable, 0, np.where(is_hidden, 2, 1))
        order = np.lexsort((cand, -score, group))
        rel = is_hidden[order]
        h = len(hidden)
        ranks = np.flatnonzero(rel) + 1
        self.hr[row] = rel[:h].sum() / h
        self.mrr[row] = np.mean(1.0 / np.ceil(ranks / 10.0))
        self.cov[row] = rankable[:h].mean()
        self.neg_cov[row] = rankable[h:].mean()
        self.n_unrankable_neg += int((~rankable[h:]).sum())
        self.n_neg_total += len(negatives)
        disc = 1.0 / np.log2(np.arange(2, len(cand) + 2))
        for k in self.ks:
            self.p_at[k][row] = rel[:k].sum() / k
            ideal = disc[: min(k, h)].sum()
            self.ndcg_at[k][row] = float((rel[:k] * disc[:k]).sum() / ideal)

    def results(self, info: dict) -> list[MetricResult]:
        """The metrics in :data:`METRICS` order, each with a copy of ``info``."""
        negative_coverage = 1.0 - self.n_unrankable_neg / max(self.n_neg_total, 1)
        out = [
            MetricResult.mean_of("completion_hr", self.hr, info={**info, "random_baseline": 0.5}),
            MetricResult.mean_of(
                "completion_coverage",
                self.cov,
                info={**info, "negative_coverage": negative_coverage},
            ),
            MetricResult.mean_of("completion_negative_coverage", self.neg_cov, info=dict(info)),
            MetricResult.mean_of("completion_mrr", self.mrr, info=dict(info)),
        ]
        for k in self.ks:
            out.append(MetricResult.mean_of(f"completion_p@{k}", self.p_at[k], info=dict(info)))
            out.append(
                MetricResult.mean_of(f"completion_ndcg@{k}", self.ndcg_at[k], info=dict(info))
            )
        return out


def _draw_negatives(
    rng: np.random.Generator, n_tracks: int, playlist: np.ndarray, m: int, p: int
) -> np.ndarray:
    """``m`` tracks drawn uniformly without replacement from those not in ``playlist``.

    Draws ``m + d`` distinct tracks (``d`` = distinct tracks of the playlist) in
    random order and keeps the first ``m`` outside the playlist: a uniform
    ``m``-subset of the complement, at a cost independent of the catalogue size.
    """
    members = np.unique(playlist)
    d = len(members)
    if n_tracks - d < m:
        raise InvalidValueError(
            f"expected at least {m} catalogue tracks outside the playlist to draw as random "
            f"candidates, found {n_tracks - d} (catalogue {n_tracks}, playlist {d} distinct)",
            record=f"sequence {p}",
            fix="evaluate on a larger catalogue, or use a larger seed_fraction",
        )
    draw = rng.choice(n_tracks, size=m + d, replace=False)
    draw = draw[~np.isin(draw, members)]
    return draw[:m].astype(np.int64)


def _score(
    emb: Embeddings, seed_tracks: np.ndarray, cand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rankable mask, score) per candidate; unrankable scores are 0 (ignored)."""
    seed_ok = seed_tracks[emb.available[seed_tracks]]
    rankable = emb.available[cand].copy()
    score = np.zeros(len(cand), dtype=np.float64)
    if len(seed_ok) == 0:
        rankable[:] = False
        return rankable, score
    if emb.ranker is not None:
        s = np.asarray(emb.ranker.scores(seed_ok), dtype=np.float64)[cand]
        rankable &= np.isfinite(s)
        pop = np.asarray(emb.ranker.popularity, dtype=np.float64)[cand]
        # score, then training popularity (the rankers' shared back-off), then index
        order = np.lexsort((cand, -pop, -np.where(rankable, s, -np.inf)))
        score[order] = -np.arange(len(cand), dtype=np.float64)
    elif emb.popularity is not None:
        score[rankable] = np.asarray(emb.popularity, dtype=np.float64)[cand[rankable]]
    else:
        query = emb.vectors[seed_ok].astype(np.float64).mean(axis=0)
        score[rankable] = emb.vectors[cand[rankable]].astype(np.float64) @ query
    return rankable, score


# ------------------------------------------------------------ the metric family
#: Default report-table columns (MUSIG Table 2): every metric.
COLUMNS: tuple[str, ...] = METRICS


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support playlist completion (None: it can)."""
    if len(protocol.completion) == 0:
        return (
            f"no test playlist has {protocol.settings.get('min_tracks', '?')} or more "
            "distinct tracks (lower --min-tracks or raise --test-fraction)"
        )
    return None


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``completion`` family of :func:`songspace.evaluation.suite.evaluate`."""
    protocol = run.protocol
    return list(
        playlist_completion(
            protocol.dataset,
            run.emb,
            protocol.completion,
            seed_fraction=run.settings.seed_fraction,
            seed=protocol.seed,
        )
    )
