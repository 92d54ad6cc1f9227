"""`songspace update RUN NEW_DATA -o RUN2` (songspace.models.update): lineage, guard rails,
atomic output, the CLI (issue 31)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("implicit", reason="the ALS model needs the `models` extra")

from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint
from songspace.data.provenance import DatasetIdentity, check_training_split, read_record
from songspace.data.synthetic import generate
from songspace.data.vocabulary import occurring_only
from songspace.errors import FormatError, ModelFormatError, OutputIsInputError, ParameterError
from songspace.models import EmbeddingModel
from songspace.models.apply import embed_run, training_track_ids
from songspace.models.run import heldout_split
from songspace.models.train import train_model
from songspace.models.update import load_history, update_run

ALS = {"dim": 8, "iterations": 3}
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Prepared datasets: ``base`` (300 playlists, 15 tracks held out of it), ``new`` and
    ``new2`` (the next 50 and 50, each a dataset of its own), ``other`` (another
    catalogue: the same sequences under other track ids), and ``run``: ALS trained on
    ``base`` (the default split)."""
    root = tmp_path_factory.mktemp("update")
    ds = generate(400, 200, n_genres=5, mean_length=20, seed=0)
    cold = np.random.default_rng(0).choice(200, size=15, replace=False)
    paths = {
        "base": occurring_only(ds.subset(np.arange(300), drop_tracks=cold)),
        "new": occurring_only(ds.subset(np.arange(300, 350))),
        "new2": occurring_only(ds.subset(np.arange(350, 400))),
    }
    other = occurring_only(ds.subset(np.arange(300, 350)))
    other.tracks = other.tracks.assign(track_id=[f"x{t}" for t in other.tracks["track_id"]])
    paths["other"] = other
    out = {name: ds_.save(root / name) for name, ds_ in paths.items()}
    train_model("als", out["base"], root / "run", params=ALS)
    out["run"] = root / "run"
    return out


def _digest(path: Path) -> dict[str, str]:
    """SHA-256 of every file under ``path`` (and the names of its entries)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_an_update_writes_a_run_with_its_lineage(data, tmp_path):
    before = {k: _digest(data[k]) for k in ("run", "base", "new")}
    res = update_run(data["run"], data["new"], tmp_path / "run2")
    base, new = Dataset.load(data["base"]), Dataset.load(data["new"])
    added = sorted(set(new.track_ids) - set(base.track_ids))
    assert res.new_tracks == len(added) > 0
    # the run's layout; rows: the base vocabulary, then the new tracks in NEW_DATA's order
    model = EmbeddingModel.load(tmp_path / "run2" / "model")
    ids = training_track_ids(tmp_path / "run2", model)
    assert ids[: base.n_tracks] == base.track_ids.tolist()
    assert sorted(ids[base.n_tracks :]) == added
    assert (tmp_path / "run2" / "embeddings.w2v.txt").is_file()
    # every track of the new data is embedded (mapped by id, as serving does)
    assert embed_run(tmp_path / "run2", data["new"]).available.all()
    record = read_record(tmp_path / "run2" / "training.json")
    assert record is not None
    base_record = read_record(data["run"] / "training.json")
    assert {k: record[k] for k in base_record} == base_record
    (entry,) = record["updates"]
    assert entry["model"] == "als"
    assert entry["run_path"] == str(data["run"].resolve())
    assert entry["dataset_path"] == str(data["new"].resolve())
    assert entry["dataset_fingerprint"] == dataset_fingerprint(new)
    assert (entry["sequences"], entry["entries"]) == (new.n_sequences, new.n_entries)
    assert (entry["new_tracks"], entry["n_tracks"]) == (len(added), len(ids))
    assert (entry["repeats"], entry["repeated_sequences"]) == ("refuse", 0)
    assert entry["settings"] == {"iterations": 2, "seed": 0} and entry["update_time"] > 0
    # the base run and the inputs are only read
    assert {k: _digest(data[k]) for k in ("run", "base", "new")} == before


def test_a_chain_of_updates_rebuilds_what_the_run_trained_on(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    res = update_run(tmp_path / "run2", data["new2"], tmp_path / "run3")
    record = read_record(tmp_path / "run3" / "training.json")
    assert [u["run_path"] for u in record["updates"]] == [
        str(data["run"].resolve()),
        str((tmp_path / "run2").resolve()),
    ]
    history = load_history(record, track_ids=training_track_ids(tmp_path / "run3", res.model))
    first = read_record(data["run"] / "training.json")["train_sequences"]
    assert history.dataset.n_sequences == first + 50 + 50
    assert res.model.user_factors_.shape[0] == history.dataset.n_sequences
    assert len(history.seen) == history.dataset.n_sequences


def test_sequences_the_run_trained_on_are_refused_skipped_or_allowed(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    with pytest.raises(ParameterError, match=r"50 of its 50 sequences already trained on \(it is"):
        update_run(tmp_path / "run2", data["new"], tmp_path / "again")
    with pytest.raises(ParameterError, match="--repeats skip"):
        update_run(data["run"], data["base"], tmp_path / "again")  # its training sequences
    assert not (tmp_path / "again").exists()
    # a day holding yesterday's 50 sequences and 50 new ones
    ds = generate(400, 200, n_genres=5, mean_length=20, seed=0)
    both = occurring_only(ds.subset(np.arange(300, 400)))
    both.save(tmp_path / "both")
    res = update_run(tmp_path / "run2", tmp_path / "both", tmp_path / "skip", repeats="skip")
    assert (res.sequences, res.entry["repeated_sequences"]) == (50, 50)
    res = update_run(tmp_path / "run2", tmp_path / "both", tmp_path / "allow", repeats="allow")
    assert (res.sequences, res.entry["repeated_sequences"]) == (100, 50)
    # the history of a skip run leaves them out again; of an allow run, counts them twice
    for name, extra in (("skip", 50), ("allow", 100)):
        rec = read_record(tmp_path / name / "training.json")
        assert load_history(rec).dataset.n_sequences == rec["train_sequences"] + 50 + extra
    with pytest.raises(ParameterError, match="one of"):
        update_run(data["run"], data["new"], tmp_path / "x", repeats="maybe")


def test_the_output_spares_the_run_and_every_dataset_of_its_history(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    before = _digest(data["base"])
    for out in (data["base"], data["new"], tmp_path / "run2" / "inside", tmp_path / "run2"):
        with pytest.raises(OutputIsInputError):
            update_run(tmp_path / "run2", data["new2"], out, overwrite=True)
    assert _digest(data["base"]) == before


def test_nothing_left_after_skipping_is_an_error(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    with pytest.raises(ParameterError, match="at least one sequence the run has not trained"):
        update_run(tmp_path / "run2", data["new"], tmp_path / "x", repeats="skip")


def test_another_catalogue_is_refused(data, tmp_path):
    with pytest.raises(ParameterError, match="sharing track ids with the run") as info:
        update_run(data["run"], data["other"], tmp_path / "x")
    assert "prepare NEW_DATA from the same source" in str(info.value)


def test_a_lineage_of_another_model_is_refused(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    record = json.loads((tmp_path / "run2" / "training.json").read_text())
    record["updates"][0]["model"] = "warp"
    (tmp_path / "run2" / "training.json").write_text(json.dumps(record))
    with pytest.raises(ModelFormatError, match="found an update of the model 'warp'"):
        update_run(tmp_path / "run2", data["new2"], tmp_path / "x")


def test_a_run_without_its_training_record_cannot_be_updated(data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(data["run"], run)
    (run / "training.json").unlink()
    with pytest.raises(FormatError, match=r"expected training\.json"):
        update_run(run, data["new"], tmp_path / "x")


def test_the_history_is_found_checked_and_can_be_pointed_to(data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(data["run"], run)
    moved = tmp_path / "moved-base"
    shutil.copytree(data["base"], moved)
    record = json.loads((run / "training.json").read_text())
    record["dataset_path"] = str(tmp_path / "gone")
    (run / "training.json").write_text(json.dumps(record))
    with pytest.raises(FormatError, match="pass --base-data PATH"):
        update_run(run, data["new"], tmp_path / "x")
    with pytest.raises(ParameterError, match="another dataset"):
        update_run(run, data["new"], tmp_path / "x", base_data=data["new"])
    update_run(run, data["new"], tmp_path / "x", base_data=moved)
    assert (tmp_path / "x" / "model" / "model.json").is_file()


def test_evaluate_refuses_an_updated_run_on_data_it_trained_on(data, tmp_path):
    update_run(data["run"], data["new"], tmp_path / "run2")
    record = read_record(tmp_path / "run2" / "training.json")
    seed, fraction = record["seed"], record["test_fraction"]
    new = DatasetIdentity(Dataset.load(data["new"]), data["new"])
    with pytest.raises(ParameterError, match=r"updated .* with every sequence"):
        check_training_split(record, tmp_path / "run2", new, seed=seed, test_fraction=fraction)
    base = Dataset.load(data["base"])
    ident = DatasetIdentity(base, data["base"])
    check_training_split(record, tmp_path / "run2", ident, seed=seed, test_fraction=fraction)
    # an update holding the base dataset's test sequences: evaluate on it is refused
    _, split = heldout_split(base, seed=seed, test_fraction=fraction)
    base.subset(split.test).save(tmp_path / "leak")
    update_run(data["run"], tmp_path / "leak", tmp_path / "leaky")
    leaky = read_record(tmp_path / "leaky" / "training.json")
    assert leaky["updates"][0]["base_heldout_sequences"] == len(split.test)
    with pytest.raises(ParameterError, match="held-out sequences"):
        check_training_split(leaky, tmp_path / "leaky", ident, seed=seed, test_fraction=fraction)


def test_the_cli_updates_and_reports_errors_without_a_traceback(data, tmp_path):
    res = CliRunner().invoke(
        app,
        ["--no-progress", "update", str(data["run"]), str(data["new"]), "-o", str(tmp_path / "r2")],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "als updated with 50 sequences" in " ".join(res.output.split())
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "songspace",
            "--no-progress",
            "update",
            str(data["run"]),
            str(data["new"]),
            "-o",
            str(tmp_path / "r3"),
            "-s",
            "epochs=2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert bad.returncode == 1
    assert "an update setting of ALS (iterations, seed)" in " ".join(bad.stderr.split())
    assert "Traceback" not in bad.stderr + bad.stdout
    assert not (tmp_path / "r3").exists()


#: Runs an update in a child process; ``PAUSE`` names where it stops to be killed.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import songspace.models.update as upd

    run, new, out, marker, pause = sys.argv[1:6]

    def wait(*args, **kwargs):
        Path(marker).write_text("here")
        time.sleep(120)

    if pause == "writing":
        upd.export_embeddings = wait
        upd.update_run(run, new, out)
    else:
        upd.update_run(run, new, out, progress=wait)
    """
)


@pytest.mark.parametrize("pause", ["training", "writing"])
def test_an_update_killed_leaves_no_output_and_the_run_intact(data, tmp_path, pause):
    before = _digest(data["run"])
    marker, out = tmp_path / "marker", tmp_path / "run2"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(data["run"]),
            str(data["new"]),
            str(out),
            str(marker),
            pause,
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the update never reached the pause"
            time.sleep(0.05)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".run2.tmp-")]
        assert bool(leftovers) == (pause == "writing")  # mid-write: a temporary directory
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert not out.exists()
    assert _digest(data["run"]) == before
    # the next update to the same output cleans the leftovers and succeeds
    update_run(data["run"], data["new"], out)
    assert (out / "model" / "model.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run2.")]
