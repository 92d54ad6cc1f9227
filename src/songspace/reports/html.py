"""A self-contained HTML report: tables, figures (PNG as base64 data URIs), settings.

One file with no external resource, so it can be mailed or archived. Every text
that comes from a config, a dataset or a model name is HTML-escaped. A tiny
inline script checks on load that every figure decoded (non-zero natural size)
and records the result in ``data-*`` attributes of ``<body>``
(``data-report-check="ok"``, ``data-images``, ``data-tables``, ``data-errors``),
which the headless-browser test reads from the rendered DOM.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from songspace._util import atomic_write_text
from songspace.reports.tables import MARK, ComparisonTable, format_value, metric_label

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #eef6ee; } tr.baseline td:first-child { color: #555; }
figure { display: inline-block; margin: 0.6em; vertical-align: top; max-width: 100%; }
figure img { max-width: min(100%, 900px); border: 1px solid #eee; }
div.scroll { overflow-x: auto; max-width: 100%; }
figcaption { font-size: 0.85em; color: #444; max-width: 640px; }
p.legend, p.note { font-size: 0.85em; color: #444; max-width: 1000px; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""

_CHECK_JS = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  window.addEventListener('load', function () {
    var imgs = document.querySelectorAll('img');
    var bad = 0;
    imgs.forEach(function (im) { if (!im.complete || im.naturalWidth === 0) { bad++; } });
    var b = document.body;
    b.setAttribute('data-images', String(imgs.length));
    b.setAttribute('data-broken-images', String(bad));
    b.setAttribute('data-tables', String(document.querySelectorAll('table').length));
    b.setAttribute('data-errors', String(errors.length));
    b.setAttribute('data-report-check', bad === 0 && errors.length === 0 ? 'ok' : 'failed');
  });
})();
"""


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Section:
    """A titled block: paragraphs, comparison tables, plain tables and figures, in order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[ComparisonTable] = field(default_factory=list)
    plain_tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    preformatted: str | None = None


def table_html(table: ComparisonTable, *, digits: int = 4) -> str:
    """A comparison table as HTML, with the best values bold and the marks."""
    e = html.escape
    parts = ["<div class='scroll'><table class='comparison'>"]
    if table.title:
        parts.append(f"<caption>{e(table.title)}</caption>")
    head = [*table.describe_columns, *(metric_label(m) for m in table.metrics)]
    parts.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>")
    parts.append("<tbody>")
    for row in table.rows:
        cls = " class='baseline'" if row.baseline else ""
        cells = [f"<td>{e(row.describe[c])}</td>" for c in table.describe_columns]
        for m in table.metrics:
            c = row.cells[m]
            text = e(c.text(digits)) + (f"<sup>{MARK}</sup>" if c.significant else "")
            title = ""
            if c.reference is not None and c.p_adjusted is not None:
                title = f" title='vs {e(c.reference, quote=True)}: p_adj={c.p_adjusted:.3g}'"
            klass = "num best" if c.best else "num"
            if c.best:
                text = f"<strong>{text}</strong>"
            cells.append(f"<td class='{klass}'{title}>{text}</td>")
        parts.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    parts.append(f"<p class='legend'>{e(table.legend())}</p>")
    for n in table.notes:
        parts.append(f"<p class='note'>{e(n)}</p>")
    return "\n".join(parts)


def plain_table_html(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    e = html.escape
    out = ["<div class='scroll'><table class='plain'><thead><tr>"]
    out += [f"<th>{e(str(h))}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def figure_html(fig: Figure) -> str:
    data = base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")
    cap = html.escape(fig.caption)
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(fig.caption, True)}'>"
        f"<figcaption>{cap}</figcaption></figure>"
    )


def render_report(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The whole HTML document as a string."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    if subtitle:
        body.append(f"<p>{e(subtitle)}</p>")
    for s in sections:
        body.append(f"<h2>{e(s.title)}</h2>")
        body += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        body += [table_html(t) for t in s.tables]
        body += [plain_table_html(h, r) for h, r in s.plain_tables]
        body += [figure_html(f) for f in s.figures]
        if s.preformatted:
            body.append(f"<pre>{e(s.preformatted)}</pre>")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{_CHECK_JS}</script>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_report(path: str | Path, title: str, sections: Sequence[Section], **kw) -> Path:
    """Render and write atomically."""
    path = Path(path)
    atomic_write_text(path, render_report(title, sections, **kw))
    return path


def seconds(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.1f}"


__all__ = [
    "Figure",
    "Section",
    "format_value",
    "plain_table_html",
    "render_report",
    "table_html",
    "write_report",
]
