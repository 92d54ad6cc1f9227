"""``GET /explore``: the explorer page built from the served models (TestClient)."""

import base64
import json
import re

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs fastapi (extra `serve`)")
pytest.importorskip("httpx", reason="the TestClient needs httpx (extra `serve`)")

from fastapi.testclient import TestClient

from songspace._util import atomic_write_npz
from songspace.evaluation.embeddings import load_embeddings
from songspace.reports import explore
from songspace.serving.app import ModelSpec, create_app, default_explorer

KEY = {"X-API-Key": "s3cret"}


def page_data(html: str) -> dict:
    m = re.search(r'id="explore-data" type="application/json">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.fixture
def built():
    return []


@pytest.fixture
def client(world, runs, built):
    def counting(recs, *, genres=None):
        built.append((tuple(r.name for r in recs), genres))
        return default_explorer(recs, genres=genres)

    specs = [
        ModelSpec("gs", runs["gs"], world["root"] / "data", {}),
        ModelSpec("t2v", runs["t2v"], world["root"] / "data", {}),
    ]
    app = create_app(specs, api_key="s3cret", background_load=False, explorer=counting)
    with TestClient(app) as c:
        yield c


def test_explore_page_of_the_served_models(client, world, runs):
    r = client.get("/explore")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    data = page_data(r.text)
    assert [run["name"] for run in data["runs"]] == ["gs", "t2v"]
    assert "gs vs t2v" in r.text
    assert data["live"] is True and data["live_k"] == explore.DEFAULT_NEIGHBOURS
    assert data["track_ids"] == [str(t) for t in world["reduced"].track_ids]
    # no cached projection beside the runs: PCA, and nothing written there
    assert [run["method"] for run in data["runs"]] == ["pca", "pca"]
    assert not (runs["gs"] / "explore").exists()
    # no neighbours packed: the page asks /tracks/{id}/similar
    assert all(run["k"] == 0 for run in data["runs"])
    assert "tracks/" in r.text and "/similar?k=" in r.text


def test_explore_is_built_once_and_rebuilt_after_a_reload(client, built, runs):
    first = client.get("/explore").text
    assert client.get("/explore").text == first
    assert built == [(("gs", "t2v"), None)]
    assert client.post("/admin/reload", headers=KEY).status_code == 200
    assert client.get("/explore").status_code == 200
    assert len(built) == 2
    # switching t2v to the GraphSAGE run: its map now shows GraphSAGE's layout
    before = page_data(first)["runs"]
    r = client.post("/admin/reload", headers=KEY, json={"model": "t2v", "run": str(runs["gs"])})
    assert r.status_code == 200
    after = page_data(client.get("/explore").text)["runs"]
    assert after[1]["name"] == "t2v" and after[1]["xy"] == before[0]["xy"] != before[1]["xy"]


def test_explore_genres_and_models_pass_through(client):
    data = page_data(client.get("/explore", params={"genres": "Jazz,hip hop"}).text)
    assert data["chosen_genres"]["labels"] == ["jazz", "hip hop"]
    one = page_data(client.get("/explore", params={"models": "t2v"}).text)
    assert [run["name"] for run in one["runs"]] == ["t2v"] and one["chosen_genres"] is None
    r = client.get("/explore", params={"genres": "jaz"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "UnknownGenreError" and err["field"] == "genres"
    assert "did you mean 'jazz'" in err["message"]
    assert client.get("/explore", params={"models": "nope"}).status_code == 404
    assert client.get("/explore", params={"models": "gs,t2v,gs"}).status_code == 422


def test_explore_uses_the_projection_cached_beside_the_run(client, world, runs):
    emb = load_embeddings(runs["t2v"] / "embeddings.npz", world["reduced"])
    xy = np.full((emb.n_tracks, 2), np.nan, np.float32)
    rows = np.flatnonzero(emb.available)
    xy[rows, 0] = np.arange(len(rows))  # a known layout: x = rank, y = 0
    xy[rows, 1] = 0
    atomic_write_npz(
        runs["t2v"] / "explore" / "umap-0.npz",
        {
            "xy": xy,
            "seconds": 12.5,
            "digest": explore.vectors_digest(emb),
            "version": explore.CACHE_VERSION,
        },
    )
    data = page_data(client.get("/explore", params={"models": "t2v"}).text)
    run = data["runs"][0]
    assert run["method"] == "umap" and run["projection_seconds"] == 12.5
    q = np.frombuffer(base64.b64decode(run["xy"]), "<u2").reshape(-1, 2)
    want = np.round(np.arange(len(rows)) / (len(rows) - 1) * 65534)
    assert q[rows, 0].tolist() == want.tolist()
