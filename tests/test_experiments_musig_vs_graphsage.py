"""experiments/musig_vs_graphsage.py: the per-study table (the script reads real studies;
its formatting is checked here against hand-written states)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.scripts import loaded_script


@pytest.fixture(scope="module")
def script():
    with loaded_script("experiments/musig_vs_graphsage.py") as module:
        yield module


def test_study_table_keeps_two_studies_that_share_a_name(script):
    # graphsage-audio and graphsage-all are both "graphsage-completion_hr-r0.25" (two storages);
    # the table is keyed by the tag, so both lines appear.
    state = {
        "GRAPHSAGE AUDIO": {
            "states": {"COMPLETE": 90, "PRUNED": 7},
            "trained": 97,
            "training_cpu_hours": 0.6012,
            "best_trial": 29,
            "best_value": 0.71083,
            "improved_at": 30,
            "flat_last_third": True,
        },
        "GRAPHSAGE GENRE,POPULARITY,AUDIO": {
            "states": {"WAITING": 1},
            "trained": 0,
            "training_cpu_hours": 0.0,
        },
    }
    lines = script.study_table(state)
    assert lines[2] == (
        "| GRAPHSAGE AUDIO | complete 90, pruned 7 | 97 | 0.601 | 29 | 0.7108 | 30 | yes |"
    )
    assert (
        lines[3] == "| GRAPHSAGE GENRE,POPULARITY,AUDIO | waiting 1 | 0 | 0.000 | - | - | - | - |"
    )
    assert len(lines) == 4


def result(per_query):
    from songspace.evaluation.results import EvaluationResult, MetricResult

    values = np.asarray(per_query, dtype=float)
    hr = MetricResult("completion_hr", float(values.mean()), values)
    return EvaluationResult("m", {"completion_hr": hr})


def test_transfer_table_sets_the_study_value_beside_both_full_scale_values(script):
    # validation per playlist: default (0.5, 0.6, 0.7, 0.8), tuned 0.1 higher on each but the
    # last (+0.1, +0.1, +0.1, 0.0): mean difference 0.075, differences' sd 0.05, so
    # t = 0.075 / (0.05 / 2) = 3.0 on 3 degrees of freedom, two-sided p = 0.0577.
    rows = [
        script.Row("GRAPHSAGE AUDIO default", "s", "graphsage", {}, "audio", sample_value=0.69),
        script.Row("GRAPHSAGE AUDIO tuned", "s", "graphsage", {}, "audio", 7, 1.0, 0.725),
    ]
    val = {
        "GRAPHSAGE AUDIO default": result([0.5, 0.6, 0.7, 0.8]),
        "GRAPHSAGE AUDIO tuned": result([0.6, 0.7, 0.8, 0.8]),
    }
    test = {"GRAPHSAGE AUDIO default": result([0.76]), "GRAPHSAGE AUDIO tuned": result([0.75])}
    lines = script.transfer_table(rows, test, val)
    assert lines[2] == "| GRAPHSAGE AUDIO default | 0.6900 | 0.6500 | 0.7600 |"
    assert lines[3] == "| GRAPHSAGE AUDIO tuned | 0.7250 | 0.7250 | 0.7500 |"
    assert lines[7] == "| GRAPHSAGE AUDIO tuned | GRAPHSAGE AUDIO default | +0.0750 | 0.058 |"


def test_seed_table_sets_each_seed_beside_the_study_and_the_gain_per_seed(script):
    rows = [
        script.Row("MUSIG POPULARITY default", "s", "musig", {}, "popularity", sample_value=0.60),
        script.Row("MUSIG POPULARITY tuned", "s", "musig", {}, "popularity", 3, 1.0, 0.65),
    ]
    hr = {"default": (0.60, 0.62), "tuned": (0.65, 0.61)}
    evals = {
        f"MUSIG POPULARITY {kind} seed {k}": result([v])
        for kind, values in hr.items()
        for k, v in zip((0, 1), values, strict=True)
    }
    lines = script.seed_table(rows, evals, [0, 1])
    assert lines[0] == "| Row | in the study | seed 0 | seed 1 |"
    assert lines[2] == "| MUSIG POPULARITY default | 0.6000 | 0.6000 | 0.6200 |"
    assert lines[3] == "| MUSIG POPULARITY tuned | 0.6500 | 0.6500 | 0.6100 |"
    # the study's gain (+0.05) repeats with seed 0 and turns into a loss with seed 1
    assert lines[4] == "| MUSIG POPULARITY tuned - default | +0.0500 | +0.0500 | -0.0100 |"


def test_tested_pairs_put_musig_tuned_and_default_against_each_graphsage_row(script):
    rows = [
        script.Row(f"{tag} {kind}", "s", model, {}, "", trial)
        for tag, model in (("MUSIG POPULARITY", "musig"), ("GRAPHSAGE AUDIO", "graphsage"))
        for kind, trial in (("default", None), ("tuned", 5))
    ]
    assert script.tested_pairs(rows) == [
        ("MUSIG POPULARITY tuned", "MUSIG POPULARITY default"),
        ("GRAPHSAGE AUDIO tuned", "GRAPHSAGE AUDIO default"),
        ("MUSIG POPULARITY tuned", "GRAPHSAGE AUDIO tuned"),
        ("MUSIG POPULARITY default", "GRAPHSAGE AUDIO default"),
    ]


def test_seed_table_leaves_the_study_gain_blank_when_the_default_was_never_a_trial(script):
    rows = [
        script.Row("GRAPHSAGE AUDIO default", "s", "graphsage", {}, "audio"),
        script.Row("GRAPHSAGE AUDIO tuned", "s", "graphsage", {}, "audio", 4, 1.0, 0.70),
    ]
    evals = {
        "GRAPHSAGE AUDIO default seed 1": result([0.60]),
        "GRAPHSAGE AUDIO tuned seed 1": result([0.64]),
    }
    lines = script.seed_table(rows, evals, [1])
    assert lines[2] == "| GRAPHSAGE AUDIO default | - | 0.6000 |"
    assert lines[4] == "| GRAPHSAGE AUDIO tuned - default | - | +0.0400 |"
