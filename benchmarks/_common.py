"""Measurement helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM from /proc (Linux), else getrusage ru_maxrss.

    VmHWM belongs to the process's own address space, so it starts afresh at exec.
    ru_maxrss (RUSAGE_SELF) is also printed by the workers: on Linux it carries over
    the parent's peak across fork + exec, which is why the parent process of this
    script stays small (inputs are prepared in their own subprocess).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _ru_maxrss_mb()


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_worker(cmd: list[str], label: str, timeout: float | None = None) -> dict:
    """Run a benchmark worker subprocess; return the JSON object on its last stdout line."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"{label} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
