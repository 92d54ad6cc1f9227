"""Train a registered model on a dataset and export its embeddings (``songspace train``).

By default the model trains on the evaluation protocol's training view (the
seeded sequence split of :func:`songspace.data.splits.split_sequences`, the last
entry of every training sequence masked), so ``songspace evaluate`` with the same
``--seed`` and ``--test-fraction`` scores it on queries it never saw.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from songspace._checks import check_heldout_share
from songspace._util import atomic_directory, check_output_free, pack_ids, w2v_token
from songspace.data.dataset import Dataset
from songspace.data.provenance import TRAINING_FILE, training_record
from songspace.data.splits import resolve_test_fraction, split_sequences
from songspace.errors import FormatError
from songspace.models.base import EmbeddingModel
from songspace.models.registry import create
from songspace.progress import ProgressCallback

logger = logging.getLogger("songspace")


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


def train_model(
    name: str,
    dataset: Dataset | str | Path,
    out: str | Path | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    config: str | Path | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    full: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    nproc: int = 1,
    fitter: Callable[[EmbeddingModel, Dataset, ProgressCallback | None], None] | None = None,
    check_output: bool = True,
) -> EmbeddingModel:
    """Fit model ``name`` and write ``out`` (model, embeddings and exports).

    ``params`` override ``config``'s, which override the defaults; strings are parsed
    as on the command line (:func:`songspace.models.create` with ``from_strings``). ``seed``
    and ``test_fraction`` define the split (as in ``songspace evaluate``; None: 1%, or more
    on small data, see :func:`songspace.data.splits.default_test_fraction`), ``full``
    trains on every sequence instead.

    ``nproc`` > 1 trains graphsage or musig data-parallel in that many processes on
    this machine (:mod:`songspace.models.distributed`; ``dataset`` must then be a
    path); the model is read back from ``out``. ``fitter`` replaces
    ``model.fit(train, progress=progress)`` (the data-parallel workers use it).
    """
    if nproc > 1:
        return _train_data_parallel(
            name,
            dataset,
            out,
            params=params,
            config=config,
            seed=seed,
            test_fraction=test_fraction,
            full=full,
            overwrite=overwrite,
            progress=progress,
            nproc=nproc,
        )
    source = None if isinstance(dataset, Dataset) else dataset
    if out is not None and check_output:
        check_output_free(out, overwrite=overwrite, inputs=(source, config))
    merged = {**(read_config(config) if config else {}), **(params or {})}
    model = create(name, merged, from_strings=True)
    model.check_write_paths(inputs=(source, config, out))  # e.g. checkpoint_dir
    ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    if full:
        train = ds
        test_fraction = None
    else:
        test_fraction = resolve_test_fraction(ds.n_sequences, test_fraction)
        check_heldout_share(test_fraction, "test_fraction")
        split = split_sequences(
            ds, (1 - 2 * test_fraction, test_fraction, test_fraction), seed=seed
        )
        train = split.training_view(ds)
    logger.info(
        "training %s on %d sequences (%d entries)", name, train.n_sequences, train.n_entries
    )
    if fitter is None:
        model.fit(train, progress=progress)
    else:
        fitter(model, train, progress)
    logger.info(
        "%s trained in %.1fs; %d of %d tracks embedded",
        name,
        model.training_time_,
        int(model.available_.sum()),
        ds.n_tracks,
    )
    if out is not None:
        source = None if isinstance(dataset, Dataset) else dataset
        record = training_record(
            ds,
            source,
            seed=seed,
            test_fraction=test_fraction,
            full=full,
            train_sequences=train.n_sequences,
        )
        with atomic_directory(out, overwrite=overwrite) as tmp:
            export_embeddings(model, ds, tmp)
            model.save(tmp / "model")
            (tmp / TRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return model


def _train_data_parallel(
    name: str,
    dataset: Dataset | str | Path,
    out: str | Path | None,
    *,
    params: Mapping[str, Any] | None,
    config: str | Path | None,
    seed: int,
    test_fraction: float | None,
    full: bool,
    overwrite: bool,
    progress: ProgressCallback | None,
    nproc: int,
) -> EmbeddingModel:
    from songspace.errors import ParameterError
    from songspace.models.base import EmbeddingModel as Base
    from songspace.models.distributed import TrainJob, check_model, launch_local

    check_model(name)
    if isinstance(dataset, Dataset):
        raise ParameterError(
            "dataset",
            "a dataset directory when nproc > 1 (every worker loads it)",
            "an in-memory Dataset",
            fix="save it first (Dataset.save) and pass the path",
        )
    if out is None:
        raise ParameterError("out", "an output directory when nproc > 1", None)
    check_output_free(out, overwrite=overwrite, inputs=(dataset, config))
    # workers parse parameter strings themselves; make every value a string they accept
    merged = {**(read_config(config) if config else {}), **(params or {})}
    create(name, merged, from_strings=True).check_write_paths(inputs=(dataset, config, out))
    job = TrainJob(
        name,
        str(dataset),
        str(out),
        dict(params or {}),
        None if config is None else str(config),
        seed,
        test_fraction,
        full,
        overwrite,
    )
    launch_local(job, nproc, progress)
    return Base.load(Path(out) / "model")


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
    the TensorBoard Embedding Projector's ``projector/vectors.tsv`` + ``projector/metadata.tsv``."""
    d = Path(directory)
    ids = ds.tracks["track_id"].to_numpy(dtype=object)
    arrays = {"embeddings": emb, "available": avail, **pack_ids(ids)}
    np.savez(d / "embeddings.npz", **arrays)  # type: ignore[arg-type]
    rows = np.flatnonzero(avail)
    with open(d / "embeddings.w2v.txt", "w", encoding="utf-8") as fh:
        fh.write(f"{len(rows)} {emb.shape[1]}\n")
        for i in rows:
            fh.write(f"{w2v_token(ids[i])} " + " ".join(f"{v:.6g}" for v in emb[i]) + "\n")
    proj = d / "projector"
    proj.mkdir()
    np.savetxt(proj / "vectors.tsv", emb[rows], delimiter="\t", fmt="%.6g")
    meta = ds.tracks.iloc[rows][["track_id", "track_name", "artist_name", "genre"]]
    clean = meta.astype(object).where(meta.notna(), "")
    clean = clean.apply(lambda c: c.astype(str).str.replace("\t", " ").str.replace("\n", " "))
    clean.to_csv(proj / "metadata.tsv", sep="\t", index=False)
