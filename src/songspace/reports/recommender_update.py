"""``songspace update REC NEW_DATA -o REC2`` for a fitted two-stage recommender.

The recommender's stage 1 and features are counts and neighbour searches over its
training view (:meth:`TwoStageRanker.load <songspace.recommender.TwoStageRanker.load>`
rebuilds them from it); its LightGBM model scores features, not tracks. An update
therefore keeps the model and grows the training view by the new sequences (and the
catalogue by their new tracks): the kNN rankers, the successor and co-occurrence counts
and the popularity are those of the grown view, exactly what a build on the union gives
(the counts of a union are the sum of its parts'), and the embeddings are the runs' stored
vectors matched by track id: the updated runs (``--run NAME=RUN2``, the output of
``songspace update`` on each run) give the new tracks vectors, a run left as it was keeps
its own and leaves the new tracks to the counting generators.

``REC2/recommender.json`` records the lineage: the base recommender, each update's
dataset (path and fingerprint, in order) and the runs. :func:`updated_views` rebuilds the
grown dataset and view from it, so ``serve --recommender REC2`` and ``recommend
--recommender REC2`` serve the grown catalogue. The base recommender is never modified,
and REC2 is written atomically.

Refused: new sequences that are already in the base dataset (any part of its split: a
training sequence would count twice, a validation or test sequence would put the
protocol's held-out data into the counts) or in an earlier update; a run trained across
the recommender's test split. The model is not refitted: its validation queries are the
base split's, and refitting on them after adding data would need the protocol again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace._util import check_output_free
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.errors import FormatError, ParameterError
from songspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import Embeddings
    from songspace.recommender import TwoStageRanker

logger = logging.getLogger(__name__)

__all__ = [
    "UPDATES_KEY",
    "is_recommender",
    "run_vectors",
    "update_recommender",
    "updated_recommender",
    "updated_views",
]

#: The key of a recommender's provenance that lists its updates, oldest first.
UPDATES_KEY = "updates"


def is_recommender(path: str | Path) -> bool:
    """Whether ``path`` is a fitted recommender directory (``recommender.json``)."""
    from songspace.recommender.twostage import RECOMMENDER_FILE

    return (Path(path) / RECOMMENDER_FILE).is_file()


def _base_dataset(record: Mapping[str, Any], where: Path) -> Dataset:
    from songspace.models.update import recorded_dataset

    return recorded_dataset(
        record.get("dataset_path") or record.get("dataset"),
        record.get("dataset_fingerprint"),
        "the dataset the recommender was fitted on",
        fix=f"restore that dataset (its path is in {where}/recommender.json), or fit again",
    )


def updated_views(
    record: Mapping[str, Any], where: Path, base: Dataset | None = None
) -> tuple[Dataset, Dataset]:
    """(the dataset, the training view) of a recommender's provenance ``record``: the
    dataset it was fitted on (``base``, else read from its recorded path) and the
    protocol's training view, each grown by the record's updates, in order (each update's
    dataset loaded from its recorded path and checked by fingerprint). Both are on one
    vocabulary."""
    from songspace.evaluation.suite import evaluation_protocol
    from songspace.models.update import grow_by_updates

    ds = base if base is not None else _base_dataset(record, where)
    protocol, _ = evaluation_protocol(
        ds,
        seed=int(record.get("seed", 0)),
        test_fraction=float(record["test_fraction"]),
        min_tracks=int(record.get("min_tracks", DEFAULT_MIN_TRACKS)),
    )
    updates = list(record.get(UPDATES_KEY) or [])
    return grow_by_updates(ds, updates), grow_by_updates(protocol.train, updates)


def run_vectors(
    runs: Mapping[str, str | Path], view: Dataset, record: Mapping[str, Any], base: Dataset
) -> list[Embeddings]:
    """Each run's stored vectors (``RUN/embeddings.npz``) matched to ``view``'s tracks by
    id, named as given; a run that trained on the base dataset's held-out sequences
    (another split, ``--full``, or an update holding them) is refused."""
    from songspace.data.provenance import TRAINING_FILE, DatasetIdentity, check_training_split
    from songspace.data.provenance import read_record as read_training
    from songspace.evaluation.embeddings import load_embeddings

    data = DatasetIdentity(base, record.get("dataset_path"))
    out = []
    for name, run in runs.items():
        path = Path(run)
        check_training_split(
            read_training(path / TRAINING_FILE),
            path,
            data,
            seed=int(record.get("seed", 0)),
            test_fraction=float(record["test_fraction"]),
        )
        out.append(load_embeddings(path / "embeddings.npz", view, name=name))
    return out


def _check_new(new: Dataset, grown: Dataset, base: Dataset, where: Path) -> None:
    """Refuse new sequences already in the base dataset or in an earlier update."""
    from songspace.data.vocabulary import sequence_keys

    keys = sequence_keys(new)
    known = np.concatenate([sequence_keys(base), sequence_keys(grown)])
    repeated = int(np.isin(keys, known).sum())
    if repeated:
        raise ParameterError(
            "NEW_DATA",
            "sequences the recommender has never counted",
            f"{repeated} of {len(keys)} sequences already in the dataset it was fitted on "
            "(its training, validation or test part) or in an earlier update",
            fix="update with the new sequences only (a validation or test sequence would put "
            f"the protocol's held-out data into the counts of {where})",
        )


def update_recommender(
    path: str | Path,
    new_data: str | Path,
    out: str | Path,
    *,
    runs: Mapping[str, str | Path] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> TwoStageRanker:
    """Write ``out``: the recommender of ``path`` after the sequences of the dataset
    directory ``new_data`` (module docstring). ``runs``: ``{name: run}`` replacing the
    recorded run of that name (the updated runs); the others are kept."""
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.recommender import TwoStageRanker
    from songspace.reports.recommender import PROVENANCE, read_provenance

    path = Path(path)
    record = read_provenance(path)
    chosen = _chosen_runs(record, runs or {}, path)
    recorded = [record.get("dataset_path") or record.get("dataset")]
    recorded += [u.get("dataset_path") for u in record.get(UPDATES_KEY) or []]
    inputs = (path, new_data, *chosen.values(), *(r for r in recorded if r))
    check_output_free(out, overwrite=overwrite, inputs=inputs, inside=True)
    report(progress, 0, 3, "growing the training view")
    new = DatasetIdentity(Dataset.load(new_data), new_data)
    base = _base_dataset(record, path)
    _, view = updated_views(record, path, base)
    _check_new(new.dataset, view, base, path)
    entry = {
        "dataset_path": new.resolved,
        "dataset_fingerprint": new.fingerprint,
        "sequences": new.dataset.n_sequences,
    }
    grown = {**record, UPDATES_KEY: [*(record.get(UPDATES_KEY) or []), entry]}
    grown["runs"] = {n: str(Path(r).resolve()) for n, r in chosen.items()}
    grown["base_recommender"] = str(path.resolve())
    _, view = updated_views(grown, path, base)
    report(progress, 1, 3, "embedding the runs")
    embs = run_vectors(chosen, view, grown, base)
    report(progress, 2, 3, "rebuilding stage 1 and the features")
    rec = TwoStageRanker.load(path, view, embs, rebuild=True)
    rec.description[PROVENANCE] = grown
    rec.save(out, overwrite=overwrite)
    report(progress, 3, 3, "written")
    logger.info(
        "recommender %s updated with %d sequences: %d tracks (was %d)",
        path,
        new.dataset.n_sequences,
        view.n_tracks,
        base.n_tracks,
    )
    return rec


def _chosen_runs(
    record: Mapping[str, Any], runs: Mapping[str, str | Path], where: Path
) -> dict[str, Path]:
    """The recorded runs with those named in ``runs`` replaced (an unknown name is an
    error listing the recorded ones)."""
    recorded: dict[str, Any] = dict(record.get("runs") or {})
    unknown = sorted(set(runs) - set(recorded))
    if unknown:
        raise ParameterError(
            "--run",
            f"a name among the recommender's runs {sorted(recorded)}",
            unknown[0],
            fix="name each updated run as the recommender names the run it updates",
        )
    out = {n: Path(r) for n, r in {**recorded, **runs}.items()}
    for n, r in out.items():
        if not (r / "embeddings.npz").is_file():
            raise FormatError(
                f"expected the run {n!r} with its embeddings.npz, found none",
                path=r,
                fix="pass the run directory of `songspace train` or `songspace update`",
            )
    return out


def updated_recommender(
    fitted_path: Path,
    record: Mapping[str, Any],
    base: Dataset,
    *,
    name: str | None = None,
    search: Any = None,
) -> tuple[TwoStageRanker, Dataset]:
    """An updated recommender (``updates`` in its provenance) loaded for serving over
    ``base`` (the dataset it was fitted on): the ranker on the grown training view and
    the grown dataset it serves."""
    from songspace.recommender import TwoStageRanker

    ds, view = updated_views(record, fitted_path, base)
    runs: Sequence[tuple[str, Any]] = list((record.get("runs") or {}).items())
    embs = run_vectors(dict(runs), view, record, base)
    ranker = TwoStageRanker.load(fitted_path, view, embs, name=name, search=search)
    return ranker, ds
