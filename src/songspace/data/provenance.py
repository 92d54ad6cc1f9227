"""Which sequences a run's model and embeddings were built from, and the leak checks on it.

SPEC §7: what scores a split (inductive embeddings, graphs, popularity) is built from that
protocol's training view only. Two records make that checkable after the fact:

- ``RUN/training.json``, written by ``songspace train``: the dataset (fingerprint and path)
  the model was fitted on, and the split (``seed``, ``test_fraction``) or ``full``;
  ``songspace update`` appends to its list ``updates`` one entry per update (the new
  dataset's path and fingerprint, the held-out sequences of the run's dataset it held,
  see :mod:`songspace.models.update`).
- ``OUT/embed.json``, written by ``songspace embed``: the dataset whose every sequence the
  embeddings were built from (an inductive model's co-occurrence graph and popularity).

:func:`check_training_split` refuses to evaluate a model on a protocol whose test sequences
it trained on; :func:`check_embed_output` refuses to evaluate an inductive ``embed`` output
on the dataset it was embedded from (its graph held the test playlists). Both are used by
``songspace evaluate`` (:func:`songspace.evaluation.suite.run_evaluation`) and by
:class:`songspace.models.apply.RunEmbedder`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from songspace.data.dataset import Dataset
from songspace.errors import FormatError, ParameterError

logger = logging.getLogger(__name__)

#: Written by ``songspace train`` beside ``model/``.
TRAINING_FILE = "training.json"
#: Written by ``songspace embed`` beside ``embeddings.npz``.
EMBED_FILE = "embed.json"
#: The list in ``training.json`` of the updates applied to a run (``songspace update``).
UPDATES = "updates"


@dataclass
class DatasetIdentity:
    """A dataset and the directory it was loaded from (None for one built in memory); its
    fingerprint is computed once, when a check first needs it."""

    dataset: Dataset
    path: str | Path | None = None

    @cached_property
    def resolved(self) -> str | None:
        """The dataset directory, resolved (None for an in-memory dataset)."""
        return None if self.path is None else str(Path(self.path).resolve())

    @cached_property
    def fingerprint(self) -> str:
        from songspace.data.fingerprint import dataset_fingerprint

        return dataset_fingerprint(self.dataset)

    def is_source_of(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (training.json or embed.json) names this dataset: by
        fingerprint, or by resolved path where an older record has no fingerprint."""
        fp = record.get("dataset_fingerprint")
        if fp:
            return fp == self.fingerprint
        # An older record holds the path as typed: the same resolved path, or the same
        # directory name with as many tracks, counts as this dataset (refusing on doubt).
        where = record.get("dataset_path") or record.get("dataset")
        if not where or self.resolved is None:
            return False
        if str(Path(str(where)).resolve()) == self.resolved:
            return True
        same_tracks = record.get("n_tracks") == self.dataset.n_tracks
        return Path(str(where)).name == Path(self.resolved).name and same_tracks


def training_record(
    dataset: Dataset,
    path: str | Path | None,
    *,
    seed: int,
    test_fraction: float | None,
    full: bool,
    train_sequences: int,
) -> dict[str, Any]:
    """The content of ``training.json`` for a model fitted on ``dataset``."""
    ident = DatasetIdentity(dataset, path)
    return {
        "dataset_path": ident.resolved,
        "dataset_fingerprint": ident.fingerprint,
        "dataset_sequences": dataset.n_sequences,
        "full": bool(full),
        "seed": None if full else int(seed),
        "test_fraction": None if full else float(test_fraction or 0.0),
        "train_sequences": int(train_sequences),
    }


def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON record (training.json, embed.json) as a dict; None when absent."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"expected a JSON record of where the run's data came from, found unreadable "
            f"text ({exc})",
            path=path,
            fix="restore the file from the run, or retrain with `songspace train`",
        ) from None
    if not isinstance(doc, dict):
        raise FormatError(
            f"expected a JSON object, found {type(doc).__name__}",
            path=path,
            fix="restore the file from the run, or retrain with `songspace train`",
        )
    return doc


def check_training_split(
    record: Mapping[str, Any] | None,
    where: Path,
    data: DatasetIdentity,
    *,
    seed: int,
    test_fraction: float,
) -> None:
    """Refuse to evaluate, under the protocol (``seed``, ``test_fraction``) of ``data``, a
    model whose ``training.json`` (``record``, read from ``where``) says it was fitted on
    this dataset with another split or on every sequence: it has seen the test sequences.
    A model fitted on another dataset, or without a record (runs written before the record
    existed: a warning says it cannot be checked), passes."""
    if record is None:
        logger.warning(
            "%s has no %s (written by songspace train since the leak checks): cannot check "
            "that the model did not train on this protocol's test sequences",
            where,
            TRAINING_FILE,
        )
        return
    updates = [u for u in record.get(UPDATES) or [] if isinstance(u, Mapping)]
    if any(u.get("dataset_fingerprint") == data.fingerprint for u in updates):
        raise ParameterError(
            "run",
            "a model that never trained on the protocol's test sequences",
            f"{where}: updated (songspace update) with every sequence of this dataset",
            fix="evaluate it on a dataset none of its updates held, or evaluate the run it "
            "was updated from",
        )
    if not data.is_source_of(record):
        return
    heldout = sum(int(u.get("base_heldout_sequences") or 0) for u in updates)
    if record.get("full"):
        found = "trained with --full on every sequence of this dataset, the test ones included"
    elif record.get("seed") != seed or not _same_share(record.get("test_fraction"), test_fraction):
        found = (
            f"trained on this dataset's split with --seed {record.get('seed')} "
            f"--test-fraction {record.get('test_fraction')}, whose training sequences include "
            f"this protocol's test sequences (--seed {seed} --test-fraction {test_fraction:g})"
        )
    elif heldout:
        found = f"updated (songspace update) with {heldout} of this dataset's held-out sequences"
    else:
        return
    fix = _split_fix(record) if not found.startswith("updated") else _UPDATED_FIX
    raise ParameterError(
        "run",
        "a model that never trained on the protocol's test sequences",
        f"{where}: {found}",
        fix=fix,
    )


_UPDATED_FIX = (
    "evaluate the run it was updated from, or update it with new data that holds none of "
    "this dataset's held-out sequences"
)


def _same_share(a: Any, b: float) -> bool:
    return a is not None and abs(float(a) - float(b)) < 1e-12


def _split_fix(record: Mapping[str, Any]) -> str:
    if record.get("full"):
        return (
            "retrain without --full (it then holds out the test split), or evaluate on a "
            "dataset the model never saw"
        )
    return (
        f"evaluate with the run's split (--seed {record.get('seed')} --test-fraction "
        f"{record.get('test_fraction')}), or retrain with this one"
    )


def check_embed_output(
    record: Mapping[str, Any] | None, where: Path, data: DatasetIdentity
) -> None:
    """Refuse to evaluate on ``data`` the output of ``songspace embed`` (``record``: its
    embed.json, read from ``where``) when an inductive model embedded that same dataset: its
    co-occurrence graph and popularity were built from every sequence, the test playlists and
    their masked targets included (a leak measured at +0.03 completion HR on unseen MPD
    playlists). Mapped-by-id (transductive) outputs do not read the sequences and pass."""
    if record is None or not record.get("inductive") or not data.is_source_of(record):
        return
    run = record.get("run_path") or record.get("run") or "RUN"
    dataset = data.path if data.path is not None else "DATA"
    raise ParameterError(
        "embeddings",
        "embeddings built from the protocol's training view only",
        f"{where}: `songspace embed` output of an inductive model ({record.get('model')}) "
        f"over this same dataset, whose graph and popularity were built from all its "
        f"{_count(record.get('sequences'))}sequences, the test playlists included",
        fix=f"evaluate the run itself, which embeds inside the protocol from its training "
        f"view: `songspace evaluate {dataset} {run}`",
    )


def _count(n: Any) -> str:
    return f"{n:,} " if isinstance(n, int) else ""
