"""Model registry: names (``songspace train NAME``) to classes.

Models register with :func:`register`; their modules are imported lazily so a
model's heavy dependency (gensim, lightfm, torch) is needed only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from songspace.errors import MissingDependencyError, ParameterError

if TYPE_CHECKING:
    from songspace.models.base import EmbeddingModel

#: name -> (module, class name, extra that provides its dependency)
_LAZY: dict[str, tuple[str, str, str]] = {}
_CLASSES: dict[str, type[EmbeddingModel]] = {}


def register_lazy(name: str, module: str, class_name: str, extra: str) -> None:
    _LAZY[name] = (module, class_name, extra)


def register(cls: type[EmbeddingModel]) -> type[EmbeddingModel]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _CLASSES[cls.name] = cls
    return cls


def available_models() -> list[str]:
    return sorted(set(_LAZY) | set(_CLASSES))


def get_model_class(name: str) -> type[EmbeddingModel]:
    """The class registered as ``name``; ParameterError listing the valid names."""
    if name in _CLASSES:
        return _CLASSES[name]
    if name not in _LAZY:
        raise ParameterError("model", f"one of {available_models()}", name)
    module, class_name, extra = _LAZY[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if not missing or missing.split(".")[0] == "songspace":
            raise
        raise MissingDependencyError(missing, extra, f"the model '{name}'") from exc
    return getattr(mod, class_name)


def create(
    name: str | type[EmbeddingModel],
    params: Mapping[str, Any] | None = None,
    *,
    from_strings: bool = False,
    check: bool = True,
    preset: str | None = None,
) -> EmbeddingModel:
    """The unfitted model ``name`` (a registered name or a model class) with ``params``.

    The one way songspace builds a model from stored or command-line values
    (``model.json``, experiment configs, studies, ``--param NAME=VALUE``): values are
    coerced as the class's ``parameter_constraints`` say (JSON lists to tuples; with
    ``from_strings``, command-line strings parsed), and the result validated with
    ``check_params`` (unless ``check`` is False, as when loading a saved model).
    ``preset`` names one of the class's ``presets`` (e.g. Track2Vec's ``"paper"``): its
    values come first, ``params`` override them. Parameters given by neither keep their
    defaults.
    """
    klass = get_model_class(name) if isinstance(name, str) else name
    merged = {**(klass.preset_params(preset) if preset is not None else {}), **(params or {})}
    model = klass(**klass.coerce_params(merged, from_strings=from_strings))
    if check:
        model.check_params()
    return model
