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
    # HardNeg, lower is better: the best baseline is random (0.015); b is worse, so no mark
    # even if the difference is significant.
    hn_b = t.row("b").cells["hardneg"]
    assert hn_b.reference == "random" and not hn_b.significant
    # baselines (a included) are yardsticks: never tested against one another
    assert t.row("a").cells["completion_hr"].reference is None
    assert t.row("random").cells["hardneg"].reference is None
    # No per-query values: bold only, never tested.
    assert t.row("a").cells["vrc_genre"].reference is None


def test_markdown_layout():
    md = to_markdown(table())
    lines = md.splitlines()
    assert lines[0] == "**Hand-built**"
    assert lines[2] == "| Method | Features | HR | HardNeg | VRC_Genre |"
    assert lines[3] == "|:---|:---|---:|---:|---:|"
    assert lines[4] == "| RANDOM | - | 0.5000 | **0.0150** | 1.0000 |"  # no † on a baseline
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
    assert "† = significantly better than a. ‡ = significantly better than popularity." in (
        t.legend()
    )
    assert "best baseline" not in t.legend()
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


# ------------------------------------------------------- issue 27, item 24: tables
def test_small_values_keep_three_significant_digits():
    assert format_value(0.0006) == "0.000600"  # was "0.0006", and "0.00" once cut
    assert format_value(0.00523) == "0.00523"
    assert format_value(-0.0006) == "-0.000600"
    assert format_value(3.3e-5) == "3.30e-05"
    assert format_value(0.0) == "0.0000"
    assert format_value(0.0150) == "0.0150"  # from 0.01 up: four decimals, as before
    t = build_table([EvaluationResult("x").add(MetricResult("hardneg", 0.0006))], ["hardneg"])
    assert "0.000600" in to_markdown(t)


def test_baseline_rows_carry_no_mark_and_the_legend_states_the_rules():
    t = table()  # baselines: random, popularity, a; b is the only model
    for name in ("random", "popularity", "a"):
        for m in METRICS:
            cell = t.row(name).cells[m]
            assert cell.marks == "" and cell.reference is None and not cell.significant
    # random's HardNeg (0.015) was marked † "better than the best baseline", i.e. than
    # a, the runner-up; a baseline is never tested now, but it can still be bold
    assert t.row("random").cells["hardneg"].best
    hr_b = t.row("b").cells["completion_hr"]
    assert hr_b.reference == "a" and hr_b.marks == "†"  # the model is still tested
    legend = t.legend()
    assert "Bold: the best value of each column over all rows, baselines included" in legend
    assert (
        "† = significantly better than the best baseline of the column "
        "(the best of random, popularity, a); random, popularity, a are not tested." in legend
    )
    assert "Not tested (no per-query values): VRC_Genre" in legend
    md = to_markdown(t)
    assert "| RANDOM | - | 0.5000 | **0.0150** | 1.0000 |" in md  # bold, no †


def test_compare_rows_that_are_baselines_are_tested_against_the_other_baselines():
    """songspace compare flags its model rows as baselines of each other: each is tested
    against the best *other* baseline, only the yardsticks go unmarked (the demo showed
    no mark at all when every model row counted as an untested baseline)."""
    t = build_table(
        results(),
        METRICS,
        baselines=("random", "popularity", "a", "b"),
        yardsticks=("random", "popularity"),
    )
    assert t.row("b").cells["completion_hr"].reference == "a"
    assert t.row("b").cells["completion_hr"].marks == "†"
    assert t.row("a").cells["completion_hr"].reference == "b"  # never itself
    for name in ("random", "popularity"):
        assert all(t.row(name).cells[m].marks == "" for m in METRICS)
    assert "other than the row itself); random, popularity are not tested." in t.legend()


def test_best_baseline_marks_and_a_fixed_reference_together():
    # evaluate --against a: † against the best baseline, ‡ against a, both in one table
    t = build_table(
        results(),
        METRICS,
        baselines=["random", "popularity"],
        against={"‡": "a"},
        best_baseline=True,
    )
    b, a = t.row("b").cells["completion_hr"], t.row("a").cells["completion_hr"]
    # b against the best baseline (popularity, 0.65) fills the cell's test fields
    assert b.reference == "popularity"
    assert b.p_adjusted == pytest.approx(min(1.0, 2 * p_paired(HR["b"], HR["popularity"])))
    assert b.marks == "†‡"  # and it beats a too (p * 2 < 0.05)
    assert p_paired(HR["b"], HR["a"]) * 2 < 0.05
    # a is a model here: tested against popularity (not significantly, p * 2 > 0.05), and
    # never against itself
    assert a.reference == "popularity" and a.marks == ""
    assert t.row("random").cells["completion_hr"].marks == ""  # worse than a on HR
    assert "‡" in t.row("random").cells["hardneg"].marks  # every row is tested against a
    assert "†" not in t.row("random").cells["hardneg"].marks  # never against itself
    legend = t.legend()
    assert "† = significantly better than the best baseline of the column" in legend
    assert "‡ = significantly better than a." in legend


def terminal_text(table, width):
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None)
    for part in terminal_tables(table, width=width):
        console.print(part, width=max(width, needed_width(part)))
    return console.export_text()


def needed_width(part):
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=10_000)
    return Measurement.get(console, console.options, part).minimum


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_terminal_tables_of_the_evaluate_labels_never_cut_a_value_or_a_label(width):
    from songspace.evaluation.suite import FAMILY_METRICS
    from songspace.reports.tables import metric_label

    names = [m for fam in FAMILY_METRICS.values() for m in fam]
    rs = []
    for j, model in enumerate(["random", "popularity", "genre", "genre2"]):
        r = EvaluationResult(model)
        for i, m in enumerate(names):
            r.add(MetricResult(m, [0.0006, 0.5155, 199.2, -0.0175, 7.3401][(i + j) % 5]))
        rs.append(r)
    t = build_table(rs, names, title="Evaluation")
    text = terminal_text(t, width)
    lines = text.splitlines()
    # the longest header word and value fit in 40 columns beside the names
    assert max(len(line) for line in lines) <= width
    words = set(text.split())
    for m in names:
        assert set(metric_label(m).split()) <= words, m  # a header wraps, never cut
    for r in rs:
        assert r.model in words
        for m in names:
            shown = t.text(t.row(r.model), m)
            assert shown in words, (r.model, m, shown)
