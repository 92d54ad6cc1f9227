"""Parameter constraints: each model declares its parameters once (SPEC §3).

A model class holds one table, ``parameter_constraints``, in the style of
scikit-learn's ``_parameter_constraints``::

    parameter_constraints = {
        "dim": Interval(int, 25, 200),
        "alpha": Interval(float, 0.001, 0.1),
        "feature_groups": Names(min_len=1),
        "task_weights": AnyOf(Tuple(Interval(float, 0, None), length=3), Options(PRESETS)),
    }

Every constraint answers three questions, so that the range check, the integer
check, the CLI's string parsing and the error text all come from the table:

- ``is_satisfied_by(value)``: does ``value`` satisfy it;
- ``describe()``: a noun phrase for the error message ("an integer in [25, 200]");
- ``from_string(text)``: the value a ``NAME=VALUE`` command-line string stands for
  (``ValueError`` when it cannot be parsed);
- ``convert(value)``: a stored JSON value back in the Python type the model uses
  (lists become tuples where the constraint says tuple); anything else unchanged.

The same constraints check a function's arguments: :func:`validate_params` (the
decorator, as scikit-learn's ``validate_params``) and :func:`check_param` (one value)
raise :class:`~songspace.errors.ParameterError` ("parameter `k`: expected an integer
>= 1, got 0"). This module imports no Optuna and no torch;
:mod:`songspace.models.space` holds the search spaces, which must lie inside these
constraints (tested).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np

from songspace.errors import ParameterError

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class Constraint:
    """Base class; see the module docstring."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def from_string(self, text: str) -> Any:
        return text

    def convert(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )


def _is_infinite(value: Any) -> bool:
    return (
        isinstance(value, float | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isinf(float(value))
    )


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class Interval(Constraint):
    """An integer (``kind=int``) or finite real number (``kind=float``; integers
    accepted) in an interval; ``None`` leaves a side unbounded. ``closed`` is
    "both", "left", "right" or "neither". ``finite=False`` admits an infinite number
    within the bounds (a float interval; never NaN). ``what`` replaces the generated
    description where the interval needs its reason ("a share in (0, 0.5) (... held
    out ...)")."""

    def __init__(
        self,
        kind: type[int] | type[float],
        low: float | None,
        high: float | None,
        *,
        closed: Literal["both", "left", "right", "neither"] = "both",
        finite: bool = True,
        what: str | None = None,
    ):
        if kind not in (int, float):
            raise TypeError(f"Interval kind must be int or float, not {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither, not {closed!r}")
        self.kind = kind
        self.low = low
        self.high = high
        self.closed = closed
        self.finite = finite
        self.what = what

    def is_satisfied_by(self, value: Any) -> bool:
        if self.kind is int:
            if not _is_int(value):
                return False
        elif not (_is_real(value) or (not self.finite and _is_infinite(value))):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        return self.high is None or (value <= self.high if right else value < self.high)

    def describe(self) -> str:
        if self.what is not None:
            return self.what
        noun = "an integer" if self.kind is int else "a number"
        lo, hi = self.low, self.high
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if lo is None and hi is None:
            return noun
        if hi is None:
            return f"{noun} {'>=' if left else '>'} {_fmt(lo)}"  # type: ignore[arg-type]
        if lo is None:
            return f"{noun} {'<=' if right else '<'} {_fmt(hi)}"
        return f"{noun} in {'[' if left else '('}{_fmt(lo)}, {_fmt(hi)}{']' if right else ')'}"

    def from_string(self, text: str) -> Any:
        return int(text) if self.kind is int else float(text)

    def convert(self, value: Any) -> Any:
        return value.item() if isinstance(value, np.generic) else value


class Options(Constraint):
    """One of a fixed set of values (compared with ``==``)."""

    def __init__(self, values: Iterable[Any]):
        self.values = tuple(values)

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str | int | float | type(None)) and value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def from_string(self, text: str) -> Any:
        for v in self.values:
            if str(v) == text:
                return v
        raise ValueError(text)

    def convert(self, value: Any) -> Any:
        # older command-line parsing stored a lone option as a one-element list
        if isinstance(value, list | tuple) and len(value) == 1 and value[0] in self.values:
            return value[0]
        return value


class Boolean(Constraint):
    """True or False (numpy booleans too); on the command line true/false, 1/0, yes/no."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def describe(self) -> str:
        return "true or false"

    def from_string(self, text: str) -> Any:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)

    def convert(self, value: Any) -> Any:
        return bool(value) if isinstance(value, np.bool_) else value


class Text(Constraint):
    """A non-empty string (a device name, a path...); ``path=True`` also accepts a Path."""

    def __init__(self, what: str = "a non-empty string", *, path: bool = False):
        self.what = what
        self.path = path

    def is_satisfied_by(self, value: Any) -> bool:
        return (isinstance(value, str) and bool(value)) or (self.path and isinstance(value, Path))

    def describe(self) -> str:
        return self.what


#: The device kinds torch trains on; ``cuda`` also as ``cuda:N`` (the N-th GPU).
DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "mps")


class Device(Constraint):
    """A device torch can train on: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``
    (:data:`DEVICE_CHOICES`). Whether it is present on this machine is a rule of the
    model (it needs torch), checked when the model is fitted, not when it is loaded."""

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        kind, _, index = value.partition(":")
        if kind == "cuda" and index:
            return index.isdigit() and index.isascii()
        return value in ("cpu", "cuda", "mps")

    def describe(self) -> str:
        choices = ", ".join(f"'{c}'" for c in DEVICE_CHOICES)
        return f"one of {choices} (the devices torch trains on)"


class NoneValue(Constraint):
    """``None`` (use inside :class:`AnyOf`); "none" on the command line."""

    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def from_string(self, text: str) -> Any:
        if text.lower() in ("none", "null", ""):
            return None
        raise ValueError(text)


class Names(Constraint):
    """A tuple of distinct names (e.g. feature groups), optionally among ``choices``.

    On the command line a comma-separated list (``genre,audio``); a JSON list
    becomes a tuple.
    """

    def __init__(
        self, choices: Iterable[str] | None = None, *, min_len: int = 0, what: str = "names"
    ):
        self.choices = None if choices is None else tuple(choices)
        self.min_len = min_len
        self.what = what

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            return False
        if len(value) < self.min_len or not all(isinstance(v, str) for v in value):
            return False
        if len(set(value)) != len(value):
            return False
        return self.choices is None or all(v in self.choices for v in value)

    def describe(self) -> str:
        size = "a non-empty tuple" if self.min_len >= 1 else "a tuple"
        among = "" if self.choices is None else " among " + ", ".join(map(repr, self.choices))
        return f"{size} of distinct {self.what}{among}"

    def from_string(self, text: str) -> Any:
        return tuple(v.strip() for v in text.split(",") if v.strip())

    def convert(self, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


class Tuple(Constraint):
    """A tuple of values each satisfying ``item``, of ``length`` elements when given.

    On the command line comma-separated (``25,10``); a JSON list becomes a tuple.
    """

    def __init__(self, item: Interval, *, length: int | None = None, min_len: int = 1):
        self.item = item
        self.length = length
        self.min_len = min_len

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, list | tuple):
            return False
        if self.length is not None and len(value) != self.length:
            return False
        return len(value) >= self.min_len and all(self.item.is_satisfied_by(v) for v in value)

    def describe(self) -> str:
        n = f"{self.length} " if self.length is not None else ""
        item = self.item.describe()
        for article in ("an ", "a "):
            if item.startswith(article):
                item = item[len(article) :]
                break
        plural = item.replace("integer", "integers", 1).replace("number", "numbers", 1)
        return f"a tuple of {n}{plural}"

    def from_string(self, text: str) -> Any:
        return tuple(self.item.from_string(v.strip()) for v in text.split(",") if v.strip())

    def convert(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(self.item.convert(v) for v in value)
        return value


class AnyOf(Constraint):
    """Satisfied when one of ``constraints`` is; strings are parsed by the first that can."""

    def __init__(self, *constraints: Constraint):
        self.constraints = constraints

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.constraints)

    def from_string(self, text: str) -> Any:
        for c in self.constraints:
            try:
                value = c.from_string(text)
            except ValueError:
                continue
            if c.is_satisfied_by(value):
                return value
        for c in self.constraints:  # nothing valid: the first parse, so the check explains
            try:
                return c.from_string(text)
            except ValueError:
                continue
        raise ValueError(text)

    def convert(self, value: Any) -> Any:
        for c in self.constraints:
            converted = c.convert(value)
            if c.is_satisfied_by(converted):
                return converted
        return value


#: The seed every model takes (numpy and torch accept [0, 2**32)).
SEED = Interval(int, 0, 2**32 - 1)

#: Constraints shared by functions' arguments.
POSITIVE_INT = Interval(int, 1, None)
POSITIVE = Interval(float, 0, None, closed="neither")


# ------------------------------------------------------------ function arguments
_P = ParamSpec("_P")
_R = TypeVar("_R")


def check_param(name: str, value: Any, constraint: Constraint, *, fix: str | None = None) -> Any:
    """``value`` (as ``constraint.convert`` gives it: numpy scalars become Python ones)
    when it satisfies ``constraint``; else ParameterError naming ``name``, saying what is
    expected (``constraint.describe()``), what was given and, with ``fix``, the fix."""
    if not constraint.is_satisfied_by(value):
        raise ParameterError(name, constraint.describe(), value, fix=fix)
    return constraint.convert(value)


def validate_params(
    constraints: Mapping[str, Constraint], *, fixes: Mapping[str, str] | None = None
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator: check a function's arguments against ``constraints`` on every call.

    ``@validate_params({"k": Interval(int, 1, None)})`` checks ``k`` (given or default)
    with :func:`check_param` before the body runs, and passes the converted value (an
    ``np.int64`` arrives as an ``int``); ``fixes`` maps a name to its fix. Parameters
    without a constraint are passed unchanged. A name that is no parameter of the
    function is a TypeError when decorating. The table stays readable as
    ``func.parameter_constraints``, as a model's does.
    """
    fixes = dict(fixes or {})

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        signature = inspect.signature(func)
        unknown = sorted(set(constraints).union(fixes) - set(signature.parameters))
        if unknown:
            raise TypeError(f"validate_params: {unknown} are no parameters of {func.__name__}")

        @functools.wraps(func)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            for name, constraint in constraints.items():
                values[name] = check_param(name, values[name], constraint, fix=fixes.get(name))
            return func(*bound.args, **bound.kwargs)

        checked.parameter_constraints = dict(constraints)  # type: ignore[attr-defined]
        return checked

    return decorate


__all__ = [
    "POSITIVE",
    "POSITIVE_INT",
    "SEED",
    "AnyOf",
    "Boolean",
    "Constraint",
    "Interval",
    "Names",
    "NoneValue",
    "Options",
    "Text",
    "Tuple",
    "check_param",
    "validate_params",
]
