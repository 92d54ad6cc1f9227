"""experiments/musig_vs_graphsage.py: the per-study table (the script reads real studies;
its formatting is checked here against hand-written states)."""

from __future__ import annotations

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
