"""A small served world: the planted synthetic dataset with three tracks held out
entirely, a GraphSAGE run and a Track2Vec run trained on the rest (session-scoped)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.models.train import train_model
from songspace.serving.newtracks import hold_out_tracks

pytest.importorskip("faiss", reason="the serving index needs faiss (extra `fast`)")

GS_FAST = {"dim": 16, "hidden": 32, "epochs": 2, "batch_size": 64, "fanouts": [6, 4]}
T2V_FAST = {"dim": 25, "epochs": 2, "workers": 1}


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")
    pytest.importorskip("gensim", reason="Track2Vec needs gensim (extra `models`)")
    root = tmp_path_factory.mktemp("serving")
    full = generate(800, 400, n_genres=5, mean_length=25, seed=0)
    occ = full.occurrences()
    rows = np.flatnonzero(occ >= 5)[:3]
    held_ids = full.tracks["track_id"].iloc[rows].tolist()
    reduced, docs = hold_out_tracks(full, held_ids)
    reduced.save(root / "data")
    full.save(root / "full")
    train_model("graphsage", reduced, root / "gs", params=GS_FAST, full=True)
    train_model("track2vec", reduced, root / "t2v", params=T2V_FAST, full=True)
    return {"root": root, "full": full, "reduced": reduced, "docs": docs, "held": held_ids}


@pytest.fixture
def runs(world, tmp_path):
    """Fresh copies of the two runs (each test may add tracks to its own store)."""
    out = {}
    for name in ("gs", "t2v"):
        shutil.copytree(world["root"] / name, tmp_path / name)
        out[name] = tmp_path / name
    return out


@pytest.fixture(scope="session")
def slash_world(world, tmp_path_factory):
    """The reduced dataset with a few track ids holding "/" (35 of 1,192 Last.fm tracks
    do: "AC/DC - ...") and an embeddings-only run over it (served as a transductive
    model; random vectors, no training needed)."""
    from songspace.data.dataset import Dataset
    from songspace.models.train import write_embeddings

    root = tmp_path_factory.mktemp("slash")
    ds = world["reduced"]
    tracks = ds.tracks.copy()
    slash = ["AC/DC - Back In Black", "a/b/c", "/leading", "trailing/"]
    tracks.loc[: len(slash) - 1, "track_id"] = slash
    data = Dataset(
        tracks=tracks,
        indptr=ds.indptr,
        indices=ds.indices,
        sequence_ids=ds.sequence_ids,
        features=ds.features,
        source=dict(ds.source),
    ).validate()
    data.save(root / "data")
    run = root / "run"
    run.mkdir()
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(data.n_tracks, 8)).astype(np.float32)
    write_embeddings(emb, np.ones(data.n_tracks, dtype=bool), data, run)
    return {"data": root / "data", "run": run, "ids": slash}
