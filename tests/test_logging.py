"""Issue 29, part 4: every module logs to ``logging.getLogger(__name__)``.

The module loggers are ``songspace.<module>``, children of ``songspace``: the CLI
configures that one parent (level, its handler, the redacting filter) and every
module's records reach it by propagation.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "songspace"


def _logger_names(tree: ast.AST) -> list[str]:
    """The source text of the argument of each ``logging.getLogger(...)`` call."""
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "getLogger"
        ):
            out.append(ast.unparse(node.args[0]) if node.args else "")
    return out


def test_every_module_logger_is_named_after_its_module():
    """Only the CLI names the package's parent logger ("songspace"), to configure it."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(SRC)
        names = [n for n in _logger_names(ast.parse(path.read_text())) if n != "__name__"]
        if names:
            found[str(rel)] = names
    cli = {k: v for k, v in found.items() if k.startswith("songspace/cli")}
    assert {k: v for k, v in found.items() if k not in cli} == {}
    assert all(set(v) == {"'songspace'"} for v in cli.values())


def test_a_module_logger_reaches_the_cli_handler_once_and_redacted():
    """A record of a module logger goes through the handler and level the CLI sets on
    "songspace": shown once (not again by the root logger), its URL password hidden,
    and hidden under --quiet."""
    script = """
import logging, sys
from songspace.cli import app

@app.command("log-probe")
def probe() -> None:
    logging.getLogger("songspace.data.splits").info("opening %s", "postgresql://u:s3cret@h/d")
    logging.getLogger("songspace.serving.store").warning("store warning")

logging.basicConfig(level=logging.DEBUG, format="ROOT %(message)s")
app(sys.argv[1:], prog_name="songspace")
"""
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    err = run("log-probe")
    assert "opening postgresql://u:***@h/d" in err and "s3cret" not in err
    assert err.count("store warning") == 1 and "ROOT" not in err
    quiet = run("--quiet", "log-probe")
    assert "opening" not in quiet and quiet.count("store warning") == 1
