"""The model interface every embedding model implements (SPEC §3).

Contract (scikit-learn conventions):

- ``__init__`` only stores hyper-parameters, as keyword arguments with defaults,
  each under its own name; it never validates or trains.
- Each class declares its parameters once, in ``parameter_constraints`` (one
  :mod:`songspace.params` constraint per constructor parameter): the range
  check, the integer check, the command-line parsing and the error text all come
  from it. ``check_params()`` validates the stored parameters (``ParameterError``
  naming the parameter, its constraint and the value); a rule that ties several
  parameters together lives in ``_check_param_rules``.
- :func:`songspace.models.create` builds a model from stored or command-line values
  (every path that rebuilds a model goes through it).
- ``fit(dataset, *, progress=None) -> self`` validates the parameters, trains, and
  sets the fitted attributes, whose names end in ``_``:
  ``embeddings_`` (float32, one row per track of ``dataset``'s vocabulary),
  ``available_`` (bool per track: False for tracks the model could not embed,
  e.g. never seen in training), ``training_time_`` (seconds), ``n_tracks_``.
  ``fit`` runs the model's own training loop ``_fit``; ``fit_with(loop, dataset)``
  runs another :class:`TrainingLoop` (e.g. the data-parallel one of
  :mod:`songspace.models.distributed`) inside the same validation, timing and
  storage of the fitted attributes.
- ``update(new, *, history, progress=None, **settings) -> self`` continues training
  on new sequences (``songspace update``, :mod:`songspace.models.update`): ``new`` and
  ``history`` (every sequence the model has trained on) share one vocabulary that
  extends the fitted one (the fitted tracks first, in their order), and the fitted
  attributes then cover it. A model implements ``_update`` and declares its settings in
  ``update_constraints`` (defaults: ``update_defaults()``); one that does not says why
  (``update_unsupported``) with :class:`~songspace.errors.UpdateNotSupportedError`.
- ``get_params()`` returns the constructor's parameters; ``set_params(**p)``
  changes them. A parameter may take a value the model resolves from the training
  data (Track2Vec's ``epochs="auto"``): ``resolve_params(dataset)`` says what ``fit``
  trains with, and ``fit`` stores it as ``fitted_params_`` (saved in ``model.json``
  as ``fitted_params``, so a saved model says what it used).
- ``presets`` names configurations (``create(name, preset=...)``,
  ``songspace train --preset``); ``reference_params()`` is the configuration tuning
  measures against (the defaults, or the preset ``reference_preset`` names).
- ``required_feature_groups()`` names the dataset's feature groups the model needs
  (inputs and task targets); ``input_feature_groups()`` those it reads as input.
- ``save(path)`` writes ``path/model.json`` (class, format version, parameters,
  training time) and ``path/arrays.npz`` (the fitted arrays) atomically; no
  pickle. ``load(path)`` restores a model whose ``embeddings_`` are identical.
  ``pickle.dumps`` of a fitted model works too (no local classes are kept).
- Everything random is driven by ``seed``; with the same seed (and one worker
  where a library needs it) two fits give the same embeddings.
- Long work reports progress to ``progress`` (a
  :class:`songspace.progress.ProgressCallback`, ``progress(done, total, message)``)
  when one is given; ``done`` may be fractional (within an epoch). An exception
  raised by ``progress`` stops training and propagates from ``fit``.

:class:`InductiveModel` is the base of models that embed tracks unseen in training
(``embed(dataset, tracks)``).
"""

from __future__ import annotations

import inspect
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from songspace._checks import NUMPY_READ_ERRORS, RETRAIN_FIX, check_finite_rows, check_format
from songspace._util import atomic_directory, to_jsonable
from songspace.data.dataset import Dataset
from songspace.errors import (
    ModelFormatError,
    NotFittedError,
    ParameterError,
    UpdateNotSupportedError,
)
from songspace.models.space import SearchSpace
from songspace.params import Constraint, check_param
from songspace.progress import ProgressCallback

MODEL_FORMAT_VERSION = 1
MODEL_FORMAT = "songspace-model"


class TrainingLoop(Protocol):
    """A training loop :meth:`EmbeddingModel.fit_with` runs: trains on ``dataset``
    (reporting to ``progress``) and returns ``(embeddings (n_tracks, d), available
    (n_tracks,))``. A model's own loop is its bound ``_fit``."""

    def __call__(
        self, dataset: Dataset, progress: ProgressCallback | None, /
    ) -> tuple[np.ndarray, np.ndarray]: ...


class EmbeddingModel(ABC):
    """Base class of every songspace embedding model; see the module docstring."""

    #: Registry name (``songspace train NAME``).
    name: ClassVar[str] = ""
    #: Whether ``embed`` can embed tracks unseen in training (True on InductiveModel;
    #: kept for callers that test the flag).
    inductive: ClassVar[bool] = False
    #: One constraint per constructor parameter (see :mod:`songspace.params`).
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: Parameter names that ``model.json`` files of older versions stored -> the current
    #: names; only :meth:`load` reads them (the constructor and ``create`` take the
    #: current names alone).
    stored_renames: ClassVar[dict[str, str]] = {}
    #: Hyper-parameter search space for ``songspace tune`` (see :mod:`songspace.models.space`).
    search_space: ClassVar[SearchSpace] = {}
    #: Searched parameters that go beyond the paper's space, with why (``songspace models``).
    search_notes: ClassVar[dict[str, str]] = {}
    #: The parameter an equal-time tuning budget sets (training cost is about linear in it);
    #: None: the model cannot run equal-time trials (``songspace.tuning.budget``).
    budget_param: ClassVar[str | None] = None
    #: Named configurations: preset name -> the parameter values it sets (the others keep
    #: their defaults); ``create(name, preset=...)``, ``songspace train --preset``.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: The preset tuning measures against (time budget, rVRC reference); None: the defaults.
    reference_preset: ClassVar[str | None] = None
    #: The settings :meth:`update` accepts (name -> constraint); defaults:
    #: :meth:`update_defaults`. Empty on a model that cannot be updated.
    update_constraints: ClassVar[dict[str, Constraint]] = {}
    #: Why a model without ``_update`` cannot be updated (UpdateNotSupportedError).
    update_unsupported: ClassVar[str] = "it has no incremental training"

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
        return [
            p
            for p, v in sig.parameters.items()
            if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
        ]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        names = cls._param_names()
        return {p: sig.parameters[p].default for p in names}

    @classmethod
    def preset_params(cls, name: str) -> dict[str, Any]:
        """The parameter values of the preset ``name`` (:attr:`presets`); ParameterError
        naming the presets the class has."""
        if name not in cls.presets:
            known = ", ".join(map(repr, cls.presets)) or "none"
            raise ParameterError(
                "preset",
                f"a preset of {cls.__name__} ({known})",
                name,
                fix="`songspace models` lists each model's presets",
            )
        return dict(cls.presets[name])

    @classmethod
    def reference_params(cls) -> dict[str, Any]:
        """The configuration tuning trains as its reference (the time budget and the rVRC
        reference of new studies): the defaults, with :attr:`reference_preset` applied."""
        preset = cls.preset_params(cls.reference_preset) if cls.reference_preset else {}
        return {**cls.default_params(), **preset}

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def resolve_params(self, dataset: Dataset) -> dict[str, Any]:
        """The parameters ``fit`` trains with on ``dataset``: :meth:`get_params` with every
        value the model sets from the data (such as ``"auto"``) resolved. The base class
        resolves nothing."""
        return self.get_params()

    def set_params(self, **params: Any) -> EmbeddingModel:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ParameterError(
                    k, f"a parameter of {type(self).__name__} ({', '.join(valid)})", v
                )
            setattr(self, k, v)
        return self

    @classmethod
    def coerce_params(
        cls, params: Mapping[str, Any] | None, *, from_strings: bool = False
    ) -> dict[str, Any]:
        """``params`` in the types the constructor expects, as the constraints say.

        JSON lists become tuples where the constraint
        is a tuple; with ``from_strings`` every string value is parsed as a
        command-line ``NAME=VALUE`` value would be (``"25,10"`` -> ``(25, 10)``).
        Unknown names raise ParameterError. Nothing is validated here.
        """
        names = cls._param_names()
        out: dict[str, Any] = {}
        for name, value in (params or {}).items():
            if name not in names:
                raise ParameterError(
                    name,
                    f"a parameter of {cls.__name__} ({', '.join(names)})",
                    value,
                    fix="`songspace models` lists every model's parameters",
                )
            constraint = cls.parameter_constraints.get(name)
            if constraint is None:
                out[name] = value
            elif from_strings and isinstance(value, str):
                try:
                    out[name] = constraint.from_string(value.strip())
                except ValueError:
                    raise ParameterError(
                        name, constraint.describe(), value, fix="see `songspace models`"
                    ) from None
            else:
                out[name] = constraint.convert(value)
        return out

    def check_params(self) -> None:
        """Validate the stored parameters against ``parameter_constraints`` (and the
        class's cross-parameter rules); ParameterError on the first violation."""
        for name in self._param_names():
            constraint = self.parameter_constraints.get(name)
            if constraint is None:
                raise ParameterError(
                    name,
                    f"a constraint for every parameter of {type(self).__name__}",
                    "none declared",
                    fix=f"add `{name}` to {type(self).__name__}.parameter_constraints",
                )
            value = getattr(self, name)
            if not constraint.is_satisfied_by(value):
                raise ParameterError(name, constraint.describe(), value)
        self._check_param_rules()

    def _check_param_rules(self) -> None:  # noqa: B027 - optional hook
        """Rules that tie parameters together (each one documented where it is defined)."""

    def check_write_paths(  # noqa: B027 - optional hook
        self, inputs: Iterable[str | Path | None] = ()
    ) -> None:
        """Refuse a path the model itself writes while fitting (a parameter such as
        GraphSAGE's ``checkpoint_dir``) where writing would destroy data; nothing to check
        by default. ``fit`` calls it without ``inputs``; a command (``train_model``,
        ``tune``) calls it first with its inputs and output, which such a path must not
        be, contain or lie inside (:func:`songspace._util.check_not_input`)."""

    # --------------------------------------------------------- feature groups
    def input_feature_groups(self) -> tuple[str, ...]:
        """The dataset's feature groups this model reads as input (none by default)."""
        return tuple(getattr(self, "feature_groups", ()) or ())

    def required_feature_groups(self) -> tuple[str, ...]:
        """The feature groups the dataset must have for ``fit``: inputs and task targets."""
        return self.input_feature_groups()

    # -------------------------------------------------------------- training
    def fit(self, dataset: Dataset, *, progress: ProgressCallback | None = None) -> EmbeddingModel:
        """Validate parameters, train on ``dataset`` and return ``self``.

        ``progress(done, total, message)`` is called as training advances; an
        exception it raises stops training and propagates.
        """
        return self.fit_with(self._fit, dataset, progress=progress)

    def fit_with(
        self,
        loop: TrainingLoop,
        dataset: Dataset,
        *,
        progress: ProgressCallback | None = None,
    ) -> EmbeddingModel:
        """``fit`` with ``loop`` as the training loop instead of the model's own
        ``_fit``: validate the parameters, run ``loop(dataset, progress)``, store its
        embeddings and availability as the fitted attributes, return ``self``. The
        seam for a loop composed outside the model (the data-parallel loop of
        :mod:`songspace.models.distributed`); ``fit(dataset)`` is
        ``fit_with(self._fit, dataset)``."""
        if "progress" in vars(self):
            raise ParameterError(
                "progress",
                "a callback passed as fit(dataset, progress=...)",
                "an attribute `progress` set on the model (no longer read)",
                fix="pass it to fit: model.fit(dataset, progress=callback)",
            )
        self.check_params()
        self.check_write_paths()
        if dataset.n_entries == 0:
            raise ParameterError("dataset", "a dataset with at least one entry", "empty")
        fitted_params = self.resolve_params(dataset)
        t0 = time.perf_counter()
        embeddings, available = loop(dataset, progress)
        self.training_time_ = time.perf_counter() - t0
        self.fitted_params_ = fitted_params
        self._store_fitted(embeddings, available, dataset.n_tracks)
        return self

    def _store_fitted(self, embeddings: np.ndarray, available: np.ndarray, n_tracks: int) -> None:
        """Set ``embeddings_`` (float32, zero rows where unavailable), ``available_`` and
        ``n_tracks_`` from what a training loop (or an update) returned."""
        self.embeddings_ = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.available_ = np.asarray(available, dtype=bool)
        self.n_tracks_ = n_tracks
        if self.embeddings_.shape[0] != n_tracks or self.available_.shape != (n_tracks,):
            raise RuntimeError(f"{type(self).__name__}'s training loop returned misaligned arrays")
        self.embeddings_[~self.available_] = 0.0

    @abstractmethod
    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Train; return (embeddings (n_tracks, d), available (n_tracks,))."""

    def check_fitted(self) -> None:
        if not hasattr(self, "embeddings_"):
            raise NotFittedError(type(self).__name__)

    # ---------------------------------------------------------------- updates
    @classmethod
    def can_update(cls) -> bool:
        """Whether the model continues training on new sequences (:meth:`update`)."""
        return cls._update is not EmbeddingModel._update

    def update_defaults(self) -> dict[str, Any]:
        """The default of every update setting (they may depend on the parameters)."""
        return {}

    def update_settings(
        self, settings: Mapping[str, Any] | None = None, *, from_strings: bool = False
    ) -> dict[str, Any]:
        """Every update setting: :meth:`update_defaults` overridden by ``settings``
        (strings parsed as on the command line with ``from_strings``), each checked
        against ``update_constraints``; ParameterError naming an unknown or bad one."""
        names = list(self.update_constraints)
        out = self.update_defaults()
        for name, value in (settings or {}).items():
            constraint = self.update_constraints.get(name)
            if constraint is None:
                raise ParameterError(
                    name,
                    f"an update setting of {type(self).__name__} ({', '.join(names) or 'none'})",
                    value,
                    fix="docs/updates.md lists each model's update settings",
                )
            if from_strings and isinstance(value, str):
                try:
                    value = constraint.from_string(value.strip())
                except ValueError:
                    raise ParameterError(name, constraint.describe(), value) from None
            out[name] = constraint.convert(value)
        return {
            name: check_param(name, v, self.update_constraints[name]) for name, v in out.items()
        }

    def check_updatable(self) -> None:
        """UpdateNotSupportedError, saying why and what to do, unless the model can be
        updated; NotFittedError unless it is fitted."""
        if not self.can_update():
            raise UpdateNotSupportedError(
                self.name or type(self).__name__,
                self.update_unsupported,
                fix="retrain on the old and the new sequences together (`songspace train`)",
            )
        self.check_fitted()

    def update(
        self,
        new: Dataset,
        *,
        history: Dataset,
        progress: ProgressCallback | None = None,
        **settings: Any,
    ) -> EmbeddingModel:
        """Continue training on the sequences of ``new`` and return ``self``.

        ``new`` and ``history`` (the sequences the model has trained on so far) share one
        track vocabulary, which extends the fitted one: the fitted model's tracks are its
        first ``n_tracks_`` rows, in their order, and tracks new to the model follow.
        Afterwards ``embeddings_`` and ``available_`` cover that vocabulary, and
        ``update_time_`` holds the seconds the update took. ``settings`` are the model's
        update settings (:meth:`update_settings`). A model that cannot be updated raises
        UpdateNotSupportedError (with the fix: retrain).
        """
        self.check_updatable()
        resolved = self.update_settings(settings)
        self._check_update_data(new, history)
        t0 = time.perf_counter()
        embeddings, available = self._update(new, history, progress, resolved)
        self.update_time_ = time.perf_counter() - t0
        self._store_fitted(embeddings, available, new.n_tracks)
        return self

    def _check_update_data(self, new: Dataset, history: Dataset) -> None:
        """``new`` and ``history`` on one vocabulary extending the fitted one."""
        if new.n_entries == 0:
            raise ParameterError("new", "a dataset with at least one entry", "empty")
        if history.n_tracks != new.n_tracks or new.n_tracks < self.n_tracks_:
            raise ParameterError(
                "history",
                f"the vocabulary of `new` ({new.n_tracks} tracks), extending the model's "
                f"{self.n_tracks_}",
                f"{history.n_tracks} tracks",
                fix="put both on one vocabulary (songspace.data.vocabulary.extend_vocabulary)",
            )

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Continue training; return (embeddings, available) over ``new``'s vocabulary."""
        raise NotImplementedError  # models that can update override it (see can_update)

    # ----------------------------------------------------------------- saving
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays beyond the embeddings that ``load`` must restore."""
        return {}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:  # noqa: B027
        """Restore what ``_extra_arrays`` saved (nothing by default)."""

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``path/model.json`` + ``path/arrays.npz`` atomically (no pickle).

        NotFittedError when the model was never fitted."""
        self.check_fitted()
        path = Path(path)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            arrays = {
                "embeddings": self.embeddings_,
                "available": self.available_,
                **self._extra_arrays(),
            }
            np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
            doc = {
                "format": MODEL_FORMAT,
                "format_version": MODEL_FORMAT_VERSION,
                "model": self.name,
                "class": type(self).__name__,
                "params": to_jsonable(self.get_params()),
                "fitted_params": to_jsonable(getattr(self, "fitted_params_", self.get_params())),
                "training_time": self.training_time_,
                "n_tracks": self.n_tracks_,
            }
            (tmp / "model.json").write_text(json.dumps(doc, indent=2) + "\n")
        return path

    @classmethod
    def read_description(cls, path: str | Path) -> dict[str, Any]:
        """The checked ``model.json`` of the model saved in ``path`` (format, version,
        a model name); ModelFormatError naming the file, the field and the fix."""
        path = Path(path)
        meta = path / "model.json"
        if not meta.is_file():
            raise ModelFormatError(
                "expected model.json in the model directory, found none",
                path=path,
                fix="point to a directory written by model.save or `songspace train`",
            )
        try:
            doc = json.loads(meta.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFormatError(
                f"expected JSON, found invalid JSON ({exc})", path=meta, fix=RETRAIN_FIX
            ) from exc
        check_format(
            doc,
            name=MODEL_FORMAT,
            version=MODEL_FORMAT_VERSION,
            path=meta,
            error=ModelFormatError,
            fix_format="point to a directory written by model.save or `songspace train`",
            fix_version="retrain the model with this songspace version",
        )
        if not isinstance(doc.get("model"), str):
            raise ModelFormatError(
                f"expected a model name, found {doc.get('model')!r}",
                path=meta,
                field="model",
                fix=RETRAIN_FIX,
            )
        return dict(doc)

    @classmethod
    def described_class(cls, doc: Mapping[str, Any], path: str | Path) -> type[EmbeddingModel]:
        """The registered class ``doc`` (:meth:`read_description` of ``path``) names, a
        subclass of ``cls``; ModelFormatError otherwise. MissingDependencyError when
        its extra is not installed."""
        from songspace.models.registry import get_model_class

        meta = Path(path) / "model.json"
        try:
            klass = get_model_class(doc["model"])
        except ParameterError as exc:
            raise ModelFormatError(
                f"expected a registered model name, found {doc['model']!r} ({exc})",
                path=meta,
                field="model",
                fix=RETRAIN_FIX,
            ) from None
        if cls is not EmbeddingModel and not issubclass(klass, cls):
            raise ModelFormatError(
                f"expected a {cls.__name__}, found a {klass.__name__}",
                path=meta,
                field="model",
                fix=f"load it with {klass.__name__}.load or EmbeddingModel.load",
            )
        return klass

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingModel:
        """Load a saved model (of this class, or any registered class via the base).

        Every part is checked: ``model.json`` (format, model name, each parameter
        within its constraint, ``n_tracks``, ``training_time``) and ``arrays.npz``
        (readable without pickle, every array the model saves, finite numbers,
        ``embeddings`` of ``n_tracks`` rows, a boolean ``available`` mask, the extra
        arrays fitting the parameters). A damaged file raises ModelFormatError naming
        the file and the field, with the fix "retrain"."""
        from songspace.models.registry import create

        path = Path(path)
        doc = cls.read_description(path)
        klass = cls.described_class(doc, path)
        meta = path / "model.json"
        try:
            if not isinstance(doc.get("params"), Mapping):
                raise TypeError(f"{type(doc.get('params')).__name__} instead of an object")
            # an old file may use a renamed parameter: it loads (and re-saves) under the new name
            model = create(klass, klass._stored_params(doc["params"]), check=False)
            model._check_constraints()
        except (ParameterError, TypeError, ValueError) as exc:
            raise ModelFormatError(
                f"expected the parameters of a saved {klass.__name__}, found {exc}",
                path=meta,
                field="params",
                fix=RETRAIN_FIX,
            ) from None
        model.fitted_params_ = _stored_fitted_params(klass, doc, meta, model.get_params())
        n_tracks = _stored_number(doc, "n_tracks", int, meta)
        training_time = _stored_number(doc, "training_time", float, meta)
        arrays = read_model_arrays(path / "arrays.npz", n_tracks)
        model.embeddings_ = arrays.pop("embeddings")
        model.available_ = arrays.pop("available")
        model.training_time_ = training_time
        model.n_tracks_ = n_tracks
        stored = set(arrays)
        try:
            model._restore_extra(arrays)
            expected = set(model._extra_arrays())
        except Exception as exc:  # any way the extra arrays do not fit the parameters
            raise ModelFormatError(
                f"expected the arrays of a {klass.__name__} with the parameters in "
                f"model.json, found arrays that do not fit them ({_reason(exc)})",
                path=path / "arrays.npz",
                fix=RETRAIN_FIX,
            ) from None
        if expected - stored:  # arrays older versions wrote beside them are ignored
            raise ModelFormatError(
                f"expected the arrays a {klass.__name__} saves, found an archive that does "
                f"not hold the model's arrays ({sorted(expected - stored)[:3]} missing)",
                path=path / "arrays.npz",
                fix=RETRAIN_FIX,
            )
        return model

    @classmethod
    def _stored_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters of a saved ``model.json`` under the current names
        (:attr:`stored_renames`; a file naming both the old and the new name keeps both,
        and fails as an unknown parameter)."""
        out = dict(params)
        for old, new in cls.stored_renames.items():
            if old in out and new not in out:
                out[new] = out.pop(old)
        return out

    def _check_constraints(self) -> None:
        """Each stored parameter within its constraint (``check_params`` without the
        rules, which may depend on this machine, e.g. a CUDA device)."""
        for name, value in self.get_params().items():
            constraint = self.parameter_constraints.get(name)
            if constraint is not None and not constraint.is_satisfied_by(value):
                raise ParameterError(name, constraint.describe(), value)


def _reason(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for an error's detail."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _stored_fitted_params(
    klass: type[EmbeddingModel], doc: Mapping[str, Any], path: Path, params: dict[str, Any]
) -> dict[str, Any]:
    """``doc["fitted_params"]`` checked against the class's constraints (``params``, the
    model's own, when a file written before they were recorded has none)."""
    from songspace.models.registry import create

    stored = doc.get("fitted_params")
    if stored is None:
        return dict(params)
    try:
        if not isinstance(stored, Mapping):
            raise TypeError(f"{type(stored).__name__} instead of an object")
        fitted = create(klass, klass._stored_params(stored), check=False)
        fitted._check_constraints()
    except (ParameterError, TypeError, ValueError) as exc:
        raise ModelFormatError(
            f"expected the parameters a {klass.__name__} trained with, found {exc}",
            path=path,
            field="fitted_params",
            fix=RETRAIN_FIX,
        ) from None
    return fitted.get_params()


def _stored_number(doc: Mapping[str, Any], field: str, kind: type, path: Path) -> Any:
    """``doc[field]`` as ``kind`` (int: a whole number >= 0; float: finite, >= 0)."""
    value = doc.get(field)
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
        and (kind is float or float(value).is_integer())
    )
    if not ok:
        raise ModelFormatError(
            f"expected a {'whole ' if kind is int else ''}number >= 0, found {value!r}",
            path=path,
            field=field,
            fix=RETRAIN_FIX,
        )
    return kind(value)


def read_model_arrays(path: Path, n_tracks: int) -> dict[str, np.ndarray]:
    """The arrays of a saved model's ``arrays.npz``, checked: readable without pickle,
    real-valued or text, finite, ``embeddings`` (``n_tracks`` x d floats) and
    ``available`` (``n_tracks`` booleans) present. ModelFormatError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except NUMPY_READ_ERRORS as exc:
        raise ModelFormatError(
            f"expected a readable .npz archive (no pickled objects), found {_reason(exc)}",
            path=path,
            fix=RETRAIN_FIX,
        ) from None
    for name in ("embeddings", "available"):
        if name not in arrays:
            raise ModelFormatError(
                f"expected an array named {name!r}, found {sorted(arrays)[:5]}",
                path=path,
                field=name,
                fix=RETRAIN_FIX,
            )
    for name, a in arrays.items():
        if a.dtype.kind not in "biufU":
            raise ModelFormatError(
                f"expected numbers, found dtype {a.dtype}", path=path, field=name, fix=RETRAIN_FIX
            )
    emb, avail = arrays["embeddings"], arrays["available"]
    if emb.dtype.kind != "f" or emb.ndim != 2 or emb.shape[0] != n_tracks:
        raise ModelFormatError(
            f"expected a float matrix of {n_tracks} rows (n_tracks in model.json), found "
            f"{emb.dtype} of shape {emb.shape}",
            path=path,
            field="embeddings",
            fix=RETRAIN_FIX,
        )
    if avail.dtype != np.bool_ or avail.shape != (n_tracks,):
        raise ModelFormatError(
            f"expected an available mask of bool ({n_tracks},), found an available mask "
            f"of {avail.dtype} {avail.shape}",
            path=path,
            field="available",
            fix=RETRAIN_FIX,
        )
    check_finite_rows(emb, path=path, field="embeddings")
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelFormatError(
                f"expected finite numbers, found {int((~np.isfinite(a)).sum())} NaN or inf "
                f"of {a.size} values",
                path=path,
                field=name,
                fix=RETRAIN_FIX,
            )
    return arrays


class InductiveModel(EmbeddingModel):
    """A model that embeds tracks unseen in training, from a grown dataset, without
    retraining (GraphSAGE and MUSIG, MUSIG §3.3)."""

    inductive: ClassVar[bool] = True
    update_unsupported: ClassVar[str] = (
        "it has no incremental training; `songspace embed RUN NEW_DATA -o OUT` embeds new "
        "tracks from their features and edges with no retraining"
    )

    @abstractmethod
    def embed(
        self, dataset: Dataset, tracks: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """Embeddings of ``tracks`` (indices into ``dataset``; default all) computed on
        ``dataset`` with the trained model."""

    def embed_all(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, available) of every track of ``dataset`` (another dataset, or
        one that has grown), with no retraining; every track is available unless a
        subclass says which it cannot embed."""
        emb = np.asarray(self.embed(dataset), dtype=np.float32)
        return emb, np.ones(dataset.n_tracks, dtype=bool)
