import csv
import io

import numpy as np
import pytest
from scipy import stats

from songspace.evaluation.results import EvaluationResult, MetricResult
from songspace.reports.tables import build_table, paper_markdown, to_csv, to_markdown

HR = {
    "random": [0.4, 0.5, 0.6, 0.5],
    "popularity": [0.6, 0.6, 0.7, 0.7],
    "a": [0.7, 0.8, 0.75, 0.85],
    "b": [0.9, 0.95, 0.92, 0.97],
}
HARDNEG = {  # lower is better
    "random": [0.01, 0.02, 0.01, 0.02],
    "popularity": [0.05, 0.06, 0.05, 0.07],
    "a": [0.04, 0.05, 0.03, 0.05],
    "b": [0.03, 0.04, 0.03, 0.03],
}
VRC = {"random": 1.0, "popularity": float("nan"), "a": 35.9, "b": 12.0}


def results():
    out = []
    for name in HR:
        r = EvaluationResult(name)
        r.add(MetricResult.mean_of("completion_hr", np.array(HR[name])))
        r.add(MetricResult.mean_of("hardneg", np.array(HARDNEG[name]), higher_is_better=False))
        r.add(MetricResult("vrc_genre", VRC[name]))
        out.append(r)
    return out


DESCRIBE = {
    "random": {"Method": "RANDOM", "Features": "-"},
    "popularity": {"Method": "POPULARITY", "Features": "-"},
    "a": {"Method": "TRACK2VEC", "Features": "-"},
    "b": {"Method": "MUSIG", "Features": "POPULARITY"},
}
METRICS = ["completion_hr", "hardneg", "vrc_genre"]


def table(**kw):
    return build_table(
        results(),
        METRICS,
        describe=DESCRIBE,
        baselines=["random", "popularity", "a"],
        paper={"b": {"completion_hr": 0.7505}},
        title="Hand-built",
        **kw,
    )


def p_paired(x, y):
    return stats.ttest_rel(x, y).pvalue


def test_best_values_are_bold_in_their_direction():
    t = table()
    best = {m: [r.name for r in t.rows if r.cells[m].best] for m in METRICS}
    assert best == {"completion_hr": ["b"], "hardneg": ["random"], "vrc_genre": ["a"]}


def test_marks_test_against_the_best_baseline_with_bonferroni():
    t = table()
    # b (not a baseline) against the best baseline on HR, which is a (0.775).
    hr_b = t.row("b").cells["completion_hr"]
    assert hr_b.reference == "a"
    assert hr_b.p_adjusted == pytest.approx(min(1.0, 2 * p_paired(HR["b"], HR["a"])))
    assert hr_b.significant  # p ~ 0.0025, x2 tested metrics (vrc has no per-query values)
    assert t.n_tested() == 2
    # a is itself the best baseline: tested against the best *other* one, popularity.
    hr_a = t.row("a").cells["completion_hr"]
    assert hr_a.reference == "popularity"
    raw = p_paired(HR["a"], HR["popularity"])
    assert 0.025 < raw < 0.05  # significant alone ...
    assert hr_a.p_adjusted == pytest.approx(2 * raw) and not hr_a.significant  # ... not after x2
    # HardNeg, lower is better: the best baseline is random (0.015); b is worse, so no mark
    # even if the difference is significant.
    hn_b = t.row("b").cells["hardneg"]
    assert hn_b.reference == "random" and not hn_b.significant
    # random is the best baseline: tested against the best other one, a (0.0425), and lower.
    hn_r = t.row("random").cells["hardneg"]
    assert hn_r.reference == "a" and hn_r.significant
    # No per-query values: bold only, never tested.
    assert t.row("a").cells["vrc_genre"].reference is None


def test_markdown_layout():
    md = to_markdown(table())
    lines = md.splitlines()
    assert lines[0] == "**Hand-built**"
    assert lines[2] == "| Method | Features | HR | HardNeg | VRC_Genre |"
    assert lines[3] == "|:---|:---|---:|---:|---:|"
    assert lines[4] == "| RANDOM | - | 0.5000 | **0.0150†** | 1.0000 |"
    assert lines[5] == "| POPULARITY | - | 0.6500 | 0.0575 | – |"
    assert lines[6] == "| TRACK2VEC | - | 0.7750 | 0.0425 | **35.90** |"
    assert lines[7] == "| MUSIG | POPULARITY | **0.9350†** | 0.0325 | 12.00 |"
    assert "† = significantly better than the best baseline" in md
    assert "Bonferroni-corrected over the 2 metrics tested, p < 0.05" in md
    assert "Lower is better for HardNeg" in md


def test_csv_has_values_marks_and_paper_values():
    rows = list(csv.DictReader(io.StringIO(to_csv(table()))))
    assert [r["name"] for r in rows] == ["random", "popularity", "a", "b"]
    b = rows[3]
    assert float(b["completion_hr"]) == pytest.approx(0.935)
    assert b["completion_hr:best"] == "1" and b["completion_hr:significant"] == "1"
    assert b["completion_hr:reference"] == "a"
    assert float(b["paper:completion_hr"]) == 0.7505
    assert rows[1]["vrc_genre"] == ""  # NaN


def test_paper_table_puts_ours_beside_the_papers():
    md = paper_markdown(table())
    assert "| Method | Features | HR ours / paper |" in md
    assert "| MUSIG | POPULARITY | 0.9350 / 0.7505 |" in md
    assert "| RANDOM | - | 0.5000 / – |" in md
    assert paper_markdown(build_table(results(), METRICS)) is None


def test_ties_are_all_bold_and_identical_queries_are_not_significant():
    rs = results()
    rs[3].metrics["completion_hr"] = MetricResult.mean_of("completion_hr", np.array(HR["a"]))
    t = build_table(rs, ["completion_hr"], baselines=["random", "popularity", "a"])
    assert [r.name for r in t.rows if r.cells["completion_hr"].best] == ["a", "b"]
    c = t.row("b").cells["completion_hr"]
    assert c.p_adjusted == 1.0 and not c.significant
