"""Turn a model's declared search space (:mod:`songspace.models.space`) into Optuna suggestions."""

from __future__ import annotations

from typing import Any

from songspace.errors import ParameterError
from songspace.models.space import CategoricalParam, FloatParam, IntParam, Param, TupleParam

_PRIMITIVE = (type(None), bool, int, float, str)


def _labels(p: CategoricalParam) -> list[Any]:
    """What Optuna stores for each choice: the choice itself, or its repr if not primitive."""
    if all(isinstance(c, _PRIMITIVE) for c in p.choices):
        return list(p.choices)
    labels = [repr(c) for c in p.choices]
    if len(set(labels)) != len(labels):
        raise ParameterError("CategoricalParam.choices", "choices with distinct reprs", p.choices)
    return labels


def _suggest_one(trial: Any, name: str, p: FloatParam | IntParam | CategoricalParam) -> Any:
    if isinstance(p, FloatParam):
        return trial.suggest_float(name, float(p.low), float(p.high), log=p.log)
    if isinstance(p, IntParam):
        return trial.suggest_int(name, p.low, p.high, log=p.log, step=p.step)
    return trial.suggest_categorical(name, _labels(p))


def _decode_one(p: FloatParam | IntParam | CategoricalParam, raw: Any) -> Any:
    if isinstance(p, CategoricalParam):
        return p.choices[_labels(p).index(raw)]
    return raw


def flat_names(space: dict[str, Param]) -> dict[str, tuple[str, int | None]]:
    """Study parameter name -> (model parameter, tuple position or None)."""
    out: dict[str, tuple[str, int | None]] = {}
    for name, p in space.items():
        if isinstance(p, TupleParam):
            for i in range(len(p.items)):
                out[f"{name}.{i}"] = (name, i)
        else:
            out[name] = (name, None)
    return out


def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    """Ask ``trial`` for every parameter of ``space``; return the model parameters."""
    raw: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, TupleParam):
            for i, item in enumerate(p.items):
                raw[f"{name}.{i}"] = _suggest_one(trial, f"{name}.{i}", item)
        else:
            raw[name] = _suggest_one(trial, name, p)
    return decode(raw, space)


def decode(raw: dict[str, Any], space: dict[str, Param]) -> dict[str, Any]:
    """Model parameters from a study's stored parameters (``trial.params``)."""
    out: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, TupleParam):
            keys = [f"{name}.{i}" for i in range(len(p.items))]
            if all(k in raw for k in keys):
                out[name] = tuple(
                    _decode_one(item, raw[k]) for item, k in zip(p.items, keys, strict=True)
                )
        elif name in raw:
            out[name] = _decode_one(p, raw[name])
    return out


def encode(params: dict[str, Any], space: dict[str, Param]) -> dict[str, Any]:
    """A study's stored parameters for model ``params``; values outside ``space`` are left out
    (the sampler draws those)."""
    out: dict[str, Any] = {}
    for name, p in space.items():
        if name not in params:
            continue
        value = params[name]
        if isinstance(p, TupleParam):
            if isinstance(value, tuple | list) and len(value) == len(p.items):
                for i, (item, v) in enumerate(zip(p.items, value, strict=True)):
                    if item.contains(v):
                        out[f"{name}.{i}"] = _encode_one(item, v)
        elif p.contains(value):
            out[name] = _encode_one(p, value)
    return out


def _encode_one(p: FloatParam | IntParam | CategoricalParam, value: Any) -> Any:
    if isinstance(p, CategoricalParam):
        return _labels(p)[[c == value for c in p.choices].index(True)]
    return value
