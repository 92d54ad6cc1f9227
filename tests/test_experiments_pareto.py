"""experiments/w2v_pareto.py: the front and the lambda(alpha) shares, against hand-computed
answers (the script reads real studies; its arithmetic is checked here)."""

from __future__ import annotations

import pytest

from tests.scripts import loaded_script


@pytest.fixture(scope="module")
def pareto():
    with loaded_script("experiments/w2v_pareto.py") as module:  # and its sibling w2v_table4
        yield module


def points(pareto, rows):
    return [pareto.Point("s", t, hr, 100 * (1 + r), r) for t, hr, r in rows]


def test_front_drops_dominated_points(pareto):
    pts = points(pareto, [(1, 0.10, 0.0), (2, 0.08, 0.3), (3, 0.07, 0.2), (4, 0.05, 0.5)])
    assert [p.trial for p in pareto.front(pts)] == [4, 2, 1]  # 3 is dominated by 2


def test_alpha_shares_break_where_lambda_ties(pareto):
    # lambda = a*HR + (1-a)*rVRC; C (0.05, 0.5) vs B (0.08, 0.3) tie at a = 0.2/0.23 = 0.8696,
    # B vs A (0.10, 0.0) at a = 0.3/0.32 = 0.9375; D (0.06, 0.35) is on the front but
    # inside its convex hull, so it wins for no alpha.
    rows = [(1, 0.10, 0.0), (2, 0.08, 0.3), (3, 0.05, 0.5), (4, 0.06, 0.35)]
    shares = pareto.alpha_shares(points(pareto, rows))
    assert [s["trial"] for s in shares] == [3, 2, 1]
    assert shares[0]["to"] == pytest.approx(0.2 / 0.23, abs=1e-4)
    assert shares[1]["to"] == pytest.approx(0.3 / 0.32, abs=1e-4)
    assert pareto.pick(points(pareto, rows), 0.1).trial == 3


def test_distance_inside_is_the_hitrate_gain_to_the_front(pareto):
    members = points(pareto, [(1, 0.10, 0.0), (2, 0.08, 0.3)])
    inside = pareto.Point("s", 9, 0.05, 120.0, 0.2)  # below B's VRC (130): B's HR 0.08
    assert pareto.distance_inside(inside, members) == pytest.approx(0.6)
    assert pareto.distance_inside(members[1], members) == 0.0


def test_placement_tells_inside_on_and_beyond(pareto):
    members = points(pareto, [(1, 0.10, 0.0), (2, 0.08, 0.3)])
    assert pareto.placement(members[1], members) == "on it"
    inside = pareto.Point("s", 9, 0.05, 120.0, 0.2)
    assert pareto.placement(inside, members) == "inside (+60.0% HitRate to reach it)"
    beyond = pareto.Point("s", 8, 0.09, 140.0, 0.4)  # dominates B only (A has more HitRate)
    assert pareto.placement(beyond, members) == "beyond (dominates 1 member)"
    across = pareto.Point("s", 7, 0.05, 150.0, 0.5)  # more VRC, less HitRate: extends it
    assert pareto.placement(across, members) == "on it"
