"""Loading a script of experiments/ or benchmarks/ as a module, so that tests can check its
arithmetic against hand-computed answers."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def loaded_script(relpath: str) -> Iterator[ModuleType]:
    """The script at ``relpath`` (from the repository root) as a module, registered under its
    stem while in use (dataclasses look their module up); afterwards ``sys.path`` is restored
    and the modules loaded from the script's folder (it and its siblings) are dropped."""
    script = ROOT / relpath
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    sys.modules[script.stem] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = path
        for name, mod in list(sys.modules.items()):
            if Path(getattr(mod, "__file__", None) or "/").parent == script.parent:
                sys.modules.pop(name, None)
