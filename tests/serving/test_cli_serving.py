import json

from typer.testing import CliRunner

from songspace.cli import app

runner = CliRunner()


def test_recommend_similar_table_and_json(world, runs):
    t0 = world["reduced"].track_ids[0]
    data = str(world["root"] / "data")
    res = runner.invoke(
        app, ["recommend", str(runs["t2v"]), "--data", data, "--similar", t0, "-k", "5"]
    )
    assert res.exit_code == 0, res.output
    assert "tracks similar to" in res.output and "Artist" in res.output
    res = runner.invoke(
        app, ["recommend", str(runs["t2v"]), "--data", data, "--similar", t0, "-k", "5", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["results"]) == 5 and doc["results"][0]["artist_name"]


def test_recommend_complete_and_embed_new(world, runs, tmp_path):
    ids = world["reduced"].track_ids
    data = str(world["root"] / "data")
    res = runner.invoke(
        app,
        [
            "recommend",
            str(runs["t2v"]),
            "--data",
            data,
            "--complete",
            f"{ids[0]},{ids[1]}",
            "-k",
            "4",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["results"]) == 4
    doc = tmp_path / "track.json"
    doc.write_text(json.dumps(world["docs"][0]))
    res = runner.invoke(
        app,
        [
            "recommend",
            str(runs["gs"]),
            "--data",
            data,
            "--embed-new",
            str(doc),
            "-k",
            "3",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["results"]) == 3


def test_recommend_errors_exit_non_zero(world, runs, tmp_path):
    data = str(world["root"] / "data")
    doc = tmp_path / "track.json"
    doc.write_text(json.dumps(world["docs"][0]))
    res = runner.invoke(
        app, ["recommend", str(runs["t2v"]), "--data", data, "--embed-new", str(doc)]
    )
    assert res.exit_code != 0 and "graphsage" in str(res.exception)
    res = runner.invoke(app, ["recommend", str(runs["t2v"]), "--data", data])
    assert res.exit_code != 0 and "exactly one" in str(res.exception)


def test_serve_refuses_an_empty_or_ambiguous_api_key(world, runs, tmp_path, monkeypatch):
    """Item 14: `--api-key "$KEY"` with KEY unset gives an empty key: refused at start-up
    (before any model is loaded or a port is bound)."""
    monkeypatch.delenv("SONGSPACE_API_KEY", raising=False)
    # an address no interface has: today's code would fail to bind rather than serve
    data = str(world["root"] / "data")
    base = ["serve", str(runs["t2v"]), "--data", data, "--host", "203.0.113.1"]
    res = runner.invoke(app, [*base, "--api-key", ""])
    assert res.exit_code != 0 and "empty" in str(res.exception), res.output
    assert "--api-key" in str(res.exception) and "Fix:" in str(res.exception)
    empty = tmp_path / "key"
    empty.write_text("\n")
    res = runner.invoke(app, [*base, "--api-key-file", str(empty)])
    assert res.exit_code != 0 and str(empty) in str(res.exception), res.output
    res = runner.invoke(app, [*base, "--api-key-file", str(tmp_path / "none")])
    assert res.exit_code != 0 and str(tmp_path / "none") in str(res.exception), res.output
    empty.write_text("k3y\n")
    res = runner.invoke(app, [*base, "--api-key", "k3y", "--api-key-file", str(empty)])
    assert res.exit_code != 0 and "one of" in str(res.exception), res.output


def test_serve_help_prefers_the_environment_or_a_file(monkeypatch):
    res = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    text = " ".join(res.output.split())
    assert "--api-key-file" in text and "SONGSPACE_API_KEY" in text and "ps" in text
