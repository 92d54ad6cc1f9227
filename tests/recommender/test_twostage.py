"""The two-stage recommender: it learns a planted sequential signal, round-trips through
LightGBM's text format, never reads a test sequence, and takes plug-ins and ablations."""

import json
import sys

import numpy as np
import pytest

from songspace.errors import FormatError, InvalidValueError, MissingDependencyError, ParameterError
from songspace.evaluation.candidates import Scored, stage1_generator
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.results import compare
from songspace.evaluation.suite import SuiteSettings, evaluate
from songspace.recommender import TwoStageRanker, ablations
from songspace.recommender.backoff import tail_auc
from tests.recommender.conftest import (
    FAST,
    N_TRACKS,
    dataset_of,
    planted_sequences,
    protocol_of,
    svd_embeddings,
)

pytest.importorskip("lightgbm")

K10 = SuiteSettings(k=10)
QUERIES = [np.array([3]), np.array([17, 5]), np.array([250, 1, 42, 9])]


def test_it_ranks_a_planted_sequential_signal_above_popularity(planted, fitted):
    _, p, _ = planted
    mine = evaluate(
        p, Embeddings.from_ranker(fitted, N_TRACKS), families=["next_song"], settings=K10
    )
    pop = evaluate(p, Embeddings.popularity_baseline(p.train), families=["next_song"], settings=K10)
    for part in ("in_set", "out_of_set"):
        name = f"next_song_{part}_hit_rate"
        a, b = mine.metrics[name], pop.metrics[name]
        assert a.value > b.value + 0.2, (part, a.value, b.value)
        assert compare(mine, pop, metrics=[name])[name].significant
    # its settings travel with its results, as a baseline ranker's do
    assert mine.info["settings"]["depth"] == FAST["depth"]


def test_save_and_load_give_identical_scores(planted, fitted, tmp_path):
    _, p, embs = planted
    fitted.save(tmp_path / "rec")
    assert sorted(f.name for f in (tmp_path / "rec").iterdir()) == ["model.txt", "recommender.json"]
    text = (tmp_path / "rec" / "model.txt").read_text()
    assert text.startswith("tree")  # LightGBM's text format, no pickle
    loaded = TwoStageRanker.load(tmp_path / "rec", p.train, embs)
    for seeds in QUERIES:
        np.testing.assert_array_equal(loaded.scores(seeds), fitted.scores(seeds))
        a, b = loaded.recommend(seeds, 10), fitted.recommend(seeds, 10)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert loaded.params == fitted.params
    assert stage1_generator(loaded) is loaded.stage1  # what the stage1 family measures
    assert loaded.feature_importance() == fitted.feature_importance()
    doc = json.loads((tmp_path / "rec" / "recommender.json").read_text())
    assert doc["format"] == "songspace-recommender"
    assert doc["training"]["best_iteration"] >= 1


def test_load_refuses_another_training_view_other_embeddings_or_a_damaged_file(
    planted, fitted, tmp_path
):
    _, p, embs = planted
    fitted.save(tmp_path / "rec")
    other = protocol_of(dataset_of(planted_sequences(seed=1)))
    with pytest.raises(InvalidValueError, match="training view"):
        TwoStageRanker.load(tmp_path / "rec", other.train, embs)
    shuffled = svd_embeddings(p.train, dim=6)
    with pytest.raises(InvalidValueError, match="embedding 'svd'"):
        TwoStageRanker.load(tmp_path / "rec", p.train, [shuffled])
    with pytest.raises(ParameterError, match="an embedding named 'svd'"):
        TwoStageRanker.load(tmp_path / "rec", p.train, [])
    (tmp_path / "rec" / "recommender.json").write_text("{")
    with pytest.raises(FormatError, match="expected JSON"):
        TwoStageRanker.load(tmp_path / "rec", p.train, embs)


def _with_other(seqs, parts, seed):
    """The sequences with those of ``parts`` replaced by random tracks (same lengths)."""
    rng = np.random.default_rng(seed)
    out = [list(s) for s in seqs]
    for i in parts:
        out[int(i)] = rng.integers(0, N_TRACKS, size=len(out[int(i)])).tolist()
    return out


def test_no_feature_reads_a_test_sequence(planted, fitted):
    """Two datasets that differ only in their test sequences give the same recommender: the
    same model text and the same scores. A generator, a feature or the training queries
    that read a test sequence would tell them apart."""
    _, p, _ = planted
    seqs = planted_sequences()
    other = protocol_of(dataset_of(_with_other(seqs, p.split.test, seed=7)))
    np.testing.assert_array_equal(other.split.test, p.split.test)
    assert not np.array_equal(
        other.dataset.indices[other.dataset.indptr[p.split.test[0]] :][:5],
        p.dataset.indices[p.dataset.indptr[p.split.test[0]] :][:5],
    )
    again = TwoStageRanker.fit(other, [svd_embeddings(other.train)], **FAST)
    assert again.booster.model_to_string() == fitted.booster.model_to_string()
    for seeds in QUERIES:
        np.testing.assert_array_equal(again.scores(seeds), fitted.scores(seeds))


def test_generators_and_features_read_the_training_view_only(planted, fitted):
    """Other validation sequences change the model (they are its training data) but not
    stage 1 or the features: those come from the training view alone."""
    _, p, _ = planted
    other = protocol_of(dataset_of(_with_other(planted_sequences(), p.split.validation, 3)))
    stage1, blocks, _ = TwoStageRanker.build(other.train, [svd_embeddings(other.train)], **FAST)
    from songspace.recommender.features import feature_matrix

    for seeds in QUERIES:
        a = stage1.candidates(seeds, FAST["depth"])
        b, x = fitted.candidate_features(seeds)
        np.testing.assert_array_equal(a.tracks, b.tracks)
        np.testing.assert_array_equal(feature_matrix(blocks, seeds, a), x)


def test_the_training_queries_come_from_validation_sequences_split_by_sequence(planted, fitted):
    _, p, _ = planted
    t = fitted.description["training"]
    assert t["next_song"] == FAST["next_song_queries"]
    assert t["completion"] == np.sum(
        np.diff(p.dataset.incidence().indptr)[p.split.validation] >= 10
    )
    from songspace.recommender.training import training_queries

    q = training_queries(
        p.dataset,
        p.split.validation,
        next_song=100,
        completion=None,
        min_tracks=10,
        seed_fraction=0.5,
        early_stopping_share=0.25,
        seed=0,
    )
    assert set(q.sequence) <= set(p.split.validation)
    # no sequence gives queries to both the fitting and the early-stopping part
    assert not set(q.sequence[q.early_stopping]) & set(q.sequence[~q.early_stopping])
    assert 0 < q.early_stopping.mean() < 0.5


def test_ablations_leave_out_the_embeddings(planted):
    _, p, embs = planted
    second = svd_embeddings(p.train, dim=4, name="small")
    assert ablations(["svd", "small"]) == {
        "no_embeddings": {"embedding_generators": (), "embedding_features": ()},
        "without_svd": {"embedding_generators": ("small",), "embedding_features": ("small",)},
        "without_small": {"embedding_generators": ("svd",), "embedding_features": ("svd",)},
    }
    full = TwoStageRanker.build(p.train, [*embs, second], **FAST)[2]
    assert "svd.cos_last" in full["feature_names"] and "small.cos_max" in full["feature_names"]
    none = TwoStageRanker.build(
        p.train, [*embs, second], **FAST, **ablations(["svd"])["no_embeddings"]
    )
    assert not [n for n in none[2]["feature_names"] if n.startswith(("svd", "small"))]
    assert none[0].names == ("sknn", "itemknn", "successors", "popular")
    one = TwoStageRanker.build(
        p.train, [*embs, second], **FAST, **ablations(["svd", "small"])["without_svd"]
    )
    assert not [n for n in one[2]["feature_names"] if n.startswith("svd")]
    assert "small.last" in one[0].names
    features_only = TwoStageRanker.build(p.train, embs, **FAST, embedding_features=())
    assert "svd.last" in features_only[0].names
    assert "svd.cos_last" not in features_only[2]["feature_names"]
    with pytest.raises(ParameterError, match="embedding_features"):
        TwoStageRanker.build(p.train, embs, embedding_features=("nope",))


class Successor:
    """A plug-in generator: the next track index (wrapping)."""

    name = "next_index"

    def candidates(self, seeds, n):
        nxt = (int(seeds[-1]) + 1) % N_TRACKS
        return Scored(np.array([nxt])[:n], np.ones(min(n, 1)))


class Parity:
    """A plug-in feature: whether the candidate's index is even."""

    name = "parity"
    names = ("even",)

    def values(self, seeds, candidates):
        return (candidates.tracks % 2 == 0).astype(float)[:, None]


def test_plug_in_generators_and_features(planted, tmp_path):
    _, p, embs = planted
    fast = {**FAST, "next_song_queries": 150, "num_iterations": 10}
    r = TwoStageRanker.fit(
        p, embs, generators=[Successor()], features=[Parity()], name="plugged", **fast
    )
    assert r.name == "plugged"  # beside the default "twostage" in one evaluation
    assert "next_index" in r.stage1.names
    assert {"next_index.score", "next_index.rank", "even"} <= set(r.feature_names)
    assert set(r.feature_importance("split")) == set(r.feature_names)
    r.save(tmp_path / "rec")
    with pytest.raises(ParameterError, match="your own candidate generator named 'next_index'"):
        TwoStageRanker.load(tmp_path / "rec", p.train, embs)
    back = TwoStageRanker.load(
        tmp_path / "rec", p.train, embs, plugins={"next_index": Successor(), "parity": Parity()}
    )
    np.testing.assert_array_equal(back.scores(QUERIES[0]), r.scores(QUERIES[0]))
    assert back.name == "plugged"


def test_a_missing_lightgbm_names_the_extra(planted, monkeypatch):
    _, p, embs = planted
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingDependencyError, match=r"songspace\[recommender\]"):
        TwoStageRanker.fit(p, embs, **{**FAST, "next_song_queries": 20, "completion_queries": 0})


def test_bad_settings_are_refused_before_any_work(planted):
    _, p, embs = planted
    with pytest.raises(ParameterError, match=r"twostage\.depth"):
        TwoStageRanker.fit(p, embs, depth=0)
    with pytest.raises(ParameterError, match=r"twostage\.nope"):
        TwoStageRanker.fit(p, embs, nope=1)
    with pytest.raises(ParameterError, match="baseline"):
        TwoStageRanker.build(p.train, embs, rankers={"nope": {}})


def test_remembering_queries_gives_identical_scores_and_candidates(planted, fitted):
    fresh = {
        i: (fitted.scores(s), fitted.recommend(s, 10), fitted.stage1.candidates(s, 1000))
        for i, s in enumerate(QUERIES)
    }
    fitted.remember(100)
    try:
        for _ in range(2):  # the second pass reads the memo
            for i, s in enumerate(QUERIES):
                scores, (top, top_scores), deep = fresh[i]
                np.testing.assert_array_equal(fitted.scores(s), scores)
                got = fitted.recommend(s, 10)
                np.testing.assert_array_equal(got[0], top)
                np.testing.assert_array_equal(got[1], top_scores)
                cset = fitted.stage1.candidates(s, 1000)
                np.testing.assert_array_equal(cset.tracks, deep.tracks)
                np.testing.assert_array_equal(cset.generator_ranks, deep.generator_ranks)
        assert len(fitted._memo) == len(QUERIES)
    finally:
        fitted.remember(0)
    assert not fitted._memo


def test_tail_auc_against_a_hand_computed_order():
    scores = np.array([0.0, 3.0, 1.0, 1.0, 2.0, 9.0])
    popularity = np.array([5.0, 0.0, 2.0, 4.0, 0.0, 0.0])
    outside = np.array([True, True, True, True, True, False])  # track 5: a candidate
    # order: 1 (3.0), 4 (2.0), 3 (1.0, more popular), 2 (1.0), 0 (0.0)
    # targets 4 and 2 against the others 1, 3, 0: 4 is above 3 and 0, 2 above 0 alone
    assert tail_auc(scores, popularity, outside, np.array([4, 2])) == pytest.approx(1 / 2)
    assert tail_auc(scores, popularity, outside, np.array([5])) is None  # not outside
    # popularity alone (zeros): 0 (5), 3 (4), 2 (2), 1 (0), 4 (0, index): 1 above 4 alone
    assert tail_auc(np.zeros(6), popularity, outside, np.array([1])) == pytest.approx(1 / 4)


def _clustered(n_groups=7, size=40, n_seq=600, length=20, seed=0):
    """Playlists each drawn from one group of tracks, uniform popularity: a track that
    co-occurred with a seed is the next one far more often than a popular one."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_seq):
        g = rng.integers(n_groups)
        seqs.append((g * size + rng.choice(size, size=length)).tolist())
    return seqs


def _with_backoff(rec, name, train):
    from songspace.recommender.twostage import _backoff_ranker

    return TwoStageRanker(
        rec.stage1,
        rec.features,
        rec.booster,
        params=rec.params,
        popularity=rec.popularity,
        description=rec.description,
        backoff=_backoff_ranker(rec.stage1, train, name),
    )


@pytest.mark.parametrize("data", ["planted", "clustered"])
def test_fit_keeps_the_backoff_that_ranks_held_out_completions_better(planted, data):
    if data == "planted":  # popularity explains much of each playlist
        _, p, embs = planted
    else:  # the groups: only co-occurrence finds a hidden track
        p, embs = protocol_of(dataset_of(_clustered())), []
    rec = TwoStageRanker.fit(p, embs, **{**FAST, "depth": 3, "popular": 0})
    info = rec.description["backoff"]
    assert info["queries"] > 0 and set(info["tail_auc"]) == {"popularity", "itemknn"}
    expected = {"planted": "popularity", "clustered": "itemknn"}[data]
    assert info["chosen"] == expected, info
    other = "itemknn" if expected == "popularity" else "popularity"
    hr = {
        name: evaluate(
            p,
            Embeddings.from_ranker(_with_backoff(rec, name, p.train), N_TRACKS),
            families=["completion"],
            settings=K10,
        )
        .metrics["completion_hr"]
        .value
        for name in (expected, other)
    }
    assert hr[expected] > hr[other], hr  # on the test split, which the choice never saw


def test_the_tail_outside_stage_1_keeps_the_backoff_rankers_order(planted, tmp_path):
    _, p, embs = planted
    rec = TwoStageRanker.fit(p, embs, **FAST, backoff=("itemknn",))
    itemknn = rec.backoff
    assert itemknn is not None and itemknn is rec.stage1.generators[1].ranker  # stage 1's
    for seeds in QUERIES:
        out = rec.scores(seeds)
        cand = rec.stage1.candidates(seeds, rec.params["depth"]).tracks
        tail = np.setdiff1d(np.arange(N_TRACKS), cand)
        assert out[tail].max() < out[cand].min()
        b = itemknn.scores(seeds)[tail]
        i, j = np.triu_indices(len(tail), 1)
        np.testing.assert_array_equal(np.sign(out[tail][i] - out[tail][j]), np.sign(b[i] - b[j]))
    rec.save(tmp_path / "rec")
    loaded = TwoStageRanker.load(tmp_path / "rec", p.train, embs)
    assert loaded.description["backoff"]["chosen"] == "itemknn"
    np.testing.assert_array_equal(loaded.scores(QUERIES[2]), rec.scores(QUERIES[2]))


def test_a_recommender_saved_without_a_backoff_ranks_its_tail_by_popularity(
    planted, fitted, tmp_path
):
    _, p, embs = planted
    fitted.save(tmp_path / "rec")
    doc_path = tmp_path / "rec" / "recommender.json"
    doc = json.loads(doc_path.read_text())
    del doc["params"]["backoff"], doc["backoff"]  # as saved before the back-off existed
    doc_path.write_text(json.dumps(doc))
    old = TwoStageRanker.load(tmp_path / "rec", p.train, embs)
    assert old.backoff is None
    for seeds in QUERIES:
        cand = old.stage1.candidates(seeds, old.params["depth"]).tracks
        tail = np.setdiff1d(np.arange(N_TRACKS), cand)
        assert len(np.unique(old.scores(seeds)[tail])) == 1  # one level: top_k's order
        np.testing.assert_array_equal(old.scores(seeds)[cand], fitted.scores(seeds)[cand])
