"""Data-parallel GraphSAGE (torch.distributed, gloo over loopback)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")
import torch.distributed as dist

from songspace.cli import app
from songspace.data.dataset import Dataset
from songspace.data.provenance import TRAINING_FILE
from songspace.errors import ParameterError, SongspaceError
from songspace.models import distributed
from songspace.models.distributed import DistributedError, context_from_env, free_port
from songspace.models.run import training_view
from songspace.models.train import train_model
from songspace.testing import planted_dataset
from songspace.testing.models import same_genre_share

if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("this torch build has no gloo backend", allow_module_level=True)

PARAMS = {"dim": 16, "hidden": 32, "epochs": 3, "batch_size": 64, "fanouts": "6,4"}


@pytest.fixture(scope="module")
def ds_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("d") / "ds"
    planted_dataset().save(path)
    return path


@pytest.mark.slow  # two 2-process trainings: 16-32 s on the shared 2-core machine
def test_two_processes_recover_genres_and_repeat_exactly(ds_dir, tmp_path):
    args = ["train", "graphsage", str(ds_dir), "-o", str(tmp_path / "a"), "--nproc", "2"]
    args += [a for k, v in PARAMS.items() for a in ("-p", f"{k}={v}")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    model = train_model("graphsage", ds_dir, tmp_path / "b", params=PARAMS, nproc=2)

    a = np.load(tmp_path / "a" / "embeddings.npz")
    b = np.load(tmp_path / "b" / "embeddings.npz")
    # same N and seed on CPU: bit-identical embeddings
    assert np.array_equal(a["embeddings"], b["embeddings"])
    assert np.array_equal(a["available"], b["available"])
    genre = planted_dataset().tracks["genre"].to_numpy(dtype=object)
    share, chance = same_genre_share(a["embeddings"], a["available"], genre)
    assert share > 0.8 > 3 * chance
    # every rank trained and logged its own loss; the shards differ, so the losses do
    ranks = model.history_[-1]["rank_losses"]
    assert len(ranks) == 2 and ranks[0]["playlist"] != ranks[1]["playlist"]
    assert len(model.history_) == 3 and model.available_.sum() == a["available"].sum()
    # rank 0 records the training view in RUN/training.json, as a one-process run does
    view = training_view(Dataset.load(ds_dir))
    for run in ("a", "b"):
        record = json.loads((tmp_path / run / TRAINING_FILE).read_text())
        assert record["seed"] == 0 and record["full"] is False
        assert record["test_fraction"] == view.test_fraction
        assert record["train_sequences"] == view.train.n_sequences


@pytest.mark.slow  # two torchrun agents and one --nproc 2 run: ~30 s
def test_two_torchrun_nodes_on_loopback_train_what_nproc_trains(ds_dir, tmp_path):
    """The multi-machine launch, with two torchrun agents as two nodes on 127.0.0.1 (static
    rendezvous): rank 0 writes the model, and the embeddings are those of ``--nproc 2``
    (same world size, seed and threads per process)."""
    port = free_port()
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    threads = str(max(1, (os.cpu_count() or 2) // 2))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": path}
    params = [a for k, v in PARAMS.items() for a in ("-p", f"{k}={v}")]

    def start_node(rank: int) -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "2",
            "--node-rank",
            str(rank),
            "--nproc-per-node",
            "1",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(port),
            "-m",
            "songspace.cli",
            "train-distributed",
            "graphsage",
            str(ds_dir),
            "-o",
            str(tmp_path / "tr"),
            *params,
        ]
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    nodes = [start_node(0), start_node(1)]
    try:
        outputs = [node.communicate(timeout=300)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [n.returncode for n in nodes] == [0, 0], outputs
    assert "wrote" in outputs[0] and "wrote" not in outputs[1]  # rank 0 alone writes
    train_model("graphsage", ds_dir, tmp_path / "np", params=PARAMS, nproc=2)
    a = np.load(tmp_path / "tr" / "embeddings.npz")
    b = np.load(tmp_path / "np" / "embeddings.npz")
    assert np.array_equal(a["embeddings"], b["embeddings"])
    genre = planted_dataset().tracks["genre"].to_numpy(dtype=object)
    share, chance = same_genre_share(a["embeddings"], a["available"], genre)
    assert share > 0.8 > 3 * chance


def test_a_model_without_data_parallel_training_is_refused(ds_dir, tmp_path):
    with pytest.raises(ParameterError, match="--nproc"):
        train_model("track2vec", ds_dir, tmp_path / "o", nproc=2)
    res = CliRunner().invoke(
        app, ["train", "warp", str(ds_dir), "-o", str(tmp_path / "w"), "--nproc", "2"]
    )
    assert isinstance(res.exception, ParameterError) and "graphsage" in str(res.exception)


def test_a_failing_worker_stops_the_run_with_its_error(ds_dir, tmp_path):
    # min_weight so high that no edge is left: every rank raises the model's ParameterError
    with pytest.raises(SongspaceError, match="min_weight"):
        train_model(
            "graphsage", ds_dir, tmp_path / "o", params={**PARAMS, "min_weight": 10_000}, nproc=2
        )
    assert not (tmp_path / "o").exists()


def test_train_distributed_passes_the_train_options_to_the_worker(monkeypatch):
    """`songspace train-distributed` (what torchrun starts on every node) hands the options
    of `train` to the rank's worker; rank 0 says what it wrote."""
    jobs = []

    def worker(job, progress):
        jobs.append(job)
        return SimpleNamespace(training_time_=1.5)

    monkeypatch.setattr(distributed, "worker_main", worker)
    argv = ["musig", "D", "-o", "O", "-p", "epochs=2", "--seed", "3", "--full", "--config", "c"]
    res = CliRunner().invoke(app, ["--no-progress", "train-distributed", *argv])
    assert res.exit_code == 0, res.output
    assert "wrote O: musig trained in 1.5s" in res.output
    assert jobs == [
        distributed.TrainJob("musig", "D", "O", {"epochs": "2"}, "c", 3, None, True, False)
    ]


def test_train_distributed_refuses_a_model_without_data_parallel_training(tmp_path):
    res = CliRunner().invoke(app, ["train-distributed", "warp", str(tmp_path), "-o", "O"])
    assert isinstance(res.exception, ParameterError)
    assert "graphsage" in str(res.exception) and "musig" in str(res.exception)


def test_train_distributed_help_names_the_data_parallel_models():
    """The help states the models by name (it imports no torch to print itself)."""
    res = CliRunner().invoke(app, ["train-distributed", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert all(name in text for name in distributed.DISTRIBUTED_MODELS)


def test_a_rank_needs_the_environment_torchrun_sets(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        context_from_env()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "0")
    ctx = context_from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank) == (1, 4, 0)


@pytest.mark.slow
def test_musig_trains_data_parallel_with_its_heads_and_checkpoints(ds_dir, tmp_path):
    params = {
        **PARAMS,
        "epochs": 2,
        "task_weights": "0.7-0.1-0.2",
        "feature_groups": "genre,popularity,audio,acoustic",
        "checkpoint_dir": str(tmp_path / "ck"),
    }
    model = train_model("musig", ds_dir, tmp_path / "m", params=params, nproc=2)
    last = model.history_[-1]
    # every task with a non-zero weight trained on both ranks (DDP skipped no head)
    assert all(r["genre"] > 0 and r["audio"] > 0 for r in last["rank_losses"])
    assert last["seconds"] > 0 and (tmp_path / "ck" / "encoder.npz").is_file()
    assert model.available_.all()


def test_data_parallel_epochs_honour_steps_per_epoch(ds_dir, tmp_path):
    """Each rank takes exactly ``steps_per_epoch`` optimiser steps per epoch (the same
    count on every rank, as DDP needs), as the single-process loop does."""
    seen: list[tuple[int, int]] = []
    params = {**PARAMS, "epochs": 2, "steps_per_epoch": 3}
    train_model(
        "graphsage",
        ds_dir,
        tmp_path / "s",
        params=params,
        nproc=2,
        progress=lambda done, total, msg: seen.append((done, total)),
    )
    steps = [(d, t) for d, t in seen if t == 2 * 3]
    assert steps and max(d for d, _ in steps) == 6
