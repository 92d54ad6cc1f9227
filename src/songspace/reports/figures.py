"""Figures of a comparison (matplotlib PNGs, written atomically).

- completion metrics per model with 95% confidence intervals (MUSIG Table 2 as bars);
- HitRate by popularity bucket, one heat map per model (W2V Figure 2a/2b), and the
  same-bucket diagonal of two configurations (W2V Figure 2c);
- the next-song HitRate / VRC_Genre trade-off (W2V §4.4);
- completion HR against the seed fraction (seed-fraction sweep);
- training times.

Each function returns the path written, or None when the results hold nothing to
plot (e.g. no popularity family evaluated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from songspace._optional import pyplot
from songspace._util import atomic_write_figure
from songspace.evaluation.results import EvaluationResult
from songspace.reports.tables import metric_label

DEFAULT_COMPLETION = ("completion_hr", "completion_mrr", "completion_p@10", "completion_ndcg@10")


def _plt() -> Any:
    return pyplot("the comparison figures")


def _save(fig: Any, path: Path) -> Path:
    plt = _plt()
    try:
        fig.tight_layout()
        atomic_write_figure(path, fig, format="png", dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def _ci95(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    return float(1.96 * v.std(ddof=1) / math.sqrt(v.size))


def completion_bars(
    results: Sequence[EvaluationResult],
    path: str | Path,
    *,
    metrics: Sequence[str] = DEFAULT_COMPLETION,
    title: str = "Playlist completion",
) -> Path | None:
    """Grouped bars: one group per metric, one bar per model, 95% CI of the mean."""
    metrics = [m for m in metrics if any(m in r.metrics for r in results)]
    if not metrics or not results:
        return None
    plt = _plt()
    n = len(results)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(metrics) + 0.35 * n * len(metrics)), 4.2))
    cmap = plt.get_cmap("tab20")
    x = np.arange(len(metrics))
    for i, r in enumerate(results):
        vals, errs = [], []
        for m in metrics:
            mr = r.metrics.get(m)
            vals.append(np.nan if mr is None else mr.value)
            errs.append(0.0 if mr is None else _ci95(mr.per_query))
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            vals,
            width,
            yerr=errs,
            capsize=2,
            label=r.model,
            color=cmap(i % 20),
        )
    if "completion_hr" in metrics:
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels([metric_label(m) for m in metrics])
    ax.set_ylabel("value (mean over test playlists, 95% CI)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2 if n > 8 else 1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, Path(path))


def bucket_heatmaps(results: Sequence[EvaluationResult], directory: str | Path) -> list[Path]:
    """One popularity-bucket heat map per result with the popularity family (W2V Fig. 2)."""
    from songspace.evaluation.popularity import plot_bucket_heatmap

    out = []
    for r in results:
        m = r.metrics.get("popularity_same_bucket_hr")
        if m is None or "matrix" not in m.info:
            continue
        matrix = np.array(m.info["matrix"], dtype=float)
        k = m.info.get("k", "k")
        out.append(
            plot_bucket_heatmap(
                matrix,
                Path(directory) / f"popularity_buckets_{r.model}.png",
                title=f"{r.model}: HitRate@{k} by popularity bucket",
            )
        )
    return out


def diagonal_plot(a: EvaluationResult, b: EvaluationResult, path: str | Path) -> Path | None:
    """Same-bucket HitRate of two configurations side by side (W2V Figure 2c)."""
    from songspace.evaluation.popularity import diagonal_comparison

    ma, mb = (r.metrics.get("popularity_same_bucket_hr") for r in (a, b))
    if ma is None or mb is None or "matrix" not in ma.info or "matrix" not in mb.info:
        return None
    d = diagonal_comparison(np.array(ma.info["matrix"], float), np.array(mb.info["matrix"], float))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    x = np.arange(len(d.a))
    ax.bar(x - 0.2, d.a, 0.4, label=a.model)
    ax.bar(x + 0.2, d.b, 0.4, label=b.model)
    for i, rel in enumerate(d.relative):
        if np.isfinite(rel):
            top = np.nanmax([d.a[i], d.b[i]])
            ax.text(i, top, f"{rel:+.0%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x)
    ax.set_xlabel("popularity bucket of query and target (0 = most popular)")
    ax.set_ylabel("HitRate")
    ax.set_title(f"Same-bucket HitRate:\n{b.model} vs {a.model}", fontsize=10)
    ax.set_ylim(0, 1.15 * np.nanmax([np.nanmax(d.a), np.nanmax(d.b), 1e-9]))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return _save(fig, Path(path))


def tradeoff_scatter(
    results: Sequence[EvaluationResult],
    path: str | Path,
    *,
    x_metric: str = "vrc_genre",
    y_metric: str = "next_song_hit_rate",
) -> Path | None:
    """Next-song HitRate against VRC_Genre, one labelled point per model (W2V §4.4)."""
    pts = []
    for r in results:
        mx, my = r.metrics.get(x_metric), r.metrics.get(y_metric)
        if mx is None or my is None or not (math.isfinite(mx.value) and math.isfinite(my.value)):
            continue
        pts.append((r.model, mx.value, my.value))
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, xv, yv in pts:
        ax.scatter([xv], [yv])
        ax.annotate(name, (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if all(p[1] > 0 for p in pts):
        ax.set_xscale("log")
    ax.set_xlabel(f"{metric_label(x_metric)} (higher = tighter clusters)")
    ax.set_ylabel(metric_label(y_metric))
    ax.set_title(f"{metric_label(y_metric)} vs {metric_label(x_metric)} trade-off")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def seed_fraction_plot(
    by_fraction: Mapping[float, Sequence[EvaluationResult]],
    path: str | Path,
    *,
    metric: str = "completion_hr",
) -> Path | None:
    """The metric against the completion seed fraction, one line per model."""
    if len(by_fraction) < 2:
        return None
    fractions = sorted(by_fraction)
    names = list(dict.fromkeys(r.model for f in fractions for r in by_fraction[f]))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in names:
        ys = []
        for f in fractions:
            r = next((r for r in by_fraction[f] if r.model == name), None)
            m = None if r is None else r.metrics.get(metric)
            ys.append(np.nan if m is None else m.value)
        ax.plot([100 * f for f in fractions], ys, marker="o", label=name)
    ax.set_xlabel("seed: share of the playlist's tracks given (%)")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"Playlist completion {metric_label(metric)} by seed size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, Path(path))


def training_times(times: Mapping[str, Sequence[float]], path: str | Path) -> Path | None:
    """Horizontal bars: mean training time per model (seconds, over seeds)."""
    items = [(k, float(np.mean(v))) for k, v in times.items() if len(v)]
    if not items:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(items) + 1.5))
    y = np.arange(len(items))
    ax.barh(y, [t for _, t in items])
    ax.set_yticks(y)
    ax.set_yticklabels([k for k, _ in items], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("training time (s, fit only, mean over seeds)")
    ax.set_title("Training time")
    for i, (_, t) in enumerate(items):
        ax.text(t, i, f" {t:.1f}s", va="center", fontsize=7)
    return _save(fig, Path(path))
