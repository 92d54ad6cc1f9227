"""``songspace compare``: train what is missing, evaluate everything together, report.

For every seed of the experiment the evaluation protocol is built once
(:func:`songspace.evaluation.protocol.make_protocol`), every model trains on its
training view, and :func:`songspace.evaluation.suite.evaluate_many` scores all
of them (with the random and popularity baselines) on the *same* test
playlists, pairs and candidates, so the per-query values pair up for the
significance tests.

**Cache.** A trained model is stored under ``RUN_DIR/cache/<model>-<key>``
where ``key`` hashes what determines the fitted model: the dataset's content
(sequences, track ids, feature values), the model name, its full parameter set
(defaults filled in, the experiment seed as ``seed`` unless the config sets one)
and the split (seed, fractions, cold-start share). Settings that only affect
evaluation (seed fraction, ``min_tracks``, k, ...) are not part of the key, so
changing them re-evaluates without retraining. A re-run of the same config
reuses every model; changing one parameter retrains only that model.

**Outputs** (``RUN_DIR/report``, replaced atomically by each run): ``table.md`` /
``table.csv`` (the main table, first seed fraction), ``tables/`` (one per seed
fraction when several), ``paper.md`` (ours beside the paper's values when the
config has them), ``results.json`` (aggregates, tests, training times,
protocol), ``per_query/`` (every metric's per-query values per seed and seed
fraction, :class:`~songspace.evaluation.results.EvaluationResult` files),
``per_query_completion.csv``, ``figures/*.png`` and ``report.html`` (one
self-contained file).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_directory, atomic_write_text, check_not_input
from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol, make_protocol
from songspace.evaluation.results import EvaluationResult, MetricResult
from songspace.evaluation.suite import SuiteSettings, check_families, evaluate_many
from songspace.progress import ProgressCallback
from songspace.reports import figures as figs
from songspace.reports.config import ExperimentConfig, ModelSpec, load_config
from songspace.reports.html import Figure, Section, write_report
from songspace.reports.tables import (
    ComparisonTable,
    build_table,
    format_value,
    metric_label,
    paper_markdown,
    to_csv,
    to_markdown,
)

logger = logging.getLogger("songspace")

RUN_MARKER = "songspace-run.json"
CACHE_FORMAT = 1
BASELINE_DESCRIBE = {
    "random": {"Method": "RANDOM", "Features": "-"},
    "popularity": {"Method": "POPULARITY", "Features": "-"},
}


@dataclass
class TrainedModel:
    """One model of one seed: where it is cached and whether this run trained it."""

    spec: ModelSpec
    seed: int
    key: str
    path: Path
    training_time: float
    reused: bool
    coverage: float


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
def load_dataset(config: ExperimentConfig) -> Dataset:
    """The experiment's dataset: a prepared directory, or the synthetic generator."""
    if config.dataset.path is not None:
        return Dataset.load(config.dataset.path)
    from songspace.data.synthetic import generate

    return generate(**(config.dataset.synthetic or {}))


def dataset_fingerprint(ds: Dataset) -> str:
    """SHA-256 of what a model can learn from: sequences, track ids and feature values."""
    h = hashlib.sha256()
    for arr in (ds.indptr, ds.indices):
        a = np.ascontiguousarray(arr, dtype=np.int64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update("\x1f".join(map(str, ds.track_ids)).encode("utf-8"))
    for col in ("genre", "artist_id"):
        if col in ds.tracks:
            h.update(col.encode())
            h.update("\x1f".join(map(str, ds.tracks[col].tolist())).encode("utf-8"))
    for name in sorted(ds.features):
        g = ds.features[name]
        h.update(name.encode())
        h.update("\x1f".join(g.columns).encode())
        h.update(np.ascontiguousarray(g.values, dtype=np.float32).tobytes())
        h.update(np.packbits(np.asarray(g.known, dtype=bool)).tobytes())
    if ds.skipped is not None:
        h.update(np.packbits(np.asarray(ds.skipped, dtype=bool)).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------- cache
def model_params(spec: ModelSpec, seed: int) -> dict[str, Any]:
    """Full parameters of ``spec`` for ``seed``: defaults, config, and the run seed."""
    from songspace._util import to_jsonable
    from songspace.models.registry import create, get_model_class

    defaults = get_model_class(spec.model).default_params()
    params = dict(spec.params)
    if "seed" in defaults and "seed" not in spec.params:
        params["seed"] = seed
    return to_jsonable(create(spec.model, params, check=False).get_params())


def cache_key(
    fingerprint: str, spec: ModelSpec, params: dict[str, Any], protocol_key: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(hex key, the document hashed) of a trained model; see the module docstring."""
    from songspace.models.base import MODEL_FORMAT_VERSION

    doc = {
        "cache_format": CACHE_FORMAT,
        "model_format": MODEL_FORMAT_VERSION,
        "dataset": fingerprint,
        "model": spec.model,
        "params": params,
        "split": protocol_key,
    }
    text = json.dumps(doc, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest(), doc


def _split_key(config: ExperimentConfig, seed: int) -> dict[str, Any]:
    p = config.protocol
    return {
        "seed": seed,
        "fractions": list(p.fractions),
        "cold_start_share": p.cold_start_share,
        "training_view": "mask_last",
    }


def train_or_load(
    spec: ModelSpec,
    protocol: Protocol,
    cache_dir: Path,
    fingerprint: str,
    split_key: dict[str, Any],
    *,
    progress: ProgressCallback | None = None,
):
    """The fitted model of ``spec`` on ``protocol.train``: from the cache, or trained
    and cached (atomically). Returns ``(model, TrainedModel)``."""
    from songspace.models.base import EmbeddingModel
    from songspace.models.registry import create

    params = model_params(spec, protocol.seed)
    key, doc = cache_key(fingerprint, spec, params, split_key)
    path = cache_dir / f"{spec.model}-{key[:16]}"
    if (path / "model" / "model.json").is_file() and (path / "key.json").is_file():
        stored = json.loads((path / "key.json").read_text())
        if stored.get("key") == key:
            model = EmbeddingModel.load(path / "model")
            logger.info(
                "%s (seed %d): reusing the trained model in %s", spec.name, protocol.seed, path
            )
            return model, TrainedModel(
                spec,
                protocol.seed,
                key,
                path,
                model.training_time_,
                True,
                float(np.mean(model.available_)),
            )
    model = create(spec.model, params)
    logger.info(
        "%s (seed %d): training %s on %d sequences",
        spec.name,
        protocol.seed,
        spec.model,
        protocol.train.n_sequences,
    )
    model.fit(protocol.train, progress=progress)
    logger.info(
        "%s (seed %d): trained in %.1fs, %.1f%% of tracks embedded",
        spec.name,
        protocol.seed,
        model.training_time_,
        100 * float(np.mean(model.available_)),
    )
    with atomic_directory(path, overwrite=True) as tmp:
        model.save(tmp / "model")
        (tmp / "key.json").write_text(
            json.dumps({"key": key, **doc}, indent=2, default=_json_default) + "\n"
        )
    return model, TrainedModel(
        spec,
        protocol.seed,
        key,
        path,
        model.training_time_,
        False,
        float(np.mean(model.available_)),
    )


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


# ---------------------------------------------------------------- merging
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


# -------------------------------------------------------------------- run
def run_compare(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    cache_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
    progress: bool = False,
) -> CompareResult:
    """Run the experiment ``config`` into ``out_dir``; see the module docstring.

    ``data`` replaces the config's dataset (``--data``); ``cache_dir`` (default
    ``out_dir/cache``) may be shared between runs; ``only`` runs the named models
    of a config file only (``--only``).
    """
    t_start = time.perf_counter()
    if isinstance(config, ExperimentConfig):
        if only is not None:
            keep = [m for m in config.models if m.name in only]
            config = dataclasses.replace(config, models=tuple(keep))
        cfg = config
    else:
        cfg = load_config(config, only=only)
    if data is not None:
        cfg = cfg.with_dataset(data)
    out = Path(out_dir)
    prepare_run_dir(out, cfg)
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"
    inputs = (cfg.dataset.path, None if isinstance(config, ExperimentConfig) else config)
    for written in (out / "report", cache):
        check_not_input(written, inputs)
    cache.mkdir(parents=True, exist_ok=True)

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
    specs, skipped = _check_features(cfg, ds)
    if not specs:
        raise ParameterError(
            "models",
            "at least one model whose feature groups the dataset has",
            "none",
            fix=f"dataset feature groups: {sorted(ds.features)}",
        )
    p = cfg.protocol
    settings_base = dict(
        k=p.k,
        coherence_k=p.coherence_k,
        hardneg_min_count=p.hardneg_min_count,
        hardneg_threshold=p.hardneg_threshold,
        artist_min_tracks=p.artist_min_tracks,
        pairs_per_cell=p.pairs_per_cell,
    )
    per_seed: dict[int, dict[float, list[EvaluationResult]]] = {}
    protocols: dict[int, dict[str, Any]] = {}
    trained: list[TrainedModel] = []
    families: list[str] = []
    eval_seconds = 0.0
    for seed in p.seeds:
        protocol = make_protocol(
            ds,
            seed=seed,
            fractions=p.fractions,
            cold_start_share=p.cold_start_share,
            min_tracks=p.min_tracks,
        )
        families = check_families(list(p.metrics) if p.metrics else None, protocol)
        if "completion" in families and len(protocol.completion) == 0:
            raise InvalidValueError(
                f"expected test playlists with at least {p.min_tracks} tracks, found none "
                f"(seed {seed}, test fraction {p.test_fraction})",
                record="[protocol]",
                fix="raise test_fraction or lower min_tracks ([protocol] of the config; "
                "`songspace demo --min-tracks`)",
            )
        protocols[seed] = protocol.summary()
        embs = []
        with _TrainingProgress(progress) as bar:
            for spec in specs:
                model, info = train_or_load(
                    spec,
                    protocol,
                    cache,
                    fingerprint,
                    _split_key(cfg, seed),
                    progress=bar.callback(f"{spec.name} (seed {seed})"),
                )
                trained.append(info)
                embs.append(
                    Embeddings.from_array(
                        model.embeddings_,
                        ds.n_tracks,
                        available=model.available_,
                        name=spec.name,
                        source=f"model {spec.name}",
                    )
                )
        per_seed[seed] = {}
        t1 = time.perf_counter()
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
                settings=SuiteSettings(seed_fraction=frac, **settings_base),
                random_dim=p.random_dim,
                progress=progress,
            )
            per_seed[seed][frac] = results
        eval_seconds += time.perf_counter() - t1

    merged = {frac: merge_seeds([per_seed[s][frac] for s in p.seeds]) for frac in p.seed_fractions}
    describe = {**BASELINE_DESCRIBE}
    for s in specs:
        describe[s.name] = {"Method": s.label, **s.columns, "Features": s.features}
    baselines = ["random", "popularity", *(s.name for s in specs if s.baseline)]
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
            paper=paper,
            alpha=cfg.report.alpha,
            title=title,
        )
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
    _write_report(result, ds, per_seed)
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


class _TrainingProgress:
    """A rich progress bar on stderr fed by the models' (done, total, message) callbacks."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> _TrainingProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def callback(self, label: str) -> Callable[[int, int, str], None] | None:
        if self._bar is None:
            return None
        task = self._bar.add_task(f"training {label}", total=None)

        def report(done: int, total: int, message: str) -> None:
            self._bar.update(task, completed=done, total=total, description=f"{label}: {message}")

        return report


# ----------------------------------------------------------------- report
def _write_report(
    res: CompareResult, ds: Dataset, per_seed: dict[int, dict[float, list[EvaluationResult]]]
) -> None:
    cfg = res.config
    p = cfg.protocol
    main_frac = p.seed_fractions[0]
    with atomic_directory(res.report_dir, overwrite=True) as tmp:
        if cfg.text:
            (tmp / "config.toml").write_text(cfg.text)
        main = res.tables[main_frac]
        (tmp / "table.md").write_text(to_markdown(main))
        (tmp / "table.csv").write_text(to_csv(main))
        if len(p.seed_fractions) > 1:
            (tmp / "tables").mkdir()
            for frac, t in res.tables.items():
                stem = f"seed_fraction_{frac:g}"
                (tmp / "tables" / f"{stem}.md").write_text(to_markdown(t))
                (tmp / "tables" / f"{stem}.csv").write_text(to_csv(t))
        paper_md = paper_markdown(main)
        if paper_md:
            (tmp / "paper.md").write_text(paper_md)
        for seed, by_frac in per_seed.items():
            for frac, results in by_frac.items():
                d = tmp / "per_query" / f"seed-{seed}" / f"seed_fraction-{frac:g}"
                d.mkdir(parents=True)
                for r in results:
                    r.save(d / f"{r.model}.json")
        (tmp / "per_query_completion.csv").write_text(_completion_csv(per_seed))
        figures = _figures(res, tmp / "figures")
        (tmp / "results.json").write_text(
            json.dumps(_results_doc(res, ds), indent=2, default=_json_default) + "\n"
        )
        write_report(
            tmp / "report.html", cfg.title, _sections(res, ds, figures), subtitle=cfg.description
        )


def _completion_csv(per_seed: dict[int, dict[float, list[EvaluationResult]]]) -> str:
    """One row per (seed, seed fraction, test playlist, model): the completion metrics."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    metrics = None
    for seed, by_frac in per_seed.items():
        for frac, results in by_frac.items():
            for r in results:
                names = [m for m in r.metrics if m.startswith("completion_")]
                if not names:
                    continue
                if metrics is None:
                    metrics = names
                    w.writerow(["seed", "seed_fraction", "playlist", "model", *metrics])
                cols = [r.metrics[m].per_query if m in r.metrics else None for m in metrics]
                n = max((len(c) for c in cols if c is not None), default=0)
                for q in range(n):
                    w.writerow(
                        [
                            seed,
                            frac,
                            q,
                            r.model,
                            *("" if c is None else repr(float(c[q])) for c in cols),
                        ]
                    )
    return buf.getvalue()


def _figures(res: CompareResult, d: Path) -> list[Figure]:
    cfg = res.config
    main = res.results[cfg.protocol.seed_fractions[0]]
    out: list[Figure] = []
    path = figs.completion_bars(
        main, d / "completion.png", title=f"Playlist completion ({cfg.name})"
    )
    if path:
        out.append(
            Figure(
                path,
                "Completion metrics per model, mean over the test playlists with "
                "95% confidence intervals; dashed line: HR of a random ranking (0.5).",
            )
        )
    path = figs.seed_fraction_plot(res.results, d / "seed_fraction_hr.png")
    if path:
        out.append(Figure(path, "Completion HR against the share of the playlist given as seed."))
    for path in figs.bucket_heatmaps(main, d):
        out.append(
            Figure(
                path,
                f"{path.stem.removeprefix('popularity_buckets_')}: next-song "
                "HitRate by query (rows) and target (columns) popularity bucket; bucket "
                "0 = most popular, each bucket 20% of the listening events (W2V §4.5).",
            )
        )
    if cfg.report.diagonal:
        a, b = (next(r for r in main if r.model == n) for n in cfg.report.diagonal)
        path = figs.diagonal_plot(a, b, d / "popularity_diagonal.png")
        if path:
            out.append(
                Figure(
                    path,
                    f"Same-bucket HitRate of {b.model} against {a.model}, with "
                    "the relative change (W2V Figure 2c).",
                )
            )
    path = figs.tradeoff_scatter(main, d / "tradeoff_vrc_hitrate.png")
    if path:
        out.append(
            Figure(
                path,
                "Next-song HitRate (mean of in-set and out-of-set) against "
                "VRC_Genre: the recommendation / genre-clustering trade-off (W2V §4.4).",
            )
        )
    times: dict[str, list[float]] = {}
    for m in res.models:
        times.setdefault(m.spec.name, []).append(m.training_time)
    path = figs.training_times(times, d / "training_times.png")
    if path:
        out.append(
            Figure(
                path,
                "Training time per model (fit only, mean over seeds; cached "
                "models report the time of the run that trained them).",
            )
        )
    return out


def _sections(res: CompareResult, ds: Dataset, figures: list[Figure]) -> list[Section]:
    cfg = res.config
    p = cfg.protocol
    main_frac = p.seed_fractions[0]
    s = ds.summary()
    overview = Section(
        "Setup",
        paragraphs=[
            f"Dataset: {cfg.dataset.describe()} — {s['sequences']:,} sequences, "
            f"{s['tracks']:,} tracks, {s['entries']:,} entries.",
            f"Protocol: seeds {list(p.seeds)}, split {tuple(round(f, 4) for f in p.fractions)}"
            f" (train/validation/test), completion playlists with at least {p.min_tracks} "
            f"tracks, seed fractions {list(p.seed_fractions)}, metric families "
            f"{', '.join(res.families)}. Every model is scored on the same queries; random and "
            "popularity baselines are always included.",
        ],
        plain_tables=[
            (
                list(next(iter(res.protocols.values())).keys()),
                [[str(v) for v in summ.values()] for summ in res.protocols.values()],
            )
        ],
    )
    sections = [overview, Section("Results", tables=[res.tables[main_frac]])]
    if len(p.seed_fractions) > 1:
        sections.append(
            Section("Seed-fraction sweep", tables=[res.tables[f] for f in p.seed_fractions[1:]])
        )
    main = res.tables[main_frac]
    paper_metrics = [m for m in main.metrics if any(m in r.paper for r in main.rows)]
    if paper_metrics:
        header = [
            *main.describe_columns,
            *(f"{metric_label(m)} ours / paper" for m in paper_metrics),
        ]
        rows = [
            [
                *(r.describe[c] for c in main.describe_columns),
                *(f"{r.cells[m].text()} / {format_value(r.paper.get(m))}" for m in paper_metrics),
            ]
            for r in main.rows
        ]
        sections.append(Section("Beside the paper", plain_tables=[(header, rows)]))
    train_rows = []
    for m in res.models:
        train_rows.append(
            [
                m.spec.name,
                m.spec.model,
                str(m.seed),
                f"{m.training_time:.1f}",
                "cache" if m.reused else "trained",
                f"{m.coverage:.1%}",
                m.path.name,
            ]
        )
    sections.append(
        Section(
            "Models",
            paragraphs=[f"Skipped {n}: {why}" for n, why in res.skipped.items()],
            plain_tables=[
                (
                    ["name", "model", "seed", "training s", "this run", "embedded", "cache entry"],
                    train_rows,
                )
            ],
            preformatted="\n".join(
                f"{sp.name}: {sp.model} {json.dumps(sp.params, sort_keys=True)}"
                for sp in cfg.models
                if sp.name not in res.skipped
            ),
        )
    )
    sections.append(Section("Figures", figures=figures))
    if cfg.text:
        sections.append(Section("Configuration", preformatted=cfg.text))
    return sections


def _results_doc(res: CompareResult, ds: Dataset) -> dict[str, Any]:
    cfg = res.config
    doc: dict[str, Any] = {
        "experiment": cfg.name,
        "description": cfg.description,
        "dataset": cfg.dataset.describe(),
        "dataset_fingerprint": res.fingerprint,
        "families": res.families,
        "protocols": {str(k): v for k, v in res.protocols.items()},
        "skipped": res.skipped,
        "models": [
            {
                "name": m.spec.name,
                "model": m.spec.model,
                "seed": m.seed,
                "params": model_params(m.spec, m.seed),
                "training_time": m.training_time,
                "reused": m.reused,
                "coverage": m.coverage,
                "cache": str(m.path),
            }
            for m in res.models
        ],
        "seconds": res.seconds,
        "results": {},
        "tables": {},
    }
    for frac, results in res.results.items():
        doc["results"][f"{frac:g}"] = {
            r.model: {k: (None if not math.isfinite(v) else v) for k, v in r.values().items()}
            for r in results
        }
        t = res.tables[frac]
        doc["tables"][f"{frac:g}"] = {
            row.name: {
                m: {
                    "value": None if not math.isfinite(c.value) else c.value,
                    "best": c.best,
                    "significant": c.significant,
                    "reference": c.reference,
                    "p_adjusted": c.p_adjusted,
                }
                for m, c in row.cells.items()
            }
            for row in t.rows
        }
    return doc


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
