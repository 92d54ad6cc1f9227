"""Tuning the baseline rankers on the validation split (issue 30, part 1)."""

import json

import pytest

from songspace.data import synthetic
from songspace.evaluation.rankers import SKNN, STAN, read_ranker_settings
from songspace.evaluation.suite import evaluate_many
from songspace.tuning.protocols import tuning_protocols
from songspace.tuning.rankers import tune_rankers, write_ranker_settings


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(300, 400, seed=3)


def _suite_value(protocol, name, params, family, metric):
    """The metric as `songspace evaluate` computes it, for one ranker and its params."""
    (res,), _ = evaluate_many(
        protocol,
        [],
        baselines=False,
        families=[family],
        rankers=[name],
        ranker_params={name: params},
    )
    return res.metrics[metric].value


def test_completion_settings_are_the_best_validation_point(data, tmp_path):
    res = tune_rankers(
        data, "completion", rankers=["sknn", "bigram"], heldout_fraction=0.1, min_tracks=10
    )
    c = res.rankers["sknn"]
    values = [p["validation"] for p in c.grid]
    assert c.grid[0]["params"] == SKNN.defaults
    assert c.default_validation == values[0]
    assert len(set(values)) > 1  # the grid matters on this data
    best = values.index(max(values))  # the first of the best (the default wins a tie)
    assert c.chosen == c.grid[best]["params"] and c.validation == max(values)
    # each value is the suite's completion HR on the validation protocol; the test value
    # that of the test protocol (scored once, after the choice)
    tp = tuning_protocols(data, heldout_fraction=0.1, min_tracks=10)
    for p in (c.grid[0], c.grid[best]):
        got = _suite_value(tp.validation, "sknn", p["params"], "completion", "completion_hr")
        assert got == p["validation"]
    assert c.test == _suite_value(tp.test, "sknn", c.chosen, "completion", "completion_hr")
    assert res.rankers["bigram"].chosen == {} and len(res.rankers["bigram"].grid) == 1
    # the file `evaluate --rankers-config` reads holds the chosen settings
    path = write_ranker_settings(res, tmp_path / "r.json")
    assert read_ranker_settings(path) == res.settings()
    doc = json.loads(path.read_text())
    assert doc["task"] == "completion" and doc["metric"] == "completion_hr"
    assert len(doc["tuning"]["sknn"]["grid"]) == len(c.grid)


def test_next_song_tunes_on_out_of_set_hit_rate(data):
    res = tune_rankers(data, "next_song", rankers=["stan"], heldout_fraction=0.1, test=False)
    c = res.rankers["stan"]
    assert res.metric == "next_song_out_of_set_hit_rate"
    # one seed per query: lambda_spw cannot act and is not varied; the data have timestamps,
    # so lambda_snh is
    assert {p["params"]["lambda_spw"] for p in c.grid} == {STAN.defaults["lambda_spw"]}
    assert len({p["params"]["lambda_snh"] for p in c.grid}) > 1
    assert c.validation == max(p["validation"] for p in c.grid) and c.test is None
    tp = tuning_protocols(data, heldout_fraction=0.1)
    got = _suite_value(
        tp.validation, "stan", c.chosen, "next_song", "next_song_out_of_set_hit_rate"
    )
    assert got == c.validation
