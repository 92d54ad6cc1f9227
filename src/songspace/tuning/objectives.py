"""Tuning objectives and the scalarisation of W2V §4.4 (eq. 1-2).

Objectives are metrics of the evaluation suite on the validation protocol:
``hit_rate`` and ``ndcg`` (next-song, mean of in-set and out-of-set, W2V §2.1),
``vrc_genre`` and ``vrc_artist`` (W2V §2.3), ``hardneg`` (W2V §2.2, minimised)
and ``completion_hr`` (MUSIG §4.1). A study has

- one objective: single-objective search;
- two objectives and ``alpha``: the scalarised objective
  ``lambda(alpha) = alpha * M + (1 - alpha) * rVRC`` where ``M`` is the
  recommendation objective (hit_rate, ndcg or completion_hr) and rVRC the
  relative VRC against the default configuration (eq. 1);
- two or more objectives without ``alpha``: a Pareto search (multi-objective
  sampler), returning the Pareto set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from songspace.errors import ParameterError
from songspace.evaluation.clustering import relative_vrc
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.results import MetricResult
from songspace.evaluation.suite import SuiteSettings, evaluate
from songspace.params import Interval, check_param
from songspace.tuning.settings import OBJECTIVES, RECOMMENDATION_OBJECTIVES, VRC_OBJECTIVES
from songspace.tuning.settings import Objective as Objective  # re-exported (its home: settings)
from songspace.tuning.timing import PhaseClock

Mode = Literal["single", "scalarised", "pareto"]


@dataclass(frozen=True)
class StudyObjective:
    """What a study optimises: its objectives, ``alpha`` and the resulting mode."""

    objectives: tuple[str, ...]
    alpha: float | None
    mode: Mode

    @property
    def directions(self) -> list[str]:
        if self.mode == "pareto":
            return [OBJECTIVES[o].direction for o in self.objectives]
        if self.mode == "scalarised":
            return ["maximize"]
        return [OBJECTIVES[self.objectives[0]].direction]

    @property
    def value_names(self) -> list[str]:
        """Names of the study's values (one per direction)."""
        if self.mode == "scalarised":
            return [self.label]
        return list(self.objectives)

    @property
    def recommendation(self) -> str:
        return next(o for o in self.objectives if o not in VRC_OBJECTIVES)

    @property
    def vrc(self) -> str:
        return next(o for o in self.objectives if o in VRC_OBJECTIVES)

    @property
    def label(self) -> str:
        if self.mode == "scalarised":
            vrc = OBJECTIVES[self.vrc].label.split("_")[1]
            return f"lambda_{vrc}({self.alpha:g}) [{self.recommendation}]"
        if self.mode == "pareto":
            return "Pareto(" + ", ".join(OBJECTIVES[o].label for o in self.objectives) + ")"
        return OBJECTIVES[self.objectives[0]].label

    def metrics(self) -> list[str]:
        """Suite metrics a trial must compute."""
        return [OBJECTIVES[o].metric for o in self.objectives]

    def families(self) -> list[str]:
        return list(dict.fromkeys(OBJECTIVES[o].family for o in self.objectives))

    def values(self, metrics: dict[str, float], reference: dict[str, float]) -> list[float]:
        """The study's objective value(s) from a trial's metric values."""
        if self.mode == "scalarised":
            m = metrics[OBJECTIVES[self.recommendation].metric]
            vrc = OBJECTIVES[self.vrc].metric
            assert self.alpha is not None  # set for every scalarised objective
            return [scalarise(m, metrics[vrc], reference[vrc], float(self.alpha))]
        return [metrics[OBJECTIVES[o].metric] for o in self.objectives]


#: The weight of the recommendation objective in a scalarised study.
ALPHA = Interval(float, 0, 1, what="`0 <= alpha <= 1` (the weight of the recommendation objective)")


def check_objectives(objectives: Sequence[str], alpha: float | None = None) -> StudyObjective:
    """Validate the objectives and ``alpha``; return what the study optimises."""
    objs = tuple(objectives)
    if not objs:
        raise ParameterError(
            "objective",
            f"at least one objective of {list(OBJECTIVES)}",
            "none",
            fix="pass --objective hit_rate (repeatable)",
        )
    for o in objs:
        if o not in OBJECTIVES:
            raise ParameterError(
                "objective",
                f"each objective one of {list(OBJECTIVES)}",
                o,
                fix="`songspace tune --help` lists them",
            )
    if len(set(objs)) != len(objs):
        raise ParameterError("objective", "distinct objectives", list(objs))
    if alpha is None:
        return StudyObjective(objs, None, "single" if len(objs) == 1 else "pareto")
    alpha = check_param("alpha", alpha, ALPHA, fix="the paper uses 0.01 and 0.1 (W2V §4.4)")
    vrc = [o for o in objs if o in VRC_OBJECTIVES]
    rec = [o for o in objs if o in RECOMMENDATION_OBJECTIVES]
    if len(objs) != 2 or len(vrc) != 1 or len(rec) != 1:
        raise ParameterError(
            "objective",
            f"with --alpha, exactly two objectives: one of {list(RECOMMENDATION_OBJECTIVES)} "
            f"and one of {list(VRC_OBJECTIVES)} (lambda = alpha*M + (1-alpha)*rVRC)",
            list(objs),
            fix="e.g. --objective hit_rate --objective vrc_genre --alpha 0.01, or drop --alpha "
            "for a Pareto search",
        )
    return StudyObjective((rec[0], vrc[0]), float(alpha), "scalarised")


def scalarise(metric: float, vrc: float, vrc_default: float, alpha: float) -> float:
    """``alpha * metric + (1 - alpha) * rVRC`` with ``rVRC = (vrc - vrc_default) / vrc_default``
    (W2V eq. 1-2)."""
    if not 0 <= alpha <= 1:
        raise ParameterError("alpha", "`0 <= alpha <= 1`", alpha)
    return alpha * float(metric) + (1.0 - alpha) * relative_vrc(vrc, vrc_default)


def score(
    protocol: Protocol,
    emb: Embeddings,
    metrics: Sequence[str],
    settings: SuiteSettings,
    *,
    phases: PhaseClock | None = None,
) -> dict[str, MetricResult]:
    """The suite metrics ``metrics`` of ``emb`` (only their families are computed, and
    of those only what ``metrics`` needs where a family can leave the rest out); each
    family's wall and CPU seconds are counted to ``phases`` as ``score:<family>``."""
    fams = list(dict.fromkeys(o.family for o in OBJECTIVES.values() if o.metric in metrics))
    res = evaluate(protocol, emb, families=fams, settings=settings, metrics=metrics)
    if phases is not None:
        for fam, wall in res.info["seconds"].items():
            phases.add(f"score:{fam}", wall, res.info["cpu_seconds"][fam])
    out: dict[str, MetricResult] = {}
    for m in metrics:
        r = res.metrics.get(m)
        if r is None:
            fix = "check the dataset has what this metric needs"
            if m == "hardneg":
                fix = (
                    "no hard negatives on this data with these settings: raise "
                    "--hardneg-threshold (e.g. 100) or lower --hardneg-min-count"
                )
            raise ParameterError(
                "objective", f"the metric `{m}` can be computed", "missing", fix=fix
            )
        out[m] = r
    return out


def finite(values: Sequence[float]) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))
