"""``songspace cold-start``: fit the models on the cold-start training view, score, report.

The protocol and the scoring are :mod:`songspace.evaluation.cold_start`
(MUSIG §3.2): a seeded share of the training tracks is hidden from training; a
transductive model cannot embed them, an inductive one embeds them from their
new edges with ``model.embed(grown)``, no retraining (reported as ``<name>
(edges added)``, beside its training-time vectors, ``<name> (no edges)``).

This runner fits each model (through the shared cache of
:mod:`songspace.reports.cache` when a ``cache_dir`` is given), scores every row
with the random and popularity baselines, runs the paired tests against the
reference row (found by name: the first row of the first model given, unless
``reference`` names another) and renders the table with
:mod:`songspace.reports.tables`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_directory, check_output_free, to_jsonable
from songspace.data.dataset import Dataset
from songspace.data.defaults import DEFAULT_COLD_SHARE
from songspace.data.fingerprint import dataset_fingerprint
from songspace.errors import ParameterError
from songspace.evaluation.cold_start import (
    FIXES,
    SETTINGS,
    ColdStart,
    ColdStartReport,
    cold_start_protocol,
    score_cold_start,
)
from songspace.evaluation.defaults import DEFAULT_ALPHA, DEFAULT_COLD_TEST_FRACTION
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.results import compare
from songspace.evaluation.suite import DEFAULT_MIN_TRACKS, DEFAULT_SUITE, shared_testable
from songspace.models.base import EmbeddingModel, InductiveModel
from songspace.params import POSITIVE_INT, validate_params
from songspace.progress import ProgressCallback
from songspace.reports.cache import fit_or_load, full_params, split_key
from songspace.reports.defaults import DEFAULT_COLD_START_MODELS
from songspace.reports.tables import ComparisonTable, build_table, to_markdown

__all__ = [
    "TABLE_METRICS",
    "ColdStart",
    "ColdStartReport",
    "cold_start_evaluation",
    "cold_start_protocol",
    "cold_start_table",
    "report_table",
    "row_names",
    "run_cold_start",
]

logger = logging.getLogger(__name__)

#: Metrics shown in the cold-start table (those present are printed).
TABLE_METRICS = (
    "completion_hr",
    "completion_mrr",
    "completion_p@10",
    "completion_ndcg@10",
    "next_song_cold_hit_rate",
    "next_song_cold_ndcg",
)
#: Level of the table's marks (Bonferroni-corrected), as in ``summary.json``'s tests.
ALPHA = DEFAULT_ALPHA


def row_names(name: str, model: EmbeddingModel) -> list[str]:
    """The rows model ``name`` contributes: inductive models give their vectors without
    and with the cold tracks' edges, transductive ones their vectors."""
    if isinstance(model, InductiveModel):
        return [f"{name} (no edges)", f"{name} (edges added)"]
    return [name]


def _fit(
    name: str,
    model: EmbeddingModel,
    setup: ColdStart,
    cache_dir: Path | None,
    fingerprint: str | None,
    cold_share: float,
    progress: ProgressCallback | None = None,
) -> EmbeddingModel:
    if cache_dir is None or fingerprint is None:
        model.fit(setup.protocol.train, progress=progress)
        return model
    p = setup.protocol
    fitted, _ = fit_or_load(
        model.name,
        full_params(model.name, model.get_params()),
        p.train,
        cache_dir,
        fingerprint,
        split_key(p.seed, p.settings["fractions"], cold_share),
        label=f"{name} (cold start)",
        progress=progress,
    )
    return fitted


@validate_params({**SETTINGS, "k": POSITIVE_INT}, fixes=FIXES)
def cold_start_evaluation(
    dataset: Dataset,
    models: Mapping[str, EmbeddingModel],
    *,
    seed: int = 0,
    test_fraction: float = DEFAULT_COLD_TEST_FRACTION,
    cold_share: float = DEFAULT_COLD_SHARE,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    k: int = DEFAULT_SUITE.k,
    reference: str | None = None,
    cache_dir: str | Path | None = None,
    on_model: Callable[[str], Any] | None = None,
    progress: ProgressCallback | None = None,
) -> ColdStartReport:
    """Fit each (unfitted) model on the cold-start training view and score it
    (``progress`` is passed to every fit).

    ``models`` maps a display name to a model. ``reference`` names the row the paired
    tests (Bonferroni-corrected, as everywhere) compare against; default: the first
    row of the first model. With ``cache_dir``, fitted models come from (and go to)
    the shared model cache.
    """
    if not models:
        raise ParameterError("models", "at least one model", "none")
    setup = cold_start_protocol(
        dataset,
        seed=seed,
        test_fraction=test_fraction,
        cold_share=cold_share,
        min_tracks=min_tracks,
    )
    rows = [r for name, m in models.items() for r in row_names(name, m)]
    ref_name = reference if reference is not None else rows[0]
    if ref_name not in rows:
        raise ParameterError(
            "reference",
            f"one of the rows being scored ({rows})",
            ref_name,
            fix="name a model given (inductive models: '<name> (edges added)')",
        )
    cache = Path(cache_dir) if cache_dir is not None else None
    fingerprint = dataset_fingerprint(dataset) if cache is not None else None
    n = dataset.n_tracks
    embs = [
        Embeddings.random(n, seed=seed),
        Embeddings.popularity_baseline(setup.protocol.train),
    ]
    times: dict[str, float] = {}
    for name, model in models.items():
        if on_model is not None:
            on_model(name)
        fitted = _fit(name, model, setup, cache, fingerprint, cold_share, progress)
        times[name] = fitted.training_time_
        names = row_names(name, fitted)
        if isinstance(fitted, InductiveModel):
            embs.append(
                Embeddings.from_array(
                    fitted.embeddings_, n, available=fitted.available_, name=names[0]
                )
            )
            assert isinstance(fitted, InductiveModel)
            grown = fitted.embed(setup.grown)
            embs.append(
                Embeddings.from_array(
                    grown, n, available=np.linalg.norm(grown, axis=1) > 0, name=names[1]
                )
            )
        else:
            embs.append(
                Embeddings.from_array(
                    fitted.embeddings_, n, available=fitted.available_, name=names[0]
                )
            )
    results = [score_cold_start(setup, e, k) for e in embs]
    ref = next(r for r in results if r.model == ref_name)
    tests = {
        r.model: compare(r, ref, metrics=shared_testable(r, ref)) for r in results if r is not ref
    }
    return ColdStartReport(setup, results, tests, times, reference=ref_name)


def cold_start_table(report: ColdStartReport) -> ComparisonTable:
    """The report as a table (rows: baselines and models; the cold coverage beside each
    name); marks: significantly better than the reference row."""
    present = [m for m in TABLE_METRICS if any(m in r.metrics for r in report.results)]
    describe = {
        r.model: {"model": r.model, "cold coverage": f"{r.info['cold_coverage']:.2f}"}
        for r in report.results
    }
    s = report.setup.summary()
    return build_table(
        report.results,
        present,
        describe=describe,
        against={"†": report.reference},
        alpha=ALPHA,
        title=f"Cold start: {s['cold_tracks']:,} cold tracks; {s['cold_playlists']} test "
        f"playlists and {s['cold_pairs']:,} next-song pairs involve them",
    )


def report_table(report: ColdStartReport) -> str:
    """Markdown table of a cold-start report (see :func:`cold_start_table`)."""
    return to_markdown(cold_start_table(report))


@validate_params(SETTINGS, fixes=FIXES)
def run_cold_start(
    dataset_dir: str | Path,
    models: Sequence[str] = DEFAULT_COLD_START_MODELS,
    *,
    out: str | Path | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    features_only: bool = True,
    seed: int = 0,
    test_fraction: float = DEFAULT_COLD_TEST_FRACTION,
    cold_share: float = DEFAULT_COLD_SHARE,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    on_model: Callable[[str], Any] | None = None,
) -> ColdStartReport:
    """What ``songspace cold-start`` runs: ``models`` (registry names; the first is the
    reference row). ``params[name]`` overrides model ``name``'s
    defaults (CLI strings are coerced); ``features_only`` adds GraphSAGE with
    ``aggregate=False`` (its own ``params["features_only"]``). ``out`` receives one
    ``<model>.json`` (+ per-query sidecar) per row, ``summary.json`` and ``table.md``.
    ``cache_dir``: the shared model cache (see :mod:`songspace.reports.cache`)."""
    from songspace.models.registry import create

    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=(dataset_dir,))
    params = dict(params or {})
    names = list(models) + (["features_only"] if features_only else [])
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ParameterError(
            "params",
            f"parameters for the models being run ({names})",
            unknown,
            fix="prefix each --param with one of the model names given",
        )
    built: dict[str, EmbeddingModel] = {}
    for name in names:
        raw = dict(params.get(name, {}))
        if name == "features_only":
            raw["aggregate"] = False
        built[name] = create(
            "graphsage" if name == "features_only" else name, raw, from_strings=True
        )
    ds = Dataset.load(dataset_dir)
    report = cold_start_evaluation(
        ds,
        built,
        seed=seed,
        test_fraction=test_fraction,
        cold_share=cold_share,
        min_tracks=min_tracks,
        cache_dir=cache_dir,
        on_model=on_model,
        progress=progress,
    )
    if out is not None:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            for r in report.results:
                r.save(tmp / f"{r.model.replace(' ', '_').replace('(', '').replace(')', '')}.json")
            summary = {
                "dataset": str(dataset_dir),
                "setup": report.setup.summary(),
                "models": {n: m.get_params() for n, m in built.items()},
                "training_time": report.training_time,
                "results": {r.model: {**r.values(), **r.info} for r in report.results},
                "tests_against": report.reference,
                "tests": {m: {k: vars(c) for k, c in cs.items()} for m, cs in report.tests.items()},
            }
            (tmp / "summary.json").write_text(json.dumps(to_jsonable(summary), indent=2) + "\n")
            (tmp / "table.md").write_text(report_table(report))
    return report
