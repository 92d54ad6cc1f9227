"""The model interface every embedding model implements (SPEC §3).

Contract (scikit-learn conventions):

- ``__init__`` only stores hyper-parameters, as keyword arguments with defaults,
  each under its own name; it never validates or trains.
- ``fit(dataset) -> self`` validates the parameters (``ParameterError`` naming the
  parameter, its allowed range and the value), trains, and sets the fitted
  attributes, whose names end in ``_``:
  ``embeddings_`` (float32, one row per track of ``dataset``'s vocabulary),
  ``available_`` (bool per track: False for tracks the model could not embed,
  e.g. never seen in training), ``training_time_`` (seconds), ``n_tracks_``.
- ``get_params()`` returns the constructor's parameters; ``set_params(**p)``
  changes them.
- ``save(path)`` writes ``path/model.json`` (class, format version, parameters,
  training time) and ``path/arrays.npz`` (the fitted arrays) atomically; no
  pickle. ``load(path)`` restores a model whose ``embeddings_`` are identical.
- Everything random is driven by ``seed``; with the same seed (and one worker
  where a library needs it) two fits give the same embeddings.
- Long work reports progress to ``progress`` (a callable taking (done, total,
  message)) when one is given; ``done`` may be fractional (within an epoch). An
  exception raised by ``progress`` stops training and propagates from ``fit``.
"""

from __future__ import annotations

import inspect
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from songspace._util import atomic_directory
from songspace.data.dataset import Dataset
from songspace.errors import DatasetFormatError, ParameterError
from songspace.models.space import SearchSpace

MODEL_FORMAT_VERSION = 1
ProgressCallback = Callable[[int, int, str], None]


class EmbeddingModel(ABC):
    """Base class of every songspace embedding model; see the module docstring."""

    #: Registry name (``songspace train NAME``).
    name: ClassVar[str] = ""
    #: Whether ``embed`` can embed tracks unseen in training.
    inductive: ClassVar[bool] = False
    #: Parameter -> (low, high) allowed range for numeric parameters (inclusive).
    param_ranges: ClassVar[dict[str, tuple[float, float]]] = {}
    #: Parameters that must be integers (``seed`` always is).
    integer_params: ClassVar[tuple[str, ...]] = ()
    #: Hyper-parameter search space for ``songspace tune`` (see :mod:`songspace.models.space`).
    search_space: ClassVar[SearchSpace] = {}
    #: Searched parameters that go beyond the paper's space, with why (``songspace models``).
    search_notes: ClassVar[dict[str, str]] = {}
    #: The parameter an equal-time tuning budget sets (training cost is about linear in it);
    #: None: the model cannot run equal-time trials (``songspace.tuning.budget``).
    budget_param: ClassVar[str | None] = None

    progress: ProgressCallback | None = None

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Relative training work per unit of :attr:`budget_param` for ``params`` on
        ``dataset`` (a product of the cost knobs). The tuning cost model scales it by
        coefficients measured on the reference run and the trials; 1.0 by default."""
        return 1.0

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {p: v.default for p, v in sig.parameters.items() if p != "self"}

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params: Any) -> EmbeddingModel:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ParameterError(
                    k, f"a parameter of {type(self).__name__} ({', '.join(valid)})", v
                )
            setattr(self, k, v)
        return self

    def _validate_params(self) -> None:
        """Check every parameter with a declared range; subclasses add their own checks."""
        for p, (lo, hi) in self.param_ranges.items():
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ParameterError(p, f"`{p}` is a number in [{lo}, {hi}]", v)
            if not lo <= v <= hi:
                raise ParameterError(p, f"`{lo} <= {p} <= {hi}`", v)
        names = self._param_names()
        for p in (*self.integer_params, "seed"):
            v = getattr(self, p) if p in names else 0
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ParameterError(p, f"`{p}` is an integer", v)
        if "seed" in names and not 0 <= self.seed < 2**32:
            raise ParameterError("seed", "`0 <= seed < 2**32`", self.seed)

    # -------------------------------------------------------------- training
    def fit(self, dataset: Dataset) -> EmbeddingModel:
        """Validate parameters, train on ``dataset`` and return ``self``."""
        self._validate_params()
        if dataset.n_entries == 0:
            raise ParameterError("dataset", "a dataset with at least one entry", "empty")
        t0 = time.perf_counter()
        embeddings, available = self._fit(dataset)
        self.training_time_ = time.perf_counter() - t0
        self.embeddings_ = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.available_ = np.asarray(available, dtype=bool)
        self.n_tracks_ = dataset.n_tracks
        if self.embeddings_.shape[0] != dataset.n_tracks or self.available_.shape != (
            dataset.n_tracks,
        ):
            raise RuntimeError(f"{type(self).__name__}._fit returned misaligned arrays")
        self.embeddings_[~self.available_] = 0.0
        return self

    @abstractmethod
    def _fit(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Train; return (embeddings (n_tracks, d), available (n_tracks,))."""

    def _report(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    def check_fitted(self) -> None:
        if not hasattr(self, "embeddings_"):
            raise ParameterError(
                "model", "the model is fitted", "not fitted", fix="call fit(dataset) first"
            )

    # ----------------------------------------------------------------- saving
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays beyond the embeddings that ``load`` must restore."""
        return {}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:  # noqa: B027
        """Restore what ``_extra_arrays`` saved (nothing by default)."""

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``path/model.json`` + ``path/arrays.npz`` atomically (no pickle)."""
        self.check_fitted()
        path = Path(path)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            arrays = {
                "embeddings": self.embeddings_,
                "available": self.available_,
                **self._extra_arrays(),
            }
            np.savez(tmp / "arrays.npz", **arrays)
            doc = {
                "format": "songspace-model",
                "format_version": MODEL_FORMAT_VERSION,
                "model": self.name,
                "class": type(self).__name__,
                "params": _jsonable_params(self.get_params()),
                "training_time": self.training_time_,
                "n_tracks": self.n_tracks_,
            }
            (tmp / "model.json").write_text(json.dumps(doc, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingModel:
        """Load a saved model (of this class, or any registered class via the base)."""
        from songspace.models.registry import get_model_class

        path = Path(path)
        meta = path / "model.json"
        if not meta.is_file():
            raise DatasetFormatError(
                "expected model.json in the model directory, found none",
                path=path,
                fix="point to a directory written by model.save or `songspace train`",
            )
        doc = json.loads(meta.read_text())
        if doc.get("format") != "songspace-model" or doc.get("format_version") != (
            MODEL_FORMAT_VERSION
        ):
            raise DatasetFormatError(
                f"expected songspace-model format version {MODEL_FORMAT_VERSION}, found "
                f"{doc.get('format')!r} version {doc.get('format_version')!r}",
                path=meta,
                field="format_version",
                fix="retrain the model with this songspace version",
            )
        klass = get_model_class(doc["model"])
        if cls is not EmbeddingModel and not issubclass(klass, cls):
            raise DatasetFormatError(
                f"expected a {cls.__name__}, found a {klass.__name__}",
                path=meta,
                field="model",
                fix=f"load it with {klass.__name__}.load or EmbeddingModel.load",
            )
        defaults = klass.default_params()
        params = {
            k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v
            for k, v in doc["params"].items()
        }
        model = klass(**params)
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        model.embeddings_ = arrays.pop("embeddings")
        model.available_ = arrays.pop("available")
        model.training_time_ = float(doc["training_time"])
        model.n_tracks_ = int(doc["n_tracks"])
        model._restore_extra(arrays)
        return model


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out
