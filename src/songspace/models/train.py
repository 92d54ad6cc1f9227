"""Train a registered model on a dataset and export its embeddings (``songspace train``).

By default the model trains on the evaluation protocol's training view (the
seeded sequence split of :func:`songspace.data.splits.split_sequences`, the last
entry of every training sequence masked), so ``songspace evaluate`` with the same
``--seed`` and ``--test-fraction`` scores it on queries it never saw.

:func:`train_model` composes the steps of :mod:`songspace.models.run`
(``build_model``, ``training_view``, ``fit``, ``write_run``), as each rank of the
data-parallel run (:mod:`songspace.models.distributed`) does with its own loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from songspace._util import check_output_free
from songspace.data.dataset import Dataset
from songspace.models.base import EmbeddingModel
from songspace.models.run import (
    build_model,
    export_embeddings,
    log_trained,
    log_training,
    read_config,
    training_view,
    write_embeddings,
    write_run,
)
from songspace.progress import ProgressCallback

__all__ = ["export_embeddings", "read_config", "train_model", "write_embeddings"]

logger = logging.getLogger(__name__)


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
    preset: str | None = None,
) -> EmbeddingModel:
    """Fit model ``name`` and write ``out`` (model, embeddings and exports).

    ``params`` override ``config``'s, which override the named ``preset``'s (one of the
    model's ``presets``, e.g. Track2Vec's ``"paper"``: W2V Table 3), which override
    the defaults; strings are parsed
    as on the command line (:func:`songspace.models.create` with ``from_strings``). ``seed``
    and ``test_fraction`` define the split (as in ``songspace evaluate``; None: 1%, or more
    on small data, see :func:`songspace.data.splits.default_test_fraction`), ``full``
    trains on every sequence instead.

    ``nproc`` > 1 trains graphsage or musig data-parallel in that many processes on
    this machine (:mod:`songspace.models.distributed`; ``dataset`` must then be a
    path); the model is read back from ``out``.
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
            preset=preset,
        )
    source = None if isinstance(dataset, Dataset) else dataset
    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=(source, config))
    model = build_model(name, params, config, inputs=(source, config, out), preset=preset)
    ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    view = training_view(ds, seed=seed, test_fraction=test_fraction, full=full)
    log_training(name, view.train)
    model.fit(view.train, progress=progress)
    log_trained(model, ds)
    if out is not None:
        write_run(model, ds, view, out, source=source, overwrite=overwrite)
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
    preset: str | None = None,
) -> EmbeddingModel:
    from songspace.errors import ParameterError
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
    if preset is not None:  # the data-parallel models (GraphSAGE, MUSIG) have none
        raise ParameterError(
            "preset", "no preset when nproc > 1", preset, fix="give its values with --param"
        )
    # workers parse parameter strings themselves; check them here first
    build_model(name, params, config, inputs=(dataset, config, out))
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
    return EmbeddingModel.load(Path(out) / "model")
