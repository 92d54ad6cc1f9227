"""Objective validation and the scalarisation arithmetic (W2V eq. 1-2)."""

from __future__ import annotations

import pytest

from songspace.errors import ParameterError
from songspace.tuning.objectives import check_objectives, scalarise


def test_scalarisation_matches_hand_computation():
    # rVRC = (1200 - 1000) / 1000 = 0.2; lambda = 0.01 * 0.4 + 0.99 * 0.2 = 0.202
    assert scalarise(0.4, 1200.0, 1000.0, 0.01) == pytest.approx(0.202)
    # alpha = 1: HitRate only; alpha = 0: rVRC only (here -0.5)
    assert scalarise(0.3, 500.0, 1000.0, 1.0) == pytest.approx(0.3)
    assert scalarise(0.3, 500.0, 1000.0, 0.0) == pytest.approx(-0.5)
    # the default itself scores alpha * HitRate (rVRC = 0)
    assert scalarise(0.35, 927.0, 927.0, 0.1) == pytest.approx(0.035)


def test_study_objective_values():
    obj = check_objectives(["vrc_genre", "hit_rate"], 0.1)
    assert obj.mode == "scalarised" and obj.objectives == ("hit_rate", "vrc_genre")
    assert obj.directions == ["maximize"]
    metrics = {"next_song_hit_rate": 0.5, "vrc_genre": 3.0}
    assert obj.values(metrics, {"vrc_genre": 2.0}) == [pytest.approx(0.1 * 0.5 + 0.9 * 0.5)]
    pareto = check_objectives(["hit_rate", "hardneg"])
    assert pareto.mode == "pareto" and pareto.directions == ["maximize", "minimize"]
    assert check_objectives(["hardneg"]).directions == ["minimize"]


@pytest.mark.parametrize(
    ("objectives", "alpha", "match"),
    [
        (["hitrate"], None, "each objective one of"),
        ([], None, "at least one objective"),
        (["hit_rate", "hit_rate"], None, "distinct"),
        (["hit_rate", "vrc_genre"], 1.5, "0 <= alpha <= 1"),
        (["hit_rate", "vrc_genre"], -0.1, "0 <= alpha <= 1"),
        (["hit_rate", "ndcg"], 0.1, "exactly two objectives"),
        (["hit_rate"], 0.1, "exactly two objectives"),
    ],
)
def test_bad_objectives_are_clear_errors(objectives, alpha, match):
    with pytest.raises(ParameterError, match=match):
        check_objectives(objectives, alpha)
    with pytest.raises(ParameterError):
        scalarise(0.1, 1.0, 1.0, 2.0) if alpha is not None and alpha > 1 else check_objectives(
            objectives, alpha
        )


def test_relative_vrc_needs_a_positive_reference():
    with pytest.raises(ParameterError, match="reference > 0"):
        scalarise(0.1, 1.0, 0.0, 0.5)


def test_trials_score_next_song_beside_the_objective_unless_it_is_completion_only():
    from songspace.tuning.study import _needed_metrics

    # a W2V study shows next-song beside its objective, and the VRCs when it scores them
    assert _needed_metrics(check_objectives(["hardneg"])) == [
        "hardneg",
        "next_song_hit_rate",
        "next_song_ndcg",
    ]
    assert _needed_metrics(check_objectives(["vrc_genre", "hit_rate"], 0.1)) == [
        "next_song_hit_rate",
        "vrc_genre",
        "next_song_ndcg",
        "vrc_artist",
    ]
    # a completion study (MUSIG/GraphSAGE) scores no next-song query in its trials
    assert _needed_metrics(check_objectives(["completion_hr"])) == ["completion_hr"]
    assert _needed_metrics(check_objectives(["hit_rate"]), extra=False) == ["next_song_hit_rate"]
