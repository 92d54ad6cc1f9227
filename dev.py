#!/usr/bin/env python3
"""Set up a virtual environment and run songspace's demo or its tests.

    python3 dev.py demo [ARGS...]   # install, then `songspace demo ARGS...`
    python3 dev.py test [ARGS...]   # install with test extras, then `ruff check`,
                                    # `ruff format --check`, `mypy src/songspace` and
                                    # `pytest ARGS...`

Needs only Python >= 3.11. The environment lives in .venv (override with
SONGSPACE_VENV) and is re-installed only when pyproject.toml or constraints.txt
change. Every install goes through constraints.txt, which pins torch==2.13.0.

`dev.py test` fails when any of the four fails (all four run, so one run shows every
problem). SONGSPACE_NO_LINT=1 skips ruff and mypy for a quick local test run; CI
(.ci/run) never sets it.
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
    if sys.version_info < (3, 11):  # noqa: UP036 (run by any python3, maybe an old one)
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
    code = run(
        [
            PY,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            "constraints.txt",
            "-e",
            target,
        ]
    )
    if code != 0:
        sys.exit(f"installing songspace failed (pip exit code {code}); see the output above")
    stamp.write_text(digest.hexdigest())


def _apt_install(package: str, purpose: str) -> None:
    """Install a Debian package quietly when we are root with apt-get (retrying after an
    `apt-get update`); otherwise, or when it fails, do nothing: the tests that need it
    then skip with their reason."""
    import shutil

    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    print(f"installing Debian {package} for {purpose} (apt-get)", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    try:
        if subprocess.call(install, timeout=900, **quiet) != 0:
            subprocess.call(["apt-get", "update", "-q"], timeout=600, **quiet)
            subprocess.call(install, timeout=900, **quiet)
    except (OSError, subprocess.SubprocessError):
        pass


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests when it is missing and we can
    (root with apt-get). SONGSPACE_NO_BROWSER_INSTALL=1 turns this off."""
    import shutil

    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    if os.environ.get("SONGSPACE_NO_BROWSER_INSTALL") or any(shutil.which(n) for n in names):
        return
    _apt_install("chromium", "the browser tests")


def ensure_java() -> None:
    """Install Debian's Java runtime for the Spark tests when `java` is missing and we can
    (root with apt-get)."""
    import shutil

    if not shutil.which("java"):
        _apt_install("openjdk-17-jre-headless", "the Spark tests")


# ------------------------------------------------------------- PostgreSQL for the tests
PG_ENV = "SONGSPACE_TEST_POSTGRES_URL"
PG_SKIP_ENV = "SONGSPACE_TEST_POSTGRES_SKIP"


def _pg_bindir() -> Path | None:
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def _can_install() -> bool:
    import shutil

    if not shutil.which("apt-get"):
        return False
    if os.geteuid() == 0:
        return True
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return shutil.which("sudo") is not None and not subprocess.call(["sudo", "-n", "true"], **quiet)


def start_postgres() -> tuple[dict[str, str], object]:
    """Start a throwaway PostgreSQL server on loopback for the shared-study test.

    Installs the system package (apt-get, quietly) when it is missing and we are
    root or have passwordless sudo. Returns (environment for pytest, stop function).
    Never fails: when no server can be started, the environment carries the reason
    and the test skips with it.
    """
    import shutil
    import socket
    import tempfile

    if os.environ.get(PG_ENV):
        return {}, lambda: None
    bindir = _pg_bindir()
    if bindir is None and os.name == "posix" and _can_install():
        print("installing PostgreSQL from the system packages (apt-get)", flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
        if subprocess.call(install, env=env, **quiet) != 0:
            subprocess.call([*sudo, "apt-get", "update", "-q"], env=env, **quiet)
            subprocess.call(install, env=env, **quiet)
        bindir = _pg_bindir()
    if bindir is None:
        reason = "no PostgreSQL server binaries (pg_ctl) and no way to install them"
        print(f"PostgreSQL test will skip: {reason}", flush=True)
        return {PG_SKIP_ENV: reason}, lambda: None
    root = Path(tempfile.mkdtemp(prefix="songspace-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if os.name == "posix" and os.geteuid() == 0:  # postgres refuses to run as root
        import pwd

        user = next((u for u in ("postgres", "nobody") if _has_user(pwd, u)), None)
        if user is None or not shutil.which("runuser"):
            reason = "running as root without a 'postgres' user or runuser"
            print(f"PostgreSQL test will skip: {reason}", flush=True)
            return {PG_SKIP_ENV: reason}, lambda: shutil.rmtree(root, ignore_errors=True)
        info = pwd.getpwnam(user)
        for path in (root, sock):
            os.chown(path, info.pw_uid, info.pw_gid)
        run_as = ["runuser", "-u", user, "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = root / "server.log"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    ok = (
        subprocess.call(
            [
                *run_as,
                bindir / "initdb",
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                "songspace",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            **quiet,
        )
        == 0
    )
    if ok:
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        ok = (
            subprocess.call(
                [*run_as, bindir / "pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "start"],
                **quiet,
            )
            == 0
        )

    def stop() -> None:
        if ok:
            subprocess.call(
                [*run_as, bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], **quiet
            )
        shutil.rmtree(root, ignore_errors=True)

    if not ok:
        reason = f"initdb/pg_ctl from {bindir} failed to start a server (see {log})"
        print(f"PostgreSQL test will skip: {reason}", flush=True)
        return {PG_SKIP_ENV: reason}, stop
    url = f"postgresql://songspace@127.0.0.1:{port}/postgres"
    print(f"started a throwaway PostgreSQL on 127.0.0.1:{port} for the tests", flush=True)
    return {PG_ENV: url}, stop


def _has_user(pwd: object, name: str) -> bool:
    try:
        pwd.getpwnam(name)  # type: ignore[attr-defined]
    except KeyError:
        return False
    return True


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    if what == "demo":
        ensure_env("models,plots,fast,graph,recommender")
        return run([BIN / "songspace", "demo", *rest])
    ensure_env("dev")
    failed = [] if os.environ.get("SONGSPACE_NO_LINT") else lint()
    ensure_chromium()
    ensure_java()
    env, stop_postgres = start_postgres()
    try:
        if run([PY, "-m", "pytest", *rest], env={**os.environ, **env}) != 0:
            failed.append("pytest")
    finally:
        stop_postgres()
    if failed:
        print(f"dev.py test: failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


def lint() -> list[str]:
    """Run `ruff check`, `ruff format --check` and `mypy src/songspace` (settings in
    pyproject.toml; ruff pinned in constraints.txt); the failed ones."""
    failed = []
    if run([PY, "-m", "ruff", "check"]) != 0:
        failed.append("ruff check")
    if run([PY, "-m", "ruff", "format", "--check"]) != 0:
        failed.append("ruff format --check")
    if run([PY, "-m", "mypy", "src/songspace"]) != 0:
        failed.append("mypy src/songspace")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
