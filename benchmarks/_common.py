"""Measurement helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np


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


def synthetic_embedding(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` x ``dim`` float32 vectors with the low effective rank of learned embeddings:
    1,000 cluster centres + a shared 16-d latent part + small isotropic noise, seeded
    (isotropic 64-d noise has no neighbour structure for any index to find). Used by
    bench_serving (2M tracks), bench_ann and bench_projection."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    basis = (rng.normal(size=(16, dim)) / 4).astype(np.float32)
    emb = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 200_000):
        m = min(200_000, n - s)
        latent = rng.normal(size=(m, 16)).astype(np.float32)
        noise = 0.05 * rng.normal(size=(m, dim)).astype(np.float32)
        emb[s : s + m] = centres[rng.integers(1000, size=m)] + latent @ basis + noise
    return emb
