"""The pieces of a training run that ``songspace train`` composes, one per step.

:func:`songspace.models.train.train_model` (one process) and each rank of
:func:`songspace.models.distributed.worker_main` (data-parallel) are both

1. :func:`build_model` (parameters from a config file and overrides, validated,
   the paths the model writes checked against the run's inputs and output);
2. :func:`training_view` (the protocol's seeded training view, or every sequence
   with ``full``);
3. a fit: ``model.fit(view.train)``, or ``model.fit_with(loop, view.train)`` with
   another training loop (:meth:`songspace.models.base.EmbeddingModel.fit_with`);
4. :func:`write_run` (``OUT/``: the model, the embeddings and their exports, and
   ``training.json``, see :mod:`songspace.data.provenance`).

This module imports neither ``train`` nor ``distributed``, so those two do not
import each other.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from songspace._checks import check_heldout_share
from songspace._util import atomic_directory, atomic_write, atomic_write_npz, pack_ids, w2v_token
from songspace.data.dataset import Dataset
from songspace.data.provenance import TRAINING_FILE, training_record
from songspace.data.splits import Split, resolve_test_fraction, split_sequences
from songspace.errors import FormatError
from songspace.models.base import EmbeddingModel
from songspace.models.registry import create

logger = logging.getLogger(__name__)


def read_config(path: str | Path) -> dict[str, Any]:
    """Parameters from a TOML file: a ``[params]`` table, or top-level keys."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(
            "expected a TOML config file, found nothing", path=path, fix="check the path"
        ) from None
    except IsADirectoryError:
        raise FormatError(
            "expected a TOML config file, found a directory", path=path, fix="check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"expected UTF-8 text (TOML), found the byte 0x{exc.object[exc.start]:02x} at "
            f"offset {exc.start}",
            path=path,
            fix="save the config as UTF-8",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(
            f"expected valid TOML, found {exc}", path=path, fix="repair the file"
        ) from exc
    if "params" in doc:
        other = sorted(set(doc) - {"params"})
        if other or not isinstance(doc["params"], dict):
            raise FormatError(
                f"expected only a [params] table, found also {other}"
                if other
                else "expected [params] to be a table",
                path=path,
                fix="put every parameter under [params] (or use top-level keys only)",
            )
    return dict(doc.get("params", doc))


def build_model(
    name: str,
    params: Mapping[str, Any] | None,
    config: str | Path | None,
    inputs: tuple[str | Path | None, ...] = (),
    *,
    preset: str | None = None,
) -> EmbeddingModel:
    """Model ``name`` with the ``preset``'s values (e.g. Track2Vec's ``"paper"``)
    overridden by ``config``'s parameters, overridden by ``params`` (strings parsed as
    on the command line, :func:`songspace.models.create` with ``from_strings``); the
    paths it writes itself (e.g. ``checkpoint_dir``) must not touch ``inputs`` (the
    run's dataset, config and output)."""
    merged = {**(read_config(config) if config else {}), **(params or {})}
    model = create(name, merged, from_strings=True, preset=preset)
    model.check_write_paths(inputs=inputs)
    return model


@dataclass(frozen=True)
class TrainingView:
    """What a model trains on: ``train``, a view of the dataset, and how it was taken
    (``test_fraction`` resolved, None with ``full``), as ``training.json`` records it."""

    train: Dataset
    seed: int
    test_fraction: float | None
    full: bool


def training_view(
    ds: Dataset, *, seed: int = 0, test_fraction: float | None = None, full: bool = False
) -> TrainingView:
    """The training view of ``ds``: with ``full`` every sequence, else the seeded
    sequence split's training view (:func:`songspace.data.splits.split_sequences`,
    the last entry of every training sequence masked) with ``test_fraction`` held out
    for validation and for test (None: 1%, or more on small data), as ``songspace
    evaluate`` with the same ``seed`` and ``test_fraction`` takes it."""
    if full:
        return TrainingView(ds, seed, None, True)
    fraction, split = heldout_split(ds, seed=seed, test_fraction=test_fraction)
    return TrainingView(split.training_view(ds), seed, fraction, False)


def heldout_split(ds: Dataset, *, seed: int, test_fraction: float | None) -> tuple[float, Split]:
    """(the held-out share, resolved; the seeded sequence split) that
    :func:`training_view` takes its view from."""
    fraction = resolve_test_fraction(ds.n_sequences, test_fraction)
    check_heldout_share(fraction, "test_fraction")
    return fraction, split_sequences(ds, (1 - 2 * fraction, fraction, fraction), seed=seed)


def write_run(
    model: EmbeddingModel,
    ds: Dataset,
    view: TrainingView,
    out: str | Path,
    *,
    source: str | Path | None,
    overwrite: bool = False,
) -> None:
    """Write the run directory ``out`` atomically: the embeddings and their exports
    (:func:`export_embeddings`), the model (``out/model``) and ``training.json``
    (which sequences of ``ds``, read from ``source``, the model saw)."""
    record = training_record(
        ds,
        source,
        seed=view.seed,
        test_fraction=view.test_fraction,
        full=view.full,
        train_sequences=view.train.n_sequences,
    )
    with atomic_directory(out, overwrite=overwrite) as tmp:
        export_embeddings(model, ds, tmp)
        model.save(tmp / "model")
        (tmp / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")


def log_training(name: str, train: Dataset) -> None:
    """Log what model ``name`` is about to train on."""
    logger.info(
        "training %s on %d sequences (%d entries)", name, train.n_sequences, train.n_entries
    )


def log_trained(model: EmbeddingModel, ds: Dataset) -> None:
    """Log a fitted model's training time, coverage of ``ds`` and the values it set from
    the data (``"auto"`` parameters)."""
    logger.info(
        "%s trained in %.1fs; %d of %d tracks embedded",
        model.name,
        model.training_time_,
        int(model.available_.sum()),
        ds.n_tracks,
    )
    chosen = chosen_from_data(model)
    if chosen:
        logger.info("%s chose from the data: %s", model.name, chosen)


def chosen_from_data(model: EmbeddingModel) -> str:
    """The values a fitted model set from its training data (its ``"auto"`` parameters,
    :attr:`~songspace.models.base.EmbeddingModel.fitted_params_`), as ``"epochs=20,
    window=5"``; empty when it set none."""
    given = model.get_params()
    return ", ".join(f"{k}={v!r}" for k, v in model.fitted_params_.items() if given.get(k) != v)


def export_embeddings(model: EmbeddingModel, ds: Dataset, directory: str | Path) -> None:
    """:func:`write_embeddings` of a fitted model."""
    write_embeddings(model.embeddings_, model.available_, ds, directory)


def write_embeddings(
    emb: np.ndarray, avail: np.ndarray, ds: Dataset, directory: str | Path
) -> None:
    """Write ``embeddings.npz`` (embeddings + available in vocabulary order, and the
    track ids, see :func:`songspace._util.pack_ids`, so readers match rows by id),
    Word2Vec text format ``embeddings.w2v.txt`` (embedded tracks, by track id; white
    space and ``%`` in ids percent-encoded, see :func:`songspace._util.w2v_token`) and
    the TensorBoard Embedding Projector's ``projector/vectors.tsv`` + ``projector/metadata.tsv``.
    Each file goes through the atomic writer (:func:`songspace._util.atomic_write`)."""
    d = Path(directory)
    ids = ds.tracks["track_id"].to_numpy(dtype=object)
    arrays = {"embeddings": emb, "available": avail, **pack_ids(ids)}
    atomic_write_npz(d / "embeddings.npz", arrays)
    rows = np.flatnonzero(avail)
    # the vectors formatted once ("%.6g", tab-separated), for both text files
    row_format = "\t".join(["%.6g"] * emb.shape[1]) + "\n"  # np.savetxt's, in memory
    tsv = "".join(row_format % tuple(v) for v in emb[rows])

    def w2v(fh: Any) -> None:
        fh.write(f"{len(rows)} {emb.shape[1]}\n")
        lines = tsv.replace("\t", " ").splitlines()
        fh.writelines(f"{w2v_token(ids[i])} {line}\n" for i, line in zip(rows, lines, strict=True))

    atomic_write(d / "embeddings.w2v.txt", w2v, encoding="utf-8")
    proj = d / "projector"
    atomic_write(proj / "vectors.tsv", lambda fh: fh.write(tsv), encoding="utf-8")
    meta = ds.tracks.iloc[rows][["track_id", "track_name", "artist_name", "genre"]]
    clean = meta.astype(object).where(meta.notna(), "")
    clean = clean.apply(lambda c: c.astype(str).str.replace("\t", " ").str.replace("\n", " "))
    atomic_write(
        proj / "metadata.tsv",
        lambda fh: clean.to_csv(fh, sep="\t", index=False),
        encoding="utf-8",
    )
