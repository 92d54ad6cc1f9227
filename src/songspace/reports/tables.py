"""Comparison tables laid out like the papers' (MUSIG Table 2, W2V Table 4).

One row per model (the random and popularity baselines first), descriptive
columns (Method, Features, any extra), then one column per metric. The rules,
which :meth:`ComparisonTable.legend` states with the table:

- **bold**: the best value of each column over *all* rows, baselines included
  (ties all bold), so a baseline that wins a column shows it;
- ``†``: a row significantly better than the *best baseline* of that column (the
  best-valued row flagged as a baseline, other than the row itself). The yardsticks
  (random, popularity and the baseline rankers: ``yardsticks``, by default every
  baseline) are never marked; a model row flagged as a baseline (``songspace compare``'s
  rows, by default) is tested against the best of the *other* baselines;
- ``against={"‡": "a"}``: every row other than ``a`` significantly better than
  ``a`` (alone, or beside ``†`` with ``best_baseline=True``).

Significance is a paired t-test on the per-query values (the same queries for
every model, SPEC §4) with a Bonferroni correction over the metric columns
tested (W2V Table 4). Columns without per-query values (VRC, correlations,
coverage) are bolded but never marked.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songspace.errors import ParameterError
from songspace.evaluation.defaults import DEFAULT_ALPHA
from songspace.evaluation.results import UNTESTED, EvaluationResult, compare

#: Column headers in the papers' wording.
METRIC_LABELS: dict[str, str] = {
    "completion_hr": "HR",
    "completion_mrr": "MRR",
    "completion_p@1": "Prec@1",
    "completion_p@5": "Prec@5",
    "completion_p@10": "Prec@10",
    "completion_ndcg@1": "NDCG@1",
    "completion_ndcg@5": "NDCG@5",
    "completion_ndcg@10": "NDCG@10",
    "completion_coverage": "Coverage (hidden)",
    "completion_negative_coverage": "Coverage (negatives)",
    "next_song_hit_rate": "HitRate",
    "next_song_ndcg": "NDCG",
    "next_song_cold_hit_rate": "HitRate (cold)",
    "next_song_cold_ndcg": "NDCG (cold)",
    "hit_rate": "HitRate",
    "ndcg": "NDCG",
    "next_song_in_set_hit_rate": "HitRate (in-set)",
    "next_song_in_set_ndcg": "NDCG (in-set)",
    "next_song_out_of_set_hit_rate": "HitRate (out-of-set)",
    "next_song_out_of_set_ndcg": "NDCG (out-of-set)",
    "hardneg": "HardNeg",
    "vrc_genre": "VRC_Genre",
    "vrc_artist": "VRC_Artist",
    "genre_coherence": "Genre coherence",
    "artist_coherence": "Artist coherence",
    "popularity_same_bucket_hr": "Same-bucket HR",
    "play_corr": "Play corr.",
    "play_corr_frequent": "Play corr. (frequent)",
    "challenge_r_precision": "R-prec. (challenge)",
    "challenge_ndcg": "NDCG (challenge)",
    "challenge_clicks": "Clicks (challenge)",
}
MARK = "†"

#: The query sets of the stage-1 and segment families, and the segments, as headers say them.
_PART_LABELS = {
    "next_song_in_set": "in-set",
    "next_song_out_of_set": "out-of-set",
    "completion": "completion",
}
_SEGMENT_LABELS = {"cooccurred": "co-occurred", "never": "never co-occurred", "unseen": "unseen"}


def _stage1_labels() -> dict[str, str]:
    """Headers of the ``stage1`` and ``segments`` families' metrics, from their names."""
    from songspace.evaluation.segments import SEGMENT_DEPTH, SEGMENTS
    from songspace.evaluation.stage1 import PARTS, STAGE1_DEPTHS

    labels: dict[str, str] = {}
    for part in PARTS:
        where = _PART_LABELS[part]
        for n in STAGE1_DEPTHS:
            labels[f"stage1_{part}_recall@{n}"] = f"Stage-1 recall@{n} ({where})"
        for seg in SEGMENTS:
            which = f"{where}, {_SEGMENT_LABELS[seg]}"
            labels[f"segments_{part}_hit_rate_{seg}"] = f"HitRate ({which})"
            labels[f"segments_{part}_stage1_recall@{SEGMENT_DEPTH}_{seg}"] = (
                f"Stage-1 recall@{SEGMENT_DEPTH} ({which})"
            )
    return labels


METRIC_LABELS.update(_stage1_labels())


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


@dataclass
class Cell:
    """One metric value of one row, with its significance test against the best baseline."""

    value: float
    best: bool = False
    significant: bool = False
    reference: str | None = None
    p_adjusted: float | None = None
    n: int = 0
    marks: str = ""

    def text(self, digits: int = 4) -> str:
        return format_value(self.value, digits)

    def marked(self, digits: int = 4) -> str:
        """The value with its significance marks (no emphasis)."""
        return self.text(digits) + self.marks


@dataclass
class Row:
    name: str
    describe: dict[str, str]
    cells: dict[str, Cell]
    baseline: bool = True
    paper: dict[str, float] = field(default_factory=dict)
    #: a yardstick (random, popularity, a baseline ranker): never marked
    yardstick: bool = False


@dataclass
class ComparisonTable:
    """A table in the paper's layout; render with :func:`to_markdown` / :func:`to_csv`."""

    title: str
    describe_columns: list[str]
    metrics: list[str]
    rows: list[Row]
    alpha: float = DEFAULT_ALPHA
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    n_tests: int = 0
    notes: list[str] = field(default_factory=list)
    #: mark -> the row each row is tested against (beside or instead of ``MARK``).
    against: dict[str, str] = field(default_factory=dict)
    #: per metric, a format for its values (e.g. ``"{:.4g}"``); default :func:`format_value`.
    formats: dict[str, str] = field(default_factory=dict)
    #: whether model rows are marked ``MARK`` against the best baseline of each column.
    best_baseline: bool = True
    #: the metric columns tested (those with per-query values), in column order.
    tested: list[str] = field(default_factory=list)

    def text(self, row: Row, metric: str, digits: int = 4) -> str:
        """A cell's value as shown (with its marks, no emphasis)."""
        c = row.cells[metric]
        fmt = self.formats.get(metric)
        if fmt is None or not math.isfinite(c.value):
            return c.marked(digits)
        return fmt.format(c.value) + c.marks

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def legend(self) -> str:
        """The rules the table's emphasis and marks follow, as sentences."""
        parts = [
            "Bold: the best value of each column over all rows, baselines included (ties all bold)."
        ]
        baselines = [r.name for r in self.rows if r.baseline]
        yardsticks = [r.name for r in self.rows if r.yardstick]
        if self.best_baseline and baselines:
            tested_bases = [b for b in baselines if b not in yardsticks]
            other = " other than the row itself" if tested_bases else ""
            text = (
                f"{MARK} = significantly better than the best baseline of the column (the "
                f"best of {', '.join(baselines)}{other})"
            )
            parts.append(
                text + (f"; {', '.join(yardsticks)} are not tested." if yardsticks else ".")
            )
        parts += [
            f"{mark} = significantly better than {ref}." for mark, ref in self.against.items()
        ]
        if len(parts) > 1:
            parts.append(
                f"Paired t-test over the same queries, Bonferroni-corrected over the "
                f"{self.n_tested()} metrics tested, p < {self.alpha:g}."
            )
        untested = [metric_label(m) for m in self.metrics if m not in self.tested]
        if untested:
            parts.append(f"Not tested (no per-query values): {', '.join(untested)}.")
        lower = [metric_label(m) for m in self.metrics if not self.higher_is_better.get(m, True)]
        if lower:
            parts.append(f"Lower is better for {', '.join(lower)}.")
        return " ".join(parts)

    def n_tested(self) -> int:
        """Metrics tested (those with per-query values): the Bonferroni factor."""
        return self.n_tests


def format_value(v: float | None, digits: int = 4) -> str:
    """A value as tables show it: ``digits`` decimals below 10, fewer above; a value below
    0.01 in magnitude keeps ``digits - 1`` significant digits (0.0006 reads ``0.000600``,
    never ``0.0006`` or ``0.00``); NaN and None read ``–``."""
    if v is None or not math.isfinite(v):
        return "–"
    if v != 0 and abs(v) < 0.01:
        return f"{v:#.{max(digits - 1, 1)}g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 10:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def build_table(
    results: Sequence[EvaluationResult],
    metrics: Sequence[str],
    *,
    describe: Mapping[str, Mapping[str, str]] | None = None,
    baselines: Sequence[str] = ("random", "popularity"),
    yardsticks: Sequence[str] | None = None,
    paper: Mapping[str, Mapping[str, float]] | None = None,
    alpha: float = DEFAULT_ALPHA,
    title: str = "",
    against: Mapping[str, str] | None = None,
    best_baseline: bool | None = None,
    formats: Mapping[str, str] | None = None,
) -> ComparisonTable:
    """Build the table from results evaluated on the same queries.

    ``describe``: per model name, its descriptive cells (e.g. ``{"Method": "CF",
    "Features": "-"}``; missing cells read ``-``). ``baselines``: the rows every other
    row is marked ``†`` against (the best of them, other than the row itself).
    ``yardsticks``: the rows never marked (default: every baseline; ``songspace compare``
    passes random, popularity and the rankers, so that its model rows, baselines for each
    other, are tested). ``paper``: per model name, the paper's values (kept for
    :func:`paper_markdown`). ``against`` (mark -> row name) tests every other row
    against those fixed rows (e.g. ``{"†": "default", "‡": "hit_rate"}``).
    ``best_baseline``: whether to mark against the best baseline too; default: only
    when ``against`` is not given. ``formats``: per metric, a value format.
    """
    describe = describe or {}
    paper = paper or {}
    against = dict(against or {})
    if best_baseline is None:
        best_baseline = not against
    if best_baseline and MARK in against:
        raise ParameterError(
            "against", f"marks other than {MARK!r} (the best-baseline mark)", list(against)
        )
    cols = list(dict.fromkeys(c for d in describe.values() for c in d))
    if not cols:
        cols = ["Method"]
    by_name = {r.model: r for r in results}
    hib: dict[str, bool] = {}
    for m in metrics:
        found = [r.metrics[m] for r in results if m in r.metrics]
        hib[m] = found[0].higher_is_better if found else True
    rows: list[Row] = []
    for r in results:
        d = dict(describe.get(r.model, {}))
        if not d:
            d = {"Method": r.model.upper()}
        cells = {}
        for m in metrics:
            mr = r.metrics.get(m)
            cells[m] = Cell(float("nan") if mr is None else float(mr.value))
        rows.append(
            Row(
                r.model,
                {c: d.get(c, "-") for c in cols},
                cells,
                r.model in baselines,
                dict(paper.get(r.model, {})),
                r.model in (baselines if yardsticks is None else yardsticks),
            )
        )
    _mark_best(rows, metrics, hib)
    tested = [
        m
        for m in metrics
        if m not in UNTESTED
        and any(m in r.metrics and r.metrics[m].per_query.size > 1 for r in results)
    ]
    n_tests = max(len(tested), 1)
    if best_baseline:
        _mark_best_baseline(rows, by_name, tested, hib, n_tests, alpha)
    _mark_against(rows, by_name, tested, against, hib, n_tests, alpha, fill=not best_baseline)
    return ComparisonTable(
        title,
        cols,
        list(metrics),
        rows,
        alpha,
        hib,
        n_tests=len(tested),
        against=against,
        formats=dict(formats or {}),
        best_baseline=best_baseline,
        tested=tested,
        notes=settings_notes(results),
    )


def settings_notes(results: Sequence[EvaluationResult]) -> list[str]:
    """One line per row built with settings (the baseline rankers record theirs in
    ``info["settings"]``): ``Settings of sknn: k=100, sample=all, similarity=cosine.``"""
    from songspace.evaluation.ranker_params import format_settings

    return [
        f"Settings of {r.model}: {format_settings(r.info['settings'])}."
        for r in results
        if isinstance(r.info.get("settings"), Mapping)
    ]


def _mark_best(rows: list[Row], metrics: Sequence[str], hib: Mapping[str, bool]) -> None:
    """Bold: the best finite value of each column over every row (ties all bold)."""
    for m in metrics:
        vals = np.array([row.cells[m].value for row in rows], dtype=float)
        if not np.isfinite(vals).any():
            continue
        best = np.nanmax(vals) if hib[m] else np.nanmin(vals)
        for row, v in zip(rows, vals, strict=True):
            row.cells[m].best = bool(
                np.isfinite(v) and math.isclose(v, best, rel_tol=1e-12, abs_tol=1e-15)
            )


def _mark_best_baseline(
    rows: list[Row],
    by_name: Mapping[str, EvaluationResult],
    tested: Sequence[str],
    hib: Mapping[str, bool],
    n_tests: int,
    alpha: float,
) -> None:
    """``MARK`` each row's cells significantly better than the best baseline of the
    column other than the row itself; yardstick rows are not tested."""
    bases = [by_name[r.name] for r in rows if r.baseline]
    for row in rows:
        if row.yardstick:
            continue
        res = by_name[row.name]
        for m in tested:
            mine = res.metrics.get(m)
            if mine is None or mine.per_query.size < 2:
                continue
            refs = [
                b
                for b in bases
                if b.model != row.name
                and m in b.metrics
                and b.metrics[m].per_query.shape == mine.per_query.shape
                and math.isfinite(b.metrics[m].value)
            ]
            if not refs:
                continue
            sign = 1.0 if hib[m] else -1.0
            scores = [sign * b.metrics[m].value for b in refs]
            ref = refs[scores.index(max(scores))]
            c = compare(res, ref, metrics=[m])[m]
            p_adj = min(1.0, c.p * n_tests)
            cell = row.cells[m]
            cell.reference, cell.p_adjusted, cell.n = ref.model, p_adj, c.n
            cell.significant = bool(sign * (c.value_a - c.value_b) > 0 and p_adj < alpha)
            cell.marks += MARK if cell.significant else ""


def _mark_against(
    rows: list[Row],
    by_name: Mapping[str, EvaluationResult],
    tested: Sequence[str],
    against: Mapping[str, str],
    hib: Mapping[str, bool],
    n_tests: int,
    alpha: float,
    *,
    fill: bool,
) -> None:
    """Mark each row's cells significantly better than a fixed reference row (one mark per
    reference); with ``fill``, the first reference also fills the cells' test fields."""
    for i, (mark, ref_name) in enumerate(against.items()):
        ref = by_name.get(ref_name)
        if ref is None:
            continue
        for row in rows:
            if row.name == ref_name:
                continue
            res = by_name[row.name]
            for m in tested:
                mine, theirs = res.metrics.get(m), ref.metrics.get(m)
                if mine is None or theirs is None or mine.per_query.size < 2:
                    continue
                if mine.per_query.shape != theirs.per_query.shape:
                    continue
                c = compare(res, ref, metrics=[m])[m]
                p_adj = min(1.0, c.p * n_tests)
                sign = 1.0 if hib[m] else -1.0
                good = bool(sign * (c.value_a - c.value_b) > 0 and p_adj < alpha)
                cell = row.cells[m]
                if fill and i == 0:
                    cell.reference, cell.p_adjusted, cell.n = ref.model, p_adj, c.n
                    cell.significant = good
                if good:
                    cell.marks += mark


def to_markdown(table: ComparisonTable, *, digits: int = 4, name_header: str | None = None) -> str:
    """GitHub Markdown: the title, the table and its legend.

    With ``name_header``, a first column of that header holds each row's name, and the
    descriptive columns that only repeat it are left out (the form the CLI prints to a
    pipe or a log: every value and label whole, bold written ``**...**``)."""
    desc = table.describe_columns if name_header is None else _informative_columns(table)
    first = [] if name_header is None else [name_header]
    head = [*first, *desc, *(metric_label(m) for m in table.metrics)]
    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in head) + " |")
    lines.append(
        "|" + "|".join([":---"] * (len(first) + len(desc)) + ["---:"] * len(table.metrics)) + "|"
    )
    for row in table.rows:
        cells = [_md_escape(row.name)] if name_header is not None else []
        cells += [_md_escape(row.describe[c]) for c in desc]
        for m in table.metrics:
            c = row.cells[m]
            t = table.text(row, m, digits)
            if c.best:
                t = f"**{t}**"
            cells.append(t)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", table.legend()]
    lines += [f"{n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: ComparisonTable) -> str:
    """CSV: one row per model; per metric its value, whether best, whether marked, the
    reference (best baseline) and the Bonferroni-adjusted p-value, and any paper value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    paper_metrics = [m for m in table.metrics if any(m in r.paper for r in table.rows)]
    head = ["name", *table.describe_columns]
    for m in table.metrics:
        head += [m, f"{m}:best", f"{m}:significant", f"{m}:reference", f"{m}:p_adjusted"]
    head += [f"paper:{m}" for m in paper_metrics]
    w.writerow(head)
    for row in table.rows:
        out: list[object] = [row.name, *(row.describe[c] for c in table.describe_columns)]
        for m in table.metrics:
            c = row.cells[m]
            out += [
                "" if not math.isfinite(c.value) else repr(float(c.value)),
                int(c.best),
                int(c.significant),
                c.reference or "",
                "" if c.p_adjusted is None else f"{c.p_adjusted:.6g}",
            ]
        out += [repr(row.paper[m]) if m in row.paper else "" for m in paper_metrics]
        w.writerow(out)
    return buf.getvalue()


def paper_markdown(table: ComparisonTable, *, digits: int = 4) -> str | None:
    """Our values beside the paper's, for the rows and metrics the config gives paper
    values for (``ours / paper``); None when there are none."""
    metrics = [m for m in table.metrics if any(m in r.paper for r in table.rows)]
    if not metrics:
        return None
    head = [*table.describe_columns, *(f"{metric_label(m)} ours / paper" for m in metrics)]
    lines = ["| " + " | ".join(head) + " |"]
    lines.append(
        "|" + "|".join([":---"] * len(table.describe_columns) + ["---:"] * len(metrics)) + "|"
    )
    for row in table.rows:
        cells = [_md_escape(row.describe[c]) for c in table.describe_columns]
        for m in metrics:
            p = row.paper.get(m)
            cells.append(f"{row.cells[m].text(digits)} / {format_value(p, digits)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------ terminal
def _header_width(label: str) -> int:
    return max((len(w) for w in label.split()), default=1)


#: Columns a metric column takes beyond its text in :func:`terminal_tables`' layout
#: (one space of padding on each side, collapsed between neighbours).
_GAP = 2


def _informative_columns(table: ComparisonTable) -> list[str]:
    """Descriptive columns that say more than the row's name."""
    return [
        c
        for c in table.describe_columns
        if any(r.describe[c] not in ("", "-", r.name, r.name.upper()) for r in table.rows)
    ]


def terminal_tables(
    table: ComparisonTable, *, width: int = 80, digits: int = 4, name_header: str = "model"
) -> list[Any]:
    """The table for a terminal of ``width`` columns, as rich tables printed one after the
    other: models in rows, the metric columns split over as many tables as it takes so
    that no value is cut (headers wrap at spaces). When the rows have descriptive
    columns, a first table lists them beside each model's name (the legend).

    Every column has a fixed width (its longest value or header word), so rich never
    shrinks or crops one; a block is at most ``width`` wide unless a single metric column
    beside the names is wider, and then it is printed whole (print it with
    ``console.print(part, width=...)`` at its ``rich.measure.Measurement`` minimum)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    def new() -> Any:
        return Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            collapse_padding=True,
        )

    names = [r.name for r in table.rows]
    name_w = max([len(name_header), *(len(n) for n in names)])
    out: list[Any] = [Text(table.title, style="bold")] if table.title else []
    desc = _informative_columns(table)
    if desc:
        t = new()
        t.add_column(name_header, no_wrap=True, width=name_w)
        for c in desc:
            t.add_column(escape(c), overflow="fold")
        for r in table.rows:
            t.add_row(escape(r.name), *(escape(r.describe[c]) for c in desc))
        out.append(t)
    texts = {m: [table.text(r, m, digits) for r in table.rows] for m in table.metrics}
    widths = {
        m: max(_header_width(metric_label(m)), *(len(x) for x in texts[m])) for m in table.metrics
    }
    blocks: list[list[str]] = []
    used = name_w
    for m in table.metrics:
        need = widths[m] + _GAP
        if blocks and used + need <= width:
            blocks[-1].append(m)
            used += need
        else:
            blocks.append([m])
            used = name_w + need
    for block in blocks:
        t = new()
        t.add_column(name_header, no_wrap=True, width=name_w)
        for m in block:
            t.add_column(escape(metric_label(m)), justify="right", width=widths[m])
        for j, row in enumerate(table.rows):
            cells = []
            for m in block:
                text = escape(texts[m][j])
                cells.append(f"[bold]{text}[/]" if row.cells[m].best else text)
            t.add_row(escape(row.name), *cells)
        out.append(t)
    return out
