"""Continue a trained run on new sequences: ``songspace update RUN NEW_DATA -o RUN2``.

A catalogue grows every day; retraining every model from scratch for a day's playlists
is the expensive way. :func:`update_run` loads the run's model, rebuilds what it has
trained on (its **history**), puts the new dataset on the run's vocabulary grown by
the new tracks (:mod:`songspace.data.vocabulary`), and calls the model's
:meth:`~songspace.models.base.EmbeddingModel.update` (docs/updates.md says what each
model does). The result is written as a new run directory, atomically; the base run
and the datasets are only read.

History
    Nothing of the training data is stored in a run, so the history is rebuilt from
    its lineage in ``RUN/training.json``: the dataset ``songspace train`` read (its
    recorded path, or ``base_data``), checked by fingerprint, and the same training view
    (split seed and share, or ``--full``); then each earlier update's dataset, checked
    by fingerprint, appended. Its vocabulary must be the run's (the track ids stored in
    ``RUN/embeddings.npz``).

Lineage
    ``RUN2/training.json`` is the base run's record with one more entry in its list
    ``updates``: the model, the run it was applied to, the new dataset (path,
    fingerprint), how many sequences it trained on and how many tracks it added, the
    repeats found and the policy applied, the run dataset's held-out sequences it holds,
    the settings (resolved) and the time taken. ``songspace evaluate`` reads it
    (:func:`songspace.data.provenance.check_training_split`).

Guard rails
    - a new sequence that the run has trained on already (same sequence id and the
      same tracks in the same order, :func:`songspace.data.vocabulary.sequence_keys`)
      is refused (``repeats="refuse"``, the default), left out (``"skip"``) or trained
      on again with a warning (``"allow"``);
    - new data that shares no track id with the run (another catalogue), a run whose
      lineage names another model, a history that no longer matches its fingerprint,
      and a model that cannot be updated are errors that say what to do;
    - the output is written with :func:`songspace._util.atomic_directory`: an update
      killed at any point leaves no ``RUN2`` (its temporary directory is removed by the
      next write there) and ``RUN`` untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_directory, check_output_free, to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.provenance import TRAINING_FILE, UPDATES, DatasetIdentity, read_record
from songspace.data.vocabulary import concat_sequences, extend_vocabulary, sequence_keys
from songspace.errors import FormatError, ModelFormatError, ParameterError
from songspace.models.apply import load_run, training_track_ids
from songspace.models.base import EmbeddingModel
from songspace.models.run import export_embeddings, heldout_split
from songspace.progress import ProgressCallback

logger = logging.getLogger(__name__)

__all__ = [
    "REPEAT_POLICIES",
    "History",
    "UpdateResult",
    "grow_by_updates",
    "load_history",
    "recorded_dataset",
    "update_run",
]

#: What ``update_run`` does with new sequences the run has trained on already.
REPEAT_POLICIES = ("refuse", "skip", "allow")


@dataclass
class History:
    """What a run has trained on, rebuilt from its lineage (:func:`load_history`).

    ``dataset``: every sequence it trained on, in training order (the base run's
    training view, then each update's sequences), on the run's vocabulary. ``seen``:
    the keys (:func:`~songspace.data.vocabulary.sequence_keys`) of those sequences as
    they were delivered; ``heldout``: the keys of the base dataset's validation and
    test sequences (none after ``--full``)."""

    dataset: Dataset
    seen: np.ndarray
    heldout: np.ndarray
    fingerprints: list[str] = field(default_factory=list)


@dataclass
class UpdateResult:
    """An updated model and what the update recorded in the lineage (``entry``)."""

    model: EmbeddingModel
    entry: dict[str, Any]
    out: Path | None = None

    @property
    def new_tracks(self) -> int:
        return int(self.entry["new_tracks"])

    @property
    def sequences(self) -> int:
        return int(self.entry["sequences"])


def update_run(
    run: str | Path,
    data: Dataset | str | Path,
    out: str | Path | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    repeats: str = "refuse",
    base_data: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> UpdateResult:
    """``songspace update RUN NEW_DATA -o RUN2`` (the module docstring): continue the
    run's model on ``data``'s sequences and, with ``out``, write the updated run there.

    ``settings`` are the model's update settings (strings parsed as on the command
    line; see docs/updates.md; ``seed`` defaults to the model's seed plus the number of
    earlier updates). ``repeats``: one of :data:`REPEAT_POLICIES`. ``base_data``: where
    the dataset the run was trained on lies, when it moved from the recorded path.
    """
    run = Path(run)
    source = None if isinstance(data, Dataset) else Path(data)
    if repeats not in REPEAT_POLICIES:
        raise ParameterError("repeats", f"one of {list(REPEAT_POLICIES)}", repeats)
    record = _training_record(run)
    if out is not None:
        inputs = (run, source, base_data, *_lineage_paths(record))
        check_output_free(out, overwrite=overwrite, inputs=inputs, inside=True)
    model = load_run(run)
    model.check_updatable()
    prior = _prior_updates(record, model, run)
    resolved = model.update_settings(_default_seed(settings, model, len(prior)), from_strings=True)
    history = load_history(record, track_ids=training_track_ids(run, model), base_data=base_data)
    ident = DatasetIdentity(data if isinstance(data, Dataset) else Dataset.load(data), source)
    grown, new, added = _on_run_vocabulary(history.dataset, ident.dataset, run)
    new, repeated, heldout = _apply_repeat_policy(new, history, ident, repeats)
    logger.info(
        "updating %s (%d sequences trained on) with %d new sequences, %d new tracks",
        model.name,
        grown.n_sequences,
        new.n_sequences,
        added,
    )
    model.update(new, history=grown, progress=progress, **resolved)
    entry = {
        "model": model.name,
        "run": str(run),
        "run_path": str(run.resolve()),
        "dataset": None if source is None else str(source),
        "dataset_path": ident.resolved,
        "dataset_fingerprint": ident.fingerprint,
        "sequences": new.n_sequences,
        "entries": new.n_entries,
        "new_tracks": added,
        "n_tracks": new.n_tracks,
        "repeats": repeats,
        "repeated_sequences": repeated,
        "base_heldout_sequences": heldout,
        "settings": resolved,
        "update_time": model.update_time_,
    }
    if out is not None:
        _write_updated(model, new, {**record, UPDATES: [*prior, entry]}, out, overwrite)
    return UpdateResult(model, to_jsonable(entry), None if out is None else Path(out))


def _training_record(run: Path) -> dict[str, Any]:
    """The run's ``training.json``; an error saying why an update needs it when absent."""
    run_dir = run.parent if (run / "model.json").is_file() else run
    record = read_record(run_dir / TRAINING_FILE)
    if record is None:
        raise FormatError(
            f"expected {TRAINING_FILE} (written by `songspace train`) naming the data the "
            "run was trained on, found none",
            path=run_dir,
            fix="update a run directory of `songspace train` (its -o), or retrain",
        )
    return record


def _lineage_paths(record: Mapping[str, Any]) -> list[str]:
    """The datasets a run's history is rebuilt from (inputs an output must spare)."""
    entries = [record, *(u for u in record.get(UPDATES) or [] if isinstance(u, Mapping))]
    return [str(e["dataset_path"]) for e in entries if e.get("dataset_path")]


def _prior_updates(record: Mapping[str, Any], model: EmbeddingModel, run: Path) -> list[Any]:
    """The run's earlier updates; an error when they name another model than its own."""
    prior = record.get(UPDATES) or []
    if not isinstance(prior, list) or not all(isinstance(u, dict) for u in prior):
        raise FormatError(
            f"expected a list of updates, found {type(prior).__name__}",
            path=run / TRAINING_FILE,
            field=UPDATES,
            fix="restore the file from the run, or retrain",
        )
    for u in prior:
        if u.get("model") != model.name:
            raise ModelFormatError(
                f"expected a lineage of {model.name} updates (the run's model), found an "
                f"update of the model {u.get('model')!r}",
                path=run / TRAINING_FILE,
                field=UPDATES,
                fix="keep model/ and training.json of one run together, or retrain",
            )
    return list(prior)


def _default_seed(
    settings: Mapping[str, Any] | None, model: EmbeddingModel, n_prior: int
) -> dict[str, Any]:
    """``settings`` with ``seed`` set to the model's seed plus the number of earlier
    updates where the model has that setting and it is not given (each update of a
    chain draws its own replay sample and initial vectors)."""
    out = dict(settings or {})
    if "seed" in model.update_constraints and "seed" not in out:
        out["seed"] = int(getattr(model, "seed", 0)) + n_prior
    return out


def load_history(
    record: Mapping[str, Any],
    *,
    track_ids: list[str] | None = None,
    base_data: str | Path | None = None,
) -> History:
    """The :class:`History` of a run from its ``training.json`` (``record``): the base
    dataset (at ``base_data``, else its recorded path) and each update's, each checked
    by fingerprint; with ``track_ids`` (the run's, one per model row) the rebuilt
    vocabulary must be theirs."""
    base = recorded_dataset(
        base_data or record.get("dataset_path"),
        record.get("dataset_fingerprint"),
        "the dataset the run was trained on",
        fix="pass --base-data PATH (base_data) with the dataset the run was trained on",
    )
    history = _base_history(base, record)
    for entry in record.get(UPDATES) or []:
        update = recorded_dataset(
            entry.get("dataset_path"),
            entry.get("dataset_fingerprint"),
            "the dataset of an earlier update",
            fix="restore the dataset at that path (an update rebuilds everything its run "
            "trained on), or retrain",
        )
        history = _with_update(history, update, entry)
    if track_ids is not None:
        _check_vocabulary(history.dataset, track_ids)
    return history


def grow_by_updates(
    dataset: Dataset, updates: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...]
) -> Dataset:
    """``dataset`` followed by the sequences (and the new tracks) of each update entry
    of a lineage (``training.json``'s ``updates``), in order, each update's dataset
    loaded from its recorded path and checked by fingerprint; the repeats an update
    left out are left out again. What ``songspace serve`` serves an updated run over,
    ``dataset`` being the dataset the run was trained on (all of it)."""
    seen = sequence_keys(dataset)
    history = History(dataset, seen, seen[:0])
    for entry in updates:
        update = recorded_dataset(
            entry.get("dataset_path"),
            entry.get("dataset_fingerprint"),
            "the dataset of an update of the run",
            fix="restore the dataset at that path (the tracks an update added are served "
            "from it), or serve the run before its updates",
        )
        history = _with_update(history, update, entry)
    return history.dataset


def recorded_dataset(path: Any, fingerprint: Any, what: str, *, fix: str) -> Dataset:
    """The dataset at ``path``, checked against the recorded ``fingerprint``."""
    if not path:
        raise FormatError(
            f"expected the path of {what} in {TRAINING_FILE}, found none (an in-memory dataset)",
            field="dataset_path",
            fix=fix,
        )
    if not Path(str(path)).is_dir():
        raise FormatError(f"expected {what} here, found nothing", path=str(path), fix=fix)
    ident = DatasetIdentity(Dataset.load(str(path)), str(path))
    if fingerprint and ident.fingerprint != fingerprint:
        raise ParameterError(
            "history",
            f"{what} (fingerprint {str(fingerprint)[:12]}...)",
            f"{path}: another dataset (fingerprint {ident.fingerprint[:12]}...)",
            fix=fix,
        )
    return ident.dataset


def _base_history(base: Dataset, record: Mapping[str, Any]) -> History:
    """The base run's training view of ``base`` and the keys of what it trained on."""
    keys = sequence_keys(base)
    fingerprints = [str(record.get("dataset_fingerprint") or "")]
    if record.get("full"):
        return History(base, keys, keys[:0], fingerprints)
    fraction, split = heldout_split(
        base, seed=int(record.get("seed") or 0), test_fraction=record.get("test_fraction")
    )
    view = split.training_view(base)
    expected = record.get("train_sequences")
    if expected is not None and expected != view.n_sequences:
        raise ParameterError(
            "history",
            f"the run's training view ({expected} sequences, seed {record.get('seed')}, "
            f"test fraction {fraction:g})",
            f"{view.n_sequences} sequences",
            fix="update with the songspace version that trained the run, or retrain",
        )
    heldout = np.concatenate([keys[split.validation], keys[split.test]])
    return History(view, keys[split.train], heldout, fingerprints)


def _with_update(history: History, update: Dataset, entry: Mapping[str, Any]) -> History:
    """``history`` after an earlier update with the dataset ``update`` (its recorded
    repeats policy applied again)."""
    grown, new = extend_vocabulary(history.dataset, update)
    keys = sequence_keys(new)
    if entry.get("repeats") == "skip":
        keep = ~np.isin(keys, history.seen)
        new, keys = new.subset(np.flatnonzero(keep)), keys[keep]
    return History(
        concat_sequences(grown, new),
        np.concatenate([history.seen, keys]),
        history.heldout,
        [*history.fingerprints, str(entry.get("dataset_fingerprint") or "")],
    )


def _check_vocabulary(history: Dataset, track_ids: list[str]) -> None:
    """The rebuilt vocabulary must be the run's (ids ``""`` were not recorded)."""
    ids = history.tracks["track_id"].astype(str).tolist()
    differ = len(ids) != len(track_ids) or any(
        t and t != i for t, i in zip(track_ids, ids, strict=False)
    )
    if differ:
        raise ModelFormatError(
            f"expected the run's vocabulary ({len(track_ids)} tracks) to be that of the "
            f"data it was trained on, found {len(ids)} tracks in another order",
            field="track ids",
            fix="keep a run's directory and its datasets together, or retrain",
        )


def _on_run_vocabulary(history: Dataset, new: Dataset, run: Path) -> tuple[Dataset, Dataset, int]:
    """(history, new, tracks added) on the run's vocabulary grown by ``new``'s tracks;
    an error when ``new`` shares no track with the run (another catalogue)."""
    # a set, not np.isin: on text columns np.isin compares every pair (minutes at 10^5
    # tracks; it was most of an update's time on the MPD subset)
    run_ids = set(history.tracks["track_id"].astype(str).tolist())
    new_ids = new.tracks["track_id"].astype(str).tolist()
    known = np.fromiter((t in run_ids for t in new_ids), dtype=bool, count=len(new_ids))
    if not known.any():
        raise ParameterError(
            "NEW_DATA",
            "a dataset sharing track ids with the run (new sequences of the same catalogue)",
            f"none of its {new.n_tracks} tracks among the run's {history.n_tracks}",
            fix="prepare NEW_DATA from the same source as the run's dataset (same track "
            f"ids), or train a new model on it; run: {run}",
        )
    grown, on_run = extend_vocabulary(history, new)
    return grown, on_run, int((~known).sum())


def _apply_repeat_policy(
    new: Dataset, history: History, ident: DatasetIdentity, policy: str
) -> tuple[Dataset, int, int]:
    """(the sequences to train on, how many repeat trained ones, how many are held-out
    sequences of the run's dataset) under ``policy`` (:data:`REPEAT_POLICIES`)."""
    keys = sequence_keys(new)
    repeated = np.isin(keys, history.seen)
    n_repeated = int(repeated.sum())
    heldout = int(np.isin(keys, history.heldout).sum())
    if heldout:
        logger.warning(
            "%d of the new sequences are held-out (validation or test) sequences of the "
            "run's dataset: `songspace evaluate` on that dataset will refuse the updated run",
            heldout,
        )
    if not n_repeated:
        return new, 0, heldout
    same = ident.fingerprint in history.fingerprints
    found = f"{n_repeated} of its {new.n_sequences} sequences already trained on" + (
        " (it is a dataset the run was trained or updated on)" if same else ""
    )
    if policy == "skip" and n_repeated == new.n_sequences:
        raise ParameterError(
            "NEW_DATA",
            "at least one sequence the run has not trained on",
            found,
            fix="update with the sequences that arrived since the run's last update",
        )
    if policy == "refuse":
        raise ParameterError(
            "NEW_DATA",
            "sequences the run has not trained on (a sequence id with the same tracks)",
            found,
            fix="remove them from NEW_DATA, or pass --repeats skip to leave them out "
            "(--repeats allow trains on them again)",
        )
    logger.warning(
        "%s: %s", found, "left out" if policy == "skip" else "trained on again (--repeats allow)"
    )
    if policy == "skip":
        new = new.subset(np.flatnonzero(~repeated), name="update")
    return new, n_repeated, heldout


def _write_updated(
    model: EmbeddingModel, new: Dataset, record: Mapping[str, Any], out: str | Path, overwrite: bool
) -> None:
    """Write the updated run ``out`` atomically, in ``songspace train``'s layout, with
    its lineage in ``training.json``."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        export_embeddings(model, new, tmp)
        model.save(tmp / "model")
        text = json.dumps(to_jsonable(record), indent=2) + "\n"
        (tmp / TRAINING_FILE).write_text(text)
