"""A real ``songspace serve`` process on 127.0.0.1 (free port) for the uvicorn and browser
tests: started with ``$SONGSPACE_API_KEY`` set, ready once ``/ready`` answers 200."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import songspace

KEY = "k3y"
SRC = str(Path(songspace.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``args``: more command-line options; ``env``: replaces the environment's entries
    (None removes one); ``launcher``: a script run instead of ``-m songspace``; ``wrap``:
    a command prefix the server runs under (e.g. a read-only mount)."""

    def __init__(self, runs, data, tmp_path, *, args=(), env=None, launcher=None, wrap=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": SRC, "SONGSPACE_API_KEY": KEY, **(env or {})}
        env = {k: v for k, v in env.items() if v is not None}
        self.log = open(tmp_path / f"server-{self.port}.log", "wb")  # noqa: SIM115 (closed in stop)
        cmd = [
            *wrap,
            sys.executable,
            *(["-m", "songspace"] if launcher is None else [str(launcher)]),
            "--no-progress",
            "serve",
            *map(str, runs),
            "--data",
            str(data),
            "--port",
            str(self.port),
            *args,
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.read_log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in 120 s: {self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        self.log.close()
