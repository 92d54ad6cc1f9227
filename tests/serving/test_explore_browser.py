"""The live explorer in headless Chromium: a real ``songspace serve`` process, its
``/explore`` page, and a click whose neighbour list is what ``/tracks/{id}/similar``
answers. Skipped without Chromium (the Debian package) or websocket-client."""

import pytest

httpx = pytest.importorskip("httpx", reason="the clients need httpx (extra `serve`)")
pytest.importorskip("uvicorn", reason="the server needs uvicorn (extra `serve`)")

from tests.reports.cdp import Browser, find_browser  # noqa: E402
from tests.serving.server import Server  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    binary = find_browser()
    if binary is None:
        pytest.skip("no Chromium found: install the Debian package `chromium`")
    pytest.importorskip("websocket", reason="websocket-client (extra `dev`) drives Chromium")
    b = Browser(binary, tmp_path / "profile")
    yield b
    b.close()


@pytest.mark.slow
def test_live_click_lists_the_service_neighbours(world, runs, tmp_path, browser):
    server = Server([runs["t2v"], runs["gs"]], world["root"] / "data", tmp_path)
    try:
        browser.open(server.url + "/explore?genres=jazz,classical,hip%20hop")
        assert browser.errors == []
        names = browser.evaluate("songspaceExplorer.runs.map(r => r.name)")
        assert names == ["t2v", "gs"]
        legend = browser.evaluate(
            "[...document.querySelectorAll('#legend li[data-label]')].map(l => l.dataset.label)"
        )
        assert set(legend) - {"other", "unknown"} == {"jazz", "classical", "hip hop"}
        ids = browser.evaluate(
            "JSON.parse(document.getElementById('explore-data').textContent).track_ids"
        )
        # click the point of a track both models embed
        target = browser.evaluate(
            "(() => { const r = songspaceExplorer.runs; for (let i = 0; i < r[0].avail.length;"
            " i++) if (r[0].avail[i] && r[1].avail[i]) return i; return -1; })()"
        )
        assert target >= 0
        x, y = browser.evaluate(
            f"(() => {{ const m = songspaceExplorer.maps[0], p = m.toScreen({target}),"
            " r = m.canvas.getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; })()"
        )
        browser.click(x, y)
        picked = int(browser.wait_for("document.body.dataset.selected"))
        for j, name in enumerate(names):
            listed = browser.wait_for(
                "(() => { const t = document.querySelector("
                f"'#neighbours table[data-run=\"{j}\"]'); return t && t.dataset.loaded === '1' &&"
                " [...t.querySelectorAll('tr[data-id]')].map(r => r.dataset.id); })()"
            )
            answer = httpx.get(
                f"{server.url}/tracks/{ids[picked]}/similar", params={"k": 10, "model": name}
            ).json()
            assert listed == [r["track_id"] for r in answer["results"]]
            assert len(listed) == 10
        assert browser.errors == []
    finally:
        server.stop()


@pytest.mark.slow
def test_live_explorer_lists_the_neighbours_of_an_id_with_a_slash(slash_world, tmp_path, browser):
    """Issue 27 item 17: the page asks tracks/<encodeURIComponent(id)>/similar; for an id
    holding "/" the server must route the decoded path to that track."""
    server = Server([slash_world["run"]], slash_world["data"], tmp_path)
    try:
        browser.open(server.url + "/explore")
        assert browser.errors == []
        ids = browser.evaluate(
            "JSON.parse(document.getElementById('explore-data').textContent).track_ids"
        )
        for tid in slash_world["ids"][:2]:
            browser.evaluate(f"songspaceExplorer.select({ids.index(tid)})")
            listed = browser.wait_for(
                "(() => { const t = document.querySelector('#neighbours table[data-run=\"0\"]');"
                f" return t && document.body.dataset.selected === '{ids.index(tid)}' &&"
                " t.dataset.loaded === '1' &&"
                " [...t.querySelectorAll('tr[data-id]')].map(r => r.dataset.id); })()"
            )
            answer = httpx.get(f"{server.url}/tracks/{tid}/similar", params={"k": 10}).json()
            assert listed == [r["track_id"] for r in answer["results"]] and len(listed) == 10
        assert browser.errors == []
    finally:
        server.stop()
