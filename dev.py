#!/usr/bin/env python3
"""Set up a virtual environment and run songspace's demo or its tests.

    python3 dev.py demo [ARGS...]   # install, then `songspace demo ARGS...`
    python3 dev.py test [ARGS...]   # install with test extras, then `pytest ARGS...`

Needs only Python >= 3.11. The environment lives in .venv (override with
SONGSPACE_VENV) and is re-installed only when pyproject.toml or constraints.txt
change. Every install goes through constraints.txt, which pins torch==2.13.0.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SONGSPACE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"songspace needs Python >= 3.11, found {sys.version.split()[0]}")
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    digest.update(extras.encode())
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest() and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    target = f".[{extras}]" if extras else "."
    code = run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "-c", "constraints.txt", "-e", target])
    if code != 0:
        sys.exit(f"installing songspace failed (pip exit code {code}); see the output above")
    stamp.write_text(digest.hexdigest())


def ensure_chromium() -> None:
    """Install Debian's chromium for the HTML report test when it is missing and we can
    (root with apt-get); otherwise do nothing: that test then skips with its reason.
    SONGSPACE_NO_BROWSER_INSTALL=1 turns this off."""
    import shutil

    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    if os.environ.get("SONGSPACE_NO_BROWSER_INSTALL") or any(shutil.which(n) for n in names):
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    print("installing Debian chromium for the HTML report test (apt-get)", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    try:
        if subprocess.call(install, timeout=900, **quiet) != 0:
            subprocess.call(["apt-get", "update", "-q"], timeout=600, **quiet)
            subprocess.call(install, timeout=900, **quiet)
    except (OSError, subprocess.SubprocessError):
        pass


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    if what == "demo":
        ensure_env("models,plots,fast,graph")
        return run([BIN / "songspace", "demo", *rest])
    ensure_env("dev")
    ensure_chromium()
    return run([PY, "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
