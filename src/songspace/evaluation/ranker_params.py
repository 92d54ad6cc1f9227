"""Parameters of the non-embedding rankers: declared once per ranker class.

A tunable ranker (:mod:`songspace.evaluation.rankers`,
:mod:`songspace.evaluation.session_knn`) declares, as class attributes:

- ``defaults``: every parameter and its default (the untuned ranker);
- ``parameter_constraints``: one :class:`songspace.params.Constraint` per
  parameter (the types the models use: the range check, the error text and the parsing
  of ``NAME=VALUE`` strings come from them);
- ``search_grid``: the values :func:`songspace.tuning.rankers.tune_rankers` tries, as a
  product over the listed parameters (the others stay at their defaults);
- ``starting_points``: named settings from the literature (session-rec's 30Music files,
  APC-RTA's MPD file), always tried beside the grid;
- ``single_seed_inert``: the parameters that cannot change a ranking from one seed track
  (a next-song query): the tuner does not vary them for next-song;
- ``time_params``: the parameters that act only through session times: without
  timestamps they have no effect (documented per ranker), and the tuner does not vary
  them.

The constraint types come from :mod:`songspace.params`, a leaf module below every layer
(it imports nothing of songspace); the model registry is never used here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.params import Constraint

__all__ = ["TunableRanker", "format_settings", "popularity_of", "sum_by_track"]


def popularity_of(train: Dataset) -> np.ndarray:
    """Sequences containing each track, as floats (the rankers' shared tie-breaker)."""
    return train.occurrences().astype(np.float64)


def sum_by_track(
    tracks: np.ndarray, values: np.ndarray, n_tracks: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``tracks`` (ascending) and the sum of their ``values``, added in the
    given order: the nonzero part of a score vector that a sparse product (``X[rows].sum
    (axis=0)``, ``X[rows].T @ w``) would give, bit for bit, without sorting a
    catalogue-sized vector (a ranker's ``evidence``). With ``n_tracks`` (the catalogue)
    and many entries, the sums go through a catalogue-sized array instead of a sort
    (cheaper then; the same sums), and tracks whose sum is 0 are left out."""
    tracks = np.asarray(tracks, dtype=np.int64)
    if n_tracks is not None and len(tracks) * _DENSE_SHARE > n_tracks:
        sums = np.bincount(tracks, weights=values, minlength=n_tracks)
        distinct = np.flatnonzero(sums)
        return distinct, sums[distinct]
    distinct, inverse = np.unique(tracks, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=len(distinct))
    return distinct, sums.astype(np.float64, copy=False)


#: :func:`sum_by_track` sums through a catalogue-sized array when the entries exceed
#: this share of the catalogue (1 / 32): a sort of that many entries costs more.
_DENSE_SHARE = 32


def format_settings(params: Mapping[str, Any]) -> str:
    """``k=100, sample=all, similarity=cosine``: a ranker's settings on one line (tables,
    logs); ``None`` reads ``all`` for ``sample`` and ``off`` for the others."""
    if not params:
        return "no parameters"
    parts = []
    for name, value in params.items():
        if value is None:
            text = "all" if name == "sample" else "off"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


class TunableRanker:
    """Mix-in of the rankers with declared parameters (see the module docstring)."""

    name: str
    defaults: ClassVar[Mapping[str, Any]] = {}
    parameter_constraints: ClassVar[Mapping[str, Constraint]] = {}
    search_grid: ClassVar[Mapping[str, tuple[Any, ...]]] = {}
    starting_points: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    single_seed_inert: ClassVar[frozenset[str]] = frozenset()
    time_params: ClassVar[frozenset[str]] = frozenset()

    #: The settings this ranker was built with (every parameter).
    params: dict[str, Any]

    @classmethod
    def check_params(cls, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter: the defaults updated by ``params``, each checked against its
        constraint (ParameterError naming ``<ranker>.<parameter>``)."""
        given = dict(params or {})
        unknown = [p for p in given if p not in cls.defaults]
        if unknown:
            names = ", ".join(cls.defaults) or "none"
            raise ParameterError(
                f"{cls.name}.{unknown[0]}",
                f"a parameter of {cls.name} (its parameters: {names})",
                given[unknown[0]],
                fix="docs/evaluation.md lists each ranker's parameters",
            )
        out = {**cls.defaults, **given}
        for p, value in out.items():
            c = cls.parameter_constraints[p]
            value = c.convert(value)
            if not c.is_satisfied_by(value):
                raise ParameterError(f"{cls.name}.{p}", c.describe(), value)
            out[p] = value
        return out

    @classmethod
    def parse_params(cls, texts: Mapping[str, str]) -> dict[str, Any]:
        """``{"k": "500"}`` (command-line strings) -> checked values."""
        values: dict[str, Any] = {}
        for p, text in texts.items():
            c = cls.parameter_constraints.get(p)
            if c is None:
                return cls.check_params(texts)  # names the unknown parameter
            try:
                values[p] = c.from_string(text)
            except ValueError:
                raise ParameterError(f"{cls.name}.{p}", c.describe(), text) from None
        return cls.check_params(values)

    @classmethod
    def grid_points(
        cls,
        *,
        single_seed: bool = False,
        has_timestamps: bool = True,
        max_candidates: int | None = None,
    ) -> list[dict[str, Any]]:
        """The settings the tuner tries: the defaults, the product of ``search_grid``, then
        the ``starting_points``; parameters that cannot act (``single_seed_inert`` for
        one-seed queries, ``time_params`` without timestamps) held at their defaults, and
        duplicates dropped (the first kept; a ``sample`` of at least ``max_candidates``, the
        most candidate sequences a query can have, is the same setting as ``None``)."""
        frozen = set(cls.single_seed_inert if single_seed else ())
        if not has_timestamps:
            frozen |= cls.time_params
        names = [p for p in cls.search_grid if p not in frozen]
        points: list[dict[str, Any]] = [dict(cls.defaults)]
        for values in itertools.product(*(cls.search_grid[p] for p in names)):
            points.append({**cls.defaults, **dict(zip(names, values, strict=True))})
        points += [{**cls.defaults, **p} for p in cls.starting_points.values()]
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for p in points:
            p = cls.check_params({k: (cls.defaults[k] if k in frozen else v) for k, v in p.items()})
            same = dict(p)
            sample = p.get("sample")
            if sample is not None and max_candidates is not None and sample >= max_candidates:
                same["sample"] = None
            key = tuple(same.items())
            if key not in seen:
                seen.add(key)
                out.append(p)
        return out

    def with_params(self, params: Mapping[str, Any]) -> Any:
        """The same ranker, on the same training view, with the settings ``params`` (the
        defaults for those not given). Subclasses reuse what does not depend on the
        settings (the tuner builds each ranker once per grid)."""
        raise NotImplementedError
