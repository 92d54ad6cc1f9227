"""Serving a run written by ``songspace update``, and switching a live service to it.

An updated run (``RUN2``) holds tracks that the dataset given to ``serve --data`` (the
dataset ``songspace train`` read) lacks: those of its updates' datasets. Its lineage
(``RUN2/training.json``: the base dataset's fingerprint and the list ``updates``, see
:mod:`songspace.models.update`) says which, so :func:`served_dataset` serves it over the
base dataset grown by those updates (:func:`songspace.models.update.grow_by_updates`).

:func:`update_lineage` decides whether a reload from one run to another is the switch
from a run to its update (then the tracks added to the old run through ``POST /tracks``
are carried over, :meth:`songspace.serving.recommender.Recommender.carry_over`), and
says why not otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from songspace.data.dataset import Dataset
from songspace.data.provenance import TRAINING_FILE, UPDATES, DatasetIdentity, read_record

logger = logging.getLogger(__name__)


def _record(run: Path) -> dict[str, Any] | None:
    return read_record(Path(run) / TRAINING_FILE)


def _updates(record: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    ups = (record or {}).get(UPDATES) or []
    return [u for u in ups if isinstance(u, Mapping)] if isinstance(ups, list) else []


def served_dataset(run: Path, data: DatasetIdentity) -> Dataset:
    """The dataset to serve ``run`` over, ``data`` being the one ``serve --data`` names:
    ``data`` itself, unless ``run`` is an updated run (``updates`` in its lineage) and
    ``data`` is the dataset it was trained on (by fingerprint): then ``data`` grown by
    every update's dataset, so that the tracks the updates added are served too."""
    record = _record(run)
    updates = _updates(record)
    if not updates or record is None or not data.is_source_of(record):
        return data.dataset
    from songspace.models.update import grow_by_updates

    grown = grow_by_updates(data.dataset, updates)
    logger.info(
        "%s: an updated run (%d update%s): serving it over its dataset grown to %d tracks",
        run,
        len(updates),
        "s" if len(updates) != 1 else "",
        grown.n_tracks,
    )
    return grown


def update_lineage(new: Path, old: Path) -> str | None:
    """None when run ``new`` is an update of run ``old`` (directly or through a chain of
    updates): trained on the same dataset, its updates those of ``old`` (by dataset
    fingerprint) followed by at least one applied to ``old``'s directory. Otherwise the
    reason, a sentence fragment ("... is not an update of ...")."""
    new_rec, old_rec = _record(new), _record(old)
    if new_rec is None or old_rec is None:
        missing = new if new_rec is None else old
        return f"{missing} has no {TRAINING_FILE} (no lineage to compare)"
    if new_rec.get("dataset_fingerprint") != old_rec.get("dataset_fingerprint"):
        return f"{new} was trained on another dataset than {old}"
    new_ups, old_ups = _updates(new_rec), _updates(old_rec)
    n = len(old_ups)
    prints = [u.get("dataset_fingerprint") for u in new_ups[:n]]
    if len(new_ups) <= n or prints != [u.get("dataset_fingerprint") for u in old_ups]:
        return f"{new}'s updates ({TRAINING_FILE}: {UPDATES}) do not continue those of {old}"
    applied_to = new_ups[n].get("run_path")
    if not applied_to or Path(str(applied_to)).resolve() != Path(old).resolve():
        return f"{new}'s update after {old}'s lineage was applied to {applied_to}, not to {old}"
    return None
