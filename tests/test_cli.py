import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from songspace import Dataset
from songspace.assignments import parse_assignments as parse_mapping
from songspace.cli import app
from songspace.errors import ParameterError

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def songspace(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run the real console entry point, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "songspace", "--no-progress", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_prepare_synthetic_and_info(tmp_path):
    out = tmp_path / "syn"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "synthetic",
            "-o",
            str(out),
            "--playlists",
            "300",
            "--n-tracks",
            "400",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "300 sequences" in flat(res.output)
    assert Dataset.load(out).n_sequences == 300
    res = runner.invoke(app, ["info", str(out), "--min-weights", "1,2"])
    assert res.exit_code == 0, res.output
    for word in ("sequences", "Feature coverage", "audio", "acoustic", "min_weight"):
        assert word in flat(res.output)


@pytest.mark.slow
def test_prepare_mpd_fixture_with_metadata(shared_data, tmp_path):
    out = tmp_path / "mpd"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "mpd",
            str(shared_data("mpd-fixtures")),
            "-o",
            str(out),
            "--tracks",
            str(shared_data("spotify-tracks-114k", "tracks.csv")),
            "--artists",
            str(shared_data("spotify-artists", "data_w_genres.csv")),
        ],
    )
    assert res.exit_code == 0, res.output
    ds = Dataset.load(out)
    assert ds.n_sequences == 29
    assert {"genre", "audio", "popularity"} <= set(ds.features)
    assert json.loads((out / "manifest.json").read_text())["source"]["name"] == "mpd"


@pytest.mark.slow
def test_demo_trains_every_model_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    args = ["--no-progress", "demo", "--playlists", "400", "--n-tracks", "500", "-o", str(out)]
    args += ["--min-tracks", "20"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = flat(res.output)
    for word in ("Dataset (synthetic)", "songspace demo", "random", "popularity", "HR"):
        assert word in text
    from songspace.models import available_models
    from songspace.reports.summary import DEMO_RANKERS

    for name in available_models():
        assert name in text
    assert (out / "report" / "report.html").is_file()
    table = (out / "report" / "table.md").read_text()
    # the counting baselines and the two-stage recommender are rows beside the models
    labels = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    rows = ["RANDOM", "POPULARITY", *DEMO_RANKERS, *available_models()]
    assert labels == ["Method", *(r.upper() for r in rows), "Two-stage"], table
    assert "What the rows show:" in text and "Next-song HitRate@100" in text


def test_error_is_printed_without_traceback(tmp_path):
    bad = tmp_path / "mpd.slice.0-999.json"
    bad.write_text('{"playlists": [{"pid": 1, "tracks": [')
    out = tmp_path / "out"
    res = songspace("prepare", "mpd", str(bad), "-o", str(out))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "error:" in res.stderr and "expected valid JSON" in flat(res.stderr)
    assert str(bad) in res.stderr.replace("\n", "")
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["mpd.slice.0-999.json"]


def test_existing_output_is_refused_before_reading(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    res = songspace("prepare", "synthetic", "-o", str(out))
    assert res.returncode == 1 and "already exists" in flat(res.stderr)
    assert "Traceback" not in res.stderr
    assert os.listdir(out) == []


def test_info_on_a_non_dataset(tmp_path):
    res = songspace("info", str(tmp_path))
    assert res.returncode == 1
    assert "manifest.json" in flat(res.stderr) and "songspace prepare" in flat(res.stderr)


def test_parse_mapping():
    assert parse_mapping(["a=b", " c = d "], "--map") == {"a": "b", "c": "d"}
    with pytest.raises(ParameterError, match="--map sequence_id=session"):
        parse_mapping(["nope"], "--map")


def test_error_text_with_brackets_is_printed_verbatim(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"info": {}}')
    res = songspace("prepare", "mpd", str(p), "-o", str(tmp_path / "o"))
    assert res.returncode == 1
    # rich must not swallow bracketed text as markup
    assert "found keys ['info']" in flat(res.stderr)


def test_main_prints_markup_like_text_verbatim(monkeypatch, capsys):
    import songspace.cli as cli
    from songspace.errors import MissingDependencyError

    def boom():
        raise MissingDependencyError("gensim", "models", "the model 'track2vec'")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 1
    assert "pip install 'songspace[models]'" in flat(capsys.readouterr().err)
