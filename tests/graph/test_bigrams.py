"""Adjacent-pair counts (W2V §2.2) against a brute-force count."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from songspace.errors import ParameterError
from songspace.graph import adjacent_pairs, bigram_counts
from tests.graph.test_cooccurrence import make_dataset, random_sequences


def brute_force(seqs: list[list[int]], ordered: bool, include_self: bool) -> Counter:
    counts: Counter[tuple[int, int]] = Counter()
    for s in seqs:
        for a, b in itertools.pairwise(s):
            if a == b and not include_self:
                continue
            if ordered or a == b:
                counts[a, b] += 1
            else:
                counts[a, b] += 1
                counts[b, a] += 1
    return counts


def as_counter(matrix) -> Counter:
    coo = matrix.tocoo()
    return Counter(
        {(int(a), int(b)): int(c) for a, b, c in zip(coo.row, coo.col, coo.data, strict=True)}
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("include_self", [True, False])
def test_matches_brute_force(seed: int, ordered: bool, include_self: bool) -> None:
    seqs = random_sequences(seed, n_tracks=15)  # small vocabulary: many repeats and self-pairs
    c = bigram_counts(make_dataset(seqs, 15), ordered=ordered, include_self=include_self)
    assert c.shape == (15, 15)
    assert c.dtype == np.int64
    assert c.has_canonical_format
    assert as_counter(c) == brute_force(seqs, ordered, include_self)
    if not ordered:
        assert (c != c.T).nnz == 0
    if not include_self:
        assert not np.any(c.diagonal())


def test_hand_example() -> None:
    # A B A B | B A | C C D | D   (A..D = 0..3)
    ds = make_dataset([[0, 1, 0, 1], [1, 0], [2, 2, 3], [3]], 4)
    ordered = bigram_counts(ds).toarray()
    np.testing.assert_array_equal(ordered, [[0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(
        bigram_counts(ds, include_self=True).toarray(),
        [[0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]],
    )
    np.testing.assert_array_equal(
        bigram_counts(ds, ordered=False, include_self=True).toarray(),
        [[0, 4, 0, 0], [4, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]],
    )
    a, b = adjacent_pairs(ds)
    np.testing.assert_array_equal(a, [0, 1, 0, 1, 2])
    np.testing.assert_array_equal(b, [1, 0, 1, 0, 3])


def test_pairs_never_cross_sequences() -> None:
    ds = make_dataset([[0], [1], [2, 3], [0]], 4)
    c = bigram_counts(ds, ordered=False)
    assert as_counter(c) == Counter({(2, 3): 1, (3, 2): 1})
    # empty sequences (tuple input), including leading and trailing ones
    ip = np.array([0, 0, 2, 2, 3, 3])
    c = bigram_counts((ip, np.array([0, 1, 2]), 3))
    assert as_counter(c) == Counter({(0, 1): 1})
    assert bigram_counts((np.array([0]), np.array([], dtype=np.int32), 2)).nnz == 0


@pytest.mark.parametrize("kwargs", [{"ordered": "yes"}, {"include_self": 1}])
def test_bad_parameters(kwargs) -> None:
    with pytest.raises(ParameterError):
        bigram_counts(make_dataset([[0, 1]], 2), **kwargs)
    with pytest.raises(ParameterError, match="indices"):
        bigram_counts((np.array([0, 2]), np.array([0, 5]), 2))
