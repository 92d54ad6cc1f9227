"""The two-stage recommender served: a real uvicorn process answers `POST /next` and
`POST /complete` exactly as the library's `TwoStageRanker.recommend` ranks, with
`max_per_artist`; unknown tracks, empty seeds and a server without a recommender are
clear 4xx JSON errors. `songspace recommend --next/--complete` gives the same ranking."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

httpx = pytest.importorskip("httpx", reason="the clients need httpx (extra `serve`)")
pytest.importorskip("uvicorn", reason="the server needs uvicorn (extra `serve`)")
pytest.importorskip("lightgbm", reason="the recommender needs lightgbm (extra `recommender`)")

from songspace.cli import app  # noqa: E402
from tests.serving.conftest import T2V_FAST  # noqa: E402
from tests.serving.server import Server  # noqa: E402

FAST = {"depth": 30, "popular": 10, "num_iterations": 20, "num_threads": 1}
SPLIT = {"seed": 0, "test_fraction": 0.1, "min_tracks": 10}
QUERIES = [[0], [17, 5], [250, 1, 42, 9]]


@pytest.fixture(scope="module")
def fitted(world, tmp_path_factory):
    """(dataset dir, recommender dir, the library's ranker and dataset): a Track2Vec run
    trained on the split, and a recommender fitted with it."""
    from songspace.models.train import train_model
    from songspace.reports.recommender import fit_recommender, load_recommender

    root = tmp_path_factory.mktemp("twostage")
    data = world["root"] / "data"
    run = root / "t2v-split"
    train_model("track2vec", data, run, params=T2V_FAST, seed=0, test_fraction=0.1)
    rec = root / "rec"
    fit_recommender(data, {"t2v": run}, rec, params=FAST, **SPLIT)
    ranker, ds = load_recommender(rec, data)
    return data, rec, ranker, ds


def library(fitted, rows, k, max_per_artist=None):
    """The library's ranking as (track id, score) pairs, capped per artist like the
    service."""
    _, _, ranker, ds = fitted
    tracks, scores = ranker.recommend(np.array(rows), ds.n_tracks if max_per_artist else k)
    artists = ds.tracks["artist_name"].tolist()
    out, per = [], {}
    for t, s in zip(tracks.tolist(), scores.tolist(), strict=True):
        a = artists[t]
        if max_per_artist is not None and per.get(a, 0) >= max_per_artist:
            continue
        per[a] = per.get(a, 0) + 1
        out.append((str(ds.track_ids[t]), s))
    return out[:k]


def served(body):
    return [(r["track_id"], r["score"]) for r in body["results"]]


def test_served_recommender_equals_the_librarys_ranking(world, runs, fitted, tmp_path):
    data, rec, _, ds = fitted
    ids = ds.track_ids
    server = Server([runs["t2v"]], data, tmp_path, args=["--recommender", str(rec)])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/ready").json()["recommender"] == "rec"
            assert c.get("/models").json()["recommender"]["depth"] == FAST["depth"]
            for rows in QUERIES:
                seeds = [str(ids[r]) for r in rows]
                want = library(fitted, rows, 10)
                assert len(want) == 10
                r = c.post("/next", json={"seed_track_ids": seeds, "k": 10})
                assert r.status_code == 200, r.text
                assert r.json()["model"] == "rec" and served(r.json()) == want
                r = c.post("/complete", json={"seed_track_ids": seeds, "k": 10})
                assert r.json()["model"] == "rec" and served(r.json()) == want
                body = {"seed_track_ids": seeds, "k": 5, "max_per_artist": 1}
                got = c.post("/next", json=body).json()["results"]
                assert served({"results": got}) == library(fitted, rows, 5, max_per_artist=1)
                assert len({g["artist_name"] for g in got}) == len(got)
            # naming an embedding model still answers from its neighbours
            r = c.post("/complete", json={"seed_track_ids": [str(ids[3])], "model": "t2v"})
            assert r.status_code == 200 and r.json()["model"] == "t2v"
            # errors: one JSON shape, 4xx, never a 500
            r = c.post("/next", json={"seed_track_ids": ["no-such-track"]})
            err = r.json()["error"]
            assert r.status_code == 404 and err["type"] == "UnknownTrackError"
            assert err["field"] == "seed_track_ids" and "no-such-track" in err["message"]
            r = c.post("/next", json={"seed_track_ids": []})
            assert r.status_code == 422 and r.json()["error"]["type"] == "ValidationError"
            r = c.post("/next", json={"seed_track_ids": [str(ids[3])], "k": "5"})
            assert r.status_code == 422
            r = c.post("/next", json={"seed_track_ids": [str(ids[3])], "max_per_artist": 0})
            assert r.status_code == 422
            r = c.post("/next", json={"seed_track_ids": [str(ids[3])], "model": "nope"})
            assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownModelError"
    finally:
        server.stop()


def test_next_without_a_recommender_is_a_clear_404(world, runs, tmp_path):
    server = Server([runs["t2v"]], world["root"] / "data", tmp_path)
    try:
        seed = str(world["reduced"].track_ids[3])
        r = httpx.post(server.url + "/next", json={"seed_track_ids": [seed]}, timeout=30)
        err = r.json()["error"]
        assert r.status_code == 404 and err["type"] == "NoRecommenderError"
        assert "--recommender" in err["message"]
        # /complete keeps answering from the embedding model
        r = httpx.post(server.url + "/complete", json={"seed_track_ids": [seed]}, timeout=30)
        assert r.status_code == 200 and r.json()["model"] == "t2v"
    finally:
        server.stop()


def test_recommend_next_and_complete_from_the_shell(fitted):
    data, rec, _, ds = fitted
    rows = QUERIES[1]
    seeds = ",".join(str(ds.track_ids[r]) for r in rows)
    runner = CliRunner()
    base = ["recommend", "--data", str(data), "--recommender", str(rec), "-k", "7", "--json"]
    for option in ("--next", "--complete"):
        res = runner.invoke(app, [*base, option, seeds])
        assert res.exit_code == 0, (res.output, res.exception)
        assert served(json.loads(res.stdout)) == library(fitted, rows, 7)
    res = runner.invoke(app, ["recommend", "--data", str(data), "--next", seeds])
    assert "--recommender" in str(res.exception)


def test_an_hnsw_service_shares_its_index_with_the_recommender(fitted, tmp_path):
    """Above --exact-max (here: --index hnsw) the recommender's neighbour generators search
    the served model's HNSW index when it holds the same vectors (not a second copy),
    /models says so, and the answers equal the library's ranking over that index."""
    from songspace.evaluation.candidates import ExactSearch
    from songspace.reports.recommender import load_recommender
    from songspace.serving.recommender import Recommender
    from songspace.serving.twostage import IndexChoice

    data, rec, exact_ranker, ds = fitted
    run = rec.parent / "t2v-split"  # the run the recommender was fitted with
    hnsw = {"index": "hnsw", "m": 8, "ef_construction": 40, "ef_search": 64}
    args = ["--index", "hnsw", "--hnsw-m", "8", "--ef-construction", "40", "--ef-search", "64"]
    shared = {"t2v": "hnsw (shared with model t2v-split)"}
    server = Server([run], data, tmp_path, args=[*args, "--recommender", str(rec)])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/models").json()["recommender"]["indexes"] == shared
            # the library over the index the server saved beside the run
            model = Recommender.from_run(run, data, **hnsw)
            assert model.index.stats.reused
            choice = IndexChoice(hnsw, [model])
            ranker, _ = load_recommender(rec, data, search=choice)
            assert choice.chosen == shared
            searches = {g.name: getattr(g, "search", None) for g in ranker.stage1.generators}
            assert searches["t2v.last"] is model.index and searches["t2v.mean"] is model.index
            for rows in QUERIES:
                seeds = [str(ds.track_ids[r]) for r in rows]
                tracks, scores = ranker.recommend(np.array(rows), 10)
                want = [(str(ds.track_ids[t]), s) for t, s in zip(tracks, scores, strict=True)]
                r = c.post("/next", json={"seed_track_ids": seeds, "k": 10})
                assert served(r.json()) == want
    finally:
        server.stop()
    # below --exact-max the library's exact search is kept: rankings as fitted
    exact = {g.name: getattr(g, "search", None) for g in exact_ranker.stage1.generators}
    assert isinstance(exact["t2v.last"], ExactSearch)
    choice = IndexChoice({"index": "auto"}, [model])
    load_recommender(rec, data, search=choice)
    assert choice.chosen == {"t2v": "exact (numpy)"}
