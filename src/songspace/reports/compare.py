"""``songspace compare``: train what is missing, evaluate everything together, report.

For every seed of the experiment the evaluation protocol is built once
(:func:`songspace.evaluation.protocol.make_protocol`), every model trains on its
training view, and :func:`songspace.evaluation.suite.evaluate_many` scores all
of them (with the random and popularity baselines) on the *same* test
playlists, pairs and candidates, so the per-query values pair up for the
significance tests.

**Cache.** Trained models are kept by :mod:`songspace.reports.cache` under
``RUN_DIR/cache`` (or ``cache_dir``), keyed on the dataset's content, the model,
its full parameters and the split: a re-run of the same config reuses every
model; changing one parameter retrains only that model; evaluation-only settings
(seed fraction, ``min_tracks``, k, ...) never retrain.

**Outputs** (written by :mod:`songspace.reports.writer` to ``RUN_DIR/report``,
replaced atomically by each run): the tables, ``results.json``, per-query values,
figures and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songspace._util import atomic_write_text, check_not_input
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol, make_protocol
from songspace.evaluation.results import EvaluationResult, merge_seeds
from songspace.evaluation.suite import check_families, evaluate_many
from songspace.progress import ProgressCallback, labelled
from songspace.reports.cache import (
    CACHE_FORMAT,
    TrainedModel,
    cache_key,
    model_params,
    split_key,
    train_or_load,
)
from songspace.reports.config import (
    ExperimentConfig,
    ModelSpec,
    ProtocolSpec,
    RecommenderSpec,
    load_config,
)
from songspace.reports.tables import ComparisonTable, build_table
from songspace.reports.writer import write_compare_report

__all__ = [
    "CACHE_FORMAT",
    "CompareResult",
    "TrainedModel",
    "cache_key",
    "dataset_fingerprint",
    "load_dataset",
    "merge_seeds",
    "model_params",
    "prepare_run_dir",
    "run_compare",
    "train_or_load",
]

logger = logging.getLogger(__name__)

RUN_MARKER = "songspace-run.json"
BASELINE_DESCRIBE = {
    "random": {"Method": "RANDOM", "Features": "-"},
    "popularity": {"Method": "POPULARITY", "Features": "-"},
}


@dataclass
class CompareResult:
    """What :func:`run_compare` produced (also written under ``out_dir/report``)."""

    config: ExperimentConfig
    out_dir: Path
    families: list[str]
    protocols: dict[int, dict[str, Any]]
    results: dict[float, list[EvaluationResult]]
    tables: dict[float, ComparisonTable]
    models: list[TrainedModel]
    skipped: dict[str, str]
    fingerprint: str = ""
    dataset_summary: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: the explorer page, when one was written (``songspace demo``)
    explore: Path | None = None

    @property
    def report_dir(self) -> Path:
        return self.out_dir / "report"

    @property
    def html(self) -> Path:
        return self.report_dir / "report.html"

    @property
    def main_table(self) -> ComparisonTable:
        return self.tables[self.config.protocol.seed_fractions[0]]

    @property
    def trained(self) -> list[str]:
        return [f"{m.spec.name}@{m.seed}" for m in self.models if not m.reused]

    @property
    def reused(self) -> list[str]:
        return [f"{m.spec.name}@{m.seed}" for m in self.models if m.reused]


# ----------------------------------------------------------------- dataset
def config_protocol(ds: Dataset, spec: ProtocolSpec, seed: int) -> Protocol:
    """The evaluation protocol an experiment's ``[protocol]`` table gives for ``seed``."""
    return make_protocol(
        ds,
        seed=seed,
        fractions=spec.fractions,
        cold_start_share=spec.cold_start_share,
        min_tracks=spec.min_tracks,
    )


def load_dataset(config: ExperimentConfig) -> Dataset:
    """The experiment's dataset: a prepared directory, or the synthetic generator."""
    if config.dataset.path is not None:
        return Dataset.load(config.dataset.path)
    from songspace.data.synthetic import generate

    return generate(**(config.dataset.synthetic or {}))


# --------------------------------------------------------------- run dirs
def prepare_run_dir(out_dir: Path, config: ExperimentConfig) -> None:
    """Create ``out_dir`` or accept a previous compare run; refuse any other directory."""
    marker = out_dir / RUN_MARKER
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InvalidValueError(
                "expected a directory for the run, found a file",
                path=out_dir,
                fix="choose another RUN_DIR",
            )
        if any(out_dir.iterdir()) and not marker.is_file():
            raise InvalidValueError(
                f"expected a new directory or one a previous `songspace compare` wrote "
                f"(with {RUN_MARKER}), found a directory with other content",
                path=out_dir,
                fix="choose a new RUN_DIR; compare never writes into unrelated directories",
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        atomic_write_text(
            marker,
            json.dumps(
                {"format": "songspace-compare-run", "version": 1, "experiment": config.name},
                indent=2,
            )
            + "\n",
        )


# -------------------------------------------------------------------- run
def run_compare(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    cache_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> CompareResult:
    """Run the experiment ``config`` into ``out_dir``; see the module docstring.

    ``data`` replaces the config's dataset (``--data``); ``cache_dir`` (default
    ``out_dir/cache``) may be shared between runs; ``only`` runs the named models
    of a config file only (``--only``).
    """
    t_start = time.perf_counter()
    cfg = _experiment(config, only, data)
    out = Path(out_dir)
    cache = _prepare_outputs(out, cfg, config, cache_dir)
    ds, fingerprint = _load_dataset_logged(cfg)
    specs, skipped = _check_features(cfg, ds)
    if not specs:
        raise ParameterError(
            "models",
            "at least one model whose feature groups the dataset has",
            "none",
            fix=f"dataset feature groups: {sorted(ds.features)}",
        )
    p = cfg.protocol
    per_seed: dict[int, dict[float, list[EvaluationResult]]] = {}
    protocols: dict[int, dict[str, Any]] = {}
    trained: list[TrainedModel] = []
    families: list[str] = []
    eval_seconds = 0.0
    for seed in p.seeds:
        protocol = config_protocol(ds, p, seed)
        families = _seed_families(p, protocol, seed)
        protocols[seed] = protocol.summary()
        view = split_key(seed, p.fractions, p.cold_start_share)
        embs, infos = _train_models(specs, protocol, cache, fingerprint, view, seed, progress)
        trained.extend(infos)
        if cfg.recommender is not None:
            embs.append(_fit_recommender(cfg.recommender, protocol, embs, seed, progress))
        t1 = time.perf_counter()
        per_seed[seed] = _evaluate_fractions(p, protocol, embs, families, seed, progress)
        eval_seconds += time.perf_counter() - t1

    merged = {frac: merge_seeds([per_seed[s][frac] for s in p.seeds]) for frac in p.seed_fractions}
    tables = _tables(cfg, specs, merged, families, protocols)
    result = CompareResult(
        cfg,
        out,
        families,
        protocols,
        merged,
        tables,
        trained,
        skipped,
        fingerprint,
        ds.summary(),
    )
    result.seconds = {
        "training": float(sum(m.training_time for m in trained if not m.reused)),
        "evaluation": eval_seconds,
    }
    write_compare_report(result, ds, per_seed)
    result.seconds["total"] = time.perf_counter() - t_start
    logger.info(
        "compare %s finished in %.1fs: trained %d, reused %d; report in %s",
        cfg.name,
        result.seconds["total"],
        len(result.trained),
        len(result.reused),
        result.report_dir,
    )
    return result


def _experiment(
    config: ExperimentConfig | str | Path, only: Sequence[str] | None, data: str | Path | None
) -> ExperimentConfig:
    """The experiment :func:`run_compare` runs: ``config`` (or the file it names) with only
    the models ``only`` names and, with ``data``, that dataset instead of its own."""
    if isinstance(config, ExperimentConfig):
        if only is not None:
            keep = [m for m in config.models if m.name in only]
            config = dataclasses.replace(config, models=tuple(keep))
        cfg = config
    else:
        cfg = load_config(config, only=only)
    if data is not None:
        cfg = cfg.with_dataset(data)
    return cfg


def _prepare_outputs(
    out: Path,
    cfg: ExperimentConfig,
    config: ExperimentConfig | str | Path,
    cache_dir: str | Path | None,
) -> Path:
    """Check and create the run directory and the model cache (default ``out/cache``);
    neither the report nor the cache may be an input (the dataset, the config file).
    Returns the cache directory."""
    prepare_run_dir(out, cfg)
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    inputs = (cfg.dataset.path, None if isinstance(config, ExperimentConfig) else config)
    for written in (out / "report", cache):
        check_not_input(written, inputs)
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def _load_dataset_logged(cfg: ExperimentConfig) -> tuple[Dataset, str]:
    """The experiment's dataset and its fingerprint (logged with the time they took)."""
    t0 = time.perf_counter()
    ds = load_dataset(cfg)
    fingerprint = dataset_fingerprint(ds)
    logger.info(
        "dataset %s: %d sequences, %d tracks (loaded in %.1fs)",
        cfg.dataset.describe(),
        ds.n_sequences,
        ds.n_tracks,
        time.perf_counter() - t0,
    )
    return ds, fingerprint


def _seed_families(p: ProtocolSpec, protocol: Protocol, seed: int) -> list[str]:
    """The metric families of one seed's protocol; refuses completion without test playlists."""
    families = check_families(list(p.metrics) if p.metrics else None, protocol)
    if "completion" in families and len(protocol.completion) == 0:
        raise InvalidValueError(
            f"expected test playlists with at least {p.min_tracks} tracks, found none "
            f"(seed {seed}, test fraction {p.test_fraction})",
            record="[protocol]",
            fix="raise test_fraction or lower min_tracks ([protocol] of the config; "
            "`songspace demo --min-tracks`)",
        )
    return families


def _train_models(
    specs: Sequence[ModelSpec],
    protocol: Protocol,
    cache: Path,
    fingerprint: str,
    view: dict[str, Any],
    seed: int,
    progress: ProgressCallback | None,
) -> tuple[list[Embeddings], list[TrainedModel]]:
    """Each model trained on the protocol's training view (or loaded from the cache): its
    embeddings and what the cache says about it, in ``specs`` order."""
    embs, infos = [], []
    n_tracks = protocol.dataset.n_tracks
    for spec in specs:
        model, info = train_or_load(
            spec,
            protocol,
            cache,
            fingerprint,
            view,
            progress=labelled(progress, f"training {spec.name} (seed {seed})"),
        )
        infos.append(info)
        embs.append(
            Embeddings.from_array(
                model.embeddings_,
                n_tracks,
                available=model.available_,
                name=spec.name,
                source=f"model {spec.name}",
            )
        )
    return embs, infos


def _fit_recommender(
    spec: RecommenderSpec,
    protocol: Protocol,
    embs: Sequence[Embeddings],
    seed: int,
    progress: ProgressCallback | None,
) -> Embeddings:
    """The ``[recommender]`` row of one seed: a two-stage recommender fitted on the
    protocol (its training view and validation queries) with the named rows' embeddings."""
    from songspace.evaluation.rankers import read_ranker_settings
    from songspace.recommender import TwoStageRanker

    chosen = [e for e in embs if spec.embeddings is None or e.name in spec.embeddings]
    rankers = read_ranker_settings(spec.rankers_config) if spec.rankers_config else None
    logger.info(
        "fitting the recommender %s (seed %d) with %s",
        spec.name,
        seed,
        ", ".join(e.name for e in chosen) or "no embeddings",
    )
    rec = TwoStageRanker.fit(
        protocol,
        chosen,
        rankers=rankers,
        name=spec.name,
        progress=labelled(progress, f"recommender {spec.name} (seed {seed})"),
        **spec.params,
    )
    return Embeddings.from_ranker(rec, protocol.dataset.n_tracks)


def _evaluate_fractions(
    p: ProtocolSpec,
    protocol: Protocol,
    embs: list[Embeddings],
    families: list[str],
    seed: int,
    progress: ProgressCallback | None,
) -> dict[float, list[EvaluationResult]]:
    """One seed's results per seed fraction: every family at the first fraction, only
    completion (the one family a seed fraction changes) at the others."""
    out: dict[float, list[EvaluationResult]] = {}
    for i, frac in enumerate(p.seed_fractions):
        fams = families if i == 0 else [f for f in families if f == "completion"]
        logger.info(
            "evaluating %d models + 2 baselines (seed %d, seed fraction %g): %s",
            len(embs),
            seed,
            frac,
            ", ".join(fams),
        )
        results, _ = evaluate_many(
            protocol,
            embs,
            baselines=True,
            families=fams,
            settings=p.suite(frac),
            random_dim=p.random_dim,
            rankers=p.rankers,
            progress=progress,
        )
        out[frac] = results
    return out


def _tables(
    cfg: ExperimentConfig,
    specs: Sequence[ModelSpec],
    merged: dict[float, list[EvaluationResult]],
    families: list[str],
    protocols: dict[int, dict[str, Any]],
) -> dict[float, ComparisonTable]:
    """One comparison table per seed fraction (after the first, completion columns only)."""
    p = cfg.protocol
    describe = {
        **BASELINE_DESCRIBE,
        **{r: {"Method": r.upper(), "Features": "-"} for r in p.rankers},
    }
    for s in specs:
        describe[s.name] = {"Method": s.label, **s.columns, "Features": s.features}
    if cfg.recommender is not None:
        used = cfg.recommender.embeddings or [s.name for s in specs]
        describe[cfg.recommender.name] = {"Method": "Two-stage", "Features": ", ".join(used)}
    baselines = ["random", "popularity", *p.rankers, *(s.name for s in specs if s.baseline)]
    paper = {s.name: s.paper for s in specs if s.paper}
    all_cols = cfg.columns(families)
    tables = {}
    for i, frac in enumerate(p.seed_fractions):
        available = {m for r in merged[frac] for m in r.metrics}
        cols = [c for c in all_cols if c in available]
        if i > 0:
            cols = [c for c in cols if c.startswith("completion_")]
        n_pl = sum(protocols[s]["completion_playlists"] for s in p.seeds)
        parts = [f"seed fraction {frac:.0%}", f"{n_pl} test playlists"]
        parts = parts if "completion" in families else []
        parts.append(f"seeds {', '.join(map(str, p.seeds))}")
        title = f"{cfg.title} ({', '.join(parts)})"
        tables[frac] = build_table(
            merged[frac],
            cols,
            describe=describe,
            baselines=baselines,
            yardsticks=["random", "popularity", *p.rankers],
            paper=paper,
            alpha=cfg.report.alpha,
            title=title,
        )
    return tables


def _check_features(cfg: ExperimentConfig, ds: Dataset) -> tuple[list[ModelSpec], dict[str, str]]:
    specs, skipped = [], {}
    for s in cfg.models:
        missing = [g for g in s.requires if g not in ds.features]
        if not missing:
            specs.append(s)
            continue
        reason = (
            f"the dataset has no feature group {', '.join(map(repr, missing))} "
            f"(it has {', '.join(sorted(ds.features)) or 'none'})"
        )
        if cfg.protocol.on_missing_features == "skip":
            logger.warning("skipping %s: %s", s.name, reason)
            skipped[s.name] = reason
        else:
            raise ParameterError(
                f"models.{s.name}.params",
                f"feature groups the dataset has ({', '.join(sorted(ds.features))})",
                missing,
                fix="remove the row, use a dataset with that group, or set [protocol] "
                'on_missing_features = "skip"',
            )
    return specs, skipped
