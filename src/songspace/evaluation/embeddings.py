"""Embeddings to evaluate: vectors aligned to a dataset's track vocabulary (SPEC §4).

An :class:`Embeddings` holds one row per track plus an ``available`` mask:
tracks a (non-inductive) model never saw have no embedding, and every metric
treats them as unrankable and reports coverage. The popularity baseline is an
``Embeddings`` whose ranking is the same for every query (its ``popularity``
scores), so every metric accepts it like any model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from songspace._checks import check_finite_rows
from songspace._util import check_seed, unit_rows
from songspace.data.dataset import Dataset
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.evaluation.defaults import DEFAULT_RANDOM_DIM

if TYPE_CHECKING:
    from songspace.data.provenance import DatasetIdentity
    from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)


@runtime_checkable
class ViewEmbedder(Protocol):
    """Embeddings computed inside an evaluation protocol, from its training view only
    (SPEC §7: what scores a split is built from that split's training view). ``songspace
    evaluate DATA RUN`` passes a :class:`songspace.models.apply.RunEmbedder`; a user's own
    inductive model can follow this protocol to be scored the same way.

    ``embed`` returns ``(vectors, available)`` for every track of ``data.dataset``, whose
    vocabulary ``train`` shares, reading the sequences of ``train`` alone; ``seed`` and
    ``test_fraction`` name the protocol's split (a model may refuse one it trained across).
    ``run``: the directory it reads (an input of the command: no output may be written over
    it, and ``--against`` may name it), or None.
    """

    name: str

    @property
    def run(self) -> Path | None: ...

    def embed(
        self,
        train: Dataset,
        *,
        data: DatasetIdentity,
        seed: int,
        test_fraction: float,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class ViewRanker(Protocol):
    """A ranker built inside an evaluation protocol from its training view: ``songspace
    evaluate --recommender`` passes a fitted two-stage recommender
    (:class:`songspace.reports.recommender.FittedRecommender`), which refuses a protocol
    other than the one it was fitted on. ``ranker`` returns a ranker (``name``,
    ``scores(seeds)``) over ``data.dataset``'s tracks; ``run``: the directory it reads.
    """

    name: str

    @property
    def run(self) -> Path | None: ...

    def ranker(
        self,
        protocol: Any,
        *,
        data: DatasetIdentity,
        test_fraction: float,
        progress: ProgressCallback | None = None,
    ) -> Any: ...


@dataclass
class Embeddings:
    """Track embeddings for evaluation.

    ``vectors``: float32 (n_tracks, d), rows L2-normalised so that inner product
    is cosine (zero rows where unavailable). ``available``: bool (n_tracks,).
    ``popularity``: when set, a query-independent score per track that replaces
    cosine (popularity baseline); ``vectors`` is then (n_tracks, 0).
    ``ranker``: when set, a :class:`songspace.evaluation.rankers.Ranker` (ItemKNN,
    SKNN, ...) that ranks instead of cosine; ``vectors`` is then (n_tracks, 0) and
    the metrics that need vectors (clustering, play prediction) do not apply.
    """

    vectors: np.ndarray
    available: np.ndarray
    name: str = "embeddings"
    popularity: np.ndarray | None = None
    ranker: Any = None

    @property
    def has_vectors(self) -> bool:
        """False for the popularity baseline and the non-embedding rankers."""
        return self.popularity is None and self.ranker is None

    @classmethod
    def from_ranker(cls, ranker: Any, n_tracks: int) -> Embeddings:
        """Wrap a non-embedding ranker so every ranking metric accepts it."""
        return cls(
            np.zeros((n_tracks, 0), np.float32),
            np.ones(n_tracks, bool),
            name=ranker.name,
            ranker=ranker,
        )

    @property
    def n_tracks(self) -> int:
        return len(self.available)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def coverage(self) -> float:
        return float(self.available.mean()) if self.n_tracks else 0.0

    @classmethod
    def from_array(
        cls,
        vectors: np.ndarray,
        n_tracks: int | None = None,
        *,
        available: np.ndarray | None = None,
        name: str = "embeddings",
        source: str = "embeddings",
        mismatch_fix: str | None = None,
    ) -> Embeddings:
        """Validate and L2-normalise a matrix aligned to the vocabulary.

        Rows outside ``available`` are ignored (zeroed). Available rows must be
        finite (:func:`songspace._checks.check_finite_rows`) and non-zero; they are
        normalised with :func:`songspace._util.unit_rows` (safe at any magnitude).
        ``mismatch_fix`` replaces the fix given when the row count is not ``n_tracks``.
        """
        v = np.asarray(vectors)
        if v.ndim != 2 or v.shape[1] < 1:
            raise InvalidValueError(
                f"expected a 2-D matrix (tracks x dimensions), found shape {v.shape}",
                record=source,
                fix="pass one row per track of the dataset's vocabulary",
            )
        if n_tracks is not None and v.shape[0] != n_tracks:
            raise InvalidValueError(
                f"expected {n_tracks} rows (one per track of the dataset), found {v.shape[0]}",
                record=source,
                fix=mismatch_fix
                or "align the rows to the dataset's tracks.parquet order, or pass a Parquet "
                "file with a track_id column so rows are matched by id",
            )
        avail = np.ones(v.shape[0], bool) if available is None else np.asarray(available, bool)
        if avail.shape != (v.shape[0],):
            raise ParameterError("available", f"`available.shape == ({v.shape[0]},)`", avail.shape)
        v = v.astype(np.float32, copy=True)
        v[~avail] = 0.0
        check_finite_rows(
            v,
            available=avail,
            record=source,
            fix="retrain the model, or mark those tracks unavailable (available=False)",
        )
        zero = ~np.any(v != 0, axis=1) & avail
        if zero.any():
            raise InvalidValueError(
                f"expected non-zero vectors, found {int(zero.sum())} all-zero rows "
                f"(first: row {int(np.flatnonzero(zero)[0])})",
                record=source,
                fix="mark tracks without an embedding unavailable (available=False)",
            )
        return cls(unit_rows(v), avail, name=name)

    @classmethod
    def random(cls, n_tracks: int, dim: int = DEFAULT_RANDOM_DIM, *, seed: int = 0) -> Embeddings:
        """Random Gaussian embeddings: the chance baseline of every comparison."""
        if dim < 1:
            raise ParameterError("dim", "`dim >= 1`", dim)
        rng = check_seed(seed)
        return cls.from_array(rng.standard_normal((n_tracks, dim)), n_tracks, name="random")

    @classmethod
    def popularity_baseline(cls, dataset: Dataset) -> Embeddings:
        """Rank every track by its number of training sequences (ties by index)."""
        occ = dataset.occurrences().astype(np.float64)
        # Break ties deterministically towards the lower index.
        score = occ - np.arange(dataset.n_tracks) / (10.0 * max(dataset.n_tracks, 1))
        return cls(
            np.zeros((dataset.n_tracks, 0), np.float32),
            np.ones(dataset.n_tracks, bool),
            name="popularity",
            popularity=score,
        )


def load_embeddings(
    path: str | Path,
    dataset: Dataset,
    *,
    name: str | None = None,
    drop_unknown: bool = False,
    mismatch_fix: str | None = None,
) -> Embeddings:
    """Read embeddings for ``dataset`` from ``.npy``, ``.npz`` (key ``embeddings``) or Parquet.

    The name defaults to the file's stem, or its directory's name for a
    ``embeddings.npz`` written by ``songspace train``. A ``.npy``/``.npz`` matrix
    must have one row per track in vocabulary order;
    an ``.npz`` may also hold a boolean ``available``. A Parquet file has a
    ``track_id`` column plus one numeric column per dimension; tracks it does not
    list are unavailable. An ``.npz`` written by ``songspace train`` or ``songspace
    embed`` also holds the track id of each row (:func:`songspace._util.pack_ids`):
    its rows are then matched by id, like a Parquet file's.

    Files keyed by id may hold ids the dataset does not have (embeddings of another
    dataset): an error, unless ``drop_unknown``, which drops them and logs how many.
    ``mismatch_fix`` replaces the fix of that error and of a row-count mismatch (the
    serving layer's is "pass the dataset the run was trained on").
    """
    path = Path(path)
    # `songspace train` writes RUN/embeddings.npz: name it after the run directory.
    label = name or (path.parent.name if path.stem == "embeddings" else path.stem)
    if not path.is_file():
        raise FormatError(
            "expected an embeddings file (.npy, .npz or .parquet), found nothing",
            path=path,
            fix="check the path",
        )
    suffix = path.suffix.lower()
    from songspace._util import ID_BYTES
    from songspace.evaluation._readers import read_npy, read_npz, read_parquet_vectors

    def by_row(matrix: np.ndarray, available: np.ndarray | None = None) -> Embeddings:
        return Embeddings.from_array(
            matrix,
            dataset.n_tracks,
            available=available,
            name=label,
            source=str(path),
            mismatch_fix=mismatch_fix,
        )

    if suffix == ".npy":
        return by_row(read_npy(path))
    if suffix == ".npz":
        matrix, avail, npz_ids = read_npz(path)
        if npz_ids is None:
            return by_row(matrix, avail)
        if matrix.ndim != 2:
            return by_row(matrix)
        keep = np.ones(len(npz_ids), bool) if avail is None else np.asarray(avail, bool)
        if keep.shape != (len(npz_ids),):
            raise InvalidValueError(
                f"expected one 'available' value per row ({len(npz_ids)}), found {keep.shape}",
                path=path,
                field="available",
                fix="re-write the file with `songspace train`/`embed`",
            )
        return _by_id(
            path, label, dataset, npz_ids, matrix, keep, drop_unknown, ID_BYTES, mismatch_fix
        )
    if suffix in (".parquet", ".pq"):
        ids, m = read_parquet_vectors(path)
        keep = np.ones(len(ids), bool)
        return _by_id(path, label, dataset, ids, m, keep, drop_unknown, "track_id", mismatch_fix)
    raise FormatError(
        f"expected a .npy, .npz or .parquet file, found {suffix or 'no extension'}",
        path=path,
        fix="save the embeddings in one of those formats",
    )


def _by_id(
    path: Path,
    label: str,
    dataset: Dataset,
    ids: list[str],
    matrix: np.ndarray,
    keep: np.ndarray,
    drop_unknown: bool,
    field: str,
    mismatch_fix: str | None = None,
) -> Embeddings:
    """Embeddings whose rows are matched to ``dataset``'s tracks by id (rows outside
    ``keep`` are unavailable); tracks without a row are unavailable."""
    index = dataset.track_index()
    rows = np.array([index.get(t, -1) for t in ids], dtype=np.int64)
    unknown = rows < 0
    if unknown.any():
        first = ids[int(np.flatnonzero(unknown)[0])]
        if not drop_unknown:
            raise InvalidValueError(
                f"expected track ids of the dataset, found {int(unknown.sum())} of "
                f"{len(ids)} unknown (first: {first!r})",
                path=path,
                field=field,
                fix=mismatch_fix
                or "evaluate against the dataset the embeddings were made for, embed the "
                "dataset with `songspace embed RUN DATA -o OUT`, or pass --drop-unknown "
                "(drop_unknown=True) to drop the unknown ids",
            )
        logger.warning(
            "%s: dropped %d of %d track ids not in the dataset (first: %r); %d of the "
            "dataset's %d tracks have a vector",
            path,
            int(unknown.sum()),
            len(ids),
            first,
            int((~unknown & keep).sum()),
            dataset.n_tracks,
        )
    use = ~unknown & keep
    full = np.zeros((dataset.n_tracks, matrix.shape[1]), np.float64)
    avail = np.zeros(dataset.n_tracks, bool)
    full[rows[use]], avail[rows[use]] = matrix[use], True
    return Embeddings.from_array(
        full, dataset.n_tracks, available=avail, name=label, source=str(path)
    )
