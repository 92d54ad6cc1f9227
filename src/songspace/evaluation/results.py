"""Metric results with per-query values, and paired significance tests (W2V Table 4).

Every metric keeps the value of each query (playlist, pair, track) so two
models evaluated on the same queries can be compared with a paired t-test;
:func:`compare` applies a Bonferroni correction over the metrics compared, and
:func:`paired_tests` tests every result against one reference (a baseline, the
default configuration, another model: ``songspace evaluate --against``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_write_npz, atomic_write_text, to_jsonable
from songspace.errors import FormatError, ParameterError
from songspace.evaluation.defaults import DEFAULT_ALPHA


@dataclass
class MetricResult:
    """One metric: aggregate ``value`` and the ``per_query`` values it averages.

    ``value`` is the mean of ``per_query`` unless the metric is not a mean of
    per-query values (e.g. VRC, a correlation), in which case ``per_query`` may be
    empty and the metric is not testable.
    """

    name: str
    value: float
    per_query: np.ndarray = field(default_factory=lambda: np.zeros(0))
    higher_is_better: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def mean_of(cls, name: str, per_query: np.ndarray, **kw: Any) -> MetricResult:
        pq = np.asarray(per_query, dtype=np.float64)
        return cls(name, float(pq.mean()) if pq.size else float("nan"), pq, **kw)


@dataclass
class EvaluationResult:
    """The metrics of one embedding on one protocol."""

    model: str
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, *results: MetricResult) -> EvaluationResult:
        for r in results:
            self.metrics[r.name] = r
        return self

    def values(self) -> dict[str, float]:
        return {k: m.value for k, m in self.metrics.items()}

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (JSON aggregates) and ``<path stem>.per_query.npz`` beside it."""
        path = Path(path)
        sidecar = path.with_name(path.stem + ".per_query.npz")
        doc = {
            "model": self.model,
            "info": self.info,
            "per_query_file": sidecar.name,
            "metrics": {
                k: {
                    "value": None if math.isnan(m.value) else m.value,
                    "higher_is_better": m.higher_is_better,
                    "n_queries": int(m.per_query.size),
                    "info": m.info,
                }
                for k, m in self.metrics.items()
            },
        }
        arrays: dict[str, Any] = {k: m.per_query for k, m in self.metrics.items()}
        atomic_write_npz(sidecar, arrays, compressed=True)
        atomic_write_text(path, json.dumps(to_jsonable(doc), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(
                f"expected an evaluation JSON file, found an error ({exc})",
                path=path,
                fix="point to a file written by `songspace evaluate`",
            ) from exc
        per_query: dict[str, np.ndarray] = {}
        sidecar = path.with_name(doc.get("per_query_file", ""))
        if sidecar.is_file():
            with np.load(sidecar, allow_pickle=False) as z:
                per_query = {k: z[k] for k in z.files}
        res = cls(doc["model"], info=doc.get("info", {}))
        for k, m in doc["metrics"].items():
            value = float("nan") if m["value"] is None else float(m["value"])
            res.add(
                MetricResult(
                    k, value, per_query.get(k, np.zeros(0)), m["higher_is_better"], m["info"]
                )
            )
        return res


@dataclass
class Comparison:
    """Paired t-test of one metric between two results on the same queries."""

    metric: str
    value_a: float
    value_b: float
    n: int
    t: float
    p: float
    p_adjusted: float
    significant: bool


def compare(
    a: EvaluationResult,
    b: EvaluationResult,
    *,
    metrics: list[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Comparison]:
    """Paired t-tests of ``a`` vs ``b`` on every shared metric with per-query values.

    p-values are Bonferroni-corrected over the number of metrics tested
    (W2V Table 4). Metrics whose per-query arrays differ in length (not the same
    queries) raise ParameterError.
    """
    from scipy import stats

    if not 0 < alpha < 1:
        raise ParameterError("alpha", "`0 < alpha < 1`", alpha)
    names = metrics or [k for k in a.metrics if k in b.metrics and a.metrics[k].per_query.size > 1]
    out: dict[str, Comparison] = {}
    for k in names:
        if k not in a.metrics or k not in b.metrics:
            raise ParameterError("metrics", f"a metric both results have ({sorted(a.metrics)})", k)
        x, y = a.metrics[k].per_query, b.metrics[k].per_query
        if x.shape != y.shape:
            raise ParameterError(
                "metrics",
                f"per-query values of `{k}` for the same queries in both results",
                (x.shape, y.shape),
                fix="evaluate both embeddings with the same protocol and seed",
            )
        d = x - y
        if np.allclose(d, 0):
            t, p = 0.0, 1.0
        elif np.allclose(d, d[0]):
            # A constant non-zero difference: zero variance, infinitely significant.
            t, p = math.copysign(math.inf, float(d.mean())), 0.0
        else:
            t, p = (float(v) for v in stats.ttest_rel(x, y))
        out[k] = Comparison(k, a.metrics[k].value, b.metrics[k].value, len(x), t, p, 0.0, False)
    m = max(len(out), 1)
    for c in out.values():
        c.p_adjusted = min(1.0, c.p * m)
        c.significant = c.p_adjusted < alpha
    return out


#: Metrics reported beside the others for context and never tested: coverage says how
#: many queries a model can rank, not how well it ranks them. Tables show them unmarked
#: and leave them out of the Bonferroni count.
UNTESTED = frozenset({"completion_coverage", "completion_negative_coverage"})


def shared_testable(a: EvaluationResult, b: EvaluationResult) -> list[str]:
    """The metrics of ``a`` that ``b`` has too, both with per-query values for the same
    queries (more than one), :data:`UNTESTED` left out: those a paired test compares."""
    return [
        k
        for k, m in a.metrics.items()
        if k in b.metrics
        and k not in UNTESTED
        and m.per_query.size > 1
        and m.per_query.shape == b.metrics[k].per_query.shape
    ]


def check_reference(name: str, names: Sequence[str]) -> None:
    """Raise a ParameterError unless ``name`` is one of ``names`` (the evaluated rows)."""
    if name not in names:
        raise ParameterError(
            "against",
            f"the name of one of the evaluated models ({', '.join(names)})",
            name,
            fix="name an evaluated model (its file's stem, or its run directory's name) "
            "or pass one of the evaluated files",
        )


def paired_tests(
    results: Sequence[EvaluationResult],
    reference: str | EvaluationResult,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, dict[str, Comparison]]:
    """Paired t-tests of every result against ``reference`` (a result or its model name).

    Returns ``{model: {metric: Comparison}}`` for every result other than the
    reference, in order: each compares the metrics the two share with per-query
    values (:func:`shared_testable`), Bonferroni-corrected over those metrics
    (:func:`compare`). ``value_a`` is the model's value, ``value_b`` the reference's;
    ``significant`` says the two differ (the sign of ``t`` and the metric's
    ``higher_is_better`` say which is better).
    """
    by_name = {r.model: r for r in results}
    if isinstance(reference, EvaluationResult):
        name, ref = reference.model, reference
    else:
        check_reference(reference, list(by_name))
        name, ref = reference, by_name[reference]
    out: dict[str, dict[str, Comparison]] = {}
    for r in results:
        if r.model != name:
            shared = shared_testable(r, ref)
            out[r.model] = compare(r, ref, metrics=shared, alpha=alpha) if shared else {}
    return out


def merge_seeds(per_seed: Sequence[Sequence[EvaluationResult]]) -> list[EvaluationResult]:
    """Pool results over seeds: values averaged, per-query values concatenated (the
    queries of different seeds are different queries, still paired across models),
    popularity-bucket matrices averaged."""
    if len(per_seed) == 1:
        return list(per_seed[0])
    out = []
    for rs in zip(*per_seed, strict=True):
        merged = EvaluationResult(rs[0].model, info={"per_seed": [r.info for r in rs]})
        for name, m0 in rs[0].metrics.items():
            ms = [r.metrics[name] for r in rs if name in r.metrics]
            vals = np.array([m.value for m in ms], dtype=float)
            value = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
            pq = (
                np.concatenate([m.per_query for m in ms])
                if all(m.per_query.size for m in ms)
                else np.zeros(0)
            )
            info: dict[str, Any] = {"per_seed_values": vals.tolist()}
            if "matrix" in m0.info:
                with np.errstate(all="ignore"):
                    mats = np.array([m.info["matrix"] for m in ms], dtype=float)
                    stacked = np.where(np.isfinite(mats), mats, 0.0).sum(0)
                    count = np.isfinite(mats).sum(0)
                    info["matrix"] = np.where(
                        count > 0, stacked / np.maximum(count, 1), np.nan
                    ).tolist()
                info["k"] = m0.info.get("k")
            merged.add(MetricResult(name, value, pq, m0.higher_is_better, info))
        out.append(merged)
    return out
