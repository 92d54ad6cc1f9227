"""The real server: a uvicorn process on 127.0.0.1 (free port), concurrent clients,
reload under load, and the append-only store surviving SIGKILL. Bounded and
self-stopping: every loop has a fixed request count and every process is killed."""

import asyncio
import signal

import pytest

httpx = pytest.importorskip("httpx", reason="the clients need httpx (extra `serve`)")
pytest.importorskip("uvicorn", reason="the server needs uvicorn (extra `serve`)")

from tests.serving.server import KEY, Server  # noqa: E402


async def drive(url, paths, clients):
    """``clients`` concurrent clients share ``paths`` (a bounded list); returns statuses."""
    queue = list(paths)
    statuses = []

    async def worker(c):
        while queue:
            path = queue.pop()
            r = await c.get(path)
            statuses.append((r.status_code, len(r.json().get("results", []))))

    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        await asyncio.gather(*(worker(c) for _ in range(clients)))
    return statuses


def test_real_server_concurrent_clients_and_reload_under_load(world, runs, tmp_path):
    server = Server([runs["t2v"]], world["root"] / "data", tmp_path)
    try:
        ids = list(world["reduced"].track_ids[:100])
        paths = [f"/tracks/{ids[i % 100]}/similar?k=10" for i in range(400)]

        async def load_and_reload():
            async def reloads():
                out = []
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
                    for _ in range(3):
                        await asyncio.sleep(0.05)
                        r = await c.post("/admin/reload", headers={"X-API-Key": KEY})
                        out.append(r.status_code)
                return out

            return await asyncio.gather(drive(server.url, paths, 16), reloads())

        statuses, reload_codes = asyncio.run(load_and_reload())
        assert len(statuses) == 400
        assert all(s == (200, 10) for s in statuses), set(statuses)
        assert reload_codes == [200, 200, 200]
    finally:
        server.stop()


def test_added_tracks_survive_sigkill(world, runs, tmp_path):
    data = world["root"] / "data"
    server = Server([runs["gs"]], data, tmp_path)
    docs = world["docs"]
    try:
        r = httpx.post(
            server.url + "/tracks",
            json={"tracks": docs[:2]},
            headers={"X-API-Key": KEY},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        before = httpx.get(f"{server.url}/tracks/{docs[0]['track_id']}/similar?k=8").json()
    finally:
        server.stop(signal.SIGKILL)
    assert server.proc.returncode == -signal.SIGKILL
    again = Server([runs["gs"]], data, tmp_path)
    try:
        for d in docs[:2]:
            t = httpx.get(f"{again.url}/tracks/{d['track_id']}")
            assert t.status_code == 200 and t.json()["added"]
        after = httpx.get(f"{again.url}/tracks/{docs[0]['track_id']}/similar?k=8").json()
        assert after == before
        assert httpx.get(f"{again.url}/tracks/{docs[2]['track_id']}").status_code == 404
    finally:
        again.stop()


# ------------------------------------------------------------- issue 27 (the service)
def post_tracks(server, docs, key=KEY):
    return httpx.post(
        server.url + "/tracks", json={"tracks": docs}, headers={"X-API-Key": key}, timeout=60
    )


def test_disk_full_in_a_real_server_loses_no_acknowledged_track(world, runs, tmp_path):
    """Item 12: ENOSPC (injected in the server process's os.write) answers 507 naming the
    store; the tracks acknowledged before and after it survive kill -9 and a restart."""
    from pathlib import Path

    import tests.serving.diskfull as diskfull

    data = world["root"] / "data"
    store = runs["gs"] / "serving" / "added-tracks.jsonl"
    room = tmp_path / "room"
    room.write_text(str(10**7))
    env = {"SONGSPACE_TEST_DISK_STORE": str(store), "SONGSPACE_TEST_DISK_ROOM": str(room)}
    server = Server([runs["gs"]], data, tmp_path, env=env, launcher=Path(diskfull.__file__))
    docs = world["docs"]
    try:
        assert post_tracks(server, docs[:1]).status_code == 201
        room.write_text("50")  # the disk fills up during the next record
        full = post_tracks(server, docs[1:2])
        assert full.status_code == 507, full.text
        err = full.json()["error"]
        assert err["type"] == "StoreFullError" and str(store) in err["message"]
        assert httpx.get(f"{server.url}/tracks/{docs[1]['track_id']}").status_code == 404
        room.write_text(str(10**7))  # space freed
        assert post_tracks(server, docs[1:2]).status_code == 201
        assert post_tracks(server, docs[2:3]).status_code == 201
    finally:
        server.stop(signal.SIGKILL)
    again = Server([runs["gs"]], data, tmp_path)
    try:
        for d in docs[:3]:
            t = httpx.get(f"{again.url}/tracks/{d['track_id']}")
            assert t.status_code == 200 and t.json()["added"], t.text
    finally:
        again.stop()
    assert len(store.read_bytes().splitlines()) == 3


def test_two_servers_on_one_run_have_one_writer(world, runs, tmp_path):
    """Item 13: the second process serves reads but refuses writes (503 naming the lock)
    while the first holds the store; a reload after the first is gone takes it over."""
    data = world["root"] / "data"
    docs = world["docs"]
    lock = runs["gs"] / "serving" / "added-tracks.jsonl.lock"
    first = Server([runs["gs"]], data, tmp_path)
    second = Server([runs["gs"]], data, tmp_path)
    try:
        assert post_tracks(first, docs[:1]).status_code == 201
        for d in docs[:2]:
            r = post_tracks(second, [d])
            assert r.status_code == 503, r.text
            err = r.json()["error"]
            assert err["type"] == "StoreLockedError" and str(lock) in err["message"]
            assert f"process {first.proc.pid}" in err["message"]
        t0 = world["reduced"].track_ids[0]
        assert httpx.get(f"{second.url}/tracks/{t0}/similar?k=3").status_code == 200
        first.stop(signal.SIGKILL)
        assert post_tracks(second, docs[1:2]).status_code == 503  # read before: stale
        reload = httpx.post(second.url + "/admin/reload", headers={"X-API-Key": KEY}, timeout=60)
        assert reload.status_code == 200, reload.text
        assert post_tracks(second, docs[:1]).status_code == 409  # the first's track
        assert post_tracks(second, docs[1:2]).status_code == 201
    finally:
        first.stop()
        second.stop()
    lines = (runs["gs"] / "serving" / "added-tracks.jsonl").read_bytes().splitlines()
    assert len(lines) == 2


def test_slash_ids_and_a_key_file_through_a_real_server(slash_world, tmp_path):
    """Item 17: ids holding "/" through uvicorn, raw and as the explorer encodes them
    (encodeURIComponent); item 14: the key read from --api-key-file, /models without
    the key shows no absolute path."""
    from urllib.parse import quote

    key_file = tmp_path / "api-key"
    key_file.write_text("from-a-file\n")
    server = Server(
        [slash_world["run"]],
        slash_world["data"],
        tmp_path,
        args=["--api-key-file", str(key_file)],
        env={"SONGSPACE_API_KEY": None},
    )
    try:
        for tid in slash_world["ids"]:
            for form in (tid, quote(tid, safe="")):
                r = httpx.get(f"{server.url}/tracks/{form}/similar", params={"k": 2})
                assert r.status_code == 200 and r.json()["track_id"] == tid, (form, r.text)
                assert httpx.get(f"{server.url}/tracks/{form}").json()["track_id"] == tid
        # the key from the file is accepted (a transductive run then refuses to embed)
        assert post_tracks(server, [{"track_id": "n"}], key="from-a-file").status_code == 422
        assert post_tracks(server, [{"track_id": "n"}], key="other").status_code == 401
        models = httpx.get(server.url + "/models").json()
        assert models["models"][0]["run"] == "run"
        assert str(slash_world["run"]) not in httpx.get(server.url + "/models").text
    finally:
        server.stop()
