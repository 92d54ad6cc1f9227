"""A ranker updated with new sequences equals the ranker built on the union, exactly
(issue 31: the kNN and bigram rankers' counts merged)."""

from __future__ import annotations

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.data.vocabulary import concat_sequences, extend_vocabulary, occurring_only
from songspace.evaluation.rankers import BASELINE_RANKERS, make_ranker


@pytest.fixture(scope="module")
def parts():
    """(base, new on the grown vocabulary, their union); new brings tracks base lacks."""
    ds = generate(240, 300, mean_length=12, seed=4)
    base = occurring_only(ds.subset(np.arange(200)))
    grown, new = extend_vocabulary(base, occurring_only(ds.subset(np.arange(200, 240))))
    assert new.n_tracks > base.n_tracks  # new tracks
    return base, new, concat_sequences(grown, new)


@pytest.mark.parametrize("name", ["popularity", *BASELINE_RANKERS])
def test_an_updated_ranker_equals_the_ranker_of_the_union(parts, name):
    base, new, union = parts
    updated = make_ranker(name, base).update(new)  # type: ignore[attr-defined]
    full = make_ranker(name, union)
    np.testing.assert_array_equal(updated.popularity, full.popularity)
    rng = np.random.default_rng(0)
    new_tracks = np.arange(base.n_tracks, union.n_tracks)
    queries = [rng.choice(union.n_tracks, size=k, replace=False) for k in (1, 3, 8)]
    queries += [new_tracks[:1], np.array([new_tracks[0], 0])]
    for seeds in queries:
        np.testing.assert_array_equal(updated.scores(seeds), full.scores(seeds))


def test_merged_counts_are_the_union_counts(parts):
    base, new, union = parts
    knn = make_ranker("itemknn", base).update(new)  # type: ignore[attr-defined]
    assert (knn.similarity != make_ranker("itemknn", union).similarity).nnz == 0
    bigram = make_ranker("bigram", base).update(new)  # type: ignore[attr-defined]
    assert (bigram.transitions != make_ranker("bigram", union).transitions).nnz == 0
    # a hand count: the transitions of a new track are those of the new sequences
    t = union.n_tracks - 1
    follows = sum(
        int(a == t and b != t)
        for s in range(new.n_sequences)
        for a, b in zip(new.sequence(s)[:-1], new.sequence(s)[1:], strict=True)
    )
    assert bigram.transitions[t].sum() == follows
