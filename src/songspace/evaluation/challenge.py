"""The RecSys Challenge 2018 protocol (Chen, Lamere, Schedl and Zamani, RecSys 2018).

The field's yardstick on the Million Playlist Dataset: given a playlist's title
and/or its first (or random) K tracks, recommend 500 tracks from the whole
catalogue, minus the seeds; the hidden rest of the playlist is the ground truth.

Categories (the challenge's ten, 1,000 playlists each in the official set):

=====================  =====  ========  =====
name                   seeds  order     title
=====================  =====  ========  =====
``title``              0      —         yes
``title_first1``       1      first     yes
``title_first5``       5      first     yes
``first5``             5      first     no
``title_first10``      10     first     yes
``first10``            10     first     no
``title_first25``      25     first     yes
``title_random25``     25     random    yes
``title_first100``     100    first     yes
``title_random100``    100    random    yes
=====================  =====  ========  =====

A playlist is eligible for a category when it has more distinct tracks than the
category's seed count. Title categories need playlist names: without them they
are skipped, with a note. The rankers of this project use the seed tracks only;
the title is used in one way, by every ranker alike: a playlist with no usable
seed (the ``title`` category, or seeds without vectors) is answered by
:class:`TitlePopularity`, the most frequent tracks of the training playlists
with the same normalised title, then global popularity.

Metrics, per playlist (``G`` the ground-truth tracks, ``R`` the 500
recommendations in order, ranks 1-based), as in the challenge rules:

- **R-precision** ``(|G ∩ R[:|G|]| + 0.25 |A(G) ∩ A(R[:|G|])|) / |G|``, where
  ``A(·)`` is the set of artists of a set of tracks (the 0.25 artist credit). As
  the rules write it, a track hit also earns its artist's credit, so the value
  can exceed 1 (at most 1.25). Without artists the credit is 0. (Deezer's public
  APC-RTA evaluator counts the artist credit over all 500 recommendations rather
  than the first ``|G|``; we follow the rules.)
- **NDCG** ``DCG / IDCG`` with ``DCG = Σ_i rel_i / log2(i + 1)`` over the 500 and
  ``IDCG = Σ_{i=1}^{|G ∩ R|} 1 / log2(i + 1)`` (the rules' ideal DCG has as many
  hits as were retrieved); 0 when nothing is retrieved.
- **clicks** ``floor((min{i : R_i ∈ G} - 1) / 10)``: refreshes of Spotify's
  10-track "Recommended Songs" list before the first relevant track; 51 when none
  of the 500 is relevant (lower is better).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.rankers import Ranker, top_k
from songspace.evaluation.results import MetricResult

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput

logger = logging.getLogger(__name__)

__all__ = [
    "CATEGORIES",
    "METRICS",
    "ChallengeCase",
    "TitlePopularity",
    "challenge_cases",
    "challenge_evaluation",
    "clicks",
    "evaluate_challenge",
    "ndcg_challenge",
    "normalise_title",
    "r_precision",
]

#: The metric names of the ``challenge`` family (per-category values are in ``info``).
METRICS: tuple[str, ...] = ("challenge_r_precision", "challenge_ndcg", "challenge_clicks")
N_RECOMMENDATIONS = 500
MAX_CLICKS = 51
ARTIST_CREDIT = 0.25


@dataclass(frozen=True)
class Category:
    name: str
    n_seeds: int
    random: bool
    title: bool


CATEGORIES: tuple[Category, ...] = (
    Category("title", 0, False, True),
    Category("title_first1", 1, False, True),
    Category("title_first5", 5, False, True),
    Category("first5", 5, False, False),
    Category("title_first10", 10, False, True),
    Category("first10", 10, False, False),
    Category("title_first25", 25, False, True),
    Category("title_random25", 25, True, True),
    Category("title_first100", 100, False, True),
    Category("title_random100", 100, True, True),
)


# ------------------------------------------------------------------ metrics
def r_precision(
    recommended: Sequence[int] | np.ndarray,
    truth: Sequence[int] | np.ndarray,
    artist_of: np.ndarray | None = None,
) -> float:
    """R-precision with the 0.25 artist credit (module docstring)."""
    g = {int(t) for t in truth}
    if not g:
        raise ParameterError("truth", "at least one ground-truth track", "none")
    top = [int(t) for t in np.asarray(recommended)[: len(g)]]
    hits = len(g.intersection(top))
    credit = 0.0
    if artist_of is not None:
        ga = {int(artist_of[t]) for t in g if artist_of[t] >= 0}
        ra = {int(artist_of[t]) for t in top if artist_of[t] >= 0}
        credit = ARTIST_CREDIT * len(ga & ra)
    return (hits + credit) / len(g)


def ndcg_challenge(
    recommended: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray
) -> float:
    """NDCG over the recommendations with the rules' ideal DCG (module docstring)."""
    g = {int(t) for t in truth}
    rel = np.fromiter((int(t) in g for t in recommended), dtype=bool)
    n_hit = int(rel.sum())
    if n_hit == 0:
        return 0.0
    disc = 1.0 / np.log2(np.arange(2, len(rel) + 2))
    return float(disc[rel].sum() / disc[:n_hit].sum())


def clicks(recommended: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray) -> int:
    """Recommended-songs clicks (module docstring); 51 when nothing is relevant."""
    g = {int(t) for t in truth}
    for i, t in enumerate(recommended):
        if int(t) in g:
            return i // 10
    return MAX_CLICKS


# ------------------------------------------------------------------ titles
def normalise_title(title: object) -> str | None:
    """Case-folded title with runs of white space collapsed; None when empty."""
    if not isinstance(title, str):
        return None
    key = " ".join(title.casefold().split())
    return key or None


@dataclass
class TitlePopularity:
    """Tracks of the training playlists with the same normalised title, most frequent
    first, then global popularity: the answer for a playlist without usable seeds."""

    by_title: dict[str, np.ndarray]
    global_order: np.ndarray

    @classmethod
    def fit(cls, train: Dataset) -> TitlePopularity:
        counts: dict[str, Counter[int]] = {}
        names = train.sequence_names
        if names is not None:
            for s, name in enumerate(names):
                key = normalise_title(name)
                if key is None:
                    continue
                counts.setdefault(key, Counter()).update(set(train.sequence(s).tolist()))
        by_title = {
            k: np.array(sorted(c, key=lambda t: (-c[t], t)), dtype=np.int64)
            for k, c in counts.items()
        }
        # the same popularity (sequences containing the track) as the rankers' back-off
        order = np.lexsort((np.arange(train.n_tracks), -train.occurrences()))
        return cls(by_title, order)

    def recommend(self, title: object, exclude: np.ndarray, k: int) -> np.ndarray:
        key = normalise_title(title)
        first = self.by_title.get(key, np.zeros(0, np.int64)) if key else np.zeros(0, np.int64)
        both = np.concatenate([first, self.global_order])
        _, idx = np.unique(both, return_index=True)
        both = both[np.sort(idx)]
        both = both[~np.isin(both, exclude)]
        return both[:k]


# ------------------------------------------------------------------ cases
@dataclass
class ChallengeCase:
    """One challenge query: a playlist, its category, seeds and hidden ground truth."""

    sequence: int
    category: str
    title: str | None
    seeds: np.ndarray
    truth: np.ndarray


@dataclass
class ChallengeCases:
    cases: list[ChallengeCase]
    skipped: dict[str, str] = field(default_factory=dict)


def challenge_cases(
    dataset: Dataset,
    playlists: np.ndarray | Sequence[int],
    *,
    categories: Sequence[str] | None = None,
    seed: int = 0,
) -> ChallengeCases:
    """Assign held-out ``playlists`` to the challenge categories and cut their seeds.

    Playlists are shuffled by ``seed`` and dealt round-robin to the categories they
    are eligible for (more distinct tracks than the category's seeds), so each
    category gets about the same number. Title categories are skipped (with the
    reason in ``skipped``) when the dataset has no playlist names.
    """
    names = [c.name for c in CATEGORIES]
    chosen = list(names if categories is None else categories)
    for wanted in chosen:
        if wanted not in names:
            raise ParameterError("categories", f"each one of {names}", wanted)
    cats = [c for c in CATEGORIES if c.name in chosen]
    has_titles = dataset.sequence_names is not None and any(
        normalise_title(t) for t in dataset.sequence_names
    )
    skipped: dict[str, str] = {}
    if not has_titles:
        for c in cats:
            if c.title:
                skipped[c.name] = "the dataset has no playlist titles"
        cats = [c for c in cats if not c.title]
    if not cats:
        raise InvalidValueError(
            "expected at least one challenge category to score, found none",
            record="challenge",
            fix="prepare the dataset with playlist titles (MPD names, Melon titles) or choose "
            "the categories without titles (first5, first10)",
        )
    rng = check_seed(seed)
    pls = np.asarray(playlists, dtype=np.int64).reshape(-1)
    pls = pls[rng.permutation(len(pls))]
    cases: list[ChallengeCase] = []
    turn = 0
    for p in pls.tolist():
        seq = dataset.sequence(p)
        _, first = np.unique(seq, return_index=True)
        distinct = seq[np.sort(first)].astype(np.int64)
        eligible = [c for c in cats if len(distinct) > c.n_seeds]
        if not eligible:
            continue
        cat = eligible[turn % len(eligible)]
        turn += 1
        if cat.random:
            pick = np.sort(rng.choice(len(distinct), cat.n_seeds, replace=False))
            mask = np.zeros(len(distinct), bool)
            mask[pick] = True
            seeds, truth = distinct[mask], distinct[~mask]
        else:
            seeds, truth = distinct[: cat.n_seeds], distinct[cat.n_seeds :]
        title = None
        if cat.title and dataset.sequence_names is not None:
            title = dataset.sequence_names[p]
        cases.append(ChallengeCase(p, cat.name, title, seeds, truth))
    for c in cats:
        if not any(x.category == c.name for x in cases):
            skipped[c.name] = f"no held-out playlist has more than {c.n_seeds} tracks"
    return ChallengeCases(cases, skipped)


def recommend(
    ranker: Ranker, case: ChallengeCase, fallback: TitlePopularity, k: int = N_RECOMMENDATIONS
) -> np.ndarray:
    """Top ``k`` for one case: the ranker's ranking, filled by the title fallback."""
    got = top_k(ranker, case.seeds, k) if len(case.seeds) else np.zeros(0, np.int64)
    if len(got) < k:
        fill = fallback.recommend(case.title, np.concatenate([case.seeds, got]), k - len(got))
        got = np.concatenate([got, fill])
    return got


def challenge_evaluation(
    ranker: Ranker,
    cases: ChallengeCases,
    fallback: TitlePopularity,
    *,
    artist_of: np.ndarray | None = None,
    k: int = N_RECOMMENDATIONS,
) -> list[MetricResult]:
    """``challenge_r_precision``, ``challenge_ndcg`` and ``challenge_clicks`` with one value
    per playlist (for paired tests); ``info["per_category"]`` holds each category's means."""
    if not cases.cases:
        raise InvalidValueError(
            "expected at least one challenge playlist, found none",
            record="challenge",
            fix="hold out more playlists, or longer ones",
        )
    rp = np.zeros(len(cases.cases))
    nd = np.zeros(len(cases.cases))
    cl = np.zeros(len(cases.cases))
    for i, case in enumerate(cases.cases):
        rec = recommend(ranker, case, fallback, k)
        rp[i] = r_precision(rec, case.truth, artist_of)
        nd[i] = ndcg_challenge(rec, case.truth)
        cl[i] = clicks(rec, case.truth)
    cats = np.array([c.category for c in cases.cases])
    per_category = {}
    for c in CATEGORIES:
        m = cats == c.name
        if m.any():
            per_category[c.name] = {
                "n_playlists": int(m.sum()),
                "r_precision": float(rp[m].mean()),
                "ndcg": float(nd[m].mean()),
                "clicks": float(cl[m].mean()),
            }
    info = {
        "n_playlists": len(cases.cases),
        "k": k,
        "skipped": dict(cases.skipped),
        "model": ranker.name,
        "per_category": per_category,
    }
    return [
        MetricResult.mean_of("challenge_r_precision", rp, info=dict(info)),
        MetricResult.mean_of("challenge_ndcg", nd, info=dict(info)),
        MetricResult.mean_of("challenge_clicks", cl, higher_is_better=False, info=dict(info)),
    ]


def evaluate_challenge(protocol: Protocol, emb: Embeddings) -> list[MetricResult]:
    """The ``challenge`` family of :func:`songspace.evaluation.suite.evaluate`.

    Cases come from the protocol's held-out sequences (seeded by the protocol's seed):
    its split's test sequences, or its validation sequences for a validation protocol
    (``settings["part"] == "validation"``, as :func:`songspace.tuning.protocols.
    tuning_protocols` makes; scoring one must never read the test playlists); the title
    fallback and the popularity back-off come from its training view. Both are cached on
    the protocol so every model is scored on the same cases.
    """
    from songspace.evaluation.rankers import EmbeddingRanker, PopularityRanker

    cache = protocol._cache
    if "challenge" not in cache:
        validation = protocol.settings.get("part") == "validation"
        held = protocol.split.validation if validation else protocol.split.test
        cases = challenge_cases(protocol.dataset, held, seed=protocol.seed)
        for cat, why in cases.skipped.items():
            logger.info("challenge category %s skipped: %s", cat, why)
        cache["challenge"] = (
            cases,
            TitlePopularity.fit(protocol.train),
            PopularityRanker.fit(protocol.train),
            artist_codes(protocol.dataset),
        )
    cases, fallback, pop, artists = cache["challenge"]
    ranker = emb.ranker
    if ranker is None and emb.popularity is not None:
        ranker = PopularityRanker(pop.popularity, name=emb.name)
    elif ranker is None:
        ranker = EmbeddingRanker(emb, pop.popularity, name=emb.name)
    return challenge_evaluation(ranker, cases, fallback, artist_of=artists)


def artist_codes(dataset: Dataset) -> np.ndarray | None:
    """Integer artist code per track (-1 unknown), or None when no artist is known."""
    col = dataset.tracks["artist_id"]
    known = col.notna().to_numpy()
    if not known.any():
        return None
    codes = np.full(dataset.n_tracks, -1, dtype=np.int64)
    codes[known] = col[known].astype("category").cat.codes.to_numpy()
    return codes


# ------------------------------------------------------------ the metric family
#: Default report-table columns: every metric.
COLUMNS: tuple[str, ...] = METRICS


def unsupported(protocol: Protocol) -> str | None:
    """Always None: categories the data lacks (titles, ...) are skipped inside the family."""
    return None


def compute(run: FamilyInput) -> list[MetricResult]:
    """The ``challenge`` family of :func:`songspace.evaluation.suite.evaluate`."""
    return evaluate_challenge(run.protocol, run.emb)
