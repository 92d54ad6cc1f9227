"""Training-time budgets of tuning trials, counted in CPU time (SPEC §5; W2V §4, §4.7).

Budget modes
    ``equal_time`` (default)
        Every trial is given about the reference (default configuration) training time by
        construction: a cost model calibrated on the reference run predicts a configuration's
        CPU time per unit of the model's :attr:`~songspace.models.base.EmbeddingModel.
        budget_param` (``epochs`` for Track2Vec, CF-WARP, GraphSAGE/MUSIG;
        ``walks_per_node`` for Node2Vec) and sets that parameter so the trial costs the
        reference's time. The search trades the other cost knobs (dim, window, negatives,
        down-sampling, ...) against the epochs they leave (W2V §4: "we constrained all training
        times to be approximately equal to the default Word2Vec configuration"). A hard cap
        of ``budget_factor`` x the reference protects against a wrong prediction: a trial
        past it is stopped and rejected as in ``reject``; a configuration for which not even
        the smallest budget value fits under the cap is rejected without training.
    ``reject``
        Trials train as drawn; one whose training passes ``budget_factor`` x the reference is
        stopped and rejected (W2V §4.7's reading of "within 25% more").
    ``none``
        No budget (the unconstrained ceiling of Chamberlain et al. 2020).

CPU time
    Budgets count the training process's CPU time, ``time.process_time()``: user + system
    time of *all* threads of the process, so gensim's native worker threads (which release
    the GIL) are counted, and time the process spends waiting for a core on a shared
    machine is not. It is measured around ``fit`` only; CPU time spent inside the
    per-epoch scoring hook of multi-fidelity tuning is subtracted. With ``workers=k``
    threads a trial's CPU time is about k times its wall time.

Cost model
    ``cpu(params, u) = setup + u * (c0 + c1 * W(params) ** b)`` where ``u`` is the budget
    parameter's value and ``W = cost_units(params, dataset)`` the model's declared work per
    unit (for Track2Vec: expected skip-gram pairs after down-sampling x (negative + 1) x
    dim). ``setup`` is measured from the per-epoch progress reports of the reference run
    (CPU time before the first epoch); ``c0`` (per-unit overhead: reading the corpus) and
    ``c1`` are fitted by least squares on relative error over the reference and every
    measured trial of the study (while the runs' work does not vary, a prior puts 10% of
    the reference's per-unit time in ``c0``), so the model is refined as the study runs
    and rebuilt from the stored trials when a study is resumed. A trial stopped at the cap
    is an observation too (the share of its units done and the CPU time it took).
    ``b`` is 1 until three runs of different work are measured, then the exponent in
    0.7..1.6 (a grid, pulled towards 1) that fits them best: measured on MPD, configurations
    with many negatives and wide windows cost more per pair than the default (memory
    traffic), which a linear ``c1 * W`` underestimates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from songspace.errors import ParameterError
from songspace.tuning.settings import BUDGET_MODES as BUDGET_MODES  # the modes' one home

#: Share of the reference's per-unit CPU time the prior puts in the overhead ``c0``.
PRIOR_OVERHEAD_SHARE = 0.1
#: Weight of the prior pseudo-observation relative to one measured run.
PRIOR_WEIGHT = 0.5
#: Exponents of the work tried (``c1 * work ** b``), and the prior's pull towards b = 1:
#: a departure of 0.15 costs as much as one run mispredicted by 10%.
EXPONENTS = tuple(round(0.7 + 0.05 * i, 2) for i in range(19))  # 0.7 .. 1.6
EXPONENT_PENALTY = 0.01 / 0.15**2

Clock = Callable[[], float]


def cpu_clock() -> float:
    """The process's CPU time in seconds (all threads; see the module docstring)."""
    return time.process_time()


@dataclass(frozen=True)
class Observation:
    """One measured training run: its work per unit, units, total and setup CPU seconds."""

    units: float
    work: float
    cpu: float
    setup: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"units": self.units, "work": self.work, "cpu": self.cpu, "setup": self.setup}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Observation:
        return cls(float(d["units"]), float(d["work"]), float(d["cpu"]), d.get("setup"))


@dataclass
class CostModel:
    """``cpu = setup + units * (c0 + c1 * work)``, fitted to the observations (see module)."""

    observations: list[Observation] = field(default_factory=list)
    setup: float = 0.0
    c0: float = 0.0
    c1: float = 0.0
    exponent: float = 1.0

    @classmethod
    def calibrated(cls, observations: Sequence[Observation]) -> CostModel:
        """Fit on ``observations``; the first is the reference run (it sets the prior)."""
        if not observations:
            raise ParameterError("observations", "at least the reference run", "none")
        m = cls(list(observations))
        m._fit()
        return m

    def add(self, obs: Observation) -> None:
        self.observations.append(obs)
        self._fit()

    def _fit(self) -> None:
        obs = self.observations
        setups = [o.setup for o in obs if o.setup is not None and o.setup >= 0]
        self.setup = sorted(setups)[len(setups) // 2] if setups else 0.0
        ref = obs[0]
        ref_per_unit = max(ref.cpu - self.setup, 1e-9) / ref.units
        # rows (a, b, y, weight): a*c0 + b*c1 ~ y, in relative error (divide by y)
        rows = []
        for o in obs:
            per_unit = (o.cpu - self.setup) / o.units
            if per_unit > 0:
                rows.append((1.0, o.work, per_unit, 1.0))
        works = sorted({round(r[1], 6) for r in rows})
        distinct = sum(1 for a, b in pairwise(works) if b > 1.05 * a) + 1
        if not works or distinct < 2:
            # the runs cannot separate overhead from work: the prior decides
            rows.insert(0, (1.0, 0.0, PRIOR_OVERHEAD_SHARE * ref_per_unit, PRIOR_WEIGHT))
        best: tuple[float, float, float, float] | None = None
        for b in EXPONENTS if distinct >= 3 else (1.0,):
            scaled = [(a, w**b if w > 0 else 0.0, y, wt) for a, w, y, wt in rows]
            c0, c1 = _fit_nonnegative(scaled)
            loss = sum(wt * ((a * c0 + x * c1 - y) / y) ** 2 for a, x, y, wt in scaled)
            loss += EXPONENT_PENALTY * (b - 1.0) ** 2
            if best is None or loss < best[0] - 1e-15:
                best = (loss, c0, c1, b)
        assert best is not None
        _, self.c0, self.c1, self.exponent = best

    def per_unit(self, work: float) -> float:
        return self.c0 + self.c1 * (work**self.exponent if work > 0 else 0.0)

    def predict(self, units: float, work: float) -> float:
        return self.setup + units * self.per_unit(work)

    def units_for(
        self, work: float, target: float, cap: float, low: int, high: int
    ) -> tuple[int, float]:
        """The budget value (integer in [low, high]) whose predicted CPU time is closest to
        ``target`` without passing 0.95 x ``cap``; (value, predicted seconds). The value is
        ``low`` with a prediction past ``cap`` when even ``low`` does not fit."""
        per = max(self.per_unit(work), 1e-12)
        best = round((target - self.setup) / per)
        fits = math.floor((0.95 * cap - self.setup) / per)
        units = int(min(max(min(best, fits), low), high))
        return units, self.predict(units, work)


def _fit_nonnegative(rows: Sequence[tuple[float, float, float, float]]) -> tuple[float, float]:
    """(c0, c1) >= 0 of :func:`_weighted_lsq`, dropping a term that comes out negative."""
    c0, c1 = _weighted_lsq(rows)
    if c1 <= 0:  # work explains nothing: all overhead
        c0, c1 = _weighted_lsq([(r[0], 0.0, r[2], r[3]) for r in rows])[0], 0.0
    elif c0 < 0:
        c0, c1 = 0.0, _weighted_lsq([(0.0, r[1], r[2], r[3]) for r in rows if r[1] > 0])[1]
    return max(c0, 0.0), max(c1, 0.0)


def _weighted_lsq(rows: Sequence[tuple[float, float, float, float]]) -> tuple[float, float]:
    """Minimise sum w * ((a c0 + b c1 - y) / y)^2 over (c0, c1) (2x2 normal equations)."""
    s_aa = s_ab = s_bb = s_ay = s_by = 0.0
    for a, b, y, w in rows:
        k = w / (y * y)
        s_aa += k * a * a
        s_ab += k * a * b
        s_bb += k * b * b
        s_ay += k * a * y
        s_by += k * b * y
    det = s_aa * s_bb - s_ab * s_ab
    if abs(det) <= 1e-12 * max(s_aa * s_bb, 1e-300):
        if s_bb > 0 and s_aa == 0:
            return 0.0, s_by / s_bb
        return (s_ay / s_aa if s_aa else 0.0), 0.0
    return (s_ay * s_bb - s_by * s_ab) / det, (s_by * s_aa - s_ay * s_ab) / det


class EpochTimer:
    """Collects CPU times at a model's whole-unit progress reports (epoch ends), so that the
    setup time before the first unit can be measured: ``setup = t(1) - (t(n) - t(1)) / (n-1)``
    (needs two whole-unit reports)."""

    def __init__(self, units: int):
        self.units = int(units)
        self.ends: dict[int, float] = {}

    def record(self, done: float, total: float, elapsed: float) -> None:
        if int(total) == self.units and float(done).is_integer() and done >= 1:
            self.ends.setdefault(int(done), elapsed)

    def setup(self) -> float | None:
        if len(self.ends) < 2 or 1 not in self.ends:
            return None
        last = max(self.ends)
        per = (self.ends[last] - self.ends[1]) / (last - 1)
        return max(self.ends[1] - per, 0.0)
