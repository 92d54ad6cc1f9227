import csv
import json

import numpy as np
import pytest

from songspace.errors import InvalidValueError, ParameterError
from songspace.reports.compare import dataset_fingerprint, merge_seeds, run_compare
from songspace.reports.config import parse_config
from songspace.reports.tables import to_csv, to_markdown
from tests.reports.conftest import small_config


def mtimes(run_dir):
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in run_dir.glob("cache/*/model/*")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "run"
    return run_compare(parse_config(small_config()), out)


def test_run_writes_tables_figures_per_query_and_report(first_run):
    rep = first_run.report_dir
    for name in (
        "table.md",
        "table.csv",
        "results.json",
        "report.html",
        "per_query_completion.csv",
    ):
        assert (rep / name).is_file(), name
    md = (rep / "table.md").read_text()
    for row in ("| RANDOM |", "| POPULARITY |", "| TRACK2VEC |", "| CF |"):
        assert row in md
    figs = {p.name for p in (rep / "figures").glob("*.png")}
    assert {
        "completion.png",
        "training_times.png",
        "tradeoff_vrc_hitrate.png",
        "popularity_diagonal.png",
        "popularity_buckets_t2v.png",
    } <= figs
    # Per-query values of every model on the same playlists.
    per_query = rep / "per_query" / "seed-0" / "seed_fraction-0.5"
    assert {p.name for p in per_query.glob("*.json")} == {
        "random.json",
        "popularity.json",
        "t2v.json",
        "cf.json",
    }
    rows = list(csv.DictReader((rep / "per_query_completion.csv").open()))
    n_playlists = first_run.protocols[0]["completion_playlists"]
    assert n_playlists > 5
    assert len(rows) == 4 * n_playlists
    hr_t2v = [float(r["completion_hr"]) for r in rows if r["model"] == "t2v"]
    t2v = next(r for r in first_run.results[0.5] if r.model == "t2v")
    assert np.mean(hr_t2v) == pytest.approx(t2v.metrics["completion_hr"].value)
    doc = json.loads((rep / "results.json").read_text())
    assert doc["results"]["0.5"]["random"]["completion_hr"] == pytest.approx(
        first_run.main_table.row("random").cells["completion_hr"].value
    )
    assert {m["name"] for m in doc["models"]} == {"t2v", "cf"}
    # The planted structure is learnt: both models beat the random baseline on HR.
    hr = {r.name: r.cells["completion_hr"].value for r in first_run.main_table.rows}
    assert hr["t2v"] > hr["random"] + 0.1 and hr["cf"] > hr["random"] + 0.1


@pytest.mark.slow
def test_rerun_reuses_the_cache_and_a_changed_parameter_retrains_only_that_model(first_run):
    out = first_run.out_dir
    assert sorted(first_run.trained) == ["cf@0", "t2v@0"] and first_run.reused == []
    before = mtimes(out)
    assert len(before) == 2
    again = run_compare(parse_config(small_config()), out)
    assert again.trained == [] and sorted(again.reused) == ["cf@0", "t2v@0"]
    assert mtimes(out) == before  # nothing rewritten
    assert (again.report_dir / "table.md").read_text() == (
        first_run.report_dir / "table.md"
    ).read_text()
    changed = run_compare(parse_config(small_config(window=2)), out)
    assert changed.trained == ["t2v@0"] and changed.reused == ["cf@0"]
    after = mtimes(out)
    assert len(after) == 3  # a new entry for the new parameters; the old one is kept
    assert {k: v for k, v in after.items() if k in before} == before
    cf = next(m for m in changed.models if m.spec.name == "cf")
    assert cf.reused and cf.path.name in before


@pytest.mark.slow
def test_two_runs_with_the_same_seeds_give_the_same_table(first_run, tmp_path):
    other = run_compare(parse_config(small_config()), tmp_path / "other")
    assert other.trained == ["t2v@0", "cf@0"]  # fresh cache: trained again
    # (the files of first_run may have been replaced by the cache test's re-runs)
    assert (other.report_dir / "table.md").read_text() == to_markdown(first_run.main_table)
    assert (other.report_dir / "table.csv").read_text() == to_csv(first_run.main_table)


def test_refuses_an_unrelated_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidValueError, match=r"songspace-run\.json"):
        run_compare(parse_config(small_config()), tmp_path)


def test_missing_feature_groups_error_or_skip(tmp_path):
    text = (
        small_config().replace("seed = 3 }", "seed = 3 }\n")
        + '\n[[models]]\nname = "t2vf"\nmodel = "track2vec_feature"\n'
        'params = { dim = 25, epochs = 1, feature_groups = ["lyrics"] }\n'
    )
    with pytest.raises(ParameterError, match="feature groups the dataset has"):
        run_compare(parse_config(text), tmp_path / "a")
    text = text.replace(
        "pairs_per_cell = 100", 'pairs_per_cell = 100\non_missing_features = "skip"'
    )
    res = run_compare(parse_config(text, only=["t2v", "t2vf"]), tmp_path / "b")
    assert list(res.skipped) == ["t2vf"] and "'lyrics'" in res.skipped["t2vf"]
    assert [r.name for r in res.main_table.rows] == ["random", "popularity", "t2v"]


def test_seeds_pool_and_seed_fractions_add_tables(tmp_path):
    text = small_config().replace("seeds = [0]", "seeds = [0, 1]\nseed_fractions = [0.5, 0.25]")
    text = text.replace('"next_song", "clustering", "popularity"', '"next_song"')
    text = text.replace('diagonal = ["t2v", "cf"]', "")
    res = run_compare(parse_config(text, only=["t2v"]), tmp_path / "run")
    assert sorted(res.trained) == ["t2v@0", "t2v@1"]
    n = res.protocols[0]["completion_playlists"] + res.protocols[1]["completion_playlists"]
    t2v = next(r for r in res.results[0.5] if r.model == "t2v")
    assert t2v.metrics["completion_hr"].per_query.size == n
    assert set(res.tables) == {0.5, 0.25}
    assert all(m.startswith("completion_") for m in res.tables[0.25].metrics)
    assert "next_song_in_set_hit_rate" in res.tables[0.5].metrics
    assert (res.report_dir / "tables" / "seed_fraction_0.25.md").is_file()
    assert (res.report_dir / "figures" / "seed_fraction_hr.png").is_file()


def test_merge_seeds_averages_values_and_concatenates_queries():
    from songspace.evaluation.results import EvaluationResult, MetricResult

    def res(pq, vrc, matrix):
        r = EvaluationResult("m")
        r.add(MetricResult.mean_of("completion_hr", np.array(pq)))
        r.add(MetricResult("vrc_genre", vrc))
        r.add(MetricResult("popularity_same_bucket_hr", 0.0, info={"matrix": matrix, "k": 5}))
        return [r]

    merged = merge_seeds([res([1.0, 0.0], 2.0, [[1.0, np.nan]]), res([1.0], 4.0, [[0.0, 0.5]])])
    m = merged[0].metrics
    assert m["completion_hr"].value == pytest.approx((0.5 + 1.0) / 2)
    assert m["completion_hr"].per_query.tolist() == [1.0, 0.0, 1.0]
    assert m["vrc_genre"].value == 3.0 and m["vrc_genre"].per_query.size == 0
    assert m["popularity_same_bucket_hr"].info["matrix"] == [[0.5, 0.5]]


def test_fingerprint_changes_with_the_data():
    from songspace.data.synthetic import generate

    a = generate(200, 300, seed=0)
    assert dataset_fingerprint(a) == dataset_fingerprint(generate(200, 300, seed=0))
    assert dataset_fingerprint(a) != dataset_fingerprint(generate(200, 300, seed=1))


def test_a_recommender_table_adds_a_fitted_two_stage_row(tmp_path):
    pytest.importorskip("lightgbm")
    text = small_config().replace('"next_song", "clustering", "popularity"', '"next_song"')
    text = text.replace('diagonal = ["t2v", "cf"]', "") + (
        '\n[recommender]\nname = "rec"\nembeddings = ["t2v"]\n'
        "params = { depth = 30, popular = 10, num_iterations = 20, num_threads = 1 }\n"
    )
    res = run_compare(parse_config(text, only=["t2v"]), tmp_path / "run")
    rows = [r.name for r in res.main_table.rows]
    assert rows == ["random", "popularity", "t2v", "rec"]
    rec = next(r for r in res.results[0.5] if r.model == "rec")
    assert rec.info["settings"]["depth"] == 30  # fitted with the table's parameters
    assert rec.metrics["next_song_in_set_hit_rate"].per_query.size > 0
