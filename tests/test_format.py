"""Issue 29 part 7: the formatter is enforced (`ruff format --check` in `dev.py test`) and
nothing opts out of it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r"#\s*fmt:\s*(skip|off)\b")


def _directives(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if DIRECTIVE.search(line)]


def test_no_code_opts_out_of_the_formatter() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("src", "tests", "benchmarks", "experiments")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in _directives(path.read_text(encoding="utf-8"))
        if path != Path(__file__).resolve()  # this file names the directives it looks for
    ]
    assert not found, f"`# fmt: skip` / `# fmt: off` at {found}. Fix: let ruff format the code"


def test_the_directive_pattern_finds_both_forms() -> None:
    assert _directives("x = 1\ny = (1,)  # fmt: skip\n# fmt: off\nz = 2  # format later\n") == [
        2,
        3,
    ]
