"""A running ``serve`` switched by ``POST /admin/reload`` from a run (RUN) to its update
(RUN2, written by ``songspace update``), through a real uvicorn process on 127.0.0.1:
no failed request under load, answers from RUN2 afterwards, the tracks added to RUN
through ``POST /tracks`` carried over (re-embedded with RUN2's weights; superseded where
RUN2 trained on them), not carried to an unrelated run, and still there after a kill -9
right after the reload was acknowledged. Bounded: fixed request counts, every process
stopped."""

from __future__ import annotations

import json
import shutil
import signal
import threading

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the clients need httpx (extra `serve`)")
pytest.importorskip("uvicorn", reason="the server needs uvicorn (extra `serve`)")

from songspace.data.dataset import Dataset  # noqa: E402
from songspace.models.base import EmbeddingModel  # noqa: E402
from songspace.models.train import train_model  # noqa: E402
from songspace.models.update import grow_by_updates, update_run  # noqa: E402
from songspace.serving.lineage import update_lineage  # noqa: E402
from songspace.serving.newtracks import grow, hold_out_tracks, parse_track  # noqa: E402
from songspace.serving.recommender import SERVING_DIR, STORE_FILE, Recommender  # noqa: E402
from tests.serving.conftest import T2V_FAST  # noqa: E402
from tests.serving.server import KEY, Server  # noqa: E402

AUTH = {"X-API-Key": KEY}


def day_data(world, root, day: int = 1) -> Dataset:
    """Day ``day``'s new playlists (saved in ``root/day{day}``): those of the full dataset
    holding held-out track ``day - 1`` (new to the runs), under new ids, without the
    held-out tracks after it (which stay unknown to the update, so they are added
    through POST /tracks only)."""
    full = world["full"]
    held = world["held"]
    row = int(np.flatnonzero(full.track_ids == held[day - 1])[0])
    inc = full.incidence().tocsc()
    seqs = np.sort(inc[:, row].indices)[:6]
    part = full.subset(seqs, name=f"day{day}")
    reduced, _ = hold_out_tracks(part, held[day:])
    out = Dataset(
        tracks=reduced.tracks,
        indptr=reduced.indptr,
        indices=reduced.indices,
        sequence_ids=np.asarray([f"day{day}-{s}" for s in reduced.sequence_ids], dtype=object),
        features=reduced.features,
        source=dict(reduced.source),
    ).validate()
    out.save(root / f"day{day}")
    return out


@pytest.fixture
def updated(world, runs, tmp_path):
    """RUN (a fresh GraphSAGE copy) and RUN2, its update on a day's playlists (a short
    fine-tune, so RUN2's weights differ from RUN's)."""
    day_data(world, tmp_path)
    run, run2 = runs["gs"], tmp_path / "gs-day1"
    update_run(
        run,
        tmp_path / "day1",
        run2,
        settings={"fine_tune_steps": 3},
        base_data=world["root"] / "data",
    )
    return run, run2


def reload(url, run, model="gs"):
    body = {"model": model, "run": str(run)}
    r = httpx.post(url + "/admin/reload", json=body, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["reloaded"][0]


def stored(run) -> dict[str, np.ndarray]:
    """The added tracks in ``run``'s store: id -> vector."""
    path = run / SERVING_DIR / STORE_FILE
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["track"]["track_id"]] = np.asarray(rec["vector"], dtype=np.float32)
    return out


def hammer(url, paths, stop, failures, counts):
    """One client: GETs and POST /complete in turn until ``stop`` (at most 3,000)."""
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(3000):
            if stop.is_set():
                return
            path = paths[i % len(paths)]
            try:
                if path.startswith("/complete"):
                    r = c.post("/complete", json={"seed_track_ids": path.split(":")[1:], "k": 5})
                else:
                    r = c.get(path)
            except httpx.HTTPError as exc:  # a connection error is a failed request
                failures.append(repr(exc))
                continue
            counts.append(r.status_code)
            if r.status_code != 200:
                failures.append((path, r.status_code, r.text[:300]))


def test_reload_to_the_update_under_load_fails_no_request(world, updated, tmp_path):
    run, run2 = updated
    new_id = world["held"][0]  # a track only RUN2 knows (its update trained on it)
    ids = list(world["reduced"].track_ids[:40])
    paths = [f"/tracks/{t}/similar?k=5" for t in ids] + [
        f"/complete:{ids[i]}:{ids[i + 1]}" for i in range(0, 40, 2)
    ]
    server = Server([run], world["root"] / "data", tmp_path)
    try:
        assert httpx.get(f"{server.url}/tracks/{new_id}").status_code == 404
        stop, failures, counts = threading.Event(), [], []
        clients = [
            threading.Thread(target=hammer, args=(server.url, paths, stop, failures, counts))
            for _ in range(4)
        ]
        for t in clients:
            t.start()
        try:
            while len(counts) < 50 and all(t.is_alive() for t in clients):
                stop.wait(0.05)
            before = len(counts)
            answer = reload(server.url, run2)
            after = len(counts)
            while len(counts) < after + 50 and all(t.is_alive() for t in clients):
                stop.wait(0.05)
        finally:
            stop.set()
            for t in clients:
                t.join(60)
        assert failures == []
        assert before >= 50 and len(counts) >= after + 50  # requests before, during, after
        # the answers come from RUN2: its embeddings, its new track, its neighbours
        grown = grow_by_updates(world["reduced"], [_last(run2)])
        want = Recommender.from_run(run2, grown, store=False, save_index=False)
        assert answer["embeddings_sha256"] == want.digest
        info = httpx.get(server.url + "/models", headers=AUTH).json()["models"][0]
        assert info["run"] == str(run2) and info["embeddings_sha256"] == want.digest
        got = httpx.get(f"{server.url}/tracks/{new_id}/similar?k=5")
        assert got.status_code == 200
        expected = [n.track_id for n in want.similar(new_id, 5)]
        assert [n["track_id"] for n in got.json()["results"]] == expected
        for t in ids[:5]:
            res = httpx.get(f"{server.url}/tracks/{t}/similar?k=5").json()["results"]
            assert [n["track_id"] for n in res] == [n.track_id for n in want.similar(t, 5)]
    finally:
        server.stop()


def _last(run) -> dict:
    return json.loads((run / "training.json").read_text())["updates"][-1]


def test_added_tracks_carry_over_to_the_update_and_survive_a_kill(world, updated, tmp_path):
    run, run2 = updated
    docs = world["docs"]  # docs[0]: RUN2 trained on it; docs[1:]: known only through POST
    data = world["root"] / "data"
    server = Server([run], data, tmp_path)
    try:
        r = httpx.post(server.url + "/tracks", json={"tracks": docs}, headers=AUTH, timeout=60)
        assert r.status_code == 201, r.text
        answer = reload(server.url, run2)
        added = answer["added_tracks"]
        assert (added["carried"], added["superseded"], added["already"]) == (2, 1, 0)
        assert added["superseded_ids"] == [docs[0]["track_id"]]
        for d in docs[1:]:
            t = httpx.get(f"{server.url}/tracks/{d['track_id']}").json()
            assert t["added"] and t["has_embedding"]
            assert httpx.get(f"{server.url}/tracks/{d['track_id']}/similar?k=5").status_code == 200
        own = httpx.get(f"{server.url}/tracks/{docs[0]['track_id']}").json()
        assert not own["added"] and own["has_embedding"]  # RUN2's own vector, not the POSTed one
    finally:
        server.stop(signal.SIGKILL)  # right after the reload was acknowledged
    assert server.proc.returncode == -signal.SIGKILL

    # RUN2's store holds the carried tracks, re-embedded with RUN2's weights on its data
    old, new = stored(run), stored(run2)
    assert sorted(new) == sorted(d["track_id"] for d in docs[1:])
    model2 = EmbeddingModel.load(run2 / "model")
    base2 = grow_by_updates(world["reduced"], [_last(run2)])
    parsed = [parse_track(d, base2) for d in docs[1:]]
    grown = grow(base2, parsed)
    want = model2.embed(grown, np.arange(base2.n_tracks, grown.n_tracks))
    for i, d in enumerate(docs[1:]):
        np.testing.assert_allclose(new[d["track_id"]], want[i], rtol=1e-4, atol=1e-5)
        assert not np.allclose(new[d["track_id"]], old[d["track_id"]])  # not RUN's vector

    # a restart on RUN2 (serve RUN2 --data DATA: the dataset grown by its update) serves them
    again = Server([run2], data, tmp_path)
    try:
        for d in docs[1:]:
            t = httpx.get(f"{again.url}/tracks/{d['track_id']}").json()
            assert t["added"] and t["has_embedding"]
        assert not httpx.get(f"{again.url}/tracks/{docs[0]['track_id']}").json()["added"]
        # reloading RUN2 again carries nothing twice
        answer = reload(again.url, run2, model=run2.name)
        assert answer["added_tracks"] == {"replayed": 2}
    finally:
        again.stop()
    assert sorted(stored(run2)) == sorted(new)


def test_reload_to_an_unrelated_run_does_not_carry_added_tracks(world, runs, tmp_path):
    run = runs["gs"]
    other = tmp_path / "gs-other"  # the same model and data, but not an update of RUN
    shutil.copytree(world["root"] / "gs", other)
    docs = world["docs"]
    server = Server([run], world["root"] / "data", tmp_path)
    try:
        r = httpx.post(server.url + "/tracks", json={"tracks": docs[:2]}, headers=AUTH, timeout=60)
        assert r.status_code == 201, r.text
        added = reload(server.url, other)["added_tracks"]
        assert added["not_carried"] == 2 and "not continue" in added["reason"]
        assert httpx.get(f"{server.url}/tracks/{docs[0]['track_id']}").status_code == 404
        assert stored(other) == {}
        # reloading back to RUN serves them again (they stayed in RUN's store)
        reload(server.url, run)
        assert httpx.get(f"{server.url}/tracks/{docs[0]['track_id']}").json()["added"]
    finally:
        server.stop()


def test_update_lineage_follows_chains_of_updates_only(world, slash_world, updated, tmp_path):
    run, run2 = updated
    day_data(world, tmp_path, day=2)
    run3 = tmp_path / "gs-day2"
    update_run(run2, tmp_path / "day2", run3, base_data=world["root"] / "data")
    clone = tmp_path / "gs-clone"  # RUN's files elsewhere: RUN2 was not applied to it
    shutil.copytree(run, clone, ignore=shutil.ignore_patterns(SERVING_DIR))
    assert update_lineage(run2, run) is None
    assert update_lineage(run3, run2) is None
    assert update_lineage(run3, run) is None  # through the chain: RUN -> RUN2 -> RUN3
    assert "do not continue" in update_lineage(run, run2)  # back to the base
    assert "do not continue" in update_lineage(run2, run3)
    assert "applied to" in update_lineage(run2, clone)
    assert "applied to" in update_lineage(run2, world["root"] / "t2v")  # same data, no update
    assert "has no training.json" in update_lineage(run2, slash_world["run"])
    other = tmp_path / "t2v-full"  # trained on the full dataset: another base
    train_model("track2vec", world["full"], other, params=T2V_FAST, full=True)
    assert "another dataset" in update_lineage(run2, other)


def test_recommend_cli_serves_an_updated_run_over_the_grown_dataset(
    world, updated, capsys, monkeypatch
):
    """``songspace recommend RUN2 --data DATA`` (no server) grows DATA by RUN2's updates,
    as ``serve`` does: the track the update added has neighbours, those RUN2 gives it."""
    from tests.serving.test_recommend_cli import recommend

    _, run2 = updated
    new_id = world["held"][0]  # only RUN2's update trained on it
    data = world["root"] / "data"
    args = (str(run2), "--data", str(data), "--similar", new_id, "-k", "5", "--json")
    code, out, err = recommend(capsys, monkeypatch, *args)
    assert code == 0, err
    got = [r["track_id"] for r in json.loads(out)["results"]]
    grown = grow_by_updates(world["reduced"], [_last(run2)])
    want = Recommender.from_run(run2, grown, store=False, save_index=False)
    assert got == [n.track_id for n in want.similar(new_id, 5)]
