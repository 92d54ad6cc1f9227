"""The explorer page: packing, projection cache, export, and the page in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.errors import ParameterError, SongspaceError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.knn import exact_topk
from songspace.reports import explore
from tests.reports.cdp import Browser, find_browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic catalogue with two trained runs (Track2Vec, Node2Vec), PCA maps."""
    from songspace.models.train import train_model

    root = tmp_path_factory.mktemp("explore")
    ds = generate(n_playlists=400, n_tracks=500, seed=2)
    ds.save(root / "data")
    train_model("track2vec", ds, root / "t2v", params={"dim": 25, "epochs": 3}, seed=0)
    train_model("node2vec", ds, root / "n2v", params={"dim": 25}, seed=0)
    res = explore.run_explore(
        [root / "t2v", root / "n2v"],
        root / "data",
        root / "explore.html",
        method="pca",
        k=10,
        parquet=root / "explore.parquet",
    )
    return root, ds, res


def test_pack_ids_round_trips_with_missing_rows():
    ids = np.array([[0, 5, 70000], [-1, -1, -1]], dtype=np.int64)
    text, width = explore.page._pack_ids(ids, 100000)
    raw = np.frombuffer(base64.b64decode(text), np.uint8).reshape(-1, width)
    back = (
        raw[:, 0].astype(np.int64)
        | raw[:, 1].astype(np.int64) << 8
        | raw[:, 2].astype(np.int64) << 16
    )
    back[back == 0xFFFFFF] = -1
    assert width == 3 and back.reshape(2, 3).tolist() == ids.tolist()


def test_pca_matches_the_top_two_components():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1])
    xy = explore.pca_2d(x)
    # variance along the first axis ~ 25, the second ~ 9 (hand-computed from the scales)
    assert 20 < xy[:, 0].var() < 30 and 6 < xy[:, 1].var() < 12
    assert abs(np.corrcoef(xy[:, 0], x[:, 0])[0, 1]) > 0.99


def test_popularity_buckets_are_quantiles():
    bucket, labels = explore.popularity_buckets(np.arange(1, 101), 4)
    assert np.bincount(bucket).tolist() == [25, 25, 25, 25]
    assert labels[0] == "1-25 playlists" and labels[-1] == "76-100 playlists"


def genre_dataset():
    """Seven tracks with hand-set genre lists (case differs on purpose)."""
    from songspace.data.dataset import Dataset, make_tracks_table

    genres = [
        ["Jazz", "bebop"],  # 0: jazz
        ["rock", "Hip Hop"],  # 1: primary rock, but carries hip hop
        ["classical"],  # 2: classical
        ["rock"],  # 3: other
        [],  # 4: unknown
        ["hip hop", "jazz"],  # 5: both: jazz comes first in the order asked
        ["hip hop"],  # 6: hip hop
    ]
    n = len(genres)
    return Dataset(
        tracks=make_tracks_table(
            [f"t{i}" for i in range(n)],
            track_names=[f"song {i}" for i in range(n)],
            genres=genres,
        ),
        indptr=np.array([0, 4, 7], np.int64),
        indices=np.array([0, 1, 2, 3, 4, 5, 6], np.int64),
        sequence_ids=np.array(["s0", "s1"], dtype=object),
    )


def test_chosen_genres_codes_and_labels():
    ds = genre_dataset()
    labels, codes = explore.genre_colouring(ds, "jazz, CLASSICAL ,hip hop")
    # spelling: the one most tracks use ("hip hop" 2 vs "Hip Hop" 1; jazz ties -> "Jazz")
    assert labels == ["Jazz", "classical", "hip hop"]
    assert codes.tolist() == [0, 2, 1, 3, -1, 0, 2]
    # the order asked decides a track carrying two chosen genres
    _, codes = explore.genre_colouring(ds, ["hip hop", "jazz"])
    assert codes.tolist() == [1, 0, 2, 2, -1, 0, 0]


def test_chosen_genres_in_the_payload():
    ds = genre_dataset()
    vecs = np.random.default_rng(0).normal(size=(ds.n_tracks, 4))
    emb = Embeddings.from_array(vecs, ds.n_tracks, name="toy")
    run = explore.prepare_run(emb, ds, np.zeros(ds.n_tracks, bool), method="pca", k=2)
    plain = explore.build_payload([run], ds)
    assert plain["chosen_genres"] is None
    data = explore.build_payload([run], ds, genres="classical,jazz")
    chosen = data["chosen_genres"]
    assert chosen["labels"] == ["classical", "Jazz"]
    codes = np.frombuffer(base64.b64decode(chosen["codes"]), "<i2")
    assert codes.tolist() == [1, 2, 0, 2, -1, 1, 2]
    # the primary-genre table (tooltips, neighbour lists) is unchanged
    assert data["genres"] == plain["genres"]


def test_unknown_genre_names_close_matches_and_the_fix():
    ds = genre_dataset()
    with pytest.raises(explore.UnknownGenreError) as info:
        explore.genre_colouring(ds, "jaz,classical")
    msg = str(info.value)
    assert isinstance(info.value, SongspaceError)
    assert "parameter `genres`" in msg and "'jaz'" in msg
    assert "did you mean 'jazz'" in msg.lower() and "Fix:" in msg
    with pytest.raises(explore.UnknownGenreError, match="no genre of the dataset is close"):
        explore.genre_colouring(ds, ["polka"])
    with pytest.raises(ParameterError, match="one or more"):
        explore.genre_colouring(ds, " , ")


def test_run_explore_rejects_an_unknown_genre_before_projecting(demo, tmp_path):
    root, _, _ = demo
    with pytest.raises(explore.UnknownGenreError):
        explore.run_explore(
            [root / "t2v"], root / "data", tmp_path / "x.html", method="pca", genres="nope"
        )
    assert not (tmp_path / "x.html").exists()


def test_projection_is_cached_beside_the_run(demo):
    root, _, res = demo
    cache = root / "t2v" / "explore" / "pca-0.npz"
    assert cache.is_file()
    emb = res.runs[0].embeddings
    again = explore.cached_projection(
        emb, "pca", cache_dir=cache.parent, digest=explore.vectors_digest(emb)
    )
    assert again.cached and np.array_equal(again.xy, res.runs[0].projection.xy, equal_nan=True)
    stale = explore.cached_projection(emb, "pca", cache_dir=cache.parent, digest="other")
    assert not stale.cached


def test_page_is_self_contained_and_packs_exact_neighbours(demo):
    root, ds, res = demo
    html = (root / "explore.html").read_text()
    assert not re.search(r"<(script|link)[^>]*(src|href)=", html), "no external resources"
    assert "http://" not in html and "https://" not in html
    data = json.loads(
        re.search(r'id="explore-data" type="application/json">(.*?)</script>', html, re.S)
        .group(1)
        .replace("<\\/", "</")
    )
    run = data["runs"][0]
    raw = np.frombuffer(base64.b64decode(run["neighbours"]), np.uint8).reshape(-1, 3)
    ids = (
        raw[:, 0].astype(np.int64)
        | raw[:, 1].astype(np.int64) << 8
        | raw[:, 2].astype(np.int64) << 16
    ).reshape(ds.n_tracks, run["k"])
    emb = res.runs[0].embeddings
    q = np.flatnonzero(emb.available)[:20]
    truth, scores = exact_topk(emb, q, 10)
    assert ids[q].tolist() == truth.tolist()
    cos = np.frombuffer(base64.b64decode(run["cosines"]), np.uint8).reshape(ds.n_tracks, -1)
    assert np.abs(cos[q] / 255 * 2 - 1 - scores).max() <= 1 / 255 + 1e-6
    assert set(run["metrics"]) == {"vrc_genre", "genre_coherence"}


def test_parquet_export_has_the_embedding_atlas_columns(demo):
    import pyarrow.parquet as pq

    root, ds, res = demo
    t = pq.read_table(root / "explore.parquet")
    for c in ("track_id", "x", "y", "neighbors", "x_n2v", "neighbors_n2v"):
        assert c in t.column_names
    first = t.slice(0, 1).to_pylist()[0]
    i = ds.track_index()[first["track_id"]]
    truth, scores = exact_topk(res.runs[0].embeddings, np.array([i]), 10)
    assert first["neighbors"]["ids"] == [str(x) for x in ds.track_ids[truth[0]]]
    assert np.allclose(first["neighbors"]["distances"], 1 - scores[0], atol=1e-6)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_browser()
    if binary is None:
        pytest.skip(
            "no Chromium found: install the Debian package `chromium` "
            "(`python3 dev.py test` does so when it runs as root with apt-get)"
        )
    pytest.importorskip("websocket", reason="websocket-client (extra `dev`) drives Chromium")
    b = Browser(binary, tmp_path_factory.mktemp("profile"))
    yield b
    b.close()


@pytest.mark.slow
def test_page_in_headless_chromium(demo, browser):
    from PIL import Image

    root, ds, res = demo
    browser.open((root / "explore.html").resolve().as_uri())
    assert browser.errors == []
    # the canvas is not blank: many non-white pixels in several colours
    rect = browser.evaluate(
        "(() => { const r = document.querySelector('canvas[data-run=\"0\"]')"
        ".getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })()"
    )
    shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    px = np.asarray(shot.crop(tuple(int(v) for v in rect)))
    coloured = px[(px < 235).any(axis=2)]
    assert len(coloured) > 500
    assert len({tuple(c) for c in coloured}) >= 5

    # searching a known track name selects it
    emb = res.runs[0].embeddings
    names = ds.tracks["track_name"].astype(str)
    unique = names[names.map(names.value_counts()) == 1]
    target = next(i for i in unique.index if emb.available[i])
    browser.evaluate("document.getElementById('search').focus()")
    browser.type_text(names[target])
    browser.press_enter()
    assert browser.wait_for("document.body.dataset.selected") == str(target)

    # clicking a point lists the k neighbours exact_topk gives, in both runs
    x, y = browser.evaluate(
        f"(() => {{ const m = songspaceExplorer.maps[0], p = m.toScreen({target}),"
        " r = m.canvas.getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; })()"
    )
    browser.evaluate("document.body.dataset.selected = ''")
    browser.click(x, y)
    picked = int(browser.wait_for("document.body.dataset.selected"))
    dist = browser.evaluate(
        f"(() => {{ const m = songspaceExplorer.maps[0], p = m.toScreen({picked});"
        f" const r = m.canvas.getBoundingClientRect(); return Math.hypot(r.left + p[0] - {x},"
        f" r.top + p[1] - {y}); }})()"
    )
    assert dist <= 8
    for j, run in enumerate(res.runs):
        listed = browser.evaluate(
            f"[...document.querySelectorAll('#neighbours table[data-run=\"{j}\"] tr[data-track]')]"
            ".map(t => +t.dataset.track)"
        )
        if run.embeddings.available[picked]:
            truth, _ = exact_topk(run.embeddings, np.array([picked]), 10)
            assert listed == truth[0].tolist()

    # colouring changes the legend: popularity buckets, then the genres
    legend = "[...document.querySelectorAll('#legend li[data-label]')].map(l => l.dataset.label)"
    browser.evaluate(
        "(() => { const s = document.getElementById('colour'); s.value = 'popularity';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    by_pop = browser.evaluate(legend)
    assert all(label.endswith("playlists") for label in by_pop)
    browser.evaluate(
        "(() => { const s = document.getElementById('colour'); s.value = 'genre';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    by_genre = browser.evaluate(legend)
    drawn = ds.tracks["genre"][emb.available].dropna()
    assert by_genre[0] == drawn.value_counts().index[0]
    assert set(by_genre) - {"other", "unknown"} <= set(drawn)

    # a box selection over the whole (reset) map reports every drawn track
    browser.evaluate("document.getElementById('reset').click()")
    c = browser.evaluate(
        "(() => { const r = document.querySelector('canvas[data-run=\"0\"]')"
        ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()"
    )
    browser.drag((c[0] + 2, c[1] + 2), (c[0] + c[2] - 2, c[1] + c[3] - 2), modifiers=8)
    text = browser.wait_for(
        "document.getElementById('makeup').textContent.includes('selected')"
        " && document.getElementById('makeup').textContent"
    )
    assert f"{int(emb.available.sum()):,} tracks selected" in text
    assert browser.errors == []


@pytest.mark.slow
def test_chosen_genres_legend_in_headless_chromium(demo, browser, tmp_path):
    _, ds, res = demo
    page = tmp_path / "genres.html"
    explore.write_explorer(res.runs, ds, page, genres="jazz,classical,hip hop")
    browser.evaluate("document.body && (document.body.dataset.ready = '')")
    browser.errors.clear()
    browser.open(page.resolve().as_uri())
    assert browser.errors == []
    legend = browser.evaluate(
        "[...document.querySelectorAll('#legend li[data-label]')]"
        ".map(l => [l.dataset.label, +l.querySelector('.n').textContent.replace(/,/g, '')])"
    )
    _, codes = explore.genre_colouring(ds, "jazz,classical,hip hop")
    drawn = codes[res.runs[0].embeddings.available]
    want = [
        [label, int((drawn == j).sum())]
        for j, label in enumerate(["jazz", "classical", "hip hop", "other"])
        if (drawn == j).any()
    ]
    if (drawn < 0).any():
        want.append(["unknown", int((drawn < 0).sum())])
    assert legend == want
    label = browser.evaluate(
        "document.querySelector('#colour option[value=\"genre\"]').textContent"
    )
    assert label == "genre: jazz, classical, hip hop"


def test_cli_genres_option(demo, tmp_path):
    from typer.testing import CliRunner

    from songspace.cli import app

    root, _, _ = demo
    base = ["--no-progress", "explore", str(root / "t2v"), "--data", str(root / "data")]
    out = tmp_path / "g.html"
    res = CliRunner().invoke(
        app, [*base, "-o", str(out), "--method", "pca", "--genres", "Jazz,hip hop"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(
        re.search(
            r'id="explore-data" type="application/json">(.*?)</script>', out.read_text(), re.S
        )
        .group(1)
        .replace("<\\/", "</")
    )
    assert data["chosen_genres"]["labels"] == ["jazz", "hip hop"]
    res = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "x.html"), "--genres", "jaz"])
    assert isinstance(res.exception, explore.UnknownGenreError)
    assert "did you mean 'jazz'" in str(res.exception)
