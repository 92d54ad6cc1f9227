import csv
import io

import numpy as np
import pytest
from scipy import stats

from songspace.evaluation.results import EvaluationResult, MetricResult
from songspace.reports.tables import (
    build_table,
    format_value,
    paper_markdown,
    terminal_tables,
    to_csv,
    to_markdown,
)

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


def test_marks_against_fixed_rows_follow_each_metrics_direction():
    t = build_table(results(), METRICS, against={"†": "a", "‡": "popularity"}, alpha=0.05)
    n = t.n_tests  # completion_hr and hardneg have per-query values; VRC does not
    assert n == 2
    b, rnd = t.row("b"), t.row("random")
    # b beats a on HR (paired p * 2 < 0.05) and on HardNeg (lower is better)
    assert p_paired(HR["b"], HR["a"]) * n < 0.05
    assert b.cells["completion_hr"].marks.startswith("†")
    assert "‡" in b.cells["completion_hr"].marks
    assert p_paired(HARDNEG["b"], HARDNEG["a"]) * n > 0.05  # lower, but not significantly
    assert "†" not in b.cells["hardneg"].marks
    # random has the lowest HardNeg: better than popularity there, never on HR
    assert p_paired(HARDNEG["random"], HARDNEG["popularity"]) * n < 0.05
    assert "‡" in rnd.cells["hardneg"].marks and rnd.cells["completion_hr"].marks == ""
    assert t.row("a").cells["completion_hr"].marks.count("†") == 0  # never against itself
    assert t.row("popularity").cells["completion_hr"].marks == ""  # worse than a
    assert "† than a, ‡ than popularity" in t.legend()
    assert "**0.9350†‡**" in to_markdown(t)


def test_terminal_tables_fit_80_columns_and_never_cut_a_value():
    from rich.console import Console

    many = [f"m{i}" for i in range(12)]
    rs = []
    for j, name in enumerate(["random", "popularity", "track2vec_feature", "graphsage"]):
        r = EvaluationResult(name)
        for i, m in enumerate(many):
            r.add(MetricResult(m, 1000.0 * (i + 1) + j))
        rs.append(r)
    t = build_table(rs, many, title="wide")
    console = Console(width=80, record=True)
    parts = terminal_tables(t, width=80)
    assert len(parts) > 1  # split over several tables
    for p in parts:
        console.print(p)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for r in rs:
        for m in many:
            assert format_value(r.metrics[m].value) in text  # e.g. "12,003", never "12,0…"
    assert "track2vec_feature" in text and "…" not in text
