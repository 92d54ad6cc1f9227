"""Issue 29, part 4: one function-level validator (``songspace.params.validate_params`` /
``check_param``) built on the model parameters' ``Constraint`` classes, instead of
``_check_int`` copies and inline ``isinstance(x, bool)`` checks."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from songspace._util import check_seed
from songspace.errors import ParameterError
from songspace.params import (
    POSITIVE_INT,
    AnyOf,
    Constraint,
    Interval,
    NoneValue,
    Options,
    check_param,
    validate_params,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "songspace"


# ------------------------------------------------------------------ the validator
@validate_params(
    {"k": POSITIVE_INT, "rate": AnyOf(Interval(float, 0, 1), NoneValue())},
    fixes={"k": "pass e.g. k=10"},
)
def _scored(items: list[int], k: int = 10, *, rate: float | None = None) -> tuple:
    """A function to validate."""
    return k, type(k), rate


def test_a_bad_argument_says_name_expected_value_found_and_fix():
    with pytest.raises(ParameterError) as err:
        _scored([], 0)
    assert str(err.value) == ("parameter `k`: expected an integer >= 1, got 0. Fix: pass e.g. k=10")
    assert (err.value.name, err.value.value) == ("k", 0)
    with pytest.raises(
        ParameterError,
        match=r"^parameter `rate`: expected a number in \[0, 1\] "
        r"or None, got 1.5$",
    ):
        _scored([], rate=1.5)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(ParameterError, match="parameter `k`"):
            _scored([], k=bad)


def test_valid_arguments_arrive_converted_and_the_function_keeps_its_face():
    assert _scored([], np.int64(3), rate=np.float32(0.5)) == (3, int, 0.5)
    assert _scored([]) == (10, int, None)
    assert _scored.__name__ == "_scored" and _scored.__doc__ == "A function to validate."
    assert list(inspect.signature(_scored).parameters) == ["items", "k", "rate"]
    assert set(_scored.parameter_constraints) == {"k", "rate"}


def test_a_constraint_for_no_parameter_is_refused_when_decorating():
    with pytest.raises(TypeError, match=r"\['kk'\] are no parameters of f"):

        @validate_params({"kk": POSITIVE_INT})
        def f(k: int) -> int:
            return k


def test_interval_what_and_infinite_bounds():
    share = Interval(float, 0, 0.5, closed="neither", what="a share in (0, 0.5)")
    with pytest.raises(ParameterError, match=r"expected a share in \(0, 0.5\), got 0.5"):
        check_param("test_fraction", 0.5, share)
    assert not Interval(float, 0, None).is_satisfied_by(float("inf"))
    unbounded = Interval(float, 0, None, closed="neither", finite=False)
    assert unbounded.is_satisfied_by(float("inf")) and unbounded.is_satisfied_by(np.inf)
    assert not unbounded.is_satisfied_by(float("nan"))
    assert not unbounded.is_satisfied_by(-float("inf"))
    assert not Interval(int, 0, None, finite=False).is_satisfied_by(float("inf"))


def test_check_seed_says_what_it_takes():
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(
            ParameterError, match=r"expected an int >= 0, a numpy Generator or None, got"
        ):
            check_seed(bad)
    g = np.random.default_rng(1)
    assert check_seed(g) is g
    assert check_seed(np.int64(7)).integers(1000) == np.random.default_rng(7).integers(1000)


# ------------------------------------------------------------- the public functions
def _bad_values(c: Constraint) -> list[object]:
    """Values ``c`` refuses: a string, and the neighbours of an interval's bounds."""
    values: list[object] = ["not-a-value", True]
    parts = c.constraints if isinstance(c, AnyOf) else (c,)
    for p in parts:
        if isinstance(p, Interval):
            values += [v for v in (p.low, p.high) if v is not None]
            values += [p.low - 1] if p.low is not None else []
            values += [p.high + 1] if p.high is not None else []
        if isinstance(p, Options):
            values.append("no-such-choice")
    return [v for v in values if not c.is_satisfied_by(v)]


def _validated_functions():
    from songspace.evaluation import clustering
    from songspace.evaluation.cold_start import cold_start_protocol, score_cold_start
    from songspace.graph.cooccurrence import build_cooccurrence, edge_counts_by_threshold
    from songspace.graph.walks import random_walks, transition_probabilities, walks_reference
    from songspace.reports.cold_start import cold_start_evaluation, run_cold_start

    calls = [
        (random_walks, (None,)),
        (walks_reference, (None,)),
        (transition_probabilities, (None, 0, None)),
        (build_cooccurrence, (None,)),
        (edge_counts_by_threshold, (None,)),
        (cold_start_protocol, (None,)),
        (score_cold_start, (None, None)),
        (cold_start_evaluation, (None, {})),
        (run_cold_start, ("/nonexistent/dataset", ["track2vec"])),
        (clustering.vrc, (None, None)),
        (clustering.vrc_artist, (None, None)),
        (clustering.local_coherence, (None, None), {"sample": None}),
        (clustering.genre_sample, (None,)),
        (clustering.artist_sample, (None,)),
    ]
    return [pytest.param(*c, *([{}] if len(c) == 2 else []), id=c[0].__name__) for c in calls]


@pytest.mark.parametrize(("func", "args", "kwargs"), _validated_functions())
def test_walks_graph_cold_start_and_clustering_check_each_setting_first(func, args, kwargs):
    """Every constrained setting is refused with its name before any work (the other
    arguments are placeholders the body would reject)."""
    table = func.parameter_constraints
    assert table
    for name, constraint in table.items():
        bad = _bad_values(constraint)
        assert bad, name
        for value in bad:
            with pytest.raises(ParameterError) as err:
                func(*args, **{**kwargs, name: value})
            assert err.value.name == name and constraint.describe() in str(err.value)


def test_the_cold_start_runner_names_cold_share_before_reading_the_dataset():
    from songspace.reports.cold_start import run_cold_start

    with pytest.raises(
        ParameterError, match=r"parameter `cold_share`: expected a share in \(0, 1\)"
    ):
        run_cold_start("/nonexistent/dataset", ["track2vec"], cold_share=1.0)


# ------------------------------------------------------------ no hand-written copies
#: ``isinstance(x, bool)`` checks that are no argument check: a value read from a file or a
#: request, checked with the error of that input (path, line, field). (file, function).
NOT_ARGUMENT_CHECKS = {
    ("models/base.py", "_stored_number"): "a number in model.json (ModelFormatError)",
    ("models/space.py", "contains"): "a predicate over search-space values, not a check",
    ("data/melon.py", "_is_song_id"): "a song id in a Melon file (FormatError)",
    ("data/melon.py", "_check_playlist"): "a playlist id in a Melon file (FormatError)",
    ("data/mpd.py", "read_mpd"): "a pid in an MPD slice (InvalidValueError)",
    ("serving/newtracks.py", "parse_track"): "a feature value in a request body (422)",
    ("reports/config.py", "number"): "a number in an experiment config (ConfigError)",
    ("reports/config.py", "_parse_models"): "`baseline` in an experiment config (ConfigError)",
}


class _BoolChecks(ast.NodeVisitor):
    """(file, innermost function) of each ``isinstance(..., bool...)`` call."""

    def __init__(self, rel: str) -> None:
        self.rel, self.stack, self.found = rel, ["<module>"], set()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
            and "bool" in ast.unparse(node.args[1])
        ):
            self.found.add((self.rel, self.stack[-1]))
        self.generic_visit(node)


def _bool_checks() -> set[tuple[str, str]]:
    """(file, function) of each ``isinstance(..., bool...)`` outside params.py."""
    found: set[tuple[str, str]] = set()
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel != "params.py":
            visitor = _BoolChecks(rel)
            visitor.visit(ast.parse(path.read_text()))
            found |= visitor.found
    return found


def test_argument_checks_go_through_the_constraints():
    """No ``_check_int`` copy, and no inline ``isinstance(x, bool)`` argument check:
    ``check_param`` / ``validate_params`` with an ``Interval`` refuse booleans."""
    copies = [
        f"{p.relative_to(SRC)}: {node.name}"
        for p in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in ("_check_int", "_check_positive")
    ]
    assert copies == []
    found = _bool_checks()
    assert found - set(NOT_ARGUMENT_CHECKS) == set()
    assert set(NOT_ARGUMENT_CHECKS) - found == set(), "stale entries"
