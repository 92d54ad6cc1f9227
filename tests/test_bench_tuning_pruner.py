"""benchmarks/bench_tuning_pruner.py: the best-so-far curve and the time to a target value,
against hand-computed answers (the arms themselves take an hour each; not run here)."""

from __future__ import annotations

import math

import pytest

from tests.scripts import loaded_script


@pytest.fixture(scope="module")
def bench():
    with loaded_script("benchmarks/bench_tuning_pruner.py") as module:
        yield module


def arm(*rows):
    return {"rows": [{"kind": k, "value": v, "at": s} for k, v, s in rows]}


def test_best_curve_keeps_only_completed_improvements_in_time_order(bench):
    out = arm(
        ("complete", 0.2, 120.0),
        ("complete", 0.1, 60.0),
        ("pruned", 0.9, 90.0),  # a pruned trial's value is an intermediate one: ignored
        ("rejected", None, 100.0),
        ("complete", 0.15, 180.0),  # below the best so far
        ("complete", 0.3, 300.0),
    )
    assert bench.best_curve(out) == [(1.0, 0.1), (2.0, 0.2), (5.0, 0.3)]


def test_minutes_to_target(bench):
    curve = [(1.0, 0.1), (2.0, 0.2), (5.0, 0.3)]
    assert bench.minutes_to(curve, 0.2) == 2.0
    assert bench.minutes_to(curve, 0.25) == 5.0
    assert math.isnan(bench.minutes_to(curve, 0.31))


def test_time_to_target_reports_the_speed_up_at_the_lower_final_best(bench, capsys, tmp_path):
    outs = {
        "none": arm(("complete", 0.1, 60.0), ("complete", 0.2, 600.0)),
        "sha": arm(("complete", 0.2, 150.0), ("complete", 0.25, 900.0)),
    }
    a = type("A", (), {"plot": str(tmp_path / "p.png"), "minutes": 20.0})()
    bench.time_to_target(outs, a)
    printed = capsys.readouterr().out
    # target 0.2: none at minute 10, sha at minute 2.5, so sha 4x as fast
    assert "minutes to reach 0.2000 (the lower final best): none 10.0, sha 2.5" in printed
    assert "4.00x as fast" in printed
    assert (tmp_path / "p.png").stat().st_size > 0


def test_rung_noise_states_the_spread_and_the_binomial_error(bench):
    # quantiles of 0..0.09 in steps of 0.01: median 0.045, 2/3 at 0.06; SE of 0.06 over
    # 1000 queries: sqrt(0.06 * 0.94 / 1000) = 0.00751
    line = bench.rung_noise([i / 100 for i in range(10)])
    assert "median 0.0450, top third from 0.0600 (0.0150 apart)" in line
    assert "over 1000 queries is about 0.0075" in line
