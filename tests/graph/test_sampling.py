from collections import Counter
from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from songspace.errors import ParameterError
from songspace.graph.sampling import (
    mean_adjacency,
    sample_blocks,
    sample_neighbors,
    sample_neighbors_reference,
)

# node 0: neighbours 1..5 (degree 5); node 1: 0, 2 (degree 2); node 6: isolated
EDGES = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 2)]


def toy_graph(n=7):
    u, v = np.array(EDGES).T
    a = sp.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    a = (a + a.T).tocsr()
    a.sort_indices()
    return a.indptr.astype(np.int64), a.indices.astype(np.int64)


def neighbours(indptr, indices, v):
    return set(indices[indptr[v] : indptr[v + 1]].tolist())


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_samples_are_neighbours_or_self(k):
    indptr, indices = toy_graph()
    nodes = np.array([0, 1, 2, 6, 0, 6])
    out = sample_neighbors(indptr, indices, nodes, k, np.random.default_rng(0))
    assert out.shape == (len(nodes), k)
    for v, row in zip(nodes, out, strict=True):
        allowed = neighbours(indptr, indices, v) or {int(v)}
        assert set(row.tolist()) <= allowed
        if len(neighbours(indptr, indices, v)) >= k:
            assert len(set(row.tolist())) == k  # without replacement


def subset_counts(samples):
    return Counter(tuple(sorted(r)) for r in samples.tolist())


def test_without_replacement_matches_brute_force_distribution():
    """Degree 5, k = 3: all 10 subsets equally likely, for both samplers."""
    indptr, indices = toy_graph()
    nodes = np.zeros(20_000, dtype=np.int64)
    fast = subset_counts(sample_neighbors(indptr, indices, nodes, 3, np.random.default_rng(1)))
    slow = subset_counts(
        sample_neighbors_reference(indptr, indices, nodes, 3, np.random.default_rng(2))
    )
    subsets = [tuple(c) for c in combinations(range(1, 6), 3)]
    assert set(fast) == set(subsets) == set(slow)
    f = np.array([fast[s] for s in subsets])
    g = np.array([slow[s] for s in subsets])
    assert stats.chisquare(f).pvalue > 1e-3  # uniform over subsets
    assert stats.chi2_contingency(np.stack([f, g])).pvalue > 1e-3  # same as brute force


def test_with_replacement_for_low_degree_is_uniform_per_slot():
    """Degree 2, k = 4: each slot independent and uniform; 16 sequences equally likely."""
    indptr, indices = toy_graph()
    nodes = np.ones(32_000, dtype=np.int64)
    out = sample_neighbors(indptr, indices, nodes, 4, np.random.default_rng(3))
    ref = sample_neighbors_reference(indptr, indices, nodes, 4, np.random.default_rng(4))
    for s in (out, ref):
        seqs = Counter(map(tuple, s.tolist()))
        assert len(seqs) == 16
        assert stats.chisquare(np.array(list(seqs.values()))).pvalue > 1e-3
    assert abs((out == 0).mean() - 0.5) < 0.01


def test_reproducible_by_seed_and_seed_matters():
    indptr, indices = toy_graph()
    nodes = np.arange(7).repeat(50)
    a = sample_neighbors(indptr, indices, nodes, 3, np.random.default_rng(5))
    b = sample_neighbors(indptr, indices, nodes, 3, np.random.default_rng(5))
    c = sample_neighbors(indptr, indices, nodes, 3, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_isolated_nodes_and_empty_graph_sample_themselves():
    indptr, indices = toy_graph()
    out = sample_neighbors(indptr, indices, np.array([6, 6]), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(out, 6)
    empty_ptr = np.zeros(4, dtype=np.int64)
    out = sample_neighbors(
        empty_ptr, np.zeros(0, np.int64), np.array([2, 0]), 2, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(out, [[2, 2], [0, 0]])


def test_blocks_layout():
    indptr, indices = toy_graph()
    blocks = sample_blocks(indptr, indices, np.array([0, 1, 6]), (4, 2), np.random.default_rng(0))
    assert [len(b) for b in blocks] == [3, 12, 24]
    for parent, row in zip(blocks[1], blocks[2].reshape(-1, 2), strict=True):
        assert set(row.tolist()) <= (neighbours(indptr, indices, parent) or {int(parent)})


def test_mean_adjacency_by_hand_and_as_expected_sampled_mean():
    indptr, indices = toy_graph()
    a = mean_adjacency(indptr, indices).toarray()
    expected = np.zeros((7, 7))
    expected[0, 1:6] = 1 / 5
    expected[1, [0, 2]] = 1 / 2
    expected[2, [0, 1]] = 1 / 2
    expected[3:6, 0] = 1
    expected[6, 6] = 1  # isolated: self-loop, like the sampler
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    h = np.random.default_rng(0).random((7, 3))
    nodes = np.repeat(np.arange(7), 4000)
    s = sample_neighbors(indptr, indices, nodes, 3, np.random.default_rng(1))
    sampled_mean = h[s].mean(axis=1).reshape(7, 4000, 3).mean(axis=1)
    np.testing.assert_allclose(sampled_mean, a @ h, atol=0.02)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k(k):
    indptr, indices = toy_graph()
    with pytest.raises(ParameterError, match="k"):
        sample_neighbors(indptr, indices, np.array([0]), k, np.random.default_rng(0))


def test_bad_nodes():
    indptr, indices = toy_graph()
    with pytest.raises(ParameterError, match=r"node ids in \[0, 7\)"):
        sample_neighbors(indptr, indices, np.array([7]), 2, np.random.default_rng(0))


def test_mean_adjacency_isolated_nodes_anywhere_and_padding():
    # node 0 and node 3 isolated, nodes 5-6 beyond the graph's rows (n > len(indptr) - 1)
    indptr = np.array([0, 0, 2, 3, 3, 5])
    indices = np.array([4, 2, 1, 1, 2], dtype=np.int32)
    a = mean_adjacency(indptr, indices, 7)
    expected = np.zeros((7, 7))
    expected[[0, 3, 5, 6], [0, 3, 5, 6]] = 1
    expected[1, [2, 4]] = 1 / 2
    expected[2, 1] = 1
    expected[4, [1, 2]] = 1 / 2
    np.testing.assert_allclose(a.toarray(), expected, rtol=1e-6)
    assert a.has_sorted_indices and a.dtype == np.float32 and a.indices.dtype == np.int32
