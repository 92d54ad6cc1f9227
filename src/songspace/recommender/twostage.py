"""``TwoStageRanker``: candidates from several generators, re-ranked by a learned model.

Stage 1 (:class:`~songspace.evaluation.candidates.CandidateUnion`) takes the top ``depth``
of every generator: the kNN rankers (their tuned settings), the successors of the last
seed, each embedding's nearest neighbours of the last seed and of the seed mean, and the
``popular`` most popular tracks. Stage 2 scores every candidate with a LightGBM LambdaRank
model over the features of :mod:`songspace.recommender.features`.

**Why LightGBM rather than XGBoost.** Both have a listwise ranking objective. LightGBM's
LambdaRank is the reference implementation the learning-to-rank literature compares
against; it handles missing values natively (a generator that did not retrieve a candidate
gives NaN features, and each split learns where those go), and its histogram training is
fast on CPU for millions of candidate rows. Its text model format (``model.txt``) is
readable, versioned, loads without pickle, and reproduces predictions exactly. Its wheel
depends only on numpy and scipy, while XGBoost's Linux wheels pull in NVIDIA's NCCL (a
CUDA library of several hundred MB), which our dependency policy keeps out
(constraints.txt pins a CPU torch for the same reason).

**No leakage.** The generators and the features are built from the protocol's training
view (and embeddings fitted on it), never refitted on training + validation. The model is
fitted on queries of the protocol's validation sequences (:mod:`songspace.recommender.
training`), split by sequence into a fitting and an early-stopping part. The test split is
not read.

It is a :class:`~songspace.evaluation.rankers.Ranker` (``scores(seeds)``), so every
protocol scores it beside the baselines (``Embeddings.from_ranker``); its ``stage1``
attribute gives the stage-1 recall and segment families its candidates. Saved without
pickle: LightGBM's text format plus JSON (:meth:`TwoStageRanker.save`, :meth:`load`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from songspace._checks import check_format
from songspace._optional import optional_import
from songspace._util import atomic_directory, to_jsonable
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.data.fingerprint import dataset_fingerprint
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.evaluation.candidates import (
    NEIGHBOURS_OF,
    CandidateGenerator,
    CandidateSet,
    CandidateUnion,
    EmbeddingNeighbours,
    ExactSearch,
    PopularityCandidates,
    RankerCandidates,
    VectorSearch,
    as_seeds,
)
from songspace.evaluation.defaults import DEFAULT_SUITE
from songspace.evaluation.ranker_params import TunableRanker, popularity_of
from songspace.evaluation.rankers import (
    BASELINE_RANKERS,
    Bigram,
    Ranker,
    make_ranker,
    ranker_names,
)
from songspace.evaluation.stage1 import STAGE1_DEPTHS
from songspace.params import SEED, AnyOf, Boolean, Interval, Names, NoneValue
from songspace.progress import ProgressCallback, report, track
from songspace.recommender.backoff import backoff_scores, choose_backoff
from songspace.recommender.features import (
    CountFeatures,
    EmbeddingFeatures,
    Feature,
    GeneratorFeatures,
    MetadataFeatures,
    PopularityFeatures,
    TrainingCounts,
    feature_matrix,
)
from songspace.recommender.training import TrainingQueries, training_queries

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.protocol import Protocol

logger = logging.getLogger(__name__)

#: LightGBM's feature-importance types (the first is the default).
IMPORTANCE_KINDS = ("gain", "split")

__all__ = [
    "DEFAULT_RANKERS",
    "MODEL_FILE",
    "RECOMMENDER_FILE",
    "RECOMMENDER_FORMAT",
    "TwoStageRanker",
    "ablations",
]

#: The kNN rankers stage 1 uses when none are named (their defaults, or the settings
#: passed: the tuned ones of ``songspace tune-rankers``).
DEFAULT_RANKERS: Mapping[str, Mapping[str, Any]] = {"sknn": {}, "itemknn": {}}
#: The files of a saved recommender.
MODEL_FILE = "model.txt"
RECOMMENDER_FILE = "recommender.json"
RECOMMENDER_FORMAT = "songspace-recommender"
RECOMMENDER_VERSION = 1

#: The back-off of the tracks outside stage 1 that ``popularity`` names (no ranker).
POPULARITY = "popularity"
#: The back-offs :meth:`TwoStageRanker.fit` chooses between by default.
BACKOFF_CHOICES = (POPULARITY, "itemknn")

_OPTIONAL_NAMES = AnyOf(NoneValue(), Names(what="embedding names"))

#: ``search(emb)``: the vector search of an embedding's neighbour generators (None: exact).
SearchFactory = Callable[["Embeddings"], VectorSearch | None]


def _lightgbm() -> Any:
    return optional_import("lightgbm", "the two-stage recommender")


def _safe(name: str) -> str:
    """A LightGBM feature name (no JSON special characters or spaces)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def _digest(emb: Embeddings) -> str:
    """SHA-256 of an embedding's vectors and availability (load checks it)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(emb.vectors, dtype=np.float32).tobytes())
    h.update(np.packbits(np.asarray(emb.available, dtype=bool)).tobytes())
    return h.hexdigest()


class _Build:
    """Builds the built-in generators and features from their JSON specs, sharing the
    counts of the training view between them."""

    def __init__(
        self,
        train: Dataset,
        embeddings: Mapping[str, Embeddings],
        plugins: Mapping[str, CandidateGenerator | Feature],
        search: SearchFactory | None = None,
    ) -> None:
        self.train, self.embeddings, self.plugins = train, embeddings, plugins
        self.make_search = search
        self._bigram: Bigram | None = None
        self._counts: TrainingCounts | None = None
        self._search: dict[str, VectorSearch] = {}  # one index per embedding, shared

    @property
    def bigram(self) -> Bigram:
        if self._bigram is None:
            self._bigram = Bigram.fit(self.train)
        return self._bigram

    @property
    def counts(self) -> TrainingCounts:
        if self._counts is None:
            self._counts = TrainingCounts(self.train, self.bigram)
        return self._counts

    def embedding(self, name: str) -> Embeddings:
        if name not in self.embeddings:
            raise ParameterError(
                "embeddings",
                f"an embedding named {name!r}",
                sorted(self.embeddings),
                fix="pass the embeddings the recommender was fitted with",
            )
        return self.embeddings[name]

    def plugin(self, name: str, what: str) -> Any:
        if name not in self.plugins:
            raise ParameterError(
                "plugins",
                f"your own {what} named {name!r}",
                sorted(self.plugins),
                fix=f"pass it as plugins={{{name!r}: ...}}",
            )
        return self.plugins[name]

    def generator(self, spec: Mapping[str, Any]) -> CandidateGenerator:
        kind = spec["kind"]
        if kind == "ranker":
            ranker = make_ranker(spec["ranker"], self.train, spec["params"])
            return RankerCandidates(ranker, name=spec["name"])
        if kind == "successors":
            return RankerCandidates(self.bigram, name=spec["name"], evidence_only=True)
        if kind == "neighbours":
            emb = self.embedding(spec["embedding"])
            if emb.name not in self._search:
                found = self.make_search(emb) if self.make_search is not None else None
                self._search[emb.name] = (
                    found if found is not None else ExactSearch(emb.vectors[emb.available])
                )
            search = self._search[emb.name]
            return EmbeddingNeighbours(emb, spec["of"], search=search, name=spec["name"])
        if kind == "popular":
            return PopularityCandidates(self.counts.popularity, name=spec["name"])
        if kind == "custom":
            gen: CandidateGenerator = self.plugin(spec["name"], "candidate generator")
            return gen
        raise FormatError(f"expected a known generator kind, found {kind!r}", field="generators")

    def feature(self, spec: Mapping[str, Any], generators: Sequence[str]) -> Feature:
        kind = spec["kind"]
        if kind == "generators":
            return GeneratorFeatures(generators)
        if kind == "embedding":
            return EmbeddingFeatures(self.embedding(spec["embedding"]))
        if kind == "popularity":
            return PopularityFeatures(self.counts)
        if kind == "counts":
            return CountFeatures(self.counts)
        if kind == "metadata":
            return MetadataFeatures(self.train.tracks)
        if kind == "custom":
            feature: Feature = self.plugin(spec["name"], "feature")
            return feature
        raise FormatError(f"expected a known feature kind, found {kind!r}", field="features")


def _specs(
    params: Mapping[str, Any],
    rankers: Mapping[str, Mapping[str, Any]],
    embeddings: Sequence[str],
    generators: Sequence[CandidateGenerator],
    features: Sequence[Feature],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON specs of stage 1's generators and stage 2's feature blocks."""
    gens: list[dict[str, Any]] = [
        {"kind": "ranker", "name": name, "ranker": name, "params": dict(p)}
        for name, p in rankers.items()
    ]
    if params["successors"]:
        gens.append({"kind": "successors", "name": "successors"})
    chosen = params["embedding_generators"]
    for e in embeddings if chosen is None else chosen:
        for of in params["neighbours_of"]:
            gens.append({"kind": "neighbours", "name": f"{e}.{of}", "embedding": e, "of": of})
    if params["popular"] > 0:
        gens.append({"kind": "popular", "name": "popular"})
    gens += [{"kind": "custom", "name": g.name} for g in generators]
    feats: list[dict[str, Any]] = [{"kind": "generators"}]
    chosen = params["embedding_features"]
    feats += [
        {"kind": "embedding", "embedding": e} for e in (embeddings if chosen is None else chosen)
    ]
    feats += [{"kind": k} for k in ("popularity", "counts", "metadata")]
    feats += [{"kind": "custom", "name": f.name} for f in features]
    return gens, feats


class TwoStageRanker(TunableRanker):
    """A two-stage recommender (module docstring); build one with :meth:`fit` or
    :meth:`load`.

    Parameters (``params``; checked like the rankers'):

    - ``depth``: each generator's top-N in stage 1;
    - ``popular``: how many of the most popular tracks join the candidates (0: none);
    - ``successors``: whether the successors of the last seed do;
    - ``neighbours_of``: each embedding's neighbours of the ``last`` seed and/or the seed
      ``mean``;
    - ``backoff``: the rankers (by name; ``popularity`` or a baseline ranker: the stage-1
      ranker of that name, else one built with its defaults) one of which orders the
      tracks outside stage 1, below every candidate. :meth:`fit` keeps the one that ranks
      the early-stopping queries' targets outside stage 1 highest among the tracks
      outside stage 1 (:func:`tail_auc`; ties: the first named). Every protocol that
      ranks the whole catalogue reads that tail (playlist completion ranks hidden tracks
      against random ones; the Challenge asks for 500): by popularity alone a hidden
      track past stage 1's depth is ranked as if nothing linked it to the seeds;
    - ``embedding_generators`` / ``embedding_features``: the embeddings (by name) whose
      neighbours are candidates / whose cosines are features; None: every embedding given,
      ``()``: none (the ablations, :func:`ablations`);
    - ``next_song_queries`` / ``completion_queries``: the most validation queries of each
      kind (None: all; 0: none); ``seed_fraction``: the completion cut;
      ``early_stopping_share``: the validation sequences held for early stopping;
    - LightGBM: ``num_iterations`` (the most boosting rounds), ``early_stopping_rounds``,
      ``learning_rate``, ``num_leaves``, ``min_data_in_leaf``, ``eval_at`` (the NDCG cut-off
      early stopping watches), ``num_threads`` (0: LightGBM's default), ``seed``.
    """

    name = "twostage"
    defaults: ClassVar[dict[str, Any]] = {
        "depth": 200,
        "popular": 50,
        "successors": True,
        "neighbours_of": NEIGHBOURS_OF,
        "backoff": BACKOFF_CHOICES,
        "embedding_generators": None,
        "embedding_features": None,
        "next_song_queries": 3000,
        "completion_queries": None,
        "seed_fraction": DEFAULT_SUITE.seed_fraction,
        "early_stopping_share": 0.2,
        "num_iterations": 500,
        "early_stopping_rounds": 50,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "eval_at": 100,
        "num_threads": 0,
        "seed": 0,
    }
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "depth": Interval(int, 1, None),
        "popular": Interval(int, 0, None),
        "successors": Boolean(),
        "neighbours_of": Names(NEIGHBOURS_OF, what="query kinds"),
        "backoff": Names((POPULARITY, *BASELINE_RANKERS), min_len=1, what="rankers"),
        "embedding_generators": _OPTIONAL_NAMES,
        "embedding_features": _OPTIONAL_NAMES,
        "next_song_queries": AnyOf(NoneValue(), Interval(int, 0, None)),
        "completion_queries": AnyOf(NoneValue(), Interval(int, 0, None)),
        "seed_fraction": Interval(float, 0, 1, closed="neither"),
        "early_stopping_share": Interval(float, 0, 1, closed="left"),
        "num_iterations": Interval(int, 1, None),
        "early_stopping_rounds": Interval(int, 1, None),
        "learning_rate": Interval(float, 0, None, closed="neither"),
        "num_leaves": Interval(int, 2, None),
        "min_data_in_leaf": Interval(int, 1, None),
        "eval_at": Interval(int, 1, None),
        "num_threads": Interval(int, 0, None),
        "seed": SEED,
    }

    def __init__(
        self,
        stage1: CandidateUnion,
        features: Sequence[Feature],
        booster: Any,
        *,
        params: Mapping[str, Any],
        popularity: np.ndarray,
        description: Mapping[str, Any],
        name: str | None = None,
        backoff: Ranker | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        self.stage1 = stage1
        self.features = list(features)
        self.booster = booster
        self.params = dict(params)
        self.popularity = popularity
        #: The ranker ordering the tracks outside stage 1 (None: popularity), the one
        #: ``description["backoff"]["chosen"]`` names (``backoff``).
        self.backoff = backoff
        #: The JSON description (specs, feature names, training summary) saved with it.
        self.description = dict(description)
        self.feature_names = [n for f in self.features for n in f.names]
        #: LightGBM's threads when predicting (None: ``num_threads``); the service uses 1.
        self.predict_threads: int | None = None
        self._memo: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._memo_size = 0

    def remember(self, size: int, depth: int = STAGE1_DEPTHS[-1]) -> None:
        """Keep the candidates and model scores of the last ``size`` distinct seed lists
        (0: none, the default), and stage 1's answers to them ``depth`` deep
        (:meth:`CandidateUnion.remember`): an evaluation scores each query in several
        families (next-song, then the stage-1 recall and segment families, which also
        ask stage 1 deeper); with this each query's features and model run once. The
        scores are exactly those computed afresh."""
        self._memo_size = int(size)
        self._memo.clear()
        self.stage1.remember(size, depth)

    # ------------------------------------------------------------------ building
    @classmethod
    def fit(
        cls,
        protocol: Protocol,
        embeddings: Sequence[Embeddings] = (),
        *,
        rankers: Mapping[str, Mapping[str, Any]] | None = None,
        generators: Sequence[CandidateGenerator] = (),
        features: Sequence[Feature] = (),
        name: str | None = None,
        progress: ProgressCallback | None = None,
        search: SearchFactory | None = None,
        **params: Any,
    ) -> TwoStageRanker:
        """Fit on ``protocol``: generators and features from ``protocol.train`` (and
        ``embeddings``, which must be fitted on it), the model on queries of the protocol's
        validation sequences.

        ``rankers``: the kNN rankers of stage 1 and their settings (default
        :data:`DEFAULT_RANKERS`); ``generators`` / ``features``: your own candidate
        generators and feature blocks, added to the built-in ones; ``search``: the
        neighbour search per embedding (:meth:`load`; default exact); ``params``: see the
        class docstring.
        """
        p = cls.check_params(params)
        queries = training_queries(
            protocol.dataset,
            protocol.split.validation,
            next_song=p["next_song_queries"],
            completion=p["completion_queries"],
            min_tracks=int(protocol.settings.get("min_tracks", DEFAULT_MIN_TRACKS)),
            seed_fraction=p["seed_fraction"],
            early_stopping_share=p["early_stopping_share"],
            seed=p["seed"],
        )
        return cls.fit_queries(
            protocol.train,
            queries,
            embeddings,
            rankers=rankers,
            generators=generators,
            features=features,
            name=name,
            progress=progress,
            search=search,
            **p,
        )

    @classmethod
    def build(
        cls,
        train: Dataset,
        embeddings: Sequence[Embeddings] = (),
        *,
        rankers: Mapping[str, Mapping[str, Any]] | None = None,
        generators: Sequence[CandidateGenerator] = (),
        features: Sequence[Feature] = (),
        search: SearchFactory | None = None,
        **params: Any,
    ) -> tuple[CandidateUnion, list[Feature], dict[str, Any]]:
        """Stage 1 and the feature blocks from the training view ``train``, with their
        description (what :meth:`save` writes), without a model (``search``: :meth:`load`)."""
        p = cls.check_params(params)
        embs = _by_name(embeddings)
        for key in ("embedding_generators", "embedding_features"):
            unknown = [e for e in (p[key] or ()) if e not in embs]
            if unknown:
                raise ParameterError(
                    f"twostage.{key}", f"names among the embeddings {sorted(embs)}", unknown[0]
                )
        given = DEFAULT_RANKERS if rankers is None else rankers
        chosen = {
            name: BASELINE_RANKERS[name].check_params(settings)
            for name, settings in zip(ranker_names(list(given)), given.values(), strict=True)
        }
        gen_specs, feat_specs = _specs(p, chosen, list(embs), generators, features)
        plugins: dict[str, Any] = {g.name: g for g in generators}
        plugins.update({f.name: f for f in features})
        stage1, blocks = _assemble(train, embs, plugins, gen_specs, feat_specs, p, search)
        description = {
            "generators": gen_specs,
            "features": feat_specs,
            "feature_names": [n for f in blocks for n in f.names],
            "train_fingerprint": dataset_fingerprint(train),
            "embeddings": {name: _digest(e) for name, e in embs.items()},
        }
        return stage1, blocks, description

    @classmethod
    def fit_queries(
        cls,
        train: Dataset,
        queries: TrainingQueries,
        embeddings: Sequence[Embeddings] = (),
        *,
        rankers: Mapping[str, Mapping[str, Any]] | None = None,
        generators: Sequence[CandidateGenerator] = (),
        features: Sequence[Feature] = (),
        name: str | None = None,
        progress: ProgressCallback | None = None,
        search: SearchFactory | None = None,
        **params: Any,
    ) -> TwoStageRanker:
        """Fit on the training view ``train`` and the stage-2 ``queries`` (from validation
        sequences: :func:`~songspace.recommender.training.training_queries`)."""
        p = cls.check_params(params)
        t0 = time.perf_counter()
        stage1, blocks, description = cls.build(
            train,
            embeddings,
            rankers=rankers,
            generators=generators,
            features=features,
            search=search,
            **p,
        )
        built = time.perf_counter() - t0
        # each query's candidates once: the back-off's choice below asks them again
        stage1.remember(len(queries), p["depth"])
        parts, summary = _learning_data(stage1, blocks, queries, p["depth"], progress)
        lgb = _lightgbm()
        names = _lightgbm_names(description["feature_names"])
        lgb_params = _lightgbm_params(p)
        fitting = lgb.Dataset(
            parts[False][0], parts[False][1], group=parts[False][2], feature_name=names
        )
        callbacks, valid = [], []
        if len(parts[True][2]):
            valid = [lgb.Dataset(*parts[True][:2], group=parts[True][2], reference=fitting)]
            callbacks.append(lgb.early_stopping(p["early_stopping_rounds"], verbose=False))
        report(progress, 0, 1, "fitting the ranker")
        t1 = time.perf_counter()
        booster = lgb.train(
            lgb_params,
            fitting,
            num_boost_round=p["num_iterations"],
            valid_sets=valid,
            valid_names=["early_stopping"][: len(valid)],
            callbacks=callbacks,
        )
        best = int(booster.best_iteration or booster.current_iteration())
        score = booster.best_score.get("early_stopping", {}) if valid else {}
        report(progress, 1, 1, "fitting the ranker")
        seconds = {"build": built, "features": summary.pop("seconds")}
        seconds["fit"] = time.perf_counter() - t1
        description["training"] = {
            **summary,
            **queries.summary(),
            "best_iteration": best,
            "early_stopping_score": dict(score),
            "lightgbm": lgb_params,
            "lightgbm_version": str(lgb.__version__),
            "seconds": seconds,
        }
        # the model as saved: exactly the rounds kept, so a loaded copy predicts the same
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        tails = {name: _backoff_ranker(stage1, train, name) for name in p["backoff"]}
        description["backoff"] = choose_backoff(
            stage1, tails, queries, p["depth"], popularity_of(train), progress
        )
        stage1.remember(0)
        logger.info(
            "two-stage ranker: %d rounds, %d features, %d fitting / %d early-stopping queries",
            best,
            len(names),
            summary["fitting_groups"],
            summary["early_stopping_groups"],
        )
        return cls(
            stage1,
            blocks,
            booster,
            params=p,
            popularity=popularity_of(train),
            description=description,
            name=name,
            backoff=tails[description["backoff"]["chosen"]],
        )

    # ------------------------------------------------------------------ ranking
    def candidate_features(self, seeds: np.ndarray) -> tuple[CandidateSet, np.ndarray]:
        """Stage 1's candidates for ``seeds`` and their feature matrix."""
        seeds = as_seeds(seeds)
        cset = self.stage1.candidates(seeds, self.params["depth"])
        return cset, feature_matrix(self.features, seeds, cset)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        threads = self.predict_threads or self.params["num_threads"]
        kw = {"num_threads": threads} if threads else {}
        return np.asarray(self.booster.predict(x, **kw), dtype=np.float64)

    def _scored(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1's candidates for ``seeds`` and their model scores (from the memo of
        :meth:`remember` where it holds them)."""
        seeds = as_seeds(seeds)
        key = seeds.tobytes() if self._memo_size else b""
        hit = self._memo.get(key) if self._memo_size else None
        if hit is None:
            cset, x = self.candidate_features(seeds)
            hit = (cset.tracks, self._predict(x))
            if self._memo_size:
                self._memo[key] = hit
                while len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        return hit

    def scores(self, seeds: np.ndarray) -> np.ndarray:
        """A score per catalogue track: the model's score for stage 1's candidates; every
        other track scores below them all, in the order of the ``backoff`` ranker's
        scores, ties (and every track when ``backoff`` is None) by the popularity back-off
        of :func:`~songspace.evaluation.rankers.top_k`."""
        tracks, s = self._scored(seeds)
        floor = float(s.min()) - 1.0 if len(s) else 0.0
        out = self._tail(seeds, floor)
        out[tracks] = s
        return out

    def _tail(self, seeds: np.ndarray, floor: float) -> np.ndarray:
        """The back-off ranker's order as whole steps down from ``floor``: its distinct
        scores' ranks (exact, where shifting the scores could round ties together),
        equal scores level, so the popularity tie-break orders them."""
        b = backoff_scores(self.backoff, as_seeds(seeds), len(self.popularity))
        levels, rank = np.unique(b, return_inverse=True)
        return floor - (len(levels) - 1 - rank).astype(np.float64)

    def recommend(self, seeds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best candidates for ``seeds`` (never a seed) and their model scores,
        best first (fewer when stage 1 found fewer)."""
        seeds = as_seeds(seeds)
        tracks, s = self._scored(seeds)
        # top_of_scores' order (score, popularity, index) among the candidates alone: the
        # other tracks score -inf, so a catalogue-sized vector would add nothing
        ok = np.isfinite(s) & ~np.isin(tracks, seeds)
        tracks, s = tracks[ok], s[ok]
        order = np.lexsort((tracks, -self.popularity[tracks], -s))[: max(int(k), 0)]
        return tracks[order], s[order]

    def feature_importance(self, importance: str = IMPORTANCE_KINDS[0]) -> dict[str, float]:
        """LightGBM's importance of each feature, largest first: ``gain`` (the total loss
        reduction of the splits on it) or ``split`` (how many splits use it)."""
        if importance not in IMPORTANCE_KINDS:
            raise ParameterError("importance", f"one of {list(IMPORTANCE_KINDS)}", importance)
        values = self.booster.feature_importance(importance_type=importance)
        pairs = sorted(
            zip(self.feature_names, (float(v) for v in values), strict=True),
            key=lambda nv: -nv[1],
        )
        return dict(pairs)

    # --------------------------------------------------------------- save / load
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``path/model.txt`` (LightGBM's text format) and ``path/recommender.json``
        (settings, stage-1 and feature specs, the training view's fingerprint, the
        embeddings' digests, the training summary), atomically."""
        doc = {
            "format": RECOMMENDER_FORMAT,
            "format_version": RECOMMENDER_VERSION,
            "name": self.name,
            "params": self.params,
            **self.description,
        }
        with atomic_directory(path, overwrite=overwrite) as tmp:
            (tmp / MODEL_FILE).write_text(self.booster.model_to_string(), encoding="utf-8")
            (tmp / RECOMMENDER_FILE).write_text(
                json.dumps(to_jsonable(doc), indent=2) + "\n", encoding="utf-8"
            )
        return Path(path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        train: Dataset,
        embeddings: Sequence[Embeddings] = (),
        *,
        plugins: Mapping[str, CandidateGenerator | Feature] | None = None,
        name: str | None = None,
        search: SearchFactory | None = None,
        rebuild: bool = False,
    ) -> TwoStageRanker:
        """A saved recommender, rebuilt on the training view ``train`` it was fitted on,
        with the same ``embeddings`` (checked by fingerprint and digest) and your own
        generators and features by name (``plugins``); ``name``: default, the saved one.

        ``search(emb)`` gives the :class:`~songspace.evaluation.candidates.VectorSearch`
        over ``emb.vectors[emb.available]`` (in track order) that the embedding's
        neighbour generators use, or None for the exact numpy search (the default, and
        the fitted one): the service passes its HNSW index on large catalogues, an
        approximation of the exact neighbours.

        ``rebuild``: build it on another training view and other vectors of the same
        embeddings (an update: the view grown by new sequences, the updated runs), without
        the fingerprint and digest checks; the description then records the new ones."""
        path = Path(path)
        doc = _read_json(path / RECOMMENDER_FILE)
        fix = "fit and save the recommender again with this version of songspace"
        check_format(
            doc,
            name=RECOMMENDER_FORMAT,
            version=RECOMMENDER_VERSION,
            path=path / RECOMMENDER_FILE,
            error=FormatError,
            fix_format="pass a directory written by TwoStageRanker.save",
            fix_version=fix,
        )
        p = cls.check_params(doc["params"])
        # saved before ``backoff`` existed: those ranked the tail by popularity
        chosen = doc.get("backoff", {"chosen": POPULARITY})["chosen"]
        embs = _by_name(embeddings)
        _check_inputs(doc, path / RECOMMENDER_FILE, train, embs, rebuild)
        stage1, blocks = _assemble(
            train, embs, dict(plugins or {}), doc["generators"], doc["features"], p, search
        )
        names = [n for f in blocks for n in f.names]
        if names != doc["feature_names"]:
            raise InvalidValueError(
                f"expected the features {doc['feature_names']}, found {names}",
                path=path / RECOMMENDER_FILE,
                field="feature_names",
                fix="pass the same plug-in features as when fitting",
            )
        try:
            text = (path / MODEL_FILE).read_text(encoding="utf-8")
        except OSError as exc:
            raise FormatError(
                f"expected LightGBM's text model, could not read it ({exc})",
                path=path / MODEL_FILE,
                fix=fix,
            ) from None
        booster = _lightgbm().Booster(model_str=text)
        if booster.num_feature() != len(names):
            raise FormatError(
                f"expected a model of {len(names)} features, found {booster.num_feature()}",
                path=path / MODEL_FILE,
                fix=fix,
            )
        description = {
            k: doc[k]
            for k in (
                "generators",
                "features",
                "feature_names",
                "train_fingerprint",
                "embeddings",
                "training",
                "backoff",
            )
            if k in doc
        }
        return cls(
            stage1,
            blocks,
            booster,
            params=p,
            popularity=popularity_of(train),
            description=description,
            name=name or doc.get("name"),
            backoff=_backoff_ranker(stage1, train, chosen),
        )


def _check_inputs(
    doc: dict[str, Any],
    where: Path,
    train: Dataset,
    embs: Mapping[str, Embeddings],
    rebuild: bool,
) -> None:
    """Refuse another training view or other vectors than the saved ``doc`` records; with
    ``rebuild`` (an update), record the given ones in ``doc`` instead."""
    if rebuild:
        doc["train_fingerprint"] = dataset_fingerprint(train)
        doc["embeddings"] = {n: _digest(embs[n]) for n in doc["embeddings"] if n in embs}
    if dataset_fingerprint(train) != doc["train_fingerprint"]:
        raise InvalidValueError(
            "expected the training view the recommender was fitted on, found another "
            "(its fingerprint differs)",
            path=where,
            field="train_fingerprint",
            fix="pass the same dataset, split seed and test fraction as when fitting",
        )
    for emb_name, digest in doc["embeddings"].items():
        if emb_name in embs and _digest(embs[emb_name]) != digest:
            raise InvalidValueError(
                f"expected the embedding {emb_name!r} the recommender was fitted with, "
                "found other vectors",
                path=where,
                field=f"embeddings.{emb_name}",
                fix="pass the same run's embeddings, embedded from the same training view",
            )


def _by_name(embeddings: Sequence[Embeddings]) -> dict[str, Embeddings]:
    out: dict[str, Embeddings] = {}
    for e in embeddings:
        if e.name in out:
            raise ParameterError("embeddings", "distinct embedding names", e.name)
        out[e.name] = e
    return out


def _assemble(
    train: Dataset,
    embeddings: Mapping[str, Embeddings],
    plugins: Mapping[str, Any],
    gen_specs: Sequence[Mapping[str, Any]],
    feat_specs: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    search: SearchFactory | None = None,
) -> tuple[CandidateUnion, list[Feature]]:
    build = _Build(train, embeddings, plugins, search)
    gens = [build.generator(s) for s in gen_specs]
    limits = {"popular": params["popular"]} if any(g.name == "popular" for g in gens) else {}
    stage1 = CandidateUnion(gens, limits=limits)
    blocks = [build.feature(s, stage1.names) for s in feat_specs]
    return stage1, blocks


def _backoff_ranker(stage1: CandidateUnion, train: Dataset, name: str) -> Ranker | None:
    """The ranker ``backoff`` names: stage 1's ranker of that name (the same settings and
    index), else one built on ``train`` with its defaults; None for popularity."""
    if name == POPULARITY:
        return None
    for g in stage1.generators:
        if isinstance(g, RankerCandidates) and g.name == name and not g.evidence_only:
            return g.ranker
    return make_ranker(name, train)


def _lightgbm_names(names: Sequence[str]) -> list[str]:
    out = [_safe(n) for n in names]
    if len(set(out)) != len(out):
        raise ParameterError("features", "distinct feature names", list(names))
    return out


def _lightgbm_params(p: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [p["eval_at"]],
        "learning_rate": p["learning_rate"],
        "num_leaves": p["num_leaves"],
        "min_data_in_leaf": p["min_data_in_leaf"],
        "seed": p["seed"],
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
    if p["num_threads"]:
        out["num_threads"] = p["num_threads"]
    return out


def _learning_data(
    stage1: CandidateUnion,
    blocks: Sequence[Feature],
    queries: TrainingQueries,
    depth: int,
    progress: ProgressCallback | None,
) -> tuple[dict[bool, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[str, Any]]:
    """The LambdaRank data of the fitting (False) and early-stopping (True) queries:
    features, labels (1: a target), group sizes. Queries whose targets stage 1 misses
    teach nothing and are left out (their share is in the summary)."""
    t0 = time.perf_counter()
    rows: dict[bool, tuple[list[np.ndarray], list[np.ndarray], list[int]]] = {
        False: ([], [], []),
        True: ([], [], []),
    }
    reached = []
    items = list(range(len(queries)))
    for i in track(items, progress, "stage-2 training features"):
        seeds = queries.seeds[i]
        cset = stage1.candidates(seeds, depth)
        y = np.isin(cset.tracks, queries.targets[i]).astype(np.float32)
        reached.append(float(y.sum()) / max(len(queries.targets[i]), 1))
        if not y.any():
            continue
        x, lab, grp = rows[bool(queries.early_stopping[i])]
        x.append(feature_matrix(blocks, seeds, cset))
        lab.append(y)
        grp.append(len(y))
    width = sum(len(f.names) for f in blocks)
    parts = {
        es: (
            np.vstack(x) if x else np.zeros((0, width), np.float32),
            np.concatenate(lab) if lab else np.zeros(0, np.float32),
            np.asarray(grp, dtype=np.int64),
        )
        for es, (x, lab, grp) in rows.items()
    }
    if not len(parts[False][2]):
        raise InvalidValueError(
            "expected validation queries whose targets stage 1 reaches, found none",
            record="two-stage recommender training",
            fix="hold out more sequences (a larger test fraction), raise `depth`, or add "
            "generators",
        )
    summary = {
        "stage1_recall": float(np.mean(reached)) if reached else 0.0,
        "fitting_groups": len(parts[False][2]),
        "early_stopping_groups": len(parts[True][2]),
        "rows": int(len(parts[False][1]) + len(parts[True][1])),
        "seconds": time.perf_counter() - t0,
    }
    return parts, summary


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(
            "expected a saved recommender, found nothing",
            path=path,
            fix="pass the directory TwoStageRanker.save wrote",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"expected JSON, could not read it ({exc})",
            path=path,
            fix="fit and save the recommender again",
        ) from None


def ablations(embeddings: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The embedding ablations of a recommender fitted with ``embeddings``: ``{name:
    params}`` to pass to :meth:`TwoStageRanker.fit` beside the full one. ``no_embeddings``
    drops every embedding (as generator and as features); ``without_<name>`` drops one."""
    names = list(embeddings)
    out: dict[str, dict[str, Any]] = {
        "no_embeddings": {"embedding_generators": (), "embedding_features": ()}
    }
    for name in names:
        others = tuple(n for n in names if n != name)
        out[f"without_{name}"] = {"embedding_generators": others, "embedding_features": others}
    return out
