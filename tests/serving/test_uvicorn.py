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
