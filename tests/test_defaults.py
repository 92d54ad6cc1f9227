"""One home per default and per choice list (issue 29, part 2).

``HOMES`` registers, for each parameter name whose default is a shared fact, the constants
that hold it. An AST walk over ``src/songspace`` checks that every function parameter,
class field (dataclasses, pydantic bodies) and CLI option table entry with that name
takes its default from one of them, never from a literal. The help texts of the CLI
options with a choice list are checked against the list's home.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import songspace

SRC = Path(songspace.__file__).parent

#: Parameter name -> the constants that may hold its default (a dotted name matches a
#: reference that is, or ends with, it). None is always allowed: "resolved later".
HOMES: dict[str, tuple[str, ...]] = {
    # data layer (songspace.data.defaults)
    "test_fraction": ("DEFAULT_TEST_FRACTION", "DEFAULT_COLD_TEST_FRACTION"),
    "heldout_fraction": ("DEFAULT_TEST_FRACTION", "RANKER_HELDOUT_FRACTION"),
    "fractions": ("DEFAULT_FRACTIONS",),
    "cold_share": ("DEFAULT_COLD_SHARE",),
    "min_tracks": ("DEFAULT_MIN_TRACKS", "DEFAULT_ARTIST_MIN_TRACKS"),
    "gap_minutes": ("DEFAULT_GAP_MINUTES",),
    "gap": ("DEFAULT_GAP_MINUTES",),
    "top_genres": ("DEFAULT_TOP_GENRES", "TOP_GENRES"),
    "n_playlists": ("SYNTHETIC_PLAYLISTS", "DEMO_PLAYLISTS"),
    "playlists": ("SYNTHETIC_PLAYLISTS", "DEMO_PLAYLISTS"),
    "n_tracks": ("SYNTHETIC_TRACKS", "DEMO_TRACKS"),
    "n_genres": ("SYNTHETIC_GENRES",),
    "genres": ("SYNTHETIC_GENRES",),
    "mean_length": ("SYNTHETIC_MEAN_LENGTH",),
    "sequential": ("SYNTHETIC_SEQUENTIAL", "DEMO_SEQUENTIAL"),
    # graph layer (songspace.graph.defaults)
    "min_weight": ("DEFAULT_MIN_WEIGHT",),
    "thresholds": ("DEFAULT_THRESHOLDS",),
    "engine": ("DEFAULT_ENGINE",),
    "block_budget": ("DEFAULT_BLOCK_BUDGET",),
    # evaluation (songspace.evaluation.defaults, and its families' modules)
    "k": (
        "DEFAULT_K",
        "DEFAULT_SUITE.k",
        "DEFAULT_COHERENCE_K",
        "N_RECOMMENDATIONS",
        "DEFAULT_NEW_TRACK_K",
        "DEFAULT_NEIGHBOURS",
        "RECALL_K",
    ),
    "seed_fraction": ("DEFAULT_SEED_FRACTION",),
    "seed_fractions": ("DEFAULT_SUITE.seed_fraction",),
    "coherence_k": ("DEFAULT_COHERENCE_K", "DEFAULT_SUITE.coherence_k"),
    "hardneg_min_count": ("DEFAULT_HARDNEG_MIN_COUNT", "DEFAULT_SUITE.hardneg_min_count"),
    "artist_min_tracks": ("DEFAULT_ARTIST_MIN_TRACKS", "DEFAULT_SUITE.artist_min_tracks"),
    "pairs_per_cell": ("DEFAULT_PAIRS_PER_CELL", "DEFAULT_SUITE.pairs_per_cell"),
    "random_dim": ("DEFAULT_RANDOM_DIM",),
    "dim": ("DEFAULT_RANDOM_DIM",),
    "alpha": ("DEFAULT_ALPHA",),
    "n_buckets": ("N_BUCKETS", "POPULARITY_BUCKETS"),
    "top": ("TOP_GENRES",),
    "min_plays": ("MIN_GENRE_PLAYS",),
    "n_artists": ("ARTIST_SAMPLE_SIZE",),
    "per_artist": ("TRACKS_PER_ARTIST",),
    # runners (songspace.reports.defaults)
    "models": ("DEFAULT_COLD_START_MODELS",),
    "method": ("DEFAULT_PROJECTION",),
    "neighbours": ("DEFAULT_NEIGHBOURS",),
    # serving (songspace.serving.defaults)
    "index": ("DEFAULT_INDEX",),
    "kind": ("DEFAULT_INDEX",),
    "exact_max": ("DEFAULT_EXACT_MAX",),
    "m": ("DEFAULT_M",),
    "ef_construction": ("DEFAULT_EF_CONSTRUCTION",),
    "ef_search": ("DEFAULT_EF_SEARCH",),
    "port": ("DEFAULT_PORT",),
    "max_body": ("DEFAULT_MAX_BODY",),
    "max_body_bytes": ("DEFAULT_MAX_BODY",),
    "search_threads": ("DEFAULT_SEARCH_THREADS",),
    # tuning (songspace.tuning.settings.TuneSettings: its fields are the home)
    "sampler": ("TuneSettings.sampler",),
    "pruner": ("TuneSettings.pruner",),
    "budget_mode": ("TuneSettings.budget_mode",),
    "budget_factor": ("TuneSettings.budget_factor",),
    "trials": ("TuneSettings.trials",),
    "startup_trials": ("TuneSettings.startup_trials",),
    "heartbeat": ("TuneSettings.heartbeat",),
}
#: Settings classes whose fields are the home of the defaults registered as
#: ``Class.field`` above; a reference to any of their fields forwards to the class,
#: whose other fields are checked like any other.
HOME_CLASSES = {"tuning/settings.py:TuneSettings": "TuneSettings"}

#: Calls whose ``default=`` (or first argument) is the field's default.
DEFAULT_CALLS = ("Field", "Query", "Option", "Argument")


def _source_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "testing" not in p.relative_to(SRC).parts)


def _default_of(value: ast.expr) -> ast.expr | None:
    """The default a field or parameter declares: ``x = Field(default=...)`` -> ``...``."""
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("field",):  # dataclasses.field(default_factory=...): no literal default
            return None
        if name in DEFAULT_CALLS:
            for kw in value.keywords:
                if kw.arg == "default":
                    return kw.value
            return value.args[0] if value.args else None
    return value


def _option_tables(tree: ast.Module) -> Iterator[ast.Tuple]:
    """The entries ``("name", Annotated[...], default)`` of the CLI's option tables
    (module-level ``_..._OPTIONS`` tuples)."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        named = isinstance(target, ast.Name) and target.id.endswith("_OPTIONS")
        if named and isinstance(value, ast.Tuple):
            yield from (e for e in value.elts if isinstance(e, ast.Tuple))


def _defaults(tree: ast.Module, rel: str) -> Iterator[tuple[str, int, str, ast.expr]]:
    """(where, line, name, default) of every parameter, class field and CLI option-table
    entry of a module."""
    for entry in _option_tables(tree):
        name = entry.elts[0]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            yield rel, entry.lineno, name.value, entry.elts[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # a model's constructor declares its parameters (their home, with the
            # model's parameter_constraints)
            if node.name == "__init__" and rel.startswith("models/"):
                continue
            a = node.args
            pos = a.posonlyargs + a.args
            pairs = list(zip(pos[len(pos) - len(a.defaults) :], a.defaults, strict=True))
            pairs += [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d]
            for p, d in pairs:
                yield f"{rel}:{node.name}", d.lineno, p.arg, d
        elif isinstance(node, ast.ClassDef):
            for st in node.body:
                if isinstance(st, ast.AnnAssign) and st.value and isinstance(st.target, ast.Name):
                    d = _default_of(st.value)
                    if d is not None:
                        yield f"{rel}:{node.name}", st.lineno, st.target.id, d


def _references(expr: ast.expr) -> set[str]:
    """The dotted names an expression reads (``DEFAULT_SUITE.k``, ``DEFAULT_K``)."""
    return {ast.unparse(n) for n in ast.walk(expr) if isinstance(n, ast.Name | ast.Attribute)}


def _from_home(expr: ast.expr, homes: tuple[str, ...]) -> bool:
    if isinstance(expr, ast.Constant) and expr.value is None:
        return True
    refs = _references(expr)
    if any(r.startswith(f"{c}.") for r in refs for c in HOME_CLASSES.values()):
        return True
    return any(r == h or r.endswith(f".{h}") for r in refs for h in homes)


def test_every_registered_default_reads_its_home():
    """Every parameter, field and CLI option named in HOMES takes its default from a
    registered constant, never from a literal (``test_fraction: float = 0.01``)."""
    bad = []
    for path in _source_files():
        rel = path.relative_to(SRC).as_posix()
        for where, line, name, default in _defaults(ast.parse(path.read_text()), rel):
            if f"{HOME_CLASSES.get(where)}.{name}" in HOMES.get(name, ()):
                continue  # the field is the home
            if name in HOMES and not _from_home(default, HOMES[name]):
                bad.append(f"{where} (line {line}): {name} = {ast.unparse(default)}")
    assert not bad, "defaults not read from their home (tests/test_defaults.py HOMES):\n" + (
        "\n".join(bad)
    )


def test_every_home_is_defined():
    """The table names constants that exist (a renamed home fails here, not silently)."""
    defined: set[str] = set()
    for path in _source_files():
        for node in ast.parse(path.read_text()).body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            defined |= {t.id for t in targets if isinstance(t, ast.Name)}
            if isinstance(node, ast.ImportFrom):
                defined |= {a.asname or a.name for a in node.names}
    missing = {h for homes in HOMES.values() for h in homes if h.split(".")[0] not in defined}
    assert not missing


def test_the_walk_sees_a_literal_default(tmp_path):
    """The check itself: a literal default of a registered name is reported, a reference
    to its home is not (parameters, dataclass fields, pydantic fields, option tables)."""
    tree = ast.parse(
        "def f(*, test_fraction=0.01, k=DEFAULT_K, port=None): ...\n"
        "class S:\n    k: int = 50\n    m: int = Field(default=32, ge=4)\n"
        "_GRAPH_OPTIONS = (('min_weight', int, 2),)\n"
    )
    found = {(name, _from_home(d, HOMES[name])) for _, _, name, d in _defaults(tree, "x.py")}
    assert found == {
        ("test_fraction", False),
        ("k", True),
        ("port", True),
        ("k", False),
        ("m", False),
        ("min_weight", False),
    }


def test_baseline_ranker_names_match_their_classes():
    """``BASELINE_RANKERS`` takes its keys from the names' home in order: each class's
    own ``name`` is its key."""
    from songspace.evaluation.defaults import BASELINE_RANKER_NAMES
    from songspace.evaluation.rankers import BASELINE_RANKERS

    assert tuple(BASELINE_RANKERS) == BASELINE_RANKER_NAMES
    assert all(cls.name == key for key, cls in BASELINE_RANKERS.items())


def test_moved_constants_are_still_exported_where_they_were():
    """Modules that defined a constant before it moved to its home still export it (the
    same object), and the computed default split is exactly the papers' 98/1/1 (the
    model cache keys record it)."""
    from songspace.data import defaults as data_defaults
    from songspace.data import splits
    from songspace.graph import defaults as graph_defaults
    from songspace.graph import tables
    from songspace.reports import defaults as report_defaults
    from songspace.reports import explore
    from songspace.serving import defaults as serving_defaults
    from songspace.serving import index, recommender

    for old, home, names in (
        (splits, data_defaults, ("DEFAULT_TEST_FRACTION", "MIN_TEST_SEQUENCES")),
        (splits, data_defaults, ("MAX_AUTO_TEST_FRACTION", "DEFAULT_MIN_TRACKS")),
        (tables, graph_defaults, ("ENGINES",)),
        (explore, report_defaults, ("DEFAULT_NEIGHBOURS",)),
        (recommender, serving_defaults, ("MAX_K",)),
        (index, serving_defaults, ("DEFAULT_EXACT_MAX", "DEFAULT_M", "DEFAULT_EF_SEARCH")),
    ):
        for name in names:
            assert getattr(old, name) is getattr(home, name), (old.__name__, name)
    assert explore.METHODS is report_defaults.PROJECTION_METHODS
    assert data_defaults.DEFAULT_FRACTIONS == (0.98, 0.01, 0.01)


# ---------------------------------------------------------------- help texts
def _option(argv: list[str], name: str):
    """The click parameter ``name`` of the command ``argv`` of `songspace`."""
    import typer.main

    from songspace.cli import app

    cmd = typer.main.get_command(app)
    for part in argv:
        cmd = cmd.commands[part]  # type: ignore[attr-defined]
    return next(p for p in cmd.params if p.name == name)


#: How a help text states a home's list or value.
FORMATS = {
    "one of": lambda v: __import__("songspace.cli._common", fromlist=["one_of"]).one_of(v),
    "or all": lambda v: f"{', '.join(v)}, or 'all'",
    "default list": lambda v: f"default: {', '.join(v)})",
    "percent": lambda v: f"default: {v:.0%}",
    "about": lambda v: f"about {v} test sequences",
}


@pytest.mark.parametrize(
    ("argv", "option", "home", "form"),
    [
        (["evaluate"], "rankers", "songspace.evaluation.defaults:BASELINE_RANKER_NAMES", "or all"),
        (
            ["tune-rankers"],
            "rankers",
            "songspace.evaluation.defaults:BASELINE_RANKER_NAMES",
            "or all",
        ),
        (["serve"], "index", "songspace.serving.defaults:INDEX_KINDS", "one of"),
        (["recommend"], "index", "songspace.serving.defaults:INDEX_KINDS", "one of"),
        (["explore"], "method", "songspace.reports.defaults:PROJECTION_METHODS", "one of"),
        (["prepare", "csv"], "engine", "songspace.graph.defaults:ENGINES", "one of"),
        (["prepare", "synthetic"], "engine", "songspace.graph.defaults:ENGINES", "one of"),
        (
            ["cold-start"],
            "model",
            "songspace.reports.defaults:DEFAULT_COLD_START_MODELS",
            "default list",
        ),
        (["evaluate"], "test_fraction", "songspace.data.defaults:DEFAULT_TEST_FRACTION", "percent"),
        (["evaluate"], "test_fraction", "songspace.data.defaults:MIN_TEST_SEQUENCES", "about"),
        (["tune"], "sampler", "songspace.tuning.settings:SAMPLERS", "one of"),
        (["tune"], "pruner", "songspace.tuning.settings:PRUNERS", "one of"),
        (["tune"], "budget_mode", "songspace.tuning.settings:BUDGET_MODES", "one of"),
    ],
)
def test_help_lists_the_choices_of_its_home(argv, option, home, form):
    """The help of an option with a choice list (or a default stated in words) is built
    from the list's home (``songspace.<layer>.defaults``, ``songspace.tuning.settings``),
    so it names exactly its choices, in order."""
    module, name = home.split(":")
    value = getattr(importlib.import_module(module), name)
    assert FORMATS[form](value) in _option(argv, option).help


def test_objective_help_lists_every_objective_in_order():
    from songspace.tuning.settings import OBJECTIVES

    text = _option(["tune"], "objective").help
    named = [w for w in re.findall(r"[a-z_]+", text) if w in OBJECTIVES]
    assert list(dict.fromkeys(named)) == list(OBJECTIVES), text


def test_metrics_help_lists_every_family():
    from songspace.evaluation import families

    text = _option(["evaluate"], "metrics").help
    assert f"families: {', '.join(families.names())} " in text


@pytest.mark.parametrize(
    ("argv", "option", "home"),
    [
        (["serve"], "exact_max", "songspace.serving.defaults:DEFAULT_EXACT_MAX"),
        (["serve"], "port", "songspace.serving.defaults:DEFAULT_PORT"),
        (["recommend"], "k", "songspace.serving.defaults:DEFAULT_K"),
        (
            ["cold-start"],
            "test_fraction",
            "songspace.evaluation.defaults:DEFAULT_COLD_TEST_FRACTION",
        ),
        (["cold-start"], "cold_share", "songspace.data.defaults:DEFAULT_COLD_SHARE"),
        (["demo"], "playlists", "songspace.reports.defaults:DEMO_PLAYLISTS"),
        (["demo"], "sequential", "songspace.reports.defaults:DEMO_SEQUENTIAL"),
        (["demo"], "min_weight", "songspace.graph.defaults:DEFAULT_MIN_WEIGHT"),
        (["prepare", "synthetic"], "n_tracks", "songspace.data.defaults:SYNTHETIC_TRACKS"),
        (["prepare", "csv"], "top_genres", "songspace.data.defaults:DEFAULT_TOP_GENRES"),
        (["tune"], "test_fraction", "songspace.data.defaults:DEFAULT_TEST_FRACTION"),
    ],
)
def test_cli_defaults_are_the_library_defaults(argv, option, home):
    """The default `songspace` shows and uses is the home's value."""
    module, name = home.split(":")
    assert _option(argv, option).default == getattr(importlib.import_module(module), name)
