"""The train-or-load model cache shared by the runners (compare, cold-start, tune-report).

A trained model is stored under ``CACHE_DIR/<model>-<key[:16]>`` (``model/`` as
written by :meth:`~songspace.models.base.EmbeddingModel.save`, and ``key.json``)
where ``key`` hashes what determines the fitted model: the dataset's content
(:func:`~songspace.data.fingerprint.dataset_fingerprint`), the model name, its
full parameter set (defaults filled in, the run seed as ``seed`` unless given)
and the training view (:func:`split_key`: split seed, fractions, cold-start share,
how the view is derived). Settings that only affect evaluation (seed fraction,
``min_tracks``, k, ...) are not part of the key, so changing them re-evaluates
without retraining; changing one parameter retrains only that model. Entries are
written atomically, so an interrupted run never leaves a half-written model.

This module owns caching: no runner fits a model a cache could have given it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace._util import atomic_directory, to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint, fingerprint_matches
from songspace.progress import ProgressCallback

if TYPE_CHECKING:
    from songspace.evaluation.protocol import Protocol
    from songspace.models.base import EmbeddingModel
    from songspace.reports.config import ModelSpec

__all__ = [
    "CACHE_FORMAT",
    "CachedModel",
    "TrainedModel",
    "UnusableEntry",
    "cache_key",
    "dataset_fingerprint",
    "fingerprint_matches",
    "fit_or_load",
    "load_entry",
    "model_params",
    "split_key",
    "train_or_load",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


@dataclass
class CachedModel:
    """One cache entry a run used: its key, where it lies, and whether this run trained it."""

    model: str
    key: str
    path: Path
    training_time: float
    reused: bool
    coverage: float


@dataclass
class TrainedModel:
    """One model of one seed of an experiment: where it is cached and whether this run
    trained it."""

    spec: ModelSpec
    seed: int
    key: str
    path: Path
    training_time: float
    reused: bool
    coverage: float


def full_params(model: str, params: Mapping[str, Any], seed: int | None = None) -> dict[str, Any]:
    """``model``'s defaults updated by ``params`` (and ``seed`` unless ``params`` has one),
    tuples as lists: the parameter document a cache key hashes (built through
    :func:`songspace.models.create`, so values take the constructor's types)."""
    from songspace.models.registry import create, get_model_class

    defaults = get_model_class(model).default_params()
    given = dict(params)
    if seed is not None and "seed" in defaults and "seed" not in params:
        given["seed"] = seed
    return to_jsonable(create(model, given, check=False).get_params())


def model_params(spec: ModelSpec, seed: int) -> dict[str, Any]:
    """Full parameters of ``spec`` for ``seed``: defaults, config, and the run seed."""
    return full_params(spec.model, spec.params, seed)


def split_key(
    seed: int, fractions: Sequence[float], cold_start_share: float = 0.0
) -> dict[str, Any]:
    """What determines a training view: the seeded split, with every training sequence's
    last entry masked (:func:`songspace.data.splits.mask_last`) and cold tracks dropped.

    The compare protocol and the tuning protocols' full training view share it."""
    return {
        "seed": int(seed),
        "fractions": [float(f) for f in fractions],
        "cold_start_share": float(cold_start_share),
        "training_view": "mask_last",
    }


def cache_key(
    fingerprint: str, model: str, params: dict[str, Any], protocol_key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(hex key, the document hashed) of a trained model; see the module docstring."""
    from songspace.models.base import MODEL_FORMAT_VERSION

    doc = {
        "cache_format": CACHE_FORMAT,
        "model_format": MODEL_FORMAT_VERSION,
        "dataset": fingerprint,
        "model": model,
        "params": params,
        "split": protocol_key,
    }
    text = json.dumps(to_jsonable(doc), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), doc


def _coverage(model: EmbeddingModel) -> float:
    return float(np.mean(model.available_))


class UnusableEntry(Exception):
    """A cache entry that cannot be reused; the message says why (internal to the cache)."""


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_entry(
    path: Path, key: str, model_name: str, params: Mapping[str, Any], train: Dataset
) -> EmbeddingModel:
    """The model stored in the cache entry ``path``, checked against what the caller
    would train: the key in ``key.json``, the model's name, its full parameters, and
    the shape of its embeddings (one row per track of ``train``, ``dim`` columns where
    the model has that parameter) and exactly the arrays this version saves. What the
    stored files themselves must hold (readable arrays, finite numbers, a boolean mask,
    every array the model needs) is checked by :meth:`EmbeddingModel.load`, as for every
    saved model.

    Raises :class:`UnusableEntry` naming the first thing that does not match, or the
    error met while reading (truncated ``arrays.npz``, bad JSON, a missing array...).
    """
    from songspace.models.base import EmbeddingModel

    key_file, meta = path / "key.json", path / "model" / "model.json"
    if not path.is_dir():
        raise UnusableEntry("not a directory")
    if not key_file.is_file():
        raise UnusableEntry("no key.json")
    try:
        stored = json.loads(key_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableEntry(f"key.json is unreadable ({_reason(exc)})") from None
    if not isinstance(stored, dict) or stored.get("key") != key:
        raise UnusableEntry("key.json holds another key than this model's")
    if not meta.is_file():
        raise UnusableEntry("no model/model.json")
    try:
        model = EmbeddingModel.load(path / "model")
    except Exception as exc:  # any way the stored files are broken: retrain
        raise UnusableEntry(f"the model does not load ({_reason(exc)})") from None
    if model.name != model_name:
        raise UnusableEntry(f"it holds a {model.name or type(model).__name__} model")
    got = to_jsonable(model.get_params())
    differ = sorted(k for k in set(got) | set(params) if got.get(k) != params.get(k))
    if differ:
        shown = ", ".join(f"{k}={got.get(k)!r} (expected {params.get(k)!r})" for k in differ[:3])
        raise UnusableEntry(f"its parameters differ: {shown}")
    emb = model.embeddings_
    dim = params.get("dim")
    if (
        emb.ndim != 2
        or emb.shape[0] != train.n_tracks
        or (isinstance(dim, int) and emb.shape[1] != dim)
    ):
        expected = f"({train.n_tracks}, {dim if isinstance(dim, int) else 'dim'})"
        raise UnusableEntry(f"embeddings of shape {emb.shape}, expected {expected}")
    if model.n_tracks_ != train.n_tracks:
        raise UnusableEntry(f"n_tracks {model.n_tracks_} in model.json, expected {train.n_tracks}")
    with np.load(path / "model" / "arrays.npz", allow_pickle=False) as z:  # read by load
        stored_arrays = set(z.files)
    expected_arrays = {"embeddings", "available", *model._extra_arrays()}
    if stored_arrays != expected_arrays:  # an entry holds exactly what this version saves
        odd = sorted(stored_arrays ^ expected_arrays)
        raise UnusableEntry(f"arrays.npz does not hold the model's arrays ({odd[:3]})")
    return model


def fit_or_load(
    model_name: str,
    params: dict[str, Any],
    train: Dataset,
    cache_dir: Path | None,
    fingerprint: str,
    split: dict[str, Any],
    *,
    label: str,
    progress: ProgressCallback | None = None,
    before_fit: Callable[[], Any] | None = None,
) -> tuple[EmbeddingModel, CachedModel]:
    """The model ``model_name(**params)`` fitted on ``train``: from ``cache_dir`` when an
    entry with the same key is there, else trained (and stored when ``cache_dir`` is
    given). An entry that does not load, or whose model does not match (see
    :func:`load_entry`), is warned about, naming the entry and the reason, and
    retrained; the new entry replaces it atomically. ``params`` are full
    (:func:`full_params`); ``label`` names the model in the log; ``before_fit`` runs
    just before a fit this call has to do (e.g. a warm-up so that imports do not count
    in the training time)."""
    from songspace.models.registry import create

    key, doc = cache_key(fingerprint, model_name, params, split)
    path = (cache_dir or Path(".")) / f"{model_name}-{key[:16]}"
    if cache_dir is not None and (path.exists() or path.is_symlink()):
        try:
            model = load_entry(path, key, model_name, params, train)
        except UnusableEntry as exc:
            logger.warning(
                "%s: the cache entry %s is unusable (%s); retraining and replacing it",
                label,
                path,
                exc,
            )
        else:
            logger.info("%s: reusing the trained model in %s", label, path)
            return model, CachedModel(
                model_name, key, path, model.training_time_, True, _coverage(model)
            )
    if before_fit is not None:
        before_fit()
    model = create(model_name, params)
    logger.info("%s: training %s on %d sequences", label, model_name, train.n_sequences)
    model.fit(train, progress=progress)
    logger.info(
        "%s: trained in %.1fs, %.1f%% of tracks embedded",
        label,
        model.training_time_,
        100 * _coverage(model),
    )
    if cache_dir is not None:
        with atomic_directory(path, overwrite=True) as tmp:
            model.save(tmp / "model")
            (tmp / "key.json").write_text(
                json.dumps(to_jsonable({"key": key, **doc}), indent=2) + "\n"
            )
    return model, CachedModel(model_name, key, path, model.training_time_, False, _coverage(model))


def train_or_load(
    spec: ModelSpec,
    protocol: Protocol,
    cache_dir: Path,
    fingerprint: str,
    split: dict[str, Any],
    *,
    progress: ProgressCallback | None = None,
) -> tuple[EmbeddingModel, TrainedModel]:
    """The fitted model of the experiment row ``spec`` on ``protocol.train``: from the
    cache, or trained and cached (atomically). Returns ``(model, TrainedModel)``."""
    model, c = fit_or_load(
        spec.model,
        model_params(spec, protocol.seed),
        protocol.train,
        cache_dir,
        fingerprint,
        split,
        label=f"{spec.name} (seed {protocol.seed})",
        progress=progress,
    )
    return model, TrainedModel(
        spec, protocol.seed, c.key, c.path, c.training_time, c.reused, c.coverage
    )
