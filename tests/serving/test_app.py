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


# ------------------------------------------------------------- issue 27 (the service)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/similar:batch", {"k": True}, "k"),
        ("/similar:batch", {"k": "2"}, "k"),
        ("/similar:batch", {"k": 2.0}, "k"),
        ("/complete", {"exclude_seeds": "yes"}, "exclude_seeds"),
        ("/complete", {"exclude_seeds": 1}, "exclude_seeds"),
        ("/complete", {"max_per_artist": "1"}, "max_per_artist"),
        ("/complete", {"k": 3.0}, "k"),
    ],
)
def test_bodies_are_validated_strictly(client, world, path, body, field):
    """Item 8: no lax coercion (true -> 1, "2" -> 2, 2.0 -> 2, "yes" -> true)."""
    t0 = world["reduced"].track_ids[0]
    ids = {"track_ids": [t0]} if path == "/similar:batch" else {"seed_track_ids": [t0]}
    err = assert_error(client.post(path, json={**ids, **body}), 422, field)
    assert repr(body[field]) in err["message"]


def test_post_tracks_body_is_strict(client, world):
    doc = world["docs"][0]
    assert_error(client.post("/tracks", json={"tracks": [doc], "k": "3"}, headers=KEY), 422, "k")
    assert_error(client.get(f"/tracks/{doc['track_id']}"), 404)  # nothing was added


def test_a_bare_track_is_refused(client, world):
    """Item 5: a track with no features, genres, playlists or co-occurring tracks has
    nothing to be embedded from (training marks such tracks unavailable)."""
    for bare in (
        {"track_id": "x"},
        {"track_id": "x", "track_name": "X", "features": {}, "genres": [], "playlists": []},
        {"track_id": "x", "features": {"audio": {}}, "cooccurring": []},
    ):
        err = assert_error(client.post("/tracks", json={"tracks": [bare]}, headers=KEY), 422)
        for need in ("features", "genres", "playlists", "cooccurring", "unavailable"):
            assert need in err["message"], err["message"]
    assert_error(client.get("/tracks/x"), 404)
    # one input is enough: playlists only
    doc = world["docs"][1]
    only = {"track_id": doc["track_id"], "playlists": doc["playlists"]}
    assert client.post("/tracks", json={"tracks": [only]}, headers=KEY).status_code == 201


def test_unparsable_bodies_are_422_with_the_usual_shape(client):
    """Item 21: deeply nested JSON was a bare 400; a syntax error named field '39'."""
    deep = b"[" * 5_000 + b"]" * 5_000  # beyond the parser's recursion limit (1,000)
    err = assert_error(
        client.post("/complete", content=deep, headers={"content-type": "application/json"}),
        422,
        "body",
    )
    assert err["type"] == "ValidationError" and "nested" in err["message"]
    bad = b'{"seed_track_ids": ["a"], "k": }'
    err = assert_error(
        client.post("/complete", content=bad, headers={"content-type": "application/json"}),
        422,
        "body",
    )
    assert "expected valid JSON" in err["message"], err["message"]
    assert "line 1 column 32" in err["message"], err["message"]
    assert "field '" not in err["message"]
    latin = '{"seed_track_ids": ["é"]}'.encode("latin-1")
    assert_error(
        client.post("/complete", content=latin, headers={"content-type": "application/json"}),
        422,
        "body",
    )


def test_models_and_ready_hide_run_paths_without_the_key(client, runs):
    """Item 14: absolute run paths only for clients with the key."""
    public = client.get("/models").json()
    assert [m["run"] for m in public["models"]] == ["gs", "t2v"]
    assert str(runs["gs"].parent) not in json.dumps(public)
    keyed = client.get("/models", headers=KEY).json()
    assert [m["run"] for m in keyed["models"]] == [str(runs["gs"]), str(runs["t2v"])]


def test_a_failed_load_hides_paths_without_the_key(world, tmp_path):
    broken = tmp_path / "broken-run"  # 3 rows for a dataset of hundreds of tracks
    broken.mkdir()
    np.savez(broken / "embeddings.npz", embeddings=np.ones((3, 4), np.float32), available=[1] * 3)
    app = create_app(
        [ModelSpec("b", broken, world["root"] / "data", {})],
        api_key="s3cret",
        background_load=False,
    )
    with TestClient(app) as c:
        for r in (c.get("/ready"), c.get("/models"), c.get("/tracks/x")):
            err = assert_error(r, 503)
            assert str(tmp_path) not in err["message"] and "failed" in err["message"]
        assert str(broken) in assert_error(c.get("/ready", headers=KEY), 503)["message"]


def test_an_empty_api_key_is_refused(world, runs):
    from songspace.errors import ParameterError
    from songspace.serving.app import serve

    specs = [ModelSpec("gs", runs["gs"], world["root"] / "data", {})]
    for empty in ("", "  "):
        with pytest.raises(ParameterError, match="api-key"):
            create_app(specs, api_key=empty)
        with pytest.raises(ParameterError, match="api-key"):
            serve([runs["gs"]], world["root"] / "data", api_key=empty)


def test_ids_with_a_slash_are_reachable(slash_world):
    """Item 17: GET /tracks/{id} and /tracks/{id}/similar for ids holding "/", raw or
    percent-encoded (as the explorer's encodeURIComponent sends them)."""
    from urllib.parse import quote

    app = create_app(
        [ModelSpec("s", slash_world["run"], slash_world["data"], {})], background_load=False
    )
    with TestClient(app) as c:
        for tid in slash_world["ids"]:
            for form in (tid, quote(tid, safe="")):
                t = c.get(f"/tracks/{form}")
                assert t.status_code == 200, (form, t.text)
                assert t.json()["track_id"] == tid
                s = c.get(f"/tracks/{form}/similar", params={"k": 3})
                assert s.status_code == 200, (form, s.text)
                assert s.json()["track_id"] == tid and len(s.json()["results"]) == 3
        assert_error(c.get("/tracks/AC/similar"), 404, "track_id", "'AC'")


def test_store_full_is_507_and_later_writes_survive(client, world, runs, monkeypatch):
    """Item 12: disk full during POST /tracks: 507 naming the store, nothing partial
    kept, the track not served; the next POSTs are kept and replayed."""
    from songspace.serving.recommender import Recommender
    from tests.serving.diskfull import DiskFull

    docs = world["docs"]
    store = runs["gs"] / "serving" / "added-tracks.jsonl"
    assert client.post("/tracks", json={"tracks": [docs[0]]}, headers=KEY).status_code == 201
    disk = DiskFull(store, room=40).install(monkeypatch)
    err = assert_error(client.post("/tracks", json={"tracks": [docs[1]]}, headers=KEY), 507)
    assert err["type"] == "StoreFullError" and str(store) in err["message"]
    assert_error(client.get(f"/tracks/{docs[1]['track_id']}"), 404)
    disk.room = 10**7
    for d in docs[1:]:
        assert client.post("/tracks", json={"tracks": [d]}, headers=KEY).status_code == 201
    monkeypatch.undo()
    again = Recommender.from_run(runs["gs"], world["root"] / "data", name="gs")
    assert again.n_added == 3
    assert len(store.read_bytes().splitlines()) == 3


def test_a_bare_track_stored_by_an_older_version_still_replays(world, runs):
    """Item 5 refuses bare tracks for new POSTs only: a store written before that check
    may hold one, and replaying it must not keep the server from /ready."""
    import json

    import numpy as np

    from songspace.serving.recommender import Recommender
    from songspace.serving.store import STORE_FORMAT

    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    rec.add_tracks(world["docs"][:1])
    store = runs["gs"] / "serving" / "added-tracks.jsonl"
    dim = len(json.loads(store.read_text().splitlines()[0])["vector"])
    bare = {
        "format": STORE_FORMAT,
        "track": {"track_id": "bare-old"},
        "vector": np.ones(dim).tolist(),
    }
    with open(store, "a") as fh:
        fh.write(json.dumps(bare) + "\n")
    app = create_app(
        [ModelSpec("gs", runs["gs"], world["root"] / "data", {})], background_load=False
    )
    with TestClient(app) as c:
        assert c.get("/ready").status_code == 200, c.get("/ready").text
        assert c.get("/models").json()["models"][0]["added_tracks"] == 2


def test_a_duplicate_record_does_not_keep_the_server_from_ready(world, runs, caplog):
    """Item 13: two processes once accepted the same id; the store holds it twice."""
    from songspace.serving.recommender import Recommender

    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    rec.add_tracks(world["docs"][:2])
    store = runs["gs"] / "serving" / "added-tracks.jsonl"
    first = store.read_bytes().splitlines(keepends=True)[0]
    with open(store, "ab") as fh:
        fh.write(first)
    app = create_app(
        [ModelSpec("gs", runs["gs"], world["root"] / "data", {})], background_load=False
    )
    with TestClient(app) as c:
        assert c.get("/ready").status_code == 200, c.get("/ready").text
        assert c.get("/models").json()["models"][0]["added_tracks"] == 2
    assert "duplicate" in caplog.text
