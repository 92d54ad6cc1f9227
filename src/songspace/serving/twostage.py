"""A fitted two-stage recommender served (``songspace serve --recommender DIR``,
``songspace recommend --recommender DIR``): ``POST /complete`` and ``POST /next`` answer
through both stages (docs/recommender.md, docs/serving.md).

The recommender is rebuilt at startup from its directory (``songspace recommender fit``)
over the dataset it was fitted on (refused otherwise): its runs are embedded again from
the recorded training view, so its rankings are exactly those of the library's
:meth:`songspace.recommender.TwoStageRanker.recommend`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace.errors import ParameterError
from songspace.params import Interval, check_param
from songspace.serving.defaults import DEFAULT_K, MAX_K
from songspace.serving.errors import UnknownTrackError
from songspace.serving.recommender import MAX_PER_ARTIST, Neighbour, _clean

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import Embeddings
    from songspace.recommender import TwoStageRanker

logger = logging.getLogger(__name__)

__all__ = ["IndexChoice", "ServedRecommender"]


@dataclass
class IndexChoice:
    """The neighbour search of each embedding of a served recommender (a
    :data:`~songspace.recommender.twostage.SearchFactory`): the exact numpy search of the
    library (identical rankings) while the embedding's vectors resolve to an exact index
    under the service's ``--index`` / ``--exact-max``, else an HNSW index with the
    service's settings: a served model's own index when it holds the same vectors (shared,
    not built twice), or one built here. ``chosen`` records what each embedding got."""

    options: Mapping[str, Any] = field(default_factory=dict)
    shared: Sequence[Any] = ()  # the served models (songspace.serving.recommender)
    chosen: dict[str, str] = field(default_factory=dict)

    def __call__(self, emb: Embeddings) -> Any:
        from songspace.serving.defaults import DEFAULT_EXACT_MAX, DEFAULT_INDEX
        from songspace.serving.index import build_index, resolve_kind

        rows = np.flatnonzero(emb.available)
        kind = resolve_kind(
            self.options.get("index", DEFAULT_INDEX),
            len(rows),
            self.options.get("exact_max", DEFAULT_EXACT_MAX),
        )
        if kind == "exact":
            self.chosen[emb.name] = "exact (numpy)"
            return None
        for model in self.shared:
            idx = model.index
            if (
                idx.kind == kind
                and idx.vectors.shape == (len(rows), emb.vectors.shape[1])
                and np.array_equal(model._base_rows, rows)
                and _same_vectors(idx.vectors, emb.vectors, rows)
            ):
                self.chosen[emb.name] = f"{kind} (shared with model {model.name})"
                return idx
        keys = ("m", "ef_construction", "ef_search")
        params = {k: self.options[k] for k in keys if k in self.options}
        index = build_index(emb.vectors[rows], kind=kind, **params)  # type: ignore[arg-type]
        self.chosen[emb.name] = f"{kind} (built: {index.stats.describe()})"
        return index


def _same_vectors(
    indexed: np.ndarray, vectors: np.ndarray, rows: np.ndarray, block: int = 1 << 16
) -> bool:
    """Whether an index's unit vectors agree to 1e-6 with ``vectors[rows]`` normalised,
    a block of rows at a time (no temporary the size of a 2M-row matrix at startup)."""
    from songspace.serving.index import normalise

    return all(
        np.allclose(
            indexed[i : i + block], normalise(vectors[rows[i : i + block]]), rtol=0, atol=1e-6
        )
        for i in range(0, len(rows), block)
    )


class ServedRecommender:
    """A :class:`~songspace.recommender.TwoStageRanker` answering by track id, with the
    dataset's metadata. Build with :meth:`from_dir`."""

    def __init__(
        self,
        ranker: TwoStageRanker,
        dataset: Dataset,
        path: Path | None = None,
        indexes: Mapping[str, str] | None = None,
    ):
        self.ranker = ranker
        # one thread per prediction: the service's concurrency is across requests (as
        # set_search_threads does for faiss and BLAS)
        ranker.predict_threads = 1
        #: How each embedding's neighbours are searched (``GET /models`` shows it).
        self.indexes = dict(indexes or {})
        self.name = ranker.name
        self.path = path
        t = dataset.tracks
        self._ids: list[str] = [str(x) for x in t["track_id"].tolist()]
        self._row = {tid: i for i, tid in enumerate(self._ids)}
        self._meta: dict[str, list[str | None]] = {
            c: [_clean(v) for v in t[c].tolist()] if c in t.columns else [None] * len(t)
            for c in ("track_name", "artist_name", "genre")
        }

    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        dataset: Dataset | str | Path,
        *,
        name: str | None = None,
        indexes: IndexChoice | None = None,
    ) -> ServedRecommender:
        """The fitted recommender of ``path`` over ``dataset`` (the one it was fitted on).

        ``indexes`` chooses each embedding's neighbour search (:class:`IndexChoice`;
        default: exact, as fitted)."""
        from songspace.reports.recommender import load_recommender

        choice = indexes or IndexChoice()
        ranker, ds = load_recommender(path, dataset, name=name, search=choice)
        logger.info(
            "recommender %s loaded from %s: generators %s; neighbour search %s",
            ranker.name,
            path,
            ", ".join(ranker.stage1.names),
            ", ".join(f"{k}: {v}" for k, v in choice.chosen.items()) or "none",
        )
        return cls(ranker, ds, Path(path), choice.chosen)

    def info(self) -> dict[str, Any]:
        """What ``GET /models`` says about it."""
        return {
            "name": self.name,
            "generators": list(self.ranker.stage1.names),
            "features": len(self.ranker.feature_names),
            "depth": self.ranker.params["depth"],
            "indexes": dict(self.indexes),
        }

    def rows(self, track_ids: Sequence[str], field: str = "seed_track_ids") -> np.ndarray:
        """The vocabulary rows of ``track_ids`` (UnknownTrackError for an unknown one)."""
        if not track_ids:
            raise ParameterError(field, "at least one seed track", [])
        out = []
        for t in track_ids:
            if t not in self._row:
                raise UnknownTrackError(t, model=self.name, field=field)
            out.append(self._row[t])
        return np.asarray(out, dtype=np.int64)

    def recommend(
        self,
        seed_track_ids: Sequence[str],
        k: int = DEFAULT_K,
        *,
        max_per_artist: int | None = None,
    ) -> list[Neighbour]:
        """The ``k`` best tracks after ``seed_track_ids`` (in order: the last is the current
        track), by the model's score, at most ``max_per_artist`` by one artist. Seeds are
        never recommended (stage 1 never retrieves one); fewer than ``k`` when stage 1
        found fewer candidates."""
        check_param("max_per_artist", max_per_artist, MAX_PER_ARTIST)
        k = int(check_param("k", k, Interval(int, 1, MAX_K)))
        seeds = self.rows(seed_track_ids)
        fetch = k if max_per_artist is None else len(self._ids)
        tracks, scores = self.ranker.recommend(seeds, fetch)
        artists = self._meta["artist_name"]
        out: list[Neighbour] = []
        per: dict[str | None, int] = {}
        for r, s in zip(tracks.tolist(), scores.tolist(), strict=True):
            if max_per_artist is not None:
                a = artists[r]
                if per.get(a, 0) >= max_per_artist:
                    continue
                per[a] = per.get(a, 0) + 1
            m = self._meta
            out.append(
                Neighbour(self._ids[r], m["track_name"][r], m["artist_name"][r], m["genre"][r], s)
            )
            if len(out) == k:
                break
        return out
