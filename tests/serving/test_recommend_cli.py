"""Issue 27 through `songspace recommend` and the service: rows matched to --data by id
(item 2), the artist cap on --similar (7), a read-only run (18), damaged runs refused with
the file named (19; reload answers 4xx JSON), names accepted by --similar (25), and no
recall printed for 0 queries (29)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app, main
from tests.serving.server import KEY, SRC
from tests.serving.test_run_checks import DAMAGED_RUNS, permuted, rewrite_npz

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def recommend(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """``songspace recommend ARGS`` through the console entry point, in this process:
    (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["songspace", "--no-progress", "recommend", *args])
    with pytest.raises(SystemExit) as info:
        main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


# ---------------------------------------------------------------- item 2
def test_recommend_over_a_reordered_dataset_answers_as_over_the_training_one(
    world, runs, tmp_path, capsys, monkeypatch
):
    permuted(world["reduced"]).save(tmp_path / "other")
    t = world["reduced"].track_ids[5]
    got = {}
    for data in (world["root"] / "data", tmp_path / "other"):
        code, out, err = recommend(
            capsys,
            monkeypatch,
            str(runs["t2v"]),
            "--data",
            str(data),
            "--similar",
            t,
            "-k",
            "8",
            "--json",
        )
        assert code == 0, err
        got[data.name] = json.loads(out)["results"]
    assert got["data"] == got["other"]


# ---------------------------------------------------------------- item 7
def test_recommend_similar_honours_max_per_artist(world, runs):
    t = world["reduced"].track_ids[0]
    data = str(world["root"] / "data")
    base = ["recommend", str(runs["t2v"]), "--data", data, "--similar", t, "-k", "25", "--json"]
    res = runner.invoke(app, [*base, "--max-per-artist", "1"])
    assert res.exit_code == 0, res.output
    artists = [r["artist_name"] for r in json.loads(res.stdout)["results"]]
    assert len(artists) == 25 and len(set(artists)) == 25
    res = runner.invoke(app, base)
    artists = [r["artist_name"] for r in json.loads(res.stdout)["results"]]
    assert len(set(artists)) < 25  # without the cap an artist repeats (so the cap did work)


def test_every_recommend_option_has_a_help_line():
    import click
    import typer.main

    command = typer.main.get_command(app).commands["recommend"]  # type: ignore[attr-defined]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and len(param.help) > 12, param.opts
    max_help = next(p.help for p in command.params if "--max-per-artist" in p.opts)
    assert "artist" in max_help and "1" in max_help


# ---------------------------------------------------------------- item 25
def test_recommend_similar_takes_a_track_name(world, runs, capsys, monkeypatch):
    ds = world["reduced"]
    name, tid = ds.tracks["track_name"][7], ds.track_ids[7]
    data = str(world["root"] / "data")
    code, out, err = recommend(
        capsys,
        monkeypatch,
        str(runs["t2v"]),
        "--data",
        data,
        "--similar",
        name.lower(),
        "-k",
        "3",
        "--json",
    )
    assert code == 0, err
    by_id = runner.invoke(
        app, ["recommend", str(runs["t2v"]), "--data", data, "--similar", tid, "-k", "3", "--json"]
    )
    assert json.loads(out)["results"] == json.loads(by_id.stdout)["results"]
    code, out, err = recommend(
        capsys, monkeypatch, str(runs["t2v"]), "--data", data, "--similar", name + "x"
    )
    text = flat(err)
    assert code == 1 and "Traceback" not in err
    assert f"(id {tid})" in text and "tracks.parquet" in text and "POST /tracks" not in text


# ---------------------------------------------------------------- item 29
def test_recommend_prints_no_recall_measured_on_zero_queries(world, runs, capsys, monkeypatch):
    t = world["reduced"].track_ids[0]
    code, _, err = recommend(
        capsys,
        monkeypatch,
        str(runs["t2v"]),
        "--data",
        str(world["root"] / "data"),
        "--similar",
        t,
        "-k",
        "3",
    )
    assert code == 0, err
    assert "0 queries" not in err and "exact search (recall 1 by construction)" in flat(err)


# ---------------------------------------------------------------- item 19
@pytest.mark.parametrize("damage", list(DAMAGED_RUNS))
def test_recommend_on_a_damaged_run_exits_1_naming_the_file(
    world, runs, capsys, monkeypatch, damage
):
    name, change, file = DAMAGED_RUNS[damage]
    change(runs[name])
    code, _, err = recommend(
        capsys,
        monkeypatch,
        str(runs[name]),
        "--data",
        str(world["root"] / "data"),
        "--similar",
        world["reduced"].track_ids[0],
    )
    text = flat(err)
    assert code == 1 and "Traceback" not in err and "bug" not in text, err
    assert text.startswith("error:") and file in "".join(err.split()) and "retrain" in text, err


@pytest.fixture
def client(world, runs):
    pytest.importorskip("fastapi", reason="the service needs fastapi (extra `serve`)")
    pytest.importorskip("httpx", reason="the TestClient needs httpx (extra `serve`)")
    from fastapi.testclient import TestClient

    from songspace.serving.app import ModelSpec, create_app

    specs = [
        ModelSpec("gs", runs["gs"], world["root"] / "data", {}),
        ModelSpec("t2v", runs["t2v"], world["root"] / "data", {}),
    ]
    app_ = create_app(specs, api_key="s3cret", background_load=False)
    with TestClient(app_, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("damage", [*DAMAGED_RUNS, "NaN row"])
def test_reload_of_a_damaged_run_answers_4xx_and_keeps_serving(
    client, world, runs, tmp_path, damage
):
    if damage == "NaN row":
        name, file = "t2v", "embeddings.npz"

        def change(run):
            rewrite_npz(run / file, lambda a: a["embeddings"].__setitem__((2, 0), np.nan))
    else:
        name, change, file = DAMAGED_RUNS[damage]
    new = tmp_path / f"{name}-v2"
    shutil.copytree(runs[name], new)
    change(new)
    t = world["reduced"].track_ids[0]
    before = client.get(f"/tracks/{t}/similar?k=5&model={name}").json()
    r = client.post(
        "/admin/reload", json={"model": name, "run": str(new)}, headers={"X-API-Key": "s3cret"}
    )
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["status"] == r.status_code and file in err["message"]
    assert "retrain" in err["message"] and "internal error" not in err["message"]
    assert client.get(f"/tracks/{t}/similar?k=5&model={name}").json() == before


# ---------------------------------------------------------------- item 18
def _read_only_prefix(path) -> list[str]:
    """A command prefix that runs its command with ``path`` bind-mounted read-only (a
    private user and mount namespace: a real EROFS, which root cannot bypass)."""
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    return ["unshare", "-rm", "sh", "-c", script, str(path)]


@pytest.fixture
def read_only(tmp_path):
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs unshare and mount (util-linux) for a read-only bind mount")
    probe = tmp_path / "probe"
    probe.mkdir()
    res = subprocess.run(
        [*_read_only_prefix(probe), "touch", str(probe / "x")], capture_output=True, text=True
    )
    if "Read-only file system" not in res.stderr:
        pytest.skip(f"user namespaces with mounts are not available here: {res.stderr.strip()}")
    return _read_only_prefix


def test_recommend_on_a_read_only_run(world, runs, read_only):
    t = world["reduced"].track_ids[0]
    before = sorted(os.listdir(runs["t2v"]))
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [
        sys.executable,
        "-m",
        "songspace",
        "--no-progress",
        "recommend",
        str(runs["t2v"]),
        "--data",
        str(world["root"] / "data"),
        "--similar",
        t,
        "-k",
        "4",
        "--json",
    ]
    res = subprocess.run(
        [*read_only(runs["t2v"]), *cmd], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["results"]) == 4
    text = flat(res.stderr)
    assert text.count("could not be written") == 1 and "kept in memory" in text
    assert str(runs["t2v"] / "serving") in "".join(res.stderr.split())  # rich wraps it
    assert "Traceback" not in res.stderr
    assert sorted(os.listdir(runs["t2v"])) == before


def test_serve_and_reload_a_read_only_run(world, runs, tmp_path, read_only):
    httpx = pytest.importorskip("httpx", reason="the client needs httpx (extra `serve`)")
    pytest.importorskip("uvicorn", reason="the server needs uvicorn (extra `serve`)")
    from tests.serving.server import Server

    server = Server([runs["t2v"]], world["root"] / "data", tmp_path, wrap=read_only(runs["t2v"]))
    try:
        t = world["reduced"].track_ids[0]
        r = httpx.get(f"{server.url}/tracks/{t}/similar?k=5", timeout=30)
        assert r.status_code == 200 and len(r.json()["results"]) == 5
        r = httpx.post(f"{server.url}/admin/reload", headers={"X-API-Key": KEY}, timeout=60)
        assert r.status_code == 200, r.text
        assert httpx.get(f"{server.url}/tracks/{t}/similar?k=5", timeout=30).status_code == 200
    finally:
        server.stop()
    log = flat(Path(server.log.name).read_text(errors="replace"))
    assert log.count("could not be written") == 1 and "kept in memory" in log
    assert not (runs["t2v"] / "serving").exists()


def test_the_service_over_a_reordered_dataset_answers_as_over_the_training_one(
    world, runs, tmp_path, client
):
    """Item 2 through the service: `serve --data OTHER` where OTHER lists the run's
    tracks in another order gives the answers of the training dataset."""
    from fastapi.testclient import TestClient

    from songspace.serving.app import ModelSpec, create_app

    permuted(world["reduced"]).save(tmp_path / "other")
    other = create_app(
        [ModelSpec("t2v", runs["t2v"], tmp_path / "other", {})], background_load=False
    )
    ids = list(world["reduced"].track_ids[:50:7])
    with TestClient(other) as c:
        got = [c.get(f"/tracks/{t}/similar?k=6").json()["results"] for t in ids]
    want = [client.get(f"/tracks/{t}/similar?k=6&model=t2v").json()["results"] for t in ids]
    assert got == want


def test_serve_refuses_a_run_with_a_non_finite_row(world, runs):
    """Item 3 through the service's start: /ready stays 503 and names the file, the
    number of non-finite rows and the fix; no /similar is answered with NaN scores."""
    from fastapi.testclient import TestClient

    from songspace.serving.app import ModelSpec, create_app

    path = runs["t2v"] / "embeddings.npz"
    rewrite_npz(path, lambda a: a["embeddings"].__setitem__((4, 1), np.nan))
    app_ = create_app(
        [ModelSpec("t2v", runs["t2v"], world["root"] / "data", {})],
        api_key="s3cret",
        background_load=False,
    )
    with TestClient(app_) as c:
        assert c.get("/ready").status_code == 503  # without the key: no path (item 14)
        r = c.get("/ready", headers={"X-API-Key": "s3cret"})
        assert r.status_code == 503
        text = r.json()["error"]["message"]
        assert str(path) in text and "NaN or inf in 1 of" in text and "retrain" in text
        t = world["reduced"].track_ids[0]
        assert c.get(f"/tracks/{t}/similar?k=3").status_code == 503
