"""Writing a compare run's report directory (``RUN_DIR/report``), atomically.

``table.md`` / ``table.csv`` (the main table, first seed fraction), ``tables/``
(one per seed fraction when several), ``paper.md`` (ours beside the paper's values
when the config has them), ``results.json`` (aggregates, tests, training times,
protocol), ``per_query/`` (every metric's per-query values per seed and seed
fraction, :class:`~songspace.evaluation.results.EvaluationResult` files),
``per_query_completion.csv``, ``figures/*.png`` and ``report.html`` (one
self-contained file). Tables are rendered by :mod:`songspace.reports.tables`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songspace._util import atomic_directory, to_jsonable
from songspace.data.dataset import Dataset
from songspace.evaluation.results import EvaluationResult
from songspace.reports import figures as figs
from songspace.reports.cache import model_params
from songspace.reports.html import Figure, Section, write_report
from songspace.reports.tables import format_value, metric_label, paper_markdown, to_csv, to_markdown

if TYPE_CHECKING:
    from songspace.reports.compare import CompareResult


def write_compare_report(
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
            json.dumps(to_jsonable(_results_doc(res, ds)), indent=2) + "\n"
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
