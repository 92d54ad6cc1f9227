"""Models read the graph that `prepare --graph` saved, for the same sequences only."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")

import songspace.graph.tables as tables_module
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import sequences_fingerprint
from songspace.graph.cooccurrence import build_cooccurrence
from songspace.graph.tables import GRAPH_DIR, saved_graph, write_tables
from songspace.models.graphsage import GraphSAGE
from songspace.models.node2vec import Node2Vec
from songspace.testing import planted_dataset

FAST = {"dim": 8, "hidden": 16, "epochs": 1, "batch_size": 64, "fanouts": (4, 2), "seed": 3}
USING = "using the saved graph from"


class Builds:
    """Counts the in-memory graph builds (``build_cooccurrence`` as the models reach it)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return build_cooccurrence(*args, **kwargs)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = planted_dataset()
    path = ds.save(tmp_path_factory.mktemp("saved") / "ds")
    write_tables(ds, path / GRAPH_DIR, min_weight=2)
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Builds:
    spy = Builds()
    monkeypatch.setattr(tables_module, "build_cooccurrence", spy)
    return spy


def test_the_sidecar_records_the_sequences_fingerprint(data_dir: Path) -> None:
    meta = json.loads((data_dir / GRAPH_DIR / "cooccurrence.json").read_text())
    ds = Dataset.load(data_dir)
    assert ds.directory == data_dir
    assert meta["sequences_fingerprint"] == sequences_fingerprint(ds)
    assert meta["sequences_fingerprint"] != sequences_fingerprint(ds.subset(np.arange(10)))
    graph = saved_graph(ds, 2)
    assert graph is not None
    built = build_cooccurrence(ds, min_weight=2).adjacency
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(graph.adjacency, name), getattr(built, name))


def test_graphsage_loads_the_saved_graph_and_trains_the_same(
    data_dir: Path, builds: Builds, caplog: pytest.LogCaptureFixture
) -> None:
    ds = Dataset.load(data_dir)
    with caplog.at_level(logging.INFO, logger="songspace.graph.tables"):
        saved = GraphSAGE(**FAST).fit(ds)
    assert builds.calls == 0
    assert f"{USING} {data_dir / GRAPH_DIR}" in caplog.text
    fresh = GraphSAGE(**FAST).fit(planted_dataset())  # in memory: no directory, built
    assert builds.calls == 1
    np.testing.assert_array_equal(saved.embeddings_, fresh.embeddings_)


def test_a_split_or_other_settings_rebuild(
    data_dir: Path, builds: Builds, caplog: pytest.LogCaptureFixture
) -> None:
    ds = Dataset.load(data_dir)
    train = ds.subset(np.arange(0, ds.n_sequences, 2), name="train")
    assert train.directory is None
    # a dataset that keeps the directory but holds other sequences (a split made by hand)
    same_dir = dataclasses.replace(
        ds, indptr=train.indptr, indices=train.indices, sequence_ids=train.sequence_ids
    )
    assert same_dir.directory == data_dir
    with caplog.at_level(logging.INFO, logger="songspace.graph.tables"):
        assert saved_graph(train, 2) is None
        assert saved_graph(same_dir, 2) is None
        assert "built from other sequences" in caplog.text
        assert saved_graph(ds, 3) is None  # another min_weight
        assert "min_weight 2 there, 3 here" in caplog.text
        GraphSAGE(**FAST).fit(train)
    assert builds.calls == 1  # the split's own graph
    assert USING not in caplog.text


def test_node2vec_loads_the_saved_graph(data_dir: Path, builds: Builds) -> None:
    params = {"dim": 8, "walk_length": 10, "walks_per_node": 2, "epochs": 1}
    Node2Vec(**params).fit(Dataset.load(data_dir))
    assert builds.calls == 0
    Node2Vec(**params).fit(planted_dataset())
    assert builds.calls == 1
