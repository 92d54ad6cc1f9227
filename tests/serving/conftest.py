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
