"""node2vec walks: exact transition distribution, edges only, seeds, isolated nodes, p/q."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import chisquare

from songspace.errors import ParameterError
from songspace.graph.walks import (
    _prepare,
    _Sampler,
    random_walks,
    transition_probabilities,
    walks_reference,
)

# small weighted graph: 0-1 (3), 0-2 (4), 0-4 (1), 1-2 (1), 1-3 (2), 1-4 (5), 3-5 (1); 6 isolated
EDGES = [(0, 1, 3), (1, 2, 1), (1, 3, 2), (1, 4, 5), (0, 2, 4), (3, 5, 1), (4, 0, 1)]
PQ = [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25), (0.5, 2.0), (2.0, 0.5), (1e-3, 100.0), (100.0, 1e-3)]


def graph(edges=EDGES, n=7):
    u = [a for a, b, _ in edges] + [b for a, b, _ in edges]
    v = [b for a, b, _ in edges] + [a for a, b, _ in edges]
    w = [x for *_, x in edges] * 2
    return sp.csr_matrix((np.array(w, dtype=np.int32), (u, v)), shape=(n, n))


def random_graph(n=60, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    upper = sp.random(n, n, density=density, random_state=rng, format="coo")
    upper = sp.triu(upper, k=1)
    w = rng.integers(1, 10, size=upper.nnz).astype(np.int32)
    a = sp.coo_matrix((w, (upper.row, upper.col)), shape=(n, n))
    return (a + a.T).tocsr()


def empirical(samples, nbrs):
    assert np.isin(samples, nbrs).all()
    return np.array([(samples == x).sum() for x in nbrs], dtype=float)


def check_distribution(samples, nbrs, probs):
    counts = empirical(samples, nbrs)
    n = counts.sum()
    tv = 0.5 * np.abs(counts / n - probs).sum()
    # expected total variation of a multinomial sample is ~ sum sqrt(2 p (1 - p) / (pi n)) / 2
    noise = 0.5 * np.sqrt(2 * probs * (1 - probs) / (np.pi * n)).sum()
    assert tv < max(0.01, 3 * noise), (tv, noise, counts / n, probs)
    big = probs * n >= 5
    if big.sum() >= 2:  # chi-square on the cells with enough expected counts (rest merged)
        obs = np.append(counts[big], counts[~big].sum())
        exp = np.append(probs[big], probs[~big].sum()) * n
        keep = exp > 0
        assert chisquare(obs[keep], exp[keep]).pvalue > 1e-4


@pytest.mark.parametrize(("p", "q"), PQ)
def test_fixed_state_matches_exact_transition(p, q):
    # from v=1 having come from t=0: neighbours 0 (return), 2, 4 (neighbours of 0), 3 (outward)
    a = graph()
    sampler = _Sampler(_prepare(a), p, q)
    rng = np.random.default_rng(0)
    n = 200_000
    x = sampler.second_order(np.full(n, 1), np.full(n, 0), rng)
    nbrs, probs = transition_probabilities(a, 1, 0, p=p, q=q)
    check_distribution(x, nbrs, probs)


@pytest.mark.parametrize(("p", "q"), PQ)
def test_exact_fallback_matches(p, q):
    a = graph()
    sampler = _Sampler(_prepare(a), p, q)
    n = 100_000
    x = sampler.exact(np.full(n, 1), np.full(n, 0), np.random.default_rng(1), budget=1000)
    check_distribution(x, *transition_probabilities(a, 1, 0, p=p, q=q))


def test_fallback_on_hub_graph():
    # hub 0 with 300 neighbours, only 3 of them neighbours of t=1: heavy rejection at q=100
    n = 302
    edges = [(0, k, 1 + k % 4) for k in range(1, n)] + [(1, k, 2) for k in (2, 3, 4)]
    a = graph(edges, n)
    sampler = _Sampler(_prepare(a), 100.0, 100.0)
    x = sampler.second_order(np.full(50_000, 0), np.full(50_000, 1), np.random.default_rng(2))
    check_distribution(x, *transition_probabilities(a, 0, 1, p=100.0, q=100.0))


@pytest.mark.parametrize(("p", "q"), [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25)])
def test_end_to_end_walks_match(p, q):
    a = graph()
    w = random_walks(a, walk_length=3, walks_per_node=150_000, p=p, q=q, start_nodes=[0], seed=3)
    # first step: proportional to the weights of 0's edges
    check_distribution(w[:, 1], *transition_probabilities(a, 0, None))
    # second step from the state (t=0, v=1)
    sel = w[:, 1] == 1
    check_distribution(w[sel, 2], *transition_probabilities(a, 1, 0, p=p, q=q))


@pytest.mark.parametrize(("p", "q"), [(1.0, 1.0), (0.25, 4.0)])
def test_reference_matches_same_distribution(p, q):
    a = graph()
    w = walks_reference(a, walk_length=3, walks_per_node=20_000, p=p, q=q, start_nodes=[0])
    check_distribution(w[:, 1], *transition_probabilities(a, 0, None))
    sel = w[:, 1] == 1
    counts = empirical(w[sel, 2], transition_probabilities(a, 1, 0, p=p, q=q)[0])
    probs = transition_probabilities(a, 1, 0, p=p, q=q)[1]
    assert chisquare(counts, probs * counts.sum()).pvalue > 1e-4


def test_p_q_one_is_weight_proportional():
    a = graph()
    nbrs, probs = transition_probabilities(a, 1, 0, p=1.0, q=1.0)
    w = a[1].toarray().ravel()
    np.testing.assert_allclose(probs, w[nbrs] / w.sum())


@pytest.mark.parametrize("reference", [False, True])
def test_walks_only_use_edges(reference):
    a = random_graph()
    fn = walks_reference if reference else random_walks
    w = fn(a, walk_length=15, walks_per_node=2 if reference else 20, p=0.5, q=2.0, seed=4)
    assert w.shape == (a.shape[0] * (2 if reference else 20), 15)
    np.testing.assert_array_equal(w[:, 0], np.tile(np.arange(a.shape[0]), 2 if reference else 20))
    u, v = w[:, :-1].ravel(), w[:, 1:].ravel()
    ok = v >= 0
    assert np.all(a[u[ok], v[ok]].A1 > 0)
    # -1 only after a -1 or at isolated start nodes
    assert np.all(u[~ok] == -1) | np.all(np.diff(a.indptr)[u[~ok][u[~ok] >= 0]] == 0)


def test_deterministic_by_seed():
    a = random_graph()
    kw = dict(walk_length=10, walks_per_node=5, p=0.5, q=2.0)
    w1 = random_walks(a, seed=7, **kw)
    np.testing.assert_array_equal(w1, random_walks(a, seed=7, **kw))
    assert not np.array_equal(w1, random_walks(a, seed=8, **kw))
    r1 = walks_reference(a, seed=7, **{**kw, "walks_per_node": 1})
    np.testing.assert_array_equal(r1, walks_reference(a, seed=7, **{**kw, "walks_per_node": 1}))


def test_isolated_nodes():
    a = graph()  # node 6 has no edge
    for fn in (random_walks, walks_reference):
        w = fn(a, walk_length=6, walks_per_node=3, seed=0)
        iso = w[:, 0] == 6
        assert iso.sum() == 3
        np.testing.assert_array_equal(w[iso, 1:], -1)
        assert (w[~iso] >= 0).all() and not (w[~iso] == 6).any()
    empty = sp.csr_matrix((4, 4), dtype=np.int32)
    w = random_walks(empty, walk_length=3, walks_per_node=2)
    np.testing.assert_array_equal(w[:, 0], np.tile(np.arange(4), 2))
    np.testing.assert_array_equal(w[:, 1:], -1)


def test_directed_sink_stops():
    a = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 2])), shape=(3, 3))  # 0 -> 1 -> 2, 2 is a sink
    w = random_walks(a, walk_length=5, walks_per_node=1, start_nodes=[0])
    np.testing.assert_array_equal(w, [[0, 1, 2, -1, -1]])


def test_extreme_p_q_shape_the_walks():
    a = random_graph(n=200, density=0.05, seed=5)
    kw = dict(walk_length=3, walks_per_node=20, seed=0)

    def shares(p, q):
        w = random_walks(a, p=p, q=q, **kw)
        t, x = w[:, 0], w[:, 2]
        ok = x >= 0
        t, x = t[ok], x[ok]
        returns = (x == t).mean()
        outward = ((x != t) & (a[t, x].A1 == 0)).mean()
        return returns, outward

    ret_low_q, out_low_q = shares(1.0, 0.01)  # q small: move outward
    _, out_high_q = shares(1.0, 100.0)  # q large: stay local
    assert out_low_q > 0.95 and out_high_q < out_low_q - 0.3
    ret_low_p, _ = shares(0.01, 1.0)  # p small: return almost always
    ret_high_p, _ = shares(100.0, 1.0)
    assert ret_low_p > 0.9 and ret_high_p < 0.05
    assert ret_low_q < 0.05


def test_walk_length_one_and_dtypes():
    a = graph()
    w = random_walks(a, walk_length=1, walks_per_node=2)
    assert w.dtype == np.int32 and w.shape == (14, 1)
    np.testing.assert_array_equal(w[:, 0], np.tile(np.arange(7), 2))
    assert random_walks(a, start_nodes=np.array([], dtype=int)).shape == (0, 20)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"p": 0}, "p"),
        ({"q": -1.0}, "q"),
        ({"q": float("inf")}, "q"),
        ({"walk_length": 0}, "walk_length"),
        ({"walks_per_node": 1.5}, "walks_per_node"),
        ({"start_nodes": [7]}, "start_nodes"),
        ({"start_nodes": [-1]}, "start_nodes"),
    ],
)
def test_parameter_errors(kw, name):
    with pytest.raises(ParameterError, match=name):
        random_walks(graph(), **kw)


def test_adjacency_errors():
    with pytest.raises(ParameterError, match="adjacency"):
        random_walks(np.eye(3))
    with pytest.raises(ParameterError, match="adjacency"):
        random_walks(sp.csr_matrix((2, 3)))
    with pytest.raises(ParameterError, match="adjacency"):
        random_walks(sp.csr_matrix(np.array([[0, -1], [-1, 0]])))
