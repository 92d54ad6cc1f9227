"""The one table of optional dependencies (songspace._optional.OPTIONAL) matches
pyproject.toml's extras, and every optional import goes through optional_import."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

from songspace._optional import OPTIONAL, installed, optional_import
from songspace.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
#: Extras that are not feature sets: every package (dev) and benchmark peers (bench).
NOT_FEATURES = ("dev", "bench")


def _extras() -> dict[str, set[str]]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    return {
        name: {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in reqs}
        for name, reqs in extras.items()
        if name not in NOT_FEATURES
    }


def test_each_table_entry_names_a_package_of_its_extra():
    extras = _extras()
    for module, (package, extra) in OPTIONAL.items():
        assert extra in extras, f"{module}: no extra {extra!r} in pyproject.toml"
        assert package in extras[extra], f"{module}: {package!r} is not in [{extra}]"


def test_every_package_of_an_extra_is_in_the_table():
    packages = {package for package, _ in OPTIONAL.values()}
    for extra, reqs in _extras().items():
        assert reqs <= packages, f"[{extra}] packages missing from OPTIONAL: {reqs - packages}"


def test_a_missing_module_names_the_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightfm", None)  # import lightfm now fails
    with pytest.raises(MissingDependencyError) as err:
        optional_import("lightfm", "the model 'warp'")
    assert str(err.value) == (
        "the model 'warp' needs the package 'rectools-lightfm', which is not installed. "
        "Fix: pip install 'songspace[models]'"
    )
    assert not installed("lightfm")
    with pytest.raises(KeyError, match="not an optional dependency"):
        optional_import("numpy", "anything")


#: The ImportError handlers that are no optional-import guard: (file, text on the line).
NOT_GUARDS = {
    # a lazily registered model's module: which package is missing is known only then
    ("registry.py", "raise MissingDependencyError(missing, extra"),
    ("registry.py", "except ImportError as exc:"),
    # a database driver that SQLAlchemy imports for a storage URL (named by the error)
    ("storage.py", "except ImportError as exc:"),
    ("storage.py", "raise MissingDependencyError("),
    # `songspace serve` lists inductive models: one whose class cannot load is skipped
    ("recommender.py", "except ImportError:"),
}
GUARD = re.compile(r"except (ImportError|ModuleNotFoundError)|MissingDependencyError\(")


def test_no_hand_written_optional_import_guard_is_left():
    """An ImportError caught around an import of an optional module, or a
    MissingDependencyError raised by hand, belongs in songspace._optional."""
    found = []
    for path in sorted((ROOT / "src" / "songspace").rglob("*.py")):
        if path.name in ("_optional.py", "errors.py"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if GUARD.search(line) and not any(
                path.name == f and text in line for f, text in NOT_GUARDS
            ):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "use songspace._optional.optional_import:\n" + "\n".join(found)
