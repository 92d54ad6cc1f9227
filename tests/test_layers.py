"""The layers import downwards only: the library layers (data, graph, models,
evaluation, tuning, and the top-level modules) never import the runner layer
(``songspace.reports``), the service (``songspace.serving``) or the CLI, not even
inside a function (docs/architecture.md, "Layers")."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "songspace"
LIBRARY = ("data", "graph", "models", "evaluation", "tuning")
UPPER = ("songspace.reports", "songspace.serving", "songspace.cli")


def _imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return names


def test_library_layers_import_no_runner_service_or_cli():
    files = [p for layer in LIBRARY for p in (SRC / layer).rglob("*.py")]
    files += [p for p in SRC.glob("*.py") if p.name != "__main__.py"]
    assert len(files) > 20
    upward = [
        f"{p.relative_to(SRC)}: {name}"
        for p in files
        for name in _imported(p)
        if name.startswith(UPPER)
    ]
    assert upward == []
