"""The registry of metric families: the one list :func:`songspace.evaluation.suite.evaluate`,
the experiment configs, the report tables and the CLI help read.

A family is a module (or any object) that exports:

- ``METRICS``: the metric names it produces (``evaluate`` returns exactly these);
- ``COLUMNS``: its default report-table columns (a subset of ``METRICS``);
- ``unsupported(protocol) -> str | None``: why the protocol's data cannot support the
  family (``None``: it can);
- ``compute(run: FamilyInput) -> list[MetricResult] | None``: its results for one
  embedding (``None``: the family does not apply to this embedding, e.g. it needs vectors);
- optionally ``unsupported_metrics(protocol) -> dict[str, str]``: metrics of a supported
  family that the data cannot support, each with its reason.

Registering takes one line below (the module is imported only when first used, so
reading the family names, as the CLI help does, loads no numpy). See "How to add a metric
family" in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, overload

if TYPE_CHECKING:
    from songspace.evaluation.defaults import SuiteSettings
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.protocol import Protocol as EvaluationProtocol
    from songspace.evaluation.results import MetricResult
    from songspace.progress import ProgressCallback

__all__ = [
    "FAMILY_COLUMNS",
    "FAMILY_METRICS",
    "FamilyInput",
    "MetricFamily",
    "family",
    "names",
    "opt_in",
    "register",
    "unregister",
    "unsupported_metrics",
]


@dataclass(frozen=True)
class FamilyInput:
    """What a family's ``compute`` receives: the protocol, the embedding and the settings
    (plus where to draw a figure and whom to tell about progress). ``metrics``: the metrics
    the caller needs (None: all); a family may leave out the others where they cost work
    of their own (clustering's local coherences: a k-NN search each)."""

    protocol: EvaluationProtocol
    emb: Embeddings
    settings: SuiteSettings
    heatmap: Path | None = None
    progress: ProgressCallback | None = None
    metrics: frozenset[str] | None = None


class MetricFamily(Protocol):
    """What a family module exports (see the module docstring)."""

    METRICS: tuple[str, ...]
    COLUMNS: tuple[str, ...]

    def unsupported(self, protocol: EvaluationProtocol) -> str | None: ...

    def compute(self, run: FamilyInput) -> list[MetricResult] | None: ...


@dataclass
class _Entry:
    source: str | MetricFamily  # a module path (imported on first use) or the family
    opt_in: str | None  # why the family runs only when asked for; None: runs by default


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, source: str | MetricFamily, *, opt_in: str | None = None) -> None:
    """Add the family ``name``: ``source`` is its module's import path (or the family
    object itself). ``opt_in`` (the reason) leaves it out of the default families."""
    if name in _REGISTRY:
        raise ValueError(f"metric family {name!r} is already registered")
    _REGISTRY[name] = _Entry(source, opt_in)


def unregister(name: str) -> None:
    """Remove the family ``name`` (for tests and plug-ins that add one for a while)."""
    del _REGISTRY[name]


def names() -> tuple[str, ...]:
    """The registered family names, in registration order (the order of results)."""
    return tuple(_REGISTRY)


def opt_in() -> dict[str, str]:
    """Families left out of the default ("all the data supports"), with the reason."""
    return {n: e.opt_in for n, e in _REGISTRY.items() if e.opt_in is not None}


def family(name: str) -> MetricFamily:
    """The family ``name`` (its module imported on first use)."""
    entry = _REGISTRY[name]
    if isinstance(entry.source, str):
        entry.source = cast("MetricFamily", importlib.import_module(entry.source))
    return entry.source


def unsupported_metrics(fam: MetricFamily, protocol: EvaluationProtocol) -> dict[str, str]:
    """The metrics of a supported family that ``protocol``'s data cannot support."""
    check = getattr(fam, "unsupported_metrics", None)
    return {} if check is None else dict(check(protocol))


class _FamilyAttribute(Mapping[str, tuple[str, ...]]):
    """A live read-only view ``{family: family.<attribute>}`` over the registry."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return tuple(getattr(family(name), self._attribute))

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


class FamilyNames(Sequence[str]):
    """A live read-only sequence of family names (all of them, or the opt-in ones)."""

    def __init__(self, only_opt_in: bool = False) -> None:
        self._only_opt_in = only_opt_in

    def _names(self) -> tuple[str, ...]:
        return tuple(opt_in()) if self._only_opt_in else names()

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: Any) -> Any:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


#: Metric names each family produces, from the family's own module (``METRICS``).
FAMILY_METRICS: Mapping[str, tuple[str, ...]] = _FamilyAttribute("METRICS")
#: Default report-table columns per family (``COLUMNS``): the papers' layouts.
FAMILY_COLUMNS: Mapping[str, tuple[str, ...]] = _FamilyAttribute("COLUMNS")

# ---------------------------------------------------------------- the families
register("completion", "songspace.evaluation.completion")
register("next_song", "songspace.evaluation.next_song")
register("hardneg", "songspace.evaluation.hardneg")
register("clustering", "songspace.evaluation.clustering")
register("popularity", "songspace.evaluation.popularity")
register("play", "songspace.evaluation.play")
register(
    "challenge",
    "songspace.evaluation.challenge",
    opt_in="the RecSys Challenge 2018 protocol, which ranks the whole catalogue 500 deep "
    "per playlist",
)
register(
    "stage1",
    "songspace.evaluation.stage1",
    opt_in="stage-1 recall, which ranks each query's candidates 1,000 deep",
)
register(
    "segments",
    "songspace.evaluation.segments",
    opt_in="the segment breakdown of HitRate and stage-1 recall, which ranks each query 1,000 deep",
)
