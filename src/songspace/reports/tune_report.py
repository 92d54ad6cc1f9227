"""Final report of one or several studies on the *test* split (W2V Tables 4 and 6).

For the studies given (same model, data, split and fixed parameters), the
default configuration and each study's best configuration (for a Pareto study,
up to ``max_pareto`` members of the Pareto set) are retrained on the full
training view and evaluated on the test protocol of
:func:`songspace.tuning.protocols.tuning_protocols`, never on the validation
queries used for tuning. Paired t-tests with Bonferroni correction over the
tested metrics (HitRate, NDCG, HardNeg, completion HR; VRC has no per-query
values) mark with a dagger a significant improvement over the default, and with
a double dagger one over the best single-objective HitRate configuration when
such a study is included (W2V Table 4). HitRate and NDCG are the mean of the
in-set and out-of-set values; their test uses every pair's value weighted so
that the weighted mean is that average.

Configurations are fitted through the shared model cache
(:mod:`songspace.reports.cache`) when ``cache_dir`` is given, so a second report
of the same studies (or one that shares configurations with a ``songspace
compare`` run on the same data and split) retrains nothing. The table is
rendered by :mod:`songspace.reports.tables`; which way a metric improves comes
from its :class:`~songspace.evaluation.results.MetricResult`.

The output directory gets ``report.md`` (the table and each configuration, every
trial's training CPU time and where the trials' time went, phase by phase:
:mod:`songspace.tuning.timing`), ``report.json``, ``history-<study>.png``
(optimisation history) and, for Pareto studies, ``pareto-<study>.png``, plus each
configuration's evaluation (``results/<row>.json`` with per-query values). The popularity
buckets of W2V §4.5 (Figure 2) come with it, on the same test split: a same-bucket table
in ``report.md``, ``buckets-<row>.png`` (HitRate by query and target bucket) per
configuration and ``diagonal-<row>.png`` (each tuned configuration's same-bucket HitRate
beside the default's, Figure 2c).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from songspace._optional import pyplot
from songspace._util import atomic_directory, atomic_write_figure, check_output_free, to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint, fingerprint_matches
from songspace.errors import ParameterError
from songspace.evaluation.defaults import SuiteSettings
from songspace.evaluation.popularity import SAME_BUCKET_HR
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.results import EvaluationResult, MetricResult, compare
from songspace.evaluation.suite import evaluate, unsupported
from songspace.models.base import EmbeddingModel
from songspace.models.registry import get_model_class
from songspace.params import POSITIVE_INT, Interval, check_param
from songspace.progress import ProgressCallback
from songspace.reports.cache import fit_or_load, full_params, split_key
from songspace.reports.tables import ComparisonTable, build_table, to_markdown
from songspace.tuning.objectives import OBJECTIVES, StudyObjective
from songspace.tuning.protocols import tuning_protocols
from songspace.tuning.settings import (
    DEFAULT_MAX_PARETO,
    DEFAULT_SIGNIFICANCE,
    StudySettings,
)
from songspace.tuning.storage import (
    fail_stale_trials,
    open_storage,
    optuna_module,
    redact,
    storage_file,
    storage_url,
)
from songspace.tuning.study import (
    _embeddings,
    best_trials,
    count_states,
    reference_config,
    warm_up,
)
from songspace.tuning.timing import breakdown_markdown

logger = logging.getLogger(__name__)

#: Metrics of the report table (HitRate and NDCG: mean of in-set and out-of-set).
COLUMNS = ("hit_rate", "ndcg", "hardneg", "vrc_genre", "vrc_artist", "completion_hr")
#: Descriptive columns of the report table (W2V Table 4).
DESCRIBE = ("Opt. type", "Objective", "Study (trial)", "Sample rate", "Opt. time", "Trials")
TESTED = ("hit_rate", "ndcg", "hardneg", "completion_hr")
FAMILIES = ("next_song", "hardneg", "clustering", "completion", "popularity")


@dataclass
class ReportRow:
    """One configuration of the report."""

    label: str
    study: str | None
    opt_type: str
    objective: str
    params: dict[str, Any]
    trial: int | None = None
    sample_rate: float | None = None
    tuning_seconds: float | None = None
    trials: dict[str, int] = field(default_factory=dict)
    training_time: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    vs_default: dict[str, dict[str, Any]] = field(default_factory=dict)
    vs_single: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Report:
    """What :func:`tune_report` returns: the rows, the table and its notes (also written
    to ``out``)."""

    rows: list[ReportRow]
    markdown: str
    out: Path | None
    protocol: dict[str, Any]
    table: ComparisonTable | None = None
    notes: list[str] = field(default_factory=list)


def combined(in_set: MetricResult, out_of_set: MetricResult, name: str) -> MetricResult:
    """The mean of two protocols' metric as one testable metric: per-pair values weighted
    ``(n1 + n2) / (2 n_i)`` so their mean is ``(mean_1 + mean_2) / 2``."""
    a, b = in_set.per_query, out_of_set.per_query
    n = len(a) + len(b)
    pq = np.concatenate([a * (n / (2 * len(a))), b * (n / (2 * len(b)))])
    return MetricResult.mean_of(name, pq, info={"in_set": in_set.value, "out_of_set": b.mean()})


def _table_metrics(res: EvaluationResult) -> dict[str, MetricResult]:
    m = res.metrics
    out: dict[str, MetricResult] = {}
    for short, key in (("hit_rate", "hit_rate"), ("ndcg", "ndcg")):
        a, b = m.get(f"next_song_in_set_{key}"), m.get(f"next_song_out_of_set_{key}")
        if a is not None and b is not None and a.per_query.size and b.per_query.size:
            out[short] = combined(a, b, short)
    for name in ("hardneg", "vrc_genre", "vrc_artist", "completion_hr"):
        if name in m:
            r = m[name]
            out[name] = MetricResult(r.name, r.value, r.per_query, r.higher_is_better, r.info)
    return out


def _tests(
    a: dict[str, MetricResult], b: dict[str, MetricResult], alpha: float
) -> dict[str, dict[str, Any]]:
    names = [
        k
        for k in TESTED
        if k in a
        and k in b
        and a[k].per_query.size > 1
        and a[k].per_query.shape == b[k].per_query.shape
    ]
    if not names:
        return {}
    ra, rb = EvaluationResult("a"), EvaluationResult("b")
    ra.add(*(a[k] for k in names))
    rb.add(*(b[k] for k in names))
    tests = compare(ra, rb, metrics=names, alpha=alpha)
    out = {}
    for k, c in tests.items():
        diff = c.value_a - c.value_b
        better = diff > 0 if a[k].higher_is_better else diff < 0
        out[k] = {**vars(c), "better": bool(c.significant and better)}
    return out


def _hardneg_suite(
    suite: SuiteSettings, threshold: float | None, min_count: int | None
) -> SuiteSettings:
    """The studies' evaluation settings with the report's HardNeg overrides."""
    if threshold is not None:
        check_param("hardneg_threshold", threshold, Interval(float, 0, None, closed="neither"))
        suite = replace(suite, hardneg_threshold=float(threshold))
    if min_count is not None:
        check_param("hardneg_min_count", min_count, POSITIVE_INT)
        suite = replace(suite, hardneg_min_count=int(min_count))
    return suite


def _hardneg_note(suite: SuiteSettings, studies: SuiteSettings) -> str:
    def rule(s: SuiteSettings) -> str:
        th = "1e-7 x occurrences" if s.hardneg_threshold is None else f"{s.hardneg_threshold:g}"
        return f"chi-squared below {th}, adjacent at least {s.hardneg_min_count} times"

    same = (suite.hardneg_threshold, suite.hardneg_min_count) == (
        studies.hardneg_threshold,
        studies.hardneg_min_count,
    )
    return f"HardNeg: hard negatives are pairs {rule(suite)}" + (
        "." if same else f" (the studies': {rule(studies)})."
    )


def _pick_pareto(trials: list[Any], limit: int) -> list[Any]:
    """Up to ``limit`` Pareto members spread along the first objective."""
    if len(trials) <= limit:
        return trials
    ordered = sorted(trials, key=lambda t: t.values[0])
    idx = np.unique(np.round(np.linspace(0, len(ordered) - 1, limit)).astype(int))
    return [ordered[i] for i in idx]


def _tuning_seconds(study: Any) -> float:
    total = float(study.user_attrs.get("reference", {}).get("seconds", 0.0))
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is not None and t.datetime_complete is not None:
            total += (t.datetime_complete - t.datetime_start).total_seconds()
    return total


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "study"


def tune_report(
    studies: Sequence[str],
    out: str | Path | None = None,
    *,
    storage: str | Path | None = None,
    dataset: str | Path | None = None,
    max_pareto: int = DEFAULT_MAX_PARETO,
    significance: float = DEFAULT_SIGNIFICANCE,
    overwrite: bool = False,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    hardneg_threshold: float | None = None,
    hardneg_min_count: int | None = None,
) -> Report:
    """Retrain and compare the default and the studies' best configurations on the test split.

    ``dataset`` overrides the dataset path stored in the studies (it must hold the
    same data). ``significance`` is the Bonferroni-corrected level of the marks
    (the paper's 0.01). ``cache_dir``: the shared model cache (configurations
    already trained on the same data and training view are loaded, not retrained).
    ``hardneg_threshold`` / ``hardneg_min_count``: the HardNeg column's chi-squared
    threshold and "high co-occurrence" count on the test split (None: the studies'; an
    evaluation setting, so it changes no trial): the paper's threshold rule can leave a
    small corpus without a single hard negative.
    """
    _check_arguments(studies, out, storage, dataset, max_pareto, significance, overwrite)
    url, loaded = _load_studies(studies, storage)
    first = loaded[0][2]
    check_same_settings([(name, s) for name, _, s in loaded], SHARED_SETTINGS)
    ds_path, ds = _tuned_dataset(dataset, first)
    protocol = tuning_protocols(
        ds, seed=first.seed, heldout_fraction=first.heldout_fraction, min_tracks=first.min_tracks
    ).test
    klass = get_model_class(first.model)
    suite = _hardneg_suite(first.suite(), hardneg_threshold, hardneg_min_count)
    rows, single_hr = _report_rows(loaded, klass, first, max_pareto)
    configs = [Configuration(r.label, first.model, r.params) for r in rows]
    evals, times = retrain_and_evaluate(
        configs,
        protocol,
        ds,
        seed=first.seed,
        heldout_fraction=first.heldout_fraction,
        cache_dir=cache_dir,
        suite=suite,
        progress=progress,
    )
    for row in rows:
        row.training_time = times[row.label]
    results = {label: _table_metrics(res) for label, res in evals.items()}
    for row in rows:
        row.values = {k: float(v.value) for k, v in results[row.label].items()}
    single_row = next((r for r in rows if single_hr and r.study == single_hr), None)
    for row in rows[1:]:
        row.vs_default = _tests(results[row.label], results["default"], significance)
        if single_row is not None and row is not single_row:
            row.vs_single = _tests(results[row.label], results[single_row.label], significance)
    table = report_table(rows, results, significance, single_row)
    notes = report_notes(rows, protocol.summary(), single_row)
    notes.append(_hardneg_note(suite, first.suite()))
    markdown = render_markdown(table, notes, rows) + bucket_markdown(rows, evals)
    markdown += "".join(
        trial_times(name, st, s) + breakdown_markdown(st, name) for name, st, s in loaded
    )
    report = Report(
        rows, markdown, Path(out) if out is not None else None, protocol.summary(), table, notes
    )
    if out is None:
        return report
    doc = {
        "storage": url,
        "dataset": str(ds_path),
        "protocol": protocol.summary(),
        "significance": significance,
        "rows": [vars(r) for r in rows],
    }
    _write_report(out, overwrite, markdown, doc, (rows, evals), loaded)
    return report


#: A loaded study: its name, the Optuna study and its songspace settings.
LoadedStudy = tuple[str, Any, StudySettings]
#: Settings every study of one report must share.
SHARED_SETTINGS = (
    "model",
    "dataset_fingerprint",
    "seed",
    "heldout_fraction",
    "min_tracks",
    "fixed_params",
    "k",
    "hardneg_min_count",
    "hardneg_threshold",
)


def _check_arguments(
    studies: Sequence[str],
    out: str | Path | None,
    storage: str | Path | None,
    dataset: str | Path | None,
    max_pareto: int,
    significance: float,
    overwrite: bool,
) -> None:
    """Refuse what :func:`tune_report` cannot run, before anything is loaded."""
    if not studies:
        raise ParameterError("study", "at least one study name", "none", fix="pass --study NAME")
    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=(dataset, storage_file(storage)))
    check_param("significance", significance, Interval(float, 0, 1, closed="neither"))
    check_param("max_pareto", max_pareto, POSITIVE_INT)


def _load_studies(
    studies: Sequence[str], storage: str | Path | None
) -> tuple[str, list[LoadedStudy]]:
    """The storage's URL (password hidden) and each named study with its settings; refuses
    an unknown study and one whose ``songspace tune`` reference run did not finish."""
    optuna = optuna_module()
    store = open_storage(storage, heartbeat=None, must_exist=True)
    url = redact(str(store.url) if hasattr(store, "url") else storage_url(storage))
    loaded = []
    for name in studies:
        try:
            st = optuna.load_study(study_name=name, storage=store)
        except KeyError:
            known = [s.study_name for s in optuna.get_all_study_summaries(store)]
            raise ParameterError(
                "study", f"a study in {url} (one of {known})", name, fix="check --storage/--study"
            ) from None
        attrs = st.user_attrs.get("songspace")
        if attrs is None or "reference" not in st.user_attrs:
            raise ParameterError(
                "study",
                "a study created by songspace tune whose reference run finished",
                name,
                fix="run `songspace tune` for it first",
            )
        loaded.append((name, st, StudySettings.from_attrs(attrs, name)))
    return url, loaded


def check_same_settings(studies: Sequence[tuple[str, StudySettings]], keys: Sequence[str]) -> None:
    """Refuse studies whose settings differ from the first study's in one of ``keys``
    (names of :class:`StudySettings` fields): what makes their test or validation
    queries, and so their figures, comparable."""
    first_name, first = studies[0]
    for name, s in studies[1:]:
        for key in keys:
            if getattr(s, key) != getattr(first, key):
                raise ParameterError(
                    key,
                    f"the same {key} in every study of one report ({first_name}: "
                    f"{getattr(first, key)!r})",
                    getattr(s, key),
                    fix=f"report study '{name}' separately",
                )


def _tuned_dataset(dataset: str | Path | None, first: StudySettings) -> tuple[Path, Dataset]:
    """The dataset the studies were tuned on (``dataset``, else the path they stored),
    refused when its content is not theirs."""
    ds_path = Path(dataset) if dataset is not None else Path(first.dataset)
    if not str(ds_path) or not ds_path.exists():
        raise ParameterError(
            "dataset", "an existing dataset directory", str(ds_path), fix="pass --dataset DIR"
        )
    ds = Dataset.load(ds_path)
    if not fingerprint_matches(ds, first.dataset_fingerprint):
        raise ParameterError(
            "dataset",
            "the dataset the studies were tuned on (same sequences and tracks)",
            str(ds_path),
        )
    return ds_path, ds


def _report_rows(
    loaded: list[LoadedStudy], klass: type[EmbeddingModel], first: StudySettings, max_pareto: int
) -> tuple[list[ReportRow], str | None]:
    """The default configuration's row, then each study's best trial(s); with the name of
    the first single-objective HitRate study (None if there is none)."""
    rows = [
        ReportRow(
            "default",
            None,
            "N/A",
            "N/A",
            reference_config(loaded[0][1], klass, first.fixed_params),
        )
    ]
    single_hr: str | None = None
    for name, st, s in loaded:
        fail_stale_trials(st)
        obj: StudyObjective = s.objective
        best = best_trials(st, obj)
        if obj.mode == "pareto":
            best = _pick_pareto(best, max_pareto)
        if not best:
            logger.warning("study '%s' has no complete trial: left out", name)
            continue
        if obj.mode == "single" and obj.objectives == ("hit_rate",) and single_hr is None:
            single_hr = name
        for t in best:
            label = name if len(best) == 1 else f"{name} #{t.number}"
            rows.append(
                ReportRow(
                    label,
                    name,
                    "Single-obj" if obj.mode == "single" else "Multi-obj",
                    obj.label,
                    {**klass.default_params(), **t.user_attrs["model_params"]},
                    trial=t.number,
                    sample_rate=s.sample_rate,
                    tuning_seconds=_tuning_seconds(st),
                    trials=count_states(st),
                )
            )
    return rows, single_hr


class _WarmUpOnce:
    """Called before a configuration is trained: the first call per model warms its class
    up on that model's first parameters (:func:`songspace.tuning.study.warm_up`); later
    calls do nothing (so cached configurations cost no warm-up)."""

    def __init__(self, train: Dataset) -> None:
        self.train = train
        self.done: set[str] = set()

    def before(self, model: str, params: dict[str, Any]) -> Callable[[], None]:
        def warm() -> None:
            if model not in self.done:
                warm_up(get_model_class(model), params, self.train)
                self.done.add(model)

        return warm


@dataclass(frozen=True)
class Configuration:
    """A configuration to retrain: its row label, model name and parameters."""

    label: str
    model: str
    params: dict[str, Any]


def retrain_and_evaluate(
    configs: Sequence[Configuration],
    protocol: Protocol,
    dataset: Dataset,
    *,
    seed: int,
    heldout_fraction: float,
    cache_dir: str | Path | None = None,
    families: Sequence[str] = FAMILIES,
    suite: SuiteSettings | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[dict[str, EvaluationResult], dict[str, float]]:
    """Each configuration retrained on ``protocol``'s training view (or loaded from the
    model cache, keyed by ``dataset``, the studies' whole dataset, and their split:
    ``seed`` and ``heldout_fraction``) and evaluated on ``protocol``: the results and the
    training CPU seconds, by label. Families the data cannot support are left out
    (logged); each model is warmed up before its first fit. The cache key names the split,
    not a sample of its training sequences, so a sampled protocol is refused with a cache."""
    cache = Path(cache_dir) if cache_dir is not None else None
    rate = protocol.settings.get("sample_rate", 1.0)
    if cache is not None and rate != 1.0:
        raise ParameterError(
            "cache_dir",
            "None for a protocol trained on a sample (the cache would serve the 100% model)",
            str(cache),
            fix=f"pass cache_dir=None for this protocol (sample_rate {rate})",
        )
    fingerprint = dataset_fingerprint(dataset) if cache is not None else ""
    h = heldout_fraction
    view = split_key(seed, (1.0 - 2 * h, h, h))
    warm = _WarmUpOnce(protocol.train)
    lacking = unsupported(protocol)
    for f in families:
        if f in lacking:
            logger.info("%s left out of the report: %s", f, lacking[f])
    kept = [f for f in families if f not in lacking]
    evals: dict[str, EvaluationResult] = {}
    times: dict[str, float] = {}
    for i, c in enumerate(configs):
        if progress is not None:
            progress(i, len(configs), f"retraining {c.label}")
        logger.info("retraining %s on the full training view", c.label)
        params = full_params(c.model, c.params)
        fitted, entry = fit_or_load(
            c.model,
            params,
            protocol.train,
            cache,
            fingerprint,
            view,
            label=c.label,
            before_fit=warm.before(c.model, params),
        )
        times[c.label] = entry.training_time
        evals[c.label] = evaluate(
            protocol, _embeddings(fitted, c.label), families=kept, settings=suite
        )
    return evals, times


def _write_report(
    out: str | Path,
    overwrite: bool,
    markdown: str,
    doc: dict[str, Any],
    evaluated: tuple[list[ReportRow], dict[str, EvaluationResult]],
    loaded: list[LoadedStudy],
) -> None:
    """``report.md``, ``report.json`` (``doc``), ``results/`` and the figures, written
    into ``out`` as one atomic directory."""
    rows, evals = evaluated
    with atomic_directory(out, overwrite=overwrite) as tmp:
        (tmp / "report.md").write_text(markdown)
        (tmp / "report.json").write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")
        (tmp / "results").mkdir()
        for label, res in evals.items():
            res.save(tmp / "results" / f"{_slug(label)}.json")
        bucket_figures(tmp, rows, evals)
        for name, st, s in loaded:
            plot_history(st, s.objective, tmp / f"history-{_slug(name)}.png", title=name)
            if s.objective.mode == "pareto":
                plot_pareto(st, s.objective, tmp / f"pareto-{_slug(name)}.png", title=name)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "N/A"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.1f} min"


def _trials(counts: dict[str, int]) -> str:
    if not counts:
        return "-"
    return f"{counts.get('COMPLETE', 0)}+{counts.get('PRUNED', 0)}r+{counts.get('FAIL', 0)}f"


def report_table(
    rows: list[ReportRow],
    results: dict[str, dict[str, MetricResult]],
    significance: float,
    single_row: ReportRow | None,
) -> ComparisonTable:
    """The W2V Table 4/6 layout: one row per configuration, best values in bold, marks
    against the default (†) and the best single-objective HitRate configuration (‡)."""
    evals = []
    for r in rows:
        e = EvaluationResult(r.label)
        e.add(*results[r.label].values())
        evals.append(e)
    describe = {
        r.label: {
            "Opt. type": r.opt_type,
            "Objective": r.objective,
            "Study (trial)": "-" if r.study is None else f"{r.study} ({r.trial})",
            "Sample rate": "N/A" if r.sample_rate is None else f"{r.sample_rate:g}",
            "Opt. time": _duration(r.tuning_seconds),
            "Trials": _trials(r.trials),
        }
        for r in rows
    }
    against = {"†": rows[0].label}
    if single_row is not None:
        against["‡"] = single_row.label
    return build_table(
        evals,
        list(COLUMNS),
        describe=describe,
        against=against,
        alpha=significance,
        formats={"vrc_genre": "{:.4g}", "vrc_artist": "{:.4g}"},
    )


def report_notes(
    rows: list[ReportRow], protocol: dict[str, Any], single_row: ReportRow | None
) -> list[str]:
    """What the table's numbers are, as sentences."""
    return [
        f"Test split: {protocol.get('in_set_pairs')} in-set and "
        f"{protocol.get('out_of_set_pairs')} out-of-set next-song pairs, "
        f"{protocol.get('completion_playlists')} completion playlists; every configuration "
        "retrained on the full training view (or loaded from the model cache).",
        f"‡: the best single-objective HitRate configuration "
        f"({single_row.label if single_row else 'none in this report'}). HitRate and NDCG are "
        "the mean of the in-set and out-of-set values; VRC has no per-query values and is "
        "not tested. Trials: complete + rejected for the time budget (r) + failed (f).",
    ]


def render_markdown(table: ComparisonTable, notes: list[str], rows: list[ReportRow]) -> str:
    """``report.md``: the table (:func:`songspace.reports.tables.to_markdown`), the notes and
    each configuration's training time and parameters."""
    lines = [to_markdown(table).rstrip("\n"), "", *notes, ""]
    lines += [
        "| Configuration | Training CPU time (s) | x default | Parameters |",
        "|---|---|---|---|",
    ]
    for r in rows:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items()
        )
        ratio = r.training_time / rows[0].training_time if rows[0].training_time > 0 else 0.0
        lines.append(f"| {r.label} | {r.training_time:.1f} | {ratio:.2f} | {params} |")
    return "\n".join(lines) + "\n"


def _bucket_matrix(res: EvaluationResult) -> tuple[np.ndarray, np.ndarray] | None:
    """The popularity family's HitRate and pair-count matrices (None: not evaluated)."""
    m = res.metrics.get(SAME_BUCKET_HR)
    if m is None or "matrix" not in m.info:
        return None
    return np.array(m.info["matrix"], dtype=float), np.array(m.info["counts"], dtype=int)


def bucket_markdown(rows: list[ReportRow], evals: dict[str, EvaluationResult]) -> str:
    """W2V Figure 2c as a table: each configuration's same-bucket HitRate (query and
    target in the same popularity bucket, 0 = most popular), with the pairs scored per
    bucket ("" when the popularity family was not evaluated)."""
    found = {r.label: _bucket_matrix(evals[r.label]) for r in rows}
    mats = {k: v for k, v in found.items() if v is not None}
    if not mats:
        return ""
    first = next(iter(mats.values()))
    n = first[0].shape[0]
    counts = " / ".join(str(int(c)) for c in np.diag(first[1]))
    k = evals[rows[0].label].metrics[SAME_BUCKET_HR].info.get("k", "k")
    lines = [
        "",
        f"Same-bucket HitRate@{k} by popularity bucket (W2V Figure 2c; buckets hold 20% "
        f"of the training listening events each, 0 = most popular; pairs scored per "
        f"bucket: {counts}; figures: buckets-<row>.png, diagonal-<row>.png).",
        "",
        "| Configuration | " + " | ".join(f"bucket {i}" for i in range(n)) + " | mean |",
        "|---|" + "---:|" * (n + 1),
    ]
    for label, (matrix, _) in mats.items():
        diag = np.diag(matrix)
        cells = " | ".join("-" if not np.isfinite(v) else f"{v:.3f}" for v in diag)
        mean = np.nanmean(diag) if np.isfinite(diag).any() else float("nan")
        lines.append(f"| {label} | {cells} | {mean:.3f} |")
    return "\n".join(lines) + "\n"


def bucket_figures(
    directory: Path, rows: list[ReportRow], evals: dict[str, EvaluationResult]
) -> None:
    """``buckets-<row>.png`` per configuration and ``diagonal-<row>.png`` per tuned
    configuration against the default (W2V Figure 2)."""
    from songspace.evaluation.popularity import plot_bucket_heatmap
    from songspace.reports.figures import diagonal_plot

    default = evals[rows[0].label]
    for row in rows:
        res = evals[row.label]
        found = _bucket_matrix(res)
        if found is None:
            continue
        plot_bucket_heatmap(
            found[0],
            directory / f"buckets-{_slug(row.label)}.png",
            title=f"{row.label}: HitRate by popularity bucket",
        )
        if row is not rows[0]:
            diagonal_plot(default, res, directory / f"diagonal-{_slug(row.label)}.png")


def trial_times(name: str, study: Any, settings: StudySettings) -> str:
    """Every trial's training CPU time beside the reference's (so the budget can be checked):
    a markdown section."""
    ref = study.user_attrs["reference"]
    ref_cpu = float(ref["training_time"])
    cap = settings.budget_factor
    lines = [
        "",
        f"Trials of {name}: training CPU time (budget mode {settings.budget_mode}"
        + (f", cap {cap:g} x the reference" if cap else "")
        + f"; the reference, the default configuration, trained in {ref_cpu:.1f} CPU s on "
        "the tuning view).",
        "",
        "| Trial | State | Budget-set | Predicted (s) | Training CPU (s) | x reference "
        "| Validation value |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        state = t.state.name.lower()
        if ua.get("rejected"):
            state = "rejected" + (
                " untrained" if "not trained" in ua.get("rejected_detail", "") else ""
            )
        elif ua.get("pruned"):
            state = "pruned"
        units = ", ".join(f"{k}={v}" for k, v in (ua.get("budget_units") or {}).items()) or "-"
        pred = ua.get("predicted_time")
        cpu = ua.get("training_time")
        value = ", ".join(f"{v:.4g}" for v in t.values) if t.values else "-"
        lines.append(
            f"| {t.number} | {state} | {units} | {'-' if pred is None else f'{pred:.1f}'} "
            f"| {'-' if cpu is None else f'{cpu:.1f}'} "
            f"| {'-' if cpu is None or ref_cpu <= 0 else f'{cpu / ref_cpu:.2f}'} | {value} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- plots
def _pyplot() -> Any:
    return pyplot("the tuning report's figures")


def plot_history(study: Any, objective: StudyObjective, path: str | Path, *, title: str) -> Path:
    """Objective value(s) per trial, best so far, and trials rejected for the time budget."""
    plt = _pyplot()
    optuna = optuna_module()
    trials = study.get_trials(deepcopy=False)
    names = objective.value_names
    directions = objective.directions
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.8 * len(names)), squeeze=False)
    for i, (name, direction) in enumerate(zip(names, directions, strict=True)):
        ax = axes[i][0]
        done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.values]
        xs = [t.number for t in done]
        ys = [t.values[i] for t in done]
        ax.scatter(xs, ys, s=18, label="complete trial")
        if ys and len(names) == 1:
            pick = np.minimum if direction == "minimize" else np.maximum
            ax.step(xs, pick.accumulate(np.asarray(ys)), where="post", color="C1", label="best")
        ref = study.user_attrs.get("reference", {}).get("metrics", {})
        metric = OBJECTIVES[name].metric if name in OBJECTIVES else None
        if metric in ref:
            ax.axhline(ref[metric], color="grey", ls="--", lw=1, label="default")
        elif objective.mode == "scalarised" and objective.alpha is not None:
            ax.axhline(
                float(objective.alpha) * ref.get(OBJECTIVES[objective.recommendation].metric, 0),
                color="grey",
                ls="--",
                lw=1,
                label="default",
            )
        rejected = [t.number for t in trials if t.user_attrs.get("rejected")]
        if rejected:
            y0 = min(ys) if ys else 0.0
            ax.scatter(
                rejected,
                [y0] * len(rejected),
                marker="x",
                color="red",
                label="rejected (time budget)",
            )
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    axes[-1][0].set_xlabel("trial")
    fig.suptitle(f"{title}: optimisation history")
    fig.tight_layout()
    atomic_write_figure(path, fig, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_pareto(study: Any, objective: StudyObjective, path: str | Path, *, title: str) -> Path:
    """The first two objectives of every complete trial, the Pareto set and the default."""
    plt = _pyplot()
    optuna = optuna_module()
    done = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE and t.values
    ]
    front = {t.number for t in study.best_trials} if done else set()
    names = objective.value_names[:2]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    other = [t for t in done if t.number not in front]
    best = sorted((t for t in done if t.number in front), key=lambda t: t.values[0])
    ax.scatter(
        [t.values[0] for t in other], [t.values[1] for t in other], s=18, color="C0", label="trial"
    )
    ax.plot(
        [t.values[0] for t in best],
        [t.values[1] for t in best],
        "o-",
        color="C3",
        label="Pareto set",
    )
    ref = study.user_attrs.get("reference", {}).get("metrics", {})
    m0, m1 = (OBJECTIVES[n].metric for n in names)
    if m0 in ref and m1 in ref:
        ax.scatter([ref[m0]], [ref[m1]], marker="*", s=160, color="grey", label="default")
    ax.set_xlabel(names[0] + (" (lower better)" if objective.directions[0] == "minimize" else ""))
    ax.set_ylabel(names[1] + (" (lower better)" if objective.directions[1] == "minimize" else ""))
    if len(objective.value_names) > 2:
        title += f" (first 2 of {len(objective.value_names)} objectives)"
    ax.set_title(f"{title}: Pareto front (validation)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write_figure(path, fig, dpi=110)
    plt.close(fig)
    return Path(path)
