"""`songspace --help` (and a command's --help) imports neither numpy nor pandas: the
package is lazy (PEP 562) and the CLI reads its defaults from dependency-free modules."""

import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "scipy", "pyarrow")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["evaluate", "--help"],
        ["compare", "--help"],
        ["tune", "--help"],
        ["tune-report", "--help"],
        ["serve", "--help"],
    ],
)
def test_cli_help_loads_no_numpy_or_pandas(argv):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from songspace.cli import app\n"
        f"result = CliRunner().invoke(app, {argv!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'Usage' in result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{argv} imported {out.stdout.strip()}"


def test_the_package_attributes_load_on_first_use():
    code = (
        "import sys, songspace\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
        "assert songspace.__version__\n"
        "from songspace import Dataset, FeatureGroup, SongspaceError\n"
        "assert Dataset.__name__ == 'Dataset' and 'pandas' in sys.modules\n"
        "assert set(songspace.__all__) <= set(dir(songspace))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    bad = subprocess.run(
        [sys.executable, "-c", "import songspace; songspace.nothing"],
        capture_output=True,
        text=True,
    )
    assert "AttributeError" in bad.stderr and "nothing" in bad.stderr


#: The packages whose dependency-free ``defaults`` module the CLI reads, and a name each
#: exports lazily.
LAZY_PACKAGES = {
    "songspace.data": None,
    "songspace.evaluation": None,
    "songspace.graph": "build_cooccurrence",
    "songspace.reports": "run_compare",
    "songspace.serving": "Recommender",
}


@pytest.mark.parametrize(("package", "name"), LAZY_PACKAGES.items())
def test_the_defaults_modules_load_nothing_heavy(package, name):
    """Importing a layer's ``defaults`` module (and so its package) loads no numpy or
    pandas; the package's own names still load on first use."""
    code = (
        "import importlib, sys\n"
        f"importlib.import_module('{package}.defaults')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    if name is not None:
        code += f"assert getattr(importlib.import_module('{package}'), '{name}').__name__\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package}.defaults imported {out.stdout.strip()}"
