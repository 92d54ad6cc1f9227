"""Issue 27, item 10: ``--param checkpoint_dir=DIR`` replaced any existing directory (the
training dataset included). It now writes only a new or empty directory or a previous
checkpoint of the same model, never an input or the run's output, or a path inside one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="GraphSAGE/MUSIG need torch (extra `graph`)")

from songspace.data.synthetic import generate
from songspace.errors import ParameterError
from songspace.models.graphsage import MUSIG, GraphSAGE
from songspace.models.train import train_model

REPO = Path(__file__).resolve().parents[2]
FAST = {"dim": 8, "hidden": 16, "epochs": 1, "batch_size": 64, "fanouts": (4, 2)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ck") / "ds"
    generate(n_playlists=120, n_tracks=150, seed=2).save(path)
    return path


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def train(data: Path, out: Path | None, checkpoint_dir: Path, **kw):
    params = {**FAST, "checkpoint_dir": str(checkpoint_dir)}
    return train_model("graphsage", data, out, params=params, **kw)


def test_the_dataset_as_checkpoint_dir_is_refused_and_kept(data, tmp_path):
    before = snapshot(data)
    with pytest.raises(ParameterError, match="checkpoint_dir"):
        train(data, tmp_path / "run", data)
    assert snapshot(data) == before
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["inside the dataset", "the output", "inside the output"])
def test_a_checkpoint_dir_inside_an_input_or_on_the_output_is_refused(data, tmp_path, where):
    out = tmp_path / "run"
    target = {
        "inside the dataset": data / "ck",
        "the output": out,
        "inside the output": out / "ck",
    }[where]
    with pytest.raises(ParameterError, match="outside"):
        train(data, out, target)
    assert not target.exists() and not out.exists()


def test_a_directory_of_other_files_is_refused_even_without_inputs(tmp_path):
    """The model itself (a library fit, no command) refuses to replace unrelated files."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    ds = generate(n_playlists=120, n_tracks=150, seed=2)
    with pytest.raises(ParameterError, match="a previous graphsage checkpoint") as info:
        GraphSAGE(**FAST, checkpoint_dir=str(mine)).fit(ds)
    assert "notes.txt" in str(info.value)
    assert (mine / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ParameterError, match="found a file"):
        GraphSAGE(**FAST, checkpoint_dir=str(afile)).fit(ds)
    assert afile.read_text() == "x"


def test_a_previous_checkpoint_of_the_model_is_replaced(tmp_path):
    ds = generate(n_playlists=120, n_tracks=150, seed=2)
    ck = tmp_path / "ck"
    ck.mkdir()  # an empty directory is fine too
    GraphSAGE(**FAST, checkpoint_dir=str(ck)).fit(ds)
    first = json.loads((ck / "checkpoint.json").read_text())
    assert first["model"] == "graphsage" and first["format"] == "songspace-checkpoint"
    (ck / "checkpoint.json").write_text(json.dumps({**first, "epoch": 99}))
    GraphSAGE(**FAST, checkpoint_dir=str(ck)).fit(ds)
    assert json.loads((ck / "checkpoint.json").read_text())["epoch"] == 1
    # a checkpoint written before the format marker existed is recognised too
    legacy = {k: v for k, v in first.items() if k != "format"}
    (ck / "checkpoint.json").write_text(json.dumps(legacy))
    GraphSAGE(**FAST, checkpoint_dir=str(ck)).fit(ds)
    # but not another model's checkpoint
    with pytest.raises(ParameterError, match="a checkpoint of graphsage, not musig"):
        MUSIG(**FAST, checkpoint_dir=str(ck)).fit(ds)


def test_cli_train_with_the_dataset_as_checkpoint_dir_exits_1_and_keeps_it(data, tmp_path):
    before = snapshot(data)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "songspace",
            "--no-progress",
            "train",
            "graphsage",
            str(data),
            "-o",
            str(tmp_path / "run"),
            "--param",
            f"checkpoint_dir={data}",
            "--param",
            "epochs=1",
            "--param",
            "dim=8",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    err = " ".join(res.stderr.split())
    assert "checkpoint_dir" in err and "Traceback" not in err
    assert snapshot(data) == before
