"""Co-occurrence graph (MUSIG §3.1, SPEC §2) against a brute-force count."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from songspace.data.builder import finish_dataset
from songspace.data.dataset import Dataset
from songspace.errors import FormatError, OutputExistsError, ParameterError
from songspace.graph import (
    CooccurrenceGraph,
    build_cooccurrence,
    edge_counts_by_threshold,
    incidence_matrix,
)
from songspace.graph import cooccurrence as cooc

HUGE = 10**12


# ------------------------------------------------------------------- helpers
def make_dataset(seqs: list[list[int]], n_tracks: int) -> Dataset:
    lengths = [len(s) for s in seqs]
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
    )


def random_sequences(seed: int, n_seq: int = 60, n_tracks: int = 40) -> list[list[int]]:
    """Skewed track draws (so weights of 3+ occur) with repeats inside sequences."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_tracks + 1) ** 0.8
    p /= p.sum()
    return [rng.choice(n_tracks, size=int(rng.integers(1, 15)), p=p).tolist() for _ in range(n_seq)]


def brute_force(seqs: list[list[int]], min_weight: int) -> dict[tuple[int, int], int]:
    counts: Counter[tuple[int, int]] = Counter()
    for s in seqs:
        counts.update(itertools.combinations(sorted(set(s)), 2))
    return {k: v for k, v in counts.items() if v >= min_weight}


def as_edge_dict(graph: CooccurrenceGraph) -> dict[tuple[int, int], int]:
    upper = sp.triu(graph.adjacency, k=1).tocoo()
    return {
        (int(u), int(v)): int(w) for u, v, w in zip(upper.row, upper.col, upper.data, strict=True)
    }


def check_structure(graph: CooccurrenceGraph, n_tracks: int) -> None:
    a = graph.adjacency
    assert isinstance(a, sp.csr_matrix)
    assert a.shape == (n_tracks, n_tracks)
    assert a.dtype == np.int32
    assert a.has_sorted_indices
    assert not np.any(a.diagonal())
    assert (a != a.T).nnz == 0
    assert a.nnz == 2 * graph.n_edges
    assert np.all(a.data >= graph.min_weight)


# ------------------------------------------------------------- brute force
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_weight", [1, 2, 3])
def test_matches_brute_force_blocked_and_single(seed: int, min_weight: int) -> None:
    seqs = random_sequences(seed)
    ds = make_dataset(seqs, 40)
    expected = brute_force(seqs, min_weight)
    tiny = build_cooccurrence(ds, min_weight=min_weight, block_budget=1)
    single = build_cooccurrence(ds, min_weight=min_weight, block_budget=HUGE)
    for graph in (tiny, single):
        check_structure(graph, 40)
        assert as_edge_dict(graph) == expected
    for attr in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(
            getattr(tiny.adjacency, attr), getattr(single.adjacency, attr)
        )
    assert max(expected.values()) >= 3  # the input exercises every threshold


def test_tiny_budget_really_makes_many_blocks(caplog: pytest.LogCaptureFixture) -> None:
    ds = make_dataset(random_sequences(0), 40)
    with caplog.at_level(logging.DEBUG, logger="songspace.graph.cooccurrence"):
        build_cooccurrence(ds, block_budget=1)
        build_cooccurrence(ds, block_budget=HUGE)
    blocks = [r.args[2] for r in caplog.records if "block(s)" in r.getMessage()]
    assert blocks == [40, 1]


@pytest.mark.parametrize("budget", [20, 60, 200])
def test_block_work_stays_under_budget(budget: int) -> None:
    """Each block needs at most ``block_budget`` partial products (unless it is one track)."""
    x = incidence_matrix(make_dataset(random_sequences(1, n_seq=80), 40))
    xt = x.T.tocsr()
    n_blocks = 0
    for a, b, p in cooc._upper_blocks(x, cooc._block_bounds(x, budget), None, ""):
        n_blocks += 1
        right_len = np.diff(x.tocsc()[:, a:].tocsr().indptr)
        work = int(sum(right_len[xt[t].indices].sum() for t in range(a, b)))
        assert work <= budget or b - a == 1
        assert p.shape == (b - a, 40 - a)
    assert n_blocks > 1


def test_tuple_input_equals_dataset_and_leaves_arrays_alone() -> None:
    seqs = random_sequences(5)
    ds = make_dataset(seqs, 40)
    before = ds.indices.copy()
    g1 = build_cooccurrence(ds, min_weight=1, block_budget=7)
    g2 = build_cooccurrence((ds.indptr, ds.indices, ds.n_tracks), min_weight=1)
    np.testing.assert_array_equal(ds.indices, before)
    assert (g1.adjacency != g2.adjacency).nnz == 0
    # tuple input may hold empty sequences (a Dataset may not)
    ip = np.array([0, 0, 2, 2, 4])
    g3 = build_cooccurrence((ip, np.array([1, 2, 2, 1]), 3), min_weight=2)
    assert as_edge_dict(g3) == {(1, 2): 2}


# -------------------------------------------------------------- hand-made
def hand_example() -> Dataset:
    # tracks A B C D E F = 0..5; F never appears; C is repeated in p2
    return make_dataset([[0, 1, 2], [0, 1, 3], [1, 2, 2, 0], [4]], 6)


def test_hand_example_known_graph() -> None:
    g = build_cooccurrence(hand_example(), min_weight=1)
    expected = np.array(
        [
            # A  B  C  D  E  F
            [0, 3, 2, 1, 0, 0],  # A
            [3, 0, 2, 1, 0, 0],  # B
            [2, 2, 0, 0, 0, 0],  # C: p0 and p2 (twice in p2, counted once)
            [1, 1, 0, 0, 0, 0],  # D
            [0, 0, 0, 0, 0, 0],  # E: alone in its playlist
            [0, 0, 0, 0, 0, 0],  # F: in no playlist
        ]
    )
    np.testing.assert_array_equal(g.adjacency.toarray(), expected)
    assert g.n_nodes == 6
    assert g.n_edges == 5
    assert g.n_active_nodes == 4
    np.testing.assert_array_equal(g.degree, [3, 3, 2, 2, 0, 0])
    np.testing.assert_array_equal(g.weighted_degree, [6, 6, 4, 2, 0, 0])
    idx, w = g.neighbors(0)
    np.testing.assert_array_equal(idx, [1, 2, 3])
    np.testing.assert_array_equal(w, [3, 2, 1])
    idx, w = g.neighbors(5)
    assert len(idx) == 0 and len(w) == 0

    g2 = build_cooccurrence(hand_example(), min_weight=2)
    assert as_edge_dict(g2) == {(0, 1): 3, (0, 2): 2, (1, 2): 2}
    assert (g2.n_edges, g2.n_active_nodes) == (3, 3)
    g3 = build_cooccurrence(hand_example(), min_weight=3)
    assert as_edge_dict(g3) == {(0, 1): 3}
    g4 = build_cooccurrence(hand_example(), min_weight=4)
    assert (g4.n_edges, g4.n_active_nodes, g4.adjacency.shape) == (0, 0, (6, 6))


def test_repeated_track_counts_once() -> None:
    g = build_cooccurrence(make_dataset([[0, 0, 1], [0, 1, 1, 1], [1, 0, 1, 0]], 2), min_weight=1)
    assert as_edge_dict(g) == {(0, 1): 3}
    g = build_cooccurrence(make_dataset([[0, 0, 0]], 1), min_weight=1)
    assert g.n_edges == 0  # no self-loops


def test_no_entries_and_no_tracks() -> None:
    g = build_cooccurrence((np.array([0]), np.array([], dtype=np.int32), 5), min_weight=1)
    assert (g.n_nodes, g.n_edges, g.n_active_nodes) == (5, 0, 0)
    g = build_cooccurrence((np.array([0]), np.array([], dtype=np.int32), 0), min_weight=1)
    assert g.adjacency.shape == (0, 0)
    assert edge_counts_by_threshold((np.array([0]), np.array([], dtype=np.int32), 3)) == {
        t: (0, 0) for t in (1, 2, 3, 5, 10)
    }


# ------------------------------------------------------------ edge counts
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("budget", [1, 50, HUGE])
def test_edge_counts_by_threshold_agree_with_build(seed: int, budget: int) -> None:
    ds = make_dataset(random_sequences(seed), 40)
    thresholds = (1, 2, 3, 4, 5, 10, 10**12)
    counts = edge_counts_by_threshold(ds, thresholds, block_budget=budget)
    assert list(counts) == sorted(thresholds)
    for t in thresholds:
        g = build_cooccurrence(ds, min_weight=t)
        assert counts[t] == (g.n_edges, g.n_active_nodes), t
    assert counts[10**12] == (0, 0)
    assert counts[1][0] == len(brute_force(random_sequences(seed), 1))


def test_edge_counts_accepts_one_int_and_unsorted() -> None:
    ds = hand_example()
    assert edge_counts_by_threshold(ds, 2) == {2: (3, 3)}
    assert edge_counts_by_threshold(ds, [3, 1, 3]) == {1: (5, 4), 3: (1, 2)}


# ------------------------------------------------------------ save / load
def test_save_load_round_trip(tmp_path) -> None:
    g = build_cooccurrence(make_dataset(random_sequences(2), 40), min_weight=2)
    out = g.save(tmp_path / "sub" / "graph.npz")
    assert out == tmp_path / "sub" / "graph.npz"
    meta = json.loads((tmp_path / "sub" / "graph.json").read_text())
    assert meta["min_weight"] == 2 and meta["n_edges"] == g.n_edges
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["graph.json", "graph.npz"]
    loaded = CooccurrenceGraph.load(out)
    assert loaded.min_weight == 2
    assert loaded.adjacency.dtype == np.int32
    assert (loaded.adjacency != g.adjacency).nnz == 0
    # a path without the suffix names the same files
    assert CooccurrenceGraph.load(tmp_path / "sub" / "graph").n_edges == g.n_edges
    with pytest.raises(OutputExistsError):
        g.save(out)
    g2 = build_cooccurrence(make_dataset(random_sequences(2), 40), min_weight=3)
    g2.save(tmp_path / "sub" / "graph", overwrite=True, compressed=False)
    assert CooccurrenceGraph.load(out).min_weight == 3


def test_load_errors(tmp_path) -> None:
    g = build_cooccurrence(hand_example(), min_weight=1)
    with pytest.raises(FormatError, match="found none"):
        CooccurrenceGraph.load(tmp_path / "missing.npz")
    g.save(tmp_path / "g.npz")
    meta_path = tmp_path / "g.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "n_edges": 99}))
    with pytest.raises(FormatError, match="n_edges"):
        CooccurrenceGraph.load(tmp_path / "g.npz")
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(FormatError, match="format_version"):
        CooccurrenceGraph.load(tmp_path / "g.npz")
    meta_path.write_text("{not json")
    with pytest.raises(FormatError, match="JSON"):
        CooccurrenceGraph.load(tmp_path / "g.npz")
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "g.npz").write_bytes(b"garbage")
    with pytest.raises(FormatError, match="npz"):
        CooccurrenceGraph.load(tmp_path / "g.npz")


# ------------------------------------------------------------- parameters
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_min_weight(value) -> None:
    with pytest.raises(ParameterError, match="min_weight"):
        build_cooccurrence(hand_example(), min_weight=value)


@pytest.mark.parametrize("value", [0, -5, 2.0, None])
def test_bad_block_budget(value) -> None:
    with pytest.raises(ParameterError, match="block_budget"):
        build_cooccurrence(hand_example(), block_budget=value)
    with pytest.raises(ParameterError, match="block_budget"):
        edge_counts_by_threshold(hand_example(), block_budget=value)


@pytest.mark.parametrize("value", [(), (0, 1), (2, -1), ("a",), (1.5,), 2.5, None, 0])
def test_bad_thresholds(value) -> None:
    with pytest.raises(ParameterError, match="thresholds"):
        edge_counts_by_threshold(hand_example(), value)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ((np.array([0, 2]), np.array([0, 3]), 3), "indices"),
        ((np.array([0, 2]), np.array([0, -1]), 3), "indices"),
        ((np.array([0, 3]), np.array([0, 1]), 3), "indptr"),
        ((np.array([1, 2]), np.array([0, 1]), 3), "indptr"),
        ((np.array([0, 2]), np.array([0, 1]), -1), "n_tracks"),
        ((np.array([0.0, 2.0]), np.array([0, 1]), 3), "indptr"),
        ([np.array([0, 2]), np.array([0, 1]), 3], "dataset"),
        ("playlists", "dataset"),
    ],
)
def test_bad_input(data, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        build_cooccurrence(data)


def test_graph_checks() -> None:
    g = build_cooccurrence(hand_example(), min_weight=1)
    for i in (-1, 6, 1.0, True):
        with pytest.raises(ParameterError, match=r"parameter `i`: expected an integer in \[0, 6\)"):
            g.neighbors(i)
    idx, _ = g.neighbors(np.int64(1))
    with pytest.raises(ValueError, match="read-only"):
        idx[0] = 5
    with pytest.raises(ParameterError, match="square"):
        CooccurrenceGraph(sp.csr_matrix((2, 3), dtype=np.int32), 1)
    with pytest.raises(ParameterError, match="adjacency"):
        CooccurrenceGraph(np.zeros((2, 2)), 1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="min_weight"):
        CooccurrenceGraph(sp.csr_matrix((2, 2), dtype=np.int32), 0)


# ---------------------------------------------------------------- real data
@pytest.mark.slow
def test_mpd_subset_sanity(shared_data) -> None:
    from songspace.data.mpd import read_mpd

    ds = read_mpd(shared_data("mpd-subset"))
    t0 = time.perf_counter()
    g = build_cooccurrence(ds, min_weight=2)
    seconds = time.perf_counter() - t0
    print(
        f"\nMPD subset: {ds.n_sequences} playlists, {ds.n_tracks} tracks; graph at "
        f"min_weight=2: {g.n_edges} edges over {g.n_active_nodes} tracks in {seconds:.1f}s"
    )
    check_structure(g, ds.n_tracks)
    assert 1_000_000 < g.n_edges < 10_000_000
    assert 20_000 < g.n_active_nodes < ds.n_tracks
    # spot-check edge weights against the playlists themselves
    rng = np.random.default_rng(0)
    sets = [set(ds.sequence(s).tolist()) for s in range(ds.n_sequences)]
    upper = sp.triu(g.adjacency, k=1).tocoo()
    for k in rng.choice(upper.nnz, 30, replace=False):
        u, v = int(upper.row[k]), int(upper.col[k])
        assert upper.data[k] == sum(1 for s in sets if u in s and v in s)


@pytest.mark.parametrize("k", [0, 1, 7, 39, 40])
def test_drop_leading_columns_matches_scipy_slicing(k: int) -> None:
    ip = np.array([0, 0, 3, 3, 6, 8])  # empty rows included
    x = sp.csr_matrix(
        (np.arange(1, 9, dtype=np.int32), np.array([0, 7, 39, 1, 2, 38, 5, 9]), ip),
        shape=(5, 40),
    )
    got = cooc._drop_leading_columns(x, k)
    assert got.shape == (5, 40 - k)
    np.testing.assert_array_equal(got.toarray(), x.toarray()[:, k:])
