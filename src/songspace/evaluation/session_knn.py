"""Session-based kNN rankers: SKNN, V-SKNN, STAN and VSTAN.

All four find, for a seed list (the seed tracks in order, the last one the most recent),
its nearest training sequences ("sessions") and let them vote for their tracks. They
follow the reference implementations of session-rec (Ludewig, Mauro, Latifi and Jannach,
UMUAI 2021; github.com/rn5l/session-rec, ``algorithms/knn/sknn.py``, ``vsknn.py``,
``stan.py`` and ``vstan.py``), which APC-RTA (Bendada, Salha-Galvan et al., KDD 2023;
github.com/deezer/APC-RTA, ``src/baselines``) copies for the Million Playlist Dataset.

Notation: the seeds ``s_1 .. s_L`` (``L`` counts repeated seeds); ``S`` their distinct
tracks; ``p(i)`` the last position (1-based) of seed track ``i`` in the seeds; ``|n|``
the number of distinct tracks of a training sequence ``n``.

**Candidates and neighbours** (all four). The candidate sequences are the training
sequences holding at least one seed track. With ``sample`` set and more candidates than
``sample``, only the ``sample`` most recent are kept (session-rec's ``sampling='recent'``):
the most recent by the time of their last entry where the dataset has timestamps; where it
has none (the MPD subset, LFM-1b), **by sequence order**: a sequence stored later in the
dataset counts as more recent (ties: the later sequence). ``sample=None`` keeps every
candidate (session-rec's ``sample_size=0``). Each kept candidate gets a similarity
``sim(n)``; the ``k`` most similar with ``sim > 0`` are the neighbours (ties: the lower
sequence index). A track's score is the sum of its neighbours' votes; every neighbour
holding a track votes for it once, whatever the number of times the track occurs in it.

**Similarities.** With seed weights ``w(i)`` (1 unless stated) and
``overlap(n) = sum of w(i) over the seed tracks i in n``:

- ``cosine``: ``overlap(n) / sqrt(|S| |n|)`` (session-rec writes ``li / sqrt(la) *
  sqrt(lb)``, which multiplies by ``sqrt(lb)`` by operator precedence; we use the cosine
  its documentation and the paper describe);
- ``jaccard``: ``overlap(n) / |S ∪ n|``;
- ``vec`` (V-SKNN only): ``overlap(n) / |S|``, session-rec's V-SKNN similarity
  (``VMContextKNN.vec``).

**SKNN** (``sknn.py``, ``ContextKNN``): weights 1; a neighbour votes ``sim(n)``.

**V-SKNN** (``vsknn.py``, ``VMContextKNN``): the seed weights decay with the distance to
the end of the seeds, ``weighting``: ``linear`` ``max(1 - 0.1 (L - p), 0)`` (the default;
session-rec's ``linear`` writes ``1 - 0.1 (L - p) if p <= 10 else 0``, which zeroes every
seed after the tenth of a long list; we keep the decay the paper describes), ``same`` 1,
``div`` ``p / L``, ``quadratic`` ``(p / L)^2``. A neighbour votes
``sim(n) * d(step(n))``, where ``step(n) = L - p*(n) + 1`` and ``p*(n)`` is the last seed
position whose track ``n`` holds (``weighting_score``: ``same`` 1, the default; ``div``
``1 / step``; ``quadratic`` ``1 / step^2``). The default similarity is ``cosine`` (the
weighted overlap over ``sqrt(|S| |n|)``), as in earlier versions of this module.

**STAN** (Garg et al., SIGIR 2019; ``stan.py``): seed weights
``w(i) = exp((p(i) - L) / lambda_spw)``; ``sim(n) = overlap(n) / (sqrt(sum_{i in S}
w(i)^2) sqrt(|n|)) * exp(-(t* - t(n)) / lambda_snh)``; a neighbour votes for track ``j``
``sim(n) * exp(-|q_n(j) - q_n*| / lambda_inh)``, where ``q_n(j)`` is the last position
(1-based) of ``j`` in ``n`` and ``q_n*`` the last position in ``n`` of any seed track.
``lambda_snh`` is in days, as in session-rec (``t`` in seconds). ``None`` switches a
factor off (1).

- Session time ``t(n)``: the timestamp of the last entry of ``n``. ``t*``, the query's
  time, is unknown to a ranker scored on seed tracks; we use the latest training time.
  Any ``t*`` multiplies every similarity of a query by the same factor, so the neighbours
  and the ranking are those of the query's own time.
- **Without timestamps** (the MPD subset, LFM-1b, any dataset prepared without them) the
  recency decay is **switched off**: ``lambda_snh`` has no effect. Sequence order is no
  clock (two playlists stored side by side may be years apart), so it only orders the
  ``sample`` (above), never a decay.

**VSTAN** (Ludewig, Latifi, Mauro and Jannach, UMUAI 2021; session-rec ``vstan.py``,
``VSKNN_STAN``): STAN, with each vote also multiplied by ``1 + lambda_idf * idf(j)``,
``idf(j) = ln(|training sequences| / |training sequences holding j|)``, and by
``exp((p*(n) - L) / lambda_ipw)`` (``p*(n)`` as in V-SKNN). Its similarity is STAN's (the
reference's ``similarity`` argument is not used by its code). session-rec counts a
track's entries rather than its sequences in the IDF; on data with repeated tracks that
count can exceed the number of sequences, making the IDF and then votes negative, so we
count sequences (the same on data without repeats).

Parameters, their constraints, the tuning grids and the literature's starting settings are
declared on each class (:mod:`songspace.evaluation.ranker_params`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace.data.dataset import Dataset
from songspace.data.vocabulary import concat_sequences
from songspace.evaluation.ranker_params import TunableRanker, popularity_of, sum_by_track
from songspace.params import AnyOf, Interval, NoneValue, Options

__all__ = ["SECONDS_PER_DAY", "SKNN", "STAN", "VSKNN", "VSTAN"]

SECONDS_PER_DAY = 86_400
_K = Interval(int, 1, None)
_SAMPLE = AnyOf(NoneValue(), Interval(int, 1, None))
#: A decay constant: positive, or None (the factor switched off).
_LAMBDA = AnyOf(NoneValue(), Interval(float, 0, None, closed="neither"))

#: APC-RTA's MPD settings (resources/params/best_params_baselines.json).
_APC_RTA = "apc-rta-mpd"
#: session-rec's 30Music settings (conf/save/30music).
_SESSION_REC = "session-rec-30music"


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the CSR data of ``rows``' entries, the row number of each)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets, which


@dataclass
class _Candidates:
    """The candidate sequences of one query, with what the similarities and votes need."""

    seqs: np.ndarray  # sequence indices, ascending
    overlap: np.ndarray  # sum of the weights of the seed tracks each holds
    count: np.ndarray  # number of seed tracks each holds
    seed_pos: np.ndarray  # p*(n): last seed position whose track the sequence holds
    seq_pos: np.ndarray  # q_n*: last position in the sequence of a seed track

    def take(self, keep: np.ndarray) -> _Candidates:
        return _Candidates(
            self.seqs[keep],
            self.overlap[keep],
            self.count[keep],
            self.seed_pos[keep],
            self.seq_pos[keep],
        )


@dataclass
class _Query:
    """One seed list: its distinct tracks (first-appearance order), the last position of
    each (1-based), their weights, and the list's length ``L``."""

    tracks: np.ndarray
    last_pos: np.ndarray
    weights: np.ndarray
    length: int


class _SessionKNN(TunableRanker):
    """The shared machinery (module docstring): candidates, sample, neighbours, votes."""

    name = "session-knn"
    similarities: ClassVar[tuple[str, ...]] = ("cosine", "jaccard")

    def __init__(self, train: Dataset, **params: Any) -> None:
        self.params = self.check_params(params)
        self._train = train
        self.popularity = popularity_of(train)
        n_seq, n_tracks = train.n_sequences, train.n_tracks
        idx = np.asarray(train.indices, dtype=np.int64)
        lengths = np.diff(train.indptr)
        seq = np.repeat(np.arange(n_seq, dtype=np.int64), lengths)
        pos = np.arange(len(idx), dtype=np.int64) - np.repeat(train.indptr[:-1], lengths) + 1
        # keep each track's last occurrence in each sequence (its position q_n(j))
        _, first_rev = np.unique((seq * n_tracks + idx)[::-1], return_index=True)
        last = len(idx) - 1 - first_rev
        #: sequence x track, data: the last position (1-based) of the track in the sequence
        self._positions = sp.csr_matrix(
            (pos[last].astype(np.float64), (seq[last], idx[last])), shape=(n_seq, n_tracks)
        )
        self._positions.sort_indices()
        self.incidence = self._positions.copy()
        self.incidence.data[:] = 1.0
        self._by_track = self._positions.tocsc()
        self._by_track.sort_indices()
        self._lengths = np.diff(self._positions.indptr).astype(np.float64)
        self._times: np.ndarray | None = None
        self._recency = np.arange(n_seq, dtype=np.float64)
        if train.timestamps is not None and n_seq:
            nonempty = lengths > 0
            t = np.zeros(n_seq, dtype=np.float64)
            t[nonempty] = np.maximum.reduceat(
                np.asarray(train.timestamps, dtype=np.float64), train.indptr[:-1][nonempty]
            )
            self._times = t
            self._recency = t

    @classmethod
    def fit(cls, train: Dataset, **params: Any) -> Any:
        """Build from the training view (``params``: see the class's ``defaults``)."""
        return cls(train, **params)

    def update(self, new: Dataset) -> Any:
        """This ranker after ``new``'s sessions (on a vocabulary extending this one's):
        the union's sessions indexed, as ``fit`` on the union."""
        return type(self)(concat_sequences(self._train, new), **self.params)

    def with_params(self, params: Mapping[str, Any]) -> Any:
        """This ranker with other settings, sharing its index of the training view."""
        other = copy.copy(self)
        other.params = self.check_params(params)
        return other

    @property
    def k(self) -> int:
        return int(self.params["k"])

    # ---------------------------------------------------------------- one query
    def _query(self, seeds: np.ndarray) -> _Query:
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        n = len(seeds)
        if n == 1:
            tracks, last_pos = seeds, np.ones(1)
        else:
            # last position of each distinct seed; tracks in first-appearance order
            rev, first_rev = np.unique(seeds[::-1], return_index=True)
            _, first = np.unique(seeds, return_index=True)
            order = np.argsort(first, kind="stable")
            tracks = rev[order]
            last_pos = (n - first_rev[order]).astype(np.float64)
        return _Query(tracks, last_pos, self._seed_weights(last_pos, n), n)

    def _seed_weights(self, last_pos: np.ndarray, length: int) -> np.ndarray:
        return np.ones(len(last_pos))

    def _candidates(self, q: _Query) -> _Candidates:
        ptr = self._by_track.indptr
        if len(q.tracks) == 1:
            t = int(q.tracks[0])
            a, b = ptr[t], ptr[t + 1]
            seqs = self._by_track.indices[a:b].astype(np.int64)
            m = len(seqs)
            return _Candidates(
                seqs,
                np.full(m, q.weights[0]),
                np.ones(m),
                np.full(m, q.last_pos[0]),
                self._by_track.data[a:b].copy(),
            )
        where, col = _gather(ptr, q.tracks)
        rows = self._by_track.indices[where].astype(np.int64)
        seqs, inv = np.unique(rows, return_inverse=True)
        m = len(seqs)
        overlap = np.bincount(inv, weights=q.weights[col], minlength=m)
        count = np.bincount(inv, minlength=m).astype(np.float64)
        seed_pos = np.zeros(m)
        np.maximum.at(seed_pos, inv, q.last_pos[col])
        seq_pos = np.zeros(m)
        np.maximum.at(seq_pos, inv, self._by_track.data[where])
        return _Candidates(seqs, overlap, count, seed_pos, seq_pos)

    def _sample(self, c: _Candidates) -> _Candidates:
        """The ``sample`` most recent candidates (module docstring), in sequence order."""
        sample = self.params["sample"]
        if sample is None or len(c.seqs) <= sample:
            return c
        order = np.lexsort((-c.seqs, -self._recency[c.seqs]))[:sample]
        return c.take(np.sort(order))

    def _similarity(self, q: _Query, c: _Candidates) -> np.ndarray:
        how = self.params["similarity"]
        lengths = self._lengths[c.seqs]
        n = len(q.tracks)
        if how == "cosine":
            return c.overlap / np.sqrt(n * lengths)
        if how == "jaccard":
            return c.overlap / (n + lengths - c.count)
        return c.overlap / n  # vec

    def _neighbours(self, seeds: np.ndarray) -> tuple[_Query, _Candidates, np.ndarray]:
        """The query, its neighbours (at most ``k``) and their similarities."""
        q = self._query(seeds)
        c = self._sample(self._candidates(q))
        sim = self._similarity(q, c)
        ok = sim > 0
        if not ok.all():
            c, sim = c.take(ok), sim[ok]
        if len(sim) > self.k:
            keep = np.lexsort((c.seqs, -sim))[: self.k]
            c, sim = c.take(keep), sim[keep]
        return q, c, sim


class _VotingKNN(_SessionKNN):
    """SKNN and V-SKNN: every track of a neighbour gets the neighbour's vote."""

    def _votes(self, q: _Query, c: _Candidates, sim: np.ndarray) -> np.ndarray:
        return sim

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        """float64 score per track for the seed track indices (0: no neighbour holds it)."""
        out = np.zeros(self.incidence.shape[1])
        if len(np.asarray(seeds).reshape(-1)) == 0:
            return out
        q, c, sim = self._neighbours(seeds)
        if len(c.seqs) == 0:
            return out
        return np.asarray(self.incidence[c.seqs].T @ self._votes(q, c, sim)).ravel()

    def evidence(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tracks of the neighbours and their scores (equal to ``scores(seeds)``'s,
        bit for bit); every other track scores 0, without the catalogue-sized vector."""
        if len(np.asarray(seeds).reshape(-1)) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        q, c, sim = self._neighbours(seeds)
        rows = self.incidence[c.seqs]
        votes = np.repeat(np.asarray(self._votes(q, c, sim), np.float64), np.diff(rows.indptr))
        return sum_by_track(rows.indices, rows.data * votes, self.incidence.shape[1])

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        """Scores of single-track queries, one sparse row each (equals ``scores([q])``)."""
        queries = np.asarray(queries, dtype=np.int64).reshape(-1)
        indptr, cols, data = [0], [], []
        for query in queries.tolist():
            q, c, sim = self._neighbours(np.array([query]))
            order = np.argsort(c.seqs)
            cols.append(c.seqs[order])
            data.append(self._votes(q, c, sim)[order])
            indptr.append(indptr[-1] + len(order))
        s = sp.csr_matrix(
            (
                np.concatenate([np.zeros(0), *data]),
                np.concatenate([np.zeros(0, np.int64), *cols]),
                np.asarray(indptr),
            ),
            shape=(len(queries), self.incidence.shape[0]),
        )
        return (s @ self.incidence).tocsr()


class SKNN(_VotingKNN):
    """Session-based kNN (module docstring): the ``k`` most similar training sequences vote
    for their tracks with their similarity. Defaults: ``k=100``, every candidate, cosine."""

    name = "sknn"
    defaults: ClassVar[dict[str, Any]] = {"k": 100, "sample": None, "similarity": "cosine"}
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "k": _K,
        "sample": _SAMPLE,
        "similarity": Options(("cosine", "jaccard")),
    }
    search_grid: ClassVar[dict[str, tuple[Any, ...]]] = {
        "k": (50, 100, 500, 1500),
        "sample": (None, 2500),
        "similarity": ("cosine", "jaccard"),
    }
    starting_points: ClassVar[dict[str, dict[str, Any]]] = {
        _APC_RTA: {"k": 1500, "sample": 2500, "similarity": "cosine"},
    }


_WEIGHTINGS = ("linear", "same", "div", "quadratic")
_SCORE_DECAYS = ("same", "div", "quadratic")


class VSKNN(_VotingKNN):
    """V-SKNN (module docstring): SKNN with position-weighted seeds (``weighting``) and
    votes decayed by how far back the neighbour's last shared seed lies
    (``weighting_score``). Defaults: ``k=100``, every candidate, cosine, linear weights, no
    vote decay (this module's V-SKNN before these parameters)."""

    name = "vsknn"
    defaults: ClassVar[dict[str, Any]] = {
        "k": 100,
        "sample": None,
        "similarity": "cosine",
        "weighting": "linear",
        "weighting_score": "same",
    }
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "k": _K,
        "sample": _SAMPLE,
        "similarity": Options(("cosine", "jaccard", "vec")),
        "weighting": Options(_WEIGHTINGS),
        "weighting_score": Options(_SCORE_DECAYS),
    }
    search_grid: ClassVar[dict[str, tuple[Any, ...]]] = {
        "k": (100, 500, 1500),
        "similarity": ("cosine", "vec"),
        "weighting": ("linear", "div", "quadratic"),
        "weighting_score": ("same", "div"),
    }
    starting_points: ClassVar[dict[str, dict[str, Any]]] = {
        _APC_RTA: {
            "k": 1500,
            "sample": 2500,
            "similarity": "vec",
            "weighting": "same",
            "weighting_score": "div",
        },
    }
    #: one seed weighs 1 under every weighting, and its step is 1
    single_seed_inert = frozenset({"weighting", "weighting_score"})

    def _seed_weights(self, last_pos: np.ndarray, length: int) -> np.ndarray:
        how = self.params["weighting"]
        if how == "linear":
            return np.maximum(1.0 - 0.1 * (length - last_pos), 0.0)
        if how == "div":
            return last_pos / length
        if how == "quadratic":
            return (last_pos / length) ** 2
        return np.ones(len(last_pos))

    def _votes(self, q: _Query, c: _Candidates, sim: np.ndarray) -> np.ndarray:
        how = self.params["weighting_score"]
        if how == "same":
            return sim
        step = q.length - c.seed_pos + 1
        return sim / step if how == "div" else sim / step**2


class STAN(_SessionKNN):
    """STAN, Sequence and Time Aware Neighbourhood (Garg et al., SIGIR 2019; module
    docstring). Defaults: session-rec's 30Music settings (``k=500``, ``sample=10000``,
    ``lambda_spw=2.1``, ``lambda_snh=100`` days, ``lambda_inh=16.8``)."""

    name = "stan"
    defaults: ClassVar[dict[str, Any]] = {
        "k": 500,
        "sample": 10_000,
        "lambda_spw": 2.1,
        "lambda_snh": 100.0,
        "lambda_inh": 16.8,
    }
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "k": _K,
        "sample": _SAMPLE,
        "lambda_spw": _LAMBDA,
        "lambda_snh": _LAMBDA,
        "lambda_inh": _LAMBDA,
    }
    search_grid: ClassVar[dict[str, tuple[Any, ...]]] = {
        "k": (100, 500, 1500),
        "lambda_spw": (2.1, 16.0),
        # None: no recency decay; on Melon (playlist update dates over 15 years) it wins
        "lambda_snh": (5.0, 100.0, None),
        "lambda_inh": (2.0, 16.8, 128.0),
    }
    starting_points: ClassVar[dict[str, dict[str, Any]]] = {
        _SESSION_REC: dict(defaults),
        _APC_RTA: {
            "k": 1500,
            "sample": 2500,
            "lambda_spw": 16.0,
            "lambda_snh": 80.0,
            "lambda_inh": 128.0,
        },
    }
    #: one seed weighs exp(0) = 1 whatever lambda_spw
    single_seed_inert: ClassVar[frozenset[str]] = frozenset({"lambda_spw"})
    time_params: ClassVar[frozenset[str]] = frozenset({"lambda_snh"})

    def __init__(self, train: Dataset, **params: Any) -> None:
        super().__init__(train, **params)
        # idf over sequences holding the track (see the module docstring)
        df = self.popularity
        self._idf = np.zeros(len(df))
        seen = df > 0
        self._idf[seen] = np.log(train.n_sequences / df[seen])

    def _seed_weights(self, last_pos: np.ndarray, length: int) -> np.ndarray:
        lam = self.params["lambda_spw"]
        if lam is None:
            return np.ones(len(last_pos))
        return np.exp((last_pos - length) / lam)

    def _similarity(self, q: _Query, c: _Candidates) -> np.ndarray:
        norm = np.sqrt(np.sum(q.weights**2)) * np.sqrt(self._lengths[c.seqs])
        sim = c.overlap / norm
        lam = self.params["lambda_snh"]
        if lam is not None and self._times is not None:
            latest = float(self._times.max())
            sim = sim * np.exp(-(latest - self._times[c.seqs]) / (lam * SECONDS_PER_DAY))
        return sim

    def _neighbour_factor(self, q: _Query, c: _Candidates) -> np.ndarray:
        """A factor per neighbour beyond its similarity (VSTAN's lambda_ipw)."""
        return np.ones(len(c.seqs))

    def _track_factor(self, tracks: np.ndarray) -> np.ndarray | None:
        """A factor per voted track (VSTAN's lambda_idf), or None."""
        return None

    def _contributions(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(track, vote) pairs, one per (neighbour, distinct track of it); a track's score
        is the sum of its votes."""
        q, c, sim = self._neighbours(seeds)
        where, which = _gather(self._positions.indptr, c.seqs)
        tracks = self._positions.indices[where].astype(np.int64)
        vote = sim[which]
        lam = self.params["lambda_inh"]
        if lam is not None:
            gap = np.abs(self._positions.data[where] - c.seq_pos[which])
            vote = vote * np.exp(-gap / lam)
        factor = self._track_factor(tracks)
        if factor is not None:
            vote = vote + vote * factor
        return tracks, vote * self._neighbour_factor(q, c)[which]

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        """float64 score per track for the seed track indices (0: no neighbour holds it)."""
        n = self.incidence.shape[1]
        if len(np.asarray(seeds).reshape(-1)) == 0:
            return np.zeros(n)
        tracks, vote = self._contributions(seeds)
        return np.bincount(tracks, weights=vote, minlength=n)

    def sparse_scores(self, queries: np.ndarray) -> sp.csr_matrix:
        """Scores of single-track queries, one sparse row each (equals ``scores([q])``:
        the votes are summed in the same order)."""
        queries = np.asarray(queries, dtype=np.int64).reshape(-1)
        indptr, cols, data = [0], [], []
        for query in queries.tolist():
            tracks, vote = self._contributions(np.array([query]))
            voted, inv = np.unique(tracks, return_inverse=True)
            cols.append(voted)
            data.append(np.bincount(inv, weights=vote, minlength=len(voted)))
            indptr.append(indptr[-1] + len(voted))
        return sp.csr_matrix(
            (
                np.concatenate([np.zeros(0), *data]),
                np.concatenate([np.zeros(0, np.int64), *cols]),
                np.asarray(indptr),
            ),
            shape=(len(queries), self.incidence.shape[1]),
        )


class VSTAN(STAN):
    """VSTAN (Ludewig, Latifi, Mauro and Jannach 2021; module docstring): STAN with the
    votes weighted by the position of the neighbour's last shared seed (``lambda_ipw``) and
    by the voted track's IDF (``lambda_idf``). Defaults: session-rec's 30Music settings
    (``k=1000``, ``sample=5000``, ``lambda_spw=33.6``, ``lambda_snh=100``,
    ``lambda_inh=8.4``, ``lambda_ipw=1e-5``, ``lambda_idf=5``)."""

    name = "vstan"
    defaults: ClassVar[dict[str, Any]] = {
        "k": 1000,
        "sample": 5000,
        "lambda_spw": 33.6,
        "lambda_snh": 100.0,
        "lambda_inh": 8.4,
        "lambda_ipw": 1e-5,
        "lambda_idf": 5.0,
    }
    parameter_constraints: ClassVar[dict[str, Any]] = {
        **STAN.parameter_constraints,
        "lambda_ipw": _LAMBDA,
        "lambda_idf": _LAMBDA,
    }
    search_grid: ClassVar[dict[str, tuple[Any, ...]]] = {
        "k": (500, 1000, 2000),
        "lambda_spw": (2.1, 33.6),
        "lambda_snh": (100.0, None),
        "lambda_inh": (8.4, 128.0),
        "lambda_ipw": (1e-5, 4.0),
        "lambda_idf": (None, 5.0),
    }
    starting_points: ClassVar[dict[str, dict[str, Any]]] = {
        _SESSION_REC: dict(defaults),
        # APC-RTA's file names sp_w, sn_w, in_w; its code leaves lambda_ipw and lambda_idf
        # at session-rec's constructor defaults (1.02 and 5)
        _APC_RTA: {
            "k": 2000,
            "sample": 2500,
            "lambda_spw": 1e-5,
            "lambda_snh": 5.0,
            "lambda_inh": 8.0,
            "lambda_ipw": 1.02,
            "lambda_idf": 5.0,
        },
    }
    #: one seed: p*(n) = L, so exp((p*(n) - L) / lambda_ipw) = 1
    single_seed_inert: ClassVar[frozenset[str]] = frozenset({"lambda_spw", "lambda_ipw"})

    def _neighbour_factor(self, q: _Query, c: _Candidates) -> np.ndarray:
        lam = self.params["lambda_ipw"]
        if lam is None:
            return np.ones(len(c.seqs))
        return np.exp((c.seed_pos - q.length) / lam)

    def _track_factor(self, tracks: np.ndarray) -> np.ndarray | None:
        lam = self.params["lambda_idf"]
        return None if lam is None else self._idf[tracks] * lam
