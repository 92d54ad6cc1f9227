"""Hyper-parameter search spaces, declared next to each model (SPEC §5; W2V Table 3).

A model's ``search_space`` class attribute maps parameter names to one of the
frozen types below; :mod:`songspace.tuning` turns them into Optuna
distributions (this module imports no Optuna). Parameters not in the space keep
their default or the value fixed by the caller.

- ``FloatParam(low, high, log=False)``: a real number in ``[low, high]``
  (``log=True`` samples ``log(value)`` uniformly; needs ``low > 0``).
- ``IntParam(low, high, log=False, step=1)``: an integer in ``[low, high]``.
- ``CategoricalParam(choices)``: one of ``choices``. Choices may be any value the
  model accepts (tuples too); they are stored in a study by their index.
- ``TupleParam(items)``: a tuple whose elements are drawn independently from
  ``items`` (each a Float/Int/CategoricalParam), e.g. MUSIG's task weights
  ``TupleParam((FloatParam(0, 1),) * 3)``; element ``i`` of parameter ``p`` is
  named ``p.i`` in a study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from songspace.errors import ParameterError
from songspace.params import Interval, check_param


def _check_bounds(low: float, high: float, log: bool, kind: str) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ParameterError(f"{kind}.high", f"`{kind}.low < {kind}.high`", (low, high))
    if log and low <= 0:
        raise ParameterError(
            f"{kind}.low", f"`{kind}.low > 0` on a log scale", low, fix="use log=False"
        )


@dataclass(frozen=True)
class FloatParam:
    """A real parameter in ``[low, high]``, sampled on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_bounds(float(self.low), float(self.high), self.log, "FloatParam")

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


@dataclass(frozen=True)
class IntParam:
    """An integer parameter in ``[low, high]`` (multiples of ``step`` from ``low``)."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            v = getattr(self, name)
            check_param(f"IntParam.{name}", v, Interval(int, None, None))
        _check_bounds(self.low, self.high, self.log, "IntParam")
        if self.step < 1 or (self.log and self.step != 1):
            raise ParameterError(
                "IntParam.step", "`step >= 1` (and `step == 1` on a log scale)", self.step
            )

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


@dataclass(frozen=True)
class CategoricalParam:
    """One of ``choices`` (any values the model accepts, compared with ``==``)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.choices, tuple) or len(self.choices) < 1:
            raise ParameterError(
                "CategoricalParam.choices", "a non-empty tuple of choices", self.choices
            )

    def contains(self, value: Any) -> bool:
        return any(value == c for c in self.choices)


@dataclass(frozen=True)
class TupleParam:
    """A tuple whose element ``i`` is drawn from ``items[i]``."""

    items: tuple[FloatParam | IntParam | CategoricalParam, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.items, tuple) or not self.items:
            raise ParameterError("TupleParam.items", "a non-empty tuple of parameters", self.items)
        for item in self.items:
            if not isinstance(item, FloatParam | IntParam | CategoricalParam):
                raise ParameterError(
                    "TupleParam.items", "each item a FloatParam, IntParam or CategoricalParam", item
                )

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) == len(self.items)
            and all(p.contains(v) for p, v in zip(self.items, value, strict=True))
        )


Param = FloatParam | IntParam | CategoricalParam | TupleParam
SearchSpace = dict[str, Param]

__all__ = [
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "Param",
    "SearchSpace",
    "TupleParam",
]
