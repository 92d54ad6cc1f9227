"""Where a tuning trial's time goes: wall and CPU seconds per phase (issue 28, item 10).

Every trial a study runs records the user attribute ``phase_seconds``,
``{phase: {"wall": seconds, "cpu": seconds}}``, and the log line of the trial names the
largest phases. The phases, in the order they happen:

``optuna``
    Optuna's bookkeeping between the previous trial's end and this trial's start (recording
    the previous trial, the study's callbacks, creating this trial). Absent for the first
    trial of each run.
``suggest``
    the sampler drawing the searched parameters.
``budget``
    the equal-time budget: the cost model calibrated on the stored trials, the
    configuration's work, and its cost observation once trained.
``fit``
    the model's ``fit``: building its corpus or graph from the training view, then
    training. The pruner's scoring inside it is not counted here but in ``prune``.
``prune``
    the pruner's per-epoch scoring of the fidelity sample (studies with a pruner).
``embed``
    the trained vectors turned into normalised :class:`~songspace.evaluation.embeddings.
    Embeddings` for scoring.
``score:<family>``
    the validation scoring, one phase per metric family computed.
``other``
    the rest of the trial (writing user attributes to the storage, logging).

The reference run (:func:`songspace.tuning.study.tune`'s one-off default configuration)
records the same kind of breakdown in its ``reference`` study attribute (``warm_up``,
``fit``, ``embed``, ``score:<family>``).

CPU seconds are ``time.process_time()``: every thread of the process (gensim's native
threads included). On a machine shared with other work, wall time is inflated by waiting
for a core and CPU time is not; the shares of the phases are what carries over from one
machine to another. :func:`phase_breakdown` summarises a study; ``songspace tune-report``
prints it ("Where the trials' time went"), and ``benchmarks/bench_trial_time.py`` runs a
study and prints it.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The user attribute of a trial (and key of the reference record) holding its phases.
PHASE_ATTR = "phase_seconds"
#: The phases in the order a trial runs them (``score:<family>`` stands for every family).
PHASES = ("optuna", "suggest", "budget", "fit", "prune", "embed", "score", "other")
#: How many phases (the longest) a trial's log line names.
LOG_PHASES = 4


def now() -> tuple[float, float]:
    """(wall, CPU) seconds: ``time.perf_counter()`` and ``time.process_time()``."""
    return time.perf_counter(), time.process_time()


@dataclass
class PhaseClock:
    """Wall and CPU seconds per phase of one run (a trial or the reference run), read
    from ``clock`` (default :func:`now`; tests pass a fake one). ``started``: when the
    clock was made."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], tuple[float, float]] = now
    started: tuple[float, float] = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def add(self, name: str, wall: float, cpu: float) -> None:
        """Count ``wall`` and ``cpu`` seconds to the phase ``name``."""
        self.wall[name] = self.wall.get(name, 0.0) + float(wall)
        self.cpu[name] = self.cpu.get(name, 0.0) + float(cpu)

    @contextlib.contextmanager
    def phase(self, name: str, *, exclude: Sequence[str] = ()) -> Iterator[None]:
        """Time the block as the phase ``name``, less the time counted to the phases
        ``exclude`` inside it (e.g. the pruner's scoring inside ``fit``)."""
        before = [(self.wall.get(x, 0.0), self.cpu.get(x, 0.0)) for x in exclude]
        w0, c0 = self.clock()
        try:
            yield
        finally:
            w1, c1 = self.clock()
            wall, cpu = w1 - w0, c1 - c0
            for x, (w, c) in zip(exclude, before, strict=True):
                wall -= self.wall.get(x, 0.0) - w
                cpu -= self.cpu.get(x, 0.0) - c
            self.add(name, max(wall, 0.0), max(cpu, 0.0))

    def finish(self, *, outside: Iterable[str] = ("optuna",)) -> None:
        """Count the time since the clock started that no phase holds to ``other``
        (phases in ``outside`` happened before the clock started)."""
        w1, c1 = self.clock()
        skip = set(outside)
        wall = w1 - self.started[0] - sum(v for k, v in self.wall.items() if k not in skip)
        cpu = c1 - self.started[1] - sum(v for k, v in self.cpu.items() if k not in skip)
        self.add("other", max(wall, 0.0), max(cpu, 0.0))

    def as_attr(self) -> dict[str, dict[str, float]]:
        """``{phase: {"wall": s, "cpu": s}}``, as stored in a trial's user attributes."""
        return {k: {"wall": self.wall[k], "cpu": self.cpu[k]} for k in self.wall}

    def describe(self, longest: int = LOG_PHASES) -> str:
        """The ``longest`` phases (wall), e.g. ``fit 57.0s (30.4 CPU), score:next_song
        29.4s (15.1 CPU)``, for a log line."""
        return describe(self.as_attr(), longest)


def describe(phases: Mapping[str, Mapping[str, float]], longest: int = LOG_PHASES) -> str:
    """The ``longest`` phases of a stored ``phase_seconds`` record, for a log line."""
    ranked = sorted(phases.items(), key=lambda kv: -float(kv[1].get("wall", 0.0)))[:longest]
    return ", ".join(
        f"{k} {float(v.get('wall', 0.0)):.1f}s ({float(v.get('cpu', 0.0)):.1f} CPU)"
        for k, v in ranked
    )


@dataclass(frozen=True)
class PhaseRow:
    """One phase over a study's trials: in how many of the compared trials it ran, its
    median wall and CPU seconds and median share of a trial's wall time over them, and its
    share of the wall time of every trial of the study together."""

    phase: str
    trials: int
    wall: float
    cpu: float
    share: float
    total_share: float


Record = Mapping[str, Mapping[str, float]]


def _order(phase: str) -> tuple[int, str]:
    head = phase.split(":", 1)[0]
    return (PHASES.index(head) if head in PHASES else len(PHASES), phase)


def _wall(record: Record, phase: str | None = None) -> float:
    """A record's wall seconds in ``phase`` (None: in all its phases)."""
    if phase is None:
        return sum(float(v.get("wall", 0.0)) for v in record.values())
    return float(record[phase].get("wall", 0.0)) if phase in record else 0.0


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def phase_breakdown(
    records: Sequence[Record], everything: Sequence[Record] | None = None
) -> list[PhaseRow]:
    """Summarise ``records`` (one ``phase_seconds`` per trial, e.g. the complete trials)
    phase by phase; ``total_share`` is over ``everything`` (default ``records``: e.g.
    every finished trial, the ones stopped for the budget, pruned or rejected before
    training included).

    A trial's wall time is the sum of its phases; a phase a trial did not run counts 0
    in that trial's share."""
    records = [r for r in records if r]
    every = records if everything is None else [r for r in everything if r]
    totals = [_wall(r) for r in records]
    grand = sum(_wall(r) for r in every)
    names = sorted({k for r in [*records, *every] for k in r}, key=_order)
    rows = []
    for name in names:
        ran = [r[name] for r in records if name in r]
        shares = [
            _wall(r, name) / t if t > 0 else 0.0 for r, t in zip(records, totals, strict=True)
        ]
        rows.append(
            PhaseRow(
                name,
                len(ran),
                _median([float(v.get("wall", 0.0)) for v in ran]),
                _median([float(v.get("cpu", 0.0)) for v in ran]),
                _median(shares),
                sum(_wall(r, name) for r in every) / grand if grand > 0 else 0.0,
            )
        )
    return rows


@dataclass
class StudyPhases:
    """The ``phase_seconds`` of a study's finished trials, by how they ended."""

    complete: list[Record] = field(default_factory=list)
    stopped: list[Record] = field(default_factory=list)  # while training: budget or pruner
    untrained: list[Record] = field(default_factory=list)  # rejected before training

    @property
    def everything(self) -> list[Record]:
        return [*self.complete, *self.stopped, *self.untrained]

    @classmethod
    def of(cls, trials: Iterable[Any]) -> StudyPhases:
        """Sort the trials that recorded their phases (studies run before phases were
        recorded have none)."""
        out = cls()
        for t in trials:
            rec = t.user_attrs.get(PHASE_ATTR)
            if not rec or t.datetime_complete is None:
                continue
            if t.state.name == "COMPLETE":
                out.complete.append(rec)
            elif t.user_attrs.get("untrained"):
                out.untrained.append(rec)
            else:
                out.stopped.append(rec)
        return out


def breakdown_markdown(study: Any, name: str) -> str:
    """A markdown section "Where the trials' time went" for one study: the median seconds
    and shares per phase of its complete trials, each phase's share of every finished
    trial's time, and the reference run's phases. Empty when no trial recorded its phases
    (a study run before they were recorded)."""
    found = StudyPhases.of(study.get_trials(deepcopy=False))
    if not found.everything:
        return ""
    lines = [
        "",
        f"Where the trials' time went ({name}: {len(found.complete)} complete trials; all "
        f"{len(found.everything)} finished trials, {len(found.stopped)} of them stopped while "
        f"training (budget or pruner) and {len(found.untrained)} rejected before training, "
        "in the last column). Wall seconds on this machine, CPU seconds of every thread.",
        "",
        "| Phase | Complete trials | Median wall (s) | Median CPU (s) | Median share "
        "| Share of all trials' time |",
        "|---|---|---|---|---|---|",
    ]
    for r in phase_breakdown(found.complete, found.everything):
        lines.append(
            f"| {r.phase} | {r.trials} | {r.wall:.2f} | {r.cpu:.2f} | {r.share:.1%} "
            f"| {r.total_share:.1%} |"
        )
    ref = study.user_attrs.get("reference", {}).get(PHASE_ATTR)
    if ref:
        lines += ["", f"The reference run (once per study): {describe(ref, longest=len(ref))}."]
    return "\n".join(lines) + "\n"
