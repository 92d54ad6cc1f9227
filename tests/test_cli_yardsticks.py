"""CLI for issue 18: prepare lines/melon, evaluate with ranker baselines and the challenge."""

import json

from typer.testing import CliRunner

from songspace import Dataset
from songspace.cli import app

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_prepare_lines_and_melon(tmp_path):
    lines = tmp_path / "train500"
    lines.write_text("0,1,2,3\n1,2,3,4\n")
    res = runner.invoke(
        app, ["--no-progress", "prepare", "lines", str(lines), "-o", str(tmp_path / "l")]
    )
    assert res.exit_code == 0, res.output
    assert "2 sequences" in flat(res.output)
    melon = tmp_path / "val.json"
    melon.write_text(
        json.dumps(
            [{"id": 1, "plylst_title": "밤", "tags": ["a"], "songs": [5, 6]}], ensure_ascii=False
        ),
        encoding="utf-8",
    )
    res = runner.invoke(
        app, ["--no-progress", "prepare", "melon", str(melon), "-o", str(tmp_path / "m")]
    )
    assert res.exit_code == 0, res.output
    assert Dataset.load(tmp_path / "m").sequence_names.tolist() == ["밤"]


def test_evaluate_with_rankers_and_the_challenge(tmp_path):
    data = tmp_path / "syn"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "synthetic",
            "-o",
            str(data),
            "--playlists",
            "300",
            "--n-tracks",
            "400",
        ],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "eval"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(data),
            "--rankers",
            "all",
            "--metrics",
            "next_song,challenge",
            "--test-fraction",
            "0.1",
            "-o",
            str(out),
        ],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["results"]) == [
        "random",
        "popularity",
        "itemknn",
        "sknn",
        "vsknn",
        "stan",
        "vstan",
        "bigram",
    ]
    assert "challenge_r_precision" in summary["results"]["itemknn"]
    # not a terminal: one Markdown table at its full width, no value or label cut
    assert all(f"| {name} |" in res.output for name in summary["results"])
    assert "R-prec. (challenge)" in res.output
    res = runner.invoke(app, ["--no-progress", "evaluate", str(data), "--rankers", "knn"])
    assert res.exit_code != 0
    assert "itemknn" in str(res.exception)  # main() renders it without a traceback


def test_tune_rankers_then_evaluate_with_their_settings(tmp_path):
    data = tmp_path / "syn"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "synthetic",
            "-o",
            str(data),
            "--playlists",
            "300",
            "--n-tracks",
            "400",
        ],
    )
    assert res.exit_code == 0, res.output
    tuned = tmp_path / "rankers.json"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "tune-rankers",
            str(data),
            "-o",
            str(tuned),
            "--task",
            "completion",
            "--rankers",
            "sknn,bigram",
            "--test-fraction",
            "0.1",
            "--min-tracks",
            "10",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(tuned.read_text())
    chosen = doc["rankers"]["sknn"]
    assert set(doc["rankers"]) == {"sknn", "bigram"}
    assert "completion_hr" in flat(res.output) and "sknn" in res.output
    # the file exists now: a second run needs --overwrite
    again = runner.invoke(app, ["--no-progress", "tune-rankers", str(data), "-o", str(tuned)])
    assert again.exit_code != 0 and "--overwrite" in str(again.exception)
    out = tmp_path / "eval"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(data),
            "--rankers-config",
            str(tuned),
            "--metrics",
            "completion",
            "--test-fraction",
            "0.1",
            "--min-tracks",
            "10",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["results"]) == ["random", "popularity", "sknn", "bigram"]
    # the table prints each ranker's settings; the results record them
    text = ", ".join(f"{k}={'all' if v is None else v}" for k, v in chosen.items())
    assert f"Settings of sknn: {text}." in flat(res.output)
    assert "Settings of bigram: no parameters." in flat(res.output)
    saved = json.loads((out / "sknn.json").read_text())
    assert saved["info"]["settings"] == chosen
    # the tuned test value is the one evaluate reports on the same split
    assert summary["results"]["sknn"]["completion_hr"] == doc["tuning"]["sknn"]["test"]
