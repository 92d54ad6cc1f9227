"""False-neighbour rejection (W2V §2.2): chi-squared table and HardNeg."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from songspace.data.builder import finish_dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.hardneg import (
    chi_squared_pairs,
    chi_squared_statistic,
    hard_negatives,
    hardneg,
)


def make_dataset(seqs, n_tracks):
    lengths = [len(s) for s in seqs]
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
    )


# sequences: adjacent pairs {0,1} x3 (one reversed), {1,2} x1, {2,3} x2, {0,3} x1; "3 3" skipped
SEQS = [[0, 1, 2], [1, 0], [0, 1], [2, 3, 3], [3, 2], [0, 3]]


def test_chi_squared_matches_hand_table_and_scipy():
    ds = make_dataset(SEQS, 4)
    pairs = chi_squared_pairs(ds)
    assert pairs.n_pairs == 7
    got = {
        (int(a), int(b)): (int(c), float(x))
        for a, b, c, x in zip(pairs.a, pairs.b, pairs.count, pairs.chi2, strict=True)
    }
    assert {k: v[0] for k, v in got.items()} == {(0, 1): 3, (1, 2): 1, (2, 3): 2, (0, 3): 1}
    # pair {0,1}: n_a = 4 (pairs with 0), n_b = 4 (pairs with 1), N = 7
    table = np.array([[3, 1], [1, 2]])
    # by hand: expected [[16/7, 12/7], [12/7, 9/7]]
    expected = np.array([[16, 12], [12, 9]]) / 7
    hand = float(((table - expected) ** 2 / expected).sum())
    assert got[(0, 1)][1] == pytest.approx(hand)
    assert hand == pytest.approx(chi2_contingency(table, correction=False)[0])
    for (a, b), (c, x) in got.items():
        n_a = sum(v[0] for k, v in got.items() if a in k)
        n_b = sum(v[0] for k, v in got.items() if b in k)
        t = np.array([[c, n_a - c], [n_b - c, 7 - n_a - n_b + c]])
        assert x == pytest.approx(chi2_contingency(t, correction=False)[0])


def test_independent_pair_is_hard_negative():
    # exact independence: n_ab * N == n_a * n_b gives statistic 0
    assert chi_squared_statistic(2, 4, 4, 8) == 0.0
    assert np.isnan(chi_squared_statistic(1, 3, 1, 3))  # a in every pair: empty margin
    ds = make_dataset(SEQS, 4)
    h = hard_negatives(ds, min_count=1, threshold=0.5)
    pairs = chi_squared_pairs(ds)
    want = {
        (int(a), int(b)) for a, b, x in zip(pairs.a, pairs.b, pairs.chi2, strict=True) if x < 0.5
    }
    got = set(zip(*h.nonzero(), strict=True))
    assert got == want | {(b, a) for a, b in want}
    assert (h != h.T).nnz == 0
    # min_count filters
    assert hard_negatives(ds, min_count=100, threshold=1e9).nnz == 0
    # default threshold: 1e-7 x n_entries -> tiny, only exact-zero statistics
    assert hard_negatives(ds, min_count=1).nnz == 0


def test_hardneg_metric_by_hand():
    ds = make_dataset(SEQS, 4)
    h = hard_negatives(ds, min_count=1, threshold=1e9)  # every non-NaN pair
    # 2-D layout: 0 near 1, 2 near 3
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    emb = Embeddings.from_array(v, 4)
    res = hardneg(emb, h, k=1)
    assert not res.higher_is_better and res.name == "hardneg"
    expected = []
    for q in np.flatnonzero(np.diff(h.indptr)):
        nn = {0: 1, 1: 0, 2: 3, 3: 2}[q]
        expected.append(float(h[q, nn]))
    np.testing.assert_allclose(res.per_query, expected)
    assert res.value == pytest.approx(np.mean(expected))


def test_hardneg_on_synthetic_runs_and_bad_input():
    from songspace.data.synthetic import generate

    ds = generate(300, 200, seed=1)
    emb = Embeddings.random(ds.n_tracks, 16, seed=0)
    res = hardneg(emb, ds, k=20, min_count=2, threshold=2.0)
    assert 0 <= res.value <= 1 and res.per_query.size == res.info["n_queries"] > 0
    with pytest.raises(ParameterError):
        hard_negatives(ds, min_count=0)
    with pytest.raises(ParameterError):
        hardneg(emb, np.zeros((3, 3)))
    import scipy.sparse as sp

    with pytest.raises(InvalidValueError):
        hardneg(emb, sp.csr_matrix((3, 3), dtype=bool))
