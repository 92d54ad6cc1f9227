"""Issue 27: `evaluate`'s tables in pipes and terminals (item 24), model-against-model tests
(item 27) and one HardNeg "skipped" warning per run (item 29)."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import songspace
from songspace.cli import app
from songspace.data.synthetic import generate
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.results import EvaluationResult, MetricResult, paired_tests
from songspace.evaluation.suite import SuiteSettings, evaluate_many
from songspace.reports.tables import build_table, format_value, metric_label

SRC = Path(songspace.__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(scope="module")
def ds():
    return generate(1500, 2000, mean_length=40, seed=11)


def genre_vectors(ds, noise, seed):
    g = ds.tracks["genre"].fillna("none").to_numpy(dtype=str)
    codes = np.unique(g, return_inverse=True)[1]
    x = np.eye(codes.max() + 1)[codes]
    return x + np.random.default_rng(seed).normal(0, noise, x.shape)


@pytest.fixture(scope="module")
def inputs(ds, tmp_path_factory):
    """A saved dataset and two embedding files, genre (less noise) and genre2."""
    root = tmp_path_factory.mktemp("evaluate")
    ds.save(root / "d")
    np.save(root / "genre.npy", genre_vectors(ds, 0.3, 0))
    np.save(root / "genre2.npy", genre_vectors(ds, 0.6, 1))
    return root


def run_cli(root, out, env):
    """`songspace evaluate` in a real process, its stdout a pipe."""
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        if name not in env:
            full.pop(name, None)
    argv = [sys.executable, "-m", "songspace", "--no-progress", "evaluate", str(root / "d")]
    argv += [str(root / "genre.npy"), str(root / "genre2.npy"), "--test-fraction", "0.05"]
    argv += ["-o", str(out)]
    res = subprocess.run(argv, capture_output=True, text=True, env=full, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def shown_values(out):
    """Every (model, metric, value as tables format it) that `evaluate` wrote to ``out``."""
    summary = json.loads((out / "summary.json").read_text())
    for model in summary["results"]:
        res = EvaluationResult.load(out / f"{model}.json")
        for m, r in res.metrics.items():
            yield model, m, format_value(r.value)


# ------------------------------------------------------------------ item 24: tables
def test_piped_evaluate_prints_every_value_and_label_whole(inputs, tmp_path):
    out = tmp_path / "ev"
    text = run_cli(inputs, out, {"COLUMNS": "60"})
    lines = text.splitlines()
    for model, m, value in shown_values(out):
        row = next(line for line in lines if line.startswith(f"| {model} |"))
        assert value in row, (model, m, value)  # e.g. "0.00419", never "0.00" or "0.004"
        assert metric_label(m) in text  # e.g. "HitRate (out-of-set)", never "(out-of-se"
    assert "protocol (seed 0): " in text and "next-song pairs" in lines[0]  # one line
    assert max(len(line) for line in lines) > 60  # the full width, not the 60 of COLUMNS


def test_terminal_evaluate_wraps_into_tables_that_fit_and_cut_nothing(inputs, tmp_path):
    out = tmp_path / "ev"
    text = ANSI.sub("", run_cli(inputs, out, {"COLUMNS": "60", "TTY_COMPATIBLE": "1"}))
    assert max(len(line) for line in text.splitlines()) <= 60
    tokens = text.split()
    for model, m, value in shown_values(out):
        assert model in tokens
        assert set(metric_label(m).split()) <= set(tokens), m  # headers wrap at spaces
        if value != "–":
            assert any(t.rstrip("†‡") == value for t in tokens), (model, m, value)


# ------------------------------------------------------ item 27: model against model
def hand_results():
    """Three models on four queries; per-query values chosen so the tests are known."""
    ref = EvaluationResult("a").add(
        MetricResult.mean_of("hr", np.array([0.5, 0.6, 0.7, 0.6])),
        MetricResult.mean_of("ndcg", np.array([0.2, 0.3, 0.2, 0.3])),
        MetricResult.mean_of("completion_coverage", np.array([1.0, 1.0, 0.5, 1.0])),
        MetricResult("vrc", 3.0),
    )
    # differences from a on hr: 0.1, 0.2, 0.3, 0.2 -> t = 0.2 / (sqrt(0.02 / 3) / 2) = 2 sqrt 6
    b = EvaluationResult("b").add(
        MetricResult.mean_of("hr", np.array([0.6, 0.8, 1.0, 0.8])),
        MetricResult.mean_of("ndcg", np.array([0.2, 0.3, 0.2, 0.3])),
        MetricResult.mean_of("completion_coverage", np.array([1.0, 1.0, 1.0, 1.0])),
        MetricResult("vrc", 4.0),
    )
    c = EvaluationResult("c").add(MetricResult.mean_of("hr", np.array([0.5, 0.5, 0.7, 0.6])))
    return [ref, b, c]


def test_paired_tests_against_a_reference_hand_computed():
    ref, b, c = hand_results()
    tests = paired_tests([ref, b, c], "a")
    assert list(tests) == ["b", "c"]  # every other result, never the reference itself
    # b shares hr and ndcg with per-query values (coverage is never tested, VRC has none)
    assert sorted(tests["b"]) == ["hr", "ndcg"]
    hr = tests["b"]["hr"]
    t = 2 * np.sqrt(6)
    p = 2 * stats.t.sf(t, df=3)
    assert hr.t == pytest.approx(t) and hr.p == pytest.approx(p)
    assert hr.p == pytest.approx(
        stats.ttest_rel(b.metrics["hr"].per_query, [0.5, 0.6, 0.7, 0.6]).pvalue
    )
    assert hr.p_adjusted == pytest.approx(2 * p)  # Bonferroni over the 2 metrics compared
    assert (hr.value_a, hr.value_b, hr.n) == (pytest.approx(0.8), pytest.approx(0.6), 4)
    assert hr.significant  # p = 0.016, x 2 = 0.033 < 0.05
    assert tests["b"]["ndcg"].p == 1.0 and not tests["b"]["ndcg"].significant  # identical
    # c shares hr only: no correction; one difference (0.1 on query 2) is not significant
    assert list(tests["c"]) == ["hr"]
    assert tests["c"]["hr"].p == pytest.approx(
        stats.ttest_rel([0.5, 0.5, 0.7, 0.6], [0.5, 0.6, 0.7, 0.6]).pvalue
    )
    assert tests["c"]["hr"].p_adjusted == tests["c"]["hr"].p
    # the reference as a result, the same tests
    assert paired_tests([ref, b, c], ref)["b"]["hr"].p == hr.p
    with pytest.raises(ParameterError, match=r"one of the evaluated models \(a, b, c\)"):
        paired_tests([ref, b, c], "nope")


def test_evaluate_many_tests_every_row_against_the_named_model(ds):
    p = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05))
    embs = [
        Embeddings.from_array(genre_vectors(ds, 0.3, 0), ds.n_tracks, name="genre"),
        Embeddings.from_array(genre_vectors(ds, 0.6, 1), ds.n_tracks, name="genre2"),
    ]
    fams = ["completion", "next_song"]
    results, tests = evaluate_many(p, embs, families=fams, against="genre")
    by = {r.model: r for r in results}
    assert set(tests["genre2"]) == {"random", "popularity", "genre"}
    assert "genre" not in tests["genre"]  # never against itself
    assert set(tests["random"]) == set(tests["popularity"]) == {"genre"}
    x, y = by["genre2"].metrics, by["genre"].metrics
    hr = tests["genre2"]["genre"]["completion_hr"]
    n_tested = len(tests["genre2"]["genre"])
    expect = stats.ttest_rel(x["completion_hr"].per_query, y["completion_hr"].per_query).pvalue
    assert hr.p == pytest.approx(expect) and hr.p_adjusted == pytest.approx(
        min(1, expect * n_tested)
    )
    # the table's ‡ marks say what the tests say (same Bonferroni count for the models)
    t = build_table(results, list(x), against={"‡": "genre"}, best_baseline=True)
    assert t.n_tests == n_tested
    for m, c in tests["genre2"]["genre"].items():
        better = c.value_a > c.value_b if x[m].higher_is_better else c.value_a < c.value_b
        assert ("‡" in t.row("genre2").cells[m].marks) == (c.significant and better), m
    with pytest.raises(ParameterError, match="genre, genre2"):
        evaluate_many(p, embs, families=fams, against="genre3")


@pytest.mark.parametrize("against", ["genre", "FILE"])
def test_cli_against_marks_the_table_and_stores_the_tests(inputs, tmp_path, against):
    out = tmp_path / "ev"
    ref = str(inputs / "genre.npy") if against == "FILE" else against
    argv = ["--no-progress", "evaluate", str(inputs / "d"), str(inputs / "genre.npy")]
    argv += [str(inputs / "genre2.npy"), "--test-fraction", "0.05", "--metrics", "completion"]
    res = CliRunner().invoke(app, [*argv, "-o", str(out), "--against", ref])
    assert res.exit_code == 0, res.output
    assert "‡ = significantly better than genre." in res.output
    tests = json.loads((out / "summary.json").read_text())["tests"]
    hr = tests["genre2"]["genre"]["completion_hr"]
    a = EvaluationResult.load(out / "genre2.json").metrics["completion_hr"].per_query
    b = EvaluationResult.load(out / "genre.json").metrics["completion_hr"].per_query
    assert hr["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_cli_against_an_unknown_model_is_refused_before_the_work(inputs, tmp_path):
    argv = ["evaluate", str(inputs / "d"), str(inputs / "genre.npy"), "--against", "genre3"]
    res = subprocess.run(
        [sys.executable, "-m", "songspace", "--no-progress", *argv, "-o", str(tmp_path / "ev")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])},
        timeout=300,
    )
    assert res.returncode == 1
    text = " ".join(res.stderr.split())
    assert "expected the name of one of the evaluated models (random, popularity, genre)" in text
    assert "got 'genre3'" in text and "Traceback" not in text
    assert "completion done" not in text  # refused before evaluating anything
    assert not (tmp_path / "ev").exists()


# ----------------------------------------------------- item 29: one HardNeg warning
def test_hardneg_skipped_warning_is_logged_once_per_run(ds, caplog):
    p = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05))
    embs = [
        Embeddings.from_array(genre_vectors(ds, 0.3, s), ds.n_tracks, name=f"m{s}")
        for s in range(2)
    ]
    st = SuiteSettings(hardneg_threshold=0.0)  # no chi-squared is below 0: no hard negative
    with caplog.at_level(logging.WARNING, logger="songspace"):
        results, _ = evaluate_many(p, embs, families=["hardneg"], settings=st)
    skipped = [r for r in caplog.records if "hardneg skipped" in r.getMessage()]
    assert len(results) == 4 and len(skipped) == 1  # was one per model: 4
    assert "for every model" in skipped[0].getMessage()
    assert all("hardneg" not in r.metrics for r in results)
