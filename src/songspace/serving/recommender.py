"""Answer "tracks like this", "continue this playlist" and "where does this new track
belong" from a training run (``songspace train`` output) and its dataset.

>>> rec = Recommender.from_run("runs/musig", dataset="data/mpd")      # doctest: +SKIP
>>> rec.similar("5Wj1rJnCLpMHdLaxsFtJLs", k=10)                       # doctest: +SKIP
>>> rec.complete(["5Wj1rJnCLpMHdLaxsFtJLs", "269OfNY9Je1QWaDnu31KKp"])  # doctest: +SKIP
>>> rec.add_tracks([json.load(open("track.json"))])                   # doctest: +SKIP

Scores are cosines (vectors are L2-normalised). ``complete`` scores by the mean of the
seed vectors, as the completion protocol does (MUSIG §4.1,
:mod:`songspace.evaluation.completion`). Added tracks live in a small exact overlay
searched beside the main index; the main index is never mutated, so searches need no
lock and a reload can swap a whole Recommender atomically.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from songspace._checks import RETRAIN_FIX, check_finite_rows
from songspace.data.dataset import Dataset
from songspace.errors import (
    DatasetFormatError,
    FormatError,
    InvalidValueError,
    MissingDependencyError,
    ModelFormatError,
    ParameterError,
)
from songspace.evaluation.embeddings import Embeddings, load_embeddings
from songspace.params import AnyOf, Interval, NoneValue, check_param
from songspace.serving.defaults import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_MAX,
    DEFAULT_INDEX,
    DEFAULT_K,
    DEFAULT_M,
    DEFAULT_NEW_TRACK_K,
    MAX_K,
)
from songspace.serving.errors import NotInductiveError, UnknownTrackError
from songspace.serving.index import (
    IndexKind,
    VectorIndex,
    file_digest,
    load_or_build,
    normalise,
)
from songspace.serving.newtracks import NewTrack, grow, parse_track
from songspace.serving.store import TrackStore

logger = logging.getLogger(__name__)

#: Candidates listed when a track name matches several tracks or none.
MAX_CANDIDATES = 10
SERVING_DIR = "serving"
STORE_FILE = "added-tracks.jsonl"
_DATA_FIX = "pass the dataset the run was trained on (`songspace train DATA`) as --data"


@dataclass
class Neighbour:
    track_id: str
    track_name: str | None
    artist_name: str | None
    genre: str | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NewEmbedding:
    """A new track's vector (unnormalised, as the model gave it) and its neighbours."""

    track_id: str
    vector: np.ndarray
    neighbours: list[Neighbour]

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "vector": [float(v) for v in self.vector],
            "neighbours": [n.to_dict() for n in self.neighbours],
        }


def _clean(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return str(v)


#: ``max_per_artist``: None (JSON null) or a positive cap.
MAX_PER_ARTIST = AnyOf(Interval(int, 1, None, what="`max_per_artist >= 1`"), NoneValue())


def _check_max_per_artist(value: Any) -> None:
    check_param("max_per_artist", value, MAX_PER_ARTIST)


def inductive_model_names() -> list[str]:
    """Registered models that can embed unseen tracks (imports their classes)."""
    from songspace.models.base import InductiveModel
    from songspace.models.registry import available_models, get_model_class

    out = []
    for name in available_models():
        try:
            if issubclass(get_model_class(name), InductiveModel):
                out.append(name)
        except ImportError:
            continue
    return out


def load_run_embeddings(run: Path, dataset: Dataset) -> Embeddings:
    """The run's ``embeddings.npz`` matched to ``dataset``'s tracks by id, finite and
    L2-normalised (:func:`songspace.evaluation.embeddings.load_embeddings`); a
    damaged file raises ModelFormatError saying retrain."""
    path = run / "embeddings.npz"
    if not path.is_file():
        raise DatasetFormatError(
            "expected embeddings.npz in the run directory, found none",
            path=run,
            fix="point to a directory written by `songspace train`",
        )
    try:
        return load_embeddings(path, dataset, name=run.name, mismatch_fix=_DATA_FIX)
    except FormatError as exc:  # unreadable or malformed: the run is damaged
        raise ModelFormatError(
            exc.detail, path=path, field=exc.field, fix=f"{RETRAIN_FIX}; {_DATA_FIX}"
        ) from None


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8") + b"\0")
    return h.hexdigest()


class Recommender:
    """One served model: the run's embeddings in an index, the dataset's metadata, and
    (for inductive models) the model itself to embed new tracks. Build with
    :meth:`from_run`."""

    def __init__(
        self,
        *,
        name: str,
        run: Path,
        dataset: Dataset,
        embeddings: np.ndarray,
        available: np.ndarray,
        index: VectorIndex,
        model_name: str,
        inductive: bool,
        store: TrackStore | None = None,
        digest: str = "",
    ):
        self.name = name
        self.run = run
        self.dataset = dataset
        self.model_name = model_name
        self.inductive = inductive
        self.index = index
        self.store = store
        self.digest = digest
        self.dim = int(embeddings.shape[1])
        self._base_rows = np.flatnonzero(available).astype(np.int64)
        self._available = list(np.asarray(available, dtype=bool))
        t = dataset.tracks
        self._ids: list[str] = [str(x) for x in t["track_id"].tolist()]
        self._meta: dict[str, list[str | None]] = {
            c: [_clean(v) for v in t[c].tolist()] if c in t.columns else [None] * len(t)
            for c in ("track_name", "artist_name", "genre")
        }
        self._row = {tid: i for i, tid in enumerate(self._ids)}
        self._n_base = len(self._ids)
        # (rows, vectors) of the added tracks, replaced as one tuple so readers see a
        # consistent snapshot without a lock
        self._extra: tuple[np.ndarray, np.ndarray] = (
            np.zeros(0, dtype=np.int64),
            np.zeros((0, self.dim), dtype=np.float32),
        )
        self._grown = dataset
        self._model: Any = None
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_run(
        cls,
        run: str | Path,
        dataset: Dataset | str | Path,
        *,
        name: str | None = None,
        index: IndexKind = DEFAULT_INDEX,
        exact_max: int = DEFAULT_EXACT_MAX,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        store: bool = True,
        save_index: bool = True,
    ) -> Recommender:
        """Load ``run`` (``embeddings.npz`` + ``model/``; without ``model/`` the embeddings
        are served as a transductive model) over ``dataset`` (the dataset the
        run was trained on), build or reuse its index in ``run/serving`` (best effort:
        a run on a read-only file system keeps it in memory) and replay the tracks
        added earlier (``run/serving/added-tracks.jsonl``).

        The run's rows are matched to ``dataset``'s tracks by the ids stored in
        ``embeddings.npz`` (as ``evaluate`` and ``explore`` do); vectors must be finite.
        An inductive model is loaded (and checked) here. Any fault raises an InputError
        naming the file and the fix."""
        run = Path(run)
        ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
        emb = load_run_embeddings(run, ds)
        # a run without model/ (embeddings only) serves as a transductive model
        model_name, inductive, model = "embeddings", False, None
        if (run / "model" / "model.json").is_file():
            from songspace.models.base import EmbeddingModel, InductiveModel

            doc = EmbeddingModel.read_description(run / "model")
            model_name = doc["model"]
            try:
                klass = EmbeddingModel.described_class(doc, run / "model")
                inductive = issubclass(klass, InductiveModel)
            except MissingDependencyError:  # served from its embeddings, as transductive
                inductive = False
            if inductive:  # needed to embed new tracks: a damaged model is refused now
                model = EmbeddingModel.load(run / "model")
        digest = file_digest(run / "embeddings.npz")
        avail = emb.available
        idx = load_or_build(
            emb.vectors[avail],
            run / SERVING_DIR,
            # the rows follow the dataset's track order: a reordered dataset is another index
            source_digest=_digest(digest, *ds.track_ids.tolist()),
            kind=index,
            exact_max=exact_max,
            m=m,
            ef_construction=ef_construction,
            ef_search=ef_search,
            save=save_index,
        )
        rec = cls(
            name=name or run.name,
            run=run,
            dataset=ds,
            embeddings=emb.vectors,
            available=avail,
            index=idx,
            model_name=model_name,
            inductive=inductive,
            store=TrackStore(run / SERVING_DIR / STORE_FILE) if store else None,
            digest=digest,
        )
        rec._model = model
        if rec.store is not None:
            rec._replay(rec.store.read())
        return rec

    def _replay(self, records: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        if not records:
            return
        parsed = [
            parse_track(doc, self._grown, where=f"stored track {i}", require_inputs=False)
            for i, (doc, _) in enumerate(records)
        ]
        self._grown = grow(self._grown, parsed) if self.inductive else self._grown
        self._append(parsed, [v for _, v in records])
        logger.info(
            "%s: replayed %d added tracks from %s",
            self.name,
            len(records),
            self.store.path if self.store else "memory",
        )

    @property
    def model(self) -> Any:
        """The fitted model (loaded on first use; only inductive models need it)."""
        if self._model is None:
            from songspace.models.base import EmbeddingModel

            self._model = EmbeddingModel.load(self.run / "model")
        return self._model

    # ------------------------------------------------------------------ lookups
    @property
    def n_tracks(self) -> int:
        return len(self._ids)

    @property
    def n_added(self) -> int:
        return len(self._ids) - self._n_base

    @property
    def n_indexed(self) -> int:
        return self.index.n + len(self._extra[0])

    def row(self, track_id: str, field: str = "track_id") -> int:
        try:
            return self._row[track_id]
        except KeyError:
            raise UnknownTrackError(track_id, model=self.name, field=field) from None

    def find_track(self, query: str, field: str = "track_id") -> str:
        """The id of the served track ``query`` stands for: ``query`` itself when it is an
        id; else the one track whose name is ``query`` (case-insensitive). When several
        tracks or none bear that name, UnknownTrackError lists up to
        :data:`MAX_CANDIDATES` candidates (same name, else close names by
        :func:`difflib.get_close_matches`) with their artists and ids."""
        if query in self._row:
            return query
        key = query.strip().casefold()
        names = self._meta["track_name"]
        same = [r for r, n in enumerate(names) if n is not None and n.casefold() == key]
        if len(same) == 1:
            logger.info("%r is the track %s", query, self._ids[same[0]])
            return self._ids[same[0]]
        if same:
            found = f"{len(same)} tracks named so"
            rows = same
        else:
            by_name: dict[str, list[int]] = {}
            for r, n in enumerate(names):
                if n is not None:
                    by_name.setdefault(n.casefold(), []).append(r)
            close = difflib.get_close_matches(key, list(by_name), n=MAX_CANDIDATES, cutoff=0.6)
            rows = [r for c in close for r in by_name[c]]
            found = "no track of that id or name" + (", but close names" if rows else "")
        listed = "; ".join(
            f"{names[r]!r} by {self._meta['artist_name'][r] or 'unknown artist'} "
            f"(id {self._ids[r]})"
            for r in rows[:MAX_CANDIDATES]
        )
        if len(rows) > MAX_CANDIDATES:
            listed += f"; and {len(rows) - MAX_CANDIDATES} more"
        raise UnknownTrackError(
            query,
            model=self.name,
            field=field,
            message=f"track {query!r}: expected a track id or the name of one track of "
            f"model {self.name!r}, found {found}{': ' + listed if rows else ''}. Fix: pass "
            "one of the ids shown, or look the track up in the track_id and "
            "track_name columns of the dataset's tracks.parquet",
        )

    def track(self, track_id: str) -> dict[str, Any]:
        """Metadata of a served track: id, name, artist, genre, whether it has a vector and
        whether it was added after training."""
        r = self.row(track_id)
        return {
            "track_id": self._ids[r],
            **{c: v[r] for c, v in self._meta.items()},
            "has_embedding": bool(self._available[r]),
            "added": r >= self._n_base,
        }

    def _neighbour(self, r: int, score: float) -> Neighbour:
        m = self._meta
        return Neighbour(
            self._ids[r], m["track_name"][r], m["artist_name"][r], m["genre"][r], float(score)
        )

    def vector(self, track_id: str, field: str = "track_id") -> np.ndarray:
        """The normalised vector of a served track (UnknownTrackError without one)."""
        r = self.row(track_id, field)
        if not self._available[r]:
            raise UnknownTrackError(
                track_id,
                model=self.name,
                field=field,
                message=f"track {track_id!r} has no embedding in model {self.name!r}: "
                f"expected a track "
                f"the model could embed, found one it never saw in training. Fix: use an "
                f"inductive model, or another track",
            )
        if r >= self._n_base:
            rows, vecs = self._extra
            return vecs[int(np.searchsorted(rows, r))]
        pos = int(np.searchsorted(self._base_rows, r))
        return self.index.vectors[pos]

    # ------------------------------------------------------------------- search
    def _check_k(self, k: int, exclude: int) -> int:
        limit = min(MAX_K, self.n_indexed - exclude)
        what = (
            f"`1 <= k <= {limit}` (at most {MAX_K}, and the tracks with a vector "
            f"minus {exclude} excluded)"
        )
        return int(check_param("k", k, Interval(int, 1, limit, what=what)))

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        exclude: Sequence[int] = (),
        max_per_artist: int | None = None,
    ) -> list[Neighbour]:
        """Top ``k`` tracks by cosine to ``query`` (not renormalised), leaving out the
        vocabulary rows ``exclude`` and keeping at most ``max_per_artist`` per artist."""
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ParameterError("vector", f"a vector of {self.dim} values", q.shape[1])
        ex = set(int(x) for x in exclude)
        rows_x, vecs_x = self._extra  # one consistent snapshot
        total = self.index.n + len(rows_x)
        fetch = min(total, k + len(ex) if max_per_artist is None else 4 * k + len(ex))
        artists = self._meta["artist_name"]
        while True:
            scores, pos = self.index.search(q, min(fetch, self.index.n))
            cand_r = self._base_rows[pos[0][pos[0] >= 0]]
            cand_s = scores[0][pos[0] >= 0]
            if len(rows_x):
                s = vecs_x @ q[0]
                top = np.argsort(-s, kind="stable")[:fetch]
                cand_r = np.concatenate([cand_r, rows_x[top]])
                cand_s = np.concatenate([cand_s, s[top]])
            order = np.lexsort((cand_r, -cand_s))
            out: list[Neighbour] = []
            per: dict[str | None, int] = {}
            for i in order:
                r = int(cand_r[i])
                if r in ex:
                    continue
                if max_per_artist is not None:
                    a = artists[r]
                    if per.get(a, 0) >= max_per_artist:
                        continue
                    per[a] = per.get(a, 0) + 1
                out.append(self._neighbour(r, float(cand_s[i])))
                if len(out) == k:
                    return out
            if fetch >= total:
                return out
            fetch = min(total, fetch * 4)

    def similar(
        self, track_id: str, k: int = DEFAULT_K, *, max_per_artist: int | None = None
    ) -> list[Neighbour]:
        """The ``k`` tracks most similar to ``track_id`` (itself left out), at most
        ``max_per_artist`` of them by one artist."""
        _check_max_per_artist(max_per_artist)
        k = self._check_k(k, 1)
        q = self.vector(track_id)
        return self.search(q, k, exclude=[self.row(track_id)], max_per_artist=max_per_artist)

    def complete(
        self,
        seed_track_ids: Sequence[str],
        k: int = DEFAULT_K,
        *,
        exclude_seeds: bool = True,
        max_per_artist: int | None = None,
    ) -> list[Neighbour]:
        """Continue a playlist: the ``k`` tracks closest to the mean of the seed vectors
        (seeds without a vector are skipped, as in the completion protocol)."""
        if not seed_track_ids:
            raise ParameterError("seed_track_ids", "at least one seed track", [])
        _check_max_per_artist(max_per_artist)
        rows = [self.row(t, "seed_track_ids") for t in seed_track_ids]
        k = self._check_k(k, len(set(rows)) if exclude_seeds else 0)
        have = [t for t, r in zip(seed_track_ids, rows, strict=True) if self._available[r]]
        if not have:
            raise InvalidValueError(
                f"expected at least one seed track with a vector in model {self.name!r}, "
                f"found none of {len(rows)}",
                field="seed_track_ids",
                fix="add seed tracks the model has embedded (GET /tracks/{id})",
            )
        q = np.mean([self.vector(t) for t in have], axis=0)
        q = normalise(q[None, :])[0]
        return self.search(
            q, k, exclude=rows if exclude_seeds else (), max_per_artist=max_per_artist
        )

    # --------------------------------------------------------------- new tracks
    def _require_inductive(self) -> None:
        if not self.inductive:
            raise NotInductiveError(self.name, self.model_name, inductive_model_names())

    def _embed(
        self, docs: Sequence[Mapping[str, Any]], *, require_inputs: bool = True
    ) -> tuple[list[NewTrack], Dataset, np.ndarray]:
        self._require_inductive()
        if not docs:
            raise ParameterError("tracks", "at least one track", [])
        parsed = [
            parse_track(d, self._grown, where=f"track {i}", require_inputs=require_inputs)
            for i, d in enumerate(docs)
        ]
        ids = [t.track_id for t in parsed]
        for i, t in enumerate(ids):
            if t in self._row or t in ids[:i]:
                from songspace.errors import DuplicateError

                raise DuplicateError(
                    f"expected a track id not yet served, found {t!r}",
                    record=f"track {i}",
                    field="track_id",
                    fix="GET /tracks/{id} shows the served track; choose another id",
                )
        grown = grow(self._grown, parsed)
        new_rows = np.arange(self._grown.n_tracks, grown.n_tracks)
        vectors = np.asarray(self.model.embed(grown, new_rows), dtype=np.float32)
        check_finite_rows(vectors, path=self.run / "model", record="the new tracks' vectors")
        return parsed, grown, vectors

    def embed_new(
        self,
        track: Mapping[str, Any],
        k: int = DEFAULT_NEW_TRACK_K,
        *,
        max_per_artist: int | None = None,
    ) -> NewEmbedding:
        """Embed a track that arrived after training (inductive models only) from its
        features and playlists, without adding it; returns its vector and ``k``
        neighbours (at most ``max_per_artist`` by one artist)."""
        self._require_inductive()
        _check_max_per_artist(max_per_artist)
        k = self._check_k(k, 0)
        _, _, vectors = self._embed([track])
        nb = self.search(normalise(vectors)[0], k, max_per_artist=max_per_artist)
        return NewEmbedding(str(track["track_id"]), vectors[0], nb)

    def add_tracks(
        self, tracks: Sequence[Mapping[str, Any]], k: int = DEFAULT_NEW_TRACK_K
    ) -> list[NewEmbedding]:
        """Embed new tracks on the grown dataset and add them to the live index; each is
        written durably to the run's append-only store before this returns."""
        self._require_inductive()
        k = self._check_k(k, 0)
        with self._write_lock:
            parsed, grown, vectors = self._embed(tracks)
            if self.store is not None:
                self.store.append([(dict(t.raw), v) for t, v in zip(parsed, vectors, strict=True)])
            self._grown = grown
            self._append(parsed, list(vectors))
        out = []
        for t, v in zip(parsed, vectors, strict=True):
            nb = self.search(normalise(v[None, :])[0], k, exclude=[self._row[t.track_id]])
            out.append(NewEmbedding(t.track_id, v, nb))
        return out

    def carry_over(self, records: Sequence[tuple[dict[str, Any], np.ndarray]]) -> dict[str, Any]:
        """Take over the tracks added to the run this one is an update of (``records``:
        that run's store, in order), when switching to it (a reload):

        - a track this run knows from its own data (an update trained on it) is
          **superseded**: this run's vector is served, the added one dropped;
        - one carried over before (in this run's store already) is left as it is;
        - every other one is embedded again with this run's weights on this run's grown
          dataset (its stored document: features, playlists) and added; it is written to
          this run's store (durably) before this returns. Only inductive models have
          added tracks (``POST /tracks`` refuses the others), and an update keeps the
          model.

        Returns ``{"carried", "superseded", "already"}`` (counts; ``superseded_ids``
        lists up to 20 of the superseded ids)."""
        todo: list[dict[str, Any]] = []
        superseded: list[str] = []
        already = 0
        for doc, _ in records:  # the stored vector is the old run's: embedded again
            r = self._row.get(str(doc.get("track_id")))
            if r is None:
                todo.append(doc)
            elif r < self._n_base:
                superseded.append(str(doc.get("track_id")))
            else:
                already += 1
        if todo:
            with self._write_lock:
                parsed, grown, vectors = self._embed(todo, require_inputs=False)
                if self.store is not None:
                    self.store.append(
                        [(dict(t.raw), v) for t, v in zip(parsed, vectors, strict=True)]
                    )
                self._grown = grown
                self._append(parsed, list(vectors))
        if superseded:
            logger.info(
                "%s: %d added tracks are now the run's own (its vectors served): %s",
                self.name,
                len(superseded),
                ", ".join(superseded[:20]),
            )
        return {
            "carried": len(todo),
            "superseded": len(superseded),
            "superseded_ids": superseded[:20],
            "already": already,
        }

    def _append(self, parsed: Sequence[NewTrack], vectors: Sequence[np.ndarray]) -> None:
        start = len(self._ids)
        for t in parsed:
            self._ids.append(t.track_id)
            for c in self._meta:
                self._meta[c].append(t.meta.get(c))
            self._available.append(True)
        rows = np.arange(start, start + len(parsed), dtype=np.int64)
        vecs = normalise(np.asarray(vectors, dtype=np.float32).reshape(len(parsed), self.dim))
        # readers take (rows, vectors) as a snapshot; publish new arrays, ids last
        old_rows, old_vecs = self._extra
        self._extra = (np.concatenate([old_rows, rows]), np.concatenate([old_vecs, vecs]))
        for t, r in zip(parsed, rows, strict=True):
            self._row[t.track_id] = int(r)

    # ------------------------------------------------------------------ summary
    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "run": str(self.run),
            "model": self.model_name,
            "inductive": self.inductive,
            "tracks": self.n_tracks,
            "added_tracks": self.n_added,
            "indexed": self.n_indexed,
            "dim": self.dim,
            "embeddings_sha256": self.digest,
            "index": self.index.stats.to_dict(),
        }
