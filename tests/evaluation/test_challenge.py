"""RecSys Challenge 2018 metrics against hand-computed values, and the case builder."""

import math

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.evaluation.challenge import (
    TitlePopularity,
    challenge_cases,
    challenge_evaluation,
    clicks,
    ndcg_challenge,
    r_precision,
)
from songspace.evaluation.rankers import PopularityRanker


def test_r_precision_tracks_only():
    # G = {1, 2, 3, 4}; R[:4] = [1, 9, 3, 8] -> 2 hits / 4
    assert r_precision([1, 9, 3, 8, 2], [1, 2, 3, 4]) == 0.5


def test_r_precision_artist_credit():
    artist = np.array([0, 0, 1, 2, 3, 3, 4, 2, -1, 5])
    # G = {1, 2, 3, 4}: artists {0, 1, 2, 3}; R[:4] = [1, 5, 7, 8]: track hit 1,
    # artists of R[:4] {0, 3, 2} (8 unknown) -> 3 artist matches
    got = r_precision([1, 5, 7, 8, 2], [1, 2, 3, 4], artist)
    assert got == pytest.approx((1 + 0.25 * 3) / 4)
    # every track a hit: 1 + 0.25 * distinct artists / |G| (the rules' formula exceeds 1)
    assert r_precision([1, 2, 3, 4], [1, 2, 3, 4], artist) == pytest.approx(1 + 0.25 * 4 / 4)


def test_ndcg_with_the_rules_ideal_dcg():
    # hits at ranks 2 and 4 of 5; |G| = 3 but only 2 retrieved: IDCG over 2 hits
    got = ndcg_challenge([9, 1, 8, 2, 7], [1, 2, 3])
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert got == pytest.approx(dcg / idcg)
    assert ndcg_challenge([1, 2, 9], [1, 2, 3]) == pytest.approx(1.0)
    assert ndcg_challenge([7, 8], [1]) == 0.0


def test_clicks_including_the_cap():
    rec = list(range(100, 600))  # 500 recommendations
    assert clicks([5, *rec[:499]], [5]) == 0  # first relevant at rank 1
    r = rec.copy()
    r[9] = 5  # rank 10 -> still the first page
    assert clicks(r, [5]) == 0
    r = rec.copy()
    r[10] = 5  # rank 11 -> one refresh
    assert clicks(r, [5]) == 1
    r = rec.copy()
    r[499] = 5  # rank 500 -> 49 refreshes
    assert clicks(r, [5]) == 49
    assert clicks(rec, [5]) == 51  # none of the 500 relevant


def _dataset(names):
    seqs = [list(range(i, i + 30)) for i in range(0, 60, 3)]
    indptr = np.cumsum([0] + [len(s) for s in seqs])
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(100)],
        indptr=indptr,
        indices=np.concatenate(seqs),
        sequence_ids=np.array([f"p{i}" for i in range(len(seqs))], dtype=object),
        sequence_names=None if names is None else np.array(names, dtype=object),
    )


def test_cases_cut_seeds_and_skip_title_categories_without_titles():
    ds = _dataset(None)
    cases = challenge_cases(ds, np.arange(ds.n_sequences), seed=0)
    assert set(cases.skipped) == {
        "title",
        "title_first1",
        "title_first5",
        "title_first10",
        "title_first25",
        "title_random25",
        "title_first100",
        "title_random100",
    }
    assert {c.category for c in cases.cases} == {"first5", "first10"}
    for c in cases.cases:
        seq = ds.sequence(c.sequence)
        n = 5 if c.category == "first5" else 10
        assert c.seeds.tolist() == seq[:n].tolist()
        assert c.truth.tolist() == seq[n:].tolist()


def test_random_seeds_and_title_fallback():
    names = ["Chill"] * 10 + ["Rock"] * 10
    ds = _dataset(names)
    cases = challenge_cases(ds, np.arange(ds.n_sequences), seed=1)
    assert "title_first100" in cases.skipped  # playlists hold 30 tracks
    rand = [c for c in cases.cases if c.category == "title_random25"]
    assert rand
    for c in rand:
        seq = ds.sequence(c.sequence)
        assert len(c.seeds) == 25 and len(c.truth) == 5
        assert set(c.seeds) | set(c.truth) == set(seq.tolist())
    fb = TitlePopularity.fit(ds)
    # "chill" playlists are p0..p9 = tracks 0..56; the most frequent first
    got = fb.recommend("  CHILL ", np.array([], dtype=np.int64), 3)
    assert got.tolist() == [27, 28, 29]  # each in 10 playlists, ties by index
    res = challenge_evaluation(PopularityRanker.fit(ds), cases, fb)
    names_out = {m.name for m in res}
    assert {"challenge_r_precision", "challenge_ndcg", "challenge_clicks"} <= names_out
    overall = {m.name: m for m in res}["challenge_clicks"]
    assert overall.higher_is_better is False
    assert len(overall.per_query) == len(cases.cases)


def test_challenge_family_in_the_suite_and_opt_in():
    from songspace.data.synthetic import generate
    from songspace.evaluation.protocol import make_protocol
    from songspace.evaluation.suite import FAMILY_METRICS, check_families, evaluate_many

    ds = generate(n_playlists=400, n_tracks=500, seed=0)
    proto = make_protocol(ds, seed=0, fractions=(0.8, 0.1, 0.1))
    assert "challenge" not in check_families(None, proto)
    results, _ = evaluate_many(
        proto,
        [],
        families=["challenge"],
        rankers=["itemknn", "bigram"],
    )
    assert [r.model for r in results] == ["random", "popularity", "itemknn", "bigram"]
    for r in results:
        assert tuple(r.metrics) == FAMILY_METRICS["challenge"]
        per = r.metrics["challenge_r_precision"].info["per_category"]
        assert set(per) == {"first5", "first10"}  # synthetic playlists have no titles
    by = {r.model: r.metrics["challenge_r_precision"].value for r in results}
    # planted co-occurrence structure: item-kNN beats popularity, which beats random
    assert by["itemknn"] > by["popularity"] > by["random"]


def test_a_validation_protocol_scores_the_challenge_on_validation_playlists():
    """Scoring the Challenge on the validation protocol of tuning_protocols must draw its
    cases from the validation sequences, never the test ones (it read split.test)."""
    from songspace.data.synthetic import generate
    from songspace.evaluation.challenge import evaluate_challenge
    from songspace.evaluation.embeddings import Embeddings
    from songspace.tuning.protocols import tuning_protocols

    ds = generate(n_playlists=400, n_tracks=500, seed=0)
    both = tuning_protocols(ds, seed=0, heldout_fraction=0.1)
    rng = np.random.default_rng(0)
    emb = Embeddings.from_array(rng.normal(size=(ds.n_tracks, 8)), ds.n_tracks, name="random")
    for proto, part in ((both.validation, "validation"), (both.test, "test")):
        evaluate_challenge(proto, emb)
        cases = proto._cache["challenge"][0].cases
        held = getattr(proto.split, part)
        assert cases and {c.sequence for c in cases} <= set(held.tolist())
    val_seqs = {c.sequence for c in both.validation._cache["challenge"][0].cases}
    assert not val_seqs & set(both.test.split.test.tolist())
