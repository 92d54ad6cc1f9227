"""Apply a trained model to another dataset (``songspace embed RUN NEW_DATA -o OUT``).

- An inductive model (GraphSAGE, MUSIG: :class:`~songspace.models.base.InductiveModel`)
  embeds every track of the new dataset from its feature groups and its own
  co-occurrence graph, with no retraining. Feature groups are matched to the training
  columns by name (:func:`songspace.data.align.align_features`; a warning says what
  does not match).
- A transductive model (Track2Vec, Node2Vec, CF-WARP) has one vector per training
  track: the new dataset's tracks are mapped by track id. A track the model never saw,
  or saw without learning a vector for it, is unavailable, and both counts are given.

The output directory has the layout ``songspace train`` writes for its embeddings
(``embeddings.npz`` with track ids, ``embeddings.w2v.txt``, ``projector/``), plus
``embed.json`` saying where they come from, so ``songspace evaluate NEW_DATA
OUT/embeddings.npz`` scores them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songspace._checks import check_finite_rows
from songspace._util import (
    ID_BYTES,
    ID_OFFSETS,
    atomic_directory,
    check_output_free,
    to_jsonable,
    unpack_ids,
    w2v_track_id,
)
from songspace.data.dataset import Dataset
from songspace.data.provenance import (
    EMBED_FILE,
    TRAINING_FILE,
    DatasetIdentity,
    check_training_split,
    read_record,
)
from songspace.errors import ModelFormatError
from songspace.models.base import EmbeddingModel, InductiveModel
from songspace.progress import ProgressCallback, report

logger = logging.getLogger(__name__)

__all__ = [
    "EmbedResult",
    "RunEmbedder",
    "embed_dataset",
    "embed_run",
    "evaluation_input",
    "is_run",
    "load_run",
    "training_track_ids",
]


@dataclass
class EmbedResult:
    """Embeddings of a dataset computed by a trained model, and how they were obtained.

    ``inductive``: computed from features and edges; else mapped by track id, where
    ``unknown`` tracks are not in the training vocabulary and ``no_embedding`` tracks are
    in it without a vector (both unavailable)."""

    model: str
    inductive: bool
    embeddings: np.ndarray
    available: np.ndarray
    unknown: int = 0
    no_embedding: int = 0
    out: Path | None = None
    #: the sequences of the dataset read (an inductive model's graph and popularity)
    sequences: int = 0

    @property
    def n_tracks(self) -> int:
        return len(self.available)

    @property
    def embedded(self) -> int:
        return int(self.available.sum())

    def summary(self) -> dict[str, object]:
        return {
            "model": self.model,
            "inductive": self.inductive,
            "n_tracks": self.n_tracks,
            "embedded": self.embedded,
            "unknown": self.unknown,
            "no_embedding": self.no_embedding,
        }


def _model_dir(run: Path) -> Path:
    if (run / "model.json").is_file():
        return run
    if (run / "model" / "model.json").is_file():
        return run / "model"
    raise ModelFormatError(
        "expected a run directory written by `songspace train` (with model/model.json), "
        "or a model directory (with model.json), found neither",
        path=run,
        fix="pass the -o directory of `songspace train`",
    )


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run directory of ``songspace train`` (or a model directory)."""
    p = Path(path)
    return (p / "model.json").is_file() or (p / "model" / "model.json").is_file()


def evaluation_input(path: str | Path) -> RunEmbedder | Path:
    """What ``songspace evaluate`` scores for ``path``: a run directory becomes a
    :class:`RunEmbedder` (embedded inside the protocol, from its training view); anything
    else stays a path to an embeddings file."""
    return RunEmbedder(path) if Path(path).is_dir() and is_run(path) else Path(path)


def load_run(run: str | Path) -> EmbeddingModel:
    """The model of a ``songspace train`` run directory (or of a model directory)."""
    return EmbeddingModel.load(_model_dir(Path(run)))


def training_track_ids(run: str | Path, model: EmbeddingModel) -> list[str]:
    """The track id of each row of ``model.embeddings_``, from the run's
    ``embeddings.npz`` (the ids stored beside the vectors), or for runs written before
    ids were stored there, from ``embeddings.w2v.txt`` (the ids of the embedded rows)."""
    run = Path(run)
    if (run / "model.json").is_file():
        run = run.parent
    n = len(model.available_)
    npz, w2v = run / "embeddings.npz", run / "embeddings.w2v.txt"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
            if ID_BYTES in z.files and ID_OFFSETS in z.files:
                try:
                    ids = unpack_ids(z[ID_BYTES], z[ID_OFFSETS])
                except (ValueError, UnicodeDecodeError) as exc:
                    raise ModelFormatError(
                        f"expected the track ids of the run, found unreadable ones ({exc})",
                        path=npz,
                        field=ID_BYTES,
                        fix="retrain the model with `songspace train`",
                    ) from None
                if len(ids) != n:
                    raise ModelFormatError(
                        f"expected {n} track ids (one per row of the model), found {len(ids)}",
                        path=npz,
                        field=ID_OFFSETS,
                        fix="keep embeddings.npz and model/ of the same run together",
                    )
                return ids
    if w2v.is_file():
        rows = np.flatnonzero(model.available_)
        with open(w2v, encoding="utf-8") as fh:
            fh.readline()
            tokens = [line.split(" ", 1)[0] for line in fh if line.strip()]
        if len(tokens) != len(rows):
            raise ModelFormatError(
                f"expected {len(rows)} embedded tracks (as the model has), found {len(tokens)}",
                path=w2v,
                fix="keep the files of one run together, or retrain with `songspace train`",
            )
        ids = [""] * n
        for r, tok in zip(rows.tolist(), tokens, strict=True):
            ids[r] = w2v_track_id(tok)
        return ids
    raise ModelFormatError(
        "expected the run's track ids (embeddings.npz with track ids, or "
        "embeddings.w2v.txt), found neither",
        path=run,
        fix="a model that maps tracks by id needs its run directory; retrain with "
        "`songspace train`",
    )


def embed_dataset(
    model: EmbeddingModel,
    dataset: Dataset,
    train_ids: list[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> EmbedResult:
    """Embed every track of ``dataset`` with the fitted ``model``: inductively
    (:meth:`~songspace.models.base.InductiveModel.embed_all`) or, for a transductive
    model, by mapping ``train_ids`` (the id of each model row) onto the dataset's ids."""
    model.check_fitted()
    report(progress, 0, 1, "embedding")
    if isinstance(model, InductiveModel):
        emb, avail = model.embed_all(dataset)
        res = EmbedResult(model.name, True, emb.astype(np.float32), np.asarray(avail, bool))
        logger.info(
            "%s: embedded %d of %d tracks from their features and edges (no retraining)",
            model.name,
            res.embedded,
            res.n_tracks,
        )
    else:
        if train_ids is None or len(train_ids) != len(model.available_):
            raise ModelFormatError(
                f"expected one track id per row of the {model.name} model "
                f"({len(model.available_)}), found "
                + ("none" if train_ids is None else str(len(train_ids))),
                fix="embed with the run directory (embed_run) so the ids are read from it",
            )
        row_of = {t: i for i, t in enumerate(train_ids) if t}  # '' = id not recorded
        ids = dataset.tracks["track_id"].astype(str).tolist()
        rows = np.array([row_of.get(t, -1) for t in ids], dtype=np.int64)
        known = rows >= 0
        avail = known.copy()
        avail[known] = model.available_[rows[known]]
        emb = np.zeros((dataset.n_tracks, model.embeddings_.shape[1]), np.float32)
        emb[avail] = model.embeddings_[rows[avail]]
        res = EmbedResult(
            model.name,
            False,
            emb,
            avail,
            unknown=int((~known).sum()),
            no_embedding=int((known & ~avail).sum()),
        )
        logger.info(
            "%s maps tracks by id: %d of %d tracks embedded; %d not in the training "
            "vocabulary and %d without a trained vector are unavailable",
            model.name,
            res.embedded,
            res.n_tracks,
            res.unknown,
            res.no_embedding,
        )
    report(progress, 1, 1, "embedding")
    return res


def check_finite_embeddings(res: EmbedResult, run: Path) -> None:
    """Refuse NaN or infinite vectors among the embedded tracks (weights that load but
    overflow, or diverged training): they would be ranked as if they were real."""
    check_finite_rows(
        res.embeddings,
        available=res.available,
        path=_model_dir(run) / "arrays.npz",
        record=f"the {res.model} model's vectors of the dataset's tracks",
    )


def embed_run(
    run: str | Path,
    data: Dataset | str | Path,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> EmbedResult:
    """``songspace embed RUN NEW_DATA -o OUT``: the model of the run directory ``run``
    applied to the dataset ``data`` (see the module docstring); with ``out``, written
    atomically in the layout of ``songspace train``'s embeddings, plus ``embed.json``."""
    run = Path(run)
    if out is not None:
        source = None if isinstance(data, Dataset) else data
        check_output_free(out, overwrite=overwrite, inputs=(run, source))
    model = load_run(run)
    ids = None if isinstance(model, InductiveModel) else training_track_ids(run, model)
    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    res = embed_dataset(model, ds, ids, progress=progress)
    check_finite_embeddings(res, run)
    res.sequences = ds.n_sequences
    if out is not None:
        from songspace.models.run import write_embeddings

        with atomic_directory(out, overwrite=overwrite) as tmp:
            write_embeddings(res.embeddings, res.available, ds, tmp)
            source = None if isinstance(data, Dataset) else data
            ident = DatasetIdentity(ds, source)
            doc = {
                "run": str(run),
                "run_path": str(run.resolve()),
                "dataset": None if source is None else str(source),
                "dataset_path": ident.resolved,
                "dataset_fingerprint": ident.fingerprint,
                "sequences": ds.n_sequences,
                **res.summary(),
            }
            (tmp / EMBED_FILE).write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")
        res.out = Path(out)
    return res


class RunEmbedder:
    """A ``songspace train`` run scored inside an evaluation protocol
    (``songspace evaluate DATA RUN``): the run's model embeds the dataset's tracks from the
    protocol's **training view** only (SPEC §7).

    An inductive model (GraphSAGE, MUSIG) builds its co-occurrence graph and popularity
    from the training view's sequences, so no test playlist and no masked target reaches
    the embeddings; a transductive model maps its vectors by track id. A model that was
    fitted on this same dataset with another split (or ``--full``) has seen the test
    sequences and is refused (:func:`songspace.data.provenance.check_training_split`).
    It follows :class:`songspace.evaluation.embeddings.ViewEmbedder`.
    """

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        #: the label of its results: the run directory's name, as for RUN/embeddings.npz
        self.name = (self.run.parent if self.run.name == "model" else self.run).name

    def __repr__(self) -> str:
        return f"RunEmbedder({str(self.run)!r})"

    def embed(
        self,
        train: Dataset,
        *,
        data: DatasetIdentity,
        seed: int,
        test_fraction: float,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, available) for every track of ``data`` (whose vocabulary ``train``, the
        protocol's training view, shares), computed from ``train`` alone."""
        run_dir = _model_dir(self.run).parent
        record = read_record(run_dir / TRAINING_FILE)
        check_training_split(record, run_dir, data, seed=seed, test_fraction=test_fraction)
        model = load_run(self.run)
        ids = None if isinstance(model, InductiveModel) else training_track_ids(self.run, model)
        res = embed_dataset(model, train, ids, progress=progress)
        check_finite_embeddings(res, self.run)
        if res.inductive:
            logger.info(
                "%s: embedded from the protocol's training view (%d sequences), not from the "
                "held-out ones",
                self.name,
                train.n_sequences,
            )
        return res.embeddings, res.available
