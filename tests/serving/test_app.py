"""Every endpoint and every error status through FastAPI's TestClient."""

import json
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs fastapi (extra `serve`)")
pytest.importorskip("httpx", reason="the TestClient needs httpx (extra `serve`)")

from fastapi.testclient import TestClient

from songspace.models.base import EmbeddingModel
from songspace.serving.app import ModelSpec, create_app

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def client(world, runs):
    specs = [
        ModelSpec("gs", runs["gs"], world["root"] / "data", {}),
        ModelSpec("t2v", runs["t2v"], world["root"] / "data", {}),
    ]
    app = create_app(specs, api_key="s3cret", max_body_bytes=20_000, background_load=False)
    with TestClient(app) as c:
        yield c


def assert_error(r, status, field=None, contains=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"status", "type", "message", "field"} and err["status"] == status
    assert err["message"]
    if field is not None:
        assert err["field"] == field, err
    if contains is not None:
        assert contains in err["message"], err["message"]
    return err


def test_health_ready_models(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "models": ["gs", "t2v"]}
    doc = client.get("/models").json()
    assert doc["default"] == "gs"
    by = {m["name"]: m for m in doc["models"]}
    assert by["gs"]["inductive"] and not by["t2v"]["inductive"]
    assert by["t2v"]["index"]["kind"] == "exact" and by["t2v"]["index"]["memory_bytes"] > 0
    assert "/tracks/{track_id}/similar" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_ready_is_503_while_loading(world, runs):
    gate = threading.Event()

    class Slow(ModelSpec):
        def load(self, run=None):
            gate.wait(10)
            return super().load(run)

    app = create_app([Slow("gs", runs["gs"], world["root"] / "data", {})])
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert_error(c.get("/ready"), 503)
        assert_error(c.get("/models"), 503)
        gate.set()


def test_track_similar_batch_complete(client, world):
    ids = world["reduced"].track_ids
    t = client.get(f"/tracks/{ids[0]}").json()
    assert t["track_id"] == ids[0] and t["track_name"] and t["artist_name"]
    r = client.get(f"/tracks/{ids[0]}/similar", params={"k": 5, "model": "t2v"}).json()
    assert r["model"] == "t2v" and len(r["results"]) == 5
    assert set(r["results"][0]) == {"track_id", "track_name", "artist_name", "genre", "score"}
    b = client.post("/similar:batch", json={"track_ids": list(ids[:3]), "k": 4}).json()
    assert list(b["results"]) == list(ids[:3]) and all(len(v) == 4 for v in b["results"].values())
    assert b["results"][ids[0]] == client.get(f"/tracks/{ids[0]}/similar?k=4").json()["results"]
    c = client.post(
        "/complete", json={"seed_track_ids": list(ids[:3]), "k": 6, "max_per_artist": 2}
    ).json()
    assert len(c["results"]) == 6 and not {x["track_id"] for x in c["results"]} & set(ids[:3])


def test_post_tracks_equals_model_embed_and_is_served(client, world, runs):
    doc = world["docs"][0]
    r = client.post("/tracks", json={"tracks": [doc], "k": 5}, headers=KEY)
    assert r.status_code == 201, r.text
    assert r.json()["added"][0]["track_id"] == doc["track_id"]
    t = client.get(f"/tracks/{doc['track_id']}").json()
    assert t["added"] and t["has_embedding"]
    sim = client.get(f"/tracks/{doc['track_id']}/similar?k=5").json()["results"]
    rec = client.app.app.state.songspace.models["gs"]
    model = EmbeddingModel.load(runs["gs"] / "model")
    from songspace.serving.newtracks import grow, parse_track

    grown = grow(world["reduced"], [parse_track(doc, world["reduced"])])
    v = model.embed(grown, [grown.n_tracks - 1])
    expected = rec.search(v[0] / np.linalg.norm(v[0]), 5, exclude=[rec.row(doc["track_id"])])
    assert [x["track_id"] for x in sim] == [n.track_id for n in expected]
    assert (runs["gs"] / "serving" / "added-tracks.jsonl").is_file()
    assert_error(client.post("/tracks", json={"tracks": [doc]}, headers=KEY), 409, "track_id")


def test_404s(client, world):
    assert_error(client.get("/tracks/nope"), 404, "track_id", "'nope'")
    assert_error(client.get("/tracks/nope/similar"), 404, "track_id", "'nope'")
    assert_error(client.post("/similar:batch", json={"track_ids": ["a", "b"]}), 404, "track_ids")
    assert_error(client.post("/complete", json={"seed_track_ids": ["zz"]}), 404, "seed_track_ids")
    assert_error(client.get(f"/tracks/{world['reduced'].track_ids[0]}?model=x"), 404, "model")
    assert_error(client.get("/no/such/route"), 404)


def test_422s(client, world):
    t0 = world["reduced"].track_ids[0]
    assert_error(client.get(f"/tracks/{t0}/similar?k=0"), 422, "k")
    assert_error(client.get(f"/tracks/{t0}/similar?k=abc"), 422, "k", "'abc'")
    assert_error(client.get(f"/tracks/{t0}/similar?k=100000"), 422, "k")
    assert_error(client.get(f"/tracks/{t0}/similar?k=999&model=t2v"), 422, "k")
    assert_error(client.post("/complete", json={"seed_track_ids": []}), 422, "seed_track_ids")
    assert_error(client.post("/complete", json={"seeds": [t0]}), 422)
    assert_error(
        client.post(
            "/complete", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert_error(client.post("/similar:batch", json={"track_ids": t0}), 422, "track_ids")
    bad = {**world["docs"][0], "features": {"audio": {"loudnes": -5.0}}}
    assert_error(
        client.post("/tracks", json={"tracks": [bad]}, headers=KEY),
        422,
        "features.audio.loudnes",
        "loudness",
    )
    assert_error(
        client.post("/tracks", json={"tracks": [{"track_name": "x"}]}, headers=KEY), 422, "track_id"
    )
    err = assert_error(
        client.post("/tracks", json={"tracks": [world["docs"][0]], "model": "t2v"}, headers=KEY),
        422,
        "model",
    )
    assert "graphsage" in err["message"] and "musig" in err["message"]


def test_413_and_401(client, world):
    big = {"tracks": [{**world["docs"][0], "cooccurring": ["t" * 50] * 1000}]}
    assert_error(client.post("/tracks", json=big, headers=KEY), 413, "body")
    # streamed without a length
    body = json.dumps(big).encode()
    assert_error(
        client.post("/tracks", content=iter([body[:10_000], body[10_000:]]), headers=KEY), 413
    )
    doc = {"tracks": [world["docs"][1]]}
    assert_error(client.post("/tracks", json=doc), 401, contains="missing")
    assert_error(
        client.post("/tracks", json=doc, headers={"X-API-Key": "wrong"}), 401, contains="wrong"
    )
    assert_error(client.post("/admin/reload", json={}), 401)
    ok = client.post("/tracks", json=doc, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201


def test_no_key_configured_refuses_writes(world, runs, monkeypatch):
    monkeypatch.delenv("SONGSPACE_API_KEY", raising=False)
    app = create_app(
        [ModelSpec("gs", runs["gs"], world["root"] / "data", {})], background_load=False
    )
    with TestClient(app) as c:
        assert_error(
            c.post("/tracks", json={"tracks": [world["docs"][0]]}, headers=KEY),
            401,
            contains="without one",
        )


def test_reload_swaps_to_a_new_run_version(client, world, runs, tmp_path):
    t0 = world["reduced"].track_ids[0]
    before = client.get(f"/tracks/{t0}/similar?k=5&model=t2v").json()["results"]
    # a new version of the run: same vocabulary, other vectors
    import shutil

    new = tmp_path / "t2v-v2"
    shutil.copytree(runs["t2v"], new)
    z = dict(np.load(new / "embeddings.npz"))
    z["embeddings"] = z["embeddings"][::-1].copy()
    z["available"] = z["available"][::-1].copy()
    np.savez(new / "embeddings.npz", **z)
    r = client.post("/admin/reload", json={"model": "t2v", "run": str(new)}, headers=KEY)
    assert r.status_code == 200, r.text
    assert r.json()["reloaded"][0]["run"] == str(new)
    after = client.get(f"/tracks/{t0}/similar?k=5&model=t2v").json()["results"]
    assert after != before
    # reload of every model from its (unchanged) run reuses the saved index
    r = client.post("/admin/reload", headers=KEY)
    assert [x["model"] for x in r.json()["reloaded"]] == ["gs", "t2v"]
    assert_error(client.post("/admin/reload", json={"model": "zz"}, headers=KEY), 404, "model")


def test_reload_during_requests_fails_none(client, world):
    ids = list(world["reduced"].track_ids[:50])
    errors, done = [], threading.Event()

    def hammer():
        i = 0
        while not done.is_set():
            r = client.get(f"/tracks/{ids[i % len(ids)]}/similar?k=10&model=t2v")
            if r.status_code != 200 or len(r.json()["results"]) != 10:
                errors.append(r.text)
            i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        assert client.post("/admin/reload", json={"model": "t2v"}, headers=KEY).status_code == 200
    done.set()
    for t in threads:
        t.join(30)
    assert errors == []
