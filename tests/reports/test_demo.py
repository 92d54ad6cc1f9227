"""`songspace demo`'s experiment: the sequential synthetic data, the counting baselines and
the two-stage recommender's row (issue 30 part 7)."""

from __future__ import annotations

import sys

import pytest

from songspace.evaluation.results import compare
from songspace.reports.compare import run_compare
from songspace.reports.defaults import DEMO_SEQUENTIAL
from songspace.reports.summary import (
    DEMO_RANKERS,
    DEMO_RECOMMENDER,
    demo_config,
    demo_notes,
    demo_recommender,
)

NEXT_SONG_HR = ("next_song_in_set_hit_rate", "next_song_out_of_set_hit_rate")
NEXT_SONG_NDCG = ("next_song_in_set_ndcg", "next_song_out_of_set_ndcg")


def test_the_demo_runs_on_sequential_data_with_the_rankers_and_the_recommender():
    cfg = demo_config(n_playlists=300, n_tracks=400, seed=3)
    assert cfg.dataset.synthetic == {
        "n_playlists": 300,
        "n_tracks": 400,
        "sequential": DEMO_SEQUENTIAL,
        "seed": 3,
    }
    assert DEMO_SEQUENTIAL > 0
    assert cfg.protocol.rankers == DEMO_RANKERS == ("sknn", "bigram")
    rec = cfg.recommender
    assert rec is not None and rec.name == DEMO_RECOMMENDER["name"] == "twostage"
    assert rec.embeddings == ("track2vec",) and rec.params == DEMO_RECOMMENDER["params"]
    assert demo_config(sequential=0.0).dataset.synthetic["sequential"] == 0.0
    assert demo_config(recommender=None).recommender is None
    # a dataset directory replaces the synthetic one (its sequential option goes with it)
    assert demo_config("some/dir").dataset.synthetic is None


def test_without_lightgbm_the_demo_leaves_the_recommender_out_and_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    table, why = demo_recommender()
    assert table is None
    assert why is not None and "lightgbm" in why and "songspace[recommender]" in why


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo's experiment, smaller, with Track2Vec as its one model (the recommender's
    embedding): the rows the recommender is judged against."""
    pytest.importorskip("lightgbm")
    cfg = demo_config(n_playlists=800, n_tracks=800, min_tracks=20)
    return run_compare(cfg, tmp_path_factory.mktemp("demo") / "run", only=["track2vec"])


def test_the_recommender_beats_popularity_and_the_counts_on_next_song(demo_run):
    assert demo_recommender()[0] is DEMO_RECOMMENDER
    rows = [r.name for r in demo_run.main_table.rows]
    assert rows == ["random", "popularity", "sknn", "bigram", "track2vec", "twostage"]
    results = {r.model: r for r in demo_run.results[0.5]}
    rec, pop = results["twostage"], results["popularity"]
    for name in NEXT_SONG_HR:
        mine, theirs = rec.metrics[name].value, pop.metrics[name].value
        # order carries the signal: popularity cannot find the chain's next track
        assert mine > theirs + 0.1, (name, mine, theirs)
        assert compare(rec, pop, metrics=[name])[name].significant, name
        # the embedding's cosine alone does not read order either
        assert mine > results["track2vec"].metrics[name].value, name
    # it combines the two counts, co-occurrence (sknn) and order (bigram): it ranks the
    # next track higher than either (on the same data without the order signal, its
    # in-set NDCG only matches sknn's)
    for name in NEXT_SONG_NDCG:
        for ranker in DEMO_RANKERS:
            test = compare(rec, results[ranker], metrics=[name])[name]
            assert test.value_a > test.value_b and test.significant, (ranker, test)


def test_the_notes_say_what_the_rows_show_with_the_measured_values(demo_run):
    notes = demo_notes(demo_run)
    text = "\n".join(notes)
    for row in ("random, popularity", "sknn, bigram", "track2vec", "twostage"):
        assert row in text, row
    assert f"sequential {DEMO_SEQUENTIAL:g}" in text
    results = {r.model: r.metrics for r in demo_run.results[0.5]}
    figures = notes[-1]
    assert figures.startswith("Next-song HitRate@100 (in-set / out-of-set): ")
    for name in ("twostage", "sknn", "bigram", "popularity"):
        a, b = (results[name][m].value for m in NEXT_SONG_HR)
        assert f"{name} {a:.2f} / {b:.2f}" in figures, name
    a, b = (results["track2vec"][m].value for m in NEXT_SONG_HR)
    assert figures.endswith(f"best model track2vec {a:.2f} / {b:.2f}.")
