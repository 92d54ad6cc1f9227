import re
import shutil
import subprocess

import numpy as np
import pytest

from songspace.evaluation.results import EvaluationResult, MetricResult
from songspace.reports.compare import run_compare
from songspace.reports.config import parse_config
from songspace.reports.html import Figure, Section, render_report
from songspace.reports.tables import build_table
from tests.reports.conftest import small_config

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium found (looked for " + ", ".join(BROWSERS) + "): install the Debian "
        "package `chromium` (`python3 dev.py test` does so when it runs as root with apt-get)"
    )


def render_dom(browser: str, html_path, profile) -> tuple[str, str]:
    """The DOM after load (inline scripts run), and the browser's log."""
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        html_path.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def body_attrs(dom: str) -> dict[str, str]:
    m = re.search(r"<body([^>]*)>", dom)
    assert m, dom[:500]
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', m.group(1)))


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    browser = find_browser()
    res = run_compare(parse_config(small_config()), tmp_path / "run")
    html_path = res.html
    source = html_path.read_text()
    n_img = source.count("<img ")
    assert n_img == len(list((res.report_dir / "figures").glob("*.png"))) >= 5
    assert "src='http" not in source and "href=" not in source  # self-contained
    dom, log = render_dom(browser, html_path, tmp_path / "profile")
    attrs = body_attrs(dom)
    assert attrs.get("data-report-check") == "ok", attrs
    assert int(attrs["data-images"]) == n_img
    assert attrs["data-broken-images"] == "0" and attrs["data-errors"] == "0"
    assert int(attrs["data-tables"]) >= 3
    assert "Uncaught" not in log
    # The comparison table made it into the rendered page, best values bold, marks shown.
    table = dom[dom.index('<table class="comparison"') :]
    table = table[: table.index("</table>")]
    for text in ("RANDOM", "POPULARITY", "TRACK2VEC", "CF", "HR", "NDCG@10"):
        assert text in table
    assert "<strong>" in table


def test_report_check_fails_on_a_broken_image(tmp_path):
    browser = find_browser()
    page = tmp_path / "broken.html"
    html = render_report("t", [Section("s", paragraphs=["x"])])
    page.write_text(html.replace("</body>", "<img src='data:image/png;base64,AAAA'></body>"))
    attrs = body_attrs(render_dom(browser, page, tmp_path / "profile")[0])
    assert attrs["data-report-check"] == "failed" and attrs["data-broken-images"] == "1"


def test_text_is_escaped_and_figures_are_embedded(tmp_path):
    png = tmp_path / "f.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots(figsize=(1, 1))
    fig.savefig(png)
    plt.close(fig)
    r = EvaluationResult("m<1>")
    r.add(MetricResult.mean_of("completion_hr", np.array([0.5, 0.7])))
    table = build_table([r], ["completion_hr"], describe={"m<1>": {"Method": "<script>x"}})
    html = render_report(
        "A & B <i>",
        [Section("S <b>", paragraphs=["p < q"], tables=[table], figures=[Figure(png, "cap <x>")])],
    )
    assert "<title>A &amp; B &lt;i&gt;</title>" in html
    assert "&lt;script&gt;x" in html and "<script>x" not in html
    assert "S &lt;b&gt;" in html and "p &lt; q" in html and "cap &lt;x&gt;" in html
    assert "data:image/png;base64,iVBOR" in html
