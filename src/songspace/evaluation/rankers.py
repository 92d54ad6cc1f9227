"""Rankers: anything that scores the catalogue for a query track or a seed list.

An embedding (cosine to the mean seed vector) is one kind of ranker; the
popularity baseline is another. This module adds the simple, strong,
non-embedding baselines that session-based recommendation studies on music data
found hard to beat (Ludewig, Mauro, Latifi and Jannach, UMUAI 2021):

- :class:`ItemKNN`: item-to-item similarity from the sequence x track incidence
  matrix, ``co(i, j) / ((n_i + lmbd)^alpha (n_j + lmbd)^(1 - alpha))`` for a seed ``i``
  and a candidate ``j`` (``co``: sequences holding both, ``n``: sequences holding one),
  session-rec's ``ItemKNN`` (``algorithms/knn/iknn.py``) on sequence counts; the
  defaults ``alpha=0.5, lmbd=0`` give the cosine. A seed list scores each track by the
  sum of its similarities to the seeds.
- :class:`SKNN`, :class:`VSKNN`, :class:`STAN`, :class:`VSTAN`: session-based kNN,
  in :mod:`songspace.evaluation.session_knn` (their formulas and references there).
- :class:`Bigram`: a first-order Markov baseline for next-song: the number of times
  each track directly followed the last seed in the training sequences (no parameter).

Every ranker returns, for a seed list, a score per track; ``-inf`` marks tracks
it cannot rank. Ties, and the tracks a ranker cannot tell apart (score 0 for the
count-based rankers), are ordered by training popularity, then by track index,
by :func:`top_k` — a deterministic back-off shared by every ranker. None of them
has vectors, so metrics that need vectors (VRC, coherence) do not apply.

Updates
    Every ranker has ``update(new)``: the ranker after the sequences of ``new``, a dataset
    on a vocabulary extending the ranker's (the known tracks first, in order, as
    :func:`songspace.data.vocabulary.extend_vocabulary` gives). It equals the ranker
    built on the union of its training sequences and ``new``'s (tested, exactly):
    ItemKNN, Bigram and the popularity baseline merge their counts
    (:func:`songspace.data.vocabulary.merge_counts`: a union's counts are the sum of its
    parts'), the session kNN rankers index the union's sessions. Rankers are not stored
    in a run: they are built from a dataset when they are evaluated, so an updated
    catalogue serves them by building (or updating) them from the union.

Each baseline ranker declares its parameters once (``defaults``,
``parameter_constraints``, ``search_grid``, ``starting_points``;
:mod:`songspace.evaluation.ranker_params`); ``make_ranker(name, train, params)`` builds
one, and :func:`read_ranker_settings` reads the settings that ``songspace
tune-rankers`` chose (:func:`songspace.tuning.rankers.tune_rankers`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from songspace._checks import check_format
from songspace.data.dataset import Dataset
from songspace.data.vocabulary import merge_counts
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.evaluation.defaults import BASELINE_RANKER_NAMES
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.ranker_params import (
    TunableRanker,
    format_settings,
    popularity_of,
    sum_by_track,
)
from songspace.evaluation.session_knn import SKNN, STAN, VSKNN, VSTAN
from songspace.params import Interval

__all__ = [
    "BASELINE_RANKERS",
    "RANKER_SETTINGS_FORMAT",
    "SKNN",
    "STAN",
    "VSKNN",
    "VSTAN",
    "Bigram",
    "EmbeddingRanker",
    "ItemKNN",
    "PopularityRanker",
    "Ranker",
    "format_settings",
    "make_ranker",
    "read_ranker_settings",
    "top_k",
    "top_of_scores",
]


class Ranker(Protocol):
    """Scores every catalogue track for a seed list (one track for next-song).

    A count ranker may also have ``evidence(seeds) -> (tracks, scores)``: the distinct
    tracks it may score above 0 (ascending) and their scores, equal bit for bit to
    ``scores(seeds)``'s, every other track scoring exactly 0 and none below. Stage 1
    (:class:`~songspace.evaluation.candidates.RankerCandidates`) then takes a top ``n``
    without building the catalogue-sized vector (ItemKNN, SKNN, V-SKNN and Bigram have
    it)."""

    name: str
    #: Training popularity (sequences containing each track): the tie-breaker.
    popularity: np.ndarray

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        """float64 score per track (``-inf`` = cannot rank) for the seed track indices."""
        ...


def top_k_single(
    ranker: Ranker, queries: np.ndarray, k: int, *, exclude_self: bool = True, batch: int = 1024
) -> np.ndarray:
    """``top_k(ranker, [q], k)`` for each query track, batched where the ranker can.

    Rankers with a ``sparse_scores(queries)`` method (one row of non-negative scores
    per query track, zero = no evidence) are ranked from their sparse rows plus the
    popularity back-off, ``batch`` queries at a time; the result equals the one-query
    path (tested). Returns ``(len(queries), k)`` track indices, ``-1`` padded.
    """
    queries = np.asarray(queries, dtype=np.int64).reshape(-1)
    out = np.full((len(queries), k), -1, dtype=np.int64)
    if not hasattr(ranker, "sparse_scores"):
        for i, q in enumerate(queries.tolist()):
            qq = np.array([q])
            got = top_k(ranker, qq, k, exclude=qq if exclude_self else qq[:0])
            out[i, : len(got)] = got
        return out
    pop = ranker.popularity
    n = len(pop)
    fill_order = np.lexsort((np.arange(n), -pop))
    for start in range(0, len(queries), batch):
        qs = queries[start : start + batch]
        rows = ranker.sparse_scores(qs).tocsr()
        for j, q in enumerate(qs.tolist()):
            a, b = rows.indptr[j], rows.indptr[j + 1]
            idx, val = rows.indices[a:b].astype(np.int64), rows.data[a:b]
            keep = val > 0
            if exclude_self:
                keep &= idx != q
            idx, val = idx[keep], val[keep]
            order = np.lexsort((idx, -pop[idx], -val))[:k]
            got = idx[order]
            if len(got) < k:
                taken = np.concatenate([got, [q]]) if exclude_self else got
                head = fill_order[: k + len(taken)]
                head = head[~np.isin(head, taken)]
                if len(head) < k - len(got):  # tiny catalogues
                    head = fill_order[~np.isin(fill_order, taken)]
                got = np.concatenate([got, head[: k - len(got)]])
            out[start + j, : len(got)] = got
    return out


def top_k(
    ranker: Ranker, seeds: np.ndarray, k: int, *, exclude: np.ndarray | None = None
) -> np.ndarray:
    """The ``k`` best track indices for ``seeds``, best first.

    Order: score descending, then training popularity descending, then track index;
    tracks scored ``-inf`` and those in ``exclude`` (default: the seeds) come never.
    Fewer than ``k`` are returned only when fewer tracks are rankable.
    """
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
    drop = seeds if exclude is None else np.asarray(exclude, dtype=np.int64)
    return top_of_scores(ranker.scores(seeds), ranker.popularity, k, exclude=drop)


def top_of_scores(
    scores: np.ndarray, popularity: np.ndarray, k: int, *, exclude: np.ndarray | None = None
) -> np.ndarray:
    """The ``k`` best track indices of a score vector in :func:`top_k`'s order (score
    descending, then ``popularity`` descending, then track index; ``-inf`` and
    ``exclude`` never), for a caller that already holds the scores."""
    s = np.asarray(scores, dtype=np.float64).copy()
    if exclude is not None:
        s[np.asarray(exclude, dtype=np.int64)] = -np.inf
    ok = np.flatnonzero(np.isfinite(s))
    if len(ok) > k:
        ok = _preselect(ok, s, popularity, k)
    order = np.lexsort((ok, -popularity[ok], -s[ok]))
    return ok[order][:k]


def _preselect(ok: np.ndarray, s: np.ndarray, popularity: np.ndarray, k: int) -> np.ndarray:
    """The tracks of ``ok`` (ascending) that can be among the ``k`` best in
    :func:`top_of_scores`' order: those above the ``k``-th score, then, of those tied with
    it, the most popular (ties by index) that complete ``k``. Sparse count scores tie
    thousands of tracks at 0; choosing among them here keeps the final sort small."""
    neg = -s[ok]
    kth = np.partition(neg, k - 1)[k - 1]
    above, tied = ok[neg < kth], ok[neg == kth]
    need = k - len(above)
    if len(tied) > need:
        p = -np.asarray(popularity, dtype=np.float64)[tied]
        pk = np.partition(p, need - 1)[need - 1]
        more = tied[p < pk]
        same = tied[p == pk]  # ascending: the smallest indices first
        tied = np.concatenate([more, same[: need - len(more)]])
    return np.concatenate([above, tied])


@dataclass
class PopularityRanker:
    """The popularity baseline: the same training-popularity order for every query."""

    popularity: np.ndarray
    name: str = "popularity"

    @classmethod
    def fit(cls, train: Dataset) -> PopularityRanker:
        return cls(popularity_of(train))

    def update(self, new: Dataset) -> PopularityRanker:
        """This ranker after ``new``'s sequences (module docstring, "Updates")."""
        return PopularityRanker(merge_counts(self.popularity, popularity_of(new)), self.name)

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        return self.popularity.copy()


@dataclass
class EmbeddingRanker:
    """Cosine of each track to the mean of the seeds' (normalised) vectors.

    Tracks without a vector score ``-inf``; when no seed has one, every track
    does, and :func:`top_k` returns nothing.
    """

    emb: Embeddings
    popularity: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.emb.name

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        if self.emb.popularity is not None:
            s = self.emb.popularity.astype(np.float64)
            return np.where(self.emb.available, s, -np.inf)
        seeds = seeds[self.emb.available[seeds]]
        out = np.full(self.emb.n_tracks, -np.inf)
        if len(seeds) == 0:
            return out
        q = self.emb.vectors[seeds].mean(axis=0)
        out[self.emb.available] = self.emb.vectors[self.emb.available] @ q
        return out


class ItemKNN(TunableRanker):
    """Item-based kNN (module docstring): ``co(i, j) / ((n_i + lmbd)^alpha (n_j +
    lmbd)^(1 - alpha))``, summed over the seeds ``i``. Defaults: the cosine."""

    name = "itemknn"
    defaults: ClassVar[dict[str, Any]] = {"alpha": 0.5, "lmbd": 0.0}
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "alpha": Interval(float, 0, 1),
        "lmbd": Interval(float, 0, None),
    }
    search_grid: ClassVar[dict[str, tuple[Any, ...]]] = {
        "alpha": (0.5, 0.75, 1.0),
        "lmbd": (0.0, 20.0),
    }

    def __init__(
        self,
        train: Dataset | None,
        *,
        cooccurrence: sp.csr_matrix | None = None,
        popularity: np.ndarray | None = None,
        **params: Any,
    ) -> None:
        self.params = self.check_params(params)
        if cooccurrence is None or popularity is None:
            if train is None:
                raise ParameterError("train", "a dataset, or both counts", None)
            cooccurrence, popularity = cooccurrence_counts(train), popularity_of(train)
        self._co = cooccurrence
        self.popularity = popularity
        alpha, lmbd = float(self.params["alpha"]), float(self.params["lmbd"])
        left, right = _support_factor(self.popularity + lmbd, alpha)
        #: row: the seed, column: the candidate
        self.similarity = (sp.diags(left) @ cooccurrence @ sp.diags(right)).tocsr()

    def with_params(self, params: Mapping[str, Any]) -> ItemKNN:
        """This ranker with other settings, sharing its co-occurrence counts."""
        return ItemKNN(None, cooccurrence=self._co, popularity=self.popularity, **params)

    @classmethod
    def fit(cls, train: Dataset, **params: Any) -> ItemKNN:
        """Build from the training view (``params``: ``alpha``, ``lmbd``)."""
        return cls(train, **params)

    def update(self, new: Dataset) -> ItemKNN:
        """This ranker after ``new``'s sequences (module docstring, "Updates"): its
        co-occurrence and popularity counts merged with ``new``'s."""
        return ItemKNN(
            None,
            cooccurrence=merge_counts(self._co, cooccurrence_counts(new)),
            popularity=merge_counts(self.popularity, popularity_of(new)),
            **self.params,
        )

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[seeds].sum(axis=0)).ravel()

    def evidence(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tracks ``scores(seeds)`` may score above 0 and their scores (equal, bit for
        bit); every other track scores 0 (the :class:`Ranker` ``evidence`` contract)."""
        rows = self.similarity[np.asarray(seeds, dtype=np.int64).reshape(-1)]
        return sum_by_track(rows.indices, rows.data, self.similarity.shape[1])

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        return self.similarity[queries]


def cooccurrence_counts(train: Dataset) -> sp.csr_matrix:
    """Sequences holding both of two distinct tracks, ``co(i, j)`` (float64 counts, an
    empty diagonal)."""
    x = train.incidence().astype(np.float64)
    cooccurrence = (x.T @ x).tocsr()
    cooccurrence.setdiag(0.0)
    cooccurrence.eliminate_zeros()
    return cooccurrence


def _support_factor(support: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(support^-alpha, support^-(1 - alpha))``, 0 where the support is 0 (a track in no
    sequence has no co-occurrence either). ``alpha = 0.5`` is computed as ``1 / sqrt``."""
    left, right = np.zeros_like(support), np.zeros_like(support)
    ok = support > 0
    if alpha == 0.5:
        left[ok] = 1.0 / np.sqrt(support[ok])
        right[ok] = left[ok]
    else:
        left[ok] = support[ok] ** -alpha
        right[ok] = support[ok] ** -(1.0 - alpha)
    return left, right


def transition_counts(train: Dataset) -> sp.csr_matrix:
    """``t[a, b]``: how often track ``b`` directly follows track ``a`` (``a != b``) in a
    sequence of ``train`` (float64 counts)."""
    n = train.n_tracks
    idx = np.asarray(train.indices, dtype=np.int64)
    starts = np.zeros(len(idx), dtype=bool)
    starts[train.indptr[:-1][np.diff(train.indptr) > 0]] = True
    # an entry follows its predecessor unless it starts a sequence
    follow = np.flatnonzero(~starts[1:]) + 1
    a, b = idx[follow - 1], idx[follow]
    keep = a != b
    t = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
    t.sum_duplicates()
    return t


@dataclass
class Bigram(TunableRanker):
    """First-order Markov next-song baseline: counts of ``last seed -> track`` (no
    parameter: nothing to tune)."""

    transitions: sp.csr_matrix
    popularity: np.ndarray
    name: str = "bigram"
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: Dataset, **params: Any) -> Bigram:
        """Build from the training view (no parameter: ``params`` must be empty)."""
        cls.check_params(params)
        return cls(transition_counts(train), popularity_of(train))

    def update(self, new: Dataset) -> Bigram:
        """This ranker after ``new``'s sequences (module docstring, "Updates"): its
        transition and popularity counts merged with ``new``'s."""
        return Bigram(
            merge_counts(self.transitions, transition_counts(new)),
            merge_counts(self.popularity, popularity_of(new)),
            self.name,
        )

    def with_params(self, params: Mapping[str, Any]) -> Bigram:
        """This ranker (it has no settings; ``params`` must be empty)."""
        self.check_params(params)
        return self

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        if len(seeds) == 0:
            return np.zeros(self.transitions.shape[1])
        return self.transitions[int(seeds[-1])].toarray().ravel()

    def evidence(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The successors of the last seed and their counts (the tracks ``scores`` may
        score above 0; every other track scores 0)."""
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        if len(seeds) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        row = self.transitions[int(seeds[-1])]
        return sum_by_track(row.indices, row.data)

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        return self.transitions[queries]


#: Baseline rankers by name (``songspace evaluate --rankers``; the names' home is
#: :data:`songspace.evaluation.defaults.BASELINE_RANKER_NAMES`, each class's ``name``),
#: each built from the training view by ``fit(train, **params)``.
BASELINE_RANKERS: dict[str, Any] = dict(
    zip(BASELINE_RANKER_NAMES, (ItemKNN, SKNN, VSKNN, STAN, VSTAN, Bigram), strict=True)
)


def make_ranker(name: str, train: Dataset, params: Mapping[str, Any] | None = None) -> Ranker:
    """Build the baseline ranker ``name`` from the training view ``train`` with ``params``
    (the ranker's defaults for those not given)."""
    if name == "popularity":
        if params:
            raise ParameterError("popularity", "no parameters", dict(params))
        return PopularityRanker.fit(train)
    if name not in BASELINE_RANKERS:
        raise ParameterError(
            "baseline",
            f"one of {['popularity', *BASELINE_RANKERS]}",
            name,
        )
    ranker: Ranker = BASELINE_RANKERS[name].fit(train, **dict(params or {}))
    return ranker


def ranker_names(names: Sequence[str] | None) -> list[str]:
    """Validated baseline names (None: every baseline ranker)."""
    if names is None:
        return list(BASELINE_RANKERS)
    for n in names:
        if n not in BASELINE_RANKERS:
            raise ParameterError("baseline", f"one of {list(BASELINE_RANKERS)}", n)
    return list(names)


#: The ``format`` of a ranker settings file (``songspace tune-rankers -o FILE``).
RANKER_SETTINGS_FORMAT = "songspace-ranker-settings"
RANKER_SETTINGS_VERSION = 1


def read_ranker_settings(path: str | Path) -> dict[str, dict[str, Any]]:
    """The settings per ranker of a ranker settings file: its ``rankers`` object, ``{name:
    {parameter: value}}``, each checked against the ranker's constraints (every parameter
    returned, the defaults filling those not given).

    The file is JSON with ``"format": "songspace-ranker-settings"``, ``"format_version":
    1`` and ``"rankers"``: what ``songspace tune-rankers`` writes, or written by hand."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidValueError(
            "expected a ranker settings file, found nothing",
            path=path,
            fix="write one with `songspace tune-rankers DATA -o FILE`",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"expected JSON, could not read it ({exc})",
            path=path,
            fix="write it again with `songspace tune-rankers`",
        ) from None
    check_format(
        doc,
        name=RANKER_SETTINGS_FORMAT,
        version=RANKER_SETTINGS_VERSION,
        path=path,
        error=FormatError,
        fix_format="pass the JSON file that `songspace tune-rankers -o FILE` wrote",
        fix_version="write it again with this version's `songspace tune-rankers`",
    )
    table = doc.get("rankers")
    if not isinstance(table, Mapping):
        raise FormatError(
            f"expected an object {{ranker: {{parameter: value}}}}, found {table!r}",
            path=path,
            field="rankers",
            fix="see docs/evaluation.md, 'Tuned baselines'",
        )
    out: dict[str, dict[str, Any]] = {}
    for name, params in table.items():
        if name not in BASELINE_RANKERS:
            raise InvalidValueError(
                f"expected a ranker among {', '.join(BASELINE_RANKERS)}, found {name!r}",
                path=path,
                field=f"rankers.{name}",
                fix="remove it or correct its name",
            )
        if not isinstance(params, Mapping):
            raise InvalidValueError(
                f"expected an object of parameters, found {params!r}",
                path=path,
                field=f"rankers.{name}",
                fix="write {} for the defaults",
            )
        try:
            out[name] = BASELINE_RANKERS[name].check_params(params)
        except ParameterError as exc:
            raise InvalidValueError(
                f"expected {exc.constraint}, found {exc.value!r}",
                path=path,
                field=f"rankers.{exc.name}",
                fix=exc.fix or "correct the value or remove it",
            ) from None
    return out
